"""What the image operations return: plain frozen values, the same from every driver."""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from ._digest import Digest
from ._http import Headers
from ._manifest import Descriptor

__all__ = ["CopyResult", "Listing", "PullResult", "RawResponse", "last_of"]


@dataclass(frozen=True)
class Listing:
    """A tag or repository list: ``items``, the ``last`` item to continue from, digests if asked."""

    name: str | None
    items: tuple[str, ...]
    last: str | None = None
    digests: dict[str, Digest] = field(default_factory=dict)

    @property
    def tags(self) -> tuple[str, ...]:
        return self.items

    @property
    def repositories(self) -> tuple[str, ...]:
        return self.items


@dataclass(frozen=True)
class RawResponse:
    """The answer of :meth:`Registry.request`: status, headers and the (capped) body."""

    status: int
    headers: Headers
    body: bytes = field(repr=False)


@dataclass(frozen=True)
class PullResult:
    """What :meth:`Registry.pull` put in the layout."""

    layout: Path
    descriptor: Descriptor
    blobs_fetched: int
    blobs_reused: int


@dataclass(frozen=True)
class CopyResult:
    """What :meth:`Registry.copy` put at the destination."""

    descriptor: Descriptor
    digest_changed: bool
    """True when a platform filter made a new index, whose digest differs from the source's."""
    referrers: tuple[Descriptor, ...] = ()
    platform_child: bool = False
    """True when one platform was asked of an index: that child manifest was copied, as it is."""


def last_of(next_url: str | None) -> str | None:
    """The ``last`` parameter of a page's next link, as the gem's ``last(header)`` returns."""
    if not next_url:
        return None
    values = urllib.parse.parse_qs(urllib.parse.urlsplit(next_url).query).get("last")
    return values[0] if values else None
