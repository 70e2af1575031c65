"""One test body for both drivers: Registry and AsyncRegistry run the same flows.

Each test here runs over the blocking driver with every transport, and over the
asyncio driver with the asyncio transport, on the real registry in its three auth
set-ups.  ``Driven`` gives both the blocking call shape so the body is written once:
an AsyncRegistry's coroutines and async iterators are run to completion on a loop
of the test's own.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

import ocireg
from conftest import TRANSPORTS, make_transport
from images import OCI_MANIFEST, ImageContent, config_blob, oci_image, push_raw, targz_layer
from registry_bed import RegistryInstance
from servers import RouteServer
from test_push_copy import write_layout
from test_registry import Seeded, seeded

DRIVERS = (*(f"sync-{name}" for name in TRANSPORTS), "async-h11")


class Driven:
    """A client of either kind, called the blocking way."""

    def __init__(self, client: ocireg.Registry | ocireg.AsyncRegistry) -> None:
        self.client = client
        self.loop = asyncio.new_event_loop() if isinstance(client, ocireg.AsyncRegistry) else None
        self.owns_loop = True

    def share_loop(self, other: Driven) -> None:
        """Run on ``other``'s event loop (clients that reach each other's connections)."""
        if self.loop is not None and other.loop is not None:
            self.loop.close()
            self.loop, self.owns_loop = other.loop, False

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.client, name)
        loop = self.loop
        if loop is None or not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            result = attr(*args, **kwargs)
            if isinstance(result, AsyncIterator):
                return iter(loop.run_until_complete(_collect(result)))
            return loop.run_until_complete(result)

        return call

    def close(self) -> None:
        if self.loop is None:
            assert isinstance(self.client, ocireg.Registry)
            self.client.transport.close()  # the test's own transport: the client does not own it
        else:
            assert isinstance(self.client, ocireg.AsyncRegistry)
            self.loop.run_until_complete(self.client.aclose())
            if self.owns_loop:
                self.loop.close()


async def _collect(items: AsyncIterator[Any]) -> list[Any]:
    return [bytes(item) if isinstance(item, memoryview) else item async for item in items]


def open_driven(driver: str, url: str, creds: tuple[str, str] | tuple[None, None] = (None, None),
                **options: Any) -> Driven:
    kind, transport = driver.split("-", 1)
    if kind == "sync":
        return Driven(ocireg.Registry(url, username=creds[0], password=creds[1],
                                      transport=make_transport(transport), **options))  # type: ignore[arg-type]
    return Driven(ocireg.AsyncRegistry(url, username=creds[0], password=creds[1], **options))


@pytest.fixture(params=DRIVERS)
def driver(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def reg(registry: RegistryInstance, driver: str) -> Iterator[Driven]:
    creds = registry.writer.creds if registry.auth_required else (None, None)
    driven = open_driven(driver, registry.url, creds)
    try:
        yield driven
    finally:
        driven.close()


@pytest.fixture
def seed(registry: RegistryInstance) -> Seeded:
    return seeded(registry)


# --- the same body, every driver --------------------------------------------------------


def test_listings(reg: Driven, seed: Seeded) -> None:
    assert set(reg.tags(seed.repo).tags) == seed.tags
    assert set(reg.tags(seed.repo, auto_paginate=True).tags) == seed.tags
    assert set(reg.iter_tags(seed.repo)) == seed.tags
    listing = reg.tags(seed.repo, with_digests=True)
    assert {tag: str(d) for tag, d in listing.digests.items()} == {
        "docker": seed.docker.digest, "oci": seed.oci.digest,
        "index": seed.index.digest, "list": seed.manifest_list.digest,
    }


def test_manifests_and_platforms(reg: Driven, seed: Seeded) -> None:
    result = reg.manifest(seed.repo, "oci")
    assert result.body == seed.oci.manifest and str(result.digest) == seed.oci.digest
    arm = seed.index.children[1]
    assert str(reg.manifest(seed.repo, "index", platform="linux/arm64").digest) == arm.digest
    assert str(reg.digest(seed.repo, "index", "arm64", "linux", "v8")) == arm.digest
    assert str(reg.manifest_digest(seed.repo, "docker")) == seed.docker.digest


def test_blobs_are_verified_into_memory_files_and_iterators(reg: Driven, seed: Seeded, tmp_path: Path) -> None:
    layer = seed.docker.blobs[1]
    assert reg.blob(seed.repo, layer.digest) == layer.data
    written = reg.blob(seed.repo, layer.digest, tmp_path / "layer")
    assert Path(written).read_bytes() == layer.data
    assert b"".join(reg.iter_blob(seed.repo, layer.digest)) == layer.data
    assert reg.blob_size(seed.repo, layer.digest) == len(layer.data)


def test_pull_push_copy_tag_delete(reg: Driven, seed: Seeded, registry: RegistryInstance, tmp_path: Path) -> None:
    pulled = reg.pull(seed.repo, "index", tmp_path / "layout")
    assert str(pulled.descriptor.digest) == seed.index.digest
    assert pulled.blobs_fetched == len(seed.index.all_blobs())
    again = reg.pull(seed.repo, "index", tmp_path / "layout")
    assert (again.blobs_fetched, again.blobs_reused) == (0, len(seed.index.all_blobs()))

    repo = f"drivers/{registry.setup}/{threading.get_ident()}-{id(reg)}"
    pushed = reg.push(tmp_path / "layout", repo, "pushed")
    assert str(pushed.digest) == seed.index.digest
    for child in seed.index.children:
        assert reg.manifest(repo, child.digest).body == child.manifest

    copied = reg.copy(seed.repo, "docker", None, repo, "copied")
    assert str(copied.descriptor.digest) == seed.docker.digest
    assert str(reg.tag(repo, "copied", repo, "retagged")) == seed.docker.digest
    assert set(reg.tags(repo).tags) >= {"pushed", "copied", "retagged"}
    assert str(reg.delete_manifest(repo, "retagged")) == seed.docker.digest
    with pytest.raises(ocireg.ManifestUnknown):
        reg.manifest(repo, "copied")


def test_a_corrupt_layout_blob_is_refused_naming_its_file(
    reg: Driven, registry: RegistryInstance, tmp_path: Path
) -> None:
    """Over plain HTTP the h11 and standard-library transports (blocking and asyncio) send a
    layout's blobs from their files; the verdict on a corrupt one is the same as in chunks."""
    image = oci_image((3 << 20,), gzipped=False)
    write_layout(tmp_path / "l", image, "latest")
    layer = image.blobs[1]
    victim = tmp_path / "l" / "blobs" / "sha256" / layer.digest.split(":")[1]
    damaged = bytearray(victim.read_bytes())
    damaged[-1] ^= 0xFF
    victim.write_bytes(damaged)
    repo = f"drivers/{registry.setup}/corrupt-{threading.get_ident()}-{id(reg)}"
    with pytest.raises(ocireg.InvalidLayout, match=str(victim)):
        reg.push(tmp_path / "l", repo, "latest")
    with pytest.raises(ocireg.BlobUnknown):
        reg.blob_size(repo, layer.digest)
    victim.write_bytes(layer.data)  # repaired, it goes up whole
    reg.push(tmp_path / "l", repo, "latest")
    assert reg.blob(repo, layer.digest) == layer.data


