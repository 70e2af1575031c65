"""An ocireg transport over h11: the plain h11 client loop on ``socket`` + ``ssl``.

Writing your own transport
--------------------------
A transport is any object with two methods (see :class:`ocireg.Transport`):

* ``send(request) -> Response``: send ``request.method`` to ``request.url`` with
  ``request.headers`` exactly as given (add only ``Host`` and framing) and
  ``request.body`` (``None``, ``bytes``, or an iterable of chunks whose total is in
  ``Content-Length``: stream it, do not buffer it); return
  ``Response(status, headers, request, stream)`` as soon as the head arrived, with
  ``headers`` a tuple of ``(name, value)`` pairs in order (repeated lines kept).
* ``close()``: close every pooled connection.

``stream`` has ``readinto(buffer) -> int`` (0 at the end; a truncated body raises
:class:`ocireg.ProtocolError`, never a clean end) and an idempotent ``close()``
that keeps the connection when the body was read to the end.  Never follow
redirects, retry, authenticate or decode ``Content-Encoding``, and raise only
:class:`ocireg.ConnectError`, :class:`ocireg.TransportTimeout` and
:class:`ocireg.ProtocolError`: translate every exception of your library.  This
module is such a transport, written against those public names alone: HTTP/1.1
with keep-alive in a few hundred lines, which is all a registry needs.
"""

from __future__ import annotations

from ._transport import H11Transport

__all__ = ["H11Transport"]
