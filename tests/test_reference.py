"""Image references: docker/distribution grammar, Docker Hub normalisation, round trips."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from ocireg._digest import Digest
from ocireg._errors import InvalidReference
from ocireg._reference import (
    Reference,
    validate_registry,
    validate_repository,
    validate_tag,
)

HEX = "6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b"
DIGEST = Digest("sha256", HEX)


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest"),
    [
        ("alpine", "docker.io", "library/alpine", None, None),
        ("alpine:3.19", "docker.io", "library/alpine", "3.19", None),
        ("library/alpine", "docker.io", "library/alpine", None, None),
        ("docker.io/alpine", "docker.io", "library/alpine", None, None),
        ("index.docker.io/alpine:edge", "docker.io", "library/alpine", "edge", None),
        ("index.docker.io/bitnami/redis", "docker.io", "bitnami/redis", None, None),
        (
            "bitnami/redis:7.2.4-debian-12-r9",
            "docker.io",
            "bitnami/redis",
            "7.2.4-debian-12-r9",
            None,
        ),
        ("ghcr.io/owner/repo/sub:v1.2.3", "ghcr.io", "owner/repo/sub", "v1.2.3", None),
        ("quay.io/prometheus/node-exporter", "quay.io", "prometheus/node-exporter", None, None),
        ("localhost:5000/team/app", "localhost:5000", "team/app", None, None),
        ("localhost/app", "localhost", "app", None, None),  # no library/ off Docker Hub
        ("127.0.0.1:5000/a__b/c--d.e_f", "127.0.0.1:5000", "a__b/c--d.e_f", None, None),
        ("[::1]:5000/app:1", "[::1]:5000", "app", "1", None),
        ("Registry.Example/app", "Registry.Example", "app", None, None),
        ("MyHost/app", "MyHost", "app", None, None),  # upper case: a registry, as Docker
        (f"alpine@sha256:{HEX}", "docker.io", "library/alpine", None, DIGEST),
        (f"alpine:3.19@sha256:{HEX}", "docker.io", "library/alpine", "3.19", DIGEST),
        (
            f"123456789012.dkr.ecr.us-east-1.amazonaws.com/app:latest@sha256:{HEX}",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com",
            "app",
            "latest",
            DIGEST,
        ),
        ("a" * 64 + ":tag", "docker.io", "library/" + "a" * 64, "tag", None),
    ],
)
def test_parse(
    text: str, registry: str, repository: str, tag: str | None, digest: Digest | None
) -> None:
    ref = Reference.parse(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (
        registry,
        repository,
        tag,
        digest,
    )
    assert Reference.parse(str(ref)) == ref


@pytest.mark.parametrize(
    ("text", "position"),
    [
        ("", 0),
        ("Alpine", 0),  # one component, upper case: a repository, and invalid
        ("library/Alpine", 8),
        ("alpine:", 7),
        ("alpine:-tag", 7),
        ("alpine:" + "t" * 129, 135),
        ("alpine@sha256:abc", 7),
        ("alpine@md5:d41d8cd98f00b204e9800998ecf8427e", 7),
        (f"alpine@sha256:{HEX.upper()}", 7),
        ("a//b", 2),
        ("a/", 2),
        ("/a", 0),
        ("a___b", 3),
        ("a_-b", 2),
        ("a.-b", 2),
        ("-a", 0),
        ("a-", 2),
        ("ex_ample.com/app", 0),
        ("-x.com/app", 0),
        ("x-.com/app", 0),
        ("example.com:/app", 0),
        ("example.com:port/app", 0),
        ("a b", 1),
        ("a\nb", 1),
        ("a" * 64, 0),  # an image ID, not a reference
        ("ghcr.io/", 8),
    ],
)
def test_parse_rejects_with_position(text: str, position: int) -> None:
    with pytest.raises(InvalidReference) as info:
        Reference.parse(text)
    assert info.value.position == position
    assert info.value.text == text
    assert f"at position {position}" in str(info.value)


def test_repository_path_over_255_characters() -> None:
    # The limit is on the path, not registry + path, as distribution/reference has it
    # (its vectors accept "example.com/" + 255 characters).
    name = "example.com/" + "a" * 255
    assert Reference.parse(name).name == name
    with pytest.raises(InvalidReference):
        Reference.parse(name + "b")
    # library/ counts: Docker Hub paths are measured after normalisation.
    assert Reference.parse("a" * 247).repository == "library/" + "a" * 247
    with pytest.raises(InvalidReference):
        Reference.parse("a" * 248)


def test_overlong_input_is_refused_up_front() -> None:
    with pytest.raises(InvalidReference):
        Reference.parse("a" * 100_000)


def test_properties() -> None:
    hub = Reference.parse("alpine:3.19")
    assert hub.api_host == "registry-1.docker.io"
    assert hub.target == "3.19"
    assert str(hub) == "docker.io/library/alpine:3.19"
    assert hub.familiar == "alpine:3.19"
    assert hub.name == "docker.io/library/alpine"

    pinned = Reference.parse(f"ghcr.io/o/r:v1@sha256:{HEX}")
    assert pinned.api_host == "ghcr.io"
    assert pinned.target == f"sha256:{HEX}"
    assert pinned.familiar == f"ghcr.io/o/r:v1@sha256:{HEX}"

    assert Reference.parse("user/app").familiar == "user/app"
    # Short forms that would name another registry keep docker.io.
    assert Reference.parse("docker.io/localhost/app").familiar == "docker.io/localhost/app"
    assert Reference("docker.io", "a.b/c").familiar == "docker.io/a.b/c"
    assert Reference.parse("library/a/b").familiar == "library/a/b"
    assert Reference.parse("localhost:5000/app").target == "latest"
    assert Reference.parse("localhost:5000/app").api_host == "localhost:5000"


def test_with_tag_and_digest_keep_the_other_part() -> None:
    ref = Reference.parse("alpine:3.19")
    assert str(ref.with_tag("edge")) == "docker.io/library/alpine:edge"
    pinned = ref.with_digest(DIGEST)
    assert str(pinned) == f"docker.io/library/alpine:3.19@sha256:{HEX}"
    assert pinned.with_tag("edge").digest == DIGEST
    with pytest.raises(InvalidReference):
        ref.with_tag("bad tag")


def test_construction_normalises_and_validates() -> None:
    assert Reference("index.docker.io", "alpine") == Reference.parse("alpine")
    assert Reference("docker.io", "alpine").repository == "library/alpine"
    for registry, repository in [
        ("myhost", "app"),  # would read back as docker.io/myhost/app
        ("bad host", "app"),
        ("example.com", "App"),
        ("example.com", ""),
    ]:
        with pytest.raises(InvalidReference):
            Reference(registry, repository)
    with pytest.raises(InvalidReference):
        Reference("example.com", "app", digest=f"sha256:{HEX}")  # type: ignore[arg-type]


def test_validators() -> None:
    assert validate_repository("team/app.v2") == "team/app.v2"
    assert validate_tag("v1.0_rc-2") == "v1.0_rc-2"
    assert validate_registry("registry.example.com:5000") == "registry.example.com:5000"
    for bad in ("", "App", "a/", "../etc", "a/../b"):
        with pytest.raises(InvalidReference):
            validate_repository(bad)
    for bad in ("", ".tag", "-tag", "t" * 129, "a/b", "tag\r\n"):
        with pytest.raises(InvalidReference):
            validate_tag(bad)
    for bad in ("", "a/b", "host:", "ho st"):
        with pytest.raises(InvalidReference):
            validate_registry(bad)
    with pytest.raises(InvalidReference):
        validate_repository(None)  # type: ignore[arg-type]


# --- properties ----------------------------------------------------------------

alnum = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=8)
separator = st.sampled_from([".", "_", "__", "-", "--", "---"])


@st.composite
def path_components(draw: st.DrawFn) -> str:
    parts = [draw(alnum)]
    for _ in range(draw(st.integers(0, 2))):
        parts += [draw(separator), draw(alnum)]
    return "".join(parts)


label = st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9-]{0,6}[A-Za-z0-9])?", fullmatch=True)


@st.composite
def registries(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["dotted", "localhost", "ipv6", "hub"]))
    if kind == "hub":
        host = draw(st.sampled_from(["docker.io", "index.docker.io"]))
    elif kind == "localhost":
        host = "localhost"
    elif kind == "ipv6":
        host = "[" + draw(st.sampled_from(["::1", "fe80::1", "2001:db8::5"])) + "]"
    else:
        host = ".".join(draw(st.lists(label, min_size=2, max_size=4)))
    if draw(st.booleans()) or kind == "ipv6":
        host += f":{draw(st.integers(1, 65535))}"
    return host


tags = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True)
digests = st.builds(
    Digest, st.just("sha256"), st.text("0123456789abcdef", min_size=64, max_size=64)
)


@given(
    registries(),
    st.lists(path_components(), min_size=1, max_size=4),
    st.none() | tags,
    st.none() | digests,
)
def test_render_then_parse_round_trip(
    registry: str, components: list[str], tag: str | None, digest: Digest | None
) -> None:
    ref = Reference(registry, "/".join(components), tag, digest)
    again = Reference.parse(str(ref))
    assert again == ref
    assert str(again) == str(ref)
    assert Reference.parse(ref.familiar) == ref


@given(st.lists(path_components(), min_size=1, max_size=3), st.none() | tags)
def test_docker_hub_short_forms_round_trip(components: list[str], tag: str | None) -> None:
    text = "/".join(components) + (f":{tag}" if tag else "")
    # A first component with a "." names a registry; that case is covered above.
    assume(len(components) == 1 or "." not in components[0])
    ref = Reference.parse(text)
    assert ref.registry == "docker.io"
    suffix = f":{tag}" if tag else ""
    if components[0] == "library" and len(components) == 2:
        assert ref.familiar == components[1] + suffix
    else:
        assert ref.familiar == text
    assert Reference.parse(ref.familiar) == ref


reference_alphabet = st.sampled_from([*"abcAB09:/@._-[]", "sha256:", HEX[:8], "\x00", "é"])


@given(st.text() | st.lists(reference_alphabet, max_size=40).map("".join))
def test_arbitrary_text_parses_or_raises_invalid_reference(text: str) -> None:
    try:
        ref = Reference.parse(text)
    except InvalidReference as exc:
        assert exc.position is None or 0 <= exc.position <= len(text)
        return
    assert Reference.parse(str(ref)) == ref