# --- inspect, validate, safe deletes, mirrors, scheme discovery ----------------------------


def test_inspect_an_image_an_index_and_one_platform_of_it(reg: Driven, seed: Seeded) -> None:
    view = reg.inspect(seed.repo, "oci")
    config = json.loads(seed.oci.blobs[0].data)
    assert view["Digest"] == view["ManifestDigest"] == seed.oci.digest
    assert view["Layers"] == [blob.digest for blob in seed.oci.blobs[1:]]
    assert [layer["Size"] for layer in view["LayersData"]] == [blob.size for blob in seed.oci.blobs[1:]]
    assert (view["Os"], view["Architecture"], view["Env"]) == ("linux", "amd64", config["config"]["Env"])
    assert set(view["RepoTags"]) >= seed.tags
    assert view["Name"].endswith(f"/{seed.repo}")
    listed = reg.inspect(seed.repo, "index", tags=False)
    assert listed["RepoTags"] == [] and listed["Digest"] == seed.index.digest
    assert [m["Digest"] for m in listed["Manifests"]] == [c.digest for c in seed.index.children]
    arm = seed.index.children[1]
    picked = reg.inspect(seed.repo, "index", platform="linux/arm64", tags=False)
    # As skopeo: Digest is what the reference names, ManifestDigest the platform's image.
    assert (picked["Digest"], picked["ManifestDigest"]) == (seed.index.digest, arm.digest)
    assert picked["Architecture"] == "arm64"


