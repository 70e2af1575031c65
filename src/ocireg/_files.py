"""Local files as sinks: a failed or corrupt download leaves nothing behind.

Bytes go to a temporary file beside the destination (``.NAME.<random>.part``),
reach the disk (fsync), and only then take the destination's name (``os.replace``,
atomic on POSIX).  Any failure removes the temporary file.  Files are created with
the mode the umask allows (``0o666 & ~umask``), as ``open()`` and curl create
them, not the ``0o600`` of :func:`tempfile.mkstemp`.

:class:`AtomicFile`, :class:`MemorySink` and :class:`FileObjectSink` are the sinks
the drivers stream blobs into (see :class:`ocireg._flow.StreamBody`): building one
does no I/O; the driver opens, writes, commits or aborts it.
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
from ._errors import InvalidArgument

__all__ = [
    "PART_SUFFIX",
    "AtomicFile",
    "FileObjectSink",
    "MemorySink",
    "atomic_output",
    "atomic_write",
    "file_digest",
]

_READ_SIZE = 1 << 20
PART_SUFFIX = ".part"


def _umask() -> int:
    """The process umask.  Linux shows it in /proc; elsewhere os.umask can only read it
    by setting it, which races with other threads creating files, so that is the fallback."""
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


class AtomicFile:
    """A sink that becomes ``path`` on :meth:`commit`, and nothing on :meth:`abort`.

    ``durable`` fsyncs before the rename, so the name never points at bytes that a
    crash could still lose.  ``mode`` overrides the umask's (``0o600`` for secrets).
    """

    def __init__(self, path: str | os.PathLike[str], *, durable: bool = True, mode: int | None = None) -> None:
        self.path = Path(path)
        self.durable = durable
        self.mode = mode
        self._fd: int | None = None
        self._tmp: str | None = None

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=PART_SUFFIX, dir=self.path.parent)
        self._fd, self._tmp = fd, tmp
        os.fchmod(fd, self.mode if self.mode is not None else 0o666 & ~_umask())

    def write(self, chunk: bytes | bytearray | memoryview, /) -> None:
        assert self._fd is not None, "open() first"
        view = memoryview(chunk).cast("B")
        while view:
            written = os.write(self._fd, view)
            view = view[written:]

    def reset(self, keep: int = 0) -> None:
        """Drop what was written after the first ``keep`` bytes (all of it by default)."""
        assert self._fd is not None, "open() first"
        os.ftruncate(self._fd, keep)
        os.lseek(self._fd, keep, os.SEEK_SET)

    def commit(self) -> Path:
        assert self._fd is not None and self._tmp is not None, "open() first"
        try:
            if self.durable:
                os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None
            os.replace(self._tmp, self.path)
            self._tmp = None
        except BaseException:
            self.abort()
            raise
        return self.path

    def abort(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
        if self._tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._tmp)
            self._tmp = None


class MemorySink:
    """A sink collecting at most ``limit`` bytes in memory (a config, a small blob)."""

    def __init__(self, limit: int, what: str = "blob") -> None:
        self.limit = limit
        self.what = what
        self._data = bytearray()
        self.value: bytes | None = None

    def open(self) -> None:
        self._data = bytearray()

    def write(self, chunk: bytes | bytearray | memoryview, /) -> None:
        if len(self._data) + len(chunk) > self.limit:
            raise InvalidArgument(
                f"{self.what} is larger than {self.limit} bytes: give a path or use iter_blob"
            )
        self._data += chunk

    def reset(self) -> None:
        self._data = bytearray()

    def commit(self) -> bytes:
        self.value = bytes(self._data)
        self._data = bytearray()
        return self.value

    def abort(self) -> None:
        self._data = bytearray()


class FileObjectSink:
    """A sink writing into a binary file object the caller owns (it cannot be rolled back;
    it can start over only if the file is seekable)."""

    def __init__(self, file: BinaryIO) -> None:
        self.file = file
        self._start: int | None = None

    def open(self) -> None:
        try:
            self._start = self.file.tell() if self.file.seekable() else None
        except (OSError, ValueError):
            self._start = None

    def reset(self) -> None:
        if self._start is None:
            raise InvalidArgument("the output cannot be rewound to start the download over")
        self.file.seek(self._start)
        self.file.truncate()

    def write(self, chunk: bytes | bytearray | memoryview, /) -> None:
        self.file.write(chunk)

    def commit(self) -> BinaryIO:
        self.file.flush()
        return self.file

    def abort(self) -> None:
        pass


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str], *, mode: int | None = None) -> Iterator[AtomicFile]:
    """An :class:`AtomicFile` to ``write`` to: it takes ``path``'s name only when the block
    ends without error, and leaves nothing when it raises (a tar being streamed out)."""
    sink = AtomicFile(path, mode=mode)
    sink.open()
    try:
        yield sink
    except BaseException:
        sink.abort()
        raise
    sink.commit()


def atomic_write(
    path: str | os.PathLike[str],
    chunks: Iterable[bytes | bytearray | memoryview],
    *,
    digest: Digest | None = None,
    size: int | None = None,
    mode: int | None = None,
) -> Path:
    """Write ``chunks`` to ``path`` atomically, verifying ``digest``/``size`` when given."""
    verifier = DigestVerifier(digest, size) if digest is not None else None
    with atomic_output(path, mode=mode) as out:
        for chunk in chunks:
            if verifier is not None:
                verifier.update(chunk)
            out.write(chunk)
        if verifier is not None:
            verifier.finish()
    return out.path


def file_digest(path: str | os.PathLike[str], algorithm: str = "sha256") -> Digest:
    """The digest of a file's bytes, read in 1 MiB blocks."""
    hasher = hashlib.new(algorithm)
    with Path(path).open("rb") as f:
        while block := f.read(_READ_SIZE):
            hasher.update(block)
    return Digest(algorithm, hasher.hexdigest())
