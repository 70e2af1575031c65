"""Endpoint flows on answers a CNCF distribution 2.8.2 never gives, from scripted registries.

The real-registry tests cover the common paths; here: the referrers API itself
(distribution 2.8.2 has none), registries refusing HEAD or answering it without a
digest, lying digests, OCI-Subject on manifest PUT, and tag pagination over an
in-process HTTP server (distribution ignores ``n``/``last`` on tags).
"""

from __future__ import annotations

import http.server
import json
import threading
import urllib.parse
from collections.abc import Iterator

import pytest

import ocireg
from conftest import make_transport
from ocireg import Digest, Index, Manifest, Registry, Session, flows, media
from ocireg._manifest import Descriptor
from scripted import ScriptedTransport, run

BASE = "https://registry.example"
NOW = 1_800_000_000.0


def _image() -> Manifest:
    config = Descriptor(media.OCI_CONFIG, Digest.of(b"{}"), 2)
    layer = Descriptor(media.OCI_LAYER_TAR_GZIP, Digest.of(b"layer"), 5)
    return Manifest.build(config, [layer])


def _manifest_answer(manifest: Manifest, digest: str | None = None) -> tuple[int, list[tuple[str, str]], bytes]:
    headers = [("Content-Type", manifest.media_type)]
    if digest:
        headers.append(("Docker-Content-Digest", digest))
    return 200, headers, manifest.raw


def test_manifest_digest_falls_back_to_get_when_head_is_refused() -> None:
    image = _image()
    transport = ScriptedTransport([(405, [], b""), _manifest_answer(image)])
    digest = run(flows.manifest_digest(Session(BASE), "app", "v1", now=NOW), transport)
    assert digest == image.digest
    assert [r.method for r in transport.requests] == ["HEAD", "GET"]


def test_manifest_digest_falls_back_to_get_when_head_has_no_digest() -> None:
    image = _image()
    transport = ScriptedTransport([(200, [("Content-Type", image.media_type)], b""), _manifest_answer(image)])
    assert run(flows.manifest_digest(Session(BASE), "app", "v1", now=NOW), transport) == image.digest


def test_a_manifest_whose_bytes_do_not_match_the_servers_digest_is_refused() -> None:
    image = _image()
    lie = str(Digest.of(b"something else"))
    transport = ScriptedTransport([_manifest_answer(image, lie)])
    with pytest.raises(ocireg.DigestMismatch):
        run(flows.get_manifest(Session(BASE), "app", "v1", now=NOW), transport)


def test_a_manifest_fetched_by_digest_must_hash_to_it() -> None:
    image = _image()
    other = str(Digest.of(b"not the manifest"))
    transport = ScriptedTransport([_manifest_answer(image)])
    with pytest.raises(ocireg.DigestMismatch):
        run(flows.get_manifest(Session(BASE), "app", other, now=NOW), transport)


def test_put_manifest_reports_the_acknowledged_subject() -> None:
    subject = _image()
    config = Descriptor(media.OCI_EMPTY_JSON, Digest.of(b"{}"), 2)
    layer = Descriptor("application/spdx+json", Digest.of(b"sbom"), 4)
    artifact = Manifest.build(config, [layer], subject=Descriptor(subject.media_type, subject.digest, len(subject.raw)),
                              artifact_type="application/spdx+json")
    transport = ScriptedTransport([(201, [("Docker-Content-Digest", str(artifact.digest)),
                                          ("OCI-Subject", str(subject.digest))], b"")])
    result = run(flows.put_manifest(Session(BASE), "app", artifact.digest, artifact.raw, artifact.media_type, now=NOW),
                 transport)
    assert result.subject == subject.digest and result.digest == artifact.digest
    sent = transport.requests[0]
    assert sent.method == "PUT" and dict(sent.headers)["Content-Type"] == media.OCI_MANIFEST


def _referrers_index(*artifact_types: str) -> Index:
    return Index.build([
        Descriptor(media.OCI_MANIFEST, Digest.of(t.encode()), 100, artifact_type=t) for t in artifact_types
    ])


