"""OCI image layouts exchanged with skopeo, the independent client, both ways.

A layout written by ``Registry.pull`` must satisfy ``skopeo inspect oci:`` and
``skopeo copy oci: docker://``; a layout written by ``skopeo copy docker:// oci:``
must be pushed by ``Registry.push`` and pull back identical.  Over both transports,
against the no-auth and the token set-ups.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import pytest

from images import ImageContent
from ocireg import Registry
from ocireg._layout import OCILayout
from registry_bed import RegistryInstance
from test_registry import seeded

pytestmark = pytest.mark.tools


def run_skopeo(skopeo: str, *args: str) -> str:
    result = subprocess.run([skopeo, *args], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, f"skopeo {args[0]} failed: {result.stderr}"
    return result.stdout


def creds(reg: RegistryInstance, option: str) -> list[str]:
    return [option, reg.writer.skopeo_creds] if reg.auth_required else []


def fresh_repo(kind: str) -> str:
    return f"interop/{kind}-{uuid.uuid4().hex[:12]}"


def pulled_image(reg: RegistryInstance, tag: str) -> ImageContent:
    seed = seeded(reg)
    images = {"docker": seed.docker, "oci": seed.oci, "index": seed.index, "list": seed.manifest_list}
    return images[tag]


def test_skopeo_reads_and_pushes_a_layout_written_by_pull(
    client: Registry, reg: RegistryInstance, skopeo: str, tmp_path: Path
) -> None:
    # OCI content only: skopeo looks up a name in index.json among OCI manifest and
    # index entries alone, and a pull keeps a Docker manifest as the bytes its digest
    # names (converting would change the digest), as crane does.
    tag = "oci"
    image = pulled_image(reg, tag)
    client.pull(seeded(reg).repo, tag, tmp_path / "layout")
    inspected = json.loads(run_skopeo(skopeo, "inspect", f"oci:{tmp_path / 'layout'}:{tag}"))
    assert inspected["Digest"] == image.digest
    assert inspected["Layers"] == [b.digest for b in image.blobs[1:]]
    assert inspected["Architecture"] == "amd64" and inspected["Os"] == "linux"

    repo = fresh_repo("from-ocireg")
    run_skopeo(skopeo, "copy", "--dest-tls-verify=false", *creds(reg, "--dest-creds"),
               f"oci:{tmp_path / 'layout'}:{tag}", f"docker://{reg.host}/{repo}:by-skopeo")
    back = client.manifest(repo, "by-skopeo")
    assert str(back.digest) == image.digest
    assert back.body == image.manifest
    for blob in image.blobs:
        assert client.blob(repo, blob.digest) == blob.data


def test_skopeo_copies_a_multi_arch_layout_written_by_pull(
    client: Registry, reg: RegistryInstance, skopeo: str, tmp_path: Path
) -> None:
    image = pulled_image(reg, "index")
    client.pull(seeded(reg).repo, "index", tmp_path / "layout")
    repo = fresh_repo("index-from-ocireg")
    run_skopeo(skopeo, "copy", "--all", "--dest-tls-verify=false", *creds(reg, "--dest-creds"),
               f"oci:{tmp_path / 'layout'}:index", f"docker://{reg.host}/{repo}:all")
    assert str(client.manifest_digest(repo, "all")) == image.digest
    for child in image.children:
        assert client.manifest(repo, child.digest).body == child.manifest


@pytest.mark.parametrize("tag", ["oci", "docker", "index"])
def test_push_of_a_layout_written_by_skopeo_pulls_back_identical(
    client: Registry, reg: RegistryInstance, skopeo: str, tmp_path: Path, tag: str
) -> None:
    seed = seeded(reg)
    written = tmp_path / "skopeo"
    all_flag = ["--all"] if tag == "index" else []
    run_skopeo(skopeo, "copy", *all_flag, "--src-tls-verify=false", *creds(reg, "--src-creds"),
               f"docker://{reg.host}/{seed.repo}:{tag}", f"oci:{written}:from-skopeo")
    entry = OCILayout(written).resolve("from-skopeo")
    if tag != "docker":
        # skopeo keeps OCI documents as they are (a Docker image may be converted to OCI).
        assert str(entry.digest) == pulled_image(reg, tag).digest

    repo = fresh_repo("from-skopeo")
    pushed = client.push(written, repo, "pushed", ref_name="from-skopeo")
    assert pushed.digest == entry.digest
    assert str(client.manifest_digest(repo, "pushed")) == str(entry.digest)
    back = client.pull(repo, "pushed", tmp_path / "back")
    assert back.descriptor.digest == entry.digest
    sent = {p.name: p.read_bytes() for p in (written / "blobs" / "sha256").iterdir()}
    got = {p.name: p.read_bytes() for p in (tmp_path / "back" / "blobs" / "sha256").iterdir()}
    assert got == sent
    inspected = json.loads(run_skopeo(skopeo, "inspect", "--raw", "--tls-verify=false",
                                      *creds(reg, "--creds"), f"docker://{reg.host}/{repo}:pushed"))
    assert inspected == json.loads((written / "blobs" / "sha256" / entry.digest.encoded).read_bytes())
