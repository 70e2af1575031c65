"""A request-rate limit per registry: a token bucket, and a transport that waits for it.

Docker Hub and GHCR answer 429 past a request rate; a mirror of many images keeps
under it by spacing its own requests.  :class:`TokenBucket` decides, from a ``now``
it is given, how long the next request must wait (it never reads a clock or
sleeps); :class:`RateLimitedTransport` is the driver side that reads the clock and
sleeps, both injected, before handing each request to the transport it wraps.

A bucket holds ``burst`` tokens and gains ``rate`` per second; each request takes
one.  When it is empty the request takes one on credit and waits until that token
would have arrived, so requests from many threads queue in arrival order and the
rate holds whatever the concurrency: over any span of ``t`` seconds at most
``burst + rate * t`` requests go out.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from ._errors import InvalidArgument
from ._http import Request, Response
from ._transport import Transport

__all__ = ["RateLimitedTransport", "TokenBucket"]

_ROUNDING = 1e-9


class TokenBucket:
    """``rate`` requests per second on average, ``burst`` at once; thread-safe."""

    def __init__(self, rate: float, burst: float | None = None) -> None:
        if not isinstance(rate, int | float) or isinstance(rate, bool) or not (0 < rate < math.inf):
            raise InvalidArgument(f"rate must be a positive number of requests per second, not {rate!r}")
        burst = max(1.0, rate) if burst is None else burst
        if not isinstance(burst, int | float) or isinstance(burst, bool) or not (1 <= burst < math.inf):
            raise InvalidArgument(f"burst must be a number of requests of at least 1, not {burst!r}")
        self.rate = float(rate)
        self.burst = float(burst)
        self._tokens = self.burst
        self._last: float | None = None
        self._lock = threading.Lock()

    def reserve(self, now: float) -> float:
        """Take a token for a request at ``now``; return the seconds to wait before sending it."""
        with self._lock:
            if self._last is not None and now > self._last:
                self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
            if self._last is None or now > self._last:
                self._last = now
            self._tokens -= 1
            # Within float rounding of a whole token is a whole token: requests
            # spaced exactly 1/rate apart must not wait a nanosecond each.
            return 0.0 if self._tokens >= -_ROUNDING else -self._tokens / self.rate


class RateLimitedTransport:
    """A transport whose requests wait for ``bucket`` first; closing closes the inner one."""

    def __init__(
        self,
        inner: Transport,
        bucket: TokenBucket,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.inner = inner
        self.bucket = bucket
        self._clock = clock
        self._sleep = sleep

    def send(self, request: Request, /) -> Response:
        delay = self.bucket.reserve(self._clock())
        if delay > 0:
            self._sleep(delay)
        return self.inner.send(request)

    def close(self) -> None:
        self.inner.close()
