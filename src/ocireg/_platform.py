"""Platform normalisation, matching and choosing an index entry, as containerd does.

``want`` is the host (the platform the caller asks for), ``have`` an index entry
(what an image needs).  The rules are containerd's ``platforms.Only`` (and
``OnlyStrict`` with ``strict=True``), checked against its own test vectors in
``tests/test_vectors.py``:

* Both sides are normalised first, with the aliases containerd and Docker use
  (``x86_64`` / ``amd64``, ``aarch64`` / ``arm64/v8``, ``armhf`` / ``arm/v7``,
  ``armel`` / ``arm/v6``, ``macos`` / ``darwin``).
* A host runs the entries of its *compatibility vector*, best first:
  ``amd64/vN`` runs ``amd64/vN`` down to ``amd64`` (v1), then ``386``;
  ``arm/vN`` (N > 5) runs ``arm/vN`` down to ``arm/v5`` (``arm/v4`` and older run
  only on exactly that variant); ``arm64/vX.Y`` runs the arm64 variants its
  generation includes (``v9.Y`` includes ``v8.(Y+5)``, capped at ``v8.9``), then
  ``arm/v8`` down to ``arm/v5``; any other architecture runs only its own variant.
  With ``strict`` the vector is the host's own platform alone.
* ``os.features`` an image requires must all be features of the host (an image
  without features runs on any host).  Windows images may list ``win32k``, which
  is not required of the host, as containerd ignores it there.
* ``os.version`` matters on Windows only: a host before Windows Server 2022 runs
  images of its own build; a newer host runs images from the previous LTSC build
  up to its own.  An image without a version, or a host without a
  ``major.minor.build`` version, matches any.

:func:`select` ranks the entries that match: earlier in the vector first, then more
``os.features``, then (on a Windows host with a version) the newest ``os.version``,
so the latest revision of the host's build wins; remaining ties go to the first
entry, so the choice is deterministic.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

from ._errors import PlatformNotFound
from ._manifest import Descriptor, Platform

__all__ = ["matches", "normalize", "select"]

_ARCH_ALIASES = {
    "x86_64": "amd64",
    "x86-64": "amd64",
    "i386": "386",
    "aarch64": "arm64",
}
_VN = re.compile(r"v?([0-9]{1,3})", re.ASCII)  # containerd reads "8" like "v8"
_ARM_OLDEST = 5  # containerd's arm vectors stop at v5: v4 hosts are too rare to assume


def _arm64_generations() -> dict[str, tuple[tuple[int, int], ...]]:
    """containerd's arm64 table: variant -> (major, newest minor it includes) pairs."""
    table: dict[str, tuple[tuple[int, int], ...]] = {}
    for minor in range(10):  # v8.0 ... v8.9
        table[f"v8.{minor}" if minor else "v8"] = ((8, minor),)
    for minor in range(8):  # v9.0 ... v9.7; v9.x includes v8.(x+5), v8.9 at most
        table[f"v9.{minor}" if minor else "v9"] = ((9, minor), (8, min(minor + 5, 9)))
    return table


_ARM64_GENERATIONS = _arm64_generations()


def normalize(p: Platform) -> Platform:
    """``p`` with OS, architecture and variant in canonical spelling, features sorted.

    ``arm`` without a variant is ``arm/v7`` and ``arm64`` is ``arm64/v8``, spelled
    out; ``amd64/v1`` is plain ``amd64``.
    """
    os = p.os.lower()
    if os == "macos":
        os = "darwin"
    arch = p.architecture.lower()
    variant = p.variant.lower() if p.variant is not None else None
    if arch == "armhf":
        arch, variant = "arm", "v7"
    elif arch == "armel":
        arch, variant = "arm", "v6"
    else:
        arch = _ARCH_ALIASES.get(arch, arch)
    if arch in ("arm", "arm64") and variant is not None and variant[:1].isdigit():
        variant = f"v{variant}"  # "7" -> "v7", "9.0" -> "v9.0", as containerd accepts
    if arch == "arm64" and variant in (None, "v8.0"):
        variant = "v8"
    elif arch == "arm64" and variant == "v9.0":
        variant = "v9"
    elif arch == "arm" and variant is None:
        variant = "v7"
    elif arch == "amd64" and variant == "v1":
        variant = None  # v1 is plain amd64: spelled without a variant
    features = tuple(sorted(set(p.os_features)))
    if (os, arch, variant, features) == (p.os, p.architecture, p.variant, p.os_features):
        return p
    return replace(p, os=os, architecture=arch, variant=variant, os_features=features)


