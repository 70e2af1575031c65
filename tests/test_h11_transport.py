"""The h11 transports' own read path: a ``Content-Length`` body read past h11.

h11 parses the head; what it buffered past the head is handed out from its events,
and the rest of a ``Content-Length`` body goes from the socket straight into the
caller's buffer (``recv_into``; on asyncio, the buffer the protocol offers the loop),
never through h11.  These tests check what that must keep of the contract
(``tests/test_transports.py`` and ``test_async_transport.py`` check the rest): the
bytes are whole and in order whatever the caller's buffer sizes, the connection is
pooled after such a body and serves the next exchange (h11's state started afresh),
a body cut short raises an ``OSError`` from ``readinto`` and never ends cleanly, and
a connection the answer asked to close is closed.  Each runs over the blocking
transport and over the asyncio one (driven step by step from here).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ocireg import ProtocolError, Request, Response, TransportTimeout
from ocireg_h11 import AsyncH11Transport, H11Transport
from ocireg_h11._messages import DRAIN_LIMIT, HEAD_RECV_SIZE
from servers import (
    CLOSE,
    READ,
    RESET,
    STALL,
    RouteServer,
    ScriptedServer,
    Send,
    response,
    self_signed,
    server_tls,
)

BLOB = hashlib.sha512(b"layer").digest() * (3 * 16384 + 17)  # 3 MiB + 1088 bytes
"""Much larger than what a head read takes past the head: most of it is read past h11."""


class _BlockingStream:
    """An asyncio stream read step by step on its loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, stream: Any) -> None:
        self._loop, self._stream = loop, stream

    def readinto(self, buffer: bytearray | memoryview) -> int:
        n: int = self._loop.run_until_complete(self._stream.readinto(buffer))
        return n

    def close(self) -> None:
        self._loop.run_until_complete(self._stream.close())


