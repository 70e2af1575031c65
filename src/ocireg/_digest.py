"""Content digests and their verification while bytes stream past.

A digest names a blob or manifest by the hash of its exact bytes.  Digests arrive
from the network (manifests, headers, ``Location`` URLs) and end up in URLs and
file paths (``blobs/sha256/<hex>``), so only the two algorithms registries use are
accepted, each with its exact lower-case hex length: anything that passes
:class:`Digest` validation is safe as a path component.

Everything fetched by digest is checked with :class:`DigestVerifier`, which also
enforces the expected size so a server that keeps sending cannot make us read
forever.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from ._errors import DigestMismatch, InvalidArgument, InvalidDigest

if TYPE_CHECKING:
    from hashlib import _Hash

__all__ = [
    "ALGORITHMS",
    "Digest",
    "DigestVerifier",
    "verified_chunks",
    "verify_bytes",
]

ALGORITHMS: dict[str, int] = {"sha256": 64, "sha512": 128}
"""Supported algorithms and the exact length of their hex encoding."""

_HEX = frozenset("0123456789abcdef")

Chunk = TypeVar("Chunk", bound=bytes | bytearray | memoryview)


@dataclass(frozen=True)
class Digest:
    """``algorithm:encoded``, e.g. ``sha256:e3b0c442...``; validated when built."""

    algorithm: str
    encoded: str

    def __post_init__(self) -> None:
        if not isinstance(self.algorithm, str) or not isinstance(self.encoded, str):
            raise InvalidDigest("digest algorithm and encoded part must be strings")
        length = ALGORITHMS.get(self.algorithm)
        if length is None:
            raise InvalidDigest(
                f"unsupported digest algorithm {self.algorithm[:32]!r} "
                f"(expected one of {', '.join(ALGORITHMS)})"
            )
        # Upper-case hex is refused rather than folded: the digest is compared and
        # used as a file name byte for byte, and the OCI grammar says lower case.
        if len(self.encoded) != length or not _HEX.issuperset(self.encoded):
            raise InvalidDigest(
                f"{self.algorithm} digest must be {length} lower-case hex characters, "
                f"got {self.encoded[:140]!r}"
            )

    @classmethod
    def parse(cls, text: str) -> Digest:
        """Parse ``algorithm:encoded``; raises :class:`InvalidDigest`."""
        if not isinstance(text, str):
            raise InvalidDigest(f"digest must be a string, got {type(text).__name__}")
        algorithm, sep, encoded = text.partition(":")
        if not sep:
            raise InvalidDigest(f"digest {text[:200]!r} has no ':' separator")
        return cls(algorithm, encoded)

    @classmethod
    def of(cls, data: bytes | bytearray | memoryview, algorithm: str = "sha256") -> Digest:
        """The digest of ``data``."""
        if algorithm not in ALGORITHMS:
            raise InvalidDigest(f"unsupported digest algorithm {algorithm[:32]!r}")
        return cls(algorithm, hashlib.new(algorithm, data).hexdigest())

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.encoded}"

    @property
    def tag_form(self) -> str:
        """``sha256-<hex>``: the tag the referrers tag schema uses for this digest."""
        return f"{self.algorithm}-{self.encoded}"

    def hasher(self) -> _Hash:
        """A fresh hashlib object for this digest's algorithm."""
        return hashlib.new(self.algorithm)


def _nbytes(chunk: bytes | bytearray | memoryview) -> int:
    # len() of a memoryview counts items, not bytes, when its format is not "B".
    return chunk.nbytes if isinstance(chunk, memoryview) else len(chunk)


class DigestVerifier:
    """Checks a stream of chunks against an expected digest and, optionally, size.

    ``update`` raises :class:`DigestMismatch` as soon as more than ``size`` bytes
    have arrived; ``finish`` raises it if the total is short or the hash differs.
    The verdict depends only on the concatenated bytes, never on how they were cut.
    """

    def __init__(self, expected: Digest, size: int | None = None) -> None:
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
            raise InvalidArgument(f"size must be a non-negative integer, got {size!r}")
        self.expected = expected
        self.size = size
        self.bytes_seen = 0
        self._hash = expected.hasher()

    def update(self, chunk: bytes | bytearray | memoryview) -> None:
        n = _nbytes(chunk)
        self.bytes_seen += n
        if self.size is not None and self.bytes_seen > self.size:
            # Stop before hashing: the content is wrong whatever comes next.
            raise DigestMismatch(
                f"{self.expected}: received more than the expected {self.size} bytes",
                expected=str(self.expected),
            )
        if n:
            self._hash.update(chunk)

    def actual(self) -> Digest:
        """The digest of the bytes seen so far."""
        return Digest(self.expected.algorithm, self._hash.hexdigest())

    def finish(self) -> None:
        actual = self.actual()
        if self.size is not None and self.bytes_seen != self.size:
            raise DigestMismatch(
                f"{self.expected}: received {self.bytes_seen} bytes, expected {self.size}",
                expected=str(self.expected),
                actual=str(actual),
            )
        if actual != self.expected:
            raise DigestMismatch(
                f"content digest is {actual}, expected {self.expected}",
                expected=str(self.expected),
                actual=str(actual),
            )


def verify_bytes(
    data: bytes | bytearray | memoryview, expected: Digest, size: int | None = None
) -> None:
    """Raise :class:`DigestMismatch` unless ``data`` has digest ``expected`` (and ``size``)."""
    verifier = DigestVerifier(expected, size)
    verifier.update(data)
    verifier.finish()


def verified_chunks(
    chunks: Iterable[Chunk], expected: Digest, size: int | None = None
) -> Iterator[Chunk]:
    """Pass ``chunks`` through, raising :class:`DigestMismatch` after the last if wrong.

    Each chunk is checked before it is passed on, so an oversize stream stops at
    the chunk that overflows.  Used to stream a blob from one registry into an
    upload to another: the upload fails instead of completing with bad content.
    """
    verifier = DigestVerifier(expected, size)
    for chunk in chunks:
        verifier.update(chunk)
        yield chunk
    verifier.finish()
