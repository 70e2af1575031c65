"""Progress reporting for the command line: per blob, and overall bytes and rate.

Bars are drawn by ``tqdm`` when it is installed (the ``cli`` extra); it is
imported lazily, only when a bar is about to be drawn, so the core and the
command line keep working with the standard library alone.  Without it a plain
line per finished blob and a closing total are written instead.

Progress is reported only to a terminal and never with ``--quiet``: piped or
redirected stderr carries nothing but errors (see :func:`open_progress`).

Reporting wraps the chunk iterators the driver already consumes, so it costs no
extra request and never holds a chunk: each one is passed on as it comes.
"""

from __future__ import annotations

import importlib
import os
import threading
import time
from collections.abc import Generator, Iterable
from typing import IO, Any, Protocol, TypeVar

__all__ = ["NullProgress", "PlainProgress", "Progress", "TqdmProgress", "open_progress", "size_text"]

Chunk = TypeVar("Chunk", bound=bytes | bytearray | memoryview)

_DIGEST_SHOWN = 19
"""``sha256:`` and the first 12 hex digits: as docker and crane print digests."""


def _label(key: str) -> str:
    return key[:_DIGEST_SHOWN]


def size_text(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


class Progress(Protocol):
    """Where byte counts go while blobs move; every method is cheap when disabled."""

    def start(self, key: str, total: int | None, done: int) -> None:
        """Blob ``key`` (its digest) of ``total`` bytes is moving, ``done`` of them already."""

    def advance(self, key: str, n: int) -> None:
        """``n`` more bytes of ``key`` moved."""

    def finish(self, key: str) -> None:
        """No more bytes of ``key`` will move in this piece (it may continue in a next one)."""

    def close(self) -> None:
        """The operation is over: draw the totals, release the terminal."""


def track(
    progress: Progress, key: str, total: int | None, chunks: Iterable[Chunk], done: int = 0
) -> Generator[Chunk, None, None]:
    """``chunks`` passed on unchanged, their sizes reported to ``progress`` under ``key``.

    Closing the returned generator closes ``chunks`` too (an abandoned blob download
    must release its connection); ``done`` is the offset a chunked upload resumes at.
    """
    progress.start(key, total, done)
    try:
        for chunk in chunks:
            progress.advance(key, len(chunk))
            yield chunk
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
        progress.finish(key)


class NullProgress:
    """Reports nothing: stderr is not a terminal, or ``--quiet``."""

    def start(self, key: str, total: int | None, done: int) -> None:
        pass

    def advance(self, key: str, n: int) -> None:
        pass

    def finish(self, key: str) -> None:
        pass

    def close(self) -> None:
        pass


class _Counts:
    """Per-blob byte counts shared by both renderers (a chunked upload spans pieces)."""

    def __init__(self) -> None:
        self.done: dict[str, int] = {}
        self.total: dict[str, int | None] = {}
        self.bytes = 0
        self.blobs = 0

    def start(self, key: str, total: int | None, done: int) -> bool:
        """Record the piece; True when it is the blob's first."""
        first = key not in self.done
        if first:
            self.done[key] = done
            self.total[key] = total
        return first

    def advance(self, key: str, n: int) -> None:
        self.done[key] = self.done.get(key, 0) + n
        self.bytes += n

    def complete(self, key: str) -> bool:
        """Whether ``key`` has moved all its bytes (unknown size: the piece ended)."""
        total = self.total.get(key)
        return total is None or self.done.get(key, 0) >= total


class PlainProgress:
    """One line per finished blob, then the total: for terminals without ``tqdm``.

    Reads the monotonic clock for the rate: this is the command line, not the core.
    """

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._counts = _Counts()
        self._began = time.monotonic()
        self._reported: set[str] = set()
        self._lock = threading.Lock()  # transfers in flight at once report from threads

    def start(self, key: str, total: int | None, done: int) -> None:
        with self._lock:
            self._counts.start(key, total, done)

    def advance(self, key: str, n: int) -> None:
        with self._lock:
            self._counts.advance(key, n)

    def finish(self, key: str) -> None:
        with self._lock:
            if key in self._reported or not self._counts.complete(key):
                return
            self._reported.add(key)
            self._counts.blobs += 1
            self._stream.write(f"{_label(key)}: {size_text(self._counts.done.get(key, 0))} done\n")
            self._stream.flush()

    def close(self) -> None:
        if not self._counts.blobs:
            return
        elapsed = max(time.monotonic() - self._began, 1e-6)
        self._stream.write(
            f"{self._counts.blobs} blob(s), {size_text(self._counts.bytes)} in {elapsed:.1f} s "
            f"({size_text(self._counts.bytes / elapsed)}/s)\n"
        )
        self._stream.flush()


class TqdmProgress:
    """A bar per blob in flight (cleared when it completes) below an overall bytes-and-rate bar.

    Transfers run at once (``jobs``): each bar takes the lowest free line, and
    calls from worker threads are serialised.
    """

    def __init__(self, tqdm: Any, stream: IO[str]) -> None:
        self._tqdm = tqdm
        self._stream = stream
        self._counts = _Counts()
        self._bars: dict[str, Any] = {}
        self._lines: dict[str, int] = {}
        self._overall: Any = None
        self._columns, self._rows = _terminal_size(stream)
        self._lock = threading.Lock()

    def _bar(self, **options: Any) -> Any:
        return self._tqdm(file=self._stream, unit="B", unit_scale=True, unit_divisor=1024,
                          ncols=self._columns, nrows=self._rows, **options)

    def start(self, key: str, total: int | None, done: int) -> None:
        with self._lock:
            if self._overall is None:
                self._overall = self._bar(desc="total", position=0, leave=True)
            self._counts.start(key, total, done)
            if key not in self._bars:
                used = set(self._lines.values())
                line = next(n for n in range(1, len(used) + 2) if n not in used)
                self._lines[key] = line
                self._bars[key] = self._bar(desc=_label(key), total=self._counts.total.get(key),
                                            initial=self._counts.done.get(key, 0), position=line, leave=False)

    def advance(self, key: str, n: int) -> None:
        with self._lock:
            self._counts.advance(key, n)
            self._bars[key].update(n)
            self._overall.update(n)

    def finish(self, key: str) -> None:
        with self._lock:
            bar = self._bars.get(key)
            if bar is not None and self._counts.complete(key):
                self._counts.blobs += 1
                bar.close()
                del self._bars[key]
                del self._lines[key]
                self._overall.set_postfix_str(f"{self._counts.blobs} blob(s)")

    def close(self) -> None:
        with self._lock:
            for bar in self._bars.values():
                bar.close()
            self._bars.clear()
            self._lines.clear()
            if self._overall is not None:
                self._overall.close()
                self._overall = None


def open_progress(stream: IO[str], *, quiet: bool) -> Progress:
    """Bars on a terminal ``stream`` unless ``quiet``; tqdm if importable, else plain lines."""
    if quiet or not _is_terminal(stream):
        return NullProgress()
    try:
        tqdm_module = importlib.import_module("tqdm")
    except ImportError:
        return PlainProgress(stream)
    return TqdmProgress(tqdm_module.tqdm, stream)


def _terminal_size(stream: IO[str]) -> tuple[int, int]:
    """Columns and rows; 80 x 24 where the terminal reports 0 (a fresh pseudo-terminal
    does, and tqdm then draws nothing at all)."""
    try:
        size = os.get_terminal_size(stream.fileno())
    except (AttributeError, ValueError, OSError):
        return 80, 24
    return size.columns or 80, size.lines or 24


def _is_terminal(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or stand-in stream
        return False
