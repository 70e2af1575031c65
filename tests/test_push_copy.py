"""Push, copy, cross-repository mount, chunked upload and referrers against real registries.

Every test runs over both transports, against the no-auth and the token set-ups
(where authentication changes the requests: mounts widen the token scope to pull on
the source repository).  What the client claims is checked against the registry's
own access log: mounts answered 201, blob PUT/PATCH requests that did or did not
happen, upload sessions cancelled with DELETE.  Content is seeded by raw uploads
(test_registry.seeded); each test writes to repositories of its own.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

import ocireg
from conftest import open_client
from images import ImageContent, oci_image, oci_index
from ocireg import Digest, Registry
from ocireg._layout import OCILayout
from ocireg._manifest import Descriptor
from ocireg._sources import LayoutSource
from ocireg._upload import push_blob
from registry_bed import AccessLogEntry, RegistryInstance
from test_registry import seeded

SBOM = "application/spdx+json"
SIGNATURE = "application/vnd.dev.cosign.artifact.sig.v1+json"


# --- fixtures and helpers ------------------------------------------------------------


@pytest.fixture
def dest(second_registry: RegistryInstance, transport_name: str) -> Iterator[Registry]:
    c = open_client(second_registry, transport_name)
    try:
        yield c
    finally:
        c.transport.close()


def fresh_repo(kind: str) -> str:
    """A repository no other test (or earlier run in this session) has written to."""
    return f"{kind}/r{uuid.uuid4().hex[:12]}"


class LogWindow:
    """The access-log entries of one registry written after this window was opened."""

    def __init__(self, instance: RegistryInstance) -> None:
        self.instance = instance
        self.start = len(instance.access_log_lines())

    def entries(self) -> list[AccessLogEntry]:
        return self.instance.access_log_lines()[self.start:]


def blob_writes(entries: Iterable[AccessLogEntry], repo: str) -> list[AccessLogEntry]:
    """Requests that send blob bytes into ``repo`` (monolithic PUT or chunk PATCH)."""
    prefix = f"/v2/{repo}/blobs/uploads/"
    return [e for e in entries if e.method in ("PUT", "PATCH") and e.path.startswith(prefix)]


def upload_starts(entries: Iterable[AccessLogEntry], repo: str) -> list[AccessLogEntry]:
    prefix = f"/v2/{repo}/blobs/uploads/"
    return [e for e in entries if e.method == "POST" and e.path.startswith(prefix)]


def mounts(entries: Iterable[AccessLogEntry], repo: str) -> list[AccessLogEntry]:
    return [e for e in upload_starts(entries, repo) if "mount=" in e.path and e.status == 201]


def layout_blob(layout: Path, digest: str | Digest) -> bytes:
    algorithm, encoded = str(digest).split(":")
    return (layout / "blobs" / algorithm / encoded).read_bytes()


def layout_blobs(layout: Path) -> dict[str, bytes]:
    return {f"sha256:{p.name}": p.read_bytes() for p in (layout / "blobs" / "sha256").iterdir()}


def write_layout(path: Path, image: ImageContent, name: str) -> OCILayout:
    """An OCI layout written with OCILayout directly (not by a pull)."""
    layout = OCILayout.create(path)
    for child in image.children:
        for blob in child.blobs:
            layout.write_blob(Digest.parse(blob.digest), [blob.data], blob.size)
        layout.write_blob(Digest.parse(child.digest), [child.manifest], child.size)
    for blob in image.blobs:
        layout.write_blob(Digest.parse(blob.digest), [blob.data], blob.size)
    layout.write_blob(Digest.parse(image.digest), [image.manifest], image.size)
    layout.add_ref(Descriptor(media_type=image.media_type, digest=Digest.parse(image.digest),
                              size=image.size), name)
    return layout


def assert_same_image(a: Registry, repo_a: str, b: Registry, repo_b: str, ref_b: str,
                      image: ImageContent) -> None:
    """``b``'s ``repo_b:ref_b`` is ``image`` byte for byte, children and blobs included."""
    result = b.manifest(repo_b, ref_b)
    assert result.body == image.manifest
    assert str(result.digest) == image.digest
    assert result.media_type == image.media_type
    for child in image.children:
        assert b.manifest(repo_b, child.digest).body == child.manifest
    for blob in image.all_blobs():
        assert b.blob(repo_b, blob.digest) == blob.data


