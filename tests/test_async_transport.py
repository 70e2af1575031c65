"""The asyncio transport (``ocireg_h11.AsyncH11Transport``) against the conformance promises.

A subset of ``test_transports.py`` rewritten with awaits, on the same local servers:
bodies in and out, keep-alive reuse and its safe retry, truncation, timeouts, TLS,
and the failure contract.  The real-registry run is in ``test_async.py``.
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from ocireg import (
    AsyncResponseStream,
    AsyncTransport,
    ConnectError,
    ProtocolError,
    Request,
    Response,
    TransportTimeout,
    run_flow_async,
)
from ocireg._flow import Flow, read_body
from ocireg_h11 import AsyncH11Transport
from servers import (
    CLOSE,
    READ,
    STALL,
    RouteServer,
    ScriptedServer,
    Send,
    response,
    self_signed,
    server_tls,
)

T = TypeVar("T")
Scenario = Callable[[AsyncH11Transport], Awaitable[T]]


def run(scenario: Scenario[T], **options: float | str | bool) -> T:
    """Run ``scenario`` with a fresh transport (read timeout 0.5 s) in a fresh loop, then close it."""
    options.setdefault("read_timeout", 0.5)

    async def main() -> T:
        transport = AsyncH11Transport(**options)  # type: ignore[arg-type]
        try:
            return await scenario(transport)
        finally:
            await transport.close()

    return asyncio.run(main())


async def fetch(transport: AsyncH11Transport, request: Request) -> tuple[Response, bytes]:
    """Send ``request`` and read its body to the end in 1 MiB reads."""
    answer = await transport.send(request)
    stream: AsyncResponseStream = answer.stream
    buffer = bytearray(1 << 20)
    body = bytearray()
    try:
        while n := await stream.readinto(buffer):
            body += buffer[:n]
    finally:
        await stream.close()
    return answer, bytes(body)


def get(url: str) -> Request:
    return Request("GET", url, headers=(("User-Agent", "ocireg-test/1"),))


@pytest.fixture(autouse=True)
def _no_proxy_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture
def server() -> Iterator[RouteServer]:
    with RouteServer() as running:
        yield running


def test_it_is_an_async_transport() -> None:
    assert isinstance(AsyncH11Transport(), AsyncTransport)


# --- bodies in and out -----------------------------------------------------------------


def _bodies(blob: bytes) -> dict[str, object]:
    async def async_chunks() -> AsyncIterator[memoryview]:
        view = memoryview(blob)
        for i in range(0, len(blob), 700_000):
            await asyncio.sleep(0)
            yield view[i : i + 700_000]

    return {
        "bytes": blob,
        "iterable": (memoryview(blob)[i : i + 700_000] for i in range(0, len(blob), 700_000)),
        "async iterable": async_chunks(),
    }


@pytest.mark.parametrize("kind", ["bytes", "iterable", "async iterable"])
def test_request_bodies_arrive_intact_with_their_length(server: RouteServer, kind: str) -> None:
    server.route("/v2/x/blobs/uploads/1", status=201, echo=True)
    blob = bytes(range(256)) * 9000  # 2.2 MiB, crossing chunk boundaries
    request = Request(
        "PUT",
        server.url + "/v2/x/blobs/uploads/1",
        headers=(("Content-Length", str(len(blob))),),
        body=_bodies(blob)[kind],  # type: ignore[arg-type]
    )
    answer, echoed = run(lambda t: fetch(t, request))
    assert answer.status == 201
    assert hashlib.sha256(echoed).digest() == hashlib.sha256(blob).digest()
    (seen,) = server.requests
    assert seen.header("Content-Length") == str(len(blob))
    assert seen.header("Transfer-Encoding") is None


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_large_answer_streams_through_readinto(server: RouteServer, chunked: bool) -> None:
    layer = hashlib.sha512(b"layer").digest() * 50_000  # 3.2 MB
    if chunked:
        server.route("/blob", chunks=[layer[i : i + 300_001] for i in range(0, len(layer), 300_001)])
    else:
        server.route("/blob", body=layer)
    answer, body = run(lambda t: fetch(t, get(server.url + "/blob")))
    assert answer.header("Content-Length") == (None if chunked else str(len(layer)))
    assert body == layer


def test_repeated_header_lines_are_kept_in_order(server: RouteServer) -> None:
    server.route("/v2/", status=401, headers=[("WWW-Authenticate", 'Bearer realm="a"'),
                                              ("WWW-Authenticate", 'Basic realm="b"')])
    answer, _ = run(lambda t: fetch(t, get(server.url + "/v2/")))
    assert (answer.status, answer.header_all("www-authenticate")) == (
        401, ['Bearer realm="a"', 'Basic realm="b"'])


@pytest.mark.parametrize("error", [ValueError, OSError])
def test_what_the_body_iterable_raises_passes_through_unchanged(
    server: RouteServer, error: type[Exception]
) -> None:
    server.route("/upload", status=201)
    raised = error("the source found its file short")

    async def chunks() -> AsyncIterator[bytes]:
        yield b"x" * 1000
        raise raised

    async def scenario(transport: AsyncH11Transport) -> int:
        request = Request("PUT", server.url + "/upload", headers=(("Content-Length", "5000"),),
                          body=chunks())  # type: ignore[arg-type]
        with pytest.raises(error) as caught:
            await transport.send(request)
        assert caught.value is raised
        return (await fetch(transport, get(server.url + "/upload")))[0].status

    assert run(scenario) == 201  # the transport is still usable


# --- connections are reused, and retried only when that is safe ------------------------


def test_connection_is_reused_and_a_small_unread_body_drained(server: RouteServer) -> None:
    server.route("/v2/", body=b"{}")
    server.route("/missing", status=404, body=b"x" * 20_000)

    async def scenario(transport: AsyncH11Transport) -> None:
        for _ in range(3):
            assert (await fetch(transport, get(server.url + "/v2/")))[1] == b"{}"
            await (await transport.send(get(server.url + "/missing"))).stream.close()

    run(scenario)
    assert len(server.requests) == 6
    assert server.connections == 1


def test_unread_large_body_drops_the_connection(server: RouteServer) -> None:
    server.route("/blob", body=b"\0" * (4 << 20))
    server.route("/v2/", body=b"{}")

    async def scenario(transport: AsyncH11Transport) -> bytes:
        await (await transport.send(get(server.url + "/blob"))).stream.close()
        return (await fetch(transport, get(server.url + "/v2/")))[1]

    assert run(scenario) == b"{}"
    assert server.connections == 2


def test_idle_connection_closed_by_the_server_is_replaced() -> None:
    ok = response(200, body=b"{}")
    with ScriptedServer([[READ, Send(ok), CLOSE], [READ, Send(ok)]]) as scripted:

        async def scenario(transport: AsyncH11Transport) -> bytes:
            await fetch(transport, get(scripted.url + "/v2/"))
            assert scripted.finished(0)
            await asyncio.sleep(0.05)  # let the loop see the FIN
            upload = Request("PUT", scripted.url + "/v2/x", headers=(("Content-Length", "4"),),
                             body=iter([b"data"]))
            return (await fetch(transport, upload))[1]

        assert run(scenario) == b"{}"
        assert scripted.connections == 2


def test_a_bytes_request_is_resent_once_on_a_stale_connection() -> None:
    ok = response(200, body=b"{}")
    with ScriptedServer([[READ, Send(ok), READ, CLOSE], [READ, Send(ok)]]) as scripted:

        async def scenario(transport: AsyncH11Transport) -> bytes:
            await fetch(transport, get(scripted.url + "/v2/"))
            return (await fetch(transport, Request("PUT", scripted.url + "/x", body=b"data")))[1]

        assert run(scenario) == b"{}"
        assert scripted.connections == 2
        assert scripted.requests[1] == scripted.requests[2]


def test_an_iterable_body_is_never_sent_twice() -> None:
    ok = response(200, body=b"{}")
    with ScriptedServer([[READ, Send(ok), READ, CLOSE], [READ, Send(ok)]]) as scripted:

        async def scenario(transport: AsyncH11Transport) -> None:
            await fetch(transport, get(scripted.url + "/v2/"))
            upload = Request("PUT", scripted.url + "/x", headers=(("Content-Length", "4"),),
                             body=iter([b"da", b"ta"]))
            with pytest.raises(ProtocolError):
                await fetch(transport, upload)

        run(scenario)
        assert scripted.connections == 1


# --- faults ----------------------------------------------------------------------------

HEAD_10 = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"

FAULTS = {
    "truncated body": ([READ, Send(HEAD_10 + b"abc"), CLOSE], ProtocolError),
    "chunked cut short": (
        [READ, Send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\nabc"), CLOSE],
        ProtocolError,
    ),
    "closed before the answer": ([READ, CLOSE], ProtocolError),
    "garbage status line": ([READ, Send(b"SSH-2.0-OpenSSH_9.6\r\n\r\n"), CLOSE], ProtocolError),
    "stall before the answer": ([READ, STALL], TransportTimeout),
    "stall mid-body": ([READ, Send(HEAD_10 + b"abc"), STALL], TransportTimeout),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_fault_ends_in_its_documented_error(fault: str) -> None:
    script, expected = FAULTS[fault]
    with ScriptedServer([script]) as scripted:
        started = time.monotonic()
        with pytest.raises(expected):
            run(lambda t: fetch(t, get(scripted.url + "/v2/library/alpine/blobs/sha256:0a")))
        assert time.monotonic() - started < 3  # read_timeout is 0.5 s


def test_connect_error_on_a_closed_port() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ConnectError) as caught:
        run(lambda t: t.send(get(f"http://127.0.0.1:{port}/v2/")))
    assert isinstance(caught.value, ConnectionError)  # the builtin contract


# --- TLS -------------------------------------------------------------------------------


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[RouteServer, str]]:
    cert_file, key_file = self_signed(tmp_path, "localhost", "127.0.0.1")
    with RouteServer(tls=server_tls(cert_file, key_file)) as running:
        running.route("/v2/", body=b"{}")
        yield running, cert_file


def test_tls_with_a_ca_file_keeps_the_connection(tls_server: tuple[RouteServer, str]) -> None:
    server, cert_file = tls_server

    async def scenario(transport: AsyncH11Transport) -> list[bytes]:
        return [(await fetch(transport, get(server.url + "/v2/")))[1] for _ in range(2)]

    assert run(scenario, ca_file=cert_file) == [b"{}", b"{}"]
    assert server.connections == 1


def test_tls_untrusted_certificate_is_a_connect_error(tls_server: tuple[RouteServer, str]) -> None:
    server, _ = tls_server
    with pytest.raises(ConnectError):
        run(lambda t: t.send(get(server.url + "/v2/")))


def test_tls_insecure_skips_verification(tls_server: tuple[RouteServer, str]) -> None:
    server, _ = tls_server
    assert run(lambda t: fetch(t, get(server.url + "/v2/")), insecure=True)[1] == b"{}"


# --- the optional extension: a body sent from its file --------------------------------


class AsyncFileBody:
    """A body read from a file that offers ``send_file`` (awaited), as the asyncio
    driver's is for a layout blob; records how the transport took it."""

    def __init__(self, path: Path, pieces: list[tuple[int, int]] | None = None,
                 fail: Exception | None = None) -> None:
        self.path = path
        size = path.stat().st_size
        self.pieces = pieces or [(i, min(700_000, size - i)) for i in range(0, size, 700_000)]
        self.fail = fail
        self.how: list[str] = []

    def __aiter__(self) -> AsyncIterator[bytes]:
        self.how.append("chunks")
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        data = self.path.read_bytes()
        for offset, count in self.pieces:
            yield data[offset:offset + count]
            if self.fail is not None:
                raise self.fail

    async def send_file(self, sendfile: Callable[..., Awaitable[int]]) -> None:
        self.how.append("sendfile")
        with self.path.open("rb") as file:
            for offset, count in self.pieces:
                assert await sendfile(file, offset, count) == count
                if self.fail is not None:
                    raise self.fail


