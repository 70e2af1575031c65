"""A blob's bytes that lie in a file: read in chunks, or sent from the file itself.

A push reads a layout's blob (or a file given to ``push_blob``) as a *region* of a
file: ``length`` bytes from ``offset``.  Iterating a :class:`FileRegion` reads it in
1 MiB blocks, the chunks every transport can send.  A driver that hands the body to
a transport able to send from a file (``socket.sendfile``: no copy of the bytes in
user space) uses :meth:`FileRegion.open` instead; what the region checks while it is
read (its length, its digest when it is the whole file) the driver then checks beside
the send (see :mod:`ocireg._driver`), with the same verdicts.

The source that makes the region decides what a fault is called: a layout says
:class:`~ocireg.InvalidLayout` naming the file, a file given by path a
:class:`~ocireg.UsageError`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import BinaryIO

from ._digest import Digest

__all__ = ["READ_SIZE", "FileRegion"]

READ_SIZE = 1 << 20
"""One read per chunk: what the driver and the transports move at once."""


class FileRegion:
    """``length`` bytes from ``offset`` of the file ``opener`` opens (``length`` None: to its end).

    ``opener()`` returns the file, open for reading in binary mode, and its size; it
    raises the source's own error when the file cannot be had.  ``short(size)`` is the
    error for a file too short for the region (checked before the first byte; None:
    found as it is read), ``shrank()`` for one that ends early while read.  With
    ``digest`` (and ``mismatch()``), a region that is the whole file is verified as it
    is read, and a mismatch raised before the last chunk is handed over.
    """

    def __init__(
        self,
        opener: Callable[[], tuple[BinaryIO, int]],
        offset: int = 0,
        length: int | None = None,
        *,
        shrank: Callable[[], Exception],
        short: Callable[[int], Exception] | None = None,
        digest: Digest | None = None,
        mismatch: Callable[[], Exception] | None = None,
    ) -> None:
        self._opener = opener
        self.offset = offset
        self.length = length
        self.shrank = shrank
        self._short = short
        self.digest = digest
        self._mismatch = mismatch

    def open(self) -> tuple[BinaryIO, int, bool]:
        """The open file, the region's length, and whether the region is the whole file."""
        file, size = self._opener()
        end = size if self.length is None else self.offset + self.length
        if self._short is not None and end > size:
            file.close()
            raise self._short(size)
        return file, end - self.offset, self.offset == 0 and end == size

    def mismatch(self, digest: Digest, whole_file: bool) -> Exception | None:
        """The source's error for content that does not match ``digest``, when the region
        checks that digest itself (it is the whole file); None: the driver's own check."""
        if self._mismatch is None or self.digest != digest or not whole_file:
            return None
        return self._mismatch()

    def __iter__(self) -> Iterator[bytes]:
        file, length, whole_file = self.open()
        with file:
            digest = self.digest
            hasher = digest.hasher() if digest is not None and self._mismatch is not None and whole_file else None
            file.seek(self.offset)
            remaining = length
            if hasher is not None and remaining == 0 and hasher.hexdigest() != self._encoded():
                raise self._mismatched()
            while remaining > 0:
                block = file.read(min(READ_SIZE, remaining))
                if not block:
                    raise self.shrank()
                remaining -= len(block)
                if hasher is not None:
                    hasher.update(block)
                    if remaining == 0 and hasher.hexdigest() != self._encoded():
                        raise self._mismatched()
                yield block

    def _encoded(self) -> str:
        assert self.digest is not None
        return self.digest.encoded

    def _mismatched(self) -> Exception:
        assert self._mismatch is not None
        return self._mismatch()