# --- push from an OCI layout ---------------------------------------------------------


@pytest.mark.parametrize("tag", ["docker", "oci"])
def test_push_of_a_pulled_layout_pulls_back_identical(
    client: Registry, reg: RegistryInstance, tmp_path: Path, tag: str
) -> None:
    seed = seeded(reg)
    image = seed.docker if tag == "docker" else seed.oci
    client.pull(seed.repo, tag, tmp_path / "first")
    repo = fresh_repo("push/layout")
    pushed = client.push(tmp_path / "first", repo, "pushed")
    assert str(pushed.digest) == image.digest
    assert pushed.media_type == image.media_type
    again = client.pull(repo, "pushed", tmp_path / "again")
    assert str(again.descriptor.digest) == image.digest
    assert layout_blobs(tmp_path / "again") == layout_blobs(tmp_path / "first")
    assert layout_blob(tmp_path / "again", image.digest) == image.manifest
    for blob in image.blobs:
        assert layout_blob(tmp_path / "again", blob.digest) == blob.data


def test_push_of_a_written_index_layout_sends_children_first(
    client: Registry, reg: RegistryInstance, tmp_path: Path
) -> None:
    image = oci_index((300,), annotations={"org.opencontainers.image.version": "1.2.3"})
    layout = write_layout(tmp_path / "written", image, "v1")
    repo = fresh_repo("push/index")
    window = LogWindow(reg)
    pushed = client.push(layout, repo)  # tag defaults to the layout's ref name
    assert str(pushed.digest) == image.digest
    assert_same_image(client, repo, client, repo, "v1", image)
    assert client.tags(repo).tags == ("v1",)
    puts = [e.path for e in window.entries()
            if e.method == "PUT" and e.status == 201 and "/manifests/" in e.path]
    child_puts = [puts.index(f"/v2/{repo}/manifests/{c.digest}") for c in image.children]
    # Every child is in the registry before the index that lists it.
    assert max(child_puts) < puts.index(f"/v2/{repo}/manifests/v1")
    back = client.pull(repo, "v1", tmp_path / "back")
    assert str(back.descriptor.digest) == image.digest
    assert layout_blobs(tmp_path / "back") == layout_blobs(tmp_path / "written")


def test_push_again_sends_no_blob_bytes(client: Registry, reg: RegistryInstance, tmp_path: Path) -> None:
    image = oci_image((2000, 3000))
    write_layout(tmp_path / "l", image, "one")
    repo = fresh_repo("push/twice")
    client.push(tmp_path / "l", repo, "one")
    window = LogWindow(reg)
    client.push(tmp_path / "l", repo, "two")
    assert blob_writes(window.entries(), repo) == []
    assert upload_starts(window.entries(), repo) == []
    assert str(client.manifest_digest(repo, "two")) == image.digest


# --- copy within one registry: mounts only --------------------------------------------


@pytest.mark.parametrize("tag", ["docker", "index"])
def test_copy_within_a_registry_mounts_every_blob(
    client: Registry, reg: RegistryInstance, tag: str
) -> None:
    seed = seeded(reg)
    image = seed.docker if tag == "docker" else seed.index
    repo = fresh_repo("copy/same")
    window = LogWindow(reg)
    result = client.copy(seed.repo, tag, client, repo, "copied")
    entries = window.entries()
    assert str(result.descriptor.digest) == image.digest
    assert result.digest_changed is False
    mounted = {e.path for e in mounts(entries, repo)}
    assert len(mounted) == len(image.all_blobs())
    for blob in image.all_blobs():
        assert any(blob.digest.replace(":", "%3A") in path or blob.digest in path for path in mounted)
    assert blob_writes(entries, repo) == []
    # No byte left the source repository either.
    assert [e for e in entries if e.method == "GET" and "/blobs/" in e.path] == []
    assert_same_image(client, seed.repo, client, repo, "copied", image)