def test_referrers_api_answer_filtered_client_side_when_the_server_did_not() -> None:
    index = _referrers_index("application/spdx+json", "application/vnd.dev.cosign.artifact.sig.v1+json")
    subject = Digest.of(b"subject")
    transport = ScriptedTransport([(200, [("Content-Type", media.OCI_INDEX)], index.raw)])
    found = run(flows.referrers(Session(BASE), "app", subject, artifact_type="application/spdx+json", now=NOW),
                transport)
    assert [d.artifact_type for d in found] == ["application/spdx+json"]
    assert transport.requests[0].url == (
        f"{BASE}/v2/app/referrers/{subject}?artifactType=application%2Fspdx%2Bjson"
    )


def test_referrers_fall_back_to_the_tag_schema_and_to_nothing() -> None:
    subject = Digest.of(b"subject")
    index = _referrers_index("application/spdx+json")
    transport = ScriptedTransport([(404, [], b""), (200, [("Content-Type", media.OCI_INDEX)], index.raw)])
    found = run(flows.referrers(Session(BASE), "app", subject, now=NOW), transport)
    assert len(found) == 1 and transport.requests[1].url.endswith(f"/manifests/{subject.tag_form}")
    empty = ScriptedTransport([(404, [], b""), (404, [], b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"x"}]}')])
    assert run(flows.referrers(Session(BASE), "app", subject, now=NOW), empty) == ()


# --- tag pagination over a real HTTP exchange -------------------------------------------

TAGS = [f"v{i:03d}" for i in range(37)]


class _TagsHandler(http.server.BaseHTTPRequestHandler):
    """Paginates tags as the spec says (sorted, ``n`` and ``last``, a relative next link)."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        n = int(query.get("n", "10"))
        after = [t for t in TAGS if t > query.get("last", "")]
        page = after[:n]
        body = json.dumps({"name": "paged/app", "tags": page}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if len(after) > n:
            self.send_header("Link", f'</v2/paged/app/tags/list?n={n}&last={page[-1]}>; rel="next"')
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def tag_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _TagsHandler)
    server.daemon_threads = False
    thread = threading.Thread(target=server.serve_forever, args=(0.05,))
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


def test_tags_pagination_over_http(tag_server: str, transport_name: str) -> None:
    with Registry(tag_server, transport=make_transport(transport_name)) as client:  # type: ignore[arg-type]
        try:
            first = client.tags("paged/app", count=10)
            assert list(first.tags) == TAGS[:10] and first.last == "v009"
            second = client.tags("paged/app", count=10, last=first.last)
            assert list(second.tags) == TAGS[10:20]
            assert list(client.tags("paged/app", count=7, auto_paginate=True).tags) == TAGS
            assert list(client.iter_tags("paged/app", page_size=5)) == TAGS
        finally:
            client.transport.close()


def test_a_signed_schema1_manifest_is_named_by_its_payload_digest() -> None:
    from test_manifest import SCHEMA1_PAYLOAD, SCHEMA1_SIGNED

    payload_digest = str(Digest.of(SCHEMA1_PAYLOAD))
    answer = (200, [("Content-Type", media.DOCKER_MANIFEST_V1_SIGNED),
                    ("Docker-Content-Digest", payload_digest)], SCHEMA1_SIGNED)
    result = run(flows.get_manifest(Session(BASE), "old/app", "v1", now=NOW), ScriptedTransport([answer]))
    assert str(result.digest) == payload_digest and result.body == SCHEMA1_SIGNED
    forged = (200, [*answer[1][:1], ("Docker-Content-Digest", str(Digest.of(SCHEMA1_SIGNED)))], SCHEMA1_SIGNED)
    with pytest.raises(ocireg.DigestMismatch):
        run(flows.get_manifest(Session(BASE), "old/app", "v1", now=NOW), ScriptedTransport([forged]))
