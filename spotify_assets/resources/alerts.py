"""Where alerts go: always the sensor's log; also a webhook when one is configured."""

from __future__ import annotations

import dagster as dg

from spotify_assets.lib.quality.alerts import Alert, AlertDeliveryError, post_webhook


class AlertsResource(dg.ConfigurableResource):
    """``webhook_url`` comes from ``SPOTIFY_ALERT_WEBHOOK_URL`` as a ``dg.EnvVar`` (it holds a
    token); ``ui_url`` is the Dagster UI's address, used for links to runs in messages."""

    webhook_url: str | None = None
    ui_url: str | None = None
    timeout_s: float = 10.0

    def send(self, alert: Alert) -> str | None:
        """Send to the webhook if any; returns the delivery error text, or None."""
        if not self.webhook_url:
            return None
        try:
            post_webhook(self.webhook_url, alert, timeout_s=self.timeout_s)
        except AlertDeliveryError as exc:
            return str(exc)
        return None
