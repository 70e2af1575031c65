"""Where push and copy read documents and blobs from: a layout, another registry, bytes, files.

Each source answers with flows, so the image operations in :mod:`ocireg._image`
treat them alike and do no I/O: a layout's files are read through
:class:`~ocireg._flow.Call` effects or lazily by the transport, another
registry's through its session.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

from ._digest import Digest
from ._endpoints import get_manifest, open_blob
from ._errors import InvalidLayout, InvalidManifest, UsageError
from ._fileregion import FileRegion
from ._flow import Flow, call, now
from ._http import Response
from ._layout import OCILayout
from ._manifest import Descriptor, Document, parse_manifest
from ._session import Session
from ._upload import BlobSource

__all__ = ["ImageSource", "LayoutSource", "RegistrySource", "bytes_source", "file_source"]


class ImageSource(Protocol):
    """Documents and blobs by digest, for :func:`ocireg._image.send_tree`."""

    def document(self, digest: Digest, media_type: str) -> Flow[tuple[bytes, Document]]:
        """The document's exact bytes and its parsed form."""
        ...

    def ranges(self, descriptor: Descriptor) -> BlobSource | None:
        """The blob as re-readable ranges (chunked uploads possible), or None."""
        ...

    def relay(self, descriptor: Descriptor) -> Flow[Response]:
        """A response whose body is the blob (for sources that cannot seek)."""
        ...


class LayoutSource:
    """An OCI image layout on disk."""

    def __init__(self, layout: OCILayout) -> None:
        self.layout = layout

    def document(self, digest: Digest, media_type: str) -> Flow[tuple[bytes, Document]]:
        data = yield from call(self.layout.read_blob, digest)
        try:
            document = parse_manifest(data, media_type)
        except InvalidManifest as exc:
            raise InvalidLayout(f"{self.layout.blob_path(digest)}: {exc}") from None
        return data, document

    def ranges(self, descriptor: Descriptor) -> BlobSource:
        layout, digest = self.layout, descriptor.digest

        def source(offset: int, length: int) -> Iterable[bytes]:
            # A region of the blob's file where it is one: the same chunks, or the file
            # itself for a transport that sends it with sendfile.
            region = layout.blob_region(digest, offset, length)
            return region if region is not None else layout.iter_blob(digest, offset, length)

        return source

    def relay(self, descriptor: Descriptor) -> Flow[Response]:  # pragma: no cover - seekable
        raise UsageError("a layout is read in ranges, not relayed")
        yield


class RegistrySource:
    """A repository on a registry (its session may be another registry's)."""

    def __init__(self, session: Session, repo: str) -> None:
        self.session = session
        self.repo = repo

    def document(self, digest: Digest, media_type: str) -> Flow[tuple[bytes, Document]]:
        result = yield from get_manifest(self.session, self.repo, digest, now=(yield from now()))
        return result.body, result.document

    def ranges(self, descriptor: Descriptor) -> None:
        return None  # a GET cannot be re-read at an offset: one PUT per blob

    def relay(self, descriptor: Descriptor) -> Flow[Response]:
        return (yield from open_blob(self.session, self.repo, descriptor.digest, now=(yield from now())))


def bytes_source(data: bytes) -> BlobSource:
    """Ranges of ``data``."""
    view = memoryview(data)

    def source(offset: int, length: int) -> Iterator[memoryview]:
        yield view[offset:offset + length]

    return source


def file_source(path: Path) -> BlobSource:
    """Ranges of the file at ``path``, opened lazily when the transport starts sending
    (regions of it: chunks, or the file itself for a transport that sends it with sendfile)."""

    def opener() -> tuple[BinaryIO, int]:
        file = path.open("rb")
        return file, os.fstat(file.fileno()).st_size

    def shrank() -> Exception:
        return UsageError(f"{path}: file shrank while it was being uploaded")

    def source(offset: int, length: int) -> FileRegion:
        return FileRegion(opener, offset, length, shrank=shrank)

    return source
