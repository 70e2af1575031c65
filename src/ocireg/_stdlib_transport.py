"""A transport on the standard library's ``http.client``: ocireg with no dependency.

It is the default when no other transport is installed (see :mod:`ocireg._discovery`),
so ``pip install ocireg`` and a vendored copy of the core can talk to a registry
as they are.  Like every transport it keeps the contract in ``ocireg._transport``:
no redirects, retries, authentication or decoding, and failures as builtin
exceptions (here ocireg's own :class:`ConnectError`, :class:`TransportTimeout` and
:class:`ProtocolError`, which subclass them).

``http.client`` parses the answer (status line, headers, chunked and
``Content-Length`` bodies); this module adds what a registry client needs on top:
a keep-alive pool per origin, checks on the head that ``http.client`` lets
through, truncation reported as an error, proxies from the environment, and one
safe retry when a kept-alive connection turns out to be closed.
"""

from __future__ import annotations

import base64
import http.client
import os
import select
import socket
import ssl
import sys
import threading
import urllib.parse
from collections.abc import Callable, Iterable
from email.errors import MultipartInvariantViolationDefect, StartBoundaryNotFoundDefect
from typing import BinaryIO, NamedTuple

from ._defaults import DEFAULT_JOBS
from ._errors import ConnectError, ProtocolError, TransportError, TransportTimeout
from ._http import Origin, Request, Response, header_value, redact_url

__all__ = ["HTTPClientTransport"]

_DRAIN_LIMIT = 64 * 1024
"""Unread bytes worth draining to keep a connection; past this, dropping it is cheaper."""

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
"""Methods whose empty body is announced with ``Content-Length: 0``, as http.client does."""

_BYTES_LIKE = (bytes, bytearray, memoryview)
"""A body sent as one piece (iterating a bytearray would give ints, not chunks)."""

# What http.client and the socket under it raise once connected: OSError (socket,
# ssl), HTTPException (bad status line, IncompleteRead, LineTooLong) and ValueError
# (a header it refuses to encode, a malformed chunk size).
_EXCHANGE_ERRORS = (OSError, http.client.HTTPException, ValueError)


class _NoAnswer(Exception):
    """The connection ended (closed or reset) before any byte of the answer."""


class _Stale(Exception):
    """A reused connection ended before any byte of the answer: the server had closed it."""


class _Response(http.client.HTTPResponse):
    """Tells "no byte at all" apart from a broken answer before parsing begins.

    Only then is a request on a reused connection safe to send again: once a byte
    arrived, the server has seen the request.
    """

    def begin(self) -> None:
        try:
            first = self.fp.peek(1)
        except ConnectionError as exc:
            raise _NoAnswer from exc
        if not first:
            raise _NoAnswer
        super().begin()


class _HTTPConnection(http.client.HTTPConnection):
    response_class = _Response
    auto_open = 0  # never reconnect behind our back: the pool decides


class _HTTPSConnection(http.client.HTTPSConnection):
    response_class = _Response
    auto_open = 0


_Connection = _HTTPConnection | _HTTPSConnection


class _Proxy(NamedTuple):
    host: str
    port: int
    authorization: str | None  # the Proxy-Authorization value, for the proxy only


class _Route(NamedTuple):
    """Where a connection goes: the origin, through a proxy or not (the pool's key)."""

    origin: Origin
    proxy: _Proxy | None

    @property
    def absolute_form(self) -> bool:
        """Plain HTTP through a proxy: the proxy gets the whole URL, no tunnel."""
        return self.proxy is not None and self.origin.scheme == "http"

    @property
    def pool_key(self) -> _Route:
        # Plain HTTP through a proxy talks to the proxy itself, whatever the origin.
        if self.absolute_form:
            return _Route(Origin("http", "", 0), self.proxy)
        return self


def _proxy(url: str) -> _Proxy:
    parts = urllib.parse.urlsplit(url if "://" in url else f"http://{url}")
    if parts.scheme.lower() != "http" or not parts.hostname:
        raise ConnectError(f"{redact_url(url)}: unsupported proxy (only http:// proxies are)")
    authorization = None
    if parts.username is not None:
        pair = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
        authorization = "Basic " + base64.b64encode(pair.encode("latin-1")).decode("ascii")
    return _Proxy(parts.hostname, parts.port or 80, authorization)


def _looks_dropped(sock: socket.socket | None) -> bool:
    """Whether an idle keep-alive connection is unusable.

    Nothing may arrive on an idle connection, so readable means the server closed
    it (EOF), reset it, or sent something unsolicited.
    """
    if sock is None:
        return True
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return True
    try:
        if hasattr(select, "poll"):
            poller = select.poll()
            poller.register(sock, select.POLLIN)
            return bool(poller.poll(0))
        return bool(select.select([sock], [], [], 0)[0])
    except (OSError, ValueError):
        return True


