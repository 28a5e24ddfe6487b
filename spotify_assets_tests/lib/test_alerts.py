"""Alert messages and webhook delivery (``spotify_assets.lib.quality.alerts``): what a person reads,
what the webhook receives, and that the webhook URL (it holds a token) never shows in an
error. The webhook is a tiny HTTP server on 127.0.0.1: no network."""

from __future__ import annotations

import base64
import socket
import time
from collections.abc import Iterator

import pytest

from spotify_assets.lib.quality.alerts import (
    AlertDeliveryError,
    check_failed_alert,
    post_webhook,
    run_failed_alert,
)
from spotify_assets_tests.support.webhook import TOKEN, Hook

RUN_ID = "0f1e2d3c-aaaa-bbbb-cccc-123456789abc"


@pytest.fixture
def hook() -> Iterator[Hook]:
    server = Hook()
    yield server
    server.stop()


def closed_port_url() -> str:
    """A URL on a port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/services/{TOKEN}"


def error_check_alert(**overrides):
    args = dict(
        asset="core/streams",
        check="no_duplicate_plays",
        severity="ERROR",
        run_id=RUN_ID,
        description="12 duplicate plays",
        details={"violations": 12},
        ui_url="http://dagster:3000/",
    )
    return check_failed_alert(**{**args, **overrides})


def test_error_check_alert_names_what_failed_where_and_what_it_stops():
    alert = error_check_alert()
    assert alert.kind == "check_failed"
    assert alert.text.splitlines() == [
        "[ERROR] check no_duplicate_plays failed on core/streams",
        "12 duplicate plays",
        "Downstream assets will not update from it until it passes (blocking).",
        "violations: 12",
        # The trailing slash of the UI address is not doubled.
        f"Look at: the check's result on the asset's Checks tab, run {RUN_ID} "
        f"(http://dagster:3000/runs/{RUN_ID})",
    ]
    assert alert.fields == {
        "asset": "core/streams",
        "check": "no_duplicate_plays",
        "severity": "ERROR",
        "run_id": RUN_ID,
    }


def test_warn_check_alert_says_nothing_stopped_and_skips_empty_parts():
    alert = error_check_alert(severity="WARN", description=None, details=None, ui_url=None)
    assert alert.text.splitlines() == [
        "[WARN] check no_duplicate_plays failed on core/streams",
        "Nothing was stopped (WARN); a person should look.",
        f"Look at: the check's result on the asset's Checks tab, run {RUN_ID}",
    ]
    assert "http" not in alert.text  # no UI address: no link


def test_run_alert_lists_steps_ten_assets_and_the_first_error_line():
    assets = [f"marts/m{i:02d}" for i in range(12)]
    alert = run_failed_alert(
        job="marts_job",
        run_id=RUN_ID,
        error="  duckdb.IOException: cannot open file\nTraceback (most recent call last):\n",
        failed_steps=["engagement_marts", "catalog_marts"],
        assets=assets,
        ui_url="http://ui",
    )
    assert alert.kind == "run_failed"
    assert alert.text.splitlines() == [
        "Run of marts_job failed",
        "Failed steps: engagement_marts, catalog_marts",
        # 12 assets: the first 10 shown, "2 more" (12 - 10).
        "Assets in the run: " + ", ".join(assets[:10]) + " and 2 more",
        "Error: duckdb.IOException: cannot open file",
        f"Look at: the run's logs, run {RUN_ID} (http://ui/runs/{RUN_ID})",
    ]
    assert alert.fields["failed_steps"] == ["engagement_marts", "catalog_marts"]
    assert alert.fields["assets"] == assets  # structured fields keep every asset


def test_run_alert_error_line_is_capped_and_optional_parts_are_left_out():
    alert = run_failed_alert(
        job="j", run_id=RUN_ID, error="x" * 2000, failed_steps=[], assets=[], ui_url=None
    )
    lines = alert.text.splitlines()
    assert lines == [
        "Run of j failed",
        "Error: " + "x" * 500,
        f"Look at: the run's logs, run {RUN_ID}",
    ]
    no_error = run_failed_alert(job="j", run_id=RUN_ID, error=None, failed_steps=[], assets=[])
    assert not any(line.startswith("Error") for line in no_error.text.splitlines())


def test_post_webhook_sends_one_json_post_with_text_and_fields(hook):
    alert = error_check_alert()
    assert post_webhook(hook.url, alert, timeout_s=5) == 200
    assert len(hook.requests) == 1
    post = hook.requests[0]
    assert post["path"] == f"/services/{TOKEN}"
    assert post["content_type"] == "application/json"
    assert post["json"] == {
        "text": alert.text,
        "kind": "check_failed",
        "asset": "core/streams",
        "check": "no_duplicate_plays",
        "severity": "ERROR",
        "run_id": RUN_ID,
    }


@pytest.mark.parametrize("status", [400, 500, 503])
def test_http_error_names_the_host_and_status_never_the_url(hook, status):
    hook.status = status
    with pytest.raises(AlertDeliveryError) as info:
        post_webhook(hook.url, error_check_alert(), timeout_s=5)
    message = str(info.value)
    assert message == f"the webhook at {hook.host} answered HTTP {status}"
    assert TOKEN not in message and "/services" not in message
    assert info.value.__cause__ is None and info.value.__suppress_context__  # `from None`


def test_unreachable_webhook_names_only_the_host():
    url = closed_port_url()
    with pytest.raises(AlertDeliveryError) as info:
        post_webhook(url, error_check_alert(), timeout_s=5)
    message = str(info.value)
    host = url.split("/")[2]
    assert message.startswith(f"the webhook at {host} is unreachable: ")
    assert TOKEN not in message


def test_slow_webhook_times_out_as_a_delivery_error(hook):
    hook.delay_s = 3.0
    started = time.perf_counter()
    with pytest.raises(AlertDeliveryError) as info:
        post_webhook(hook.url, error_check_alert(), timeout_s=0.2)
    assert time.perf_counter() - started < 2.0  # gave up at the timeout, not at the answer
    assert f"the webhook at {hook.host} is unreachable" in str(info.value)
    assert TOKEN not in str(info.value)


@pytest.mark.parametrize(
    "url",
    [
        f"hooks.example.com/services/{TOKEN}",  # scheme left out
        f"ftp://127.0.0.1/services/{TOKEN}",
        f"http:///services/{TOKEN}",  # no host
    ],
)
def test_a_url_that_is_not_http_is_a_delivery_error_that_hides_the_token(url):
    with pytest.raises(AlertDeliveryError) as info:
        post_webhook(url, error_check_alert(), timeout_s=1)
    assert str(info.value) == (
        "the webhook URL is not a valid http(s) URL with a host (check SPOTIFY_ALERT_WEBHOOK_URL)"
    )


@pytest.mark.parametrize(
    "url",
    [f"http://127.0.0.1:9/services/{TOKEN[:4]} {TOKEN[4:]}", f"https://[bad/services/{TOKEN}"],
    ids=["space-in-path", "bad-ipv6-host"],
)
def test_any_malformed_url_is_a_delivery_error_that_hides_the_token(url):
    with pytest.raises(AlertDeliveryError) as info:
        post_webhook(url, error_check_alert(), timeout_s=1)
    assert TOKEN[4:] not in str(info.value)


def test_credentials_in_the_url_become_basic_authentication_and_deliver(hook):
    """``https://user:password@host/path`` (as some webhook services hand them out): urllib
    would take ``user:password@host`` for the host name; the alert is delivered with the
    credentials as an ``Authorization`` header, the URL sent without them."""
    url = hook.url.replace("http://", "http://alerts:p%40ss%3Aword@")
    assert post_webhook(url, check_failed_alert(
        asset="core/streams", check="no_duplicate_plays", severity="ERROR", run_id="r1",
        description="2 duplicate plays",
    )) == 200  # fmt: skip
    [request] = hook.requests
    assert request["path"] == f"/services/{TOKEN}"
    assert request["authorization"] == "Basic " + base64.b64encode(b"alerts:p@ss:word").decode()
    assert request["json"]["kind"] == "check_failed"
