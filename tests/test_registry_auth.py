"""Authentication against the real registry: token economy and credential scoping.

- listing tags and pulling an image cost exactly one token request per scope set;
- a blob redirected to another origin (here: another port of 127.0.0.1, standing in
  for object storage) arrives there without ``Authorization``.

The redirect needs a fault a real distribution with filesystem storage will not
produce, so an in-process front server forwards everything to the real registry
except blob GETs, which it redirects to a storage server that records headers.
"""

from __future__ import annotations

import http.client
import http.server
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import ocireg
from conftest import make_transport, open_client
from registry_bed import RegistryInstance
from servers import RouteServer
from test_registry import seeded

_BLOB_GET = re.compile(r"^/v2/.+/blobs/(sha256:[0-9a-f]{64})$")


class _FrontServer(http.server.ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True


def _front_handler(upstream_port: int, storage_url: str, seen: list[tuple[str, str | None]]) -> type:
    class Front(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _forward(self) -> None:
            seen.append((f"{self.command} {self.path}", self.headers.get("Authorization")))
            match = _BLOB_GET.match(self.path)
            if self.command == "GET" and match and self.headers.get("Authorization"):
                self.send_response(307)
                self.send_header("Location", f"{storage_url}/storage/{match.group(1)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            upstream = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=10)
            try:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                upstream.request(self.command, self.path, body=body, headers=headers)
                answer = upstream.getresponse()
                data = answer.read()
                self.send_response(answer.status)
                for name, value in answer.getheaders():
                    if name.lower() not in ("content-length", "connection", "transfer-encoding", "date", "server"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
            finally:
                upstream.close()

        do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _forward

    return Front


@pytest.fixture
def storage() -> Iterator[RouteServer]:
    with RouteServer() as server:
        yield server


@pytest.mark.parametrize("setup", ["basic", "token"])
def test_blob_redirected_to_another_origin_arrives_without_credentials(
    setup: str, request: pytest.FixtureRequest, transport_name: str, storage: RouteServer, tmp_path: Path
) -> None:
    instance: RegistryInstance = request.getfixturevalue(f"registry_{setup}")
    seed = seeded(instance)
    layer = seed.docker.blobs[1]
    storage.route(f"/storage/{layer.digest}", body=layer.data)
    seen: list[tuple[str, str | None]] = []
    front = _FrontServer(("127.0.0.1", 0), _front_handler(instance.port, storage.url, seen))
    thread = threading.Thread(target=front.serve_forever, args=(0.05,))
    thread.start()
    try:
        url = f"http://127.0.0.1:{front.server_address[1]}"
        with ocireg.Registry(url, username=instance.writer.name, password=instance.writer.password,
                             transport=make_transport(transport_name)) as client:  # type: ignore[arg-type]
            try:
                assert client.blob(seed.repo, layer.digest) == layer.data
                out = client.blob(seed.repo, layer.digest, tmp_path / "layer")
                assert Path(str(out)).read_bytes() == layer.data
            finally:
                client.transport.close()
    finally:
        front.shutdown()
        thread.join()
        front.server_close()
    blob_gets = [auth for line, auth in seen if line.startswith("GET ") and "/blobs/" in line]
    # the first GET learns the challenge; the registry's own origin then gets credentials
    assert blob_gets[0] is None and all(blob_gets[1:]) and len(blob_gets) == 3
    assert len(storage.requests) == 2
    for received in storage.requests:
        assert received.header("Authorization") is None
        assert received.header("Cookie") is None


def test_token_requests_one_per_scope_set(registry_token: RegistryInstance, transport_name: str, tmp_path: Path) -> None:
    seed = seeded(registry_token)
    server = registry_token.token_server
    assert server is not None
    before = len(registry_token.access_log_lines())
    server.reset_counts()
    with open_client(registry_token, transport_name) as client:
        try:
            for _ in range(20):
                assert set(client.tags(seed.repo).tags) >= seed.tags
            assert server.total_requests == 1
            result = client.pull(seed.repo, "index", tmp_path / "layout")  # 4 children, 8 blobs
            assert result.blobs_fetched == 8
            # pulling is the same scope (pull on the repository): still the one token
            assert server.total_requests == 1
            client.push_blob("tokens/other", b"another scope set")
            assert server.total_requests == 2
        finally:
            client.transport.close()
    log = registry_token.access_log_lines()[before:]
    unauthorized = [entry for entry in log if entry.status == 401]
    # one 401 to learn the challenge; afterwards every request carries a token up front
    assert len(unauthorized) == 1, unauthorized


def test_reader_cannot_push_and_gets_a_typed_error(registry_token: RegistryInstance, transport_name: str) -> None:
    with open_client(registry_token, transport_name, user="reader") as client:
        try:
            assert client.tags(seeded(registry_token).repo).tags
            with pytest.raises(ocireg.Unauthorized) as info:
                client.push_blob("readers/cannot", b"nope")
            assert info.value.status == 401
            assert registry_token.reader.password not in str(info.value)
        finally:
            client.transport.close()


def test_anonymous_pull_on_public_repositories(registry_token: RegistryInstance, transport_name: str) -> None:
    with open_client(registry_token, transport_name) as writer:
        try:
            pushed = writer.push_blob("public/things", b"anyone may read this")
        finally:
            writer.transport.close()
    with ocireg.Registry(registry_token.url, transport=make_transport(transport_name)) as anonymous:  # type: ignore[arg-type]
        try:
            assert anonymous.blob("public/things", pushed.descriptor.digest) == b"anyone may read this"
            with pytest.raises(ocireg.Unauthorized):
                anonymous.tags(seeded(registry_token).repo)
        finally:
            anonymous.transport.close()
