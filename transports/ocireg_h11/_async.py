"""The asyncio h11 transport: the blocking one's rules on ``asyncio`` streams.

Same pool per origin, TLS options, timeouts, framing and failure contract as
:class:`~ocireg_h11.H11Transport` (the sans-IO parts are shared in ``_messages``);
``send``, ``readinto`` and ``close`` are coroutines, and a request body may also
be an async iterable.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable
from typing import BinaryIO, cast

import h11

from ocireg import (
    ConnectError,
    Origin,
    ProtocolError,
    Request,
    Response,
    TransportError,
    TransportTimeout,
    redact_url,
)

from ._messages import (
    BYTES_LIKE,
    DRAIN_LIMIT,
    HEAD_RECV_SIZE,
    NETWORK_ERRORS,
    RECV_SIZE,
    CycleState,
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

__all__ = ["AsyncH11Transport"]

_CLOSE_WAIT = 1.0
"""How long closing a connection may wait for the TLS close to finish."""


class _Protocol(asyncio.BufferedProtocol):
    """The bytes of one connection, read where its reader says.

    asyncio's transport (plain, or TLS through its SSL protocol) asks for a buffer
    before each read (``get_buffer``): a read that waits for a body byte offers the
    caller's own buffer, so a ``Content-Length`` body lands there without a copy; the
    reads h11 parses land in a scratch buffer.  Bytes that arrive while nobody waits
    (the loop read again before the reader came back, as the TLS protocol does after
    filling a buffer) land in a spill buffer of their own -- never over bytes a reader
    has yet to take --, reading pauses, and the next read takes them from there; on an
    idle connection they mean it is unusable.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.transport: asyncio.Transport | None = None
        self._scratch = memoryview(bytearray(HEAD_RECV_SIZE))
        self._spill: memoryview | None = None  # made the first time bytes arrive unasked
        self._pending = memoryview(b"")  # in the spill buffer, not yet read
        self._target: memoryview | None = None
        self._waiter: asyncio.Future[int] | None = None
        self._eof = False
        self._lost = False
        self._error: BaseException | None = None
        self._closed: asyncio.Future[None] = loop.create_future()
        self._writing_paused = False
        self._drained: asyncio.Future[None] | None = None

    # --- asyncio's side -------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def get_buffer(self, sizehint: int) -> memoryview:
        if self._target is not None:
            return self._target
        if self._spill is None:
            self._spill = memoryview(bytearray(HEAD_RECV_SIZE))
        return self._spill

    def buffer_updated(self, nbytes: int) -> None:
        if self._target is not None:
            self._target = None
            if self._waiter is not None and not self._waiter.done():
                self._waiter.set_result(nbytes)
            return
        assert self._spill is not None
        self._pending = self._spill[:nbytes]  # nobody waited: keep them, read no more
        assert self.transport is not None
        self.transport.pause_reading()

    def eof_received(self) -> None:
        self._eof = True
        self._wake(0)

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost, self._eof = True, True
        self._error = self._error or exc
        self._wake(0)
        if not self._closed.done():
            self._closed.set_result(None)
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    def _wake(self, nbytes: int) -> None:
        self._target = None
        if self._waiter is not None and not self._waiter.done():
            if self._error is not None:
                self._waiter.set_exception(self._error)
            else:
                self._waiter.set_result(nbytes)

    # --- the connection's side ------------------------------------------------------

    async def read_into(self, view: memoryview) -> int:
        """Up to ``len(view)`` bytes into ``view``; 0 at the end of the stream."""
        if self._pending:
            n = min(len(view), len(self._pending))
            view[:n] = self._pending[:n]
            self._pending = self._pending[n:]
            return n
        if self._error is not None:
            raise self._error
        if self._eof:
            return 0
        assert self.transport is not None and self._waiter is None
        self._target, self._waiter = view, self._loop.create_future()
        self.transport.resume_reading()
        try:
            return await self._waiter
        finally:
            self._target, self._waiter = None, None

    async def read_bytes(self, size: int) -> bytes:
        """Up to ``size`` bytes for h11 to parse; ``b""`` at the end of the stream."""
        if self._pending:
            data = bytes(self._pending[:size])
            self._pending = self._pending[size:]
            return data
        if len(self._scratch) < size:  # a chunked body: as much per wait as the blocking transport
            self._scratch = memoryview(bytearray(size))
        n = await self.read_into(self._scratch[:size])
        return bytes(self._scratch[:n])

    def dropped(self) -> bool:
        """Closed, at its end, or holding bytes nobody asked for.  Reading pauses only
        for such bytes, so an idle connection notices a close as the loop runs."""
        return self._eof or bool(self._pending) or self.transport is None or self.transport.is_closing()

    async def drain(self) -> None:
        if self._lost:
            raise ConnectionResetError("connection lost")
        if self._writing_paused:
            self._drained = self._loop.create_future()
            try:
                await self._drained
            finally:
                self._drained = None
            if self._lost:
                raise ConnectionResetError("connection lost")

    async def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(_CLOSE_WAIT):
                await asyncio.shield(self._closed)