def test_validate_reads_every_blob_and_reports_each_diff_id_mismatch(
        reg: Driven, seed: Seeded, registry: RegistryInstance, driver: str) -> None:
    report = reg.validate(seed.repo, "index")
    assert report.ok, report
    assert sorted(str(image.digest) for image in report.images) == sorted(c.digest for c in seed.index.children)
    only = reg.validate(seed.repo, "index", platforms=["linux/arm64"])
    assert [str(image.digest) for image in only.images] == [seed.index.children[1].digest]
    # A config whose diff_ids belong to other layers: each layer is reported, the check goes on.
    layers = [targz_layer(1500), targz_layer(900)]
    config = config_blob([targz_layer(10), targz_layer(20)])
    image = ImageContent.of({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config.descriptor(),
                             "layers": [layer.descriptor() for layer in layers]}, OCI_MANIFEST, [config, *layers])
    repo = f"drivers/{registry.setup}/{driver}/validate"
    push_raw(registry.url, repo, image, tag="1", auth=registry.writer.creds if registry.auth_required else None)
    bad = reg.validate(repo, "1")
    assert not bad.ok and bad.problem_count == 2
    (checked,) = bad.images
    assert [p.split(":")[0] for p in checked.problems] == [f"layer 1 {layers[0].digest.split(':')[0]}",
                                                            f"layer 2 {layers[1].digest.split(':')[0]}"]
    assert all("the config says" in p for p in checked.problems)


def test_tags_sharing_and_delete_tag_remove_that_tag_alone(
        reg: Driven, seed: Seeded, registry: RegistryInstance, driver: str) -> None:
    repo = f"drivers/{registry.setup}/{driver}/untag"
    reg.copy(seed.repo, "oci", None, repo, "a")
    reg.copy(seed.repo, "docker", None, repo, "other")
    for tag in ("b", "c"):
        reg.tag(repo, "a", repo, tag)
    assert sorted(reg.tags_sharing(repo, seed.oci.digest, except_tag="a")) == ["b", "c"]
    deleted = reg.delete_tag(repo, "b")
    assert str(deleted.digest) == seed.oci.digest
    assert deleted.method in ("delete-by-tag", "throwaway-manifest")
    assert set(reg.tags(repo).tags) == {"a", "c", "other"}  # the image stays under its other tags
    assert str(reg.manifest_digest(repo, "c")) == seed.oci.digest
    assert sorted(reg.tags_sharing(repo, seed.oci.digest)) == ["a", "c"]
    with pytest.raises(ocireg.ManifestUnknown):
        reg.delete_tag(repo, "b")


def test_pull_source_takes_the_first_mirror_that_has_the_image(
        driver: str, registry_none: RegistryInstance, second_registry: RegistryInstance) -> None:
    seed = seeded(registry_none)  # the mirror holds the image; the primary does not
    primary = second_registry.host
    config = ocireg.RegistryConfig.parse(f'[[registry]]\nlocation = "{primary}"\n'
                                         f'[[registry.mirror]]\nlocation = "{registry_none.host}"\n')
    client = open_driven(driver, primary, config=config)
    before = len(second_registry.access_log_lines())
    try:
        mirror, repo, target = client.pull_source(seed.repo, "oci")
        assert (mirror.host, mirror.url, repo, target) == (registry_none.host, registry_none.url, seed.repo, "oci")
        assert len(second_registry.access_log_lines()) == before  # the primary was not asked at all
        with pytest.raises(ocireg.ManifestUnknown, match="also tried"):
            client.pull_source(seed.repo, "absent")  # neither has it: the primary's answer, both named
    finally:
        client.close()


