"""OCI image layouts from strangers, and layouts shared with other tools.

Unit tests on :class:`~ocireg.OCILayout` itself, then the same faults through
``Registry.push`` and ``Registry.pull`` against the real registry (no auth), over
both transports.
"""

from __future__ import annotations

import json
import os
import threading
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import ocireg
from conftest import make_transport
from images import oci_image, push_raw
from ocireg import Digest, InvalidLayout, OCILayout, Registry
from ocireg._layout import INDEX_LIMIT, MAX_DEPTH, REF_NAME, STALE_PART_AGE
from ocireg._manifest import Descriptor, Index, Manifest
from ocireg._media import OCI_CONFIG, OCI_INDEX, OCI_LAYER_TAR_GZIP, OCI_MANIFEST
from registry_bed import RegistryInstance

SECRET = b"SECRET=do-not-upload\n"


def image_in(layout: OCILayout, layer: bytes = b"layer bytes", name: str | None = "v1") -> Manifest:
    """Write a one-layer image into ``layout`` (listed under ``name`` when given)."""
    config = b'{"architecture":"amd64","os":"linux"}'
    layout.write_blob(Digest.of(config), [config])
    layout.write_blob(Digest.of(layer), [layer])
    manifest = Manifest.build(
        Descriptor.of(config, OCI_CONFIG), [Descriptor.of(layer, OCI_LAYER_TAR_GZIP)]
    )
    layout.write_blob(manifest.digest, [manifest.raw])
    if name is not None:
        layout.add_ref(Descriptor.of(manifest.raw, OCI_MANIFEST), name)
    return manifest


def descriptor(doc: Manifest | Index) -> Descriptor:
    return Descriptor(doc.media_type, doc.digest, len(doc.raw))


def index_json(layout: OCILayout) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((layout.path / "index.json").read_text())
    return data


@pytest.fixture
def layout(tmp_path: Path) -> OCILayout:
    return OCILayout.create(tmp_path / "layout")


# --- links and special files are never followed ------------------------------------------


def test_a_symlinked_blob_is_never_read(layout: OCILayout, tmp_path: Path) -> None:
    manifest = image_in(layout)
    layer = manifest.layers[0]
    outside = tmp_path / "environ"
    outside.write_bytes(SECRET)
    path = layout.blob_path(layer.digest)
    path.unlink()
    path.symlink_to(outside)
    for read in (
        lambda: layout.read_blob(layer.digest),
        lambda: b"".join(layout.iter_blob(layer.digest)),
        lambda: layout.resolve("v1"),
        lambda: layout.check(descriptor(manifest), digests=True),
    ):
        with pytest.raises(InvalidLayout, match="symbolic link"):
            read()
    assert not layout.has_blob(layer.digest)


@pytest.mark.parametrize("link", ["blobs", "blobs/sha256"])
def test_a_symlinked_directory_on_the_way_is_never_followed(
    layout: OCILayout, tmp_path: Path, link: str
) -> None:
    manifest = image_in(layout)
    real = layout.path / link
    moved = tmp_path / "elsewhere"
    real.rename(moved)
    real.symlink_to(moved)
    with pytest.raises(InvalidLayout, match="symbolic link"):
        layout.read_blob(manifest.digest)
    with pytest.raises(InvalidLayout, match="symbolic link"):
        layout.write_blob(Digest.of(b"new"), [b"new"])
    assert not (moved / "sha256" / Digest.of(b"new").encoded).exists()
    assert not any(p.name == Digest.of(b"new").encoded for p in moved.rglob("*"))


@pytest.mark.parametrize("name", ["index.json", "oci-layout"])
def test_symlinked_index_or_marker_is_refused(layout: OCILayout, tmp_path: Path, name: str) -> None:
    real = layout.path / name
    copy = tmp_path / name
    copy.write_bytes(real.read_bytes())
    real.unlink()
    real.symlink_to(copy)
    with pytest.raises(InvalidLayout, match="symbolic link"):
        layout.manifests()


