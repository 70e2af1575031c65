"""OCI image layouts on disk (image-spec ``image-layout.md``), read as strictly as a registry.

A layout is ``oci-layout``, ``index.json`` and ``blobs/<alg>/<hex>``.  Blob paths
are made only from validated digests, so nothing read from ``index.json`` or a
manifest can name a file outside the layout; every blob read back is verified.
``index.json`` is rewritten atomically.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from . import _media as media
from ._digest import Digest, verify_bytes
from ._errors import DigestMismatch, InvalidLayout, InvalidManifest
from ._files import AtomicFile, atomic_write, file_matches
from ._manifest import MANIFEST_LIMIT, Descriptor, Document, parse_manifest
from ._strictjson import parse_json_object

__all__ = ["REF_NAME", "OCILayout"]

REF_NAME = "org.opencontainers.image.ref.name"
_LAYOUT_VERSION = "1.0.0"
_INDEX_LIMIT = 16 << 20
_READ_SIZE = 1 << 20


class OCILayout:
    """An OCI image layout directory; created (empty) by :meth:`create`."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    @classmethod
    def create(cls, path: str | os.PathLike[str]) -> OCILayout:
        """Open the layout at ``path``, making an empty one if the directory has none."""
        layout = cls(path)
        layout.path.mkdir(parents=True, exist_ok=True)
        marker = layout.path / "oci-layout"
        if not marker.exists():
            atomic_write(marker, [json.dumps({"imageLayoutVersion": _LAYOUT_VERSION}).encode()])
        if not (layout.path / "index.json").exists():
            layout._write_index([])
        (layout.path / "blobs").mkdir(exist_ok=True)
        return layout

    # --- index.json -------------------------------------------------------------

    def _read_index(self) -> dict[str, Any]:
        marker = self.path / "oci-layout"
        try:
            version = parse_json_object(marker.read_bytes(), limit=4096, what=str(marker), error=InvalidLayout)
            data = (self.path / "index.json").read_bytes()
        except OSError as exc:
            raise InvalidLayout(f"{self.path}: not an OCI image layout ({exc.strerror})") from None
        if version.get("imageLayoutVersion") != _LAYOUT_VERSION:
            raise InvalidLayout(f"{marker}: unsupported imageLayoutVersion")
        return parse_json_object(data, limit=_INDEX_LIMIT, what=str(self.path / "index.json"), error=InvalidLayout)

    def manifests(self) -> list[Descriptor]:
        """The descriptors listed in ``index.json``, validated."""
        try:
            index = parse_manifest(
                json.dumps(self._read_index()).encode(), media.OCI_INDEX, limit=_INDEX_LIMIT
            )
        except InvalidManifest as exc:
            raise InvalidLayout(f"{self.path / 'index.json'}: {exc}") from None
        return list(getattr(index, "manifests", ()))

    def _write_index(self, manifests: Iterable[Descriptor]) -> None:
        document = {
            "schemaVersion": 2,
            "mediaType": media.OCI_INDEX,
            "manifests": [d.to_json() for d in manifests],
        }
        atomic_write(self.path / "index.json", [json.dumps(document, indent=2).encode()])

    def add_ref(self, descriptor: Descriptor, name: str | None) -> None:
        """List ``descriptor`` in ``index.json`` under ``name``, replacing an entry of that name."""
        annotations = dict(descriptor.annotations)
        if name:
            annotations[REF_NAME] = name
        entry = Descriptor(
            media_type=descriptor.media_type,
            digest=descriptor.digest,
            size=descriptor.size,
            annotations=tuple(sorted(annotations.items())),
            platform=descriptor.platform,
            artifact_type=descriptor.artifact_type,
        )
        kept = [
            d for d in self.manifests()
            if not (name and dict(d.annotations).get(REF_NAME) == name) and not (not name and d.digest == entry.digest)
        ]
        self._write_index([*kept, entry])

    def resolve(self, name: str | None = None) -> Descriptor:
        """The entry named ``name``, or the only entry when no name is given."""
        entries = self.manifests()
        if name is None:
            if len(entries) != 1:
                raise InvalidLayout(f"{self.path}: {len(entries)} images; name one of them")
            return entries[0]
        for entry in entries:
            if dict(entry.annotations).get(REF_NAME) == name:
                return entry
        names = sorted(n for d in entries if (n := dict(d.annotations).get(REF_NAME)))
        raise InvalidLayout(f"{self.path}: no image named {name!r} (have: {', '.join(names) or 'none'})")

    # --- blobs ------------------------------------------------------------------

    def blob_path(self, digest: Digest) -> Path:
        """Where ``digest`` lives; a validated digest cannot leave the layout."""
        return self.path / "blobs" / digest.algorithm / digest.encoded

    def has_blob(self, digest: Digest, size: int | None = None) -> bool:
        """The blob is present *and* its bytes hash to ``digest`` (a partial file is not trusted)."""
        return file_matches(self.blob_path(digest), digest, size)

    def write_blob(
        self, digest: Digest, chunks: Iterable[bytes | bytearray | memoryview], size: int | None = None
    ) -> Path:
        """Store a blob atomically, verified while it is written."""
        return atomic_write(self.blob_path(digest), chunks, digest=digest, size=size)

    def blob_sink(self, digest: Digest) -> AtomicFile:
        """A sink that becomes the blob ``digest`` when committed (the driver verifies the
        bytes on their way in, so they are hashed once)."""
        return AtomicFile(self.blob_path(digest))

    def read_blob(self, digest: Digest, limit: int = MANIFEST_LIMIT) -> bytes:
        """A small blob (manifest, config) whole, verified."""
        path = self.blob_path(digest)
        try:
            with path.open("rb") as f:
                data = f.read(limit + 1)
        except OSError as exc:
            raise InvalidLayout(f"{path}: missing blob ({exc.strerror})") from None
        if len(data) > limit:
            raise InvalidLayout(f"{path}: larger than {limit} bytes")
        try:
            verify_bytes(data, digest)
        except DigestMismatch:
            # A layout is the caller's input: a corrupt one is a usage error, not the network's.
            raise InvalidLayout(f"{path}: content does not match its digest") from None
        return data

    def iter_blob(self, digest: Digest, offset: int = 0, length: int | None = None) -> Iterator[bytes]:
        """``length`` bytes of a blob from ``offset``, in 1 MiB reads (for uploads)."""
        path = self.blob_path(digest)
        try:
            f = path.open("rb")
        except OSError as exc:
            raise InvalidLayout(f"{path}: missing blob ({exc.strerror})") from None
        with f:
            f.seek(offset)
            remaining = length if length is not None else -1
            while remaining != 0:
                block = f.read(_READ_SIZE if remaining < 0 else min(_READ_SIZE, remaining))
                if not block:
                    if remaining > 0:
                        raise InvalidLayout(f"{path}: shorter than its descriptor says")
                    return
                if remaining > 0:
                    remaining -= len(block)
                yield block

    def document(self, descriptor: Descriptor) -> Document:
        """The manifest or index ``descriptor`` names, read, verified and parsed."""
        data = self.read_blob(descriptor.digest)
        try:
            return parse_manifest(data, descriptor.media_type)
        except InvalidManifest as exc:
            raise InvalidLayout(f"{self.blob_path(descriptor.digest)}: {exc}") from None
