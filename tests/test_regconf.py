"""containers' registries.conf: parsing, file precedence, matching, rewrites, mirrors."""

from __future__ import annotations

from pathlib import Path

import pytest

from ocireg import (
    InvalidConfig,
    Reference,
    RegistryBlocked,
    RemoteError,
    Request,
    Response,
    UsageError,
    run_flow,
)
from ocireg._flow import Flow, call
from ocireg._regconf import PullSource, RegistryConfig, first_available, is_short_name

MIRRORS = """
unqualified-search-registries = ["quay.io", "docker.io"]

[[registry]]
prefix = "docker.io"
location = "docker.io"

[[registry.mirror]]
location = "mirror.example:5000"

[[registry.mirror]]
location = "digest-mirror.example/hub"
pull-from-mirror = "digest-only"

[[registry.mirror]]
location = "tag-mirror.example"
pull-from-mirror = "tag-only"
insecure = true

[[registry]]
prefix = "example.com/foo"
location = "internal.example/bar"
insecure = true

[[registry]]
location = "blocked.example"
blocked = true

[[registry]]
prefix = "*.wild.example"
location = "wild-mirror.example"
"""

DIGEST = "sha256:" + "a" * 64


def refs(sources: tuple[PullSource, ...]) -> list[str]:
    return [str(s.reference) for s in sources]


def test_mirrors_in_order_then_the_primary() -> None:
    config = RegistryConfig.parse(MIRRORS)
    by_tag = config.pull_sources(Reference.parse("alpine:3.19"))
    assert refs(by_tag) == ["mirror.example:5000/library/alpine:3.19", "tag-mirror.example/library/alpine:3.19",
                            "docker.io/library/alpine:3.19"]
    assert [s.mirror for s in by_tag] == [True, True, False]
    assert [s.insecure for s in by_tag] == [False, True, False]
    by_digest = config.pull_sources(Reference.parse(f"alpine@{DIGEST}"))
    assert refs(by_digest) == [f"mirror.example:5000/library/alpine@{DIGEST}",
                               f"digest-mirror.example/hub/library/alpine@{DIGEST}",
                               f"docker.io/library/alpine@{DIGEST}"]
    # Writes never go to a mirror.
    assert str(config.push_target(Reference.parse("alpine:3.19")).reference) == "docker.io/library/alpine:3.19"


def test_mirror_by_digest_only_on_the_registry() -> None:
    config = RegistryConfig.parse('[[registry]]\nlocation = "r.example"\nmirror-by-digest-only = true\n'
                                  '[[registry.mirror]]\nlocation = "m.example"\n')
    assert refs(config.pull_sources(Reference.parse("r.example/a:1"))) == ["r.example/a:1"]
    assert refs(config.pull_sources(Reference.parse(f"r.example/a@{DIGEST}")))[0] == f"m.example/a@{DIGEST}"


def test_location_rewrites_longest_prefix_and_insecure() -> None:
    config = RegistryConfig.parse(MIRRORS)
    target = config.push_target(Reference.parse("example.com/foo/app:1"))
    assert str(target.reference) == "internal.example/bar/app:1" and target.insecure
    # "example.com/foobar" is not under the prefix "example.com/foo".
    assert str(config.push_target(Reference.parse("example.com/foobar:1")).reference) == "example.com/foobar:1"
    assert config.is_insecure("internal.example") is False  # the prefix is what matches, as containers/image
    assert config.is_insecure("example.com") is False
    assert config.is_insecure("tag-mirror.example") is True
    wild = config.pull_sources(Reference.parse("a.wild.example/x:1"))
    assert refs(wild) == ["wild-mirror.example/x:1"]


def test_blocked_is_refused_with_a_clear_error() -> None:
    config = RegistryConfig.parse(MIRRORS, "/etc/containers/registries.conf")
    with pytest.raises(RegistryBlocked, match=r"blocked.example.*blocked.*/etc/containers/registries.conf"):
        config.pull_sources(Reference.parse("blocked.example/app:1"))
    with pytest.raises(RegistryBlocked):
        config.push_target(Reference.parse("blocked.example/app:1"))


def test_short_names_use_the_search_registries_only_when_configured() -> None:
    assert is_short_name("alpine") and is_short_name("user/app") and is_short_name("alpine@" + DIGEST)
    assert not is_short_name("localhost/app") and not is_short_name("ghcr.io/o/r")
    configured = RegistryConfig.parse(MIRRORS)
    assert [str(r) for r in configured.candidates("alpine:3")] == ["quay.io/alpine:3", "docker.io/library/alpine:3"]
    assert [str(r) for r in configured.candidates("ghcr.io/o/r")] == ["ghcr.io/o/r"]
    assert [str(r) for r in RegistryConfig().candidates("alpine")] == ["docker.io/library/alpine"]


def test_v1_format_is_converted() -> None:
    config = RegistryConfig.parse(
        "[registries.search]\nregistries = ['r1.example']\n[registries.insecure]\nregistries = ['r2.example']\n"
        "[registries.block]\nregistries = ['r3.example']\n")
    assert config.unqualified_search == ("r1.example",)
    assert config.is_insecure("r2.example")
    with pytest.raises(RegistryBlocked):
        config.pull_sources(Reference.parse("r3.example/x"))


