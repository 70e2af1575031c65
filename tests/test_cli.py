"""The ``ocireg`` command line against the real registries of the test bed.

Most tests run ``main(argv)`` in-process with stdout/stderr captured as bytes;
a few run ``python -m ocireg`` as a subprocess (exit status, environment, and
progress output under a pseudo-terminal).  Content is seeded with raw uploads
(images.push_raw), never by the client under test.  Credentials reach the CLI
the way a user's do: a docker config.json in a temporary ``DOCKER_CONFIG``, a
credential helper on ``PATH``, or ``--username`` with ``--password-stdin``.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import io
import json
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from images import (
    OCI_INDEX,
    ImageContent,
    docker_image,
    oci_image,
    oci_index,
    push_raw,
)
from ocireg.cli import main
from registry_bed import RegistryInstance, free_port

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python")
ARTIFACT_TYPE = "application/vnd.example.sbom.v1+json"


@dataclass(frozen=True)
class Seeded:
    repo: str
    index: ImageContent  # tag "multi"
    image: ImageContent  # tag "single": a Docker schema2 image with two layers
    referrer: ImageContent  # an artifact whose subject is `image`


_SEEDED: dict[str, Seeded] = {}


def seeded(instance: RegistryInstance) -> Seeded:
    """Seed each registry once per session, with raw uploads."""
    if instance.url not in _SEEDED:
        auth = instance.writer.creds if instance.auth_required else None
        index = oci_index((800,))
        image = docker_image((3000, 5000))
        referrer = oci_image((100,), subject=image, artifact_type=ARTIFACT_TYPE)
        repo = "cli/app"
        push_raw(instance.url, repo, index, tag="multi", auth=auth)
        push_raw(instance.url, repo, image, tag="single", auth=auth)
        push_raw(instance.url, repo, referrer, auth=auth)
        # distribution 2.8 has no referrers API: list the artifact in the OCI 1.1
        # fallback tag, as a client pushing it would have done.
        fallback = ImageContent.of(
            {"schemaVersion": 2, "mediaType": OCI_INDEX,
             "manifests": [referrer.descriptor(artifactType=ARTIFACT_TYPE)]},
            OCI_INDEX,
        )
        push_raw(instance.url, repo, fallback, tag=image.digest.replace(":", "-"), auth=auth)
        _SEEDED[instance.url] = Seeded(repo, index, image, referrer)
    return _SEEDED[instance.url]


@dataclass
class Result:
    code: int
    out: bytes
    err: str

    @property
    def json(self) -> object:
        return json.loads(self.out)


class CLI:
    """Runs ``main(argv)`` in-process with the bed's registry, transport and credentials."""

    def __init__(self, capsys: pytest.CaptureFixture[bytes], monkeypatch: pytest.MonkeyPatch,
                 instance: RegistryInstance, transport: str) -> None:
        self.capsys = capsys
        self.monkeypatch = monkeypatch
        self.instance = instance
        self.transport = transport

    def ref(self, rest: str) -> str:
        return f"{self.instance.host}/{rest}"

    def __call__(self, *argv: str, stdin: str = "") -> Result:
        self.capsys.readouterr()
        self.monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        try:
            code = main(["--transport", self.transport, *argv])
        except SystemExit as exc:  # argparse: usage errors, --help
            code = int(exc.code or 0)
        captured = self.capsys.readouterr()
        return Result(code, captured.out, captured.err.decode())