def test_a_bare_loopback_host_is_tried_over_https_then_plain_http(
        driver: str, registry_none: RegistryInstance, second_registry: RegistryInstance) -> None:
    seed = seeded(registry_none)
    client = open_driven(driver, registry_none.host)
    dest = open_driven(driver, second_registry.host)
    dest.share_loop(client)
    start = len(registry_none.access_log_lines())
    try:
        assert client.url == f"https://{registry_none.host}" and client.host == registry_none.host  # nothing sent
        assert len(registry_none.access_log_lines()) == start
        assert set(client.tags(seed.repo).tags) == seed.tags
        assert client.url == registry_none.url
        assert str(client.manifest_digest(seed.repo, "oci")) == seed.oci.digest
        probes = [e for e in registry_none.access_log_lines()[start:] if e.path == "/v2/"]
        assert len(probes) == 1  # settled once, by the first operation
        # Destinations given as bare hosts settle their scheme too: a client, or a string.
        copied = client.copy(seed.repo, "oci", dest.client, f"drivers/{driver}/bare", "1")
        assert str(copied.descriptor.digest) == seed.oci.digest and dest.url == second_registry.url
        copied = client.copy(seed.repo, "docker", second_registry.host, f"drivers/{driver}/bare", "2")
        assert str(copied.descriptor.digest) == seed.docker.digest
    finally:
        dest.close()
        client.close()


def test_concurrent_first_operations_settle_the_scheme_once(registry_none: RegistryInstance) -> None:
    seed = seeded(registry_none)
    start = len(registry_none.access_log_lines())

    async def main() -> list[ocireg.Digest]:
        async with ocireg.AsyncRegistry(registry_none.host) as client:
            return await asyncio.gather(*(client.manifest_digest(seed.repo, tag) for tag in sorted(seed.tags)))

    found = asyncio.run(main())
    assert [str(d) for d in found] == [getattr(seed, name).digest for name in ("docker", "index", "manifest_list",
                                                                               "oci")]
    probes = [e for e in registry_none.access_log_lines()[start:] if e.path == "/v2/"]
    assert len(probes) == 1


def test_artifacts_and_docker_archives_round_trip(
    reg: Driven, seed: Seeded, registry: RegistryInstance, tmp_path: Path
) -> None:
    repo = f"drivers/{registry.setup}/art-{threading.get_ident()}-{id(reg)}"
    files = {"model.bin": os.urandom(200_000), "card.md": b"# card\n"}
    (tmp_path / "in").mkdir()
    for name, data in files.items():
        (tmp_path / "in" / name).write_bytes(data)
    base = reg.push_artifact(repo, "base", [tmp_path / "in" / "card.md"])
    pushed = reg.push_artifact(repo, "bundle", [tmp_path / "in" / "model.bin", (tmp_path / "in" / "card.md",
                                                                                "text/markdown")],
                               artifact_type="application/vnd.example.bundle.v1", subject="base")
    assert [d.digest for d in reg.referrers(repo, base.digest)] == [pushed.digest]
    pulled = reg.pull_artifact(repo, "bundle", tmp_path / "out")
    assert pulled.descriptor.digest == pushed.digest
    assert pulled.artifact_type == "application/vnd.example.bundle.v1"
    assert {p.name: p.read_bytes() for p in pulled.files} == files

    archive = tmp_path / "image.tar"
    saved = reg.pull_archive(seed.repo, "index", archive, platform="linux/arm64")
    assert str(saved.digest) == seed.index.children[1].digest
    back = reg.push(ocireg.ArchiveLayout(archive), repo, "from-archive")
    assert back.digest == saved.digest
    assert reg.manifest(repo, "from-archive").body == seed.index.children[1].manifest


