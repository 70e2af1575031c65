"""``ocireg.sync`` and ``ocireg sync`` against real registries of the test bed.

The source is the token-auth registry (its own credentials), the target another
registry (none, or its own); content is seeded raw.  Covered: tag filters, a re-run
that moves nothing, a run killed midway and resumed, failures that do not stop the
rest (and --fail-fast that does), namespaces through the catalog with platforms and
referrers, the dry run, and the command line with its exit status and JSON report.
"""

from __future__ import annotations

import base64
import collections
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from images import oci_index, push_raw
from ocireg import (
    Credentials,
    Index,
    ManifestUnknown,
    Platform,
    Registry,
    RegistrySettings,
    SyncConfig,
    SyncRule,
    TagFilter,
    VersionRange,
    sync,
)
from ocireg import _sync as sync_module
from ocireg._ratelimit import TokenBucket
from ocireg._sync import ImageCopy, ImageResult, run_image_copy
from ocireg.cli import main
from registry_bed import RegistryInstance
from sync_bed import log_mark, seed_referrer, seed_tags, settings, traffic_since, unique

pytestmark = pytest.mark.registry

ROOT = Path(__file__).resolve().parent.parent
TAGS = ["1.0.0", "1.1.0", "1.2.0-rc.1", "2.0.0", "v2.1", "latest"]


def client(instance: RegistryInstance) -> Registry:
    creds = instance.writer.creds if instance.auth_required else (None, None)
    return Registry(instance.url, username=creds[0], password=creds[1])


def digest_at(instance: RegistryInstance, repo: str, tag: str) -> str | None:
    with client(instance) as reg:
        try:
            return str(reg.manifest_digest(repo, tag))
        except ManifestUnknown:
            return None


def one_rule(src: RegistryInstance, src_repo: str, dst: RegistryInstance, dst_repo: str,
             tags: TagFilter, **options: object) -> SyncConfig:
    rule = SyncRule(f"{src.host}/{src_repo}", f"{dst.host}/{dst_repo}", tags=tags, **options)  # type: ignore[arg-type]
    return SyncConfig((rule,), (settings(src), settings(dst)), jobs=3)


def test_selected_tags_are_copied_and_a_rerun_moves_nothing(
    registry_token: RegistryInstance, second_registry: RegistryInstance
) -> None:
    repo, mirror = unique("sync/app"), unique("mirror/app")
    images = seed_tags(registry_token, repo, TAGS)
    tags = TagFilter(tags=("latest",), semver=VersionRange.parse(">=1 <3"),
                     exclude=(re.compile(r"1\.1\..*"),), newest=2)
    config = one_rule(registry_token, repo, second_registry, mirror, tags)
    seen = []

    report = sync(config, progress=seen.append)

    expected = {"2.0.0", "v2.1", "latest"}  # newest 2 of {1.0.0, 2.0.0, v2.1}; 1.1.0 excluded; latest exact
    assert {r.target.rsplit(":", 1)[1] for r in report.images if r.status == "copied"} == expected
    assert (report.copied, report.skipped, report.failed) == (3, 0, 0) and report.ok
    assert sorted(r.target for r in seen) == sorted(r.target for r in report.images)
    for tag in expected:
        assert digest_at(second_registry, mirror, tag) == images[tag].digest
    for tag in set(TAGS) - expected:
        assert digest_at(second_registry, mirror, tag) is None
    moved = sum(b.size for tag in expected for b in images[tag].blobs)
    assert report.bytes == moved
    assert report.to_json()["copied"] == 3 and len(report.to_json()["images"]) == 3

    mark = log_mark(second_registry)
    again = sync(config)
    assert (again.copied, again.skipped, again.failed, again.bytes) == (0, 3, 0, 0)
    assert traffic_since(second_registry, mark).writes == []  # idempotent: HEADs only