def put_file(url: str, body: AsyncFileBody, length: int) -> Request:
    return Request("PUT", url, headers=(("Content-Length", str(length)),), body=body)  # type: ignore[arg-type]


def test_a_body_read_from_a_file_goes_by_sendfile_and_arrives_intact(server: RouteServer, tmp_path: Path) -> None:
    data = hashlib.sha512(b"blob").digest() * 40_000  # 2.5 MB: several loop.sendfile calls
    (tmp_path / "blob").write_bytes(data)
    server.route("/upload", status=201, echo=True)
    bodies = [AsyncFileBody(tmp_path / "blob") for _ in range(2)]

    async def scenario(transport: AsyncH11Transport) -> list[bytes]:
        return [(await fetch(transport, put_file(server.url + "/upload", body, len(data))))[1]
                for body in bodies]

    assert run(scenario) == [data, data]
    assert [body.how for body in bodies] == [["sendfile"], ["sendfile"]]
    assert server.connections == 1


def test_a_body_read_from_a_file_goes_in_chunks_over_tls(tls_server: tuple[RouteServer, str], tmp_path: Path) -> None:
    server, cert_file = tls_server
    data = b"layer bytes " * 30_000
    (tmp_path / "blob").write_bytes(data)
    server.route("/upload", status=201, echo=True)
    body = AsyncFileBody(tmp_path / "blob")
    echoed = run(lambda t: fetch(t, put_file(server.url + "/upload", body, len(data))), ca_file=cert_file)[1]
    assert (echoed, body.how) == (data, ["chunks"])


