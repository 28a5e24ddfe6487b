"""A run worker names its run in its process title, so an operator finds a run's process with
``ps`` (its command line is otherwise Python's multiprocessing boilerplate). The resources a run
uses set it when they are set up for the run, in the run worker."""

from __future__ import annotations

from typing import Any

_named: set[int] = set()


def name_the_run_worker(run: Any) -> str | None:
    """Set the process title to the run's id and job (once per process); returns it."""
    import os

    if run is None or os.getpid() in _named:
        return None
    import setproctitle

    title = f"dagster run {run.run_id} ({run.job_name}) spotify_assets run worker"
    setproctitle.setproctitle(title)
    _named.add(os.getpid())
    return title
