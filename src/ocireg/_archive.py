"""Images in tar files: ``docker save`` archives and OCI layouts inside a tar.

Writing (:func:`pull_archive`, a flow both clients run) produces what ``docker save`` (25 and
later) writes: a ``manifest.json`` with ``Config``, ``RepoTags`` and ``Layers``
for ``docker load``, and, in the same tar, an OCI image layout (``oci-layout``,
``index.json``, ``blobs/sha256/...``) holding the manifest exactly as served.
Layers are stored as the registry holds them (compressed or not), as crane does;
``docker load`` and skopeo decompress what they read.  The tar is streamed: each
blob goes from the registry through its digest check (a ``StreamBody`` effect)
into the file, under a tar header written from the size its descriptor gives, to
a temporary file renamed into place once complete.

Reading (:class:`ArchiveLayout`) serves an archive to :meth:`Registry.push` in
place of a layout directory, without extracting it: members are read at their
offsets in the tar file, so memory stays flat whatever the layer sizes.  An OCI
layout in the tar is pushed as it is (same digests); a ``docker save`` archive
without one gets an OCI manifest built from its ``manifest.json`` (layers keep
their bytes and so their digests; their media type follows their compression).

A tar is the caller's input, treated as hostile: a member named with an absolute
path or ``..``, a link whose target leaves the archive, too many members, or an
oversized ``manifest.json`` make it an :class:`~ocireg.InvalidLayout`.  Compressed
tars (``.tar.gz``) cannot be read in place and are refused with that advice.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from . import _media as media
from ._digest import Digest, verify_bytes
from ._endpoints import ManifestResult
from ._errors import DigestMismatch, InvalidArgument, InvalidLayout
from ._fileregion import FileRegion
from ._files import AtomicFile
from ._flow import Flow, call
from ._image import blob_into, manifest
from ._layout import REF_NAME, OCILayout
from ._manifest import MANIFEST_LIMIT, Descriptor, Index, Manifest, Platform, parse_manifest
from ._reference import Reference
from ._session import Session
from ._strictjson import parse_json_object

__all__ = ["ArchiveLayout", "pull_archive", "safe_member_name"]

MAX_MEMBERS = 100_000
"""More members than any image has layers and files: past this the tar is refused."""
_JSON_LIMIT = 16 << 20
_READ_SIZE = 1 << 20
_BLOCK = tarfile.BLOCKSIZE
_RECORD = tarfile.RECORDSIZE
_MAX_LINK_HOPS = 16
DEFAULT_PLATFORM = Platform(os="linux", architecture="amd64")
"""The image a ``docker save`` archive of an index holds when no platform is named."""
_IMAGE_NAME = "io.containerd.image.name"


# --- member names ---------------------------------------------------------------------


def safe_member_name(name: str) -> str:
    """``name`` normalised (``./a`` -> ``a``), or :class:`InvalidLayout` if it could leave the archive."""
    if not isinstance(name, str) or not name or "\x00" in name:
        raise InvalidLayout("a tar member has an empty or NUL-bearing name")
    if name.startswith("/") or "\\" in name:
        raise InvalidLayout(f"tar member {name[:200]!r} has an absolute or backslashed path")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise InvalidLayout(f"tar member {name[:200]!r} climbs out with '..'")
    return "/".join(parts)


def _link_target(member: tarfile.TarInfo, name: str) -> str:
    """Where a link member points, as an archive path; refused when it leaves the archive."""
    target = member.linkname
    if member.issym():
        if target.startswith("/"):
            raise InvalidLayout(f"tar member {name!r} links to the absolute path {target[:200]!r}")
        target = posixpath.normpath(posixpath.join(posixpath.dirname(name), target))
    if target == ".." or target.startswith("../"):
        raise InvalidLayout(f"tar member {name!r} links out of the archive")
    return safe_member_name(target)


# --- writing --------------------------------------------------------------------------


def _header(name: str, size: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o644
    info.mtime = 0  # the same image always gives the same archive
    return info.tobuf(format=tarfile.PAX_FORMAT)


def _blob_name(digest: Digest) -> str:
    return f"blobs/{digest.algorithm}/{digest.encoded}"


class _TarWriter:
    """A tar written member after member into an :class:`AtomicFile`, which it becomes only
    when :meth:`finish` ends it; any failure on the way aborts the whole file."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._file = AtomicFile(path)
        self._written = 0

    def open(self) -> None:
        self._file.open()

    def write(self, chunk: bytes | bytearray | memoryview) -> None:
        self._file.write(chunk)
        self._written += len(chunk)

    @property
    def written(self) -> int:
        return self._written

    def truncate(self, size: int) -> None:
        """Drop everything after the first ``size`` bytes (a member's download started over)."""
        self._file.reset(size)
        self._written = size

    def pad(self, size: int) -> None:
        if size % _BLOCK:
            self.write(bytes(_BLOCK - size % _BLOCK))

    def add(self, name: str, data: bytes) -> None:
        self.write(_header(name, len(data)))
        self.write(data)
        self.pad(len(data))

    def member(self, name: str, size: int) -> _MemberSink:
        """A sink for :class:`~ocireg._flow.StreamBody` that becomes the member ``name``."""
        return _MemberSink(self, name, size)

    def finish(self, members: Iterable[tuple[str, bytes]]) -> Path:
        """Add the last ``members``, end the tar (two zero blocks, a whole record), keep the file."""
        for name, data in members:
            self.add(name, data)
        end = 2 * _BLOCK
        self.write(bytes(end + (-(self._written + end) % _RECORD)))
        return self._file.commit()

    def abort(self) -> None:
        self._file.abort()


