"""Rate limits: a token bucket per key, and per client address for the public.

A bucket holds up to ``burst`` requests and refills at ``rate`` per second; a caller whose
bucket is empty gets 429 ``rate_limited`` with ``Retry-After``. Keys are limited by key id,
so one consumer cannot crowd out another; requests without a key, or with a key that does
not work, by the client's address. The state is one dict in the process: a lookup and some
arithmetic per request, on the path every check takes. Several processes behind one address
each keep their own buckets.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Request

from socialcredit.api import metrics
from socialcredit.api.errors import ApiError

#: Buckets kept before idle (full) ones are dropped; the threshold grows with real traffic.
TRACKED = 100_000


@dataclass(frozen=True, slots=True)
class RateLimit:
    """Requests per second and the burst a caller may send at once; 0 for either is off."""

    rate: float = 1000.0
    burst: int = 2000

    @property
    def on(self) -> bool:
        return self.rate > 0 and self.burst > 0


class Buckets:
    """The token buckets of one app, by caller."""

    def __init__(self, limit: RateLimit, clock: Callable[[], float] = time.monotonic):
        self.rate, self.burst, self.clock = limit.rate, float(limit.burst), clock
        self._state: dict[str, tuple[float, float]] = {}  # caller -> (tokens, at)
        self._lock = threading.Lock()  # dependencies run on the thread pool
        self._prune_at = TRACKED

    def wait(self, caller: str) -> float:
        """Take a token for ``caller``: 0.0 if there was one, else the seconds until there is."""
        now = self.clock()
        with self._lock:
            tokens, at = self._state.get(caller, (self.burst, now))
            tokens = min(self.burst, tokens + (now - at) * self.rate)
            if tokens >= 1.0:
                self._state[caller] = (tokens - 1.0, now)
                if len(self._state) > self._prune_at:
                    self._prune(now)
                return 0.0
            self._state[caller] = (tokens, now)
            return (1.0 - tokens) / self.rate

    def _prune(self, now: float) -> None:
        """Forget callers whose bucket has refilled: they would start full anyway."""
        self._state = {
            who: (tokens, at)
            for who, (tokens, at) in self._state.items()
            if tokens + (now - at) * self.rate < self.burst
        }
        self._prune_at = max(TRACKED, 2 * len(self._state))


def admit(request: Request, caller: str, role: str) -> None:
    """Let the request through, or refuse it with 429 when ``caller``'s bucket is empty."""
    buckets: Buckets | None = request.app.state.rate_limiter
    if buckets is None:
        return
    wait = buckets.wait(caller)
    if wait > 0.0:
        metrics.RATE_LIMITED.labels(role).inc()
        seconds = max(1, math.ceil(wait))
        raise ApiError(
            429,
            "rate_limited",
            f"too many requests; at most {buckets.rate:g} a second (bursts of "
            f"{buckets.burst:g}) per key, or per address without one; retry in {seconds} s",
            headers={"Retry-After": str(seconds)},
        )


def address(request: Request) -> str:
    """The client's address (behind a proxy, what uvicorn's ``--forwarded-allow-ips`` let
    through), which the public's requests are counted by."""
    return request.client.host if request.client is not None else "unknown"


def buckets_for(limit: RateLimit) -> Buckets | None:
    return Buckets(limit) if limit.on else None
