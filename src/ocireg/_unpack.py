"""A layer's uncompressed bytes, its uncompressed digest computed as they pass.

The compression is read from the first bytes (gzip, zstd or none), not from the
media type, which registries and tools get wrong.  Decompression is bounded by
what is asked for at once (``max_length``), so a small layer that inflates to a
huge one never sits whole in memory.  ``diff_id`` is the sha256 of the
uncompressed bytes: what an image config's ``rootfs.diff_ids`` lists.

One decoder (:class:`_Decoder`, compressed bytes pushed in, bounded pieces out)
serves two readers: :class:`LayerStream`, a file to read (``tarfile`` pulls from
it), and :class:`DiffIdSink`, a sink a blob streams into (validation, which only
needs the digest).
"""

from __future__ import annotations

import importlib
import io
import zlib
from collections.abc import Iterable, Iterator
from typing import Any

from ._digest import Digest
from ._errors import InvalidArgument, InvalidResponse

__all__ = ["DiffIdSink", "LayerStream"]

_GZIP = b"\x1f\x8b"
_ZSTD = b"\x28\xb5\x2f\xfd"


def _zstd_decompressor() -> Any:
    try:
        module = importlib.import_module("compression.zstd")  # Python 3.14+
    except ImportError:
        raise InvalidArgument("a zstd-compressed layer needs Python 3.14 (compression.zstd)") from None
    return module.ZstdDecompressor()


_SNIFF = 4
"""Bytes needed to tell the compression (the zstd magic is the longest)."""
_PIECE = 1 << 20


def _sha256() -> Any:
    return Digest("sha256", "0" * 64).hasher()


class _Decoder:
    """Compressed bytes in (:meth:`feed`), uncompressed out in pieces of at most ``want``."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.kind: str | None = None
        self._decoder: Any = None
        self._input = b""  # compressed bytes not yet given to the decoder

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        self._input += bytes(data)

    @property
    def can_start(self) -> bool:
        return len(self._input) >= _SNIFF

    def start(self) -> None:
        """Tell the compression from the bytes fed so far (all of them, if fewer than 4)."""
        if self._input.startswith(_GZIP):
            self.kind, self._decoder = "gzip", zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif self._input.startswith(_ZSTD):
            self.kind, self._decoder = "zstd", _zstd_decompressor()
        else:
            self.kind = "tar"

    def decode(self, want: int) -> bytes:
        """Up to ``want`` uncompressed bytes; empty when the input fed so far is used up."""
        if self.kind == "tar":
            piece, self._input = self._input[:want], self._input[want:]
            return piece
        decoder = self._decoder
        try:
            if self.kind == "zstd":
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
            raise InvalidResponse(f"{self.what}: cannot decompress ({self.kind}): {exc}") from None

    def check_end(self) -> None:
        """No more input: the decoder must have reached the end of its stream."""
        if self.kind in ("gzip", "zstd") and not self._decoder.eof:
            raise InvalidResponse(f"{self.what}: {self.kind} stream ends early")


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
        self._decoder = _Decoder(what)
        self._hasher = _sha256()
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
                self._decoder.feed(chunk)
                return True
        return False

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if not len(view):
            return 0
        decoder = self._decoder
        if decoder.kind is None:
            while not decoder.can_start and self._more_input():
                pass
            decoder.start()
        while True:
            data = decoder.decode(len(view))
            if data:
                view[: len(data)] = data
                self._hasher.update(data)
                self.size += len(data)
                return len(data)
            if not self._more_input():
                decoder.check_end()
                return 0

    @property
    def compression(self) -> str:
        """``gzip``, ``zstd`` or ``tar`` (none), once reading has started."""
        return self._decoder.kind or "unknown"

    def finish(self) -> Digest:
        """Read whatever is left; the sha256 of every uncompressed byte."""
        scratch = bytearray(_PIECE)
        while self.readinto(scratch):
            pass
        for _ in self._chunks:  # the compressed stream's own end: its verification
            pass
        return Digest("sha256", self._hasher.hexdigest())


class DiffIdSink:
    """A sink (see :class:`ocireg._flow.Sink`) that keeps nothing and commits to the
    layer's uncompressed digest: a layer checked against ``rootfs.diff_ids`` without
    storing it.  Each chunk is decompressed as it arrives, 1 MiB of output at a time."""

    def __init__(self, what: str = "layer") -> None:
        self.what = what
        self._decoder = _Decoder(what)
        self._hasher = _sha256()
        self.size = 0
        """Uncompressed bytes seen so far."""

    def open(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Start over (a download begun again from its first byte)."""
        self._decoder = _Decoder(self.what)
        self._hasher = _sha256()
        self.size = 0

    def write(self, chunk: bytes | bytearray | memoryview, /) -> None:
        decoder = self._decoder
        decoder.feed(chunk)
        if decoder.kind is None:
            if not decoder.can_start:
                return
            decoder.start()
        self._drain()

    def _drain(self) -> None:
        while data := self._decoder.decode(_PIECE):
            self._hasher.update(data)
            self.size += len(data)

    def commit(self) -> Digest:
        decoder = self._decoder
        if decoder.kind is None:  # a blob shorter than the magic numbers
            decoder.start()
        self._drain()
        decoder.check_end()
        return Digest("sha256", self._hasher.hexdigest())

    def abort(self) -> None:
        self._decoder = _Decoder(self.what)