def _head_defect(response: http.client.HTTPResponse) -> str | None:
    """What is wrong with a head http.client accepted, or None.

    http.client takes a head cut by the end of the stream as complete, and a
    malformed ``Content-Length`` as "read until close": either would turn a
    truncated answer into a clean one.
    """
    message = response.msg
    # Multipart defects come from http.client parsing a head alone; they are noise.
    defects = [
        d
        for d in message.defects
        if not isinstance(d, StartBoundaryNotFoundDefect | MultipartInvariantViolationDefect)
    ]
    if defects or (not message.is_multipart() and message.get_payload()):
        return "malformed response head"
    values = message.get_all("Content-Length") or []
    lengths = {part.strip() for value in values for part in value.split(",")}
    if lengths and (len(lengths) != 1 or not all(v.isdigit() for v in lengths)):
        return "malformed or conflicting Content-Length"
    return None


class HTTPClientTransport:
    """Sends requests over ``http.client``, keeping up to ``pool_size`` idle
    connections per origin (and per proxy).

    ``open_timeout`` bounds connecting (TCP, proxy tunnel and TLS), ``read_timeout``
    each wait for bytes (and each write).  ``ca_file`` replaces the system CA store;
    ``insecure`` turns certificate and host name verification off.  With
    ``proxy_from_env``, ``HTTP_PROXY``/``HTTPS_PROXY``/``NO_PROXY`` are honoured
    (``http://`` proxies, with credentials in their URL if needed): plain HTTP goes
    to the proxy in absolute form, HTTPS through a ``CONNECT`` tunnel.  Thread-safe;
    ``close()`` closes the idle connections and the transport stays usable.
    """

    def __init__(
        self,
        *,
        open_timeout: float = 2,
        read_timeout: float = 5,
        ca_file: str | None = None,
        insecure: bool = False,
        pool_size: int = DEFAULT_JOBS,
        proxy_from_env: bool = True,
    ) -> None:
        self._open_timeout = open_timeout
        self._read_timeout = read_timeout
        self._pool_size = pool_size
        self._proxy_from_env = proxy_from_env
        self._ca_file = ca_file
        self._insecure = insecure
        self._tls: ssl.SSLContext | None = None
        self._idle: dict[_Route, list[_Connection]] = {}
        self._lock = threading.Lock()
        if ca_file is not None:
            self._tls_context()  # a bad CA file is an error now, not at the first request

    def _tls_context(self) -> ssl.SSLContext:
        """The TLS context, built once, on first need: loading the system CA store takes
        longer than a whole plain-HTTP command (tens of milliseconds), so none pays it."""
        with self._lock:
            if self._tls is None:
                tls = ssl.create_default_context(cafile=self._ca_file)
                if self._insecure:
                    tls.check_hostname = False
                    tls.verify_mode = ssl.CERT_NONE
                tls.set_alpn_protocols(["http/1.1"])
                self._tls = tls
            return self._tls

    # --- the pool -------------------------------------------------------------------

    def _route(self, request: Request) -> _Route:
        origin = request.origin
        if not self._proxy_from_env or not _proxy_settings_exist():
            return _Route(origin, None)
        import urllib.request

        proxy = urllib.request.getproxies().get(origin.scheme)
        if not proxy or urllib.request.proxy_bypass(origin.host):
            return _Route(origin, None)
        return _Route(origin, _proxy(proxy))

    def _checkout(self, route: _Route) -> tuple[_Connection, bool]:
        """An idle connection that still looks alive (reused: True), or a new one."""
        while True:
            with self._lock:
                idle = self._idle.get(route.pool_key)
                conn = idle.pop() if idle else None
            if conn is None:
                return self._connect(route), False
            if not _looks_dropped(conn.sock):
                return conn, True
            conn.close()

    def _connect(self, route: _Route) -> _Connection:
        origin, proxy = route
        host, port = (proxy.host, proxy.port) if proxy else (origin.host, origin.port)
        conn: _Connection
        if origin.scheme == "https":
            conn = _HTTPSConnection(host, port, timeout=self._open_timeout, context=self._tls_context())
            if proxy is not None:
                tunnel_headers = {"Proxy-Authorization": proxy.authorization} if proxy.authorization else None
                conn.set_tunnel(origin.host, origin.port, headers=tunnel_headers)
        else:
            conn = _HTTPConnection(host, port, timeout=self._open_timeout)
        where = f"{origin.scheme}://{origin.host}:{origin.port}"
        try:
            conn.connect()
            assert conn.sock is not None
            conn.sock.settimeout(self._read_timeout)
        except TimeoutError as exc:
            conn.close()
            raise TransportTimeout(f"{where}: connect timed out") from exc
        except (OSError, http.client.HTTPException, ValueError) as exc:
            # refused, unreachable, DNS, a tunnel the proxy refused, TLS (the
            # certificate errors are OSError and ValueError at once)
            conn.close()
            raise ConnectError(f"{where}: cannot connect: {exc}") from exc
        return conn

    def _release(self, route: _Route, conn: _Connection) -> None:
        with self._lock:
            idle = self._idle.setdefault(route.pool_key, [])
            if len(idle) < self._pool_size:
                idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            conns = [conn for idle in self._idle.values() for conn in idle]
            self._idle.clear()
        for conn in conns:
            conn.close()

    def __enter__(self) -> HTTPClientTransport:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- one exchange ---------------------------------------------------------------

    def send(self, request: Request, /) -> Response:
        origin = request.origin
        if origin.scheme not in ("http", "https") or not origin.host:
            raise ConnectError(f"{redact_url(request.url)}: not an http(s) URL")
        route = self._route(request)
        conn, reused = self._checkout(route)
        try:
            return self._exchange(route, conn, request, reused=reused)
        except _Stale:
            # The server closed the idle connection as we reused it: nothing of the
            # request was answered, so one more try on a fresh connection is safe --
            # if the body can be sent again (an iterator is already partly consumed).
            if not (request.body is None or isinstance(request.body, _BYTES_LIKE)):
                raise ProtocolError(
                    f"{redact_url(request.url)}: connection closed by the server "
                    "before the response"
                ) from None
        return self._exchange(route, self._connect(route), request, reused=False)

    def _exchange(
        self, route: _Route, conn: _Connection, request: Request, *, reused: bool
    ) -> Response:
        where = f"{request.method} {redact_url(request.url)}"
        try:
            _write_head(conn, request, route)
        except ValueError:  # a header or target http.client refuses: never echo its value
            conn.close()
            raise ProtocolError(f"{where}: the request cannot be encoded (invalid header?)") from None
        except OSError as exc:
            conn.close()
            if reused and isinstance(exc, ConnectionError):
                raise _Stale from exc  # reset or broken pipe on a reused socket
            raise _network_error(exc, where) from exc
        try:
            _write_body(conn, request, where)
        except _SendFailed as failed:
            conn.close()
            cause = failed.__cause__
            if reused and isinstance(cause, ConnectionError):
                raise _Stale from cause
            raise _network_error(cause, where) from cause
        except BaseException:  # the body iterable's own verdict: pass it on as it is
            conn.close()
            raise
        try:
            answer = conn.getresponse()
        except _NoAnswer:
            conn.close()
            if reused:
                raise _Stale from None
            raise ProtocolError(f"{where}: connection closed before the response") from None
        except _EXCHANGE_ERRORS as exc:
            conn.close()
            raise _network_error(exc, where) from exc
        defect = _head_defect(answer)
        if defect is not None:
            answer.close()
            conn.close()
            raise ProtocolError(f"{where}: {defect}")
        return Response(
            status=answer.status,
            headers=tuple(answer.msg.items()),
            request=request,
            stream=_Stream(self, route, conn, answer, where),
        )


