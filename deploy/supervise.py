"""Run a Dagster command so that SIGINT and SIGTERM stop it, and everything it started, within
seconds, leaving no orphan: for `make dev` (`dg dev`) and for a service manager (systemd,
supervisord, a shell script's `cmd &`) running dagster-daemon, dagster-webserver or the code
server.

    python deploy/supervise.py [--grace 20] [--cwd DIR] -- dg dev -w workspace.yaml ...

Why it is needed: a command started in the background by a non-interactive shell (`make dev &`
in a script, many service wrappers) inherits SIGINT *ignored*. Python then installs no
KeyboardInterrupt handler, and every Dagster CLI copies SIGINT's disposition to SIGTERM
(dagster/_utils/interrupts.py, setup_interrupt_handlers), so dg dev, the webserver, the daemon
and the code server ignore both signals; and `make` stops only its recipe's shell, not dg.

What it does: starts the command in its own process group with SIGINT and SIGTERM back to
their defaults; on SIGINT, SIGTERM or SIGHUP sends SIGINT to the command (what Ctrl-C does:
dg dev then stops its webserver, daemon and code server in order) and waits up to --grace
seconds for it; then whatever of its process group is still alive 2 s later (a run worker,
or everything if the command did not stop) gets SIGTERM and, 5 s later, SIGKILL. When the
command ends by itself, what it left in its group gets the same treatment.
Exit status: the command's (128 + signal when a signal ended it).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time

FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # killpg(0) also succeeds for zombies; look for a live member.
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return not os.path.isdir("/proc")


def _wait_group(pgid: int, child: subprocess.Popen, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        child.poll()  # reap the leader
        if not _group_alive(pgid):
            return True
        time.sleep(0.1)
    child.poll()
    return not _group_alive(pgid)


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--grace", type=float, default=20.0, help="seconds after SIGINT")
    parser.add_argument("--cwd", default=None)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command")

    received: list[int] = []

    def on_signal(signum, _frame):
        received.append(signum)

    # Installed even when the signal was ignored on entry (a shell cannot undo that; a
    # process can), so the command below starts with the defaults.
    for sig in FORWARDED:
        signal.signal(sig, on_signal)

    # Until the command ends or a signal comes, sleep in sigwaitinfo: Popen.wait(timeout) polls
    # (every 50 ms: 0.13 CPU s a minute while `make dev` idles).
    waited = {*FORWARDED, signal.SIGCHLD}
    signal.pthread_sigmask(signal.SIG_BLOCK, waited)

    def reset_signals() -> None:
        for sig in (*FORWARDED, signal.SIGQUIT):
            signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, waited)

    child = subprocess.Popen(
        command, cwd=args.cwd, preexec_fn=reset_signals, start_new_session=True
    )
    pgid = child.pid
    while child.poll() is None:
        info = signal.sigwaitinfo(waited)
        if info.si_signo != signal.SIGCHLD:
            received.append(info.si_signo)
            break
    signal.pthread_sigmask(signal.SIG_UNBLOCK, waited)  # later signals: on_signal
    if received:
        started = time.monotonic()
        with contextlib.suppress(ProcessLookupError):
            os.kill(child.pid, signal.SIGINT)  # the leader shuts its services down in order
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=args.grace)
        if child.poll() is None:
            sys.stderr.write(f"supervise: still running after {args.grace:.0f} s: SIGTERM\n")
        # What the leader left behind (or everything, if it did not stop) gets SIGTERM, then
        # SIGKILL.
        if not _wait_group(pgid, child, 2):
            _signal_group(pgid, signal.SIGTERM)
            if not _wait_group(pgid, child, 5):
                sys.stderr.write("supervise: SIGKILL\n")
                _signal_group(pgid, signal.SIGKILL)
                _wait_group(pgid, child, 5)
        sys.stderr.write(f"supervise: stopped in {time.monotonic() - started:.1f} s\n")
    else:  # the command ended by itself: stop what it left behind
        if _group_alive(pgid):
            _signal_group(pgid, signal.SIGTERM)
            if not _wait_group(pgid, child, 5):
                _signal_group(pgid, signal.SIGKILL)
    code = child.wait()
    if received:
        return 128 + received[0]
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main())
