"""The everyday commands against the real test bed: inspect (beside skopeo), TLS on
127.0.0.1, mirrors from registries.conf, export, validate, auth get, completion,
single-platform copy, errors in words, and the command-line edge cases.

Content is seeded with raw uploads (images.push_raw), never by the client under test.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from images import Blob, ImageContent, config_blob, docker_image, push_raw
from ocireg import ConnectError, Registry, ResponseError, TransportError
from registry_bed import RegistryInstance, free_port
from test_cli import (
    CLI,
    PYTHON,
    assert_one_error_line,
    auths_for,
    run_on_pty,
    seeded,
    subprocess_env,
    write_docker_config,
)

OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


@pytest.fixture
def cli_none(registry_none: RegistryInstance, isolated: Path, capsysbinary: pytest.CaptureFixture[bytes],
             monkeypatch: pytest.MonkeyPatch, transport_name: str) -> CLI:
    return CLI(capsysbinary, monkeypatch, registry_none, transport_name)


# --- inspect, compared with skopeo ---------------------------------------------------------


def skopeo_inspect(instance: RegistryInstance, ref: str, *extra: str) -> dict[str, object]:
    done = subprocess.run(["skopeo", "inspect", "--tls-verify=false", *extra, f"docker://{instance.host}/{ref}"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    return result


SKOPEO_FIELDS = ("Name", "Digest", "Created", "DockerVersion", "Labels", "Architecture", "Os", "Layers", "Env")


@pytest.mark.parametrize("tag", ["single", "multi"])
def test_inspect_json_matches_skopeo_field_by_field(tag: str, cli_none: CLI, skopeo: str) -> None:
    seed = seeded(cli_none.instance)
    ref = f"{seed.repo}:{tag}"
    theirs = skopeo_inspect(cli_none.instance, ref, "--override-os", "linux", "--override-arch", "amd64")
    result = cli_none("--json", "inspect", "--platform", "linux/amd64", cli_none.ref(ref))
    assert result.code == 0, result.err
    ours = result.json
    assert isinstance(ours, dict)
    for name in SKOPEO_FIELDS:
        assert ours[name] == theirs[name], name
    assert sorted(ours["RepoTags"]) == sorted(theirs["RepoTags"])  # type: ignore[arg-type]
    image = seed.image if tag == "single" else seed.index.children[0]
    assert ours["ManifestDigest"] == image.digest and ours["MediaType"] == image.media_type
    assert ours["Cmd"] == ["/bin/sh"] and ours["Entrypoint"] is None
    assert [layer["Size"] for layer in ours["LayersData"]] == [b.size for b in image.blobs[1:]]
    assert [layer["MIMEType"] for layer in ours["LayersData"]] == [b.media_type for b in image.blobs[1:]]


def test_inspect_index_lists_platforms_and_prints_a_summary(cli_none: CLI) -> None:
    seed = seeded(cli_none.instance)
    listed = cli_none("--json", "inspect", "--no-tags", cli_none.ref(f"{seed.repo}:multi"))
    view = listed.json
    assert isinstance(view, dict) and view["Digest"] == seed.index.digest and view["RepoTags"] == []
    assert [m["Digest"] for m in view["Manifests"]] == [c.digest for c in seed.index.children]
    assert [m["Platform"] for m in view["Manifests"]] == [
        "linux/amd64", "linux/arm64/v8", "linux/arm/v7", "windows(10.0.17763.1234)/amd64"]
    text = cli_none("inspect", cli_none.ref(f"{seed.repo}:single")).out.decode()
    assert f"Digest:     {seed.image.digest}" in text and "Platform:   linux/amd64" in text
    assert "Cmd:        /bin/sh" in text and "Layers:     2 (" in text
    assert "multi, " in text and "single" in text
    raw = cli_none("inspect", "--raw", "--platform", "linux/arm64", cli_none.ref(f"{seed.repo}:multi"))
    assert raw.out == seed.index.children[1].manifest
    config = cli_none("inspect", "--config", cli_none.ref(f"{seed.repo}:single"))
    assert config.out == seed.image.blobs[0].data


# --- TLS on 127.0.0.1, and scheme discovery -----------------------------------------------


@pytest.fixture(scope="module")
def tls_seed(registry_tls: RegistryInstance) -> ImageContent:
    assert registry_tls.tls is not None
    image = docker_image((700,))
    push_raw(registry_tls.url, "tls/app", image, tag="1", ca_file=str(registry_tls.tls.ca))
    return image


def test_tls_on_localhost_with_ca_file_and_insecure(registry_tls: RegistryInstance, tls_seed: ImageContent,
                                                    isolated: Path, capsysbinary: pytest.CaptureFixture[bytes],
                                                    monkeypatch: pytest.MonkeyPatch, transport_name: str) -> None:
    assert registry_tls.tls is not None
    cli = CLI(capsysbinary, monkeypatch, registry_tls, transport_name)
    ref = cli.ref("tls/app:1")
    # Plain HTTP first on loopback gets a 400 from a TLS port: then https, verified with the CA given.
    trusted = cli("--ca-file", str(registry_tls.tls.ca), "digest", ref)
    assert trusted.code == 0, trusted.err
    assert trusted.out.decode() == tls_seed.digest + "\n"
    # Without the CA, the TLS failure is the error, in words, with what to do.
    untrusted = cli("digest", ref)
    assert_one_error_line(untrusted, "speaks https", "certificate", "--ca-file", "--insecure")
    # --insecure: TLS without verification, still https.
    assert cli("--insecure", "digest", ref).out.decode() == tls_seed.digest + "\n"
    log = registry_tls.access_log_lines()
    assert any(e.path == "/v2/tls/app/manifests/1" for e in log)


def test_plain_http_on_localhost_is_discovered(registry_none: RegistryInstance, transport_name: str) -> None:
    seed = seeded(registry_none)
    from conftest import make_transport

    with Registry(registry_none.host, transport=make_transport(transport_name)) as reg:  # type: ignore[arg-type]
        assert reg.url == f"https://{registry_none.host}"  # nothing sent yet
        assert str(reg.manifest_digest(seed.repo, "single")) == seed.image.digest
        assert reg.url == registry_none.url  # plain HTTP answered first: no TLS attempt
        reg.transport.close()


def test_mismatches_are_told_in_words_both_ways(registry_none: RegistryInstance, registry_tls: RegistryInstance,
                                                transport_name: str) -> None:
    from conftest import make_transport

    # https to a plain-HTTP port (a URL that says https, so no fallback).
    with Registry(f"https://{registry_none.host}", transport=make_transport(transport_name)) as reg:  # type: ignore[arg-type]
        with pytest.raises(ConnectError) as info:
            reg.ping()
        reg.transport.close()
    from ocireg._explain import explain

    assert "server gave HTTP response to HTTPS client" in explain(info.value)
    # Plain HTTP to the TLS port: the server's own hint is kept.  (The server answers
    # and closes at once; h11 may meet the closed socket while still sending, and then
    # reports that instead: a transport error, typed, without the hint.)
    with Registry(f"http://{registry_tls.host}", transport=make_transport(transport_name)) as reg:  # type: ignore[arg-type]
        with pytest.raises((ResponseError, TransportError)) as refused:
            reg.ping()
        reg.transport.close()
    if transport_name == "h11" and isinstance(refused.value, TransportError):
        return
    assert isinstance(refused.value, ResponseError) and refused.value.status == 400
    assert "Client sent an HTTP request to an HTTPS server" in str(refused.value)
    assert "speaks https" in str(refused.value)


# --- mirrors from registries.conf -----------------------------------------------------------


def registries_conf(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "registries.conf"
    path.write_text(text)
    return path


def test_mirror_serves_pulls_when_the_primary_lacks_the_image(
        registry_none: RegistryInstance, second_registry: RegistryInstance, cli_none: CLI, tmp_path: Path) -> None:
    seed = seeded(registry_none)  # the mirror holds the image; the primary (second_registry) does not
    primary = second_registry.host
    conf = registries_conf(tmp_path, f'[[registry]]\nlocation = "{primary}"\n'
                                     f'[[registry.mirror]]\nlocation = "{registry_none.host}"\n')
    before = len(second_registry.access_log_lines())
    result = cli_none("--registries-conf", str(conf), "digest", f"{primary}/{seed.repo}:single")
    assert result.code == 0, result.err
    assert result.out.decode() == seed.image.digest + "\n"
    assert len(second_registry.access_log_lines()) == before  # served by the mirror alone
    # Pull and export read through the mirror too.
    pulled = cli_none("--registries-conf", str(conf), "--json", "pull", f"{primary}/{seed.repo}:single",
                      str(tmp_path / "layout"))
    assert pulled.code == 0, pulled.err
    assert pulled.json["descriptor"]["digest"] == seed.image.digest  # type: ignore[index]
    # Writes go to the primary location, never to a mirror.
    assert cli_none("--registries-conf", str(conf), "push", str(tmp_path / "layout"),
                    f"{primary}/pushed/app:1").code == 0
    assert any(e.method == "PUT" and e.path == "/v2/pushed/app/manifests/1"
               for e in second_registry.access_log_lines())


def test_mirror_when_the_primary_is_down_and_the_config_from_the_environment(
        registry_none: RegistryInstance, cli_none: CLI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seed = seeded(registry_none)
    down = f"127.0.0.1:{free_port()}"
    conf = registries_conf(tmp_path, f'[[registry]]\nprefix = "{down}/hub"\nlocation = "{down}/hub"\n'
                                     f'[[registry.mirror]]\nlocation = "{registry_none.host}/cli"\n')
    monkeypatch.setenv("CONTAINERS_REGISTRIES_CONF", str(conf))
    result = cli_none("digest", f"{down}/hub/app:multi")  # the mirror's location rewrites hub/ to cli/
    assert result.code == 0, result.err
    assert result.out.decode() == seed.index.digest + "\n"
    # No mirror has it: the primary's error, with the mirror's as well.
    missing = cli_none("--timeout", "5", "digest", f"{down}/hub/app:absent")
    assert_one_error_line(missing, "also tried", "404")


def test_blocked_and_digest_only_mirrors(registry_none: RegistryInstance, cli_none: CLI, tmp_path: Path) -> None:
    seed = seeded(registry_none)
    down = f"127.0.0.1:{free_port()}"
    conf = registries_conf(tmp_path, f'[[registry]]\nlocation = "{down}"\n[[registry.mirror]]\n'
                                     f'location = "{registry_none.host}"\npull-from-mirror = "digest-only"\n'
                                     f'[[registry]]\nlocation = "{registry_none.host}"\nblocked = true\n')
    pinned = cli_none("--registries-conf", str(conf), "manifest", f"{down}/{seed.repo}@{seed.image.digest}")
    assert pinned.code == 0 and pinned.out == seed.image.manifest
    by_tag = cli_none("--registries-conf", str(conf), "--timeout", "5", "digest", f"{down}/{seed.repo}:single")
    assert_one_error_line(by_tag, down)  # the mirror is for digests only: the primary is down
    assert "also tried" not in by_tag.err
    blocked = cli_none("--registries-conf", str(conf), "tags", cli_none.ref(seed.repo))
    assert_one_error_line(blocked, "blocked", str(conf))
    bad = registries_conf(tmp_path, "[[registry]\n")
    assert_one_error_line(cli_none("--registries-conf", str(bad), "tags", cli_none.ref(seed.repo)),
                          "not valid TOML")


def test_unqualified_search_registries_for_short_names(registry_none: RegistryInstance, cli_none: CLI,
                                                       tmp_path: Path) -> None:
    seed = seeded(registry_none)
    down = f"127.0.0.1:{free_port()}"
    conf = registries_conf(tmp_path, f'unqualified-search-registries = ["{down}", "{registry_none.host}"]\n')
    found = cli_none("--registries-conf", str(conf), "--timeout", "5", "digest", f"{seed.repo}:single")
    assert found.code == 0, found.err
    assert found.out.decode() == seed.image.digest + "\n"
    ambiguous = cli_none("--registries-conf", str(conf), "tag", f"{seed.repo}:single", "x")
    assert_one_error_line(ambiguous, "ambiguous")


# --- export and validate -----------------------------------------------------------------


def tar_layer(entries: dict[str, bytes | None]) -> Blob:
    """A gzip'd layer; None marks a directory."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            if data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return Blob.of(gzip.compress(raw.getvalue(), mtime=0), OCI_LAYER_GZIP)


