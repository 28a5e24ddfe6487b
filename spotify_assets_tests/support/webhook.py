"""A local webhook for alert tests: an HTTP server on 127.0.0.1 that records every POST and
answers ``status`` after ``delay_s``. Its URL carries ``TOKEN`` in the path, as real incoming
webhooks do, so tests can assert the token never shows."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOKEN = "T0KEN-s3cr3t-abc123"


class Hook:
    def __init__(self) -> None:
        self.requests: list[dict] = []  # path, content_type, json
        self.status = 200
        self.delay_s = 0.0
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length", 0))
                hook.requests.append(
                    {
                        "path": self.path,
                        "authorization": self.headers.get("Authorization"),
                        "content_type": self.headers.get("Content-Type"),
                        "json": json.loads(self.rfile.read(length)),
                    }
                )
                time.sleep(hook.delay_s)
                self.send_response(hook.status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.host = f"127.0.0.1:{self.server.server_port}"
        self.url = f"http://{self.host}/services/{TOKEN}"
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()

    @property
    def posts(self) -> list[dict]:
        """The JSON bodies received, in order."""
        return [r["json"] for r in self.requests]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
