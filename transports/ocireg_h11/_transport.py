"""The h11 transport: a keep-alive pool per origin, requests out, streamed bodies in."""

from __future__ import annotations

import h11

from ocireg import (
    ConnectError,
    Origin,
    ProtocolError,
    Request,
    Response,
    TransportError,
    redact_url,
)

from ._connection import Connection, open_connection
from ._messages import (
    BYTES_LIKE,
    DRAIN_LIMIT,
    HEAD_RECV_SIZE,
    NETWORK_ERRORS,
    IdlePool,
    SendFailed,
    StaleConnection,
    as_bytes,
    cause,
    file_sender,
    network_error,
    replayable,
    request_head,
    response_headers,
    tls_context,
)

__all__ = ["H11Transport"]


class H11Transport:
    """Sends requests over HTTP/1.1 with h11, keeping up to ``pool_size`` idle
    connections per (scheme, host, port).

    ``open_timeout`` bounds connecting (TCP and TLS), ``read_timeout`` each wait for
    bytes (and each write).  ``ca_file`` replaces the system CA store;
    ``insecure`` turns certificate and host name verification off.  ``close()``
    closes the idle connections; the transport stays usable afterwards.
    """

    def __init__(
        self,
        *,
        open_timeout: float = 2,
        read_timeout: float = 5,
        ca_file: str | None = None,
        insecure: bool = False,
        pool_size: int = 4,
    ) -> None:
        self._open_timeout = open_timeout
        self._read_timeout = read_timeout
        self._tls = tls_context(ca_file, insecure)
        self._pool: IdlePool[Connection] = IdlePool(pool_size)

    # --- the pool -------------------------------------------------------------------

    def _checkout(self, origin: Origin) -> Connection:
        while True:
            conn = self._pool.take(origin)
            if conn is None:
                return self._connect(origin)
            if not conn.looks_dropped():
                return conn
            conn.close()

    def _connect(self, origin: Origin) -> Connection:
        tls = self._tls if origin.scheme == "https" else None
        return open_connection(
            origin, open_timeout=self._open_timeout, read_timeout=self._read_timeout, tls=tls
        )

    def _release(self, conn: Connection) -> None:
        """Pool ``conn`` if h11 says it can start a new cycle, else close it."""
        if not (conn.next_cycle() and self._pool.put(conn.origin, conn)):
            conn.close()

    def close(self) -> None:
        for conn in self._pool.clear():
            conn.close()

    def __enter__(self) -> H11Transport:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- one exchange ---------------------------------------------------------------

    def send(self, request: Request, /) -> Response:
        origin = request.origin
        if origin.scheme not in ("http", "https") or not origin.host:
            raise ConnectError(f"{redact_url(request.url)}: not an http(s) URL")
        conn = self._checkout(origin)
        try:
            return self._exchange(conn, request)
        except StaleConnection:
            # The server closed the idle connection as we reused it: nothing of the
            # request was answered, so one more try on a fresh connection is safe --
            # if the body can be sent again (an iterator is already partly consumed).
            if not replayable(request):
                raise ProtocolError(
                    f"{redact_url(request.url)}: connection closed by the server "
                    "before the response"
                ) from None
        return self._exchange(self._connect(origin), request)

    def _exchange(self, conn: Connection, request: Request) -> Response:
        where = f"{request.method} {redact_url(request.url)}"
        # Three steps, each with its own handler: what the body iterable raises (a
        # source's own verdict, whatever its class) must stay apart from the network's.
        try:
            conn.write(request_head(request))
        except NETWORK_ERRORS as exc:
            raise _failure(conn, exc, where) from cause(exc)
        try:
            body = request.body
            send_file = file_sender(body)
            if isinstance(body, BYTES_LIKE):
                conn.write_body((body,))
            elif send_file is not None and conn.can_send_file():
                conn.write_file_body(send_file)
            elif body is not None:
                conn.write_body(body)
            conn.write_body(None)
        except SendFailed as failed:
            error = failed.__cause__
            raise _failure(conn, error, where) from cause(error)
        except BaseException:  # the body iterable failed: the connection is mid-request
            conn.close()
            raise
        try:
            head = _read_head(conn, request.method, where)
        except StaleConnection:
            conn.close()
            raise
        except NETWORK_ERRORS as exc:
            raise _failure(conn, exc, where) from cause(exc)
        return Response(
            status=head.status_code,
            headers=response_headers(head),
            request=request,
            stream=_Stream(self, conn, where),
        )


