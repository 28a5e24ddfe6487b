"""Deterministic fault injection for the fake Spotify Web API.

Faults let the real ingestion path (spotipy, retries, parsers) meet what the live API does on a
bad day: 429 with ``Retry-After`` (sometimes a quota 429 that lasts hours), 5xx from the
gateway, slow answers, bodies cut short. Decisions come from a seeded ``random.Random`` and a
call counter, never the wall clock, so a test that injects faults sees the same sequence on
every run (given the same order of calls).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Literal

FaultKind = Literal["429", "5xx", "truncated"]
TruncateStyle = Literal["short_body", "malformed"]

SERVER_ERRORS: dict[int, str] = {
    500: "Server error.",
    502: "Bad gateway.",
    503: "Service unavailable",
}


@dataclass(frozen=True)
class FaultConfig:
    """What goes wrong, and how often.

    Rates are fractions of the matching calls (0..1); ``rate_429 + rate_5xx + rate_truncated``
    must not exceed 1 (one draw picks at most one of them). Slowness is drawn independently and
    can combine with any answer.

    - ``rate_429``: answered 429 with ``Retry-After: retry_after_s``; ``quota_exceeded`` adds
      ``"reason": "QUOTA_EXCEEDED"`` to the body, as Spotify does for a spent quota.
    - ``rate_5xx``: answered 500, 502 or 503 with a Spotify-like error body.
    - ``rate_truncated``: half the body; ``truncate_style="short_body"`` announces the full
      ``Content-Length`` then closes the connection (the client sees an incomplete read),
      ``"malformed"`` announces the half length (the client sees invalid JSON).
    - ``rate_slow`` / ``slow_s``: sleep ``slow_s`` seconds before answering.
    - ``fail_first_n``: the first n matching calls fail with ``fail_first_kind``, then the
      rates above apply; lets a test assert "retried, and nothing was lost".
    - ``start_after_n``: the first n matching calls answer normally, then faults apply (a run
      that is cut off half-way, by a long ``Retry-After`` for example).
    - ``endpoints``: endpoint templates the faults apply to (for example
      ``{"GET /v1/playlists/{id}/items"}``); ``None`` means every ``/v1`` endpoint. The token
      endpoint is only faulted when listed here explicitly.
    """

    rate_429: float = 0.0
    retry_after_s: int = 1
    quota_exceeded: bool = False
    rate_5xx: float = 0.0
    rate_slow: float = 0.0
    slow_s: float = 0.0
    rate_truncated: float = 0.0
    truncate_style: TruncateStyle = "short_body"
    fail_first_n: int = 0
    fail_first_kind: FaultKind = "5xx"
    start_after_n: int = 0
    endpoints: AbstractSet[str] | None = None  # stored as a frozenset
    seed: int = 0

    def __post_init__(self) -> None:
        rates = (self.rate_429, self.rate_5xx, self.rate_truncated, self.rate_slow)
        if any(not 0.0 <= r <= 1.0 for r in rates):
            raise ValueError("fault rates must be within [0, 1]")
        if self.rate_429 + self.rate_5xx + self.rate_truncated > 1.0 + 1e-9:
            raise ValueError("rate_429 + rate_5xx + rate_truncated must not exceed 1")
        if (
            self.start_after_n < 0
            or self.fail_first_n < 0
            or self.retry_after_s < 0
            or self.slow_s < 0
        ):
            raise ValueError("fail_first_n, retry_after_s and slow_s must be >= 0")
        if self.truncate_style not in ("short_body", "malformed"):
            raise ValueError(f"unknown truncate_style {self.truncate_style!r}")
        if self.fail_first_kind not in ("429", "5xx", "truncated"):
            raise ValueError(f"unknown fail_first_kind {self.fail_first_kind!r}")
        if self.endpoints is not None and not isinstance(self.endpoints, frozenset):
            # Accept any iterable of templates; store a frozenset so the config stays hashable.
            object.__setattr__(self, "endpoints", frozenset(self.endpoints))

    def applies_to(self, endpoint: str) -> bool:
        """Whether calls to this endpoint template are subject to faults."""
        if self.endpoints is None:
            return endpoint.split(" ", 1)[-1].startswith("/v1/")
        return endpoint in self.endpoints


@dataclass(frozen=True)
class FaultDecision:
    """What to do with one call: ``kind`` is None for a normal answer."""

    kind: FaultKind | None = None
    status: int = 200
    slow_s: float = 0.0


@dataclass
class FaultInjector:
    """Draws one :class:`FaultDecision` per call; thread-safe and reproducible."""

    config: FaultConfig
    _rng: random.Random = field(init=False)
    _calls: int = field(init=False, default=0)
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.config.seed)

    def decide(self, endpoint: str) -> FaultDecision:
        cfg = self.config
        if not cfg.applies_to(endpoint):
            return FaultDecision()
        with self._lock:
            self._calls += 1
            n = self._calls
            u_kind = self._rng.random()
            u_slow = self._rng.random()
            u_status = self._rng.random()
        slow = cfg.slow_s if (cfg.rate_slow > 0 and u_slow < cfg.rate_slow) else 0.0
        status_5xx = sorted(SERVER_ERRORS)[int(u_status * len(SERVER_ERRORS))]
        if n <= cfg.start_after_n:
            return FaultDecision()
        n -= cfg.start_after_n
        if n <= cfg.fail_first_n:
            kind: FaultKind = cfg.fail_first_kind
        elif u_kind < cfg.rate_429:
            kind = "429"
        elif u_kind < cfg.rate_429 + cfg.rate_5xx:
            kind = "5xx"
        elif u_kind < cfg.rate_429 + cfg.rate_5xx + cfg.rate_truncated:
            kind = "truncated"
        else:
            return FaultDecision(slow_s=slow)
        status = {"429": 429, "5xx": status_5xx, "truncated": 200}[kind]
        return FaultDecision(kind=kind, status=status, slow_s=slow)
