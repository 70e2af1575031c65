"""Semantic versions and ranges: the spec's examples, npm's desugaring rules, and properties."""

from __future__ import annotations

import functools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ocireg import InvalidArgument
from ocireg._semver import Version, VersionRange, newest

# --- strategies ---------------------------------------------------------------------

numbers = st.integers(min_value=0, max_value=30)
alnum_ids = st.from_regex(r"[0-9]*[A-Za-z-][0-9A-Za-z-]{0,5}", fullmatch=True)
pre_ids = st.one_of(numbers, alnum_ids)
versions = st.builds(
    Version,
    numbers, numbers, numbers,
    st.lists(pre_ids, max_size=3).map(tuple),
    st.lists(st.from_regex(r"[0-9A-Za-z-]{1,5}", fullmatch=True), max_size=2).map(tuple),
)
releases = st.builds(Version, numbers, numbers, numbers)


def spec_compare(a: Version, b: Version) -> int:
    """semver.org section 11, written out step by step as an independent oracle."""
    for x, y in zip((a.major, a.minor, a.patch), (b.major, b.minor, b.patch), strict=True):
        if x != y:
            return -1 if x < y else 1
    if not a.prerelease or not b.prerelease:
        return int(not a.prerelease) - int(not b.prerelease)
    for x, y in zip(a.prerelease, b.prerelease, strict=False):
        if x == y:
            continue
        if isinstance(x, int) and isinstance(y, int):
            return -1 if x < y else 1
        if isinstance(x, int):
            return -1
        if isinstance(y, int):
            return 1
        return -1 if x < y else 1
    return (len(a.prerelease) > len(b.prerelease)) - (len(a.prerelease) < len(b.prerelease))


# --- versions --------------------------------------------------------------------------


def test_spec_precedence_example() -> None:
    ordered = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
               "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.1.0", "2.0.0", "10.0.0"]
    parsed = [Version.parse(v, strict=True) for v in ordered]
    assert sorted(reversed(parsed)) == parsed
    assert [str(v) for v in parsed] == ordered


@pytest.mark.parametrize(("text", "expected"), [
    ("v1.2.3", (1, 2, 3)), ("V1", (1, 0, 0)), ("3.19", (3, 19, 0)), ("v1.2.3+build.5", (1, 2, 3)),
])
def test_loose_tags(text: str, expected: tuple[int, int, int]) -> None:
    assert Version.parse(text).release == expected
    with pytest.raises(InvalidArgument):
        Version.parse(text, strict=True)


@pytest.mark.parametrize("text", ["", "latest", "1.2.3.4", "01.2.3", "1.2.3-", "1.2.3-01", "1..2", "1.2.3+", "x"])
def test_not_versions(text: str) -> None:
    with pytest.raises(InvalidArgument):
        Version.parse(text)
    assert Version.try_parse(text) is None


def test_build_metadata_does_not_change_precedence_or_equality() -> None:
    assert Version.parse("1.2.3+a") == Version.parse("1.2.3+b")
    assert hash(Version.parse("1.2.3+a")) == hash(Version.parse("1.2.3"))


def test_too_long_text_is_refused_before_parsing() -> None:
    with pytest.raises(InvalidArgument, match="characters"):
        Version.parse("1" * 5000)
    with pytest.raises(InvalidArgument, match="characters"):
        VersionRange.parse(">=1 " * 1000)


@given(versions)
def test_round_trip(version: Version) -> None:
    text = str(version)
    assert Version.parse(text, strict=True) == version
    assert str(Version.parse(text, strict=True)) == text


@given(versions, versions)
def test_order_agrees_with_the_spec(a: Version, b: Version) -> None:
    expected = spec_compare(a, b)
    assert (a < b, a == b, a > b) == (expected < 0, expected == 0, expected > 0)


@given(st.lists(versions, max_size=8))
def test_sorting_is_consistent_with_the_oracle(items: list[Version]) -> None:
    ours = sorted(items)
    theirs = sorted(items, key=functools.cmp_to_key(spec_compare))
    assert [v.sort_key() for v in ours] == [v.sort_key() for v in theirs]


@given(st.text(max_size=40))
def test_any_text_parses_or_raises_the_documented_error(text: str) -> None:
    for parse in (Version.parse, VersionRange.parse):
        try:
            value = parse(text)
        except InvalidArgument as exc:
            assert str(exc)
        else:
            assert isinstance(value, Version | VersionRange)


# --- ranges ------------------------------------------------------------------------------


