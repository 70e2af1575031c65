"""The sync config (TOML), tag selection and registry settings: no network."""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ocireg import (
    Credentials,
    DockerConfigStore,
    InvalidArgument,
    InvalidReference,
    Platform,
    Reference,
    RegistrySettings,
    SyncConfig,
    SyncRule,
    TagFilter,
    Version,
    VersionRange,
)
from ocireg._sync import ConnectionOptions, ImageCopy, split_jobs

FULL = """
jobs = 8
transport = "h11"
timeout = 12.5
platforms = ["linux/amd64"]
referrers = true

[registries."ghcr.io"]
rate = 5
burst = 10
username = "me"
password_env = "GHCR_TOKEN"

[registries."localhost:5000"]
url = "http://localhost:5000"
insecure = true
docker_config = false

[[sync]]
source = "ghcr.io/org/app:stable"
target = "localhost:5000/mirror/app"
tags = ["1.0"]
tag_regex = ["^v[0-9]+$"]
exclude_regex = "v0"
semver = ">=1.2 <2"
newest = 3

[[sync]]
source = "ghcr.io/org"
target = "localhost:5000/org-mirror"
namespace = true
platforms = []
referrers = false
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sync.toml"
    path.write_text(text)
    return path


def test_every_key_of_a_full_config(tmp_path: Path) -> None:
    config = SyncConfig.from_toml(write(tmp_path, FULL))
    assert config.jobs == 8
    assert (config.connection.transport, config.connection.timeout) == ("h11", 12.5)
    ghcr = config.settings("ghcr.io")
    assert (ghcr.rate, ghcr.burst, ghcr.username, ghcr.password_env) == (5, 10, "me", "GHCR_TOKEN")
    local = config.settings("localhost:5000")
    assert (local.url, local.insecure, local.docker_config) == ("http://localhost:5000", True, False)
    assert config.settings("quay.io") == RegistrySettings("quay.io")
    first, second = config.rules
    assert first.tags.tags == ("1.0", "stable")  # the tag in the source is an exact tag
    assert [p.pattern for p in first.tags.regex] == ["^v[0-9]+$"]
    assert [p.pattern for p in first.tags.exclude] == ["v0"]
    assert str(first.tags.semver) == ">=1.2 <2" and first.tags.newest == 3
    assert first.platforms == (Platform("linux", "amd64"),) and first.referrers
    assert second.namespace and second.platforms == () and not second.referrers


@pytest.mark.parametrize(("text", "message"), [
    ("", "no \\[\\[sync\\]\\] rules"),
    ("jobs = 0\n[[sync]]\nsource='a.io/x'\ntarget='b.io/y'", "jobs"),
    ("jobs = true\n[[sync]]\nsource='a.io/x'\ntarget='b.io/y'", "boolean"),
    ("[[sync]]\nsource='a.io/x'\ntarget='b.io/y'\ntagz=['1']", "unknown key 'tagz'"),
    ("color='red'\n[[sync]]\nsource='a.io/x'\ntarget='b.io/y'", "unknown key 'color'"),
    ("[[sync]]\nsource='a.io/x'", "target is required"),
    ("[[sync]]\nsource='a.io/x'\ntarget='b.io/y'\ntag_regex=['(']", "invalid regular expression"),
    ("[[sync]]\nsource='a.io/x'\ntarget='b.io/y'\nsemver='>=a'", "version"),
    ("[[sync]]\nsource='a.io/x'\ntarget='b.io/y'\nnewest=-1", "newest"),
    ("[[sync]]\nsource='a.io/x'\ntarget='b.io/y:tag'", "without tag"),
    ("[[sync]]\nsource='a.io/x@sha256:" + "0" * 64 + "'\ntarget='b.io/y'", "digest"),
    ("[registries.'a.io']\nrate=0\n[[sync]]\nsource='a.io/x'\ntarget='b.io/y'", "rate"),
    ("[registries.'a.io']\nusername='u'\n[[sync]]\nsource='a.io/x'\ntarget='b.io/y'", "password_env"),
    ("[registries.'a.io']\npassword_env='P'\n[[sync]]\nsource='a.io/x'\ntarget='b.io/y'", "username"),
    ("[[sync]]\nsource='a.io/x'\ntarget='b.io/y'\nplatforms=['linux']", "platform"),
    ("not toml at all [", "not valid TOML"),
])
def test_mistakes_are_named(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        SyncConfig.from_toml(write(tmp_path, text))


def test_a_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="cannot read"):
        SyncConfig.from_toml(tmp_path / "absent.toml")


def test_a_bad_namespace_host_is_refused() -> None:
    with pytest.raises(InvalidReference):
        SyncRule("not a host/x", "b.io/y", namespace=True)


def test_credentials_are_resolved_where_the_copy_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = RegistrySettings("a.io", username="u", password_env="OCIREG_TEST_SECRET")
    with pytest.raises(InvalidArgument, match="OCIREG_TEST_SECRET is not set"):
        env.resolve_credentials()
    monkeypatch.setenv("OCIREG_TEST_SECRET", "s3cret")
    assert env.resolve_credentials() == Credentials("u", "s3cret")
    secret = tmp_path / "pw"
    secret.write_text("from-file\n")
    assert RegistrySettings("a.io", username="u", password_file=str(secret)).resolve_credentials() == \
        Credentials("u", "from-file")
    with pytest.raises(InvalidArgument, match="cannot read"):
        RegistrySettings("a.io", username="u", password_file=str(tmp_path / "none")).resolve_credentials()
    assert isinstance(RegistrySettings("a.io").resolve_credentials(), DockerConfigStore)
    assert RegistrySettings("a.io", docker_config=False).resolve_credentials() is None


def test_a_transport_is_named_as_discovery_names_it() -> None:
    assert ConnectionOptions(transport="stdlib").transport == "stdlib"
    with pytest.raises(InvalidArgument, match="stdlib"):  # the message lists what is installed
        ConnectionOptions(transport="carrier-pigeon")


@pytest.mark.parametrize(("jobs", "images", "expected"), [
    (4, 100, (4, 1)),  # many images: one blob at a time each
    (4, 1, (1, 4)),  # one image: its blobs get every transfer
    (8, 3, (3, 2)),
    (4, 0, (1, 4)),
    (1, 5, (1, 1)),
])
def test_jobs_are_split_between_images_and_their_blobs(jobs: int, images: int, expected: tuple[int, int]) -> None:
    assert split_jobs(jobs, images) == expected


@given(st.integers(min_value=1, max_value=64), st.integers(min_value=0, max_value=200))
def test_the_split_never_oversubscribes(jobs: int, images: int) -> None:
    workers, per_copy = split_jobs(jobs, images)
    assert workers >= 1 and per_copy >= 1
    assert workers * per_copy <= jobs
    assert workers <= max(1, images)
    assert workers == min(jobs, images) or images == 0  # images are never starved of a thread


def test_a_task_pickles_and_shows_no_secret() -> None:
    settings = RegistrySettings("a.io", credentials=Credentials("u", "hunter2-secret"))
    task = ImageCopy(Reference.parse("a.io/x:1"), Reference.parse("b.io/y:1"), settings, RegistrySettings("b.io"))
    assert "hunter2-secret" not in repr(task)
    assert pickle.loads(pickle.dumps(task)) == task  # noqa: S301 - our own bytes, as an executor sends them


# --- tag selection ---------------------------------------------------------------------------

LISTED = ["1.0.0", "1.1.0", "1.2.0-rc.1", "2.0.0", "v2.1", "latest", "edge", "sha256-" + "a" * 64]


@pytest.mark.parametrize(("tags", "expected"), [
    (TagFilter(), sorted(set(LISTED) - {"sha256-" + "a" * 64})),
    (TagFilter(tags=("latest", "absent")), ["absent", "latest"]),
    (TagFilter(regex=(re.compile(r"1\..*"),)), ["1.0.0", "1.1.0", "1.2.0-rc.1"]),
    (TagFilter(regex=(re.compile(r"sha256-.*"),)), []),
    (TagFilter(semver=VersionRange.parse("^1")), ["1.0.0", "1.1.0"]),
    (TagFilter(semver=VersionRange.parse(">=1"), exclude=(re.compile(r"v.*"),)), ["1.0.0", "1.1.0", "2.0.0"]),
    (TagFilter(newest=2), ["2.0.0", "v2.1"]),
    (TagFilter(tags=("edge",), newest=1), ["edge", "v2.1"]),
])
def test_selection_examples(tags: TagFilter, expected: list[str]) -> None:
    assert tags.select(LISTED) == expected


tag_text = st.from_regex(r"[a-z0-9][a-z0-9.\-]{0,8}", fullmatch=True)


@given(st.lists(tag_text, max_size=15), st.lists(tag_text, max_size=3), st.integers(min_value=1, max_value=4))
def test_selection_properties(listed: list[str], exact: list[str], n: int) -> None:
    filt = TagFilter(tags=tuple(exact), semver=VersionRange.parse(">=0"), exclude=(re.compile(r".*9.*"),), newest=n)
    chosen = filt.select(listed)
    assert chosen == sorted(set(chosen))
    assert set(chosen) <= set(listed) | set(exact)
    assert set(exact) <= set(chosen)  # named tags always go
    picked = [t for t in chosen if t not in exact]
    assert all("9" not in t and Version.try_parse(t) is not None for t in picked)
    assert len({Version.parse(t).release for t in picked}) <= n