def test_copy_to_the_same_registry_by_url_or_none_also_mounts(
    client: Registry, reg: RegistryInstance
) -> None:
    seed = seeded(reg)
    repo = fresh_repo("copy/none")
    window = LogWindow(reg)
    client.copy(seed.repo, "oci", None, repo, "a")
    assert len(mounts(window.entries(), repo)) == len(seed.oci.blobs)
    assert blob_writes(window.entries(), repo) == []
    assert client.manifest(repo, "a").body == seed.oci.manifest


# --- copy across two registries ------------------------------------------------------


@pytest.mark.parametrize("tag", ["docker", "oci", "list"])
def test_copy_across_registries_is_byte_identical(
    client: Registry, reg: RegistryInstance, dest: Registry, second_registry: RegistryInstance, tag: str
) -> None:
    seed = seeded(reg)
    image = {"docker": seed.docker, "oci": seed.oci, "list": seed.manifest_list}[tag]
    repo = fresh_repo("copy/across")
    window = LogWindow(second_registry)
    result = client.copy(seed.repo, tag, dest, repo, "copied")
    assert str(result.descriptor.digest) == image.digest
    assert result.digest_changed is False
    assert_same_image(client, seed.repo, dest, repo, "copied", image)
    # Each blob was uploaded once; no mount was tried on another registry.
    assert len(upload_starts(window.entries(), repo)) == len(image.all_blobs())
    assert not any("mount=" in e.path for e in window.entries())


