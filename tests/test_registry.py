"""Every method of the blocking Registry against a real registry.

Each test runs against the three set-ups (no auth, htpasswd Basic, token auth)
and over both transports; content is seeded with raw uploads (images.push_raw).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import ocireg
from conftest import make_transport, open_client
from images import ImageContent, docker_image, docker_manifest_list, oci_image, oci_index, push_raw
from ocireg import Digest, Registry
from registry_bed import RegistryInstance


@dataclass(frozen=True)
class Seeded:
    """What the seed put in one registry."""

    repo: str
    docker: ImageContent  # tag "docker"
    oci: ImageContent  # tag "oci"
    index: ImageContent  # tag "index"
    manifest_list: ImageContent  # tag "list"

    @property
    def tags(self) -> set[str]:
        return {"docker", "oci", "index", "list"}


_SEEDED: dict[str, Seeded] = {}


def seeded(instance: RegistryInstance) -> Seeded:
    """Seed each registry once per session (raw uploads, not the client under test)."""
    if instance.url not in _SEEDED:
        auth = instance.writer.creds if instance.auth_required else None
        content = Seeded(
            repo="seed/app",
            docker=docker_image((3000, 5000)),
            oci=oci_image((4000,)),
            index=oci_index((700,)),
            manifest_list=docker_manifest_list((600,)),
        )
        for tag, image in (("docker", content.docker), ("oci", content.oci),
                           ("index", content.index), ("list", content.manifest_list)):
            push_raw(instance.url, content.repo, image, tag=tag, auth=auth)
        _SEEDED[instance.url] = content
    return _SEEDED[instance.url]


@pytest.fixture
def client(registry: RegistryInstance, transport_name: str) -> Iterator[Registry]:
    c = open_client(registry, transport_name)
    try:
        yield c
    finally:
        c.transport.close()


@pytest.fixture
def seed(registry: RegistryInstance) -> Seeded:
    return seeded(registry)


def test_ping(client: Registry) -> None:
    headers = client.ping()
    assert ocireg._http.header_value(headers, "Docker-Distribution-API-Version") == "registry/2.0"


def test_tags(client: Registry, seed: Seeded) -> None:
    listing = client.tags(seed.repo)
    assert listing.name == seed.repo
    assert set(listing.tags) == seed.tags
    assert listing.last is None
    assert set(client.tags(seed.repo, auto_paginate=True).tags) == seed.tags
    assert set(client.iter_tags(seed.repo)) == seed.tags


def test_tags_with_digests(client: Registry, seed: Seeded) -> None:
    listing = client.tags(seed.repo, with_digests=True)
    assert listing.digests == {
        "docker": Digest.parse(seed.docker.digest),
        "oci": Digest.parse(seed.oci.digest),
        "index": Digest.parse(seed.index.digest),
        "list": Digest.parse(seed.manifest_list.digest),
    }


def test_catalog(client: Registry, seed: Seeded) -> None:
    assert seed.repo in client.catalog().repositories
    assert seed.repo in list(client.iter_catalog(page_size=1))
    assert seed.repo in client.catalog(count=1, auto_paginate=True).repositories
    first = client.catalog(count=1)
    assert len(first.repositories) == 1


@pytest.mark.parametrize("tag", ["docker", "oci", "index", "list"])
def test_manifest_bytes_type_and_digest(client: Registry, seed: Seeded, tag: str) -> None:
    image: ImageContent = {"docker": seed.docker, "oci": seed.oci, "index": seed.index,
                           "list": seed.manifest_list}[tag]
    result = client.manifest(seed.repo, tag)
    assert result.body == image.manifest
    assert result.media_type == image.media_type
    assert str(result.digest) == image.digest
    assert client.manifest_digest(seed.repo, tag) == result.digest
    by_digest = client.manifest(seed.repo, image.digest)
    assert by_digest.body == image.manifest


def test_digest_picks_platform(client: Registry, seed: Seeded) -> None:
    children = {json.dumps(c.platform, sort_keys=True): c.digest for c in seed.index.children}
    arm64 = children[json.dumps({"architecture": "arm64", "os": "linux", "variant": "v8"}, sort_keys=True)]
    assert str(client.digest(seed.repo, "index", "arm64", "linux")) == arm64
    assert str(client.digest(seed.repo, "index", "arm64", "linux", "v8")) == arm64
    arm7 = seed.manifest_list.children[2].digest
    assert str(client.digest(seed.repo, "list", "arm", "linux")) == arm7
    assert str(client.digest(seed.repo, "index")) == seed.index.digest
    assert str(client.digest(seed.repo, "docker", "amd64", "linux")) == seed.docker.digest
    with pytest.raises(ocireg.PlatformNotFound):
        client.digest(seed.repo, "index", "s390x", "linux")


def test_manifest_sum(client: Registry, seed: Seeded) -> None:
    result = client.manifest(seed.repo, "docker")
    assert Registry.manifest_sum(result) == sum(b.size for b in seed.docker.blobs[1:])


def test_blob_bytes_path_and_file(client: Registry, seed: Seeded, tmp_path: Path) -> None:
    layer = seed.docker.blobs[1]
    assert client.blob(seed.repo, layer.digest) == layer.data
    out = client.blob(seed.repo, layer.digest, tmp_path / "sub" / "layer")
    assert Path(str(out)).read_bytes() == layer.data
    sink = io.BytesIO()
    client.blob(seed.repo, layer.digest, sink)
    assert sink.getvalue() == layer.data
    assert client.blob_size(seed.repo, layer.digest) == len(layer.data)


def test_missing_things_raise_typed_errors(client: Registry, seed: Seeded) -> None:
    with pytest.raises(ocireg.ManifestUnknown):
        client.manifest(seed.repo, "no-such-tag")
    with pytest.raises(ocireg.BlobUnknown):
        client.blob_size(seed.repo, "sha256:" + "0" * 64)
    with pytest.raises(ocireg.NotFound):
        client.blob(seed.repo, "sha256:" + "0" * 64)
    with pytest.raises(ocireg.InvalidDigest):
        client.blob(seed.repo, "sha256:../../etc/passwd")


def test_pull_writes_a_verified_layout_and_reuses_blobs(
    client: Registry, seed: Seeded, tmp_path: Path
) -> None:
    first = client.pull(seed.repo, "docker", tmp_path / "layout")
    assert first.blobs_fetched == 3 and first.blobs_reused == 0
    for blob in seed.docker.blobs:
        path = tmp_path / "layout" / "blobs" / "sha256" / blob.digest.split(":")[1]
        assert path.read_bytes() == blob.data
    index = json.loads((tmp_path / "layout" / "index.json").read_text())
    assert index["manifests"][0]["digest"] == seed.docker.digest
    assert index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"] == "docker"
    # A truncated blob is not trusted: it is fetched again.
    victim = tmp_path / "layout" / "blobs" / "sha256" / seed.docker.blobs[2].digest.split(":")[1]
    victim.write_bytes(victim.read_bytes()[:10])
    again = client.pull(seed.repo, "docker", tmp_path / "layout")
    assert again.blobs_fetched == 1 and again.blobs_reused == 2
    assert victim.read_bytes() == seed.docker.blobs[2].data


def test_pull_index_all_platforms_and_one(client: Registry, seed: Seeded, tmp_path: Path) -> None:
    result = client.pull(seed.repo, "index", tmp_path / "all")
    assert str(result.descriptor.digest) == seed.index.digest
    for child in seed.index.children:
        assert (tmp_path / "all" / "blobs" / "sha256" / child.digest.split(":")[1]).is_file()
    one = client.pull(seed.repo, "index", tmp_path / "one", platform="linux/arm/v7")
    assert str(one.descriptor.digest) == seed.index.children[2].digest


def test_tag_and_rmtag(client: Registry, seed: Seeded, registry: RegistryInstance) -> None:
    other = f"copies/{registry.setup}-{type(client.transport).__name__.lower()}"
    # Across repositories: blobs are mounted, then the manifest is PUT as its bytes.
    assert str(client.tag(seed.repo, "docker", other, "moved")) == seed.docker.digest
    assert client.manifest(other, "moved").body == seed.docker.manifest
    # Within a repository: only the manifest.
    assert str(client.tag(other, "moved", other, "again")) == seed.docker.digest
    assert set(client.tags(other).tags) == {"moved", "again"}
    removed = client.rmtag(other, "moved")
    assert str(removed) == seed.docker.digest
    with pytest.raises(ocireg.ManifestUnknown):
        client.manifest(other, "moved")
    with pytest.raises(ocireg.ManifestUnknown):
        client.manifest(other, "again")  # deleting by digest removes every tag of it


def test_raw_request(client: Registry, seed: Seeded) -> None:
    response = client.request(
        "GET", f"/v2/{seed.repo}/tags/list", scopes=(ocireg.Scope.pull(seed.repo),)
    )
    assert response.status == 200
    assert set(json.loads(response.body)["tags"]) >= seed.tags


def test_delete_blob(client: Registry, registry: RegistryInstance) -> None:
    data = b"a blob to delete " + registry.setup.encode()
    pushed = client.push_blob("trash/blobs", data)
    assert client.blob_size("trash/blobs", pushed.descriptor.digest) == len(data)
    client.delete_blob("trash/blobs", pushed.descriptor.digest)
    with pytest.raises(ocireg.BlobUnknown):
        client.blob_size("trash/blobs", pushed.descriptor.digest)


def test_corrupted_blob_fails_verification_and_leaves_no_file(
    client: Registry, registry: RegistryInstance, tmp_path: Path
) -> None:
    data = b"soon to be corrupted " * 100 + registry.setup.encode() + client.transport.__class__.__name__.encode()
    pushed = client.push_blob("corrupt/me", data)
    stored = registry.blob_data_path(str(pushed.descriptor.digest))
    stored.write_bytes(b"X" + stored.read_bytes()[1:])
    out = tmp_path / "blob"
    with pytest.raises(ocireg.DigestMismatch):
        client.blob("corrupt/me", pushed.descriptor.digest, out)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ocireg.DigestMismatch):
        client.blob("corrupt/me", pushed.descriptor.digest)


@pytest.mark.parametrize("setup", ["basic", "token"])
def test_wrong_password(setup: str, request: pytest.FixtureRequest, transport_name: str) -> None:
    instance: RegistryInstance = request.getfixturevalue(f"registry_{setup}")
    with Registry(instance.url, username="writer", password="wrong",
                  transport=make_transport(transport_name)) as c:  # type: ignore[arg-type]
        with pytest.raises((ocireg.Unauthorized, ocireg.AuthenticationError)) as info:
            c.tags("seed/app")
        assert "wrong" not in str(info.value)
        c.transport.close()


class RecordingProgress:
    """A Progress that remembers what it was told."""

    def __init__(self) -> None:
        self.totals: dict[str, int | None] = {}
        self.moved: dict[str, int] = {}
        self.finished: list[str] = []

    def start(self, key: str, total: int | None, done: int) -> None:
        self.totals[key] = total
        self.moved.setdefault(key, done)

    def advance(self, key: str, n: int) -> None:
        self.moved[key] += n

    def finish(self, key: str) -> None:
        self.finished.append(key)

    def close(self) -> None:
        pass


def test_progress_reports_every_blob_byte_of_pull_and_push(
    registry: RegistryInstance, transport_name: str, seed: Seeded, tmp_path: Path
) -> None:
    progress = RecordingProgress()
    creds = registry.writer.creds if registry.auth_required else (None, None)
    with Registry(registry.url, username=creds[0], password=creds[1], progress=progress,
                  transport=make_transport(transport_name)) as c:  # type: ignore[arg-type]
        try:
            c.pull(seed.repo, "docker", tmp_path / "layout")
            expected = {blob.digest: len(blob.data) for blob in seed.docker.blobs}
            assert progress.moved == expected and progress.totals == expected
            assert sorted(progress.finished) == sorted(expected)
            data = b"progress " * 1000 + transport_name.encode()
            pushed = c.push_blob(f"progress/{registry.setup}-{transport_name}", data)
            assert progress.moved[str(pushed.descriptor.digest)] == len(data)
        finally:
            c.transport.close()