def image_of(layers: list[Blob]) -> ImageContent:
    config = config_blob(layers)
    return ImageContent.of({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config.descriptor(),
                            "layers": [layer.descriptor() for layer in layers]}, OCI_MANIFEST, [config, *layers])


def test_export_applies_whiteouts_and_opaque_dirs(cli_none: CLI, tmp_path: Path) -> None:
    base = tar_layer({"etc": None, "etc/os-release": b"base", "etc/passwd": b"root", "var": None,
                      "var/cache/a": b"a", "var/cache/b": b"b", "tmp/junk": b"j"})
    change = tar_layer({"etc/os-release": b"changed", "etc/.wh.passwd": b"", "var/cache": None,
                        "var/cache/.wh..wh..opq": b"", "var/cache/new": b"n", ".wh.tmp": b""})
    image = image_of([base, change])
    push_raw(cli_none.instance.url, "cli/export", image, tag="1")
    target = tmp_path / "rootfs.tar"
    result = cli_none("export", cli_none.ref("cli/export:1"), "-o", str(target))
    assert result.code == 0, result.err
    with tarfile.open(target) as tar:
        files = {m.name: tar.extractfile(m).read() for m in tar if m.isreg()}  # type: ignore[union-attr]
        names = set(tar.getnames())
    assert files == {"etc/os-release": b"changed", "var/cache/new": b"n"}
    assert {"etc", "var", "var/cache"} <= names and not any(n.startswith("tmp") for n in names)
    # To stdout as well, identical.
    streamed = cli_none("export", cli_none.ref("cli/export:1"))
    assert streamed.code == 0 and streamed.out == target.read_bytes()
    # An index needs a platform.
    seed = seeded(cli_none.instance)
    assert_one_error_line(cli_none("export", cli_none.ref(f"{seed.repo}:multi"), "-o", str(tmp_path / "x.tar")),
                          "pick a platform")
    assert not (tmp_path / "x.tar").exists()