def _vector(host: Platform) -> list[tuple[str, str | None]]:
    """The (architecture, variant) pairs a normalised host runs, best first."""
    arch, variant = host.architecture, host.variant
    m = _VN.fullmatch(variant) if variant is not None else None
    generation = int(m.group(1)) if m else None
    if arch == "amd64":
        own: list[tuple[str, str | None]] = [(arch, variant)]
        if generation is not None and generation > 1:
            own += [("amd64", f"v{n}") for n in range(generation - 1, 1, -1)] + [("amd64", None)]
        return [*own, ("386", None)]
    if arch == "arm":
        if generation is None or generation <= _ARM_OLDEST:
            return [(arch, variant)]
        return [("arm", f"v{n}") for n in range(generation, _ARM_OLDEST - 1, -1)]
    if arch == "arm64":
        generations = _ARM64_GENERATIONS.get(variant or "v8")
        if generations is None:
            return [(arch, variant)]  # a variant containerd does not know: itself only
        out: list[tuple[str, str | None]] = [
            ("arm64", f"v{major}.{minor}" if minor else f"v{major}")
            for major, newest in generations
            for minor in range(newest, -1, -1)
        ]
        # Every arm64 CPU of these generations also runs 32-bit arm up to v8.
        return out + _vector(replace(host, architecture="arm", variant="v8"))
    return [(arch, variant)]


def _windows_build(version: str | None) -> tuple[int, int, int] | None:
    """``(major, minor, build)`` of a Windows ``os.version``; None if absent or unreadable."""
    parts = (version or "").split(".")
    if len(parts) < 3 or not all(p.isdigit() and len(p) <= 5 for p in parts[:3]):
        return None
    return int(parts[0]), int(parts[1]), int(parts[2])


# Long-term servicing builds whose images newer hosts keep running (stable ABI),
# ascending: Windows Server 2022 (20348), then 2025 (26100).
_LTSC_BUILDS = (20348, 26100)


def _windows_runs(host: tuple[int, int, int], image: tuple[int, int, int]) -> bool:
    if host[:2] != image[:2]:
        return False
    if host[2] < _LTSC_BUILDS[0]:
        return host[2] == image[2]  # before Server 2022: the very same build only
    # The host runs images from the latest LTSC before its own build up to itself.
    oldest = max((b for b in _LTSC_BUILDS if b < host[2]), default=_LTSC_BUILDS[0])
    return oldest <= image[2] <= host[2]


def _version_key(version: str | None) -> tuple[int, ...]:
    if version is None:
        return ()
    return tuple(int(p) if p.isdigit() and len(p) <= 9 else -1 for p in version.split("."))


_Rank = tuple[int, int, tuple[int, ...]]  # (-place in the vector, features, os.version)


def _rank(host: Platform, vector: list[tuple[str, str | None]], have: Platform) -> _Rank | None:
    """The rank of ``have`` on a normalised ``host`` (higher is better); None if it cannot run."""
    have = normalize(have)
    if have.os != host.os:
        return None
    try:
        position = vector.index((have.architecture, have.variant))
    except ValueError:
        return None
    required = set(have.os_features)
    if host.os == "windows":
        required.discard("win32k")
    if not required <= set(host.os_features):
        return None
    newest: tuple[int, ...] = ()
    if host.os == "windows":
        host_build = _windows_build(host.os_version)
        if host_build is not None and have.os_version is not None:
            image_build = _windows_build(have.os_version)
            if image_build is None or not _windows_runs(host_build, image_build):
                return None
        if host.os_version is not None:
            newest = _version_key(have.os_version)
    return (-position, len(have.os_features), newest)


def matches(want: Platform, have: Platform, *, strict: bool = False) -> bool:
    """True if an image for ``have`` runs on a host ``want`` (see the module docstring).

    ``strict`` (containerd's ``OnlyStrict``) accepts only ``want``'s own normalised
    architecture and variant, not the older ones it could also run.
    """
    host = normalize(want)
    vector = [(host.architecture, host.variant)] if strict else _vector(host)
    return _rank(host, vector, have) is not None


def select(manifests: Sequence[Descriptor], want: Platform) -> Descriptor:
    """The best entry of an index for ``want``; raises PlatformNotFound.

    Entries without a platform are skipped.  See the module docstring for the
    ranking; among equals the first entry wins.
    """
    host = normalize(want)
    vector = _vector(host)
    best: Descriptor | None = None
    best_rank: _Rank | None = None
    for desc in manifests:
        if desc.platform is None:
            continue
        rank = _rank(host, vector, desc.platform)
        if rank is not None and (best_rank is None or rank > best_rank):
            best, best_rank = desc, rank
    if best is not None:
        return best
    available = [d.platform.describe() for d in manifests if d.platform is not None]
    listed = ", ".join(dict.fromkeys(available)) or "none"
    raise PlatformNotFound(f"no manifest for {want.describe()}; available platforms: {listed}")
