"""Platforms: parsing, normalisation, matching and choosing an index entry."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ocireg._digest import Digest
from ocireg._errors import InvalidPlatform, PlatformNotFound
from ocireg._manifest import Descriptor, Index, Platform, parse_manifest
from ocireg._media import DOCKER_MANIFEST_V2
from ocireg._platform import matches, normalize, select
from ocireg._transfer import filter_index
from test_manifest import DOCKER_LIST, OCI_INDEX_DOC

P = Platform.parse


def hub_list() -> Index:
    doc = parse_manifest(DOCKER_LIST)
    assert isinstance(doc, Index)
    return doc


# --- parse and render ----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "platform"),
    [
        ("linux/amd64", Platform("linux", "amd64")),
        ("linux/arm64/v8", Platform("linux", "arm64", "v8")),
        ("linux/arm/v7", Platform("linux", "arm", "v7")),
        ("windows/amd64", Platform("windows", "amd64")),
        (
            "windows(10.0.20348.2340)/amd64",
            Platform("windows", "amd64", os_version="10.0.20348.2340"),
        ),
        ("unknown/unknown", Platform("unknown", "unknown")),
        # containerd's os(version+features) syntax, values percent-encoded
        ("windows()/amd64", Platform("windows", "amd64")),
        (
            "windows(10.0.17763+win32k)/amd64",
            Platform("windows", "amd64", os_version="10.0.17763", os_features=("win32k",)),
        ),
        ("linux(+gpu+simd)/amd64", Platform("linux", "amd64", os_features=("gpu", "simd"))),
        (
            "windows(10.0.17763%2Bbuild.42)/amd64",
            Platform("windows", "amd64", os_version="10.0.17763+build.42"),
        ),
        ("linux(+100%25gpu)/amd64", Platform("linux", "amd64", os_features=("100%gpu",))),
    ],
)
def test_parse(text: str, platform: Platform) -> None:
    assert P(text) == platform
    assert P(platform.describe()) == platform
    if text != "windows()/amd64":  # the one spelling describe() shortens
        assert platform.describe() == text


@pytest.mark.parametrize(
    "text",
    ["", "linux", "linux/", "/amd64", "linux/amd64/", "linux/amd64/v8/x", "linux//v7",
     "linux amd64", "linux/amd 64", "windows(1/amd64", "linux/arm64/v8\n",
     # a "+" once split the version wrongly; now it separates features, which are checked
     "windows(10.0+)/amd64", "linux(+a++b)/amd64", "windows(10.0)(x)/amd64",
     "windows(10.0%2)/amd64", "windows(10.0%zz)/amd64", "linux(+%FF)/amd64",
     "windows(10.0 +x)/amd64", "linux/&arm", "linux/arm/foo/bar"],
)  # fmt: skip
def test_parse_rejects(text: str) -> None:
    with pytest.raises(InvalidPlatform):
        P(text)


def test_str_and_json() -> None:
    win = Platform("windows", "amd64", os_version="10.0.17763.5576", os_features=("win32k",))
    assert str(win) == "windows/amd64"
    assert win.describe() == "windows(10.0.17763.5576+win32k)/amd64"
    assert win.to_json() == {
        "architecture": "amd64",
        "os": "windows",
        "os.version": "10.0.17763.5576",
        "os.features": ["win32k"],
    }
    assert Platform.from_json(win.to_json()) == win
    assert Platform("linux", "arm", "v7", features=["sse4"]).features == ("sse4",)  # type: ignore[arg-type]


# --- normalisation ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("given_", "expected"),
    [
        ("linux/x86_64", "linux/amd64"),
        ("linux/x86-64", "linux/amd64"),
        ("Linux/AMD64", "linux/amd64"),
        ("linux/amd64/v1", "linux/amd64"),
        ("linux/amd64/v3", "linux/amd64/v3"),
        ("linux/aarch64", "linux/arm64/v8"),
        ("linux/arm64", "linux/arm64/v8"),
        ("linux/arm64/8", "linux/arm64/v8"),
        ("linux/arm64/v8.0", "linux/arm64/v8"),
        ("linux/arm64/9", "linux/arm64/v9"),
        ("linux/arm64/v9.0", "linux/arm64/v9"),
        ("linux/arm64/v8.2", "linux/arm64/v8.2"),
        ("linux/arm", "linux/arm/v7"),
        ("linux/arm/7", "linux/arm/v7"),
        ("linux/arm/v6", "linux/arm/v6"),
        ("linux/armhf", "linux/arm/v7"),
        ("linux/armel", "linux/arm/v6"),
        ("linux/i386", "linux/386"),
        ("linux/386", "linux/386"),
        ("macos/arm64", "darwin/arm64/v8"),
        ("linux/ppc64le", "linux/ppc64le"),
    ],
)
def test_normalize(given_: str, expected: str) -> None:
    assert str(normalize(P(given_))) == expected
    assert normalize(normalize(P(given_))) == normalize(P(given_))


def test_describe_encodes_what_the_syntax_needs_and_sorts_features() -> None:
    p = Platform("windows", "amd64", os_version="1.0(beta)/x", os_features=("z", "feat+1", "z"))
    assert p.describe() == "windows(1.0%28beta%29%2Fx+feat%2B1+z)/amd64"
    assert P(p.describe()) == Platform(
        "windows", "amd64", os_version="1.0(beta)/x", os_features=("feat+1", "z")
    )


def test_normalize_keeps_os_version_and_features() -> None:
    p = Platform("Windows", "x86_64", os_version="10.0.20348.2340", os_features=("win32k",))
    n = normalize(p)
    assert (n.os, n.architecture, n.os_version, n.os_features) == (
        "windows",
        "amd64",
        "10.0.20348.2340",
        ("win32k",),
    )


# --- matching ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("want", "have", "expected"),
    [
        ("linux/amd64", "linux/x86_64", True),
        ("linux/arm64", "linux/arm64/v8", True),
        ("linux/aarch64", "linux/arm64", True),
        ("linux/arm/v8", "linux/arm/v7", True),  # a newer arm runs older code
        ("linux/arm/v7", "linux/arm/v8", False),
        ("linux/arm", "linux/arm/v6", True),
        ("linux/arm/v7", "linux/arm/v4", False),  # containerd's arm vectors stop at v5
        ("linux/arm/v4", "linux/arm/v4", True),
        ("linux/amd64", "linux/amd64/v3", False),
        ("linux/amd64/v3", "linux/amd64", True),
        ("linux/amd64", "linux/386", True),  # an amd64 host runs 386 images
        ("linux/386", "linux/amd64", False),
        ("linux/amd64", "windows/amd64", False),
        ("linux/amd64", "linux/arm64", False),
        ("linux/arm64", "linux/arm/v8", True),  # arm64 runs 32-bit arm
        ("linux/arm64/v8.1", "linux/arm64/v8", True),  # minor variants
        ("linux/arm64/v8", "linux/arm64/v8.1", False),
        ("linux/arm64/v9.6", "linux/arm64/v8.9", True),  # v9.x includes v8.(x+5)
        ("linux/arm64/v9", "linux/arm64/v8.6", False),
        ("linux/ppc64le", "linux/ppc64le/power9", False),  # other variants: only exactly
        ("linux/ppc64le/power9", "linux/ppc64le/power9", True),
        # Windows: the build must be the host's (before Server 2022) ...
        ("windows(10.0.17763)/amd64", "windows(10.0.17763.5576)/amd64", True),
        ("windows(10.0.17763.5576)/amd64", "windows(10.0.17763.5576)/amd64", True),
        ("windows(10.0.17763)/amd64", "windows(10.0.20348.2340)/amd64", False),
        ("windows(10.0.1776)/amd64", "windows(10.0.17763.5576)/amd64", False),
        # ... or from the previous LTSC up to the host's own on newer hosts
        ("windows(10.0.26100.2894)/amd64", "windows(10.0.20348.3091)/amd64", True),
        ("windows(10.0.20348.3091)/amd64", "windows(10.0.26100.2894)/amd64", False),
        ("windows(10.0.17763)/amd64", "windows/amd64", True),
        ("windows/amd64", "windows(10.0.20348.2340)/amd64", True),
        ("linux(7.2)/amd64", "linux(7.1)/amd64", True),  # os.version counts on Windows only
    ],
)
def test_matches(want: str, have: str, expected: bool) -> None:
    assert matches(P(want), P(have)) is expected


def test_os_features_an_image_needs_must_be_the_hosts() -> None:
    host = Platform("linux", "amd64", os_features=("gpu", "simd"))
    assert matches(host, Platform("linux", "amd64", os_features=("gpu",)))
    assert matches(host, Platform("linux", "amd64"))
    assert not matches(host, Platform("linux", "amd64", os_features=("gpu", "other")))
    assert not matches(Platform("linux", "amd64"), Platform("linux", "amd64", os_features=("gpu",)))
    # Windows images may list win32k without requiring it of the host, as containerd allows.
    assert matches(P("windows/amd64"), Platform("windows", "amd64", os_features=("win32k",)))
    assert not matches(P("linux/amd64"), Platform("linux", "amd64", os_features=("win32k",)))


def test_strict_matching_accepts_only_the_hosts_own_variant() -> None:
    assert matches(P("linux/arm64"), P("linux/arm64/v8"), strict=True)
    assert matches(P("linux/arm/v7"), P("linux/arm"), strict=True)
    assert not matches(P("linux/arm/v8"), P("linux/arm/v7"), strict=True)
    assert not matches(P("linux/amd64"), P("linux/386"), strict=True)
    assert matches(P("windows(10.0.17763)/amd64"), P("windows/amd64"), strict=True)


# --- selection -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("want", "index_of_expected"),
    [
        ("linux/amd64", 0),
        ("linux/x86_64", 0),
        ("linux/arm/v5", 1),
        ("linux/arm/v6", 1),  # only v5 can run on v6
        ("linux/arm", 2),
        ("linux/armhf", 2),
        ("linux/arm/v8", 2),  # no arm/v8 entry: the newest compatible, v7
        ("linux/arm64", 3),
        ("linux/aarch64", 3),
        ("linux/i386", 4),
        ("windows/amd64", 5),  # no version asked: the first Windows entry
        ("windows(10.0.17763)/amd64", 6),
        ("windows(10.0.17763.5576)/amd64", 6),
        ("windows(10.0.20348)/amd64", 5),
    ],
)
def test_select_from_a_docker_hub_list(want: str, index_of_expected: int) -> None:
    doc = hub_list()
    assert select(doc.manifests, P(want)) == doc.manifests[index_of_expected]


def test_fallbacks_follow_the_compatibility_vector() -> None:
    d = Digest.of
    i386 = Descriptor(DOCKER_MANIFEST_V2, d(b"386"), 1, platform=P("linux/386"))
    v2 = Descriptor(DOCKER_MANIFEST_V2, d(b"v2"), 1, platform=P("linux/amd64/v2"))
    arm7 = Descriptor(DOCKER_MANIFEST_V2, d(b"arm7"), 1, platform=P("linux/arm/v7"))
    arm64 = Descriptor(DOCKER_MANIFEST_V2, d(b"arm64"), 1, platform=P("linux/arm64/v8.2"))
    assert select([i386, v2], P("linux/amd64/v3")) == v2
    assert select([i386], P("linux/amd64")) == i386
    assert select([arm7, arm64], P("linux/arm64/v9.1")) == arm64
    assert select([arm7, arm64], P("linux/arm64/v8.1")) == arm7
    # Among equals in the vector, the entry needing more of the host's features wins.
    plain = Descriptor(DOCKER_MANIFEST_V2, d(b"p"), 1, platform=P("linux/amd64"))
    gpu = Descriptor(DOCKER_MANIFEST_V2, d(b"g"), 1, platform=P("linux(+gpu)/amd64"))
    assert select([plain, gpu], P("linux(+gpu)/amd64")) == gpu
    assert select([plain, gpu], P("linux/amd64")) == plain


def test_exact_variant_beats_compatible_and_exact_version_beats_missing() -> None:
    d = Digest.of
    v6 = Descriptor(DOCKER_MANIFEST_V2, d(b"6"), 1, platform=P("linux/arm/v6"))
    v7 = Descriptor(DOCKER_MANIFEST_V2, d(b"7"), 1, platform=P("linux/arm/v7"))
    v8 = Descriptor(DOCKER_MANIFEST_V2, d(b"8"), 1, platform=P("linux/arm/v8"))
    assert select([v6, v7, v8], P("linux/arm/v8")) == v8
    assert select([v8, v7, v6], P("linux/arm/v8")) == v8
    assert select([v6, v7], P("linux/arm/v8")) == v7
    assert select([v7, v6], P("linux/arm/v8")) == v7

    bare = Descriptor(DOCKER_MANIFEST_V2, d(b"w"), 1, platform=P("windows/amd64"))
    exact = Descriptor(DOCKER_MANIFEST_V2, d(b"x"), 1, platform=P("windows(10.0.17763.5576)/amd64"))
    prefix = Descriptor(DOCKER_MANIFEST_V2, d(b"p"), 1, platform=P("windows(10.0.17763.1)/amd64"))
    want = P("windows(10.0.17763.5576)/amd64")
    assert select([bare, prefix, exact], want) == exact
    assert select([bare, prefix], P("windows(10.0.17763)/amd64")) == prefix
    assert select([bare], want) == bare


def test_entries_without_platform_are_skipped() -> None:
    no_platform = Descriptor(DOCKER_MANIFEST_V2, Digest.of(b"n"), 1)
    amd = Descriptor(DOCKER_MANIFEST_V2, Digest.of(b"a"), 1, platform=P("linux/amd64"))
    assert select([no_platform, amd], P("linux/amd64")) == amd


def test_attestations_are_not_selected_for_a_real_platform() -> None:
    doc = parse_manifest(OCI_INDEX_DOC)
    assert isinstance(doc, Index)
    assert select(doc.manifests, P("linux/arm64")) == doc.manifests[1]


def test_not_found_lists_the_available_platforms() -> None:
    with pytest.raises(PlatformNotFound) as info:
        select(hub_list().manifests, P("linux/s390x"))
    message = str(info.value)
    assert "linux/s390x" in message
    assert "linux/arm/v5" in message
    assert "windows(10.0.20348.2340)/amd64" in message
    assert isinstance(info.value, LookupError)
    with pytest.raises(PlatformNotFound, match="none"):
        select([], P("linux/amd64"))


# --- properties ----------------------------------------------------------------

oses = st.sampled_from(["linux", "windows", "darwin", "Linux", "macos"])
arches = st.sampled_from(
    ["amd64", "x86_64", "arm64", "aarch64", "arm", "armhf", "armel", "386", "i386", "ppc64le"]
)
variants = st.none() | st.sampled_from(["v5", "v6", "v7", "v8", "v2", "v3", "8", "7"])
versions = st.none() | st.sampled_from(["10.0.17763.5576", "10.0.17763", "10.0.20348.2340"])
platforms = st.builds(Platform, oses, arches, variants, versions)
word = st.from_regex(r"[A-Za-z0-9_.+-]{1,12}", fullmatch=True)


option = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=12)


@given(word, word, st.none() | word, st.none() | option, st.lists(option, max_size=3))
def test_round_trip(
    os: str, arch: str, variant: str | None, os_version: str | None, features: list[str]
) -> None:
    p = Platform(os, arch, variant, os_version, tuple(sorted(set(features))))
    assert P(p.describe()) == p
    if os_version is None and not features:
        assert P(str(p)) == p
    assert Platform.from_json(p.to_json()) == p


@given(
    st.text(max_size=60)
    | st.lists(st.sampled_from(list("lnx/amd64()v.+%2B")), max_size=20).map("".join)
)
def test_arbitrary_text_parses_or_raises_invalid_platform(text: str) -> None:
    try:
        p = P(text)
    except InvalidPlatform:
        return
    assert normalize(P(p.describe())) == normalize(p)


@given(platforms)
def test_a_platform_matches_itself_and_its_aliases(p: Platform) -> None:
    assert matches(p, p)
    assert matches(p, normalize(p))
    assert matches(normalize(p), p)


@given(st.lists(platforms, max_size=8), platforms)
def test_select_picks_a_match_or_raises_only_when_none_matches(
    haves: list[Platform], want: Platform
) -> None:
    descs = [
        Descriptor(DOCKER_MANIFEST_V2, Digest.of(str(i).encode()), 1, platform=p)
        for i, p in enumerate(haves)
    ]
    try:
        chosen = select(descs, want)
    except PlatformNotFound:
        assert not any(matches(want, p) for p in haves)
        return
    assert chosen.platform is not None
    assert matches(want, chosen.platform)
    # An entry with the exact (normalised) variant always wins over a compatible one.
    target = normalize(want)
    exact = [p for p in haves if matches(want, p) and normalize(p).variant == target.variant]
    if exact:
        assert normalize(chosen.platform).variant == target.variant
    # Deterministic: the same input gives the same choice.
    assert select(descs, want) == chosen


def test_filtering_an_index_keeps_the_best_child_per_platform() -> None:
    doc = hub_list()  # amd64, arm/v5, arm/v7, arm64/v8, 386, two windows
    kept = filter_index(doc, [P("linux/amd64"), P("linux/arm64")])
    assert [str(d.platform) for d in kept.manifests] == ["linux/amd64", "linux/arm64/v8"]
    # A host's fallbacks come in only when nothing better exists.
    older = Index.build([d for d in doc.manifests if str(d.platform) in ("linux/386", "linux/arm/v7")])
    assert [str(d.platform) for d in filter_index(older, [P("linux/amd64")]).manifests] == ["linux/386"]
    with pytest.raises(PlatformNotFound):
        filter_index(doc, [P("linux/s390x")])