def test_export_refuses_a_layer_escaping_the_root(cli_none: CLI, tmp_path: Path) -> None:
    image = image_of([tar_layer({"../../etc/cron.d/evil": b"x"})])
    push_raw(cli_none.instance.url, "cli/evil", image, tag="1")
    target = tmp_path / "out.tar"
    result = cli_none("export", cli_none.ref("cli/evil:1"), "-o", str(target))
    assert_one_error_line(result, "escapes the root", "layer 1")
    assert not [p for p in tmp_path.iterdir() if "out.tar" in p.name]  # nothing half-written


def test_validate_passes_and_detects_a_corrupted_blob(cli_none: CLI) -> None:
    seed = seeded(cli_none.instance)
    good = cli_none("validate", cli_none.ref(f"{seed.repo}:multi"))
    assert good.code == 0, good.err
    assert good.out.decode().count("PASS ") == len(seed.index.children)
    # Fresh bytes each run: blobs are shared by digest across the registry's repositories.
    image = image_of([tar_layer({"a": os.urandom(3000)}), tar_layer({"b": os.urandom(2000)})])
    push_raw(cli_none.instance.url, "cli/corrupt", image, tag="1")
    assert cli_none("validate", cli_none.ref("cli/corrupt:1")).code == 0
    victim = image.blobs[2]
    path = cli_none.instance.blob_data_path(victim.digest)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, other bytes
    path.write_bytes(bytes(data))
    bad = cli_none("--json", "validate", cli_none.ref("cli/corrupt:1"))
    assert bad.code == 1
    report = bad.json
    assert isinstance(report, dict) and report["ok"] is False
    (checked,) = report["images"]
    assert len(checked["problems"]) == 1 and victim.digest in checked["problems"][0]
    assert bad.err.count("\n") == 1 and "1 problem(s)" in bad.err


