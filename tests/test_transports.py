"""Transport conformance: one suite, run over every built-in transport.

Each test takes ``transport_factory`` (urllib3, h11, the stdlib one) and talks to the local
servers of ``servers.py`` only: a keep-alive ``http.server`` for well-formed HTTP,
a raw scripted socket server for truncation, bad framing, resets and stalls.  The
promise checked is the one in ``ocireg._transport``: requests go out as given,
bodies come back raw and whole, and every failure is a ConnectError, TransportTimeout
or ProtocolError.
"""

from __future__ import annotations

import gzip
import hashlib
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import TRANSPORTS, make_transport
from ocireg._driver import CHUNK_SIZE, iter_body, run_flow
from ocireg._errors import ConnectError, ProtocolError, TransportError, TransportTimeout
from ocireg._flow import Flow, read_body
from ocireg._http import Request, Response
from ocireg._transport import ResponseStream, Transport
from servers import (
    CLOSE,
    READ,
    RESET,
    STALL,
    RouteServer,
    ScriptedServer,
    Send,
    Step,
    TunnelProxy,
    response,
    self_signed,
    server_tls,
)

Factory = Callable[..., Transport]

DOCKER_HUB_CHALLENGE = (
    'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
    'scope="repository:library/alpine:pull"'
)
BASIC_CHALLENGE = 'Basic realm="Registry Realm"'
MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"
INDEX_MEDIA_TYPE = "application/vnd.oci.image.index.v1+json"


@pytest.fixture(autouse=True)
def _no_proxy_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The suite talks to 127.0.0.1 directly, whatever proxy the machine has."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture(params=TRANSPORTS)
def transport_factory(request: pytest.FixtureRequest) -> Iterator[Factory]:
    """Builds transports of one kind (short read timeout); closes them all afterwards."""
    made: list[Transport] = []

    def make(**options: Any) -> Transport:
        options.setdefault("read_timeout", 0.5)
        transport: Transport = make_transport(request.param, **options)
        made.append(transport)
        return transport

    yield make
    for transport in made:
        transport.close()


@pytest.fixture
def server() -> Iterator[RouteServer]:
    with RouteServer() as running:
        yield running


def fetch(transport: Transport, request: Request) -> tuple[Response, bytes]:
    """Send ``request`` and read its body to the end the way the driver does."""
    response = transport.send(request)
    body = b"".join(bytes(chunk) for chunk in iter_body(response))
    return response, body


def get(url: str, *headers: tuple[str, str]) -> Request:
    return Request("GET", url, headers=(("User-Agent", "ocireg-test/1"), *headers))


# --- requests go out as given ----------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "HEAD", "PUT", "POST", "PATCH", "DELETE"])
def test_every_method_is_sent_and_answered(
    transport_factory: Factory, server: RouteServer, method: str
) -> None:
    server.route("/v2/library/alpine/manifests/3.20", status=202, body=b"answer")
    transport = transport_factory()
    response, body = fetch(
        transport, Request(method, server.url + "/v2/library/alpine/manifests/3.20")
    )
    assert response.status == 202
    assert body == (b"" if method == "HEAD" else b"answer")
    assert response.header("Content-Length") == "6"
    assert [r.method for r in server.requests] == [method]


def test_repeated_response_header_lines_are_kept_in_order(
    transport_factory: Factory, server: RouteServer
) -> None:
    server.route(
        "/v2/",
        status=401,
        headers=[
            ("WWW-Authenticate", DOCKER_HUB_CHALLENGE),
            ("Docker-Distribution-Api-Version", "registry/2.0"),
            ("WWW-Authenticate", BASIC_CHALLENGE),
        ],
        body=b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}',
    )
    response, _ = fetch(transport_factory(), get(server.url + "/v2/"))
    assert response.status == 401
    assert response.header_all("www-authenticate") == [DOCKER_HUB_CHALLENGE, BASIC_CHALLENGE]
    assert response.header("Docker-Distribution-API-Version") == "registry/2.0"


