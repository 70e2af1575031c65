"""The transport interface: the only thing a custom transport has to implement.

A transport sends one :class:`~ocireg.Request` and returns a response head whose
``stream`` is a :class:`ResponseStream`.  It must *not* follow redirects, retry,
authenticate or decode ``Content-Encoding`` (a digest covers the raw bytes): the
core decides all of that.

Send ``request.headers`` exactly as given (add only ``Host`` and framing headers)
and return the response as soon as its head arrived: an object with ``status``,
``headers`` (``(name, value)`` pairs in order, repeated lines kept: a 401 may carry
several ``WWW-Authenticate`` lines) and ``stream``.  Build it as an
:class:`~ocireg.Response`; the runners rely on those three attributes alone and
re-make it as their own ``Response`` when it comes from another copy of ocireg.

A request body is ``None``, ``bytes``, or an iterable of chunks (bytes-like) whose
total length the core has put in ``Content-Length``; send it as it comes, without
buffering it whole.  An exception raised *by the body iterable* (a source that
found its file short, a digest mismatch while copying) passes through unchanged:
it is the source's verdict, not a network failure.

**Optional: a body sent from a file.**  A body that is neither ``None`` nor bytes
may also have a ``send_file`` method (the driver's body for a blob read from a file:
a layout's, or a file given to ``push_blob``).  A transport that writes to a plain
socket of its own may call ``body.send_file(sendfile)`` *instead of* iterating the
body (never both); over TLS, or when in doubt, iterate: the chunks remain the
contract, and a transport that knows nothing of ``send_file`` keeps working.
``send_file`` calls ``sendfile(file, offset, count)`` one or more times, in order:
``file`` is a binary file open for reading; the transport sends ``count`` bytes of it
from ``offset`` (``socket.sendfile(file, offset, count)`` does) and returns how many
it sent (fewer only when the file ended).  Between two calls the body reports
progress, checks cancellation and, for a whole blob, its digest (computed beside the
send; the last bytes wait for it).  Together the calls send ``Content-Length``
bytes; a transport refuses a call that would exceed it.  What ``sendfile`` raises
passes through ``send_file`` unchanged (the transport's own failure, to translate
as any other); anything else ``send_file`` raises is the body's verdict, passed
through as an iterable's is.  The asyncio twin is ``await body.send_file(sendfile)``
with an ``async`` ``sendfile`` (``loop.sendfile`` does the sending).

Failures are signalled with **builtin exceptions only**, so that a transport works
with any copy of the core, a vendored one included:

* ``ConnectionError``: no connection (refused, unreachable, DNS, proxy, TLS
  handshake or certificate): the request was not sent;
* ``TimeoutError``: the connect or a read timeout fired;
* any other ``OSError``: the peer broke HTTP (a malformed head, a truncated body,
  bad chunked framing, a close or reset before or during the answer).  A truncated
  body must raise from ``readinto``, never look like a clean end.

(A ``ConnectionResetError`` that escapes is a ``ConnectionError`` and is reported
as a connect failure; the shipped transports raise :class:`~ocireg.ProtocolError`
for a reset after the request went out, since the server may have acted on it.)

Every exception of the library underneath is translated into one of these, and no
message quotes a header value (it may be a credential).  ocireg's own
:class:`~ocireg.ConnectError`, :class:`~ocireg.TransportTimeout` and
:class:`~ocireg.ProtocolError` qualify (they subclass those builtins), so a
transport may raise them; the runners turn whatever arrives into the calling copy's
classes with :func:`~ocireg.translate_transport_error`.

The asyncio twin (:class:`~ocireg.AsyncTransport`, in ``ocireg._async``) is the same
contract with ``send``, ``readinto`` and ``close`` as coroutines; a request body may
then also be an async iterable.

``ocireg.HTTPClientTransport`` (``ocireg._stdlib_transport``), ``ocireg_urllib3`` and
``ocireg_h11`` are written to this contract alone: read them as examples, and
``docs/transports.md`` for how a transport is found (entry points).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from ._http import Request, Response

__all__ = ["AsyncResponseStream", "AsyncTransport", "ResponseStream", "Transport", "adopt_response"]


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


def adopt_response(response: Any, request: Request) -> Response:
    """``response`` as this copy's :class:`~ocireg.Response` for ``request``.

    A transport built against another copy of ocireg (the installed one, under a
    vendored core) returns that copy's class; only ``status``, ``headers`` and
    ``stream`` are relied on.
    """
    if isinstance(response, Response):
        return response
    return Response(int(response.status), tuple(response.headers), request, response.stream)


@runtime_checkable
class AsyncResponseStream(Protocol):
    """:class:`ResponseStream` for asyncio: the same contract, awaited."""

    async def readinto(self, buffer: bytearray | memoryview, /) -> int: ...

    async def close(self) -> None: ...


@runtime_checkable
class AsyncTransport(Protocol):
    """``send`` returns a :class:`~ocireg.Response` whose ``stream`` is an :class:`AsyncResponseStream`."""

    async def send(self, request: Request, /) -> Response: ...

    async def close(self) -> None: ...