class _Connection(CycleState):
    """A transport and protocol pair and its h11 client state."""

    def __init__(self, protocol: _Protocol, origin: Origin, read_timeout: float) -> None:
        super().__init__(origin)
        self.protocol = protocol
        self.read_timeout = read_timeout

    async def write(self, event: h11.Event) -> None:
        if isinstance(event, h11.Request):
            self.note_request(event)
        transport = self.protocol.transport
        assert transport is not None
        for piece in self.h11.send_with_data_passthrough(event) or ():
            transport.write(piece)
        async with asyncio.timeout(self.read_timeout):
            await self.protocol.drain()

    async def write_body(
        self, chunks: Iterable[bytes | bytearray | memoryview] | AsyncIterable[bytes | bytearray | memoryview] | None
    ) -> None:
        """Send each chunk, or the end of the body for ``None``; a failure to send is a
        ``SendFailed`` from its cause, apart from what the iterable itself raises."""
        if chunks is None:
            await self._send_guarded(h11.EndOfMessage())
        elif isinstance(chunks, AsyncIterable):
            async for chunk in chunks:
                if chunk:
                    await self._send_guarded(h11.Data(data=cast(bytes, chunk)))
        else:
            for chunk in chunks:
                if chunk:
                    await self._send_guarded(h11.Data(data=cast(bytes, chunk)))

    def can_send_file(self) -> bool:
        """Whether a body may go out with ``loop.sendfile``: a plain socket (TLS encrypts
        in user space) and a body framed by ``Content-Length`` (h11 counts it)."""
        transport = self.protocol.transport
        return (transport is not None and transport.get_extra_info("sslcontext") is None
                and self.sends_with_length())

    async def write_file_body(
        self, send_file: Callable[[Callable[[BinaryIO, int, int], Awaitable[int]]], Awaitable[None]]
    ) -> None:
        """The body by the caller's ``send_file``, each piece of the file sent with
        ``loop.sendfile`` (``os.sendfile`` on a plain socket transport); a failure to send
        is a ``SendFailed``.  A piece may take the read timeout per MiB, the pace chunks
        are held to (one ``loop.sendfile`` per MiB would cost a third of the CPU saved)."""
        loop = asyncio.get_running_loop()
        transport = self.protocol.transport
        assert transport is not None

        async def sendfile(file: BinaryIO, offset: int, count: int) -> int:
            try:
                self.count_sent_elsewhere(count)
                async with asyncio.timeout(self.read_timeout * max(1.0, count / RECV_SIZE)):
                    return await loop.sendfile(transport, file, offset, count)
            except (*NETWORK_ERRORS, RuntimeError) as exc:  # RuntimeError: the transport is closing
                raise SendFailed from exc

        await send_file(sendfile)

    async def _send_guarded(self, event: h11.Event) -> None:
        try:
            await self.write(event)
        except NETWORK_ERRORS as exc:
            raise SendFailed from exc

    async def receive(self, size: int = RECV_SIZE) -> bytes:
        """One read fed to h11; ``b""`` is the end of the stream."""
        async with asyncio.timeout(self.read_timeout):
            data = await self.protocol.read_bytes(size)
        self.answered = self.answered or bool(data)
        self.h11.receive_data(data)
        return data

    async def receive_body_into(self, buffer: memoryview) -> int:
        """One read of the body past h11 (see ``CycleState``): straight into ``buffer``,
        never more than the body still holds; 0 is the end of the stream."""
        assert self.body_left is not None
        async with asyncio.timeout(self.read_timeout):
            n = await self.protocol.read_into(buffer[: self.body_left])
        if n:
            self.read_body_past_h11(n)
        return n

    async def next_event(self) -> h11.Event | None:
        """The next event of the body, receiving as needed; None when the rest of the
        body is to be read past h11 (:meth:`receive_body_into`)."""
        while (event := self.body_event()) is h11.NEED_DATA:
            await self.receive()
        assert event is None or isinstance(event, h11.Event)
        return event

    def looks_dropped(self) -> bool:
        """Whether an idle connection is unusable: closed, at its end, or holding bytes
        nobody asked for (nothing may arrive on an idle keep-alive connection)."""
        return self.protocol.dropped()

    async def close(self) -> None:
        await self.protocol.close()


