"""Atomic, verified file writes: a failed or corrupt download leaves nothing behind.

Bytes go to a temporary file beside the destination, are checked against their
digest while they stream, reach the disk (fsync), and only then take the
destination's name (``os.replace``, atomic on POSIX).  Any failure removes the
temporary file.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from ._digest import Digest, DigestVerifier

__all__ = ["atomic_output", "atomic_write", "file_digest", "file_matches"]

_READ_SIZE = 1 << 20


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """A file to write that takes ``path``'s name only when the block ends without error."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write(
    path: str | os.PathLike[str],
    chunks: Iterable[bytes | bytearray | memoryview],
    *,
    digest: Digest | None = None,
    size: int | None = None,
) -> Path:
    """Write ``chunks`` to ``path`` atomically, verifying ``digest``/``size`` when given."""
    verifier = DigestVerifier(digest, size) if digest is not None else None
    with atomic_output(path) as out:
        for chunk in chunks:
            if verifier is not None:
                verifier.update(chunk)
            out.write(chunk)
        if verifier is not None:
            verifier.finish()
    return Path(path)


def file_matches(path: str | os.PathLike[str], digest: Digest, size: int | None = None) -> bool:
    """True when ``path`` is a regular file holding exactly the bytes of ``digest``.

    Used to skip blobs already present: a partial or corrupt file is never trusted.
    """
    target = Path(path)
    try:
        if not target.is_file() or target.is_symlink():
            return False
        if size is not None and target.stat().st_size != size:
            return False
        hasher = digest.hasher()
        with target.open("rb") as f:
            while block := f.read(_READ_SIZE):
                hasher.update(block)
    except OSError:
        return False
    return bool(hasher.hexdigest() == digest.encoded)


def file_digest(path: str | os.PathLike[str], algorithm: str = "sha256") -> Digest:
    """The digest of a file's bytes, read in 1 MiB blocks."""
    hasher = hashlib.new(algorithm)
    with Path(path).open("rb") as f:
        while block := f.read(_READ_SIZE):
            hasher.update(block)
    return Digest(algorithm, hasher.hexdigest())
