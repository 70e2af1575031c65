"""Docker archives (``docker save`` format) and OCI layouts in a tar, against the real registry,
with skopeo as the independent reader and writer, and hostile tars refused.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import subprocess
import tarfile
import uuid
from pathlib import Path

import pytest

from conftest import open_client
from images import docker_image, oci_image, oci_index, push_raw
from ocireg import ArchiveLayout, InvalidLayout, Registry, RetryPolicy
from ocireg.cli import main
from registry_bed import RegistryInstance
from servers import READ, ScriptedServer, Send, response
from test_drivers import DRIVERS, open_driven

pytestmark = [pytest.mark.registry, pytest.mark.tools]


def fresh(kind: str) -> str:
    return f"archives/{kind}-{uuid.uuid4().hex[:10]}"


def skopeo_run(skopeo: str, *args: str) -> str:
    result = subprocess.run([skopeo, *args], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, f"skopeo {' '.join(args[:2])} failed: {result.stderr}"
    return result.stdout


def creds(reg: RegistryInstance, option: str) -> list[str]:
    return [option, reg.writer.skopeo_creds] if reg.auth_required else []


def read_member(path: Path, name: str) -> bytes:
    with tarfile.open(path) as tar:
        member = tar.extractfile(name)
        assert member is not None
        return member.read()


def oci_layout_config(directory: Path) -> tuple[str, list[str]]:
    """The config digest and diff_ids of the one image in an OCI layout skopeo wrote."""
    index = json.loads((directory / "index.json").read_text())
    manifest_digest = index["manifests"][0]["digest"].split(":")[1]
    manifest = json.loads((directory / "blobs" / "sha256" / manifest_digest).read_text())
    config_digest = manifest["config"]["digest"]
    config = json.loads((directory / "blobs" / "sha256" / config_digest.split(":")[1]).read_text())
    return config_digest, config["rootfs"]["diff_ids"]


def test_skopeo_reads_the_docker_archive_ocireg_writes(
    client: Registry, reg: RegistryInstance, skopeo: str, tmp_path: Path
) -> None:
    repo = fresh("save")
    image = docker_image((3000, 5000))
    push_raw(reg.url, repo, image, tag="v1", auth=reg.writer.creds if reg.auth_required else None)
    archive = tmp_path / "image.tar"
    descriptor = client.pull_archive(repo, "v1", archive)
    assert str(descriptor.digest) == image.digest

    docker = json.loads(read_member(archive, "manifest.json"))
    config_blob, *layer_blobs = image.blobs
    assert docker == [{
        "Config": f"blobs/sha256/{config_blob.digest.split(':')[1]}",
        "RepoTags": [f"{reg.host}/{repo}:v1"],
        "Layers": [f"blobs/sha256/{b.digest.split(':')[1]}" for b in layer_blobs],
    }]
    assert read_member(archive, docker[0]["Config"]) == config_blob.data
    for blob, name in zip(layer_blobs, docker[0]["Layers"], strict=True):
        assert read_member(archive, name) == blob.data
    with tarfile.open(archive) as tar:
        assert all(not m.name.startswith(("/", "..")) and m.isreg() for m in tar.getmembers())

    inspected = json.loads(skopeo_run(skopeo, "inspect", f"docker-archive:{archive}"))
    config = json.loads(config_blob.data)
    assert inspected["Layers"] == config["rootfs"]["diff_ids"]
    skopeo_run(skopeo, "copy", f"docker-archive:{archive}", f"oci:{tmp_path / 'oci'}:x")
    # skopeo rewrites a Docker config as an OCI one (new digest); the layers are what must survive.
    assert oci_layout_config(tmp_path / "oci")[1] == config["rootfs"]["diff_ids"]
    # The OCI layout in the same tar pushes back as the very same manifest.
    back = fresh("resave")
    pushed = client.push(ArchiveLayout(archive), back, "v1")
    assert str(pushed.digest) == image.digest
    assert client.manifest(back, "v1").body == image.manifest


def test_ocireg_pushes_the_docker_archive_skopeo_writes(
    client: Registry, reg: RegistryInstance, skopeo: str, tmp_path: Path
) -> None:
    repo = fresh("skopeo-src")
    image = oci_image((4000, 1000))
    push_raw(reg.url, repo, image, tag="v1", auth=reg.writer.creds if reg.auth_required else None)
    archive = tmp_path / "skopeo.tar"
    skopeo_run(skopeo, "copy", "--src-tls-verify=false", *creds(reg, "--src-creds"),
               f"docker://{reg.host}/{repo}:v1", f"docker-archive:{archive}:{repo}:v1")
    layout = ArchiveLayout(archive)
    assert layout.kind == "docker"

    back = fresh("from-skopeo")
    pushed = client.push(layout, back, "v2")
    pulled = client.manifest(back, "v2")
    assert pulled.digest == pushed.digest
    config_blob = image.blobs[0]
    assert str(pulled.document.config.digest) == config_blob.digest  # type: ignore[union-attr]
    diff_ids = json.loads(config_blob.data)["rootfs"]["diff_ids"]
    # skopeo stored the layers uncompressed: their digests are the diff_ids.
    assert [str(layer.digest) for layer in pulled.document.layers] == diff_ids  # type: ignore[union-attr]
    for layer in pulled.document.layers:  # type: ignore[union-attr]
        data = client.blob(back, layer.digest)
        assert isinstance(data, bytes) and "sha256:" + hashlib.sha256(data).hexdigest() == str(layer.digest)
    inspected = json.loads(skopeo_run(skopeo, "inspect", "--tls-verify=false", *creds(reg, "--creds"),
                                      f"docker://{reg.host}/{back}:v2"))
    assert inspected["Architecture"] == "amd64" and len(inspected["Layers"]) == 2


def test_ocireg_pushes_an_oci_archive_skopeo_writes(
    client: Registry, reg: RegistryInstance, skopeo: str, tmp_path: Path
) -> None:
    repo = fresh("oci-archive")
    image = oci_image((2000,))
    push_raw(reg.url, repo, image, tag="v1", auth=reg.writer.creds if reg.auth_required else None)
    archive = tmp_path / "oci.tar"
    skopeo_run(skopeo, "copy", "--src-tls-verify=false", *creds(reg, "--src-creds"),
               f"docker://{reg.host}/{repo}:v1", f"oci-archive:{archive}:v1")
    layout = ArchiveLayout(archive)
    assert layout.kind == "oci"
    pushed = client.push(layout, fresh("oci-archive-back"), "v1")
    assert str(pushed.digest) == image.digest


def test_command_line_pull_format_and_push_of_a_tar(
    registry_none: RegistryInstance, skopeo: str, tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes],
    monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    repo = fresh("cli")
    index = oci_index((900,))
    push_raw(registry_none.url, repo, index, tag="multi")
    archive = tmp_path / "arm64.tar"
    ref = f"{registry_none.host}/{repo}"
    assert main(["pull", "--format", "docker-archive", "--platform", "linux/arm64", f"{ref}:multi", str(archive)]) == 0
    arm64 = index.children[1]
    assert capsysbinary.readouterr().out.decode().strip() == arm64.digest
    config = json.loads(read_member(archive, json.loads(read_member(archive, "manifest.json"))[0]["Config"]))
    assert (config["architecture"], config.get("variant")) == ("arm64", "v8")
    inspected = json.loads(skopeo_run(skopeo, "inspect", f"docker-archive:{archive}"))
    assert inspected["Architecture"] == "arm64"

    assert main(["push", str(archive), f"{ref}-copy:arm64", "--json"]) == 0
    assert json.loads(capsysbinary.readouterr().out)["digest"] == arm64.digest
    for wrong in (["--format", "tarball"], ["--format", "docker-archive", "--all-platforms"]):
        with pytest.raises(SystemExit) as exit_info:
            main(["pull", *wrong, f"{ref}:multi", str(tmp_path / "x.tar")])
        assert exit_info.value.code == 2
    assert not (tmp_path / "x.tar").exists()


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_layer_download_started_over_leaves_a_whole_member(driver: str, tmp_path: Path) -> None:
    # The layer is cut midway, the resume is answered with the wrong range, so the
    # download starts over: the member keeps its header and only the second try's bytes.
    # (The cut comes late: the blocking driver hands its first buffers on before it
    # counts them as seen, and only what was seen is resumed.)
    image = oci_image((8 << 20,), gzipped=False)
    config, layer = image.blobs
    cut = 6 << 20
    served = [("Content-Type", image.media_type), ("Docker-Content-Digest", image.digest)]
    first = [READ, Send(response(body=image.manifest, headers=served)), READ, Send(response(body=config.data)),
             READ, Send(response(body=layer.data[:cut], length=len(layer.data)))]
    wrong_range = [READ, Send(response(206, body=layer.data[10:], headers=[
        ("Content-Range", f"bytes 10-{len(layer.data) - 1}/{len(layer.data)}")]))]
    whole = [READ, Send(response(body=layer.data))]
    archive = tmp_path / "image.tar"
    with ScriptedServer([first, wrong_range, whole]) as server:
        client = open_driven(driver, server.url, retry=RetryPolicy(jitter=0.0))
        try:
            client.pull_archive("app", image.digest, archive)
        finally:
            client.close()
        ranges = [r for r in server.requests if b"\r\nrange: bytes=" in r.lower()]
        assert len(ranges) == 1  # resumed once, then started over
    docker = json.loads(read_member(archive, "manifest.json"))
    assert read_member(archive, docker[0]["Layers"][0]) == layer.data
    assert read_member(archive, docker[0]["Config"]) == config.data
    assert [p.name for p in tmp_path.iterdir()] == ["image.tar"]


# --- hostile and odd tars (no registry needed to refuse them) --------------------------------


def tar_with(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def reg_file(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    return tarfile.TarInfo(name), data


def link(name: str, target: str, *, hard: bool = False) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = tarfile.LNKTYPE if hard else tarfile.SYMTYPE
    info.linkname = target
    return info, None


MANIFEST = json.dumps([{"Config": "c.json", "RepoTags": ["x:1"], "Layers": ["l.tar"]}]).encode()


@pytest.mark.parametrize(("members", "message"), [
    ([reg_file("manifest.json", MANIFEST), reg_file("../evil", b"x")], "'..'"),
    ([reg_file("manifest.json", MANIFEST), reg_file("/etc/evil", b"x")], "absolute"),
    ([reg_file("manifest.json", MANIFEST), link("l.tar", "../../etc/passwd")], "out of the archive"),
    ([reg_file("manifest.json", MANIFEST), link("l.tar", "/etc/passwd")], "absolute"),
    ([reg_file("manifest.json", MANIFEST), link("l.tar", "../outside", hard=True)], "'..'|out of"),
    ([reg_file("manifest.json", MANIFEST), reg_file("c.json", b"{}")], "lacks"),
    ([reg_file("manifest.json", b"[]")], "no image"),
    ([reg_file("manifest.json", b"not json")], "not JSON"),
    ([reg_file("hello.txt", b"hi")], "neither"),
    ([reg_file("manifest.json", MANIFEST), link("c.json", "l.tar"), link("l.tar", "c.json")], "loop"),
])
def test_hostile_archives_are_refused(members: list[tuple[tarfile.TarInfo, bytes | None]], message: str,
                                      tmp_path: Path) -> None:
    with pytest.raises(InvalidLayout, match=message):
        ArchiveLayout(tar_with(tmp_path / "evil.tar", members))


def test_a_compressed_tar_is_refused_with_advice(tmp_path: Path) -> None:
    plain = tar_with(tmp_path / "a.tar", [reg_file("manifest.json", MANIFEST)])
    gz = tmp_path / "a.tar.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    with pytest.raises(InvalidLayout, match="decompress"):
        ArchiveLayout(gz)


def test_legacy_layer_symlinks_inside_the_archive_are_followed(
    registry_none: RegistryInstance, transport_name: str, tmp_path: Path
) -> None:
    # docker save (before 25) links repeated layers: <id>/layer.tar -> ../<other>/layer.tar
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as t:
        info = tarfile.TarInfo("hello.txt")
        info.size = 5
        t.addfile(info, io.BytesIO(b"hello"))
    layer_bytes = layer.getvalue()
    diff_id = "sha256:" + hashlib.sha256(layer_bytes).hexdigest()
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [diff_id, diff_id]}}).encode()
    manifest = json.dumps([{"Config": "cfg.json", "RepoTags": ["legacy:1"],
                            "Layers": ["aaa/layer.tar", "bbb/layer.tar"]}]).encode()
    archive = tar_with(tmp_path / "legacy.tar", [
        reg_file("cfg.json", config), reg_file("aaa/layer.tar", layer_bytes),
        link("bbb/layer.tar", "../aaa/layer.tar"), reg_file("manifest.json", manifest),
    ])
    layout = ArchiveLayout(archive)
    (entry,) = layout.manifests()
    assert dict(entry.annotations)["org.opencontainers.image.ref.name"] == "legacy:1"
    repo = fresh("legacy")
    client = open_client(registry_none, transport_name)
    try:
        client.push(layout, repo, "1")
        result = client.manifest(repo, "1")
        assert client.blob(repo, result.document.layers[1].digest) == layer_bytes  # type: ignore[union-attr]
    finally:
        client.transport.close()
    assert [str(d.digest) for d in result.document.layers] == [diff_id, diff_id]  # type: ignore[union-attr]
    assert [d.media_type for d in result.document.layers] == ["application/vnd.oci.image.layer.v1.tar"] * 2  # type: ignore[union-attr]