class AsyncH11Transport:
    """Sends requests over HTTP/1.1 with h11 on asyncio, keeping up to ``pool_size``
    idle connections per (scheme, host, port).

    ``open_timeout`` bounds connecting (TCP and TLS), ``read_timeout`` each wait for
    bytes (and each write).  ``ca_file`` replaces the system CA store; ``insecure``
    turns certificate and host name verification off.  One instance belongs to one
    event loop.  ``await close()`` closes the idle connections; the transport stays
    usable afterwards.
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
        self._pool: IdlePool[_Connection] = IdlePool(pool_size)

    # --- the pool -------------------------------------------------------------------

    async def _checkout(self, origin: Origin) -> _Connection:
        while True:
            conn = self._pool.take(origin)
            if conn is None:
                return await self._connect(origin)
            if not conn.looks_dropped():
                return conn
            await conn.close()

    async def _connect(self, origin: Origin) -> _Connection:
        where = f"{origin.scheme}://{origin.host}:{origin.port}"
        tls = self._tls if origin.scheme == "https" else None
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._open_timeout):
                _, protocol = await loop.create_connection(
                    lambda: _Protocol(loop),
                    origin.host,
                    origin.port,
                    ssl=tls,
                    server_hostname=origin.host if tls else None,
                )
        except TimeoutError as exc:
            raise TransportTimeout(f"{where}: connect timed out") from exc
        except (OSError, ValueError) as exc:  # refused, DNS, TLS (certificate errors are both)
            raise ConnectError(f"{where}: cannot connect: {exc}") from exc
        return _Connection(protocol, origin, self._read_timeout)

    async def _release(self, conn: _Connection) -> None:
        """Pool ``conn`` if h11 says it can start a new cycle, else close it."""
        if not (conn.next_cycle() and self._pool.put(conn.origin, conn)):
            await conn.close()

    async def close(self) -> None:
        for conn in self._pool.clear():
            await conn.close()

    async def __aenter__(self) -> AsyncH11Transport:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # --- one exchange ---------------------------------------------------------------

    async def send(self, request: Request, /) -> Response:
        origin = request.origin
        if origin.scheme not in ("http", "https") or not origin.host:
            raise ConnectError(f"{redact_url(request.url)}: not an http(s) URL")
        conn = await self._checkout(origin)
        try:
            return await self._exchange(conn, request)
        except StaleConnection:
            # As in H11Transport: a kept-alive connection the server had closed; one
            # more try on a fresh connection when the body can be sent again.
            if not replayable(request):
                raise ProtocolError(
                    f"{redact_url(request.url)}: connection closed by the server before the response"
                ) from None
        return await self._exchange(await self._connect(origin), request)

    async def _exchange(self, conn: _Connection, request: Request) -> Response:
        where = f"{request.method} {redact_url(request.url)}"
        # Three steps, each with its own handler: what the body iterable raises (a
        # source's own verdict, whatever its class) must stay apart from the network's.
        try:
            await conn.write(request_head(request))
        except NETWORK_ERRORS as exc:
            raise await _failure(conn, exc, where) from cause(exc)
        try:
            body = request.body
            send_file = file_sender(body)
            if send_file is not None and conn.can_send_file():
                await conn.write_file_body(send_file)
            elif body is not None:
                await conn.write_body((body,) if isinstance(body, BYTES_LIKE) else body)
            await conn.write_body(None)
        except SendFailed as failed:
            error = failed.__cause__
            raise await _failure(conn, error, where) from cause(error)
        except BaseException:  # the body iterable failed: the connection is mid-request
            await conn.close()
            raise
        try:
            head = await _read_head(conn, request.method, where)
        except StaleConnection:
            await conn.close()
            raise
        except NETWORK_ERRORS as exc:
            raise await _failure(conn, exc, where) from cause(exc)
        return Response(
            status=head.status_code,
            headers=response_headers(head),
            request=request,
            stream=_AsyncStream(self, conn, where),
        )


async def _failure(conn: _Connection, exc: BaseException | None, where: str) -> Exception:
    """Close ``conn`` after ``exc``; a reset on a reused connection is a StaleConnection."""
    await conn.close()
    if conn.reused and isinstance(exc, ConnectionError) and not conn.answered:
        return StaleConnection()
    return network_error(exc, where)


async def _read_head(conn: _Connection, method: str, where: str) -> h11.Response:
    """The response head, skipping 1xx; StaleConnection if a reused connection was closed."""
    while True:
        event = conn.h11.next_event()
        if event is h11.NEED_DATA:
            if not await conn.receive(HEAD_RECV_SIZE) and not conn.answered and conn.reused:
                raise StaleConnection
        elif isinstance(event, h11.Response):
            conn.start_body(method, event)
            return event
        elif not isinstance(event, h11.InformationalResponse):
            raise ProtocolError(f"{where}: connection closed before the response")


class _AsyncStream:
    """The body of one response; owns its connection until the end, then pools it.

    What h11 parsed is copied out of its events; the rest of a ``Content-Length`` body
    is read straight into the caller's buffer (see ``CycleState`` and ``_Protocol``).
    """

    def __init__(self, transport: AsyncH11Transport, conn: _Connection, where: str) -> None:
        self._transport = transport
        self._conn: _Connection | None = conn
        self._where = where
        self._leftover = memoryview(b"")  # received by h11 but not yet copied to a caller

    async def readinto(self, buffer: bytearray | memoryview, /) -> int:
        view = as_bytes(buffer)
        if not view:
            return 0
        while not self._leftover:
            conn = self._conn
            if conn is None:
                return 0
            if conn.body_left is not None:
                return await self._read_past_h11(conn, view)
            await self._next_data()
        n = min(len(view), len(self._leftover))
        view[:n] = self._leftover[:n]
        self._leftover = self._leftover[n:]
        return n

    async def _read_past_h11(self, conn: _Connection, view: memoryview) -> int:
        try:
            n = await conn.receive_body_into(view)
        except NETWORK_ERRORS as exc:
            await self._drop()
            raise network_error(exc, self._where) from cause(exc)
        if not n:
            await self._drop()
            raise ProtocolError(
                f"{self._where}: connection closed mid-body ({conn.body_left} bytes missing)"
            )
        if conn.body_left == 0:
            self._conn = None
            await self._transport._release(conn)
        return n

    async def _next_data(self) -> None:
        """Take the next Data event into ``_leftover``, or note the end of the body
        (``_conn`` is None) or that its rest is to be read past h11 (``body_left`` set)."""
        conn = self._conn
        assert conn is not None
        try:
            event = await conn.next_event()
        except NETWORK_ERRORS as exc:
            await self._drop()
            raise network_error(exc, self._where) from cause(exc)
        if event is None:
            return
        if isinstance(event, h11.Data):
            self._leftover = memoryview(event.data)
            return
        self._conn = None
        if isinstance(event, h11.EndOfMessage):
            await self._transport._release(conn)
            return
        await conn.close()  # ConnectionClosed mid-body: h11 raises for truncation, so be safe
        raise ProtocolError(f"{self._where}: connection closed mid-body")

    async def close(self) -> None:
        self._leftover = memoryview(b"")
        conn = self._conn
        if conn is None:
            return
        if conn.unread_body() > DRAIN_LIMIT:
            await self._drop()  # too much left to drain
            return
        scratch = memoryview(bytearray(DRAIN_LIMIT + 1))
        drained = 0
        try:
            while drained <= DRAIN_LIMIT and (n := await self.readinto(scratch)):
                drained += n
        except TransportError:
            return  # the connection is already dropped
        self._leftover = memoryview(b"")
        await self._drop()  # too much left to drain (a no-op when the end was reached)

    async def _drop(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await conn.close()