def test_copy_across_registries_streams_blobs_above_the_chunking_threshold(
    client: Registry, reg: RegistryInstance, dest: Registry, second_registry: RegistryInstance,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Blobs over the threshold are chunked from a layout; a blob streamed from another
    # registry cannot be re-read at an offset, so it must still go in one PUT.
    monkeypatch.setattr("ocireg._image.MONOLITHIC_LIMIT", 1024)
    seed = seeded(reg)
    repo = fresh_repo("copy/large")
    window = LogWindow(second_registry)
    result = client.copy(seed.repo, "docker", dest, repo, "big")
    assert str(result.descriptor.digest) == seed.docker.digest
    assert_same_image(client, seed.repo, dest, repo, "big", seed.docker)
    assert not [e for e in window.entries() if e.method == "PATCH"]


def test_copy_across_registries_given_as_url(
    client: Registry, reg: RegistryInstance, dest: Registry, second_registry: RegistryInstance
) -> None:
    seed = seeded(reg)
    repo = fresh_repo("copy/url")
    result = client.copy(seed.repo, "oci", second_registry.url, repo, "t")
    assert str(result.descriptor.digest) == seed.oci.digest
    assert_same_image(client, seed.repo, dest, repo, "t", seed.oci)


def test_copy_of_an_index_brings_every_child_and_skips_what_is_there(
    client: Registry, reg: RegistryInstance, dest: Registry, second_registry: RegistryInstance
) -> None:
    seed = seeded(reg)
    repo = fresh_repo("copy/index")
    result = client.copy(seed.repo, "index", dest, repo, "all")
    assert str(result.descriptor.digest) == seed.index.digest
    assert_same_image(client, seed.repo, dest, repo, "all", seed.index)
    # Copying again moves no blob bytes: every blob is found by HEAD at the destination.
    source_window, dest_window = LogWindow(reg), LogWindow(second_registry)
    again = client.copy(seed.repo, "index", dest, repo, "again")
    assert again.descriptor.digest == result.descriptor.digest
    assert blob_writes(dest_window.entries(), repo) == []
    assert upload_starts(dest_window.entries(), repo) == []
    assert [e for e in source_window.entries() if e.method == "GET" and "/blobs/" in e.path] == []
    assert str(dest.manifest_digest(repo, "again")) == seed.index.digest


def test_copy_of_one_platform_copies_that_child_and_keeps_its_digest(
    client: Registry, reg: RegistryInstance, dest: Registry, second_registry: RegistryInstance
) -> None:
    # As skopeo and crane do: no new one-entry index, the child manifest itself.
    seed = seeded(reg)
    arm = seed.index.children[1]  # linux/arm64/v8
    repo = fresh_repo("copy/one-platform")
    window = LogWindow(second_registry)
    result = client.copy(seed.repo, "index", dest, repo, "arm64", platforms=["linux/arm64"])
    assert result.digest_changed is False and result.platform_child is True
    assert str(result.descriptor.digest) == arm.digest
    served = dest.manifest(repo, "arm64")
    assert str(served.digest) == arm.digest
    assert served.body == arm.manifest
    # Only that child's blobs travelled; the index and the other platforms are absent.
    assert len(upload_starts(window.entries(), repo)) == len(arm.blobs)
    for other in (seed.index.digest, *(c.digest for c in seed.index.children if c.digest != arm.digest)):
        with pytest.raises(ocireg.ManifestUnknown):
            dest.manifest(repo, other)


def test_copy_filtered_to_several_platforms_makes_a_new_index(
    client: Registry, reg: RegistryInstance, dest: Registry, second_registry: RegistryInstance
) -> None:
    seed = seeded(reg)
    kept = seed.index.children[:2]
    repo = fresh_repo("copy/filtered")
    window = LogWindow(second_registry)
    wanted = [f"{c.platform['os']}/{c.platform['architecture']}" + (f"/{c.platform['variant']}" if c.platform.get("variant") else "")
              for c in kept if c.platform is not None]
    result = client.copy(seed.repo, "index", dest, repo, "two", platforms=wanted)
    assert result.digest_changed is True and result.platform_child is False
    assert str(result.descriptor.digest) != seed.index.digest
    served = dest.manifest(repo, "two")
    assert served.digest == result.descriptor.digest
    assert isinstance(served.document, ocireg.Index)
    assert [str(d.digest) for d in served.document.manifests] == [c.digest for c in kept]
    for child in kept:
        assert dest.manifest(repo, child.digest).body == child.manifest
    assert len(upload_starts(window.entries(), repo)) == len({b.digest for c in kept for b in c.blobs})
    for other in seed.index.children[2:]:
        with pytest.raises(ocireg.ManifestUnknown):
            dest.manifest(repo, other.digest)


# --- chunked upload ------------------------------------------------------------------


def bytes_source(data: bytes, fail_at: int | None = None) -> ocireg._upload.BlobSource:
    """A BlobSource over ``data``; with ``fail_at``, reading past that offset fails like a disk."""
    view = memoryview(data)

    def source(offset: int, length: int) -> Iterator[memoryview]:
        for start in range(offset, offset + length, 4096):
            if fail_at is not None and start >= fail_at:
                raise OSError(5, "Input/output error")
            yield view[start:min(start + 4096, offset + length)]

    return source


def test_chunked_upload_of_a_blob_larger_than_the_chunk_size(
    client: Registry, reg: RegistryInstance
) -> None:
    data = uuid.uuid4().bytes * 6000  # 96000 bytes: 6 chunks of 16 KiB
    descriptor = Descriptor.of(data, "application/octet-stream")
    repo = fresh_repo("upload/chunked")
    window = LogWindow(reg)
    pushed = client.run(push_blob, repo, descriptor, bytes_source(data),
                        chunk_size=16 << 10, monolithic_limit=8 << 10)
    assert pushed.how == "uploaded"
    patches = [e for e in window.entries() if e.method == "PATCH" and e.status == 202]
    assert len(patches) == 6
    assert all(e.path.startswith(f"/v2/{repo}/blobs/uploads/") for e in patches)
    commits = [e for e in blob_writes(window.entries(), repo) if e.method == "PUT"]
    assert [e.status for e in commits] == [201]
    assert client.blob(repo, descriptor.digest) == data
    assert client.blob_size(repo, descriptor.digest) == len(data)


def test_small_blob_goes_up_in_one_put(client: Registry, reg: RegistryInstance) -> None:
    data = b"small blob " + uuid.uuid4().bytes
    repo = fresh_repo("upload/mono")
    window = LogWindow(reg)
    pushed = client.push_blob(repo, data)
    assert pushed.how == "uploaded"
    writes = blob_writes(window.entries(), repo)
    assert [(e.method, e.status) for e in writes] == [("PUT", 201)]
    assert client.push_blob(repo, data).how == "exists"
    assert client.blob(repo, pushed.descriptor.digest) == data


def test_push_blob_from_a_file_mounts_from_a_given_repository(
    client: Registry, reg: RegistryInstance, tmp_path: Path
) -> None:
    path = tmp_path / "blob.bin"
    path.write_bytes(uuid.uuid4().bytes * 1000)
    first, second = fresh_repo("upload/file"), fresh_repo("upload/file")
    assert client.push_blob(first, path).how == "uploaded"
    window = LogWindow(reg)
    pushed = client.push_blob(second, path, mount_from=first)
    assert pushed.how == "mounted"
    assert len(mounts(window.entries(), second)) == 1
    assert blob_writes(window.entries(), second) == []
    assert client.blob(second, pushed.descriptor.digest) == path.read_bytes()


# --- interrupted uploads leave nothing behind ---------------------------------------


def cancelled(entries: Iterable[AccessLogEntry], repo: str) -> list[AccessLogEntry]:
    """The DELETE requests that cancelled an upload session of ``repo`` (token challenges aside).

    Any answer counts: after a request aborted mid-body, distribution 2.8.2 holds more
    bytes than the upload state in the client's Location says, refuses the DELETE with
    404 BLOB_UPLOAD_INVALID ("upload resumed at wrong offset") and leaves the session for
    its upload purger.  The client's duty is to ask; what stays invisible either way is
    the blob itself, checked separately.
    """
    prefix = f"/v2/{repo}/blobs/uploads/"
    return [e for e in entries if e.method == "DELETE" and e.path.startswith(prefix) and e.status != 401]


def test_source_failing_midway_cancels_the_chunked_upload(
    client: Registry, reg: RegistryInstance
) -> None:
    data = uuid.uuid4().bytes * 6000
    descriptor = Descriptor.of(data, "application/octet-stream")
    repo = fresh_repo("upload/broken")
    window = LogWindow(reg)
    with pytest.raises(ocireg.RegistryError):
        client.run(push_blob, repo, descriptor, bytes_source(data, fail_at=40000),
                   chunk_size=16 << 10, monolithic_limit=8 << 10)
    assert len(cancelled(window.entries(), repo)) == 1
    with pytest.raises(ocireg.BlobUnknown):
        client.blob_size(repo, descriptor.digest)


@pytest.mark.parametrize("chunked", [False, True], ids=["one PUT", "chunks"])
def test_wrong_digest_is_refused_and_the_upload_cancelled(
    client: Registry, reg: RegistryInstance, chunked: bool
) -> None:
    data = b"these bytes do not hash to the digest given " + uuid.uuid4().bytes * 3000
    wrong = Digest.of(b"something else")
    repo = fresh_repo("upload/wrong")
    window = LogWindow(reg)
    # In chunks, the registry finds the digest wrong at the closing PUT; the error is
    # still the one a single PUT gives, not the registry's 400 DIGEST_INVALID.
    limits = {"chunk_size": 16 << 10, "monolithic_limit": 8 << 10} if chunked else {}
    with pytest.raises(ocireg.DigestMismatch):
        client.push_blob(repo, data, digest=wrong, **limits)
    patches = [e for e in window.entries() if e.method == "PATCH" and e.path.startswith(f"/v2/{repo}/")]
    assert len(patches) == (3 if chunked else 0)
    assert len(cancelled(window.entries(), repo)) == 1
    with pytest.raises(ocireg.BlobUnknown):
        client.blob_size(repo, wrong)


@pytest.mark.parametrize("damage", ["corrupted", "truncated"])
def test_push_of_a_damaged_layout_tags_nothing(
    client: Registry, reg: RegistryInstance, tmp_path: Path, damage: str
) -> None:
    image = oci_image((5000, 7000))
    write_layout(tmp_path / "l", image, "latest")
    victim = tmp_path / "l" / "blobs" / "sha256" / image.blobs[2].digest.split(":")[1]
    original = victim.read_bytes()
    victim.write_bytes(b"X" + original[1:] if damage == "corrupted" else original[:3000])
    repo = fresh_repo("push/damaged")
    window = LogWindow(reg)
    # The layout's own fault is reported, naming the file, not what the transport
    # made of the aborted body nor the registry's digest check.
    with pytest.raises(ocireg.InvalidLayout, match=str(victim)):
        client.push(tmp_path / "l", repo, "latest")
    entries = window.entries()
    if damage == "truncated":  # found by its size before any upload starts
        assert upload_starts(entries, repo) == []
    else:
        # Found as it streams: blobs go up at once, so every upload still open then
        # (its own, and siblings' cut short) is cancelled; none is left behind.
        started = [e for e in upload_starts(entries, repo) if e.status == 202]
        committed = [e for e in entries if e.method == "PUT" and "/blobs/uploads/" in e.path and e.status == 201]
        assert len(cancelled(entries, repo)) == len(started) - len(committed) >= 1
    assert [e for e in entries if e.method == "PUT" and "/manifests/" in e.path] == []
    with pytest.raises(ocireg.NotFound):
        client.manifest(repo, "latest")
    with pytest.raises(ocireg.BlobUnknown):
        client.blob_size(repo, image.blobs[2].digest)


# --- blobs sent from their files (sendfile) ------------------------------------------------

SENDS_FILES = {"h11": True, "stdlib": True, "urllib3": False}
"""Which transports send a layout's blobs with socket.sendfile over plain HTTP."""


@pytest.fixture
def sendfile_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """(inode of the file, bytes sent) for every socket.sendfile call."""
    calls: list[tuple[int, int]] = []
    original = socket.socket.sendfile

    def spy(self: socket.socket, file: Any, offset: int = 0, count: int | None = None) -> int:
        sent = original(self, file, offset, count)
        calls.append((os.fstat(file.fileno()).st_ino, sent))
        return sent

    monkeypatch.setattr(socket.socket, "sendfile", spy)
    return calls


def test_push_from_a_layout_sends_its_blobs_from_their_files(
    client: Registry, tmp_path: Path, transport_name: str, sendfile_calls: list[tuple[int, int]]
) -> None:
    image = oci_image((3 << 20, 5000), gzipped=False)
    layout = write_layout(tmp_path / "l", image, "latest")
    repo = fresh_repo("push/sendfile")
    client.push(layout, repo, "latest")
    assert_same_image(client, repo, client, repo, "latest", image)
    if SENDS_FILES[transport_name]:  # every blob byte, and no other
        assert sum(sent for _, sent in sendfile_calls) == sum(blob.size for blob in image.blobs)
    else:
        assert sendfile_calls == []
    # A chunked upload sends each chunk's range from the file too.
    sendfile_calls.clear()
    layer = image.blobs[1]
    descriptor = Descriptor(layer.media_type, Digest.parse(layer.digest), layer.size)
    chunked = fresh_repo("push/sendfile-chunks")
    client.run(push_blob, chunked, descriptor, LayoutSource(layout).ranges(descriptor),
               chunk_size=1 << 20, monolithic_limit=1 << 20)
    assert client.blob(chunked, layer.digest) == layer.data
    assert sum(sent for _, sent in sendfile_calls) == (layer.size if SENDS_FILES[transport_name] else 0)


def test_a_corrupt_layout_blob_sent_from_its_file_never_reaches_the_registry_whole(
    client: Registry, tmp_path: Path, transport_name: str, sendfile_calls: list[tuple[int, int]]
) -> None:
    image = oci_image((3 << 20,), gzipped=False)
    write_layout(tmp_path / "l", image, "latest")
    layer = image.blobs[1]
    victim = tmp_path / "l" / "blobs" / "sha256" / layer.digest.split(":")[1]
    damaged = bytearray(victim.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    victim.write_bytes(damaged)
    repo = fresh_repo("push/sendfile-corrupt")
    with pytest.raises(ocireg.InvalidLayout, match=str(victim)):
        client.push(tmp_path / "l", repo, "latest")
    sent = sum(n for inode, n in sendfile_calls if inode == victim.stat().st_ino)
    if SENDS_FILES[transport_name]:  # most of it went by sendfile, the end was held back
        assert layer.size // 2 < sent < layer.size
    with pytest.raises(ocireg.BlobUnknown):
        client.blob_size(repo, layer.digest)


def test_a_corrupt_layout_blob_sent_in_chunks_is_invalid_layout(
    client: Registry, reg: RegistryInstance, tmp_path: Path
) -> None:
    # Chunks go unhashed: the registry refuses the closing PUT, and the layout is then
    # read once more to say whose fault it is, naming the file.
    image = oci_image((3 << 20,), gzipped=False)
    layout = write_layout(tmp_path / "l", image, "latest")
    layer = image.blobs[1]
    victim = tmp_path / "l" / "blobs" / "sha256" / layer.digest.split(":")[1]
    damaged = bytearray(victim.read_bytes())
    damaged[-1] ^= 0xFF
    victim.write_bytes(damaged)
    descriptor = Descriptor(layer.media_type, Digest.parse(layer.digest), layer.size)
    repo = fresh_repo("push/chunks-corrupt")
    window = LogWindow(reg)
    with pytest.raises(ocireg.InvalidLayout, match=str(victim)):
        client.run(push_blob, repo, descriptor, LayoutSource(layout).ranges(descriptor),
                   chunk_size=1 << 20, monolithic_limit=1 << 20)
    entries = window.entries()
    refused = [e for e in entries if e.method == "PUT" and "/blobs/uploads/" in e.path]
    assert [e.status for e in refused] == [400]  # every chunk went; the registry's check refused them
    assert len(cancelled(entries, repo)) == 1
    with pytest.raises(ocireg.BlobUnknown):
        client.blob_size(repo, layer.digest)


# --- referrers -------------------------------------------------------------------------


def push_image(client: Registry, repo: str, image: ImageContent, reference: str) -> Digest:
    for blob in image.blobs:
        client.push_blob(repo, blob.data, blob.digest, media_type=blob.media_type)
    return client.push_manifest(repo, reference, image.manifest, image.media_type)


def test_referrers_listed_filtered_and_copied(
    client: Registry, reg: RegistryInstance, dest: Registry
) -> None:
    repo = fresh_repo("refs/app")
    image = oci_image((1500,))
    push_image(client, repo, image, "v1")
    assert client.referrers(repo, image.digest) == ()
    sbom = oci_image((200,), subject=image, artifact_type=SBOM,
                     annotations={"org.opencontainers.image.created": "2026-11-26T00:00:00Z"})
    signature = oci_image((100,), subject=image, artifact_type=SIGNATURE)
    assert str(push_image(client, repo, sbom, sbom.digest)) == sbom.digest
    assert str(push_image(client, repo, signature, signature.digest)) == signature.digest
    # Pushing the same referrer again does not list it twice.
    push_image(client, repo, sbom, sbom.digest)

    found = client.referrers(repo, image.digest)
    assert sorted(str(d.digest) for d in found) == sorted([sbom.digest, signature.digest])
    by_digest = {str(d.digest): d for d in found}
    assert by_digest[sbom.digest].artifact_type == SBOM
    assert by_digest[sbom.digest].size == sbom.size
    assert dict(by_digest[sbom.digest].annotations) == {
        "org.opencontainers.image.created": "2026-11-26T00:00:00Z"}
    assert [str(d.digest) for d in client.referrers(repo, image.digest, artifact_type=SBOM)] == [sbom.digest]
    assert client.referrers(repo, image.digest, artifact_type="application/x-none") == ()
    # distribution 2.8.2 has no referrers API: the list lives in the tag schema index.
    schema = client.manifest(repo, Digest.parse(image.digest).tag_form)
    assert isinstance(schema.document, ocireg.Index)

    for target, name in ((client, "same"), (dest, "other")):
        dest_repo = fresh_repo(f"refs/{name}")
        result = client.copy(repo, "v1", target, dest_repo, "v1", referrers=True)
        assert sorted(str(d.digest) for d in result.referrers) == sorted([sbom.digest, signature.digest])
        copied = target.referrers(dest_repo, image.digest)
        assert sorted(str(d.digest) for d in copied) == sorted([sbom.digest, signature.digest])
        assert target.manifest(dest_repo, sbom.digest).body == sbom.manifest
        assert target.blob(dest_repo, sbom.blobs[1].digest) == sbom.blobs[1].data
        plain = fresh_repo(f"refs/{name}")
        assert client.copy(repo, "v1", target, plain, "v1").referrers == ()
        assert target.referrers(plain, image.digest) == ()
