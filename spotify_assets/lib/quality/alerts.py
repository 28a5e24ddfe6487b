"""Failure alerts (Dagster-free): the message a person reads, and its delivery to a webhook.

The message says what failed (the asset and check, or the job and step), in which run, and
what to look at, so the reader can act without opening five pages. Delivery is one JSON POST
with a ``text`` field, which Slack, Mattermost, Microsoft Teams (incoming webhooks) and most
chat tools accept, plus the structured fields for anything else. The webhook URL usually
carries a secret token, so it is never logged: errors name only its host.
"""

from __future__ import annotations

import base64
import http.client
import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import SplitResult, unquote, urlsplit, urlunsplit


class AlertDeliveryError(RuntimeError):
    """The webhook did not accept the alert (the message names the host, not the URL)."""


@dataclass(frozen=True)
class Alert:
    kind: str  # "check_failed" or "run_failed"
    title: str
    lines: tuple[str, ...]
    fields: Mapping[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return "\n".join((self.title, *self.lines))


def _run_url(base_url: str | None, run_id: str) -> str | None:
    return f"{base_url.rstrip('/')}/runs/{run_id}" if base_url else None


def check_failed_alert(
    *,
    asset: str,
    check: str,
    severity: str,
    run_id: str,
    description: str | None,
    details: Mapping[str, Any] | None = None,
    ui_url: str | None = None,
) -> Alert:
    """A failed asset check. ERROR checks stop what is downstream; WARN ones ask for a look."""
    consequence = (
        "Downstream assets will not update from it until it passes (blocking)."
        if severity == "ERROR"
        else "Nothing was stopped (WARN); a person should look."
    )
    lines = [f"{description}" if description else "", consequence]
    for name, value in (details or {}).items():
        lines.append(f"{name}: {value}")
    url = _run_url(ui_url, run_id)
    lines.append(
        f"Look at: the check's result on the asset's Checks tab, run {run_id}"
        + (f" ({url})" if url else "")
    )
    return Alert(
        "check_failed",
        f"[{severity}] check {check} failed on {asset}",
        tuple(line for line in lines if line),
        {"asset": asset, "check": check, "severity": severity, "run_id": run_id},
    )


def run_failed_alert(
    *,
    job: str,
    run_id: str,
    error: str | None,
    failed_steps: list[str],
    assets: list[str],
    ui_url: str | None = None,
) -> Alert:
    """A failed run: which steps failed with which error, and which assets it was building."""
    lines = []
    if failed_steps:
        lines.append(f"Failed steps: {', '.join(failed_steps)}")
    if assets:
        shown = ", ".join(assets[:10]) + (
            f" and {len(assets) - 10} more" if len(assets) > 10 else ""
        )
        lines.append(f"Assets in the run: {shown}")
    if error:
        lines.append(f"Error: {error.strip().splitlines()[0][:500]}")
    url = _run_url(ui_url, run_id)
    lines.append(f"Look at: the run's logs, run {run_id}" + (f" ({url})" if url else ""))
    return Alert(
        "run_failed",
        f"Run of {job} failed",
        tuple(lines),
        {"job": job, "run_id": run_id, "failed_steps": failed_steps, "assets": assets},
    )


def webhook_host(parts: SplitResult) -> str:
    """The host (and port) of a webhook URL for messages: never its user info
    (``https://user:token@host/...``), path or query, which may hold the token."""
    try:
        port = parts.port
    except ValueError:
        port = None
    host = parts.hostname or "?"
    return f"{host}:{port}" if port else host


def _without_user_info(parts: SplitResult) -> tuple[str, str]:
    """(the URL without ``user:password@``, the Basic ``Authorization`` header for them); the
    user and password are percent-decoded, as browsers and curl do."""
    user = unquote(parts.username or "")
    password = unquote(parts.password or "")
    netloc = parts.netloc.rpartition("@")[2]
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return urlunsplit(parts._replace(netloc=netloc)), f"Basic {token}"


def post_webhook(url: str, alert: Alert, *, timeout_s: float = 10.0) -> int:
    """POST the alert as JSON; returns the HTTP status. Raises :class:`AlertDeliveryError`."""
    invalid = AlertDeliveryError(
        "the webhook URL is not a valid http(s) URL with a host (check SPOTIFY_ALERT_WEBHOOK_URL)"
    )
    try:
        parts = urlsplit(url)
    except ValueError:
        raise invalid from None  # never echo the URL: its path is usually the token
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise invalid
    host = webhook_host(parts)
    body = json.dumps(
        {"text": alert.text, "kind": alert.kind, **{k: v for k, v in alert.fields.items()}},
        default=str,
    ).encode("utf-8")
    headers = {"Content-Type": "application/json"}
    if parts.username is not None or parts.password is not None:
        # urllib would look the user info up as part of the host name ("Name or service not
        # known"): it becomes HTTP basic authentication, and the URL is sent without it.
        url, headers["Authorization"] = _without_user_info(parts)
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as exc:
        raise AlertDeliveryError(f"the webhook at {host} answered HTTP {exc.code}") from None
    except (http.client.InvalidURL, ValueError):
        raise invalid from None
    except (urllib.error.URLError, http.client.HTTPException, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise AlertDeliveryError(f"the webhook at {host} is unreachable: {reason}") from None
