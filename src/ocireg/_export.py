"""An image's layers flattened into one filesystem tar, streamed: ``crane export``.

Layers are read from the top one down, each once, and an entry is written the
first time its path is seen, so what an upper layer put there wins and nothing
is held but the set of paths written.  The OCI layer rules apply:

* ``.wh.NAME`` (a whiteout) hides ``NAME`` and everything under it in the layers
  below; ``.wh..wh..opq`` (an opaque directory) hides everything the layers below
  put in its directory.  Neither applies to its own layer, and neither is written;
* a file, link or symlink hides whatever the layers below have under its path;
  a directory does not (the layers merge below it).

Paths are normalised (``./a//b`` is ``a/b``).  An entry is refused, with the
layer and the path named, when it would escape the root: an absolute or
``..`` path, a hard link whose target does, or a path that passes through a
symbolic link written before it.  Memory is the set of paths; an image with
more than :data:`MAX_ENTRIES` entries is refused.
"""

from __future__ import annotations

import posixpath
import tarfile
from collections.abc import Callable, Iterable, Sequence
from typing import IO, Protocol, cast

from . import _image as ops
from ._digest import Digest
from ._errors import InvalidArgument, InvalidResponse, UsageError
from ._flow import Flow
from ._inspect import ImageConfig, image_config
from ._manifest import Descriptor, Index, Manifest, Platform
from ._session import Session
from ._unpack import LayerStream

__all__ = ["MAX_ENTRIES", "UnsafeLayer", "export_layers", "image_to_export"]

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
MAX_ENTRIES = 4_000_000
MAX_PATH = 4096

Chunks = Iterable[bytes | bytearray | memoryview]


class Writable(Protocol):
    """Where the tar goes: a binary file, or an :class:`~ocireg._files.AtomicFile`."""

    def write(self, data: bytes, /) -> object: ...


class UnsafeLayer(InvalidResponse):
    """A layer holds an entry that would land outside the root filesystem."""


def _clean(name: str, what: str) -> str:
    """``name`` as a path relative to the root, or :class:`UnsafeLayer`."""
    if len(name) > MAX_PATH:
        raise UnsafeLayer(f"{what}: a path longer than {MAX_PATH} characters")
    if name.startswith("/"):
        raise UnsafeLayer(f"{what}: absolute path {name[:200]!r}")
    path = posixpath.normpath(name)
    if path == ".." or path.startswith("../"):
        raise UnsafeLayer(f"{what}: path {name[:200]!r} escapes the root")
    return path


def _parents(path: str) -> Iterable[str]:
    """``a/b/c`` -> ``a``, ``a/b``."""
    parts = path.split("/")
    for i in range(1, len(parts)):
        yield "/".join(parts[:i])