def write_docker_config(directory: Path, config: dict[str, object]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "config.json"
    path.write_text(json.dumps(config))
    return path


def auths_for(instance: RegistryInstance, user: str = "writer") -> dict[str, object]:
    name, password = instance.users[user].creds
    token = base64.b64encode(f"{name}:{password}".encode()).decode()
    return {"auths": {instance.host: {"auth": token}}}


@pytest.fixture
def cli(
    registry: RegistryInstance, transport_name: str, isolated: Path,
    capsysbinary: pytest.CaptureFixture[bytes], monkeypatch: pytest.MonkeyPatch,
) -> CLI:
    """The CLI logged in (docker config.json) as the writer where the registry needs it."""
    if registry.auth_required:
        write_docker_config(isolated, auths_for(registry))
    return CLI(capsysbinary, monkeypatch, registry, transport_name)


def assert_one_error_line(result: Result, *fragments: str) -> None:
    assert result.code == 1, result
    lines = result.err.splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("ocireg: error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    assert result.out == b""


# --- every command on every set-up and both transports ---------------------------------


def test_listing_commands(cli: CLI) -> None:
    seed = seeded(cli.instance)
    tags = cli("tags", cli.ref(seed.repo))
    assert tags.code == 0 and tags.err == ""
    assert {"multi", "single"} <= set(tags.out.decode().splitlines())
    as_json = cli("--json", "tags", cli.ref(seed.repo))
    document = as_json.json
    assert isinstance(document, dict) and document["name"] == seed.repo
    assert set(document["tags"]) == set(tags.out.decode().splitlines())
    catalog = cli("catalog", cli.instance.host, "--json")
    assert catalog.code == 0
    assert seed.repo in catalog.json["repositories"]  # type: ignore[index]
    plain = cli("catalog", cli.instance.host)
    assert seed.repo in plain.out.decode().splitlines()


def test_manifest_digest_config(cli: CLI) -> None:
    seed = seeded(cli.instance)
    multi, single = cli.ref(f"{seed.repo}:multi"), cli.ref(f"{seed.repo}:single")
    arm64 = seed.index.children[1]
    assert cli("manifest", multi).out == seed.index.manifest  # the bytes as served
    assert cli("manifest", "--platform", "linux/arm64/v8", multi).out == arm64.manifest
    assert cli("manifest", single).out == seed.image.manifest
    assert cli("digest", multi).out.decode() == seed.index.digest + "\n"
    assert cli("digest", multi, "--platform", "linux/arm64").out.decode() == arm64.digest + "\n"
    assert cli("--json", "digest", single).json == {
        "reference": cli.ref(f"{seed.repo}:single"), "digest": seed.image.digest,
    }
    # config: the image's config blob, bytes as stored; an index defaults to linux/amd64.
    assert cli("config", single).out == seed.image.blobs[0].data
    assert cli("config", multi).out == seed.index.children[0].blobs[0].data
    assert cli("config", "--platform", "linux/arm64", multi).out == arm64.blobs[0].data
    by_digest = cli("manifest", cli.ref(f"{seed.repo}@{seed.image.digest}"))
    assert by_digest.code == 0 and by_digest.out == seed.image.manifest


def test_blob_to_stdout_and_file(cli: CLI, tmp_path: Path) -> None:
    seed = seeded(cli.instance)
    layer = seed.image.blobs[2]
    ref = cli.ref(f"{seed.repo}@{layer.digest}")
    out = cli("blob", ref)
    assert out.code == 0 and out.out == layer.data and out.err == ""
    target = tmp_path / "sub" / "layer.tgz"
    to_file = cli("blob", ref, "-o", str(target))
    assert to_file.code == 0 and to_file.out == b""
    assert target.read_bytes() == layer.data
    # A blob names its content: a tag is a usage error.
    assert cli("blob", cli.ref(f"{seed.repo}:single")).code == 2


def test_pull_push_copy_tag_delete(cli: CLI, tmp_path: Path) -> None:
    seed = seeded(cli.instance)
    layout = tmp_path / "layout"
    pulled = cli("--json", "pull", cli.ref(f"{seed.repo}:multi"), str(layout))
    assert pulled.code == 0 and pulled.err == ""  # no progress: stderr is not a terminal
    info = pulled.json
    assert isinstance(info, dict) and info["descriptor"]["digest"] == seed.index.digest
    assert info["blobsFetched"] == len(seed.index.all_blobs())
    for blob in seed.index.all_blobs():
        hexdigest = blob.digest.split(":", 1)[1]
        assert (layout / "blobs" / "sha256" / hexdigest).read_bytes() == blob.data
    assert json.loads((layout / "oci-layout").read_text())["imageLayoutVersion"] == "1.0.0"

    one = tmp_path / "one"
    arm = cli("pull", "--platform", "linux/arm/v7", cli.ref(f"{seed.repo}:multi"), str(one))
    assert arm.out.decode() == seed.index.children[2].digest + "\n"

    pushed = cli("push", str(one), cli.ref("cli/pushed:arm"))
    assert pushed.code == 0, pushed.err
    assert pushed.out.decode() == cli.ref(f"cli/pushed:arm@{seed.index.children[2].digest}") + "\n"
    assert cli("manifest", cli.ref("cli/pushed:arm")).out == seed.index.children[2].manifest

    copied = cli("--json", "copy", cli.ref(f"{seed.repo}:multi"), cli.ref("cli/copied:all"))
    assert copied.code == 0, copied.err
    assert copied.json["digest"] == seed.index.digest  # type: ignore[index]
    assert cli("manifest", cli.ref("cli/copied:all")).out == seed.index.manifest
    filtered = cli("copy", "--platform", "linux/amd64", "--platform", "linux/arm64",
                   cli.ref(f"{seed.repo}:multi"), cli.ref("cli/copied"))
    assert filtered.code == 0, filtered.err
    assert filtered.out.decode().startswith(cli.ref("cli/copied:latest@sha256:"))  # docker's default tag
    index = json.loads(cli("manifest", cli.ref("cli/copied:latest")).out)
    assert [m["digest"] for m in index["manifests"]] == [c.digest for c in seed.index.children[:2]]

    tagged = cli("tag", cli.ref("cli/copied:all"), "again")
    assert tagged.out.decode() == cli.ref(f"cli/copied:again@{seed.index.digest}") + "\n"
    assert cli("digest", cli.ref("cli/copied:again")).out.decode() == seed.index.digest + "\n"

    # Deleting a manifest would untag every tag on it: refused while others share it.
    refused = cli("--json", "delete", cli.ref("cli/copied:again"))
    assert_one_error_line(refused, "delete", "other tags", "(all)", "--force", seed.index.digest)
    assert cli("digest", cli.ref("cli/copied:again")).code == 0  # nothing was deleted
    # tag delete removes that tag alone; the manifest stays under the other.
    untagged = cli("--json", "tag", "delete", cli.ref("cli/copied:again"))
    assert untagged.code == 0, untagged.err
    assert untagged.json["digest"] == seed.index.digest  # type: ignore[index]
    assert_one_error_line(cli("digest", cli.ref("cli/copied:again")), "404")
    assert set(cli("tags", cli.ref("cli/copied")).out.decode().split()) == {"all", "latest"}
    assert cli("digest", cli.ref("cli/copied:all")).out.decode() == seed.index.digest + "\n"
    # The last tag on it: deleted, and the answer names the manifest.
    deleted = cli("--json", "delete", cli.ref("cli/copied:all"))
    assert deleted.code == 0, deleted.err
    assert deleted.json["digest"] == seed.index.digest  # type: ignore[index]
    assert deleted.json["tags"] == ["all"]  # type: ignore[index]
    gone = cli("manifest", cli.ref(f"cli/copied@{seed.index.digest}"))
    assert_one_error_line(gone, "cli/copied@", "404", "MANIFEST_UNKNOWN")
    # --force deletes a manifest that other tags share, and says which tags went.
    assert cli("tag", cli.ref("cli/copied:latest"), "other").code == 0
    forced = cli("--json", "delete", "--force", cli.ref("cli/copied:latest"))
    assert forced.code == 0, forced.err
    assert sorted(forced.json["tags"]) == ["latest", "other"]  # type: ignore[index]
    assert_one_error_line(cli("digest", cli.ref("cli/copied:other")), "404")


def test_referrers(cli: CLI) -> None:
    seed = seeded(cli.instance)
    listed = cli("--json", "referrers", cli.ref(f"{seed.repo}:single"))
    assert listed.code == 0, listed.err
    document = listed.json
    assert isinstance(document, dict)
    assert [m["digest"] for m in document["manifests"]] == [seed.referrer.digest]
    assert document["manifests"][0]["artifactType"] == ARTIFACT_TYPE
    plain = cli("referrers", cli.ref(f"{seed.repo}@{seed.image.digest}"))
    assert plain.out.decode().split("\t")[:2] == [seed.referrer.digest, ARTIFACT_TYPE]
    other = cli("referrers", "--artifact-type", "application/x-other", cli.ref(f"{seed.repo}:single"))
    assert other.code == 0 and other.out == b""


# --- errors ---------------------------------------------------------------------------


def test_missing_tag_and_repository(cli: CLI) -> None:
    seed = seeded(cli.instance)
    missing_tag = cli("manifest", cli.ref(f"{seed.repo}:no-such-tag"))
    assert_one_error_line(missing_tag, f"{seed.repo}:no-such-tag", "404", "MANIFEST_UNKNOWN",
                          "manifest unknown")
    missing_repo = cli("tags", cli.ref("cli/no-such-repo"))
    assert_one_error_line(missing_repo, "cli/no-such-repo", "404", "NAME_UNKNOWN")


@pytest.mark.parametrize("setup", ["basic", "token"])
def test_bad_credentials(setup: str, request: pytest.FixtureRequest, isolated: Path,
                         capsysbinary: pytest.CaptureFixture[bytes],
                         monkeypatch: pytest.MonkeyPatch, transport_name: str) -> None:
    instance: RegistryInstance = request.getfixturevalue(f"registry_{setup}")
    seed = seeded(instance)
    cli = CLI(capsysbinary, monkeypatch, instance, transport_name)
    wrong = "not-the-password-7f3a"
    result = cli("-u", instance.writer.name, "--password-stdin", "tags", cli.ref(seed.repo),
                 stdin=wrong + "\n")
    assert_one_error_line(result, "tags", seed.repo, "401")
    assert wrong not in result.err
    anonymous = cli("tags", cli.ref(seed.repo))
    assert_one_error_line(anonymous, "401", "UNAUTHORIZED")


def test_unreachable_registry(isolated: Path, capsysbinary: pytest.CaptureFixture[bytes],
                              monkeypatch: pytest.MonkeyPatch, transport_name: str) -> None:
    port = free_port()  # nothing listens there: the connection is refused
    cli = CLI(capsysbinary, monkeypatch, None, transport_name)  # type: ignore[arg-type]
    result = cli("--timeout", "3", "tags", f"127.0.0.1:{port}/some/repo")
    assert_one_error_line(result, f"127.0.0.1:{port}/some/repo")
    assert "refused" in result.err.lower() or "connect" in result.err.lower()


@pytest.mark.parametrize("argv", [
    ["tags"],  # missing argument
    ["manifest", "Not A Reference"],
    ["digest", "--platform", "linux", "alpine"],
    ["tags", "-u", "someone", "alpine"],  # a username without --password-stdin
    ["pull", "--platform", "linux/amd64", "--all-platforms", "alpine", "dir"],
    ["frobnicate", "alpine"],
])
def test_usage_errors_exit_2(argv: list[str], capsysbinary: pytest.CaptureFixture[bytes],
                             monkeypatch: pytest.MonkeyPatch, isolated: Path) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    captured = capsysbinary.readouterr()
    assert captured.out == b""
    assert b"ocireg" in captured.err and b"error:" in captured.err


# --- credentials ------------------------------------------------------------------------


@pytest.mark.parametrize("setup", ["basic", "token"])
def test_login_then_logout(setup: str, request: pytest.FixtureRequest, isolated: Path,
                           capsysbinary: pytest.CaptureFixture[bytes],
                           monkeypatch: pytest.MonkeyPatch, transport_name: str) -> None:
    instance: RegistryInstance = request.getfixturevalue(f"registry_{setup}")
    seed = seeded(instance)
    cli = CLI(capsysbinary, monkeypatch, instance, transport_name)
    name, password = instance.writer.creds
    assert_one_error_line(cli("tags", cli.ref(seed.repo)), "401")

    refused = cli("login", instance.host, "-u", name, "--password-stdin", stdin="wrong-password\n")
    assert_one_error_line(refused, "login", instance.host)
    assert not (isolated / "config.json").exists()  # refused credentials are not saved

    logged = cli("login", instance.host, "-u", name, "--password-stdin", stdin=password + "\n")
    assert logged.code == 0, logged.err
    assert password not in logged.err and logged.out == b""
    config = json.loads((isolated / "config.json").read_text())
    assert base64.b64decode(config["auths"][instance.host]["auth"]).decode() == f"{name}:{password}"
    assert (isolated / "config.json").stat().st_mode & 0o077 == 0

    listed = cli("tags", cli.ref(seed.repo))
    assert listed.code == 0 and "single" in listed.out.decode().splitlines()

    out = cli("logout", instance.host)
    assert out.code == 0 and "Removed" in out.err
    assert instance.host not in json.loads((isolated / "config.json").read_text())["auths"]
    assert_one_error_line(cli("tags", cli.ref(seed.repo)), "401")


def test_credential_helper_on_path(registry_token: RegistryInstance, isolated: Path, tmp_path: Path,
                                   capsysbinary: pytest.CaptureFixture[bytes],
                                   monkeypatch: pytest.MonkeyPatch, transport_name: str) -> None:
    seed = seeded(registry_token)
    name, password = registry_token.reader.creds
    bindir = tmp_path / "bin"
    bindir.mkdir()
    calls = tmp_path / "helper-calls.txt"
    helper = bindir / "docker-credential-test"
    helper.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        "server = sys.stdin.read().strip()\n"
        f"with open({str(calls)!r}, 'a') as log:\n"
        "    log.write(sys.argv[1] + ' ' + server + '\\n')\n"
        f"json.dump({{'ServerURL': server, 'Username': {name!r}, 'Secret': {password!r}}}, sys.stdout)\n"
    )
    helper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    write_docker_config(isolated, {"credHelpers": {registry_token.host: "test"}})
    cli = CLI(capsysbinary, monkeypatch, registry_token, transport_name)
    result = cli("--json", "tags", cli.ref(seed.repo))
    assert result.code == 0, result.err
    assert "single" in result.json["tags"]  # type: ignore[index]
    assert calls.read_text().splitlines()[0] == f"get {registry_token.host}"
    assert password not in result.err


def test_debug_logs_requests_without_credentials(registry_basic: RegistryInstance, isolated: Path,
                                                 capsysbinary: pytest.CaptureFixture[bytes],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    seed = seeded(registry_basic)
    cli = CLI(capsysbinary, monkeypatch, registry_basic, "urllib3")
    name, password = registry_basic.writer.creds
    ok = cli("--debug", "-u", name, "--password-stdin", "digest", cli.ref(f"{seed.repo}:single"),
             stdin=password)
    assert ok.code == 0 and ok.out.decode() == seed.image.digest + "\n"
    assert f"/v2/{seed.repo}/manifests/single" in ok.err
    assert "Authorization: <redacted>" in ok.err
    basic = base64.b64encode(f"{name}:{password}".encode()).decode()
    assert password not in ok.err and basic not in ok.err
    failed = cli("--debug", "manifest", cli.ref(f"{seed.repo}:nope"), "-u", name, "--password-stdin",
                 stdin=password)
    assert failed.code == 1
    assert "Traceback" in failed.err and "ManifestUnknown" in failed.err
    assert failed.err.splitlines()[-1].startswith("ocireg: error: manifest ")
    assert password not in failed.err


# --- as a program: subprocess and pseudo-terminal ------------------------------------------


def subprocess_env(config_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DOCKER_CONFIG", "REGISTRY_AUTH_FILE")}
    env.update(DOCKER_CONFIG=str(config_dir), REGISTRY_AUTH_FILE=str(config_dir / "none.json"),
               XDG_RUNTIME_DIR=str(config_dir / "run"), COLUMNS="100", **extra)
    return env


def test_subprocess_json_and_quiet_stderr(registry: RegistryInstance, transport_name: str,
                                         tmp_path: Path) -> None:
    seed = seeded(registry)
    config_dir = tmp_path / "docker"
    if registry.auth_required:
        write_docker_config(config_dir, auths_for(registry))
    env = subprocess_env(config_dir)
    listed = subprocess.run(
        [PYTHON, "-m", "ocireg", "--json", "--transport", transport_name, "tags",
         f"{registry.host}/{seed.repo}"],
        capture_output=True, env=env, timeout=60, check=False,
    )
    assert listed.returncode == 0, listed.stderr
    assert {"multi", "single"} <= set(json.loads(listed.stdout)["tags"])
    # Progress goes only to a terminal: piped stderr stays empty on success.
    pulled = subprocess.run(
        [PYTHON, "-m", "ocireg", "--transport", transport_name, "pull",
         f"{registry.host}/{seed.repo}:single", str(tmp_path / "layout")],
        capture_output=True, env=env, timeout=60, check=False,
    )
    assert pulled.returncode == 0 and pulled.stderr == b""
    assert pulled.stdout.decode() == seed.image.digest + "\n"
    missing = subprocess.run(
        [PYTHON, "-m", "ocireg", "--transport", transport_name, "digest",
         f"{registry.host}/{seed.repo}:absent"],
        capture_output=True, env=env, timeout=60, check=False,
    )
    assert missing.returncode == 1 and missing.stdout == b""
    error = missing.stderr.decode()
    # A HEAD answer has no body, so no registry code: the status and reference say it.
    assert error.count("\n") == 1 and error.startswith("ocireg: error: digest ")
    assert f"{seed.repo}:absent" in error and "404" in error and "manifest unknown" in error


def test_the_program_exits_with_its_status_and_everything_written(tmp_path: Path) -> None:
    """``python -m ocireg`` skips the interpreter's teardown: nothing printed may be lost."""
    env = subprocess_env(tmp_path / "docker")
    shown = subprocess.run([PYTHON, "-m", "ocireg", "--help"], capture_output=True, env=env, timeout=60,
                           check=False)
    assert shown.returncode == 0 and shown.stderr == b""
    assert shown.stdout.decode().endswith("Run 'ocireg COMMAND --help' for a command's arguments and examples.\n")
    usage = subprocess.run([PYTHON, "-m", "ocireg", "tags"], capture_output=True, env=env, timeout=60, check=False)
    assert usage.returncode == 2 and usage.stdout == b""
    assert usage.stderr.decode().count("\n") == 1 and "REPO" in usage.stderr.decode()
    version = subprocess.run([PYTHON, "-m", "ocireg", "--version"], capture_output=True, env=env, timeout=60,
                             check=False)
    assert (version.returncode, version.stdout) == (0, b"ocireg 0.1.0\n")


def run_on_pty(argv: list[str], env: dict[str, str]) -> tuple[int, bytes, str]:
    """Run with stderr on a pseudo-terminal; return (status, stdout, what the terminal showed)."""
    master, slave = pty.openpty()
    # A terminal of 30 rows by 100 columns, as a real one reports (a fresh pty says 0 x 0).
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    with subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave,
                          env=env) as proc:
        os.close(slave)
        shown = bytearray()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: the child closed its end
                    break
                if not data:
                    break
                shown += data
            elif proc.poll() is not None:
                break
        os.close(master)
        assert proc.stdout is not None
        out = proc.stdout.read()
        status = proc.wait(timeout=30)
    return status, out, shown.decode(errors="replace")


@pytest.mark.parametrize("renderer", ["tqdm", "plain"])
def test_progress_under_a_terminal(renderer: str, registry_none: RegistryInstance, tmp_path: Path) -> None:
    seed = seeded(registry_none)
    env = subprocess_env(tmp_path / "docker")
    if renderer == "plain":
        # A tqdm that cannot be imported: the CLI falls back to plain lines.
        blocker = tmp_path / "blocker"
        blocker.mkdir()
        (blocker / "tqdm.py").write_text("raise ImportError('tqdm is not installed here')\n")
        env["PYTHONPATH"] = str(blocker)
    ref = f"{registry_none.host}/{seed.repo}:single"
    big = seed.image.blobs[2]
    status, out, shown = run_on_pty([PYTHON, "-m", "ocireg", "pull", ref, str(tmp_path / "l")], env)
    assert status == 0, shown
    assert out.decode() == seed.image.digest + "\n"
    assert big.digest[:19] in shown  # the layer's bar or line, labelled as docker labels digests
    if renderer == "plain":
        assert f"{big.digest[:19]}: " in shown and "blob(s)" in shown
    else:
        assert "total" in shown and "B/s" in shown

    status, out, shown = run_on_pty(
        [PYTHON, "-m", "ocireg", "--quiet", "pull", ref, str(tmp_path / "q")], env)
    assert status == 0 and out.decode() == seed.image.digest + "\n"
    assert shown == ""  # --quiet: nothing on the terminal

    target = tmp_path / "blob.out"
    status, _, shown = run_on_pty(
        [PYTHON, "-m", "ocireg", "blob", f"{registry_none.host}/{seed.repo}@{big.digest}", "-o", str(target)],
        env)
    assert status == 0 and big.digest[:19] in shown
    assert hashlib.sha256(target.read_bytes()).hexdigest() == big.digest.split(":", 1)[1]


def test_push_progress_under_a_terminal(registry_none: RegistryInstance, tmp_path: Path) -> None:
    seed = seeded(registry_none)
    env = subprocess_env(tmp_path / "docker")
    layout = tmp_path / "layout"
    status, _, _ = run_on_pty(
        [PYTHON, "-m", "ocireg", "--quiet", "pull", f"{registry_none.host}/{seed.repo}:single", str(layout)], env)
    assert status == 0
    # A fresh repository on another registry path: every blob is uploaded, none mounted.
    status, out, shown = run_on_pty(
        [PYTHON, "-m", "ocireg", "push", str(layout), f"{registry_none.host}/cli/progress-push:1"], env)
    assert status == 0, shown
    assert out.decode().endswith(f"@{seed.image.digest}\n")
    for blob in seed.image.blobs:
        assert blob.digest[:19] in shown