class _SendFailed(Exception):
    """Writing to the socket failed (the cause); raised apart from the body's own errors."""


def _network_error(exc: BaseException | None, where: str) -> TransportError:
    """The ocireg error for a failure on an established connection."""
    if isinstance(exc, TransportError):
        return exc
    if isinstance(exc, TimeoutError):
        return TransportTimeout(f"{where}: timed out")
    if isinstance(exc, ValueError):  # http.client's texts may quote a header value
        return ProtocolError(f"{where}: malformed answer")
    return ProtocolError(f"{where}: {type(exc).__name__}: {exc}")


def _write_head(conn: _Connection, request: Request, route: _Route) -> None:
    """The request line and headers: the caller's, plus Host and framing if missing."""
    parts = urllib.parse.urlsplit(request.url)
    if route.absolute_form:
        target = request.url
    else:
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers = list(request.headers)
    conn.putrequest(
        request.method,
        target,
        skip_host=header_value(headers, "host") is not None,
        skip_accept_encoding=True,  # bodies travel as they are: the digest covers them
    )
    if route.absolute_form and route.proxy is not None and route.proxy.authorization:
        headers.append(("Proxy-Authorization", route.proxy.authorization))
    framed = header_value(headers, "content-length") or header_value(headers, "transfer-encoding")
    if framed is None:
        if isinstance(request.body, _BYTES_LIKE):
            headers.append(("Content-Length", str(memoryview(request.body).nbytes)))
        elif request.body is not None:
            headers.append(("Transfer-Encoding", "chunked"))
        elif request.method.upper() in _BODY_METHODS:
            headers.append(("Content-Length", "0"))
    for name, value in headers:
        conn.putheader(name, value)
    conn.endheaders()


