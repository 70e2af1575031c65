"""Flows: registry operations as generators, the shape of httpx's ``Auth.auth_flow``.

A flow is a generator that yields *effects* and returns its result.  A driver runs
it: for each effect it performs the I/O and sends the outcome back in.

==================  ==============================================  ===================
effect yielded      the driver does                                 and sends back
==================  ==============================================  ===================
``Request``         ``transport.send(request)``                     :class:`Response`
``ReadBody(r, n)``  reads at most ``n + 1`` bytes of ``r``'s body,    ``bytes``
                    then closes ``r`` (releasing its connection)
``Close(r)``        closes ``r`` unread (drain or drop connection)  ``None``
==================  ==============================================  ===================

Reading ``n + 1`` bytes lets the core, not the driver, decide that a body was too
large.  Flows compose with ``yield from``; time is an argument (``now``), so the
core never reads a clock, and every body read whole has a cap, so it never
allocates without bound.  The same flows run under the blocking driver and any
other (an async one, or an embedding tool's own loop).
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, TypeVar

from ._errors import ResponseTooLarge
from ._http import Request, Response, redact_url

__all__ = ["Close", "Effect", "Flow", "ReadBody", "close", "read_body"]

T = TypeVar("T")


@dataclass(frozen=True, eq=False)
class ReadBody:
    """Read the body of ``response`` whole, at most ``limit + 1`` bytes, then close it."""

    response: Response
    limit: int


@dataclass(frozen=True, eq=False)
class Close:
    """Release ``response`` without reading its body."""

    response: Response


Effect = Request | ReadBody | Close
Flow = Generator[Effect, Any, T]
"""A flow yielding effects and returning ``T``."""


def read_body(response: Response, limit: int) -> Flow[bytes]:
    """The whole body of ``response``; :class:`ResponseTooLarge` past ``limit`` bytes."""
    data: bytes = yield ReadBody(response, limit)
    if len(data) > limit:
        raise ResponseTooLarge(
            f"{response.request.method} {redact_url(response.request.url)}: "
            f"body larger than {limit} bytes"
        )
    return data


def close(response: Response) -> Flow[None]:
    """Release ``response`` unread."""
    yield Close(response)
