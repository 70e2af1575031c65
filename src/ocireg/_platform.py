"""Platform normalisation and choosing an index entry for a platform.

Indexes and users spell platforms differently (``x86_64`` / ``amd64``, ``aarch64``
/ ``arm64/v8``, ``armhf`` / ``arm/v7``), so both sides are normalised before they
are compared, with the aliases containerd and Docker use.  Selection then ranks the
entries a host can run, the way containerd's matcher does:

1. an exact variant beats a compatible older one (an ``arm/v8`` host runs
   ``arm/v7`` only when no ``arm/v8`` entry exists), and of the compatible ones the
   newest wins;
2. for Windows, an exact ``os.version`` beats one matching on the build number
   (``10.0.20348`` matches ``10.0.20348.2340``), which beats none at all;
3. remaining ties go to the first entry, so the choice is deterministic.
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
    "amd64": "amd64",
    "i386": "386",
    "386": "386",
    "aarch64": "arm64",
    "arm64": "arm64",
}
# Architectures whose variants are ordered generations: a host of variant vN runs
# every vM with M <= N.  The value is the variant an entry without one stands for.
_ORDERED_VARIANTS = {"arm": "v7", "arm64": "v8", "amd64": "v1"}
_VN = re.compile(r"v([0-9]{1,3})", re.ASCII)


def normalize(p: Platform) -> Platform:
    """``p`` with the OS and architecture in their canonical spelling and variant."""
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
    if arch in ("arm", "arm64") and variant is not None and variant.isdigit():
        variant = f"v{variant}"  # "7" -> "v7", as containerd accepts
    if arch == "arm64" and variant == "v8.0":
        variant = "v8"
    if variant is None and arch in ("arm", "arm64"):
        variant = _ORDERED_VARIANTS[arch]
    if arch == "amd64" and variant == "v1":
        variant = None  # v1 is plain amd64: spelled without a variant
    if (os, arch, variant) == (p.os, p.architecture, p.variant):
        return p
    return replace(p, os=os, architecture=arch, variant=variant)


def _generation(arch: str, variant: str | None) -> int | None:
    """The generation number of an ordered variant, or None."""
    if arch not in _ORDERED_VARIANTS:
        return None
    m = _VN.fullmatch(variant if variant is not None else _ORDERED_VARIANTS[arch])
    return int(m.group(1)) if m else None


def _variant_rank(want: Platform, have: Platform) -> tuple[int, int] | None:
    """How well ``have``'s variant suits ``want`` (higher is better); None if it cannot run."""
    if want.variant == have.variant:
        return (3, 0)
    want_gen = _generation(want.architecture, want.variant)
    have_gen = _generation(have.architecture, have.variant)
    if want_gen is not None and have_gen is not None:
        return (2, have_gen) if have_gen <= want_gen else None
    if want.variant is None:
        return (1, 0)  # no variant asked for on an unordered architecture: any will do
    return None


def _os_version_rank(want: Platform, have: Platform) -> int | None:
    if want.os_version is None:
        return 0
    if have.os_version is None:
        return 1
    if have.os_version == want.os_version:
        return 3
    # Windows images must match the host's build (major.minor.build); the revision
    # may differ, so a version given as a prefix matches on whole components.
    if have.os_version.startswith(want.os_version + "."):
        return 2
    return None


def _rank(want: Platform, have: Platform) -> tuple[int, int, int] | None:
    """The rank of ``have`` for a normalised ``want``; None if it does not match."""
    have = normalize(have)
    if have.os != want.os or have.architecture != want.architecture:
        return None
    if not set(want.os_features) <= set(have.os_features):
        return None
    variant = _variant_rank(want, have)
    os_version = _os_version_rank(want, have)
    if variant is None or os_version is None:
        return None
    return (*variant, os_version)


def matches(want: Platform, have: Platform) -> bool:
    """True if an image for ``have`` runs where ``want`` is asked for.

    Same OS and architecture after normalisation; ``have``'s variant equal to or
    an older generation of ``want``'s; ``want.os_version``, when given, equal to
    ``have``'s, or a whole-component prefix of it, or ``have`` has none; every
    ``want.os_features`` in ``have``'s.
    """
    return _rank(normalize(want), have) is not None


def select(manifests: Sequence[Descriptor], want: Platform) -> Descriptor:
    """The best entry of an index for ``want``; raises PlatformNotFound.

    Entries without a platform are skipped.  See the module docstring for the
    ranking; among equals the first entry wins.
    """
    target = normalize(want)
    best: Descriptor | None = None
    best_rank: tuple[int, int, int] | None = None
    for desc in manifests:
        if desc.platform is None:
            continue
        rank = _rank(target, desc.platform)
        if rank is not None and (best_rank is None or rank > best_rank):
            best, best_rank = desc, rank
    if best is not None:
        return best
    available = [d.platform.describe() for d in manifests if d.platform is not None]
    listed = ", ".join(dict.fromkeys(available)) or "none"
    raise PlatformNotFound(f"no manifest for {want.describe()}; available platforms: {listed}")
