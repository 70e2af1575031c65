"""Pure helpers for moving images: which blobs a document needs, platform filtering.

No I/O here; the driver walks documents with these and runs the flows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from ._digest import Digest
from ._errors import InvalidArgument, PlatformNotFound
from ._manifest import Descriptor, Document, Index, Manifest, Platform, SchemaV1Manifest
from ._platform import select

__all__ = ["BlobRef", "blobs_of", "filter_index", "parse_platform_arg", "platform_children"]


class BlobRef(NamedTuple):
    """A blob an image needs; ``size`` is None only for schema1, which does not record it."""

    digest: Digest
    size: int | None
    media_type: str | None


def blobs_of(document: Document) -> tuple[BlobRef, ...]:
    """The blobs (config and layers) an image manifest refers to; none for an index."""
    if isinstance(document, Manifest):
        return tuple(BlobRef(d.digest, d.size, d.media_type) for d in document.blobs)
    if isinstance(document, SchemaV1Manifest):
        seen: dict[Digest, None] = dict.fromkeys(document.fs_layers)  # schema1 repeats empty layers
        return tuple(BlobRef(d, None, None) for d in seen)
    return ()


def parse_platform_arg(value: str | Platform | None) -> Platform | None:
    """A platform given as ``os/arch[/variant]`` text or a :class:`Platform`."""
    if value is None or isinstance(value, Platform):
        return value
    return Platform.parse(value)


def platform_children(index: Index, platforms: Sequence[Platform]) -> tuple[Descriptor, ...]:
    """For each of ``platforms``, the child :func:`select` picks (none where none matches).

    One child per platform, as containerd pulls and skopeo copies: an ``arm64``
    host could also run ``arm/v7``, but ``linux/arm64`` asks for the arm64 image
    only.  Children keep their order in the index.
    """
    chosen: set[int] = set()  # by identity: two equal entries are still two entries
    for want in platforms:
        try:
            chosen.add(id(select(index.manifests, want)))
        except PlatformNotFound:
            continue
    return tuple(child for child in index.manifests if id(child) in chosen)


def filter_index(index: Index, platforms: Sequence[Platform]) -> Index:
    """A new index keeping, for each of ``platforms``, the child :func:`select` picks.

    See :func:`platform_children`.  The new index's bytes, and so its digest,
    differ from the original's.
    """
    if not platforms:
        raise InvalidArgument("filter_index needs at least one platform")
    kept = platform_children(index, platforms)
    if not kept:
        available = ", ".join(str(c.platform) for c in index.manifests if c.platform) or "none"
        raise PlatformNotFound(f"no child matches {', '.join(map(str, platforms))} (have: {available})")
    return Index.build(
        kept,
        media_type=index.media_type,
        subject=index.subject,
        artifact_type=index.artifact_type,
        annotations=dict(index.annotations) or None,
    )