def test_request_headers_arrive_as_given_with_host_and_port(
    transport_factory: Factory, server: RouteServer
) -> None:
    server.route("/v2/library/alpine/manifests/latest", body=b"{}")
    request = get(
        server.url + "/v2/library/alpine/manifests/latest?ns=docker.io",
        ("Accept", MANIFEST_MEDIA_TYPE),
        ("Accept", INDEX_MEDIA_TYPE),
        ("Authorization", "Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2ln"),
    )
    fetch(transport_factory(), request)
    (seen,) = server.requests
    assert seen.path == "/v2/library/alpine/manifests/latest?ns=docker.io"
    assert [v for k, v in seen.headers if k.lower() == "accept"] == [
        MANIFEST_MEDIA_TYPE,
        INDEX_MEDIA_TYPE,
    ]
    assert seen.header("Authorization") == "Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2ln"
    assert seen.header("Host") == server.url.removeprefix("http://")
    assert seen.header("Accept-Encoding") in (None, "identity")


def test_bytes_body_arrives_intact(transport_factory: Factory, server: RouteServer) -> None:
    server.route("/v2/library/alpine/manifests/1.0", status=201, echo=True)
    manifest = b'{"schemaVersion":2,"mediaType":"' + MANIFEST_MEDIA_TYPE.encode() + b'"}'
    request = Request(
        "PUT",
        server.url + "/v2/library/alpine/manifests/1.0",
        headers=(("Content-Type", MANIFEST_MEDIA_TYPE),),
        body=manifest,
    )
    response, echoed = fetch(transport_factory(), request)
    assert response.status == 201
    assert echoed == manifest
    assert server.requests[0].body == manifest
    assert server.requests[0].header("Content-Length") == str(len(manifest))


def test_iterable_body_is_streamed_with_the_given_content_length(
    transport_factory: Factory, server: RouteServer
) -> None:
    server.route("/v2/library/alpine/blobs/uploads/1", status=201)
    blob = bytes(range(256)) * 9000  # 2.2 MiB, crossing chunk boundaries
    buffer = bytearray(blob)
    chunks = (memoryview(buffer)[i : i + 700_000] for i in range(0, len(blob), 700_000))
    request = Request(
        "PUT",
        server.url
        + "/v2/library/alpine/blobs/uploads/1?digest=sha256:"
        + hashlib.sha256(blob).hexdigest(),
        headers=(("Content-Type", "application/octet-stream"), ("Content-Length", str(len(blob)))),
        body=chunks,
    )
    response, _ = fetch(transport_factory(), request)
    assert response.status == 201
    (seen,) = server.requests
    assert seen.body == blob
    assert seen.header("Content-Length") == str(len(blob))
    assert seen.header("Transfer-Encoding") is None


def test_header_value_with_a_line_break_is_refused_without_echoing_it(
    transport_factory: Factory, server: RouteServer
) -> None:
    server.route("/v2/", body=b"{}")
    request = get(server.url + "/v2/", ("Authorization", "Basic c2VjcmV0\r\nX-Injected: 1"))
    with pytest.raises(ProtocolError) as caught:
        transport_factory().send(request)
    assert "c2VjcmV0" not in str(caught.value)
    assert caught.value.__cause__ is None
    assert server.requests == []