def test_a_fifo_planted_as_a_blob_is_refused_without_blocking(layout: OCILayout) -> None:
    manifest = image_in(layout)
    path = layout.blob_path(manifest.layers[0].digest)
    path.unlink()
    os.mkfifo(path)
    with pytest.raises(InvalidLayout, match="not a regular file"):
        layout.resolve("v1")
    assert not layout.has_blob(manifest.layers[0].digest)


# --- caps before reads --------------------------------------------------------------------


@pytest.mark.parametrize(("name", "size"), [("index.json", INDEX_LIMIT + 1), ("oci-layout", 5000)])
def test_oversized_index_or_marker_is_refused_before_it_is_read(
    layout: OCILayout, name: str, size: int
) -> None:
    with (layout.path / name).open("r+b") as f:
        f.truncate(size)  # sparse: the size says it all
    tracemalloc.start()
    try:
        with pytest.raises(InvalidLayout, match="limit"):
            layout.manifests()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20  # nothing near the file's size was read


def test_an_oversized_manifest_blob_is_refused_before_it_is_read(layout: OCILayout) -> None:
    big = b"x" * (5 << 20)
    layout.write_blob(Digest.of(big), [big])
    tracemalloc.start()
    try:
        with pytest.raises(InvalidLayout, match="limit"):
            layout.read_blob(Digest.of(big))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


# --- trees: depth, sizes, content -----------------------------------------------------------


def nested(layout: OCILayout, depth: int) -> Index:
    """An index nested ``depth`` levels above a one-layer image."""
    inner: Manifest | Index = image_in(layout, name=None)
    for _ in range(depth):
        inner = Index.build([descriptor(inner)])
        layout.write_blob(inner.digest, [inner.raw])
    assert isinstance(inner, Index)
    return inner


def test_indexes_nested_too_deep_are_refused_not_a_recursion_error(layout: OCILayout) -> None:
    deep = nested(layout, 1000)
    with pytest.raises(InvalidLayout, match=f"nested over {MAX_DEPTH}"):
        layout.check(descriptor(deep))
    layout.add_ref(descriptor(deep), "deep")
    # Refused before any connection is tried: nothing listens on port 9.
    with Registry("http://127.0.0.1:9") as reg, pytest.raises(InvalidLayout, match=f"nested over {MAX_DEPTH}"):
        reg.push(layout.path, "team/app", "deep", ref_name="deep")


def test_nesting_up_to_the_limit_is_fine(layout: OCILayout) -> None:
    layout.check(descriptor(nested(layout, MAX_DEPTH)))


def test_a_size_in_index_json_is_checked_against_the_blob(layout: OCILayout) -> None:
    manifest = image_in(layout, name=None)
    layout.add_ref(Descriptor(OCI_MANIFEST, manifest.digest, len(manifest.raw) + 7), "lying")
    with pytest.raises(InvalidLayout, match="descriptor says"):
        layout.resolve("lying")


def test_a_truncated_layer_is_found_by_its_size(layout: OCILayout) -> None:
    manifest = image_in(layout, layer=b"0123456789" * 100)
    path = layout.blob_path(manifest.layers[0].digest)
    path.write_bytes(path.read_bytes()[:10])
    with pytest.raises(InvalidLayout, match=str(path)):
        layout.resolve("v1")


def test_a_corrupt_layer_is_named_before_its_last_chunk_is_handed_over(layout: OCILayout) -> None:
    manifest = image_in(layout, layer=b"A" * 3_000_000)
    layer = manifest.layers[0]
    path = layout.blob_path(layer.digest)
    path.write_bytes(b"B" * 3_000_000)
    layout.resolve("v1")  # same size: only the content tells
    with pytest.raises(InvalidLayout, match=str(path)):
        layout.check(descriptor(manifest), digests=True)
    handed = []
    with pytest.raises(InvalidLayout, match=f"{path}: content does not match"):
        for chunk in layout.iter_blob(layer.digest, 0, layer.size):
            handed.append(chunk)
    assert sum(map(len, handed)) < layer.size
    # A chunk of a larger read cannot be judged alone, and is handed over.
    assert len(b"".join(layout.iter_blob(layer.digest, 1000, 5000))) == 5000