class _MemberSink:
    """One member streamed in: its header on ``open``, its padding on ``commit``.

    A download started over (``reset``) drops the member's bytes, not its header.
    A member that fails (a digest mismatch, a dropped connection) aborts the whole
    archive: a tar with a hole in it is no archive."""

    def __init__(self, writer: _TarWriter, name: str, size: int) -> None:
        self.writer, self.name, self.size = writer, name, size
        self._start = 0

    def open(self) -> None:
        self.writer.write(_header(self.name, self.size))
        self._start = self.writer.written

    def write(self, chunk: bytes | bytearray | memoryview, /) -> None:
        self.writer.write(chunk)

    def reset(self) -> None:
        self.writer.truncate(self._start)

    def commit(self) -> None:
        self.writer.pad(self.size)

    def abort(self) -> None:
        self.writer.abort()


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def pull_archive(
    session: Session,
    repo: str,
    reference: str | Digest,
    path: str | os.PathLike[str],
    *,
    platform: str | Platform | None = None,
    repo_tags: Iterable[str] | None = None,
) -> Flow[Descriptor]:
    """Write the image ``repo:reference`` to ``path`` as a ``docker save`` archive; return its manifest.

    An index is resolved to one image: ``platform``, else linux/amd64.  ``repo_tags``
    (default: ``registry/repo:tag`` when ``reference`` is a tag) names it for ``docker load``.
    The blobs stream one after another (a tar is written in order), each verified on
    its way into the file.
    """
    result = yield from manifest(session, repo, reference, platform or DEFAULT_PLATFORM)
    document = result.document
    if not isinstance(document, Manifest):
        raise InvalidArgument(f"{repo}:{reference} is a {result.media_type}, which docker archives cannot hold")
    if repo_tags is None:
        tags = [] if isinstance(reference, Digest) or reference.startswith("sha256:") else [
            Reference(session.host, repo, reference).familiar]
    else:
        tags = list(repo_tags)
    writer = _TarWriter(path)
    yield from call(writer.open)
    try:
        yield from call(writer.add, "oci-layout", _json_bytes({"imageLayoutVersion": "1.0.0"}))
        seen: set[Digest] = set()
        for blob in (document.config, *document.layers):
            if blob.digest not in seen:
                seen.add(blob.digest)
                yield from blob_into(session, repo, blob.digest, writer.member(_blob_name(blob.digest), blob.size),
                                     blob.size)
        yield from call(writer.finish, _closing_members(document, result, tags))
    except GeneratorExit:
        writer.abort()  # the flow is being discarded: no effect can be asked for any more
        raise
    except BaseException:
        yield from call(writer.abort)
        raise
    return result.descriptor


