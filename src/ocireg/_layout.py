"""OCI image layouts on disk (image-spec ``image-layout.md``), read as strictly as a registry.

A layout is ``oci-layout``, ``index.json`` and ``blobs/<alg>/<hex>``.  Layouts
come from strangers and are shared with other tools, so:

* Blob paths are made only from validated digests, and every file of a layout is
  opened without following a symbolic link, at any step of its path (``blobs``,
  ``blobs/<alg>`` and the file itself), and must be a regular file: a link to
  ``/proc/self/environ`` is refused before a byte is read.  The layout's own
  directory is taken as given.
* What is read whole has a cap checked before reading (``oci-layout`` 4 KiB,
  ``index.json`` 16 MiB, manifests 4 MiB), and at most cap + 1 bytes are read.
* :meth:`OCILayout.check` walks an image's tree before anything is sent: at most
  :data:`MAX_DEPTH` levels of nested indexes, every document verified, every blob
  a regular file of its descriptor's size (and, with ``digests``, of its digest);
  :meth:`OCILayout.resolve` runs it, so a push from a layout stops at a missing or
  truncated layer, named, before its upload.  A blob read whole is verified while
  it streams; content that does not match is :class:`~ocireg.InvalidLayout`
  naming the file, as is every other fault of a layout.
* ``index.json`` is rewritten under a lock (``flock`` on ``.index.json.lock``), so
  concurrent pulls into one layout keep each other's entries, and atomically.
  Only the entries being replaced change: other entries, and top-level fields
  ocireg does not model, are written back exactly as they were parsed.
* :meth:`OCILayout.create` refuses a non-empty directory that is not a layout, and
  removes temporary files (``.NAME.*.part``) that a killed pull left over an hour
  ago.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from . import _media as media
from ._digest import Digest, verify_bytes
from ._errors import DigestMismatch, InvalidLayout, InvalidManifest
from ._fileregion import FileRegion
from ._files import AtomicFile, atomic_write
from ._manifest import MANIFEST_LIMIT, Descriptor, Document, Index, Manifest, parse_manifest
from ._strictjson import parse_json_object
from ._transfer import blobs_of

try:  # POSIX; elsewhere index.json updates are atomic but not serialised
    import fcntl
except ImportError:  # pragma: no cover - not on the platforms CI runs
    fcntl = None  # type: ignore[assignment]

__all__ = ["INDEX_LIMIT", "MAX_DEPTH", "REF_NAME", "STALE_PART_AGE", "OCILayout"]

REF_NAME = "org.opencontainers.image.ref.name"
MAX_DEPTH = 32
"""Deepest nesting of indexes walked (real images nest one or two levels)."""
INDEX_LIMIT = 16 << 20
"""Largest ``index.json`` read."""
STALE_PART_AGE = 3600.0
"""Seconds after its last write that a leftover ``.part`` file counts as abandoned."""

_LAYOUT_VERSION = "1.0.0"
_MARKER_LIMIT = 4096
_READ_SIZE = 1 << 20
_LOCK_NAME = ".index.json.lock"
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # a FIFO planted as a blob must not block open()
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def _fault(path: Path, exc: OSError) -> InvalidLayout:
    if exc.errno == errno.ENOENT:
        return InvalidLayout(f"{path}: missing")
    if exc.errno in (errno.ELOOP, errno.ENOTDIR):
        return InvalidLayout(f"{path}: a symbolic link or not a directory on the way; not followed")
    return InvalidLayout(f"{path}: cannot open ({exc.strerror})")


def _is_part(name: str) -> bool:
    """A temporary file of an atomic write: ``.NAME.<random>.part``."""
    return name.startswith(".") and name.endswith(".part") and name.count(".") >= 3


class OCILayout:
    """An OCI image layout directory; created (empty) by :meth:`create`."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"<OCILayout {self.path}>"

    @classmethod
    def create(cls, path: str | os.PathLike[str]) -> OCILayout:
        """Open the layout at ``path`` for writing, making an empty one if the directory has none.

        A directory that holds other files and no ``oci-layout`` is refused
        (:class:`~ocireg.InvalidLayout`): it is someone else's.  Temporary files of
        writes abandoned over :data:`STALE_PART_AGE` seconds ago are removed.
        """
        layout = cls(path)
        root = layout.path
        try:
            if root.exists() and not root.is_dir():
                raise InvalidLayout(f"{root}: exists and is not a directory")
            layout._refuse_foreign()  # before the lock file is made in someone else's directory
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InvalidLayout(f"{root}: cannot create the layout ({exc.strerror})") from None
        with layout._locked():
            layout._refuse_foreign()  # again: the first look raced with other writers
            if not os.path.lexists(root / "oci-layout"):
                atomic_write(root / "oci-layout", [json.dumps({"imageLayoutVersion": _LAYOUT_VERSION}).encode()])
            if not os.path.lexists(root / "index.json"):
                layout._write_index({"schemaVersion": 2, "mediaType": media.OCI_INDEX, "manifests": []})
            layout._read_index()  # what is there must be a layout ocireg can update
        layout._real_dir("blobs")
        layout._remove_stale_parts(time.time())
        return layout

    def _refuse_foreign(self) -> None:
        """Refuse a directory holding anything but a layout (a layout being made counts)."""
        root = self.path
        if not root.is_dir() or os.path.lexists(root / "oci-layout"):
            return
        # Another writer may be making the layout right now: its lock and temporary
        # files are all there is until oci-layout appears.
        others = [n for n in os.listdir(root) if n != _LOCK_NAME and not _is_part(n)]
        # oci-layout is the first name a writer makes: seen now, the others are its own.
        if others and not os.path.lexists(root / "oci-layout"):
            raise InvalidLayout(f"{root}: not empty and not an OCI image layout; refusing to write in it")

    # --- opening files without following links ---------------------------------------

    def _open(self, *parts: str) -> tuple[int, os.stat_result]:
        """A read-only descriptor for the regular file ``parts`` under the layout, and its stat."""
        path = self.path.joinpath(*parts)
        try:
            directory = os.open(self.path, os.O_RDONLY | _DIRECTORY | _CLOEXEC)
        except OSError as exc:
            raise InvalidLayout(f"{self.path}: not an OCI image layout ({exc.strerror})") from None
        try:
            for part in parts[:-1]:
                inner = os.open(part, os.O_RDONLY | _DIRECTORY | _NOFOLLOW | _CLOEXEC, dir_fd=directory)
                os.close(directory)
                directory = inner
            fd = os.open(parts[-1], os.O_RDONLY | _NOFOLLOW | _NONBLOCK | _CLOEXEC, dir_fd=directory)
        except OSError as exc:
            raise _fault(path, exc) from None
        finally:
            os.close(directory)
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            os.close(fd)
            raise InvalidLayout(f"{path}: not a regular file")
        return fd, info

    def _read_capped(self, parts: tuple[str, ...], limit: int) -> bytes:
        """A whole file of at most ``limit`` bytes; at most ``limit + 1`` are ever read."""
        fd, info = self._open(*parts)
        path = self.path.joinpath(*parts)
        with os.fdopen(fd, "rb") as f:
            if info.st_size > limit:
                raise InvalidLayout(f"{path}: {info.st_size} bytes, over the {limit}-byte limit")
            data = f.read(limit + 1)  # the file may have grown since fstat
        if len(data) > limit:
            raise InvalidLayout(f"{path}: over the {limit}-byte limit")
        return data

    def _real_dir(self, *parts: str) -> Path:
        """``parts`` under the layout as a real directory (created if missing), never a link."""
        path = self.path
        for part in parts:
            path = path / part
            try:
                path.mkdir(exist_ok=True)
                if not stat.S_ISDIR(path.lstat().st_mode):
                    raise InvalidLayout(f"{path}: a symbolic link or not a directory; not followed")
            except OSError as exc:
                raise _fault(path, exc) from None
        return path

    # --- index.json ---------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold the layout's lock: one reader-modifier-writer of ``index.json`` at a time."""
        if fcntl is None:  # pragma: no cover
            yield
            return
        lock = self.path / _LOCK_NAME
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | _NOFOLLOW | _CLOEXEC, 0o666)
        except OSError as exc:
            raise _fault(lock, exc) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def _read_index(self) -> tuple[dict[str, Any], Index]:
        """``index.json`` as parsed JSON (kept as it is) and as a validated index."""
        version = parse_json_object(
            self._read_capped(("oci-layout",), _MARKER_LIMIT),
            limit=_MARKER_LIMIT, what=str(self.path / "oci-layout"), error=InvalidLayout,
        )  # fmt: skip
        if version.get("imageLayoutVersion") != _LAYOUT_VERSION:
            raise InvalidLayout(f"{self.path / 'oci-layout'}: unsupported imageLayoutVersion")
        where = self.path / "index.json"
        raw = self._read_capped(("index.json",), INDEX_LIMIT)
        obj = parse_json_object(raw, limit=INDEX_LIMIT, what=str(where), error=InvalidLayout)
        try:
            index = parse_manifest(raw, media.OCI_INDEX, limit=INDEX_LIMIT)
        except InvalidManifest as exc:
            raise InvalidLayout(f"{where}: {exc}") from None
        if not isinstance(index, Index):  # pragma: no cover - parse_manifest obeys the type
            raise InvalidLayout(f"{where}: not an image index")
        return obj, index

    def manifests(self) -> list[Descriptor]:
        """The descriptors listed in ``index.json``, validated."""
        return list(self._read_index()[1].manifests)

    def _write_index(self, document: dict[str, Any]) -> None:
        atomic_write(self.path / "index.json", [json.dumps(document, indent=2).encode()])

    def add_ref(self, descriptor: Descriptor, name: str | None) -> None:
        """List ``descriptor`` in ``index.json``, under ``name`` when given.

        * With a name (a tag, also for ``repo:tag@digest``): the entry of that name
          is replaced, and so is an unnamed entry of the same digest.
        * Without one (a pull by digest), or with the digest itself as the name:
          nothing changes when an entry, named or not, already lists that digest;
          otherwise an unnamed entry is added.

        Every other entry, and every top-level field, is written back as it was
        read.  The read, the change and the write happen under the layout's lock.
        """
        if name == str(descriptor.digest):
            name = None  # a digest is not a name (and ":" is not valid in ref.name)
        annotations = dict(descriptor.annotations)
        if name:
            annotations[REF_NAME] = name
        entry = Descriptor(
            media_type=descriptor.media_type,
            digest=descriptor.digest,
            size=descriptor.size,
            urls=descriptor.urls,
            annotations=tuple(sorted(annotations.items())),
            platform=descriptor.platform,
            artifact_type=descriptor.artifact_type,
        )
        with self._locked():
            document, index = self._read_index()
            raw_entries = document.get("manifests")
            assert isinstance(raw_entries, list)  # parse_manifest checked it
            pairs = list(zip(index.manifests, raw_entries, strict=True))
            if name is None and any(d.digest == entry.digest for d, _ in pairs):
                return

            def replaced(d: Descriptor) -> bool:
                listed = dict(d.annotations).get(REF_NAME)
                return listed == name or (listed is None and d.digest == entry.digest)

            kept = [raw for d, raw in pairs if not replaced(d)]
            document["manifests"] = [*kept, entry.to_json()]
            self._write_index(document)

    def resolve(self, name: str | None = None) -> Descriptor:
        """The entry named ``name``, or the only entry when no name is given; checked.

        The entry's tree is walked by :meth:`check` (documents verified, blobs
        present at their sizes) so that nothing is sent from a broken layout.
        """
        entries = self.manifests()
        found: Descriptor | None = None
        if name is None:
            if len(entries) != 1:
                raise InvalidLayout(f"{self.path}: {len(entries)} images; name one of them")
            found = entries[0]
        else:
            found = next((e for e in entries if dict(e.annotations).get(REF_NAME) == name), None)
        if found is None:
            names = sorted(n for d in entries if (n := dict(d.annotations).get(REF_NAME)))
            raise InvalidLayout(f"{self.path}: no image named {name!r} (have: {', '.join(names) or 'none'})")
        self.check(found)
        return found

    def check(self, descriptor: Descriptor, *, digests: bool = False) -> None:
        """Walk ``descriptor``'s tree; raise :class:`~ocireg.InvalidLayout` at the first fault.

        Nested indexes deeper than :data:`MAX_DEPTH`, a document that does not
        match its digest or size or does not parse, a blob missing, not a regular
        file, or of another size than its descriptor's (with ``digests``, also of
        another digest: every blob is then read once) -- each named by its file.
        """
        seen: set[Digest] = set()
        pending = [(descriptor, 0)]
        while pending:
            node, depth = pending.pop()
            if node.digest in seen:
                continue
            seen.add(node.digest)
            if node.media_type in media.INDEX_TYPES or node.media_type in media.MANIFEST_TYPES:
                document = self._document(node, sized=True)
                if isinstance(document, Index):
                    if depth >= MAX_DEPTH:
                        raise InvalidLayout(
                            f"{self.blob_path(node.digest)}: indexes nested over {MAX_DEPTH} deep"
                        )
                    pending += [(child, depth + 1) for child in document.manifests]
                elif isinstance(document, Manifest):
                    pending += [(blob, depth + 1) for blob in document.blobs]
                else:
                    for ref in blobs_of(document):
                        seen.add(ref.digest)
                        self._check_blob(ref.digest, ref.size, digests=digests)
            else:
                self._check_blob(node.digest, node.size, digests=digests)

    def _check_blob(self, digest: Digest, size: int | None, *, digests: bool) -> None:
        path = self.blob_path(digest)
        fd, info = self._open("blobs", digest.algorithm, digest.encoded)
        with os.fdopen(fd, "rb") as f:
            if size is not None and info.st_size != size:
                raise InvalidLayout(f"{path}: {info.st_size} bytes, but its descriptor says {size}")
            if digests:
                hasher = digest.hasher()
                while block := f.read(_READ_SIZE):
                    hasher.update(block)
                if hasher.hexdigest() != digest.encoded:
                    raise InvalidLayout(f"{path}: content does not match its digest")

    # --- blobs --------------------------------------------------------------------------

    def blob_path(self, digest: Digest) -> Path:
        """Where ``digest`` lives; a validated digest cannot leave the layout."""
        return self.path / "blobs" / digest.algorithm / digest.encoded

    def has_blob(self, digest: Digest, size: int | None = None) -> bool:
        """The blob is present *and* its bytes hash to ``digest`` (a partial file is not trusted)."""
        try:
            self._check_blob(digest, size, digests=True)
        except InvalidLayout:
            return False
        return True

    def write_blob(
        self, digest: Digest, chunks: Iterable[bytes | bytearray | memoryview], size: int | None = None
    ) -> Path:
        """Store a blob atomically, verified while it is written (never through a link)."""
        self._real_dir("blobs", digest.algorithm)
        return atomic_write(self.blob_path(digest), chunks, digest=digest, size=size)

    def blob_sink(self, digest: Digest) -> AtomicFile:
        """A sink that becomes the blob ``digest`` when committed (the driver verifies the
        bytes on their way in, so they are hashed once); opened never through a link."""
        layout = self

        class _BlobFile(AtomicFile):
            def open(self) -> None:
                layout._real_dir("blobs", digest.algorithm)
                super().open()

        return _BlobFile(self.blob_path(digest))

    def read_blob(self, digest: Digest, limit: int = MANIFEST_LIMIT) -> bytes:
        """A small blob (manifest, config) whole, verified."""
        data = self._read_capped(("blobs", digest.algorithm, digest.encoded), limit)
        try:
            verify_bytes(data, digest)
        except DigestMismatch:
            # A layout is the caller's input: a corrupt one is a usage error, not the network's.
            raise InvalidLayout(f"{self.blob_path(digest)}: content does not match its digest") from None
        return data

    def iter_blob(self, digest: Digest, offset: int = 0, length: int | None = None) -> Iterator[bytes]:
        """``length`` bytes of a blob from ``offset``, in 1 MiB reads (for uploads).

        A file too short for the range is refused before the first byte; a read
        of the whole file is verified as it streams, and a mismatch is an
        :class:`~ocireg.InvalidLayout` naming the file, raised before the last
        chunk is handed over.
        """
        region = self.blob_region(digest, offset, length)
        assert region is not None  # a layout's blob is always a file
        return iter(region)

    def blob_region(self, digest: Digest, offset: int = 0, length: int | None = None) -> FileRegion | None:
        """The range of :meth:`iter_blob` as a :class:`~ocireg._fileregion.FileRegion`:
        the same chunks and checks, or the file itself for a transport that sends it
        with ``sendfile`` (None: the blob is not a file, as an archive's made-up config).
        The file is opened when the region is first read."""
        path = self.blob_path(digest)

        def opener() -> tuple[BinaryIO, int]:
            fd, info = self._open("blobs", digest.algorithm, digest.encoded)
            return os.fdopen(fd, "rb"), info.st_size

        return FileRegion(
            opener, offset, length, digest=digest,
            short=lambda size: InvalidLayout(f"{path}: {size} bytes, shorter than its descriptor says"),
            shrank=lambda: InvalidLayout(f"{path}: shrank while it was read"),
            mismatch=lambda: InvalidLayout(f"{path}: content does not match its digest"),
        )

    def document(self, descriptor: Descriptor) -> Document:
        """The manifest or index ``descriptor`` names, read, verified and parsed."""
        return self._document(descriptor)

    def _document(self, descriptor: Descriptor, *, sized: bool = False) -> Document:
        data = self.read_blob(descriptor.digest)
        if sized and len(data) != descriptor.size:
            raise InvalidLayout(
                f"{self.blob_path(descriptor.digest)}: {len(data)} bytes, "
                f"but its descriptor says {descriptor.size}"
            )
        try:
            return parse_manifest(data, descriptor.media_type)
        except InvalidManifest as exc:
            raise InvalidLayout(f"{self.blob_path(descriptor.digest)}: {exc}") from None

    # --- leftovers ----------------------------------------------------------------------

    def _remove_stale_parts(self, now: float) -> None:
        """Remove ``.NAME.*.part`` files (atomic writes in progress) idle since ``now - STALE_PART_AGE``."""
        directories = [self.path]
        blobs = self.path / "blobs"
        with contextlib.suppress(OSError):
            directories += [d for d in blobs.iterdir() if stat.S_ISDIR(d.lstat().st_mode)]
        for directory in directories:
            try:
                names = [n for n in os.listdir(directory) if _is_part(n)]
            except OSError:
                continue
            for name in names:
                part = directory / name
                with contextlib.suppress(OSError):  # another process may remove it first
                    if now - part.lstat().st_mtime > STALE_PART_AGE:
                        part.unlink()
