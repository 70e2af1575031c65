"""Sync fanned out on Dask: a LocalCluster of worker *processes* copying between real registries.

Each task crosses a process boundary (pickled), opens its own clients on the
worker and resolves credentials there: the source password comes from an
environment variable the workers inherit, never from the task.  Run in ``make
test``: ``distributed`` is in the test extra.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import distributed
import pytest

from ocireg import (
    ManifestUnknown,
    Registry,
    RegistrySettings,
    SyncConfig,
    SyncRule,
    TagFilter,
    VersionRange,
    sync,
)
from ocireg.cli import main
from registry_bed import RegistryInstance
from sync_bed import seed_tags, unique

pytestmark = pytest.mark.registry



PASSWORD_VARIABLE = "OCIREG_TEST_DASK_SOURCE_PASSWORD"


@pytest.fixture(scope="module")
def cluster(registry_token: RegistryInstance) -> Iterator[object]:
    # Set before the workers start, so that they inherit it: credentials are
    # resolved where the copy runs.
    os.environ[PASSWORD_VARIABLE] = registry_token.writer.password
    try:
        with distributed.LocalCluster(processes=True, n_workers=2, threads_per_worker=1,
                                      dashboard_address=None, scheduler_port=0) as local:
            yield local
    finally:
        del os.environ[PASSWORD_VARIABLE]


def config_for(source: RegistryInstance, target: RegistryInstance, repo: str, mirror: str) -> SyncConfig:
    rule = SyncRule(f"{source.host}/{repo}", f"{target.host}/{mirror}", tags=TagFilter(semver=VersionRange.parse("*")))
    registries = (
        RegistrySettings(source.host, username="writer", password_env=PASSWORD_VARIABLE),
        RegistrySettings(target.host, docker_config=False),
    )
    return SyncConfig((rule,), registries)


def digest_at(instance: RegistryInstance, repo: str, tag: str) -> str | None:
    with Registry(instance.url) as reg:
        try:
            return str(reg.manifest_digest(repo, tag))
        except ManifestUnknown:
            return None


def test_sync_runs_on_a_cluster_of_worker_processes(
    cluster: object, registry_token: RegistryInstance, second_registry: RegistryInstance
) -> None:
    repo, mirror = unique("dask/app"), unique("mirror/dask")
    tags = [f"1.{i}.0" for i in range(6)]
    images = seed_tags(registry_token, repo, tags, size=20_000, seed=3)
    config = config_for(registry_token, second_registry, repo, mirror)
    with distributed.Client(cluster) as dask_client:
        workers = set(dask_client.scheduler_info()["workers"])
        report = sync(config, executor=dask_client.get_executor())
        assert len(workers) == 2
    assert (report.copied, report.failed) == (6, 0), report.to_json()
    assert [r.target.rsplit(":", 1)[1] for r in report.images] == tags  # plan order, whatever finished first
    for tag in tags:
        assert digest_at(second_registry, mirror, tag) == images[tag].digest
    assert report.bytes == sum(b.size for image in images.values() for b in image.blobs)


def test_command_line_sync_with_a_dask_scheduler(
    cluster: object, registry_token: RegistryInstance, second_registry: RegistryInstance,
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    repo, mirror = unique("dask/cli"), unique("mirror/dask-cli")
    images = seed_tags(registry_token, repo, ["2.0.0", "2.1.0", "3.0.0"], seed=5)
    config = tmp_path / "sync.toml"
    config.write_text(f"""
[registries."{registry_token.host}"]
username = "writer"
password_env = "{PASSWORD_VARIABLE}"
[registries."{second_registry.host}"]
docker_config = false
[[sync]]
source = "{registry_token.host}/{repo}"
target = "{second_registry.host}/{mirror}"
semver = "^2"
""")
    address = cluster.scheduler_address  # type: ignore[attr-defined]
    code = main(["sync", str(config), "--dask-scheduler", address, "--json"])
    out = capsysbinary.readouterr().out
    assert code == 0
    report = json.loads(out)
    assert (report["copied"], report["failed"]) == (2, 0)
    assert digest_at(second_registry, mirror, "2.1.0") == images["2.1.0"].digest
    assert digest_at(second_registry, mirror, "3.0.0") is None
    code = main(["sync", str(config), "--dask-scheduler", address, "--json"])
    assert code == 0 and json.loads(capsysbinary.readouterr().out)["skipped"] == 2
