"""A layer's uncompressed bytes as a stream, its uncompressed digest computed as they pass.

The compression is read from the first bytes (gzip, zstd or none), not from the
media type, which registries and tools get wrong.  Decompression is bounded by
what the reader asks for (``max_length``), so a small layer that inflates to a
huge one never sits whole in memory.  ``diff_id`` is the sha256 of the
uncompressed bytes: what an image config's ``rootfs.diff_ids`` lists.
"""

from __future__ import annotations

import importlib
import io
import zlib
from collections.abc import Iterable, Iterator
from typing import Any

from ._digest import Digest
from ._errors import InvalidArgument, InvalidResponse

__all__ = ["LayerStream"]

_GZIP = b"\x1f\x8b"
_ZSTD = b"\x28\xb5\x2f\xfd"


def _zstd_decompressor() -> Any:
    try:
        module = importlib.import_module("compression.zstd")  # Python 3.14+
    except ImportError:
        raise InvalidArgument("a zstd-compressed layer needs Python 3.14 (compression.zstd)") from None
    return module.ZstdDecompressor()


class LayerStream(io.RawIOBase):
    """Readable uncompressed bytes of a layer whose compressed ``chunks`` are given.

    ``chunks`` should verify the compressed digest themselves (``iter_blob`` does);
    :meth:`finish` reads to the very end, so that verification completes, and
    returns the uncompressed digest.
    """

    def __init__(self, chunks: Iterable[bytes | bytearray | memoryview], what: str = "layer") -> None:
        super().__init__()
        self._source = chunks
        self._chunks: Iterator[bytes | bytearray | memoryview] = iter(chunks)
        self._what = what
        self._kind: str | None = None
        self._decoder: Any = None
        self._input = b""  # compressed bytes not yet given to the decoder
        self._hasher = Digest("sha256", "0" * 64).hasher()
        self.size = 0
        """Uncompressed bytes read so far."""

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        """Release the compressed source too (an abandoned download frees its connection)."""
        for source in (self._chunks, self._source):
            release = getattr(source, "close", None)
            if release is not None:
                release()
        super().close()

    def _more_input(self) -> bool:
        for chunk in self._chunks:
            if chunk:
                self._input += bytes(chunk)
                return True
        return False

    def _start(self) -> None:
        while len(self._input) < 4 and self._more_input():
            pass
        if self._input.startswith(_GZIP):
            self._kind, self._decoder = "gzip", zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif self._input.startswith(_ZSTD):
            self._kind, self._decoder = "zstd", _zstd_decompressor()
        else:
            self._kind = "tar"

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if not len(view):
            return 0
        if self._kind is None:
            self._start()
        while True:
            data = self._decode(len(view))
            if data:
                view[: len(data)] = data
                self._hasher.update(data)
                self.size += len(data)
                return len(data)
            if not self._more_input():
                self._check_end()
                return 0

    def _check_end(self) -> None:
        """No more input: the decoder must have reached the end of its stream."""
        if self._kind in ("gzip", "zstd") and not self._decoder.eof:
            raise InvalidResponse(f"{self._what}: {self._kind} stream ends early")

    def _decode(self, want: int) -> bytes:
        if self._kind == "tar":
            piece, self._input = self._input[:want], self._input[want:]
            return piece
        decoder = self._decoder
        try:
            if self._kind == "zstd":
                # Output beyond max_length stays buffered in the decoder.
                if not self._input and decoder.needs_input:
                    return b""
                out: bytes = decoder.decompress(self._input, want)
                self._input = b""
                return out
            if not self._input:
                return b""
            if decoder.eof:  # another gzip member follows (concatenated gzip is still gzip)
                self._decoder = decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
            data: bytes = decoder.decompress(self._input, want)
            # At a member's end the bytes after it are unused_data (unconsumed_tail then
            # repeats them); before it, what the output limit left is unconsumed_tail.
            self._input = decoder.unused_data if decoder.eof else decoder.unconsumed_tail
            return data
        except (zlib.error, ValueError, EOFError) as exc:
            raise InvalidResponse(f"{self._what}: cannot decompress ({self._kind}): {exc}") from None

    @property
    def compression(self) -> str:
        """``gzip``, ``zstd`` or ``tar`` (none), once reading has started."""
        return self._kind or "unknown"

    def finish(self) -> Digest:
        """Read whatever is left; the sha256 of every uncompressed byte."""
        scratch = bytearray(1 << 20)
        while self.readinto(scratch):
            pass
        for _ in self._chunks:  # the compressed stream's own end: its verification
            pass
        return Digest("sha256", self._hasher.hexdigest())