@pytest.mark.parametrize(("expression", "inside", "outside"), [
    (">=1.2 <2", ["1.2.0", "1.9.9"], ["1.1.9", "2.0.0", "2.0.0-rc.1", "1.5.0-rc.1"]),
    ("^1.2.3", ["1.2.3", "1.99.0"], ["1.2.2", "2.0.0"]),
    ("^0.2.3", ["0.2.3", "0.2.9"], ["0.3.0", "0.2.2"]),
    ("^0.0.3", ["0.0.3"], ["0.0.4", "0.0.2"]),
    ("^0.x", ["0.0.1", "0.9.0"], ["1.0.0"]),
    ("~1.2.3", ["1.2.3", "1.2.9"], ["1.3.0", "1.2.2"]),
    ("~1", ["1.0.0", "1.9.0"], ["2.0.0"]),
    ("1.2.x", ["1.2.0", "1.2.99"], ["1.3.0", "1.1.0"]),
    ("1", ["1.0.0", "1.5.5"], ["2.0.0", "0.9.9"]),
    ("*", ["0.0.0", "99.1.2"], ["1.0.0-rc.1"]),
    ("1.2 - 1.4", ["1.2.0", "1.4.99"], ["1.5.0", "1.1.9"]),
    ("1.2.3 - 2.3.4", ["1.2.3", "2.3.4"], ["2.3.5"]),
    (">1.2", ["1.3.0"], ["1.2.9"]),
    ("<=1.2", ["1.2.9", "0.1.0"], ["1.3.0"]),
    ("<1.2", ["1.1.9"], ["1.2.0"]),
    (">=1.0.0, !=1.5.0", ["1.4.0", "1.6.0"], ["1.5.0"]),
    ("<1 || >=3", ["0.5.0", "3.1.0"], ["1.0.0", "2.9.9"]),
    (">=1.2.3-rc.1 <1.3", ["1.2.3-rc.2", "1.2.3", "1.2.9"], ["1.2.4-rc.1", "1.2.3-beta"]),
    (">= 3.18", ["v3.19", "3.18"], ["3.17.9", "latest"]),
])
def test_range_examples(expression: str, inside: list[str], outside: list[str]) -> None:
    r = VersionRange.parse(expression)
    for v in inside:
        assert r.contains(v), f"{v} should be in {expression}"
    for v in outside:
        assert not r.contains(v), f"{v} should not be in {expression}"


@pytest.mark.parametrize("expression", ["!=1.2", "1.x-rc.1", ">=", "^a", "1.2.3.4"])
def test_bad_ranges(expression: str) -> None:
    with pytest.raises(InvalidArgument):
        VersionRange.parse(expression)


def in_explicit(v: Version, low: tuple[int, int, int], high: tuple[int, int, int]) -> bool:
    return not v.prerelease and low <= v.release < high


@given(releases, versions)
def test_caret_is_the_documented_interval(base: Version, v: Version) -> None:
    major, minor, patch = base.release
    if major:
        high = (major + 1, 0, 0)
    elif minor:
        high = (0, minor + 1, 0)
    else:
        high = (0, 0, patch + 1)
    assert VersionRange.parse(f"^{base}").contains(v) == in_explicit(v, base.release, high)


@given(releases, versions)
def test_tilde_is_the_documented_interval(base: Version, v: Version) -> None:
    major, minor, _ = base.release
    assert VersionRange.parse(f"~{base}").contains(v) == in_explicit(v, base.release, (major, minor + 1, 0))


@given(numbers, numbers, versions)
def test_x_range_is_a_prefix_match_on_releases(major: int, minor: int, v: Version) -> None:
    assert VersionRange.parse(f"{major}.{minor}.x").contains(v) == (not v.prerelease and v.release[:2] == (major, minor))
    assert VersionRange.parse(f"{major}.x").contains(v) == (not v.prerelease and v.major == major)


@given(versions, versions)
def test_bounds_agree_with_ordering(a: Version, v: Version) -> None:
    # A release-only bound never admits pre-releases; for releases, it is the order.
    base = Version(*a.release)
    if not v.prerelease:
        assert VersionRange.parse(f">={base}").contains(v) == (v >= base)
        assert VersionRange.parse(f"<{base}").contains(v) == (v < base)
    else:
        assert not VersionRange.parse(f">={base}").contains(v)


@given(st.lists(st.one_of(st.builds(str, versions), st.sampled_from(["latest", "stable", "main"])), max_size=12),
       st.integers(min_value=0, max_value=5))
def test_newest_keeps_the_highest_release_versions(tags: list[str], count: int) -> None:
    chosen = newest(tags, count)
    releases_of = {Version.parse(t).release for t in tags if Version.try_parse(t) and not Version.parse(t).prerelease}
    expected_releases = sorted(releases_of, reverse=True)[:count]
    assert {Version.parse(t).release for t in chosen} == set(expected_releases)
    # every tag naming a chosen release is kept, none other
    assert sorted(chosen) == sorted(
        t for t in tags
        if (v := Version.try_parse(t)) is not None and not v.prerelease and v.release in expected_releases
    )


def test_newest_counts_equal_versions_once() -> None:
    assert newest(["3.19", "v3.19.0", "3.18", "3.20-rc.1", "latest", "3.17"], 2) == ["3.19", "v3.19.0", "3.18"]
