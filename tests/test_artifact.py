"""ORAS-style artifacts: push and pull through the API and the CLI, interop with oras-py both ways,
and titles from a hostile manifest that would write outside the directory.

Against the no-auth and token registries of the test bed; hostile manifests are
seeded raw (images.push_raw), as a malicious pusher would.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import oras.client
import pytest

from conftest import open_client
from images import OCI_EMPTY, OCI_MANIFEST, Blob, ImageContent, push_raw
from ocireg import InvalidArgument, InvalidManifest, Registry
from ocireg._artifact import EMPTY_CONFIG, TITLE, check_titles
from ocireg.cli import main
from registry_bed import RegistryInstance

pytestmark = pytest.mark.registry

SBOM = "application/spdx+json"


def fresh(kind: str) -> str:
    return f"artifacts/{kind}-{uuid.uuid4().hex[:10]}"


def write_files(directory: Path) -> dict[str, bytes]:
    files = {"report.json": b'{"ok": true}\n', "model.bin": os.urandom(300_000), "notes.txt": b"hello\n"}
    directory.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (directory / name).write_bytes(data)
    return files


@pytest.fixture
def oras_reg(registry_none: RegistryInstance) -> RegistryInstance:
    """Where oras-py meets ocireg: the registry without auth.

    oras-py 0.2 cannot take part with auth on: against the token set-up it keeps the
    first (pull-only) token it got and sends it for its upload too; against Basic auth
    it takes the realm for a token server's host name and tries to resolve it.
    """
    return registry_none


@pytest.fixture
def oras_client(oras_reg: RegistryInstance) -> Iterator[oras.client.OrasClient]:
    c = oras.client.OrasClient(hostname=oras_reg.host, insecure=True)
    try:
        yield c
    finally:
        c.session.close()


@contextlib.contextmanager
def own_client(reg: RegistryInstance, transport_name: str) -> Iterator[Registry]:
    c = open_client(reg, transport_name)
    try:
        yield c
    finally:
        c.transport.close()


@contextlib.contextmanager
def cwd(path: Path) -> Iterator[None]:
    old = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def test_push_then_pull_round_trip_with_subject_and_annotations(client: Registry, tmp_path: Path) -> None:
    repo = fresh("api")
    files = write_files(tmp_path / "in")
    image = client.push_artifact(repo, "base", [tmp_path / "in" / "notes.txt"])
    pushed = client.push_artifact(
        repo, "sbom",
        [(tmp_path / "in" / "report.json", SBOM), tmp_path / "in" / "model.bin"],
        artifact_type="application/vnd.example.bundle.v1",
        annotations={"org.opencontainers.image.source": "https://example.invalid/x"},
        subject="base",
    )
    manifest = client.manifest(repo, "sbom")
    document = json.loads(manifest.body)
    assert manifest.digest == pushed.digest
    assert document["artifactType"] == "application/vnd.example.bundle.v1"
    assert document["config"] == EMPTY_CONFIG.to_json()
    assert client.blob(repo, EMPTY_CONFIG.digest) == b"{}"
    assert [(layer["mediaType"], layer["annotations"][TITLE]) for layer in document["layers"]] == [
        (SBOM, "report.json"), ("application/vnd.oci.image.layer.v1.tar", "model.bin")]
    assert document["subject"]["digest"] == str(image.digest)
    assert [d.digest for d in client.referrers(repo, image.digest)] == [pushed.digest]

    pulled = client.pull_artifact(repo, "sbom", tmp_path / "out")
    assert sorted(p.name for p in pulled.files) == ["model.bin", "report.json"]
    for path in pulled.files:
        assert path.read_bytes() == files[path.name]
    assert pulled.artifact_type == "application/vnd.example.bundle.v1"


def test_oras_pulls_what_ocireg_pushed(
    oras_client: oras.client.OrasClient, oras_reg: RegistryInstance, transport_name: str, tmp_path: Path
) -> None:
    reg = oras_reg
    repo = fresh("to-oras")
    files = write_files(tmp_path / "in")
    with own_client(reg, transport_name) as client:
        client.push_artifact(repo, "v1", [tmp_path / "in" / name for name in files])
    out = tmp_path / "oras-out"
    oras_client.pull(target=f"{reg.host}/{repo}:v1", outdir=str(out))
    assert {p.name: p.read_bytes() for p in out.iterdir()} == files


def test_ocireg_pulls_what_oras_pushed(
    oras_client: oras.client.OrasClient, oras_reg: RegistryInstance, transport_name: str, tmp_path: Path
) -> None:
    reg = oras_reg
    repo = fresh("from-oras")
    files = write_files(tmp_path / "in")
    with cwd(tmp_path / "in"):
        oras_client.push(files=list(files), target=f"{reg.host}/{repo}:v1")
    with own_client(reg, transport_name) as client:
        pulled = client.pull_artifact(repo, "v1", tmp_path / "out")
    assert {p.name: p.read_bytes() for p in pulled.files} == files


def hostile_artifact(titles: list[str]) -> ImageContent:
    layers = [Blob.of(f"content {i}".encode(), "application/octet-stream") for i in range(len(titles))]
    empty = Blob.of(b"{}", OCI_EMPTY)
    document = {
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": "application/x-evil",
        "config": empty.descriptor(),
        "layers": [b.descriptor(annotations={TITLE: t}) for b, t in zip(layers, titles, strict=True)],
    }
    return ImageContent.of(document, OCI_MANIFEST, [empty, *layers])


@pytest.mark.parametrize("titles", [
    ["ok.txt", "../escape.txt"],
    ["ok.txt", "/etc/escape"],
    ["ok.txt", "a/../../escape"],
    ["ok.txt", "sub\\..\\..\\escape"],
    ["ok.txt", "ok.txt"],
    ["dir", "dir/inner"],
    ["ok.txt", ""],
    ["ok.txt", "a//b"],
])
def test_unsafe_titles_are_refused_before_anything_is_written(
    registry_none: RegistryInstance, titles: list[str], tmp_path: Path
) -> None:
    repo = fresh("hostile")
    push_raw(registry_none.url, repo, hostile_artifact(titles), tag="evil")
    out = tmp_path / "box" / "out"
    with Registry(registry_none.url) as reg, pytest.raises(InvalidManifest):
        reg.pull_artifact(repo, "evil", out)
    assert not (tmp_path / "box" / "escape.txt").exists() and not (tmp_path / "escape").exists()
    assert not out.exists() or list(out.rglob("*")) == []


def test_a_symlink_inside_the_directory_is_not_followed(registry_none: RegistryInstance, tmp_path: Path) -> None:
    repo = fresh("symlink")
    push_raw(registry_none.url, repo, hostile_artifact(["ok.txt", "link/escape.txt"]), tag="evil")
    outside = tmp_path / "outside"
    outside.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / "link").symlink_to(outside)
    with Registry(registry_none.url) as reg, pytest.raises(InvalidManifest, match="symbolic link"):
        reg.pull_artifact(repo, "evil", out)
    assert list(outside.iterdir()) == [] and not (out / "ok.txt").exists()


def test_nested_titles_are_written_below_the_directory(registry_none: RegistryInstance, tmp_path: Path) -> None:
    repo = fresh("nested")
    push_raw(registry_none.url, repo, hostile_artifact(["a/b/c.txt", "top.txt"]), tag="ok")
    with Registry(registry_none.url) as reg:
        pulled = reg.pull_artifact(repo, "ok", tmp_path)
    assert sorted(str(p.relative_to(tmp_path)) for p in pulled.files) == ["a/b/c.txt", "top.txt"]
    assert (tmp_path / "a" / "b" / "c.txt").read_bytes() == b"content 0"


def test_check_titles_directly() -> None:
    assert check_titles(["a", "b/c"]) == [("a",), ("b", "c")]
    for bad in (["x\x00"], [".."], ["./x"], ["x/"]):
        with pytest.raises(InvalidManifest):
            check_titles(bad)


def test_push_refuses_directories_and_duplicate_names(client: Registry, tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "same.txt").write_text("1")
    (tmp_path / "b" / "same.txt").write_text("2")
    with pytest.raises(InvalidArgument, match="same title"):
        client.push_artifact(fresh("dup"), "v1", [tmp_path / "a" / "same.txt", tmp_path / "b" / "same.txt"])
    with pytest.raises(InvalidArgument, match="not a regular file"):
        client.push_artifact(fresh("dir"), "v1", [tmp_path / "a"])


def test_command_line_push_and_pull(
    registry_none: RegistryInstance, tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes],
    monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    files = write_files(tmp_path / "in")
    ref = f"{registry_none.host}/{fresh('cli')}"
    monkeypatch.chdir(tmp_path / "in")
    assert main(["artifact", "push", f"{ref}:base", "notes.txt"]) == 0
    capsysbinary.readouterr()
    assert main(["artifact", "push", f"{ref}:sbom", f"report.json:{SBOM}", "model.bin",
                 "--artifact-type", "application/vnd.example.sbom.v1", "--annotation", "k=v",
                 "--subject", f"{ref}:base", "--json"]) == 0
    pushed = json.loads(capsysbinary.readouterr().out)
    assert pushed["artifactType"] == "application/vnd.example.sbom.v1"
    assert main(["artifact", "pull", f"{ref}:sbom", "-o", str(tmp_path / "out")]) == 0
    written = capsysbinary.readouterr().out.decode().splitlines()
    assert sorted(Path(p).name for p in written) == ["model.bin", "report.json"]
    assert (tmp_path / "out" / "model.bin").read_bytes() == files["model.bin"]
    with Registry(registry_none.url) as reg:
        manifest = json.loads(reg.manifest(ref.split("/", 1)[1], "sbom").body)
    assert manifest["annotations"] == {"k": "v"} and "subject" in manifest
    with pytest.raises(SystemExit) as exit_info:
        main(["artifact", "push", f"{ref}:x", "notes.txt", "--subject", f"{registry_none.host}/other:base"])
    assert exit_info.value.code == 2


def test_bad_arguments_are_named_before_anything_is_sent(tmp_path: Path) -> None:
    # Nothing listens: any request would fail otherwise (the scheme is given, so none is probed).
    with Registry("http://localhost:1") as reg:
        with pytest.raises(InvalidArgument, match="directory"):
            reg.pull_artifact("r", "t", None)  # type: ignore[arg-type]
        with pytest.raises(InvalidArgument, match="files"):
            reg.push_artifact("r", "t", tmp_path)  # type: ignore[arg-type]
        with pytest.raises(InvalidArgument, match="files"):
            reg.push_artifact("r", "t", [42])  # type: ignore[list-item]
        with pytest.raises(InvalidArgument, match="path"):
            reg.pull_archive("r", "t", 3)  # type: ignore[arg-type]
