"""The asyncio h11 transport: the blocking one's rules on ``asyncio`` streams.

Same pool per origin, TLS options, timeouts, framing and failure contract as
:class:`~ocireg_h11.H11Transport` (the sans-IO parts are shared in ``_messages``);
``send``, ``readinto`` and ``close`` are coroutines, and a request body may also
be an async iterable.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterable, Iterable
from typing import cast

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
    NETWORK_ERRORS,
    RECV_SIZE,
    CycleState,
    IdlePool,
    SendFailed,
    StaleConnection,
    cause,
    network_error,
    replayable,
    request_head,
    response_headers,
    tls_context,
)

__all__ = ["AsyncH11Transport"]

_CLOSE_WAIT = 1.0
"""How long closing a connection may wait for the TLS close to finish."""


class _Connection(CycleState):
    """A stream pair and its h11 client state."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, origin: Origin, read_timeout: float
    ) -> None:
        super().__init__(origin)
        self.reader = reader
        self.writer = writer
        self.read_timeout = read_timeout

    async def write(self, event: h11.Event) -> None:
        for piece in self.h11.send_with_data_passthrough(event) or ():
            self.writer.write(piece)
        async with asyncio.timeout(self.read_timeout):
            await self.writer.drain()

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

    async def _send_guarded(self, event: h11.Event) -> None:
        try:
            await self.write(event)
        except NETWORK_ERRORS as exc:
            raise SendFailed from exc

    async def receive(self) -> bytes:
        """One read fed to h11; ``b""`` is the end of the stream."""
        async with asyncio.timeout(self.read_timeout):
            data = await self.reader.read(RECV_SIZE)
        self.answered = self.answered or bool(data)
        self.h11.receive_data(data)
        return data

    async def next_event(self) -> h11.Event:
        """The next event of the answer, receiving as needed."""
        while True:
            event = self.h11.next_event()
            if event is h11.NEED_DATA:
                await self.receive()
            elif event is h11.PAUSED:  # only after a full cycle: a bug in the caller
                raise ProtocolError("h11 connection paused mid-response")
            else:
                assert isinstance(event, h11.Event)
                return event

    def looks_dropped(self) -> bool:
        """Whether an idle connection is unusable: closed, at its end, or holding bytes
        nobody asked for (nothing may arrive on an idle keep-alive connection)."""
        if self.writer.is_closing() or self.reader.at_eof() or self.reader.exception():
            return True
        # StreamReader offers no public "bytes pending" check; its buffer is the one.
        return bool(getattr(self.reader, "_buffer", b""))

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(_CLOSE_WAIT):
                await self.writer.wait_closed()


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
        try:
            async with asyncio.timeout(self._open_timeout):
                reader, writer = await asyncio.open_connection(
                    origin.host,
                    origin.port,
                    ssl=tls,
                    server_hostname=origin.host if tls else None,
                    limit=RECV_SIZE,  # read as much per wait as the blocking transport
                )
        except TimeoutError as exc:
            raise TransportTimeout(f"{where}: connect timed out") from exc
        except (OSError, ValueError) as exc:  # refused, DNS, TLS (certificate errors are both)
            raise ConnectError(f"{where}: cannot connect: {exc}") from exc
        return _Connection(reader, writer, origin, self._read_timeout)

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
            if body is not None:
                await conn.write_body((body,) if isinstance(body, BYTES_LIKE) else body)
            await conn.write_body(None)
        except SendFailed as failed:
            error = failed.__cause__
            raise await _failure(conn, error, where) from cause(error)
        except BaseException:  # the body iterable failed: the connection is mid-request
            await conn.close()
            raise
        try:
            head = await _read_head(conn, where)
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


async def _read_head(conn: _Connection, where: str) -> h11.Response:
    """The response head, skipping 1xx; StaleConnection if a reused connection was closed."""
    while True:
        event = conn.h11.next_event()
        if event is h11.NEED_DATA:
            if not await conn.receive() and not conn.answered and conn.reused:
                raise StaleConnection
        elif isinstance(event, h11.Response):
            return event
        elif not isinstance(event, h11.InformationalResponse):
            raise ProtocolError(f"{where}: connection closed before the response")


class _AsyncStream:
    """The body of one response; owns its connection until the end, then pools it."""

    def __init__(self, transport: AsyncH11Transport, conn: _Connection, where: str) -> None:
        self._transport = transport
        self._conn: _Connection | None = conn
        self._where = where
        self._leftover = memoryview(b"")  # received but not yet copied to a caller

    async def readinto(self, buffer: bytearray | memoryview, /) -> int:
        if not buffer:
            return 0
        while not self._leftover:
            if not await self._next_data():
                return 0
        n = min(len(buffer), len(self._leftover))
        buffer[:n] = self._leftover[:n]
        self._leftover = self._leftover[n:]
        return n

    async def _next_data(self) -> bool:
        """Take the next Data event into ``_leftover``; False at the end of the body."""
        conn = self._conn
        if conn is None:
            return False
        try:
            event = await conn.next_event()
        except NETWORK_ERRORS as exc:
            await self._drop()
            raise network_error(exc, self._where) from cause(exc)
        if isinstance(event, h11.Data):
            self._leftover = memoryview(event.data)
            return True
        self._conn = None
        if isinstance(event, h11.EndOfMessage):
            await self._transport._release(conn)
            return False
        await conn.close()  # ConnectionClosed mid-body: h11 raises for truncation, so be safe
        raise ProtocolError(f"{self._where}: connection closed mid-body")

    async def close(self) -> None:
        self._leftover = memoryview(b"")
        drained = 0
        try:
            while drained <= DRAIN_LIMIT and await self._next_data():
                drained += len(self._leftover)
        except TransportError:
            return  # the connection is already dropped
        self._leftover = memoryview(b"")
        await self._drop()  # too much left to drain (a no-op when the end was reached)

    async def _drop(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await conn.close()