@pytest.mark.parametrize("pieces", [[(0, 3000), (0, 3000)], [(0, 3000)]], ids=["longer", "shorter"])
def test_a_file_body_that_disagrees_with_its_content_length_is_refused(
    server: RouteServer, tmp_path: Path, pieces: list[tuple[int, int]]
) -> None:
    (tmp_path / "blob").write_bytes(b"a" * 6000)
    server.route("/upload", status=201)
    body = AsyncFileBody(tmp_path / "blob", pieces)
    started = time.monotonic()
    with pytest.raises(ProtocolError):
        run(lambda t: fetch(t, put_file(server.url + "/upload", body, 4000)))
    assert time.monotonic() - started < 0.4  # refused, not timed out (read_timeout 0.5 s)
    assert body.how == ["sendfile"]


def test_a_file_body_the_server_stops_reading_times_out(tmp_path: Path) -> None:
    blob = tmp_path / "blob"
    with blob.open("wb") as f:
        f.truncate(64 << 20)  # more than the socket buffers hold; sparse, so cheap
    with ScriptedServer([[STALL]]) as scripted:
        body = AsyncFileBody(blob, [(i, 2 << 20) for i in range(0, 64 << 20, 2 << 20)])
        started = time.monotonic()
        with pytest.raises(TransportTimeout):
            run(lambda t: t.send(put_file(scripted.url + "/upload", body, 64 << 20)))
        assert time.monotonic() - started < 5  # read_timeout is 0.5 s per MiB of a piece
        assert body.how == ["sendfile"]