# --- responses come back raw and whole -------------------------------------------------


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_large_body_streams_through_readinto(
    transport_factory: Factory, server: RouteServer, chunked: bool
) -> None:
    layer = hashlib.sha512(b"layer").digest() * (3 * CHUNK_SIZE // 64 + 17)  # 3 MiB + 1088
    if chunked:
        step = 300_001
        server.route("/blob", chunks=[layer[i : i + step] for i in range(0, len(layer), step)])
    else:
        server.route("/blob", body=layer, headers=[("Content-Type", "application/octet-stream")])
    response = transport_factory().send(get(server.url + "/blob"))
    stream = response.stream
    assert isinstance(stream, ResponseStream)
    digest, sizes = hashlib.sha256(), []
    for chunk in iter_body(response):
        assert len(chunk) <= CHUNK_SIZE
        digest.update(chunk)
        sizes.append(len(chunk))
    assert sum(sizes) == len(layer)
    assert digest.hexdigest() == hashlib.sha256(layer).hexdigest()


def test_redirect_is_returned_not_followed(transport_factory: Factory, server: RouteServer) -> None:
    location = "https://production.cloudflare.docker.com/registry-v2/docker/registry/v2/blobs/sha256/ab/data"
    server.route("/v2/library/alpine/blobs/sha256:ab", status=307, headers=[("Location", location)])
    response, _ = fetch(transport_factory(), get(server.url + "/v2/library/alpine/blobs/sha256:ab"))
    assert response.status == 307
    assert response.header("Location") == location
    assert len(server.requests) == 1


@pytest.mark.parametrize("status", [302, 303])
def test_found_and_see_other_are_returned_too(
    transport_factory: Factory, server: RouteServer, status: int
) -> None:
    server.route("/old", status=status, headers=[("Location", "/new")], body=b"moved")
    server.route("/new", body=b"new")
    response, body = fetch(transport_factory(), get(server.url + "/old"))
    assert (response.status, body) == (status, b"moved")
    assert [r.path for r in server.requests] == ["/old"]


def test_content_encoding_is_not_decoded(transport_factory: Factory, server: RouteServer) -> None:
    layer = gzip.compress(b"usr/bin/env\x00" * 5000, mtime=0)
    server.route("/layer", body=layer, headers=[("Content-Encoding", "gzip")])
    response, body = fetch(transport_factory(), get(server.url + "/layer"))
    assert response.header("Content-Encoding") == "gzip"
    assert body == layer


@pytest.mark.parametrize("status", [204, 304])
def test_no_body_statuses(transport_factory: Factory, server: RouteServer, status: int) -> None:
    server.route("/v2/library/alpine/manifests/old", status=status)
    transport = transport_factory()
    for _ in range(2):
        response, body = fetch(transport, get(server.url + "/v2/library/alpine/manifests/old"))
        assert (response.status, body) == (status, b"")
    assert server.connections == 1


def test_stream_close_is_idempotent_and_reading_after_it_gives_nothing(
    transport_factory: Factory, server: RouteServer
) -> None:
    server.route("/tags", body=b'{"name":"library/alpine","tags":["3.19","3.20"]}')
    response = transport_factory().send(get(server.url + "/tags"))
    response.stream.close()
    response.stream.close()
    assert response.stream.readinto(bytearray(64)) == 0


# --- connections are reused ------------------------------------------------------------


def test_connection_is_reused_across_sequential_requests(
    transport_factory: Factory, server: RouteServer
) -> None:
    server.route("/v2/", body=b"{}")
    server.route("/upload", status=202, echo=True)
    transport = transport_factory()
    for i in range(5):
        fetch(transport, get(server.url + "/v2/"))
        fetch(transport, Request("PATCH", server.url + "/upload", body=b"chunk %d" % i))
    assert len(server.requests) == 10
    assert server.connections == 1


def test_unread_small_body_is_drained_and_the_connection_kept(
    transport_factory: Factory, server: RouteServer
) -> None:
    server.route("/v2/library/alpine/manifests/missing", status=404, body=b"x" * 20_000)
    transport = transport_factory()
    for _ in range(3):
        response = transport.send(get(server.url + "/v2/library/alpine/manifests/missing"))
        assert response.status == 404
        response.stream.close()
    assert server.connections == 1


def test_unread_large_body_drops_the_connection(
    transport_factory: Factory, server: RouteServer
) -> None:
    server.route("/blob", body=b"\0" * (4 * CHUNK_SIZE))
    server.route("/v2/", body=b"{}")
    transport = transport_factory()
    transport.send(get(server.url + "/blob")).stream.close()
    _, body = fetch(transport, get(server.url + "/v2/"))
    assert body == b"{}"
    assert server.connections == 2


def test_connection_close_answer_is_honoured(transport_factory: Factory) -> None:
    answer = response(200, body=b"{}", headers=[("Connection", "close"), ("Content-Length", "2")])
    with ScriptedServer([[READ, Send(answer), READ, Send(answer)]]) as scripted:
        transport = transport_factory()
        for _ in range(2):
            assert fetch(transport, get(scripted.url + "/v2/"))[1] == b"{}"
        assert scripted.connections == 2


def test_body_read_until_close(transport_factory: Factory) -> None:
    answer = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + b"no framing" * 1000
    with ScriptedServer([[READ, Send(answer), CLOSE]]) as scripted:
        _, body = fetch(transport_factory(), get(scripted.url + "/"))
    assert body == b"no framing" * 1000


def test_idle_connection_closed_by_the_server_is_replaced(transport_factory: Factory) -> None:
    ok = response(200, body=b"{}")
    with ScriptedServer([[READ, Send(ok), CLOSE], [READ, Send(ok)]]) as scripted:
        transport = transport_factory()
        assert fetch(transport, get(scripted.url + "/v2/"))[1] == b"{}"
        assert scripted.finished(0)
        time.sleep(0.05)  # let the FIN reach the client's socket
        # An iterable body: it cannot be resent, so the dead connection must be
        # noticed before the request goes out, not retried after.
        upload = Request(
            "PUT", scripted.url + "/v2/x", headers=(("Content-Length", "4"),), body=iter([b"data"])
        )
        response2, body = fetch(transport, upload)
        assert (response2.status, body) == (200, b"{}")
        assert scripted.connections == 2


def test_iterable_body_is_never_sent_twice(transport_factory: Factory) -> None:
    """The server reads the request on the kept-alive connection, then hangs up."""
    ok = response(200, body=b"{}")
    with ScriptedServer([[READ, Send(ok), READ, CLOSE], [READ, Send(ok)]]) as scripted:
        transport = transport_factory()
        fetch(transport, get(scripted.url + "/v2/"))
        request = Request(
            "PUT",
            scripted.url + "/upload",
            headers=(("Content-Length", "4"),),
            body=iter([b"da", b"ta"]),
        )
        with pytest.raises(ProtocolError):
            fetch(transport, request)
        assert scripted.connections == 1


def test_no_retry_once_answer_bytes_arrived(transport_factory: Factory) -> None:
    ok = response(200, body=b"{}")
    partial = Send(b"HTTP/1.1 200 OK\r\nContent-Le")
    with ScriptedServer([[READ, Send(ok), READ, partial, CLOSE], [READ, Send(ok)]]) as scripted:
        transport = transport_factory()
        fetch(transport, get(scripted.url + "/v2/"))
        with pytest.raises(ProtocolError):
            fetch(transport, get(scripted.url + "/v2/"))
        assert scripted.connections == 1


@pytest.mark.parametrize("name", ["h11", "stdlib"])
def test_a_bytes_request_is_resent_once_on_a_stale_connection(name: str) -> None:
    """urllib3 runs with retries=False and relies on its pre-reuse check alone."""
    ok = response(200, body=b"{}")
    with ScriptedServer([[READ, Send(ok), READ, CLOSE], [READ, Send(ok)]]) as scripted:
        transport = make_transport(name, read_timeout=0.5)
        try:
            fetch(transport, get(scripted.url + "/v2/"))
            response2, body = fetch(transport, Request("PUT", scripted.url + "/x", body=b"data"))
        finally:
            transport.close()
        assert (response2.status, body) == (200, b"{}")
        assert scripted.connections == 2
        assert scripted.requests[1] == scripted.requests[2]


# --- what a request body raises is its own verdict -------------------------------------


class ForeignInvalidLayout(ValueError):
    """Stands for another copy's InvalidLayout: a ValueError that is no RegistryError here."""


class SourceReadError(OSError):
    """A source whose file failed: an OSError raised by the body, not by the network."""


@pytest.mark.parametrize("error", [ForeignInvalidLayout, SourceReadError, KeyError])
def test_what_the_body_iterable_raises_passes_through_unchanged(
    transport_factory: Factory, server: RouteServer, error: type[Exception]
) -> None:
    server.route("/v2/x/blobs/uploads/1", status=201)
    raised = error("layout blob is short")

    def chunks() -> Iterator[bytes]:
        yield b"x" * 1000
        raise raised

    request = Request(
        "PUT", server.url + "/v2/x/blobs/uploads/1", headers=(("Content-Length", "5000"),), body=chunks()
    )
    transport = transport_factory()
    with pytest.raises(error) as caught:
        transport.send(request)
    assert caught.value is raised
    assert fetch(transport, get(server.url + "/v2/x/blobs/uploads/1"))[0].status == 201  # still usable


@pytest.mark.parametrize("sizes", [[3000, 3000], [3000]], ids=["longer", "shorter"])
def test_a_body_that_disagrees_with_its_content_length_is_refused(
    transport_factory: Factory, server: RouteServer, sizes: list[int]
) -> None:
    """Extra bytes would be read as the start of another request; missing ones would
    leave the server waiting until the read timeout."""
    server.route("/upload", status=201)
    request = Request(
        "PUT",
        server.url + "/upload",
        headers=(("Content-Length", "4000"),),
        body=iter([b"a" * size for size in sizes]),
    )
    started = time.monotonic()
    with pytest.raises(ProtocolError):
        fetch(transport_factory(), request)
    assert time.monotonic() - started < 0.4  # refused, not timed out (read_timeout 0.5 s)
    assert len(server.requests) <= 1
    assert all(r.path == "/upload" for r in server.requests)


# --- the optional extension: a body sent from its file --------------------------------

SENDS_FILES = {"H11Transport": True, "HTTPClientTransport": True, "Urllib3Transport": False}
"""Which transports call ``send_file`` on plain HTTP (urllib3 iterates the body itself)."""


class FileBody:
    """A body read from a file that offers ``send_file``, as the driver's is for a layout
    blob; records how the transport took it.  ``pieces`` are the (offset, count) the
    body asks ``sendfile`` for (default: the whole file in 100 kB steps)."""

    def __init__(self, path: Path, pieces: list[tuple[int, int]] | None = None,
                 fail: Exception | None = None) -> None:
        self.path = path
        size = path.stat().st_size
        self.pieces = pieces or [(i, min(100_000, size - i)) for i in range(0, size, 100_000)]
        self.fail = fail
        self.how: list[str] = []

    def __iter__(self) -> Iterator[bytes]:
        self.how.append("chunks")
        data = self.path.read_bytes()
        for offset, count in self.pieces:
            yield data[offset:offset + count]
            if self.fail is not None:
                raise self.fail

    def send_file(self, sendfile: Callable[[Any, int, int], int]) -> None:
        self.how.append("sendfile")
        with self.path.open("rb") as file:
            for offset, count in self.pieces:
                assert sendfile(file, offset, count) == count
                if self.fail is not None:
                    raise self.fail


def put_file(url: str, body: FileBody, length: int) -> Request:
    return Request("PUT", url, headers=(("Content-Length", str(length)),), body=body)


def test_a_body_read_from_a_file_arrives_intact(
    transport_factory: Factory, server: RouteServer, tmp_path: Path
) -> None:
    data = hashlib.sha512(b"blob").digest() * 5000  # 320 kB
    (tmp_path / "blob").write_bytes(data)
    server.route("/upload", status=201, echo=True)
    transport = transport_factory()
    for _ in range(2):  # and the connection serves the next exchange
        body = FileBody(tmp_path / "blob")
        response, echoed = fetch(transport, put_file(server.url + "/upload", body, len(data)))
        assert (response.status, echoed) == (201, data)
        assert body.how == ["sendfile" if SENDS_FILES[type(transport).__name__] else "chunks"]
    assert server.connections == 1


def test_a_body_read_from_a_file_goes_in_chunks_over_tls(
    transport_factory: Factory, tls_server: tuple[RouteServer, str], tmp_path: Path
) -> None:
    server, cert_file = tls_server
    data = b"layer bytes " * 30_000
    (tmp_path / "blob").write_bytes(data)
    server.route("/upload", status=201, echo=True)
    body = FileBody(tmp_path / "blob")
    response, echoed = fetch(transport_factory(ca_file=cert_file), put_file(server.url + "/upload", body, len(data)))
    assert (response.status, echoed, body.how) == (201, data, ["chunks"])


@pytest.mark.parametrize("pieces", [[(0, 3000), (0, 3000)], [(0, 3000)]], ids=["longer", "shorter"])
def test_a_file_body_that_disagrees_with_its_content_length_is_refused(
    transport_factory: Factory, server: RouteServer, tmp_path: Path, pieces: list[tuple[int, int]]
) -> None:
    (tmp_path / "blob").write_bytes(b"a" * 6000)
    server.route("/upload", status=201)
    started = time.monotonic()
    with pytest.raises(ProtocolError):
        fetch(transport_factory(), put_file(server.url + "/upload", FileBody(tmp_path / "blob", pieces), 4000))
    assert time.monotonic() - started < 0.4  # refused, not timed out (read_timeout 0.5 s)
    assert len(server.requests) <= 1


def test_a_file_body_the_server_stops_reading_times_out(transport_factory: Factory, tmp_path: Path) -> None:
    blob = tmp_path / "blob"
    with blob.open("wb") as f:
        f.truncate(64 << 20)  # more than the socket buffers hold; sparse, so cheap
    with ScriptedServer([[STALL]]) as scripted:
        body = FileBody(blob, [(i, 1 << 20) for i in range(0, 64 << 20, 1 << 20)])
        transport = transport_factory()
        started = time.monotonic()
        # (urllib3, sending chunks, reports its write timeout as a broken connection)
        with pytest.raises(TransportTimeout if SENDS_FILES[type(transport).__name__] else TransportError):
            transport.send(put_file(scripted.url + "/upload", body, 64 << 20))
        assert time.monotonic() - started < 5  # read_timeout is 0.5 s


def test_what_send_file_raises_passes_through_unchanged(
    transport_factory: Factory, server: RouteServer, tmp_path: Path
) -> None:
    (tmp_path / "blob").write_bytes(b"x" * 5000)
    server.route("/v2/x/blobs/uploads/1", status=201)
    raised = ForeignInvalidLayout("layout blob is corrupt")
    body = FileBody(tmp_path / "blob", [(0, 1000), (1000, 4000)], fail=raised)
    transport = transport_factory()
    with pytest.raises(ForeignInvalidLayout) as caught:
        transport.send(put_file(server.url + "/v2/x/blobs/uploads/1", body, 5000))
    assert caught.value is raised
    assert fetch(transport, get(server.url + "/v2/x/blobs/uploads/1"))[0].status == 201  # still usable


# --- every fault ends in the documented error ------------------------------------------

HEAD_10 = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"
CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"

FAULTS: dict[str, tuple[list[Step], type[TransportError]]] = {
    "truncated body": ([READ, Send(HEAD_10 + b"abc"), CLOSE], ProtocolError),
    "non-numeric content-length": (
        [READ, Send(b"HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n0123456789"), CLOSE],
        ProtocolError,
    ),
    "conflicting content-length": (
        [
            READ,
            Send(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 10\r\n\r\nabc"),
            CLOSE,
        ],
        ProtocolError,
    ),
    "bad chunk size": ([READ, Send(CHUNKED + b"zz\r\nabc\r\n0\r\n\r\n"), CLOSE], ProtocolError),
    "chunked cut short": ([READ, Send(CHUNKED + b"a\r\nabc"), CLOSE], ProtocolError),
    "chunked without last chunk": ([READ, Send(CHUNKED + b"3\r\nabc\r\n"), CLOSE], ProtocolError),
    "reset mid-body": ([READ, Send(HEAD_10 + b"abc"), RESET], ProtocolError),
    "reset before the answer": ([READ, RESET], ProtocolError),
    "closed before the answer": ([READ, CLOSE], ProtocolError),
    "garbage status line": ([READ, Send(b"SSH-2.0-OpenSSH_9.6\r\n\r\n"), CLOSE], ProtocolError),
    "stall before the answer": ([READ, STALL], TransportTimeout),
    "stall mid-head": ([READ, Send(b"HTTP/1.1 200 OK\r\nContent-"), STALL], TransportTimeout),
    "stall mid-body": ([READ, Send(HEAD_10 + b"abc"), STALL], TransportTimeout),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_fault_ends_in_its_documented_error(transport_factory: Factory, fault: str) -> None:
    script, expected = FAULTS[fault]
    with ScriptedServer([script]) as scripted:
        transport = transport_factory()
        started = time.monotonic()
        with pytest.raises(expected):
            fetch(transport, get(scripted.url + "/v2/library/alpine/blobs/sha256:0a"))
        assert time.monotonic() - started < 3  # read_timeout is 0.5 s


def test_connect_error_on_a_closed_port(transport_factory: Factory) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ConnectError):
        transport_factory().send(get(f"http://127.0.0.1:{port}/v2/"))


def test_transport_errors_are_registry_errors(transport_factory: Factory) -> None:
    with ScriptedServer([[READ, STALL]]) as scripted, pytest.raises(TransportError) as caught:
        transport_factory().send(get(scripted.url + "/v2/"))
    assert type(caught.value) is TransportTimeout
    assert isinstance(transport_factory(), Transport)


# --- TLS -------------------------------------------------------------------------------


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[RouteServer, str]]:
    cert_file, key_file = self_signed(tmp_path, "localhost", "127.0.0.1")
    with RouteServer(tls=server_tls(cert_file, key_file)) as running:
        running.route(
            "/v2/", body=b"{}", headers=[("Docker-Distribution-Api-Version", "registry/2.0")]
        )
        yield running, cert_file


def test_tls_with_a_ca_file(
    transport_factory: Factory, tls_server: tuple[RouteServer, str]
) -> None:
    server, cert_file = tls_server
    transport = transport_factory(ca_file=cert_file)
    for _ in range(2):
        response, body = fetch(transport, get(server.url + "/v2/"))
        assert (response.status, body) == (200, b"{}")
    assert server.connections == 1


def test_tls_untrusted_certificate_is_a_connect_error(
    transport_factory: Factory, tls_server: tuple[RouteServer, str]
) -> None:
    server, _ = tls_server
    with pytest.raises(ConnectError):
        transport_factory().send(get(server.url + "/v2/"))


def test_tls_wrong_host_name_is_a_connect_error(transport_factory: Factory, tmp_path: Path) -> None:
    cert_file, key_file = self_signed(tmp_path, "registry.example")
    tls = server_tls(cert_file, key_file)
    with RouteServer(tls=tls) as server, pytest.raises(ConnectError):
        transport_factory(ca_file=cert_file).send(get(server.url + "/v2/"))


def test_tls_insecure_skips_verification_without_a_warning(
    transport_factory: Factory, tls_server: tuple[RouteServer, str]
) -> None:
    server, _ = tls_server  # filterwarnings=error: an InsecureRequestWarning would fail this
    response, body = fetch(transport_factory(insecure=True), get(server.url + "/v2/"))
    assert (response.status, body) == (200, b"{}")


# --- the seam: the driver runs flows over each transport -------------------------------


def tag_list(url: str) -> Flow[bytes]:
    response = yield get(url, ("Accept", "application/json"))
    if response.status != 200:
        raise AssertionError(response.status)
    return (yield from read_body(response, 4096))


def test_run_flow_over_the_transport(transport_factory: Factory, server: RouteServer) -> None:
    tags = b'{"name":"library/alpine","tags":["3.18","3.19","3.20","latest"]}'
    server.route(
        "/v2/library/alpine/tags/list", body=tags, headers=[("Content-Type", "application/json")]
    )
    transport = transport_factory()
    for _ in range(3):
        assert run_flow(tag_list(server.url + "/v2/library/alpine/tags/list"), transport) == tags
    assert server.connections == 1


# --- proxies from the environment (urllib3 and stdlib; h11 has none) ------------------

PROXYING = ["urllib3", "stdlib"]


@pytest.mark.parametrize("name", PROXYING)
def test_http_proxy_from_environment(
    server: RouteServer, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """A plain HTTP proxy gets the absolute URL and the proxy's own credentials."""
    server.route("http://registry.example/v2/", body=b"via proxy")
    proxy = server.url.replace("http://", "http://user:p%40ss@")
    monkeypatch.setenv("HTTP_PROXY", proxy)
    with make_transport(name, read_timeout=0.5) as transport:
        for _ in range(2):
            _, body = fetch(transport, get("http://registry.example/v2/"))
            assert body == b"via proxy"
    assert [r.path for r in server.requests] == ["http://registry.example/v2/"] * 2
    assert server.requests[0].header("Proxy-Authorization") == "Basic dXNlcjpwQHNz"  # user:p@ss
    assert server.requests[0].header("Host") == "registry.example"
    assert server.connections == 1


@pytest.mark.parametrize("name", PROXYING)
def test_no_proxy_and_opt_out(server: RouteServer, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    server.route("/v2/", body=b"direct")
    with socket.socket() as probe:  # a proxy address nobody listens on
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    monkeypatch.setenv("HTTP_PROXY", dead)
    with make_transport(name, read_timeout=0.5, proxy_from_env=False) as transport:
        assert fetch(transport, get(server.url + "/v2/"))[1] == b"direct"
    with make_transport(name, read_timeout=0.5) as transport:
        with pytest.raises(ConnectError):
            transport.send(get(server.url + "/v2/"))
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        assert fetch(transport, get(server.url + "/v2/"))[1] == b"direct"


@pytest.mark.parametrize("name", PROXYING)
def test_https_goes_through_a_connect_tunnel(
    tls_server: tuple[RouteServer, str], monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """The proxy sees only CONNECT and its own credentials; TLS runs end to end, verified."""
    server, cert_file = tls_server
    with TunnelProxy() as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url.replace("http://", "http://user:pw@"))
        with make_transport(name, read_timeout=0.5, ca_file=cert_file) as transport:
            for _ in range(2):
                response, body = fetch(
                    transport, get(server.url + "/v2/", ("Authorization", "Bearer registry-token"))
                )
                assert (response.status, body) == (200, b"{}")
    ((line, *headers),) = proxy.heads  # one tunnel, kept alive
    assert line.startswith("CONNECT " + server.url.removeprefix("https://") + " ")
    assert "proxy-authorization: basic dxnlcjpwdw==" in [h.lower() for h in headers]  # user:pw
    assert not any("registry-token" in h for h in headers)
    assert server.requests[0].header("Proxy-Authorization") is None
    assert server.requests[0].header("Authorization") == "Bearer registry-token"