def _closing_members(document: Manifest, result: ManifestResult, repo_tags: list[str]) -> list[tuple[str, bytes]]:
    """The manifest as served, ``index.json`` naming it, and docker's ``manifest.json``."""
    descriptor = result.descriptor
    annotations = {_IMAGE_NAME: repo_tags[0], REF_NAME: repo_tags[0].rsplit(":", 1)[1]} if repo_tags else {}
    entry = Descriptor(descriptor.media_type, descriptor.digest, len(result.body),
                       annotations=tuple(annotations.items()))
    index = {"schemaVersion": 2, "mediaType": media.OCI_INDEX, "manifests": [entry.to_json()]}
    docker = [{
        "Config": _blob_name(document.config.digest),
        "RepoTags": repo_tags,
        "Layers": [_blob_name(layer.digest) for layer in document.layers],
    }]
    return [(_blob_name(descriptor.digest), result.body), ("index.json", _json_bytes(index)),
            ("manifest.json", _json_bytes(docker))]


# --- reading --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Slice:
    """Where a member's bytes lie in the tar file."""

    offset: int
    size: int


class ArchiveLayout(OCILayout):
    """A ``docker save`` archive or an OCI layout inside a tar, read in place, for :meth:`Registry.push`."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__(path)
        self._members = _scan(self.path)
        self._synthetic: dict[Digest, bytes] = {}
        self._blobs: dict[Digest, _Slice] = {}
        self._entries: list[Descriptor] = []
        if "oci-layout" in self._members and "index.json" in self._members:
            self._read_oci()
        elif "manifest.json" in self._members:
            self._read_docker()
        else:
            raise InvalidLayout(f"{self.path}: neither a docker archive (manifest.json) nor an OCI layout")

    @property
    def kind(self) -> str:
        """``"oci"`` or ``"docker"``: which of the two the archive was read as."""
        return "docker" if self._synthetic else "oci"

    # --- the layout interface push uses -------------------------------------------------

    def manifests(self) -> list[Descriptor]:
        return list(self._entries)

    def blob_path(self, digest: Digest) -> Path:
        # For messages only: nothing is ever extracted.
        return self.path / _blob_name(digest)

    def has_blob(self, digest: Digest, size: int | None = None) -> bool:
        return digest in self._synthetic or self._find(digest) is not None

    def write_blob(self, digest: Digest, chunks: Iterable[bytes | bytearray | memoryview], size: int | None = None) -> Path:
        raise InvalidLayout(f"{self.path}: an archive is read-only")

    def _check_blob(self, digest: Digest, size: int | None, *, digests: bool) -> None:
        """The layout's tree check, on the archive's members (see :meth:`OCILayout.check`)."""
        if digest in self._synthetic:
            actual = len(self._synthetic[digest])
        else:
            actual = self._require(digest).size
        if size is not None and actual != size:
            raise InvalidLayout(f"{self.blob_path(digest)}: {actual} bytes, but its descriptor says {size}")
        if digests:
            hasher = digest.hasher()
            for block in self.iter_blob(digest):
                hasher.update(block)
            if hasher.hexdigest() != digest.encoded:
                raise InvalidLayout(f"{self.blob_path(digest)}: content does not match its digest")

    def blob_sink(self, digest: Digest) -> AtomicFile:
        raise InvalidLayout(f"{self.path}: an archive is read-only")

    def read_blob(self, digest: Digest, limit: int = MANIFEST_LIMIT) -> bytes:
        if digest in self._synthetic:
            return self._synthetic[digest]
        where = self._require(digest)
        if where.size > limit:
            raise InvalidLayout(f"{self.blob_path(digest)}: larger than {limit} bytes")
        data = b"".join(self._read(where, 0, where.size))
        try:
            verify_bytes(data, digest)
        except DigestMismatch:
            raise InvalidLayout(f"{self.blob_path(digest)}: content does not match its digest") from None
        return data

    def iter_blob(self, digest: Digest, offset: int = 0, length: int | None = None) -> Iterator[bytes]:
        if digest in self._synthetic:
            data = self._synthetic[digest]
            yield data[offset:None if length is None else offset + length]
            return
        where = self._require(digest)
        if length is None:
            length = where.size - offset
        if offset < 0 or offset + length > where.size:
            raise InvalidLayout(f"{self.blob_path(digest)}: shorter than its descriptor says")
        yield from self._read(where, offset, length)

    def blob_region(self, digest: Digest, offset: int = 0, length: int | None = None) -> FileRegion | None:
        """A member's range as a region of the archive file (None for a made-up blob);
        read, it gives what :meth:`iter_blob` gives."""
        if digest in self._synthetic:
            return None
        where = self._require(digest)
        if length is None:
            length = where.size - offset
        if offset < 0 or offset + length > where.size:
            name = self.blob_path(digest)

            def refused() -> tuple[BinaryIO, int]:  # raised when read, as iter_blob does
                raise InvalidLayout(f"{name}: shorter than its descriptor says")

            return FileRegion(refused, shrank=lambda: InvalidLayout(f"{self.path}: truncated tar"))

        def opener() -> tuple[BinaryIO, int]:
            file = self.path.open("rb")
            return file, os.fstat(file.fileno()).st_size

        return FileRegion(opener, where.offset + offset, length,
                          shrank=lambda: InvalidLayout(f"{self.path}: truncated tar"))

    # --- internals ---------------------------------------------------------------------

    def _read(self, where: _Slice, offset: int, length: int) -> Iterator[bytes]:
        with self.path.open("rb") as f:
            f.seek(where.offset + offset)
            while length > 0:
                block = f.read(min(length, _READ_SIZE))
                if not block:
                    raise InvalidLayout(f"{self.path}: truncated tar")
                length -= len(block)
                yield block

    def _find(self, digest: Digest) -> _Slice | None:
        if digest in self._blobs:
            return self._blobs[digest]
        return self._members.get(_blob_name(digest))

    def _require(self, digest: Digest) -> _Slice:
        where = self._find(digest)
        if where is None:
            raise InvalidLayout(f"{self.path}: no blob {digest} in the archive")
        return where

    def _member_bytes(self, name: str, limit: int = _JSON_LIMIT) -> bytes:
        where = self._members[name]
        if where.size > limit:
            raise InvalidLayout(f"{self.path}: {name} is larger than {limit} bytes")
        return b"".join(self._read(where, 0, where.size))

    def _read_oci(self) -> None:
        marker = parse_json_object(self._member_bytes("oci-layout", 4096), limit=4096,
                                   what=f"{self.path}: oci-layout", error=InvalidLayout)
        if marker.get("imageLayoutVersion") != "1.0.0":
            raise InvalidLayout(f"{self.path}: unsupported imageLayoutVersion")
        data = self._member_bytes("index.json")
        try:
            parsed = parse_manifest(data, media.OCI_INDEX, limit=_JSON_LIMIT)
        except ValueError as exc:
            raise InvalidLayout(f"{self.path}: index.json: {exc}") from None
        assert isinstance(parsed, Index)  # parsed as the index type it was given
        self._entries = list(parsed.manifests)

    def _read_docker(self) -> None:
        data = self._member_bytes("manifest.json")
        try:
            entries = json.loads(data)
        except ValueError:
            raise InvalidLayout(f"{self.path}: manifest.json is not JSON") from None
        if not isinstance(entries, list) or not entries:
            raise InvalidLayout(f"{self.path}: manifest.json lists no image")
        for i, entry in enumerate(entries):
            self._entries.append(self._docker_image(entry, f"manifest.json[{i}]"))

    def _docker_image(self, entry: object, where: str) -> Descriptor:
        if not isinstance(entry, dict):
            raise InvalidLayout(f"{self.path}: {where} is not an object")
        config_name, layer_names, tags = entry.get("Config"), entry.get("Layers"), entry.get("RepoTags") or []
        if not isinstance(config_name, str) or not isinstance(layer_names, list) or not isinstance(tags, list) \
                or not all(isinstance(n, str) for n in [*layer_names, *tags]):
            raise InvalidLayout(f"{self.path}: {where} needs Config, Layers and RepoTags as strings")
        config_data = self._member_bytes(self._name(config_name, where))
        config = Descriptor(media.OCI_CONFIG, Digest.of(config_data), len(config_data))
        self._synthetic[config.digest] = config_data
        layers = [self._layer(self._name(name, where)) for name in layer_names]
        manifest = Manifest.build(config, layers)
        self._synthetic[manifest.digest] = manifest.raw
        annotations = {REF_NAME: tags[0]} if tags else {}
        return Descriptor(manifest.media_type, manifest.digest, len(manifest.raw), annotations=tuple(annotations.items()))

    def _name(self, name: str, where: str) -> str:
        safe = safe_member_name(name)
        if safe not in self._members:
            raise InvalidLayout(f"{self.path}: {where} names {name[:200]!r}, which the archive lacks")
        return safe

    def _layer(self, name: str) -> Descriptor:
        where = self._members[name]
        hasher = hashlib.sha256()
        head = b""
        for block in self._read(where, 0, where.size):
            if not head:
                head = block[:4]
            hasher.update(block)
        digest = Digest("sha256", hasher.hexdigest())
        self._blobs[digest] = where
        return Descriptor(_layer_type(head), digest, where.size)


def _layer_type(head: bytes) -> str:
    """A layer's media type from its first bytes: gzip, zstd, else a plain tar."""
    if head.startswith(b"\x1f\x8b"):
        return media.OCI_LAYER_TAR_GZIP
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        return media.OCI_LAYER_TAR_ZSTD
    return media.OCI_LAYER_TAR