def _write_body(conn: _Connection, request: Request, where: str) -> None:
    """Send the body; a socket failure is raised as ``_SendFailed`` from its cause.

    Anything else comes from the body iterable and is left alone.
    """
    body = request.body
    if body is None:
        return
    declared = header_value(request.headers, "content-length")
    send_file = None if isinstance(body, _BYTES_LIKE) else getattr(body, "send_file", None)
    if callable(send_file) and declared is not None and conn.sock is not None \
            and not isinstance(conn.sock, ssl.SSLSocket):
        _write_file_body(conn, send_file, int(declared), where)
        return
    chunks: Iterable[bytes | bytearray | memoryview] = (body,) if isinstance(body, _BYTES_LIKE) else body
    chunked = declared is None and not isinstance(body, _BYTES_LIKE)
    sent = 0
    for chunk in chunks:
        size = memoryview(chunk).nbytes
        if not size:
            continue
        sent += size
        if declared is not None and sent > int(declared):
            # Never put more on the wire than announced: the rest would be read as
            # another request.
            raise ProtocolError(f"{where}: the body is longer than its Content-Length")
        _send(conn, (b"%X\r\n" % size, chunk, b"\r\n") if chunked else (chunk,))
    if chunked:
        _send(conn, (b"0\r\n\r\n",))
    elif declared is not None and sent != int(declared):
        raise ProtocolError(f"{where}: the body is shorter than its Content-Length")


def _write_file_body(
    conn: _Connection, send_file: Callable[[Callable[[BinaryIO, int, int], int]], None], declared: int, where: str
) -> None:
    """A body that offers ``send_file`` (read from a file), on a plain socket: each piece
    goes from the file to the socket with ``socket.sendfile``, no copy in user space."""
    sock = conn.sock
    assert sock is not None
    total = 0

    def sendfile(file: BinaryIO, offset: int, count: int) -> int:
        nonlocal total
        if total + count > declared:
            raise ProtocolError(f"{where}: the body is longer than its Content-Length")
        try:
            sent = sock.sendfile(file, offset, count)
        except OSError as exc:
            raise _SendFailed from exc
        total += sent
        return sent

    send_file(sendfile)
    if total != declared:
        raise ProtocolError(f"{where}: the body is shorter than its Content-Length")


def _send(conn: _Connection, pieces: Iterable[bytes | bytearray | memoryview]) -> None:
    try:
        for piece in pieces:
            conn.send(piece)
    except OSError as exc:
        raise _SendFailed from exc


class _Stream:
    """The body of one response; owns its connection until the end, then pools it."""

    def __init__(
        self,
        transport: HTTPClientTransport,
        route: _Route,
        conn: _Connection,
        answer: http.client.HTTPResponse,
        where: str,
    ) -> None:
        self._transport = transport
        self._route = route
        self._conn: _Connection | None = conn
        self._answer = answer
        self._where = where
        # http.client knows how much to expect (0 for HEAD, 204, 304; None for
        # chunked or read-until-close); it reports a short body as a clean end.
        self._left: int | None = answer.length

    def readinto(self, buffer: bytearray | memoryview, /) -> int:
        if self._conn is None or not len(buffer):
            return 0
        try:
            n = self._answer.readinto(buffer)
        except _EXCHANGE_ERRORS as exc:
            self._drop()
            raise _network_error(exc, self._where) from exc
        if n:
            if self._left is not None:
                self._left -= n
            return n
        if self._left:
            self._drop()
            raise ProtocolError(f"{self._where}: connection closed mid-body ({self._left} bytes short)")
        self._finish()
        return 0

    def _finish(self) -> None:
        """The body ended cleanly: pool the connection if the server keeps it open."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        self._answer.close()
        if self._answer.will_close or conn.sock is None:
            conn.close()
        else:
            self._transport._release(self._route, conn)

    def close(self) -> None:
        if self._conn is None:
            return
        scratch = bytearray(16 * 1024)
        drained = 0
        try:
            while drained <= _DRAIN_LIMIT:
                n = self.readinto(scratch)
                if not n:
                    return  # read to the end: pooled
                drained += n
        except TransportError:
            return  # the connection is already dropped
        self._drop()  # too much left to drain

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        self._answer.close()
        if conn is not None:
            conn.close()


def _proxy_settings_exist() -> bool:
    """Whether a proxy may be configured: ``*_proxy`` variables on Linux (urllib.request,
    which reads them, is slow to import, so a command line without them never loads it)."""
    if sys.platform in ("darwin", "win32"):  # system settings count there, not only the environment
        return True
    return any(name.lower().endswith("_proxy") for name in os.environ)