class _Driven:
    """``AsyncH11Transport`` with the blocking transport's methods, on a loop of its own."""

    def __init__(self, **options: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._transport = AsyncH11Transport(**options)

    def send(self, request: Request) -> Response:
        answer: Response = self._loop.run_until_complete(self._transport.send(request))
        return dataclasses.replace(answer, stream=_BlockingStream(self._loop, answer.stream))

    def close(self) -> None:
        self._loop.run_until_complete(self._transport.close())
        self._loop.close()


Transport = H11Transport | _Driven


@pytest.fixture(params=["blocking", "asyncio"])
def make(request: pytest.FixtureRequest) -> Iterator[Any]:
    """Builds transports of one kind; closes them all afterwards."""
    made: list[Transport] = []

    def build(**options: Any) -> Transport:
        options.setdefault("read_timeout", 2)
        transport = H11Transport(**options) if request.param == "blocking" else _Driven(**options)
        made.append(transport)
        return transport

    yield build
    for transport in made:
        transport.close()


def idle(transport: Transport, seconds: float) -> None:
    """Let time pass (on asyncio, with the loop running, so that it reads what arrives)."""
    if isinstance(transport, _Driven):
        transport._loop.run_until_complete(asyncio.sleep(seconds))
    else:
        time.sleep(seconds)


@pytest.fixture(autouse=True)
def _no_proxy_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture
def server() -> Iterator[RouteServer]:
    with RouteServer() as running:
        yield running


@pytest.fixture
def past_h11(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The sizes of the reads made past h11, by either transport."""
    from ocireg_h11 import _async, _connection

    sizes: list[int] = []
    blocking = _connection.Connection.receive_body_into

    def spy(self: Any, buffer: memoryview) -> int:
        n: int = blocking(self, buffer)
        sizes.append(n)
        return n

    monkeypatch.setattr(_connection.Connection, "receive_body_into", spy)
    asynchronous = _async._Connection.receive_body_into

    async def async_spy(self: Any, buffer: memoryview) -> int:
        n: int = await asynchronous(self, buffer)
        sizes.append(n)
        return n

    monkeypatch.setattr(_async._Connection, "receive_body_into", async_spy)
    return sizes


def get(url: str, method: str = "GET") -> Request:
    return Request(method, url, headers=(("User-Agent", "ocireg-test/1"),))


def read_all(transport: Transport, request: Request) -> bytes:
    return read_varied(transport.send(request).stream, [1 << 20])


def read_varied(stream: Any, sizes: list[int]) -> bytes:
    """The body read with ``readinto`` into buffers of these sizes in turn, then closed."""
    out = bytearray()
    i = 0
    while True:
        buffer = bytearray(sizes[i % len(sizes)])
        n = stream.readinto(buffer)
        if not n:
            stream.close()
            return bytes(out)
        assert n <= len(buffer)
        out += buffer[:n]
        i += 1


def test_a_content_length_body_is_read_past_h11_and_the_connection_kept(
    make: Any, server: RouteServer, past_h11: list[int]
) -> None:
    server.route("/blob", body=BLOB)
    server.route("/chunked", chunks=[b"a" * 70_000, b"b" * 3])
    server.route("/v2/", body=b"{}")
    transport = make()
    assert read_all(transport, get(server.url + "/blob")) == BLOB
    assert sum(past_h11) >= len(BLOB) - HEAD_RECV_SIZE
    # The next exchanges start a fresh h11 cycle on the same connection.
    assert read_all(transport, get(server.url + "/chunked")) == b"a" * 70_000 + b"bbb"
    assert read_all(transport, get(server.url + "/blob")) == BLOB
    assert read_all(transport, get(server.url + "/v2/")) == b"{}"
    assert server.connections == 1
    assert len(server.requests) == 4


def test_any_buffer_sizes_get_the_bytes_whole_and_in_order(
    make: Any, server: RouteServer, past_h11: list[int]
) -> None:
    body = bytes(range(256)) * 1200  # 300 KiB
    server.route("/blob", body=body)
    transport = make()
    for sizes in ([1, 7, 4096, 65_537], [HEAD_RECV_SIZE + 1], [1 << 20]):
        assert read_varied(transport.send(get(server.url + "/blob")).stream, sizes) == body
    assert past_h11
    assert all(0 < n <= 1 << 20 for n in past_h11)
    assert server.connections == 1


def test_a_small_remainder_is_drained_past_h11_and_the_connection_kept(
    make: Any, server: RouteServer, past_h11: list[int]
) -> None:
    body = b"x" * (300_000 + DRAIN_LIMIT // 2)
    server.route("/blob", body=body)
    transport = make()
    for _ in range(2):
        stream = transport.send(get(server.url + "/blob")).stream
        got = 0
        while got < 300_000:
            got += stream.readinto(memoryview(bytearray(300_000 - got)))
        stream.close()  # drains the rest past h11
        assert stream.readinto(bytearray(10)) == 0
    big = transport.send(get(server.url + "/blob")).stream
    big.readinto(bytearray(10))
    big.close()  # far more than DRAIN_LIMIT left: dropped
    assert read_all(transport, get(server.url + "/blob")) == body
    assert server.connections == 2
    assert past_h11


def test_a_head_answer_announcing_a_large_body_has_none(make: Any, server: RouteServer) -> None:
    server.route("/blob", body=BLOB)
    transport = make()
    answer = transport.send(get(server.url + "/blob", "HEAD"))
    assert answer.header("Content-Length") == str(len(BLOB))
    answer.stream.close()
    assert read_all(transport, get(server.url + "/blob", "HEAD")) == b""
    assert read_all(transport, get(server.url + "/blob")) == BLOB
    assert server.connections == 1


CUT = response(200, length=len(BLOB), body=BLOB[: 5 * HEAD_RECV_SIZE])
"""A head announcing BLOB, and only part of it: more than a head read takes past the head."""


@pytest.mark.parametrize(("ending", "expected"),
                         [(CLOSE, ProtocolError), (RESET, ProtocolError), (STALL, TransportTimeout)],
                         ids=["closed", "reset", "stalled"])
def test_a_body_cut_short_past_h11_raises_from_readinto(
    make: Any, ending: Any, expected: type[Exception], past_h11: list[int]
) -> None:
    with ScriptedServer([[READ, Send(CUT), ending]]) as scripted:
        transport = make(read_timeout=0.5)
        stream = transport.send(get(scripted.url + "/blob")).stream
        buffer = bytearray(1 << 20)
        got = 0
        started = time.monotonic()
        with pytest.raises(expected) as caught:
            while n := stream.readinto(buffer):
                got += n
        assert isinstance(caught.value, OSError)
        assert got <= 5 * HEAD_RECV_SIZE
        assert time.monotonic() - started < 3
        assert past_h11  # the cut was met past h11
        assert stream.readinto(buffer) == 0  # dropped: nothing more (and no clean end before)
        stream.close()


@pytest.mark.parametrize("closing", ["connection-close", "http/1.0"])
def test_an_answer_that_closes_the_connection_is_not_pooled(
    make: Any, closing: str, past_h11: list[int]
) -> None:
    if closing == "http/1.0":
        answer = response(200, body=BLOB).replace(b"HTTP/1.1", b"HTTP/1.0", 1)
    else:
        answer = response(200, body=BLOB, headers=[("Connection", "close"),
                                                   ("Content-Length", str(len(BLOB)))])
    with ScriptedServer([[READ, Send(answer), READ, Send(answer)]]) as scripted:
        transport = make()
        for _ in range(2):
            assert read_all(transport, get(scripted.url + "/blob")) == BLOB
        assert scripted.connections == 2
    assert past_h11


def test_bytes_past_the_body_make_the_connection_unusable(make: Any, past_h11: list[int]) -> None:
    ok = response(200, body=b"{}")
    stray = response(200, body=BLOB) + b"HTTP/1.1 200 OK\r\n"
    with ScriptedServer([[READ, Send(stray), READ, Send(ok)], [READ, Send(ok)]]) as scripted:
        transport = make()
        assert read_all(transport, get(scripted.url + "/blob")) == BLOB
        idle(transport, 0.05)
        assert read_all(transport, get(scripted.url + "/v2/")) == b"{}"
        assert scripted.connections == 2  # never read past the body; then found readable
    assert past_h11


def test_an_idle_connection_closed_after_a_body_past_h11_is_replaced(make: Any) -> None:
    ok = response(200, body=b"{}")
    with ScriptedServer([[READ, Send(response(200, body=BLOB)), CLOSE], [READ, Send(ok)]]) as scripted:
        transport = make()
        assert read_all(transport, get(scripted.url + "/blob")) == BLOB
        assert scripted.finished(0)
        idle(transport, 0.05)
        upload = Request("PUT", scripted.url + "/x", headers=(("Content-Length", "4"),), body=iter([b"data"]))
        assert read_all(transport, upload) == b"{}"
        assert scripted.connections == 2


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[RouteServer, str]]:
    cert_file, key_file = self_signed(tmp_path, "localhost", "127.0.0.1")
    with RouteServer(tls=server_tls(cert_file, key_file)) as running:
        running.route("/blob", body=BLOB)
        yield running, cert_file


def test_tls_body_is_read_past_h11_too(
    make: Any, tls_server: tuple[RouteServer, str], past_h11: list[int]
) -> None:
    server, cert_file = tls_server
    transport = make(ca_file=cert_file)
    for _ in range(2):
        assert read_all(transport, get(server.url + "/blob")) == BLOB
    assert sum(past_h11) >= 2 * (len(BLOB) - HEAD_RECV_SIZE)
    assert server.connections == 1


def test_nothing_past_the_body_is_written_to_the_buffer(make: Any, server: RouteServer) -> None:
    server.route("/blob", body=BLOB)
    stream = make().send(get(server.url + "/blob")).stream
    buffer = bytearray(len(BLOB) * 2)
    got = 0
    while n := stream.readinto(memoryview(buffer)[got:]):
        got += n
    assert bytes(buffer[:got]) == BLOB
    assert not any(buffer[got:])


def test_a_view_of_another_format_is_filled_byte_by_byte(make: Any, server: RouteServer) -> None:
    body = b"0123456789abcdef" * 20_000
    server.route("/blob", body=body)
    stream = make().send(get(server.url + "/blob")).stream
    words = memoryview(bytearray(len(body) + 16)).cast("I")
    out = bytearray()
    while n := stream.readinto(words):
        out += words.cast("B")[:n]
    assert bytes(out) == body


class _FakeTransport:
    """Records the asyncio protocol's flow control."""

    def __init__(self) -> None:
        self.paused = False
        self.resumed = 0

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False
        self.resumed += 1

    def is_closing(self) -> bool:
        return False


def test_bytes_arriving_before_the_reader_is_back_never_overwrite_its_own() -> None:
    """The TLS protocol reads again as soon as it filled a buffer, before the reader's
    task ran: those bytes go aside (and reading pauses), not over the ones just read."""
    from ocireg_h11._async import _Protocol

    async def scenario() -> tuple[bytes, bytes, bool, bytes, bool]:
        protocol = _Protocol(asyncio.get_running_loop())
        transport = _FakeTransport()
        protocol.connection_made(transport)  # type: ignore[arg-type]
        reading = asyncio.ensure_future(protocol.read_bytes(HEAD_RECV_SIZE))
        await asyncio.sleep(0)  # the reader now waits, its buffer offered
        for data in (b"HTTP/1.1 200 OK\r\n", b"rest of the answer"):
            buffer = protocol.get_buffer(-1)
            buffer[: len(data)] = data
            protocol.buffer_updated(len(data))
        first = await reading
        paused = transport.paused
        view = memoryview(bytearray(7))
        n = await protocol.read_into(view)
        second = bytes(view[:n]) + await protocol.read_bytes(100)
        dropped_when_empty = protocol.dropped()
        return first, second, paused, bytes(protocol._pending), dropped_when_empty

    first, second, paused, left, dropped = asyncio.run(scenario())
    assert (first, second, paused, left, dropped) == (b"HTTP/1.1 200 OK\r\n", b"rest of the answer", True, b"", False)