def _scan(path: Path) -> dict[str, _Slice]:
    """Every regular member's data slice by safe name, links resolved inside the archive."""
    try:
        tar = tarfile.open(path, mode="r:")  # noqa: SIM115 - closed below
    except tarfile.ReadError:
        raise InvalidLayout(f"{path}: not an uncompressed tar (decompress a .tar.gz first)") from None
    except OSError as exc:
        raise InvalidLayout(f"{path}: cannot read ({exc.strerror})") from None
    regular: dict[str, _Slice] = {}
    links: dict[str, str] = {}
    with tar:
        try:
            for count, member in enumerate(tar, start=1):
                if count > MAX_MEMBERS:
                    raise InvalidLayout(f"{path}: more than {MAX_MEMBERS} members")
                name = safe_member_name(member.name)
                if member.isreg():
                    regular[name] = _Slice(member.offset_data, member.size)
                elif member.issym() or member.islnk():
                    links[name] = _link_target(member, name)
        except tarfile.TarError as exc:
            raise InvalidLayout(f"{path}: a broken tar ({exc})") from None
    for name in links:
        target, hops = name, 0
        while target in links:
            target, hops = links[target], hops + 1
            if hops > _MAX_LINK_HOPS:
                raise InvalidLayout(f"{path}: tar member {name!r} is a link loop")
        if target in regular:
            regular[name] = regular[target]
    return regular