def test_what_send_file_raises_passes_through_unchanged(server: RouteServer, tmp_path: Path) -> None:
    (tmp_path / "blob").write_bytes(b"x" * 5000)
    server.route("/v2/x/blobs/uploads/1", status=201)
    raised = KeyError("layout blob is corrupt")
    body = AsyncFileBody(tmp_path / "blob", [(0, 1000), (1000, 4000)], fail=raised)

    async def scenario(transport: AsyncH11Transport) -> int:
        with pytest.raises(KeyError) as caught:
            await transport.send(put_file(server.url + "/v2/x/blobs/uploads/1", body, 5000))
        assert caught.value is raised
        return (await fetch(transport, get(server.url + "/v2/x/blobs/uploads/1")))[0].status

    assert run(scenario) == 201  # the transport is still usable


# --- the seam: the asyncio runner drives flows over it ---------------------------------


def tag_list(url: str) -> Flow[bytes]:
    answer = yield get(url)
    return (yield from read_body(answer, 4096))


def test_run_flow_async_over_the_transport(server: RouteServer) -> None:
    tags = b'{"name":"library/alpine","tags":["3.19","3.20"]}'
    server.route("/v2/library/alpine/tags/list", body=tags)

    async def scenario(transport: AsyncH11Transport) -> list[bytes]:
        url = server.url + "/v2/library/alpine/tags/list"
        return [await run_flow_async(tag_list(url), transport) for _ in range(3)]

    assert run(scenario) == [tags] * 3
    assert server.connections == 1