@pytest.mark.parametrize(("text", "message"), [
    ("[[registry]\n", "not valid TOML"),
    ('[[registry]]\nlocation = "https://x.example"\n', "URI schemes"),
    ("[[registry]]\ninsecure = true\n", "both location and prefix are unset"),
    ('[[registry]]\nlocation = "x.example"\ninsecure = "yes"\n', "insecure must be true or false"),
    ('[[registry]]\nlocation = "x.example"\n[[registry.mirror]]\nlocation = "m"\npull-from-mirror = "some"\n',
     "pull-from-mirror must be one of"),
    ('[[registry]]\nlocation = "x.example"\nmirror-by-digest-only = true\n[[registry.mirror]]\n'
     'location = "m"\npull-from-mirror = "tag-only"\n', "cannot be set with mirror-by-digest-only"),
    ('[[registry]]\nprefix = "*.x.example/foo"\nlocation = "y"\n', "wildcard prefix"),
    ('[[registry]]\nprefix = "a.example"\nlocation = "x.example"\ninsecure = true\n'
     '[[registry]]\nprefix = "b.example"\nlocation = "x.example"\n', "conflicting"),
    ("unqualified-search-registries = ['not a host!']\n", "invalid registry host"),
    ("[registries.search]\nregistries = ['a']\n[[registry]]\nlocation = 'b'\n", "mixing the v1 and v2"),
])
def test_malformed_files_name_the_file(text: str, message: str) -> None:
    with pytest.raises(InvalidConfig, match=message) as info:
        RegistryConfig.parse(text, "/some/registries.conf")
    assert str(info.value).startswith("/some/registries.conf: ")
    assert isinstance(info.value, UsageError)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_file_precedence_and_drop_ins(tmp_path: Path) -> None:
    system_file = write(tmp_path / "etc/registries.conf", 'unqualified-search-registries = ["sys.example"]\n'
                        '[[registry]]\nlocation = "a.example"\n[[registry.mirror]]\nlocation = "sys-mirror.example"\n')
    system_dir = tmp_path / "etc/registries.conf.d"
    write(system_dir / "10-a.conf", '[[registry]]\nlocation = "a.example"\n'
          '[[registry.mirror]]\nlocation = "dropin-mirror.example"\n')
    write(system_dir / "20-b.conf", 'unqualified-search-registries = ["dropin.example"]\n')
    write(system_dir / "ignored.txt", "not toml at all [")
    home = tmp_path / "home"
    options = {"home": home, "system_file": system_file, "system_dir": system_dir, "environ": {}}

    config = RegistryConfig.load(**options)  # type: ignore[arg-type]
    assert config.unqualified_search == ("dropin.example",)  # the later drop-in replaces the list
    assert refs(config.pull_sources(Reference.parse("a.example/x:1")))[0] == "dropin-mirror.example/x:1"

    # A per-user file replaces the system file and its drop-in directory.
    write(home / ".config/containers/registries.conf", 'unqualified-search-registries = ["user.example"]\n')
    write(home / ".config/containers/registries.conf.d/a.conf", '[[registry]]\nlocation = "u.example"\ninsecure = true\n')
    config = RegistryConfig.load(**options)  # type: ignore[arg-type]
    assert config.unqualified_search == ("user.example",)
    assert config.find("a.example/x") is None and config.is_insecure("u.example")

    # $CONTAINERS_REGISTRIES_CONF, then an explicit path, replace the main file; the
    # drop-in directories still apply (as containers/image reads them).
    env_file = write(tmp_path / "env.conf", '[[registry]]\nlocation = "env.example"\ninsecure = true\n')
    options["environ"] = {"CONTAINERS_REGISTRIES_CONF": str(env_file)}
    config = RegistryConfig.load(**options)  # type: ignore[arg-type]
    assert config.is_insecure("env.example") and config.is_insecure("u.example")
    assert config.unqualified_search == ("dropin.example",)
    explicit = write(tmp_path / "explicit.conf", '[[registry]]\nlocation = "explicit.example"\ninsecure = true\n')
    config = RegistryConfig.load(explicit, **options)  # type: ignore[arg-type]
    assert config.is_insecure("explicit.example") and not config.is_insecure("env.example")
    with pytest.raises(InvalidConfig, match="not found"):
        RegistryConfig.load(tmp_path / "missing.conf", **options)  # type: ignore[arg-type]


def test_drop_ins_must_be_v2(tmp_path: Path) -> None:
    system_dir = tmp_path / "d"
    write(system_dir / "old.conf", "[registries.search]\nregistries = ['x.example']\n")
    with pytest.raises(InvalidConfig, match=r"old\.conf: a drop-in must be in the v2 format"):
        RegistryConfig.load(home=tmp_path, system_file=tmp_path / "none.conf", system_dir=system_dir, environ={})


def test_oversized_file_is_not_read(tmp_path: Path) -> None:
    big = write(tmp_path / "big.conf", "#" * (2 << 20))
    with pytest.raises(InvalidConfig, match="larger than"):
        RegistryConfig.load(big, home=tmp_path, system_dir=tmp_path / "none", environ={})


class NoNetwork:
    """A transport for flows that must not send anything."""

    def send(self, request: Request, /) -> Response:
        raise AssertionError(f"unexpected request {request.url}")

    def close(self) -> None:
        pass


def test_first_available_moves_on_past_remote_failures_only() -> None:
    tried: list[str] = []

    def check(name: str) -> None:
        tried.append(name)
        if name != "third":
            raise RemoteError(f"{name} is down")

    def probe(name: str) -> Flow[None]:
        # The failure is raised by the driver performing an effect, and thrown into the flow.
        return call(check, name)

    assert run_flow(first_available(["first", "second", "third"], probe), NoNetwork()) == "third"
    assert tried == ["first", "second", "third"]
    with pytest.raises(RemoteError, match=r"last is down \(also tried: first: first is down\)"):
        run_flow(first_available(["first", "last"], probe), NoNetwork())

    def refuse(name: str) -> None:
        tried.append(name)
        raise UsageError("bad argument")

    tried.clear()
    with pytest.raises(UsageError):
        run_flow(first_available(["first", "second"], lambda name: call(refuse, name)), NoNetwork())
    assert tried == ["first"]  # a mistake of the caller's is not tried elsewhere