# --- copy, deletes, errors in words -------------------------------------------------------


def test_single_platform_copy_keeps_the_child_digest(cli_none: CLI) -> None:
    seed = seeded(cli_none.instance)
    arm = seed.index.children[1]
    one = cli_none("--json", "copy", "--platform", "linux/arm64", cli_none.ref(f"{seed.repo}:multi"),
                   cli_none.ref("cli/one:arm"))
    assert one.code == 0, one.err
    assert one.json["digest"] == arm.digest and one.json["platformManifest"] is True  # type: ignore[index]
    assert cli_none("manifest", cli_none.ref("cli/one:arm")).out == arm.manifest
    two = cli_none("copy", "--platform", "linux/arm64", "--platform", "linux/amd64",
                   cli_none.ref(f"{seed.repo}:multi"), cli_none.ref("cli/two:both"))
    assert two.code == 0 and "new index" in two.err


def test_wrong_password_and_missing_push_access_in_words(
        registry_basic: RegistryInstance, registry_token: RegistryInstance, isolated: Path,
        capsysbinary: pytest.CaptureFixture[bytes], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secret = "wrong-password-5e1f"
    for instance in (registry_basic,):
        seed = seeded(instance)
        cli = CLI(capsysbinary, monkeypatch, instance, "urllib3")
        wrong = cli("-u", "writer", "--password-stdin", "tags", cli.ref(seed.repo), stdin=secret)
        assert_one_error_line(wrong, f"credentials for writer were refused by {instance.host}")
        assert secret not in wrong.err
        anonymous = cli("tags", cli.ref(seed.repo))
        assert_one_error_line(anonymous, "needs credentials")
    seed = seeded(registry_token)
    cli = CLI(capsysbinary, monkeypatch, registry_token, "urllib3")
    write_docker_config(isolated, auths_for(registry_token, "reader"))
    layout = tmp_path / "layout"
    assert cli("pull", cli.ref(f"{seed.repo}:single"), str(layout)).code == 0
    denied = cli("push", str(layout), cli.ref("readers/nope:1"))
    assert_one_error_line(denied, "credentials for reader lack push access to readers/nope")
    assert registry_token.reader.password not in denied.err
    refused = cli("-u", "reader", "--password-stdin", "tags", cli.ref(seed.repo), stdin=secret)
    assert_one_error_line(refused, "refused credentials for reader")


# --- auth get, completion, edge cases of the command line ------------------------------------


def test_auth_get_prints_the_helper_format(isolated: Path, capsysbinary: pytest.CaptureFixture[bytes],
                                          monkeypatch: pytest.MonkeyPatch, registry_basic: RegistryInstance) -> None:
    write_docker_config(isolated, auths_for(registry_basic))
    cli = CLI(capsysbinary, monkeypatch, registry_basic, "urllib3")
    got = cli("auth", "get", registry_basic.host)
    assert got.code == 0
    assert got.json == {"Username": "writer", "Secret": registry_basic.writer.password}
    from_stdin = cli("auth", "get", stdin=f"https://{registry_basic.host}\n")
    assert from_stdin.json == got.json
    assert_one_error_line(cli("auth", "get", "nowhere.example"), "no credentials stored for nowhere.example")


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts(shell: str, tmp_path: Path) -> None:
    done = subprocess.run([PYTHON, "-m", "ocireg", "completion", shell], capture_output=True, text=True,
                          env=subprocess_env(tmp_path), timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "ocireg" in done.stdout and "_ARGCOMPLETE" in done.stdout
    # The script asks the program: with the shell's variables set, it answers the commands.
    line = "ocireg insp"
    answers = tmp_path / "answers"
    env = subprocess_env(tmp_path, _ARGCOMPLETE="1", COMP_LINE=line, COMP_POINT=str(len(line)),
                         _ARGCOMPLETE_IFS="\n", _ARGCOMPLETE_SHELL=shell,
                         _ARGCOMPLETE_STDOUT_FILENAME=str(answers))
    answer = subprocess.run([PYTHON, "-m", "ocireg"], capture_output=True, env=env, timeout=60, check=False,
                            stdin=subprocess.DEVNULL)
    assert answer.returncode == 0, answer.stderr
    assert answers.read_text().split()[0].startswith("inspect")
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "argcomplete.py").write_text("raise ImportError('argcomplete is not installed here')\n")
    missing = subprocess.run([PYTHON, "-m", "ocireg", "completion", shell], capture_output=True, text=True,
                             env=subprocess_env(tmp_path, PYTHONPATH=f"{blocker}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"),
                             timeout=60, check=False)
    assert missing.returncode == 1 and missing.stdout == ""
    assert missing.stderr.count("\n") == 1 and "pip install" in missing.stderr


@pytest.mark.parametrize("value", ["0", "-1", "inf", "nan", "soon"])
def test_bad_timeouts_are_usage_errors(value: str, tmp_path: Path) -> None:
    done = subprocess.run([PYTHON, "-m", "ocireg", "--timeout", value, "tags", "localhost:1/x"],
                          capture_output=True, text=True, env=subprocess_env(tmp_path), timeout=60, check=False)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("ocireg: error: argument --timeout")


def test_closed_stdout_and_non_utf8_paths(registry_none: RegistryInstance, tmp_path: Path) -> None:
    seed = seeded(registry_none)
    env = subprocess_env(tmp_path)
    repo = f"{registry_none.host}/{seed.repo}"
    # A reader that is gone before anything is written (ocireg tags X | head -0).
    reader = subprocess.Popen(["head", "-c", "0"], stdin=subprocess.PIPE)
    assert reader.wait(timeout=30) == 0
    assert reader.stdin is not None
    done = subprocess.run([PYTHON, "-m", "ocireg", "tags", repo], stdout=reader.stdin, stderr=subprocess.PIPE,
                          env=env, timeout=60, check=False)
    reader.stdin.close()
    assert done.returncode == 1
    error = done.stderr.decode()
    assert error.count("\n") == 1 and error.startswith("ocireg: error: tags ") and "closed" in error
    # stdout closed outright (>&-).
    closed = subprocess.run(f"exec {PYTHON} -m ocireg tags {repo} >&-", shell=True, stderr=subprocess.PIPE,  # noqa: S602
                            env=env, timeout=60, check=False)
    assert closed.returncode == 1 and closed.stderr.decode().count("\n") == 1
    assert b"Traceback" not in closed.stderr
    # A directory name that is not UTF-8, under --json.
    odd = os.fsencode(str(tmp_path)) + b"/layout-\xff"
    bad = subprocess.run([os.fsencode(PYTHON), b"-m", b"ocireg", b"--json", b"pull", repo.encode() + b":single", odd],
                         capture_output=True, env=env, timeout=60, check=False)
    assert bad.returncode == 1 and bad.stdout == b""
    assert bad.stderr.decode().count("\n") == 1 and b"UTF-8" in bad.stderr and b"Traceback" not in bad.stderr
    assert not os.path.exists(odd)  # refused before anything was written


@pytest.mark.parametrize("command", ["inspect", "copy", "tag", "delete", "export", "validate", "auth"])
def test_help_describes_arguments_with_examples(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    from ocireg.cli import main

    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    assert "examples:\n  ocireg " + command in text
    assert "positional arguments:" in text


def test_result_line_after_the_progress_bar(registry_none: RegistryInstance, tmp_path: Path) -> None:
    seed = seeded(registry_none)
    env = subprocess_env(tmp_path / "docker")
    ref = f"{registry_none.host}/{seed.repo}:single"
    # stdout and stderr on the same terminal, as at a prompt.
    status, _, shown = run_on_pty([PYTHON, "-c", "import os, sys; os.dup2(2, 1); "
                                   "from ocireg.cli import main; sys.exit(main())",
                                   "pull", ref, str(tmp_path / "l")], env)
    assert status == 0, shown
    lines = shown.replace("\r\n", "\n").split("\n")
    result = [line for line in lines if seed.image.digest in line and "blob(s)" not in line]
    assert result, shown
    last = result[-1].split("\r")[-1].strip()
    assert last == seed.image.digest  # alone on its line, nothing drawn over or after it
    assert shown.rstrip().endswith(seed.image.digest)


def test_pull_platform_from_an_index_keeps_the_tag_name(cli_none: CLI, tmp_path: Path) -> None:
    seed = seeded(cli_none.instance)
    layout = tmp_path / "layout"
    assert cli_none("pull", "--platform", "linux/arm64", cli_none.ref(f"{seed.repo}:multi"), str(layout)).code == 0
    index = json.loads((layout / "index.json").read_text())
    (entry,) = index["manifests"]
    assert entry["digest"] == seed.index.children[1].digest
    assert entry["annotations"]["org.opencontainers.image.ref.name"] == "multi"