def test_iter_blob_refuses_a_range_past_the_end_before_any_byte(layout: OCILayout) -> None:
    manifest = image_in(layout, layer=b"short")
    with pytest.raises(InvalidLayout, match="shorter than its descriptor"):
        next(layout.iter_blob(manifest.layers[0].digest, 0, 100))


# --- index.json: lock, preservation, names ---------------------------------------------------


def test_concurrent_add_ref_keeps_every_entry(layout: OCILayout) -> None:
    manifest = image_in(layout, name=None)
    start = threading.Barrier(8)

    def writer(n: int) -> None:
        mine = OCILayout(layout.path)  # as another process would open it
        start.wait()
        for i in range(10):
            mine.add_ref(descriptor(manifest), f"w{n}-{i}")

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    names = {dict(d.annotations)[REF_NAME] for d in layout.manifests()}
    assert names == {f"w{n}-{i}" for n in range(8) for i in range(10)}


def test_rewriting_index_json_keeps_what_ocireg_does_not_model(layout: OCILayout) -> None:
    manifest = image_in(layout, name=None)
    foreign = {
        "mediaType": OCI_MANIFEST,
        "digest": str(manifest.digest),
        "size": len(manifest.raw),
        "annotations": {REF_NAME: "theirs", "org.example.note": "kept"},
        "artifactType": "application/vnd.example+type",
        "data": "e30=",
        "x-unknown": {"nested": [1, 2, 3]},
        "platform": {"os": "linux", "architecture": "amd64", "os.features": ["gpu"]},
    }
    document = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "artifactType": "application/vnd.example.index",
        "manifests": [foreign],
        "subject": {"mediaType": OCI_MANIFEST, "digest": str(Digest.of(b"s")), "size": 1},
        "annotations": {"org.opencontainers.image.created": "2026-01-01T00:00:00Z"},
        "x-tool-state": {"anything": True},
    }
    (layout.path / "index.json").write_text(json.dumps(document))
    layout.add_ref(descriptor(manifest), "ours")
    after = index_json(layout)
    assert after["manifests"][0] == foreign
    assert {k: v for k, v in after.items() if k != "manifests"} == {
        k: v for k, v in document.items() if k != "manifests"
    }
    assert dict(Descriptor.from_json(after["manifests"][1]).annotations)[REF_NAME] == "ours"


def test_pulling_by_digest_keeps_the_named_entries_of_that_digest(layout: OCILayout) -> None:
    manifest = image_in(layout)  # named "v1"
    layout.add_ref(descriptor(manifest), None)
    layout.add_ref(descriptor(manifest), str(manifest.digest))  # a digest given as the name
    entries = index_json(layout)["manifests"]
    assert [e["annotations"][REF_NAME] for e in entries] == ["v1"]


def test_a_digest_not_listed_yet_gets_one_unnamed_entry(layout: OCILayout) -> None:
    manifest = image_in(layout, name=None)
    layout.add_ref(descriptor(manifest), None)
    layout.add_ref(descriptor(manifest), None)
    assert [e.get("annotations") for e in index_json(layout)["manifests"]] == [None]


def test_a_tag_at_a_digest_keeps_the_tag_and_replaces_the_unnamed_entry(layout: OCILayout) -> None:
    manifest = image_in(layout, name=None)
    layout.add_ref(descriptor(manifest), None)
    other = image_in(layout, layer=b"other", name="keep")
    layout.add_ref(descriptor(manifest), "1.0")  # repo:1.0@sha256:...
    names = [dict(d.annotations).get(REF_NAME) for d in layout.manifests()]
    assert names == ["keep", "1.0"]
    assert layout.resolve("1.0").digest == manifest.digest
    assert layout.resolve("keep").digest == other.digest


