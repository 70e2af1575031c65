"""The transport interface: the only thing a custom transport has to implement.

A transport sends one :class:`~ocireg.Request` and returns a
:class:`~ocireg.Response` whose ``stream`` is a :class:`ResponseStream`.  It must
*not* follow redirects, retry, authenticate or decode ``Content-Encoding`` (a
digest covers the raw bytes): the core decides all of that.  It may raise only
:class:`~ocireg.TransportError` subclasses (:class:`~ocireg.ConnectError`,
:class:`~ocireg.TransportTimeout`, :class:`~ocireg.ProtocolError`); every exception of
the library underneath is translated.

Send ``request.headers`` exactly as given (add only ``Host`` and framing headers)
and return the :class:`~ocireg.Response` as soon as its head arrived, its
``headers`` a tuple of ``(name, value)`` pairs in order, repeated lines kept (a
401 may carry several ``WWW-Authenticate`` lines).

A request body is ``None``, ``bytes``, or an iterable of chunks (bytes-like) whose
total length the core has put in ``Content-Length``; send it as it comes, without
buffering it whole.  An ocireg error raised *by the body iterable* (a source
that found its file short, a digest mismatch while copying) passes through
unchanged: it is the source's verdict, not a network failure.  A truncated
response body (fewer bytes than ``Content-Length``, a broken chunked encoding, a reset) must raise
:class:`~ocireg.ProtocolError` from ``readinto``, never look like a clean end.

``ocireg_urllib3`` and ``ocireg_h11`` are written exactly as an outside transport
would be, against ocireg's public names alone: read them as examples.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ._http import Request, Response

__all__ = ["ResponseStream", "Transport"]


@runtime_checkable
class ResponseStream(Protocol):
    """The unread body of a response."""

    def readinto(self, buffer: bytearray | memoryview, /) -> int:
        """Fill ``buffer`` with up to ``len(buffer)`` bytes; return how many, 0 at the end.

        Large buffers (1 MiB) are the fast path: callers reuse one buffer.
        """
        ...

    def close(self) -> None:
        """Release the response: keep the connection if the body was read to the end,
        otherwise drain a small remainder or drop the connection.  Idempotent."""
        ...


@runtime_checkable
class Transport(Protocol):
    """Sends requests; owns connections (pooled per origin, kept alive)."""

    def send(self, request: Request, /) -> Response:
        """Send ``request`` and return the response head with ``stream`` set."""
        ...

    def close(self) -> None:
        """Close every pooled connection."""
        ...