def test_a_sync_killed_midway_resumes_and_moves_only_what_is_missing(
    registry_token: RegistryInstance, second_registry: RegistryInstance, tmp_path: Path
) -> None:
    repo, mirror = unique("sync/resume"), unique("mirror/resume")
    tags = [f"1.{i}.0" for i in range(8)]
    images = seed_tags(registry_token, repo, tags, size=40_000, seed=7)
    # The source password reaches the (separate) process through an environment
    # variable named in the config; the target is rate-limited so that the run is
    # still going when it is killed.
    config = tmp_path / "sync.toml"
    config.write_text(f"""
jobs = 1
[registries."{registry_token.host}"]
username = "writer"
password_env = "OCIREG_TEST_SOURCE_PASSWORD"
[registries."{second_registry.host}"]
docker_config = false
rate = 25
[[sync]]
source = "{registry_token.host}/{repo}"
target = "{second_registry.host}/{mirror}"
semver = ">=1"
""")
    env = {**os.environ, "OCIREG_TEST_SOURCE_PASSWORD": registry_token.writer.password,
           "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT / "transports")])}
    mark = log_mark(second_registry)
    process = subprocess.Popen([sys.executable, "-m", "ocireg", "sync", str(config)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            tagged = [e for e in traffic_since(second_registry, mark).entries
                      if e.method == "PUT" and e.status == 201 and re.search(r"/manifests/1\.", e.path)]
            if tagged:
                break
            time.sleep(0.05)
        assert process.poll() is None, f"the sync ended before it could be killed: {process.stderr}"
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=30)
        assert process.stderr is not None
        process.stderr.close()
    first = traffic_since(second_registry, mark)
    done_before = [t for t in tags if digest_at(second_registry, mirror, t) is not None]
    assert 1 <= len(done_before) < len(tags), done_before

    mark = log_mark(second_registry)
    config_obj = SyncConfig.from_toml(config)
    os.environ["OCIREG_TEST_SOURCE_PASSWORD"] = registry_token.writer.password
    try:
        report = sync(config_obj)
    finally:
        del os.environ["OCIREG_TEST_SOURCE_PASSWORD"]
    second = traffic_since(second_registry, mark)

    assert report.ok and report.copied + report.skipped == len(tags)
    assert report.skipped >= len(done_before)
    for tag in tags:
        assert digest_at(second_registry, mirror, tag) == images[tag].digest
    # Nothing the first run finished was uploaded again.
    uploads = first.blob_uploads() + second.blob_uploads()
    assert len(uploads) == len(set(uploads)), "a blob was uploaded twice"
    assert set(second.blob_uploads()).isdisjoint(first.blob_uploads())


def test_a_failure_is_reported_and_the_rest_go_on_unless_fail_fast(
    registry_token: RegistryInstance, second_registry: RegistryInstance
) -> None:
    repo, mirror = unique("sync/fail"), unique("mirror/fail")
    seed_tags(registry_token, repo, ["1.0.0", "2.0.0"])
    config = one_rule(registry_token, repo, second_registry, mirror,
                      TagFilter(tags=("0-missing", "1.0.0", "2.0.0")))
    report = sync(config)
    assert (report.copied, report.failed) == (2, 1) and not report.ok
    failed = next(r for r in report.images if r.status == "failed")
    assert failed.source.endswith(":0-missing") and "manifest unknown" in (failed.error or "").lower()

    mirror2 = unique("mirror/fail-fast")
    config = one_rule(registry_token, repo, second_registry, mirror2,
                      TagFilter(tags=("0-missing", "1.0.0", "2.0.0")))
    report = sync(config, jobs=1, fail_fast=True)
    assert report.failed == 1 and report.cancelled >= 1
    assert report.copied + report.cancelled == 2
    assert report.images[0].status == "failed"


def test_a_namespace_is_listed_through_the_catalog_with_platforms_and_referrers(
    registry_none: RegistryInstance, second_registry: RegistryInstance
) -> None:
    ns, mirror = unique("ns"), unique("mirrorns")
    index = oci_index((700,))
    push_raw(registry_none.url, f"{ns}/multi", index, tag="v1")
    images = seed_tags(registry_none, f"{ns}/deep/app", ["1.0.0"])
    referrer = seed_referrer(registry_none, f"{ns}/deep/app", images["1.0.0"])
    seed_tags(registry_none, f"{ns}x/outside", ["1.0.0"])  # shares the prefix text, not the namespace
    platforms = (Platform.parse("linux/amd64"), Platform.parse("linux/arm64"))
    rule = SyncRule(f"{registry_none.host}/{ns}", f"{second_registry.host}/{mirror}", namespace=True,
                    platforms=platforms, referrers=True)
    config = SyncConfig((rule,), (settings(registry_none), settings(second_registry)))

    dry = sync(config, dry_run=True)
    assert sorted(r.target for r in dry.images) == [
        f"{second_registry.host}/{mirror}/deep/app:1.0.0", f"{second_registry.host}/{mirror}/multi:v1"]
    assert {r.status for r in dry.images} == {"planned"}
    assert digest_at(second_registry, f"{mirror}/multi", "v1") is None  # a dry run copies nothing

    report = sync(config)
    assert (report.copied, report.failed) == (2, 0), report.to_json()
    with client(second_registry) as reg:
        copied = reg.manifest(f"{mirror}/multi", "v1").document
        assert isinstance(copied, Index)
        assert [str(p) for p in copied.platforms] == ["linux/amd64", "linux/arm64/v8"]
        assert str(reg.manifest_digest(f"{mirror}/deep/app", referrer.digest)) == referrer.digest
        assert reg.catalog(auto_paginate=True).repositories.count(f"{mirror}/outside") == 0
    assert next(r for r in report.images if "deep/app" in r.target).referrers == 1
    again = sync(config)
    assert (again.copied, again.skipped) == (0, 2)


def test_config_file_and_credentials_per_registry(
    registry_token: RegistryInstance, registry_basic: RegistryInstance, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    # Source credentials from a password file, target credentials from docker's config:
    # two registries, two different users' secrets, neither on the command line.
    repo, mirror = unique("sync/creds"), unique("mirror/creds")
    images = seed_tags(registry_token, repo, ["3.18", "3.19", "3.20", "edge"])
    secret = tmp_path / "source-password"
    secret.write_text(registry_token.writer.password + "\n")
    docker = tmp_path / "docker"
    docker.mkdir()
    name, password = registry_basic.writer.creds
    auth = base64.b64encode(f"{name}:{password}".encode()).decode()
    (docker / "config.json").write_text(json.dumps({"auths": {registry_basic.host: {"auth": auth}}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(docker))
    config = tmp_path / "sync.toml"
    config.write_text(f"""
[registries."{registry_token.host}"]
username = "writer"
password_file = "{secret}"
[[sync]]
source = "{registry_token.host}/{repo}"
target = "{registry_basic.host}/{mirror}"
tag_regex = ['3\\.\\d+']
newest = 2
""")
    report = sync(str(config))
    assert (report.copied, report.failed) == (2, 0), report.to_json()
    assert digest_at(registry_basic, mirror, "3.20") == images["3.20"].digest
    assert digest_at(registry_basic, mirror, "3.18") is None
    # A task carries the settings, never a secret in its repr.
    explicit = RegistrySettings(registry_token.host, credentials=Credentials("writer", registry_token.writer.password))
    assert registry_token.writer.password not in repr(explicit)


def test_jobs_are_split_and_every_request_passes_its_registrys_rate_limit(
    registry_none: RegistryInstance, second_registry: RegistryInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two images, four jobs: two copies at once, each moving two blobs at once.  The
    # copy runs on the source's client and routes the target's requests to the target's
    # transport: both must pass through their own registry's bucket, none around it.
    repo, mirror = unique("sync/rate"), unique("mirror/rate")
    seed_tags(registry_none, repo, ["1.0.0", "2.0.0"], size=5000)
    rates = {registry_none.host: 1000.25, second_registry.host: 1000.5}  # buckets of this test's own
    config = SyncConfig(
        (SyncRule(f"{registry_none.host}/{repo}", f"{second_registry.host}/{mirror}"),),
        # Explicit URLs: a bare loopback host is first tried over https, and that probe passes
        # the bucket but never reaches the access log this test counts against.
        tuple(settings(r, rate=rates[r.host], url=r.url) for r in (registry_none, second_registry)), jobs=4,
    )
    reserved: collections.Counter[int] = collections.Counter()
    real_reserve = TokenBucket.reserve

    def counting_reserve(self: TokenBucket, now: float) -> float:
        reserved[id(self)] += 1
        return real_reserve(self, now)

    copy_jobs: list[int] = []

    def recording_copy(task: ImageCopy) -> ImageResult:
        copy_jobs.append(task.jobs)
        return run_image_copy(task)

    monkeypatch.setattr(TokenBucket, "reserve", counting_reserve)
    monkeypatch.setattr(sync_module, "run_image_copy", recording_copy)
    marks = {r.host: log_mark(r) for r in (registry_none, second_registry)}
    report = sync(config)
    assert (report.copied, report.failed) == (2, 0), report.to_json()
    assert copy_jobs == [2, 2]
    for instance in (registry_none, second_registry):
        bucket = sync_module._BUCKETS[(instance.host, rates[instance.host], None)]
        seen = len(traffic_since(instance, marks[instance.host]).entries)
        assert seen > 0 and reserved[id(bucket)] == seen, instance.host


class CLI:
    def __init__(self, capsys: pytest.CaptureFixture[bytes]) -> None:
        self.capsys = capsys

    def __call__(self, *argv: str) -> tuple[int, bytes, str]:
        self.capsys.readouterr()
        try:
            code = main(list(argv))
        except SystemExit as exc:
            code = int(exc.code or 0)
        out = self.capsys.readouterr()
        return code, out.out, out.err.decode()


def test_command_line_sync_reports_and_exits_by_outcome(
    registry_none: RegistryInstance, second_registry: RegistryInstance, capsysbinary: pytest.CaptureFixture[bytes],
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    cli = CLI(capsysbinary)
    repo, mirror = unique("cli/sync"), unique("mirror/cli")
    images = seed_tags(registry_none, repo, ["1.0.0", "1.5.0", "2.0.0"])
    args = ["sync", "--from", f"{registry_none.host}/{repo}", "--to", f"{second_registry.host}/{mirror}"]

    code, out, _ = cli(*args, "--semver", "^1", "--dry-run")
    assert code == 0
    assert [line.split("\t")[0] for line in out.decode().splitlines()] == ["planned", "planned"]

    code, out, err = cli(*args, "--semver", "^1", "--json", "--jobs", "2")
    assert code == 0, err
    report = json.loads(out)
    assert (report["copied"], report["skipped"], report["failed"]) == (2, 0, 0)
    assert digest_at(second_registry, mirror, "1.5.0") == images["1.5.0"].digest

    code, out, err = cli(*args, "--tag", "1.0.0", "--tag", "9.9.9")
    assert code == 1
    lines = [line.split("\t") for line in out.decode().splitlines()]
    assert sorted(fields[0] for fields in lines) == ["failed", "skipped"]
    assert err.startswith("ocireg: error: sync: 1 of 2 images failed") or "1 of 2 images failed" in err

    monkeypatch.setattr(sys, "stdin", io.StringIO("secret\n"))
    code, _, err = cli(*args, "-u", "someone", "--password-stdin")
    assert code == 2 and "credentials per registry" in err
