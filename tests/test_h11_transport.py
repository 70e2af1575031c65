"""The h11 transports' own read path: a ``Content-Length`` body read past h11.

h11 parses the head; what it buffered past the head is handed out from its events,
and the rest of a ``Content-Length`` body goes from the socket straight into the
caller's buffer (``recv_into``), never through h11.  These tests check what that
must keep of the contract (``tests/test_transports.py`` checks the rest for every
transport): the bytes are whole and in order whatever the caller's buffer sizes, the
connection is pooled after such a body and serves the next exchange (h11's state
started afresh), a body cut short raises an ``OSError`` from ``readinto`` and never
ends cleanly, and a connection the answer asked to close is closed.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ocireg import ProtocolError, Request, TransportTimeout
from ocireg._driver import iter_body
from ocireg_h11 import H11Transport
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
    if not hasattr(_async._Connection, "receive_body_into"):
        return sizes
    asynchronous = _async._Connection.receive_body_into

    async def async_spy(self: Any, buffer: memoryview) -> int:
        n: int = await asynchronous(self, buffer)
        sizes.append(n)
        return n

    monkeypatch.setattr(_async._Connection, "receive_body_into", async_spy)
    return sizes


def get(url: str, method: str = "GET") -> Request:
    return Request(method, url, headers=(("User-Agent", "ocireg-test/1"),))


def read_all(transport: H11Transport, request: Request) -> bytes:
    return b"".join(bytes(chunk) for chunk in iter_body(transport.send(request)))


def read_varied(stream: Any, sizes: list[int]) -> bytes:
    """The body read with ``readinto`` into buffers of these sizes in turn."""
    out = bytearray()
    i = 0
    while True:
        buffer = bytearray(sizes[i % len(sizes)])
        n = stream.readinto(buffer)
        if not n:
            return bytes(out)
        assert n <= len(buffer)
        out += buffer[:n]
        i += 1


# --- the blocking transport ------------------------------------------------------------


def test_a_content_length_body_is_read_past_h11_and_the_connection_kept(
    server: RouteServer, past_h11: list[int]
) -> None:
    server.route("/blob", body=BLOB)
    server.route("/chunked", chunks=[b"a" * 70_000, b"b" * 3])
    server.route("/v2/", body=b"{}")
    with H11Transport(read_timeout=2) as transport:
        assert read_all(transport, get(server.url + "/blob")) == BLOB
        assert sum(past_h11) >= len(BLOB) - HEAD_RECV_SIZE
        # The next exchanges start a fresh h11 cycle on the same connection.
        assert read_all(transport, get(server.url + "/chunked")) == b"a" * 70_000 + b"bbb"
        assert read_all(transport, get(server.url + "/blob")) == BLOB
        assert read_all(transport, get(server.url + "/v2/")) == b"{}"
    assert server.connections == 1
    assert len(server.requests) == 4


def test_any_buffer_sizes_get_the_bytes_whole_and_in_order(server: RouteServer, past_h11: list[int]) -> None:
    body = bytes(range(256)) * 1200  # 300 KiB
    server.route("/blob", body=body)
    with H11Transport(read_timeout=2) as transport:
        for sizes in ([1, 7, 4096, 65_537], [HEAD_RECV_SIZE + 1], [1 << 20]):
            assert read_varied(transport.send(get(server.url + "/blob")).stream, sizes) == body
    assert past_h11
    assert all(0 < n <= 1 << 20 for n in past_h11)
    assert server.connections == 1


def test_a_small_remainder_is_drained_past_h11_and_the_connection_kept(server: RouteServer) -> None:
    body = b"x" * (300_000 + DRAIN_LIMIT // 2)
    server.route("/blob", body=body)
    with H11Transport(read_timeout=2) as transport:
        for _ in range(2):
            stream = transport.send(get(server.url + "/blob")).stream
            got = 0
            while got < 300_000:
                got += stream.readinto(memoryview(bytearray(300_000 - got)))
            stream.close()
            assert stream.readinto(bytearray(10)) == 0
        big = transport.send(get(server.url + "/blob")).stream
        big.readinto(bytearray(10))
        big.close()  # far more than DRAIN_LIMIT left: dropped
        assert read_all(transport, get(server.url + "/blob")) == body
    assert server.connections == 2


def test_a_head_answer_announcing_a_large_body_has_none(server: RouteServer) -> None:
    server.route("/blob", body=BLOB)
    with H11Transport(read_timeout=2) as transport:
        answer = transport.send(get(server.url + "/blob", "HEAD"))
        assert answer.header("Content-Length") == str(len(BLOB))
        answer.stream.close()
        assert read_all(transport, get(server.url + "/blob", "HEAD")) == b""
        assert read_all(transport, get(server.url + "/blob")) == BLOB
    assert server.connections == 1


def _big_answer(**options: Any) -> bytes:
    return response(200, body=BLOB, **options)


CUT = response(200, length=len(BLOB), body=BLOB[: 5 * HEAD_RECV_SIZE])
"""A head announcing BLOB, and only part of it: more than a head read takes past the head."""


@pytest.mark.parametrize(("ending", "expected"), [(CLOSE, ProtocolError), (RESET, ProtocolError),
                                                  (STALL, TransportTimeout)],
                         ids=["closed", "reset", "stalled"])
def test_a_body_cut_short_past_h11_raises_from_readinto(
    ending: Any, expected: type[Exception], past_h11: list[int]
) -> None:
    with ScriptedServer([[READ, Send(CUT), ending]]) as scripted, \
            H11Transport(read_timeout=0.5) as transport:
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
        assert stream.readinto(buffer) == 0  # dropped: nothing more, and no clean end before
        stream.close()


@pytest.mark.parametrize("head", [("Connection", "close"), None], ids=["connection-close", "http/1.0"])
def test_an_answer_that_closes_the_connection_is_not_pooled(head: tuple[str, str] | None,
                                                            past_h11: list[int]) -> None:
    answer = _big_answer(headers=[head, ("Content-Length", str(len(BLOB)))] if head else
                         [("Content-Length", str(len(BLOB)))])
    if head is None:
        answer = answer.replace(b"HTTP/1.1", b"HTTP/1.0", 1)
    with ScriptedServer([[READ, Send(answer), READ, Send(answer)]]) as scripted, \
            H11Transport(read_timeout=2) as transport:
        for _ in range(2):
            assert read_all(transport, get(scripted.url + "/blob")) == BLOB
        assert scripted.connections == 2
    assert past_h11


def test_bytes_past_the_body_make_the_connection_unusable(past_h11: list[int]) -> None:
    ok = response(200, body=b"{}")
    with ScriptedServer([[READ, Send(_big_answer() + b"HTTP/1.1 200 OK\r\n"), READ, Send(ok)],
                         [READ, Send(ok)]]) as scripted, H11Transport(read_timeout=2) as transport:
        assert read_all(transport, get(scripted.url + "/blob")) == BLOB
        time.sleep(0.05)
        assert read_all(transport, get(scripted.url + "/v2/")) == b"{}"
        assert scripted.connections == 2  # never read past the body; then found readable
    assert past_h11


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[RouteServer, str]]:
    cert_file, key_file = self_signed(tmp_path, "localhost", "127.0.0.1")
    with RouteServer(tls=server_tls(cert_file, key_file)) as running:
        running.route("/blob", body=BLOB)
        yield running, cert_file


def test_tls_body_is_read_past_h11_too(tls_server: tuple[RouteServer, str], past_h11: list[int]) -> None:
    server, cert_file = tls_server
    with H11Transport(read_timeout=2, ca_file=cert_file) as transport:
        for _ in range(2):
            assert read_all(transport, get(server.url + "/blob")) == BLOB
    assert sum(past_h11) >= 2 * (len(BLOB) - HEAD_RECV_SIZE)
    assert server.connections == 1


def test_the_socket_is_left_at_the_end_of_the_body(server: RouteServer) -> None:
    """Nothing past the body is ever read: the next answer's head is h11's to parse."""
    server.route("/blob", body=BLOB)
    with H11Transport(read_timeout=2) as transport:
        stream = transport.send(get(server.url + "/blob")).stream
        buffer = bytearray(len(BLOB) * 2)
        got = 0
        while n := stream.readinto(memoryview(buffer)[got:]):
            got += n
        assert bytes(buffer[:got]) == BLOB
        assert not any(buffer[got:])


def test_the_socket_accepts_views_of_other_formats(server: RouteServer) -> None:
    body = b"0123456789abcdef" * 20_000
    server.route("/blob", body=body)
    with H11Transport(read_timeout=2) as transport:
        stream = transport.send(get(server.url + "/blob")).stream
        words = memoryview(bytearray(len(body) + 16)).cast("I")
        out = bytearray()
        while n := stream.readinto(words):
            out += words.cast("B")[:n]
        assert bytes(out) == body