def test_a_failed_archive_leaves_no_file(driver: str, tmp_path: Path) -> None:
    with RouteServer() as server:
        _serve_image(server, layers=3, delay=0, corrupt=1)
        client = open_driven(driver, server.url)
        try:
            with pytest.raises(ocireg.DigestMismatch):
                client.pull_archive("app", "latest", tmp_path / "image.tar")
        finally:
            client.close()
    assert list(tmp_path.iterdir()) == []


# --- concurrency, on a registry of our own that can be slow --------------------------------


def _serve_image(server: RouteServer, layers: int, delay: float, corrupt: int | None = None) -> Any:
    image = oci_image(tuple(2000 + i for i in range(layers)))
    server.route("/v2/", status=200)
    server.route(f"/v2/app/manifests/{image.digest}",
                 headers=[("Content-Type", image.media_type), ("Docker-Content-Digest", image.digest)],
                 body=image.manifest)
    server.route("/v2/app/manifests/latest",
                 headers=[("Content-Type", image.media_type), ("Docker-Content-Digest", image.digest)],
                 body=image.manifest)
    for i, blob in enumerate(image.blobs):
        data = blob.data if i != corrupt else b"X" + blob.data[1:]
        server.route(f"/v2/app/blobs/{blob.digest}", body=data, delay=delay)
    return image


@pytest.mark.parametrize("jobs", [1, 4])
def test_a_pull_keeps_jobs_transfers_in_flight(driver: str, jobs: int, tmp_path: Path) -> None:
    with RouteServer() as server:
        image = _serve_image(server, layers=12, delay=0.15)
        client = open_driven(driver, server.url, jobs=jobs)
        try:
            result = client.pull("app", "latest", tmp_path / "layout")
        finally:
            client.close()
        assert str(result.descriptor.digest) == image.digest
        # Never more than asked; with several allowed, several really overlap (each
        # blob takes 0.15 s to answer, so they cannot all have run one by one).
        assert server.max_in_flight <= jobs
        assert server.max_in_flight >= min(jobs, 2)
        assert server.connections >= server.max_in_flight


def test_the_first_failure_cancels_the_rest_and_leaves_no_partial_file(driver: str, tmp_path: Path) -> None:
    with RouteServer() as server:
        image = _serve_image(server, layers=8, delay=0.2, corrupt=3)
        client = open_driven(driver, server.url, jobs=4)
        try:
            with pytest.raises(ocireg.DigestMismatch):
                client.pull("app", "latest", tmp_path / "layout")
        finally:
            client.close()
        blobs = tmp_path / "layout" / "blobs" / "sha256"
        names = {p.name for p in blobs.iterdir()} if blobs.exists() else set()
        assert not [n for n in names if n.endswith(".part")]
        assert image.blobs[3].digest.split(":")[1] not in names
        # Later blobs were never started: the failure stopped the queue.
        fetched = [r.path for r in server.requests if "/blobs/" in r.path]
        assert len(fetched) < len(image.blobs)
        layout_index = (tmp_path / "layout" / "index.json").read_text()
        assert image.digest not in layout_index


def test_threads_sharing_one_registry_ask_one_token_per_scope_set(registry_token: RegistryInstance) -> None:
    seed = seeded(registry_token)
    client = ocireg.Registry(registry_token.url, username=registry_token.writer.creds[0],
                             password=registry_token.writer.creds[1])
    repos = [seed.repo, "seed/other"]
    try:
        client.copy(seed.repo, "oci", None, repos[1], "t")  # a second repository with a tag
        before = client.session.auth.token_requests
        fresh = ocireg.Registry(registry_token.url, username=registry_token.writer.creds[0],
                                password=registry_token.writer.creds[1])
        errors: list[BaseException] = []
        barrier = threading.Barrier(16)

        def work(i: int) -> None:
            try:
                barrier.wait()
                fresh.tags(repos[i % 2])
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert fresh.session.auth.token_requests == 2
        assert client.session.auth.token_requests == before
        fresh.close()
    finally:
        client.close()
