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
