"""Retries as a flow: which failures are worth another try, and how long to wait first.

A registry or its CDN answers 429 (rate limited) or 502/503/504 (a proxy or a
node restarting) now and then; a connection drops before any answer.  Idempotent
requests whose body can be sent again are tried again after an exponential,
jittered back-off, or after the server's ``Retry-After`` (seconds or an HTTP date)
when it gives one, within a cap and an overall deadline.  Waiting is the
:class:`~ocireg._flow.Sleep` effect and the time the ``Now`` effect, so tests run
these rules without sleeping and the core never reads a clock.

:class:`RateLimit` reads the ``RateLimit-*`` headers (the IETF draft, and Docker
Hub's ``ratelimit-limit: 100;w=21600``) so callers can see how much is left.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from ._errors import InvalidArgument, TransportError
from ._flow import Flow, Sleep, close, now
from ._http import Request, Response

__all__ = ["RETRY_STATUSES", "RateLimit", "RetryPolicy", "retry_after", "retrying"]

RETRY_STATUSES = frozenset({429, 502, 503, 504})
_IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try.  ``attempts`` counts every try (1: never retry).

    The n-th retry waits ``backoff * 2**(n-1)`` seconds (at most ``max_backoff``),
    less up to ``jitter`` of it at random so that many clients do not come back at
    once; a ``Retry-After`` replaces that wait unless it is longer than
    ``max_retry_after`` (then the answer is given up on at once).  No retry starts
    past ``deadline`` seconds after the first try.  ``resumes`` bounds how often one
    interrupted download or chunked upload is resumed from where it stopped.
    """

    attempts: int = 4
    backoff: float = 0.5
    max_backoff: float = 20.0
    max_retry_after: float = 60.0
    deadline: float = 120.0
    jitter: float = 0.5
    statuses: frozenset[int] = RETRY_STATUSES
    resumes: int = 3
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def __post_init__(self) -> None:
        for name in ("attempts", "resumes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < (1 if name == "attempts" else 0):
                raise InvalidArgument(f"retry policy: {name} must be a whole number of at least "
                                      f"{1 if name == 'attempts' else 0}, not {value!r}")
        for name in ("backoff", "max_backoff", "max_retry_after", "deadline", "jitter"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise InvalidArgument(f"retry policy: {name} must be a finite number >= 0, not {value!r}")
        if self.jitter > 1:
            raise InvalidArgument("retry policy: jitter is a fraction between 0 and 1")

    @classmethod
    def off(cls) -> RetryPolicy:
        """Never retry, never resume."""
        return cls(attempts=1, resumes=0)

    def delay(self, retry: int) -> float:
        """The back-off before the ``retry``-th retry (1 for the first)."""
        full = min(self.max_backoff, self.backoff * 2.0 ** (retry - 1))
        return float(full * (1 - self.jitter * self.rng.random()))

    def may_retry(self, request: Request) -> bool:
        """Idempotent, and a body that can be sent again."""
        body = request.body
        return request.method in _IDEMPOTENT and (body is None or isinstance(body, bytes | bytearray | memoryview))


def retry_after(response: Response, now: float) -> float | None:
    """``Retry-After`` in seconds from ``now``: delay-seconds or an HTTP date; None if absent or unreadable."""
    value = (response.header("Retry-After") or "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(int(value[:12]))
    import email.utils  # only for the rare HTTP-date form: a quicker start-up

    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # an HTTP date is GMT; a zone-less one is read the same way
        return None
    return max(0.0, when.timestamp() - now)


def retrying(request: Request, send: Callable[[Request], Flow[Response]], policy: RetryPolicy) -> Flow[Response]:
    """``send(request)``, tried again on a transport failure before any answer or a
    retryable status, as ``policy`` allows; the last answer (or failure) is the caller's."""
    if policy.attempts <= 1 or not policy.may_retry(request):
        return (yield from send(request))
    start = yield from now()
    tries = 1
    while True:
        failure: TransportError | None = None
        answered: Response | None = None
        try:
            answered = yield from send(request)
        except TransportError as exc:
            failure = exc
        if answered is not None and answered.status not in policy.statuses:
            return answered
        if tries >= policy.attempts:
            return _last(answered, failure)
        wait: float | None = policy.delay(tries)
        if answered is not None:
            hinted = retry_after(answered, (yield from now()))
            if hinted is not None:
                wait = hinted if hinted <= policy.max_retry_after else None
        elapsed = (yield from now()) - start
        if wait is None or elapsed + wait > policy.deadline:
            return _last(answered, failure)
        if answered is not None:
            yield from close(answered)
        yield Sleep(wait)
        tries += 1


def _last(answered: Response | None, failure: TransportError | None) -> Response:
    """Give up: the last answer is the caller's to report (429, 503...), or the failure raised."""
    if answered is None:
        assert failure is not None
        raise failure
    return answered


@dataclass(frozen=True)
class RateLimit:
    """What a registry said of its request budget: ``limit`` per ``window`` seconds, ``remaining``,
    and ``reset`` seconds until it refills (each None when not said)."""

    limit: int | None
    remaining: int | None
    window: int | None = None
    reset: int | None = None

    @classmethod
    def of(cls, response: Response) -> RateLimit | None:
        def number(name: str) -> tuple[int | None, int | None]:
            value = response.header(name)
            if value is None:
                return None, None
            head, _, params = value.partition(";")
            window = None
            for param in params.split(";"):
                key, _, val = param.strip().partition("=")
                if key.lower() == "w" and val.strip().isdigit():
                    window = int(val.strip())
            head = head.strip()
            return (int(head) if head.isdigit() else None), window

        limit, window = number("RateLimit-Limit")
        remaining, _ = number("RateLimit-Remaining")
        reset, _ = number("RateLimit-Reset")
        if limit is None and remaining is None and reset is None:
            return None
        return cls(limit, remaining, window, reset)