def _failure(conn: Connection, exc: BaseException | None, where: str) -> Exception:
    """Close ``conn`` after ``exc``; a reset on a reused socket is a StaleConnection."""
    conn.close()
    if conn.reused and isinstance(exc, ConnectionError) and not conn.answered:
        return StaleConnection()  # reset or broken pipe on a reused socket
    return network_error(exc, where)


def _read_head(conn: Connection, method: str, where: str) -> h11.Response:
    """The response head, skipping 1xx; StaleConnection if a reused socket was closed."""
    while True:
        event = conn.h11.next_event()
        if event is h11.NEED_DATA:
            if not conn.receive(HEAD_RECV_SIZE) and not conn.answered and conn.reused:
                raise StaleConnection
        elif isinstance(event, h11.Response):
            conn.start_body(method, event)
            return event
        elif not isinstance(event, h11.InformationalResponse):
            raise ProtocolError(f"{where}: connection closed before the response")


class _Stream:
    """The body of one response; owns its connection until the end, then pools it.

    What h11 parsed is copied out of its events; the rest of a ``Content-Length`` body
    is read from the socket straight into the caller's buffer (see ``CycleState``).
    """

    def __init__(self, transport: H11Transport, conn: Connection, where: str) -> None:
        self._transport = transport
        self._conn: Connection | None = conn
        self._where = where
        self._leftover = memoryview(b"")  # received by h11 but not yet copied to a caller

    def readinto(self, buffer: bytearray | memoryview, /) -> int:
        view = as_bytes(buffer)
        if not view:
            return 0
        while not self._leftover:
            conn = self._conn
            if conn is None:
                return 0
            if conn.body_left is not None:
                return self._read_past_h11(conn, view)
            self._next_data()
        n = min(len(view), len(self._leftover))
        view[:n] = self._leftover[:n]
        self._leftover = self._leftover[n:]
        return n

    def _read_past_h11(self, conn: Connection, view: memoryview) -> int:
        try:
            n = conn.receive_body_into(view)
        except NETWORK_ERRORS as exc:
            self._drop()
            raise network_error(exc, self._where) from cause(exc)
        if not n:
            self._drop()
            raise ProtocolError(
                f"{self._where}: connection closed mid-body ({conn.body_left} bytes missing)"
            )
        if conn.body_left == 0:
            self._conn = None
            self._transport._release(conn)
        return n

    def _next_data(self) -> None:
        """Take the next Data event into ``_leftover``, or note the end of the body
        (``_conn`` is None) or that its rest is to be read past h11 (``body_left`` set)."""
        conn = self._conn
        assert conn is not None
        try:
            event = conn.next_event()
        except NETWORK_ERRORS as exc:
            self._drop()
            raise network_error(exc, self._where) from cause(exc)
        if event is None:
            return
        if isinstance(event, h11.Data):
            self._leftover = memoryview(event.data)
            return
        self._conn = None
        if isinstance(event, h11.EndOfMessage):
            self._transport._release(conn)
            return
        conn.close()  # ConnectionClosed mid-body: h11 raises for truncation, so be safe
        raise ProtocolError(f"{self._where}: connection closed mid-body")

    def close(self) -> None:
        self._leftover = memoryview(b"")
        conn = self._conn
        if conn is None:
            return
        if conn.unread_body() > DRAIN_LIMIT:
            self._drop()  # too much left to drain
            return
        scratch = memoryview(bytearray(DRAIN_LIMIT + 1))
        drained = 0
        try:
            while drained <= DRAIN_LIMIT and (n := self.readinto(scratch)):
                drained += n
        except TransportError:
            return  # the connection is already dropped
        self._leftover = memoryview(b"")
        self._drop()  # too much left to drain (a no-op when the end was reached)

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
