"""Semantic versions (semver.org 2.0.0) read from tags, and version ranges to select tags.

Tags are not always strict semver: ``v1.2.3``, ``3.19`` and ``1`` are common, so
:meth:`Version.parse` reads them *loosely* by default, as Masterminds/semver (used by
regsync and Helm) does: an optional ``v``, and a missing minor or patch read as 0.
``strict=True`` takes the semver.org grammar alone.

Ranges follow the npm / Masterminds syntax:

* comparators ``=``, ``!=``, ``<``, ``<=``, ``>``, ``>=`` (``!=`` needs a full version),
  joined by spaces or commas (AND) and ``||`` (OR);
* X-ranges ``1.2.x``, ``1.x``, ``*`` and partial versions ``1.2`` (= ``1.2.x``);
* ``~1.2.3`` (patch updates), ``^1.2.3`` (no change of the left-most non-zero part),
  hyphen ranges ``1.2 - 1.4``.

As npm does, a pre-release version (``2.0.0-rc.1``) satisfies a range only when one
comparator of the same AND set names a pre-release of the same ``major.minor.patch``:
``>=1.0`` does not pull release candidates in by surprise.

Everything is parsed from text written by strangers (tag lists) or by the user
(configs): errors are :class:`~ocireg.InvalidArgument` (a ``ValueError``), and text
longer than :data:`MAX_TEXT` is refused before any work is done.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from ._errors import InvalidArgument

__all__ = ["MAX_TEXT", "Version", "VersionRange", "newest"]

MAX_TEXT = 1024
"""Longest version or range text read (a tag is at most 128 characters)."""

_NUM = r"0|[1-9][0-9]*"
_PRE_ID = r"(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)"
_BUILD_ID = r"[0-9A-Za-z-]+"
_TAIL = rf"(?:-(?P<pre>{_PRE_ID}(?:\.{_PRE_ID})*))?(?:\+(?P<build>{_BUILD_ID}(?:\.{_BUILD_ID})*))?"
_STRICT = re.compile(rf"(?P<major>{_NUM})\.(?P<minor>{_NUM})\.(?P<patch>{_NUM}){_TAIL}", re.ASCII)
_LOOSE = re.compile(
    rf"[vV]?(?P<major>{_NUM})(?:\.(?P<minor>{_NUM})(?:\.(?P<patch>{_NUM}))?)?{_TAIL}", re.ASCII
)
# A partial version in a range: each part a number or a wildcard; a tail only after
# three numbers (``1.2.3-rc.1``), as in npm.
_WILD = r"[xX*]"
_PARTIAL = re.compile(
    rf"[vV]?=?(?P<major>{_NUM}|{_WILD})(?:\.(?P<minor>{_NUM}|{_WILD})(?:\.(?P<patch>{_NUM}|{_WILD}))?)?{_TAIL}",
    re.ASCII,
)
_COMPARATOR = re.compile(r"(?P<op>[<>]=?|!=|=|~>|~|\^)?\s*(?P<version>\S+)", re.ASCII)

PreRelease = tuple[int | str, ...]


def _check_text(text: object, what: str) -> str:
    if not isinstance(text, str):
        raise InvalidArgument(f"{what} must be a string, not {type(text).__name__}")
    if len(text) > MAX_TEXT:
        raise InvalidArgument(f"{what} is {len(text)} characters, over {MAX_TEXT}")
    return text


def _pre_ids(text: str | None) -> PreRelease:
    if not text:
        return ()
    return tuple(int(part) if part.isdigit() else part for part in text.split("."))


def _pre_key(pre: PreRelease) -> tuple[tuple[int, int | str], ...]:
    # semver 11.4: numeric identifiers sort below alphanumeric ones, numbers by
    # value, text in ASCII order; a shorter list that is a prefix sorts first.
    return tuple((0, p) if isinstance(p, int) else (1, p) for p in pre)


@functools.total_ordering
@dataclass(frozen=True)
class Version:
    """A semantic version; ordered by semver precedence (build metadata ignored)."""

    major: int
    minor: int
    patch: int
    prerelease: PreRelease = ()
    build: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        for name in ("major", "minor", "patch"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise InvalidArgument(f"version {name} must be a non-negative integer")
        text = str(self)
        if not _STRICT.fullmatch(text):
            raise InvalidArgument(f"{text[:200]!r} is not a valid semantic version")

    @classmethod
    def parse(cls, text: str, *, strict: bool = False) -> Version:
        """Read ``1.2.3-rc.1+build``; loosely (``v1.2``, ``3``) unless ``strict``."""
        text = _check_text(text, "version")
        m = (_STRICT if strict else _LOOSE).fullmatch(text)
        if m is None:
            raise InvalidArgument(f"{text[:200]!r} is not a semantic version")
        return cls(
            int(m["major"]),
            int(m["minor"] or 0),
            int(m["patch"] or 0),
            _pre_ids(m["pre"]),
            tuple(m["build"].split(".")) if m["build"] else (),
        )

    @classmethod
    def try_parse(cls, text: str) -> Version | None:
        """The version a tag names, or None when it names none (``latest``, ``stable``)."""
        try:
            return cls.parse(text)
        except InvalidArgument:
            return None

    @property
    def is_prerelease(self) -> bool:
        return bool(self.prerelease)

    @property
    def release(self) -> tuple[int, int, int]:
        return (self.major, self.minor, self.patch)

    def sort_key(self) -> tuple[int, int, int, int, tuple[tuple[int, int | str], ...]]:
        """Precedence as a tuple: a release sorts after all its pre-releases."""
        return (*self.release, 0 if self.prerelease else 1, _pre_key(self.prerelease))

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self.sort_key() < other.sort_key()

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.prerelease:
            text += "-" + ".".join(str(p) for p in self.prerelease)
        if self.build:
            text += "+" + ".".join(self.build)
        return text


# --- ranges ----------------------------------------------------------------------------

_FLOOR = (0,)
"""The lowest pre-release identifier: ``X.Y.Z-0`` sorts below every ``X.Y.Z-...``."""


@dataclass(frozen=True)
class _Comparator:
    op: str  # one of < <= > >= = !=
    version: Version

    def test(self, v: Version) -> bool:
        key, other = v.sort_key(), self.version.sort_key()
        return {
            "<": key < other, "<=": key <= other, ">": key > other,
            ">=": key >= other, "=": key == other, "!=": key != other,
        }[self.op]


def _parts(text: str) -> tuple[int | None, int | None, int | None, PreRelease, tuple[str, ...]]:
    """A partial version: numbers, or None for a wildcard or a missing part."""
    m = _PARTIAL.fullmatch(text)
    if m is None:
        raise InvalidArgument(f"{text[:200]!r} is not a version or an X-range")
    nums: list[int | None] = []
    for name in ("major", "minor", "patch"):
        value = m[name]
        nums.append(None if value is None or value in "xX*" else int(value))
    # Anything after a wildcard is a wildcard too: 1.x.3 means 1.x.
    for i in range(1, 3):
        if nums[i - 1] is None:
            nums[i] = None
    if (m["pre"] or m["build"]) and nums[2] is None:
        raise InvalidArgument(f"{text[:200]!r}: a pre-release needs a full version")
    return nums[0], nums[1], nums[2], _pre_ids(m["pre"]), tuple(m["build"].split(".")) if m["build"] else ()


def _v(major: int, minor: int = 0, patch: int = 0, pre: PreRelease = ()) -> Version:
    return Version(major, minor, patch, pre)


def _upper(major: int | None, minor: int | None) -> Version | None:
    """The first version past the X-range ``major.minor.x`` (None: no bound)."""
    if major is None:
        return None
    if minor is None:
        return _v(major + 1, 0, 0, _FLOOR)
    return _v(major, minor + 1, 0, _FLOOR)


def _xrange(text: str) -> list[_Comparator]:
    major, minor, patch, pre, _ = _parts(text)
    if major is None:
        return [_Comparator(">=", _v(0))]
    if patch is not None:
        return [_Comparator("=", _v(major, minor or 0, patch, pre))]
    top = _upper(major, minor)
    assert top is not None
    return [_Comparator(">=", _v(major, minor or 0)), _Comparator("<", top)]


def _desugar(op: str, text: str) -> list[_Comparator]:
    """One comparator as written (``^1.2``, ``>1``, ``1.x``) as plain comparators."""
    if op in ("", "="):
        return _xrange(text)
    major, minor, patch, pre, _ = _parts(text)
    if op == "!=":
        if patch is None or major is None or minor is None:
            raise InvalidArgument(f"!={text[:200]}: != needs a full version")
        return [_Comparator("!=", _v(major, minor, patch, pre))]
    if op in ("~", "~>"):
        if major is None:
            return [_Comparator(">=", _v(0))]
        top = _upper(major, minor if minor is not None else None)
        assert top is not None
        return [_Comparator(">=", _v(major, minor or 0, patch or 0, pre)), _Comparator("<", top)]
    if op == "^":
        if major is None:
            return [_Comparator(">=", _v(0))]
        low = _v(major, minor or 0, patch or 0, pre)
        if major > 0 or minor is None:
            top = _v(major + 1, 0, 0, _FLOOR)
        elif minor > 0 or patch is None:
            top = _v(0, minor + 1, 0, _FLOOR)
        else:
            top = _v(0, 0, patch + 1, _FLOOR)
        return [_Comparator(">=", low), _Comparator("<", top)]
    # < <= > >= with a partial version, as npm reads them.
    if major is None:
        return [_Comparator("<", _v(0, 0, 0, _FLOOR))] if op in ("<", ">") else [_Comparator(">=", _v(0))]
    if patch is not None:
        return [_Comparator(op, _v(major, minor or 0, patch, pre))]
    top = _upper(major, minor)
    assert top is not None
    low = _v(major, minor or 0)
    return {
        ">": [_Comparator(">=", top)],
        ">=": [_Comparator(">=", low)],
        "<": [_Comparator("<", _v(major, minor or 0, 0, _FLOOR))],
        "<=": [_Comparator("<", top)],
    }[op]


def _hyphen(low: str, high: str) -> list[_Comparator]:
    lo_major, lo_minor, lo_patch, lo_pre, _ = _parts(low)
    hi_major, hi_minor, hi_patch, hi_pre, _ = _parts(high)
    out: list[_Comparator] = []
    if lo_major is not None:
        out.append(_Comparator(">=", _v(lo_major, lo_minor or 0, lo_patch or 0, lo_pre)))
    if hi_major is not None:
        if hi_patch is not None:
            out.append(_Comparator("<=", _v(hi_major, hi_minor or 0, hi_patch, hi_pre)))
        else:
            top = _upper(hi_major, hi_minor)
            assert top is not None
            out.append(_Comparator("<", top))
    return out or [_Comparator(">=", _v(0))]


def _tokens(text: str) -> Iterator[tuple[str, str]]:
    """``(operator, version)`` pairs of one AND set; ``>= 1.2`` may have a space."""
    rest = text.replace(",", " ").strip()
    while rest:
        m = _COMPARATOR.match(rest)
        if m is None:  # pragma: no cover - the pattern matches any non-space run
            raise InvalidArgument(f"cannot read {rest[:200]!r}")
        yield m["op"] or "", m["version"]
        rest = rest[m.end():].lstrip()


@dataclass(frozen=True)
class VersionRange:
    """A set of versions: ``">=1.2 <2 || ^3.1"``; ``VersionRange.parse(text).contains(version)``."""

    text: str
    sets: tuple[tuple[_Comparator, ...], ...] = field(repr=False)

    @classmethod
    def parse(cls, text: str) -> VersionRange:
        text = _check_text(text, "version range")
        sets: list[tuple[_Comparator, ...]] = []
        for part in text.split("||"):
            part = part.strip()
            hyphen = re.fullmatch(r"(\S+)\s+-\s+(\S+)", part)
            if hyphen:
                sets.append(tuple(_hyphen(hyphen[1], hyphen[2])))
                continue
            comparators: list[_Comparator] = []
            for op, version in _tokens(part):
                comparators += _desugar(op, version)
            sets.append(tuple(comparators) or (_Comparator(">=", _v(0)),))
        return cls(text, tuple(sets))

    def contains(self, version: Version | str) -> bool:
        """Whether ``version`` (a :class:`Version` or tag text) is in the range."""
        if isinstance(version, str):
            parsed = Version.try_parse(version)
            if parsed is None:
                return False
            version = parsed
        return any(_satisfies(version, comparators) for comparators in self.sets)

    def __str__(self) -> str:
        return self.text


def _satisfies(version: Version, comparators: tuple[_Comparator, ...]) -> bool:
    if not all(c.test(version) for c in comparators):
        return False
    if not version.prerelease:
        return True
    # npm's rule: a pre-release only where the range names one of the same release.
    return any(c.version.prerelease and c.version.prerelease != _FLOOR and c.version.release == version.release
               for c in comparators)


def newest(tags: Iterable[str], count: int) -> list[str]:
    """The tags naming the ``count`` highest release versions, highest first.

    Tags that name no version, and pre-releases, take no part.  Tags naming the same
    version (``3.19`` and ``v3.19.0``) count once and are all kept.
    """
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise InvalidArgument("newest needs a count of 0 or more")
    by_version: dict[tuple[int, int, int], list[str]] = {}
    for tag in tags:
        version = Version.try_parse(tag)
        if version is not None and not version.prerelease:
            by_version.setdefault(version.release, []).append(tag)
    chosen = sorted(by_version, reverse=True)[:count]
    return [tag for release in chosen for tag in sorted(by_version[release])]