class _Flattener:
    """What has been written so far, and what the layers above hide."""

    def __init__(self, out: tarfile.TarFile, max_entries: int) -> None:
        self.out = out
        self.max_entries = max_entries
        self.seen: dict[str, bool] = {}
        """Paths written or hidden; True when nothing below may appear under them."""
        self.opaque: set[str] = set()
        self.symlinks: set[str] = set()
        self.implicit: set[str] = set()
        """Directories in ``seen`` only as parents of entries written, not written themselves."""

    def hidden(self, path: str, is_dir: bool) -> bool:
        """Whether the layers above hide ``path`` (an entry of a lower layer)."""
        # A directory only implied by an upper layer's entries: a lower layer's
        # directory entry gives it its metadata; anything else there was replaced.
        if path in self.seen and not (is_dir and path in self.implicit):
            return True
        if "." in self.opaque:
            return True
        return any(self.seen.get(p) or p in self.opaque for p in _parents(path))

    def layer(self, tar: tarfile.TarFile, what: str) -> None:
        whiteouts: list[str] = []
        opaque: list[str] = []
        links: set[str] = set()
        for member in tar:
            path = _clean(member.name, what)
            directory, base = posixpath.split(path)
            if base == OPAQUE:
                opaque.append(directory or ".")
                continue
            if base.startswith(WHITEOUT):
                whiteouts.append(posixpath.join(directory, base[len(WHITEOUT):]))
                continue
            # Through a symbolic link of its own layer, an entry would be written wherever
            # the link points; below an upper layer's link it is merely hidden.
            for parent in _parents(path):
                if parent in links:
                    raise UnsafeLayer(f"{what}: {path!r} passes through the symbolic link {parent!r}")
            if path == "." or self.hidden(path, member.isdir()):
                continue
            if member.islnk():
                target = _clean(member.linkname, what)
                if any(parent in self.symlinks for parent in _parents(target)):
                    raise UnsafeLayer(f"{what}: hard link target {target!r} passes through a symbolic link")
                member.linkname = target
            self._add(path, member.isdir())
            if member.issym():
                self.symlinks.add(path)
                links.add(path)
            member.name = path
            self.out.addfile(member, tar.extractfile(member) if member.isreg() else None)
        # A layer's whiteouts and opaque markers hide only what the layers below hold.
        for path in whiteouts:
            self.seen.setdefault(path, True)
        self.opaque.update(opaque)

    def _add(self, path: str, is_dir: bool) -> None:
        if len(self.seen) >= self.max_entries:
            raise InvalidArgument(f"the image has more than {self.max_entries} entries")
        self.seen[path] = not is_dir
        self.implicit.discard(path)
        for parent in _parents(path):  # a parent written implicitly is a directory
            if parent not in self.seen:
                self.seen[parent] = False
                self.implicit.add(parent)


def image_to_export(session: Session, repo: str, reference: str | Digest,
                    platform: str | Platform | None = None) -> Flow[tuple[Manifest, ImageConfig]]:
    """The image manifest to flatten and its config (whose ``diff_ids`` check the layers).

    An index needs ``platform``; the layers themselves are streamed by the caller,
    since :mod:`tarfile` reads them as files (see :meth:`ocireg.Registry.export`).
    """
    result = yield from ops.manifest(session, repo, reference, platform)
    if isinstance(result.document, Index):
        raise UsageError(f"{repo}:{reference} is an index: pick a platform to export")
    if not isinstance(result.document, Manifest):
        raise UsageError(f"{repo}: a {result.media_type} cannot be exported")
    config = yield from image_config(session, repo, result.document)
    return result.document, config


def export_layers(
    layers: Sequence[Descriptor],
    open_layer: Callable[[Descriptor], Chunks],
    out: Writable,
    *,
    diff_ids: Sequence[Digest] | None = None,
    max_entries: int = MAX_ENTRIES,
) -> int:
    """Write the flattened filesystem of ``layers`` (bottom first) to ``out`` as a tar stream.

    ``open_layer`` gives a layer's compressed bytes (verified against its digest as
    they stream).  With ``diff_ids`` (the config's), each layer's uncompressed
    digest is checked too.  Returns the number of entries written.
    """
    if diff_ids is not None and len(diff_ids) != len(layers):
        raise InvalidResponse(f"the config lists {len(diff_ids)} diff_ids for {len(layers)} layers")
    # The stream mode ("w|") only ever calls write(), which is all ``out`` promises.
    with tarfile.open(fileobj=cast("IO[bytes]", out), mode="w|", format=tarfile.PAX_FORMAT) as tar_out:
        flat = _Flattener(tar_out, max_entries)
        for index in range(len(layers) - 1, -1, -1):
            layer = layers[index]
            what = f"layer {index + 1} ({layer.digest})"
            with LayerStream(open_layer(layer), what) as stream:
                try:
                    with tarfile.open(fileobj=stream, mode="r|") as tar_in:
                        flat.layer(tar_in, what)
                except tarfile.TarError as exc:
                    raise InvalidResponse(f"{what}: not a tar archive: {exc}") from None
                uncompressed = stream.finish()
            if diff_ids is not None and uncompressed != diff_ids[index]:
                raise InvalidResponse(f"{what}: uncompressed digest {uncompressed}, the config says {diff_ids[index]}")
        return len(flat.seen)