# --- creating and opening for writing -------------------------------------------------------


def test_creating_a_layout_in_someone_elses_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "notes.txt").write_text("mine")
    with pytest.raises(InvalidLayout, match="not empty"):
        OCILayout.create(tmp_path / "home")
    assert sorted(p.name for p in (tmp_path / "home").iterdir()) == ["notes.txt"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(InvalidLayout, match="not a directory"):
        OCILayout.create(tmp_path / "file")
    (tmp_path / "empty").mkdir()
    OCILayout.create(tmp_path / "empty").manifests()
    OCILayout.create(tmp_path / "empty")  # an existing layout opens again


def test_stale_part_files_are_removed_when_a_layout_is_opened_for_writing(layout: OCILayout) -> None:
    blobs = layout.path / "blobs" / "sha256"
    blobs.mkdir(exist_ok=True)
    hexname = Digest.of(b"x").encoded
    old = [blobs / f".{hexname}.k2j3h4.part", layout.path / ".index.json.a1b2c3.part"]
    fresh = blobs / f".{hexname}.zz9x8y.part"
    kept = blobs / "notes.part"  # not one of ours: no leading dot
    for path in (*old, fresh, kept):
        path.write_bytes(b"partial")
    long_ago = time.time() - STALE_PART_AGE - 60
    for path in (*old, kept):
        os.utime(path, (long_ago, long_ago))
    OCILayout.create(layout.path)
    assert [p.exists() for p in old] == [False, False]
    assert fresh.exists() and kept.exists()


# --- through the registry -----------------------------------------------------------------------


@pytest.fixture
def registry_client(registry_none: RegistryInstance, transport_name: str) -> Iterator[Registry]:
    transport = make_transport(transport_name)
    try:
        yield Registry(registry_none.url, transport=transport)  # type: ignore[arg-type]
    finally:
        transport.close()  # type: ignore[attr-defined]


def test_push_never_uploads_what_a_symlink_points_to(
    registry_client: Registry, registry_none: RegistryInstance, tmp_path: Path
) -> None:
    layout = OCILayout.create(tmp_path / "layout")
    manifest = image_in(layout, layer=SECRET)
    path = layout.blob_path(manifest.layers[0].digest)
    path.unlink()
    path.symlink_to(tmp_path / "secret")
    (tmp_path / "secret").write_bytes(SECRET)
    repo = f"faults/symlink-{os.getpid()}-{time.monotonic_ns()}"
    with pytest.raises(InvalidLayout, match="symbolic link"):
        registry_client.push(layout.path, repo, "v1", ref_name="v1")
    with pytest.raises(ocireg.BlobUnknown):
        registry_client.blob_size(repo, manifest.layers[0].digest)


def test_pull_refuses_a_directory_that_is_not_a_layout(
    registry_client: Registry, tmp_path: Path
) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "README").write_text("keep me")
    with pytest.raises(InvalidLayout):
        registry_client.pull("any/repo", "latest", tmp_path / "docs")
    assert [p.name for p in (tmp_path / "docs").iterdir()] == ["README"]


def test_concurrent_pulls_into_one_layout_keep_every_tag(
    registry_client: Registry, registry_none: RegistryInstance, tmp_path: Path
) -> None:
    repo = f"faults/concurrent-{os.getpid()}-{time.monotonic_ns()}"
    tags = [f"t{i}" for i in range(6)]
    for i, tag in enumerate(tags):
        push_raw(registry_none.url, repo, oci_image((300 + i,)), tag=tag)
    start = threading.Barrier(len(tags))
    errors: list[BaseException] = []

    def pull(tag: str) -> None:
        try:
            start.wait()
            registry_client.pull(repo, tag, tmp_path / "shared")
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=pull, args=(tag,)) for tag in tags]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    names = sorted(dict(d.annotations)[REF_NAME] for d in OCILayout(tmp_path / "shared").manifests())
    assert names == tags
