"""Blob upload flows: existence check, cross-repository mount, monolithic and chunked upload.

The bytes come from a :data:`BlobSource`, a callable ``(offset, length) -> chunks``
returning a lazy iterable (a file opened at an offset when first read), or from
another registry's response relayed as it arrives.  The core never reads them
itself: it wraps them in a :class:`~ocireg._flow.BlobBody` that the driver checks
and hands to the transport, so a blob streams from its source to the socket with
memory bounded by one chunk.
"""

from __future__ import annotations

import contextlib
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ._auth import Scope
from ._digest import Digest
from ._endpoints import head_blob
from ._errorbody import expect
from ._errors import (
    DigestMismatch,
    InvalidArgument,
    InvalidResponse,
    RegistryError,
    RemoteError,
    ResponseError,
    TransportError,
)
from ._flow import BlobBody, Flow, call, close
from ._http import Body, Response, add_query
from ._manifest import Descriptor
from ._reference import validate_repository
from ._session import Session

__all__ = [
    "CHUNK_SIZE",
    "MONOLITHIC_LIMIT",
    "BlobSource",
    "PushedBlob",
    "Upload",
    "cancel_upload",
    "finish_upload",
    "push_blob",
    "start_upload",
    "upload_chunk",
    "upload_status",
]

BlobSource = Callable[[int, int], Iterable[bytes | bytearray | memoryview]]
"""``source(offset, length)``: the blob's bytes from ``offset``, ``length`` of them."""

MONOLITHIC_LIMIT = 128 << 20
"""Blobs up to this size go in one PUT; larger ones in chunks (resumable, bounded per request)."""

CHUNK_SIZE = 128 << 20
"""Default PATCH size; a registry's ``OCI-Chunk-Min-Length`` raises it.

Each PATCH costs the registry a commit of its upload state, so smaller chunks slow a
big push down (1 GiB to CNCF distribution: 1.06 x a single ``curl -T`` in 32 MiB
chunks, 0.95 to 1.05 x in 128 MiB ones); larger ones lose more to a broken connection,
since an upload resumes from the last chunk the registry acknowledged."""


@dataclass(frozen=True)
class Upload:
    """An upload session: where to send the next bytes and how many the registry holds."""

    location: str
    offset: int = 0
    min_chunk: int | None = None


@dataclass(frozen=True)
class PushedBlob:
    """How a blob reached the repository: ``"exists"``, ``"mounted"`` or ``"uploaded"``."""

    descriptor: Descriptor
    how: str


def _push_scopes(repo: str, mount_from: str | None = None) -> tuple[Scope, ...]:
    scopes = (Scope.push(repo),)
    return (*scopes, Scope.pull(mount_from)) if mount_from else scopes


def _upload_from(response: Response, offset: int) -> Upload:
    """The next upload state from a 202: its Location (resolved) and chunk minimum."""
    location = response.header("Location")
    if not location:
        raise InvalidResponse(f"{response.request.method} {response.request.url}: upload answer without Location")
    min_chunk = response.header("OCI-Chunk-Min-Length")
    return Upload(
        location=urllib.parse.urljoin(response.request.url, location),
        offset=offset,
        min_chunk=int(min_chunk) if min_chunk and min_chunk.strip().isdigit() else None,
    )


def start_upload(
    session: Session, repo: str, *, mount: Digest | None = None, mount_from: str | None = None, now: float
) -> Flow[Upload | None]:
    """``POST`` a new upload; with ``mount``/``mount_from``, try a cross-repository mount.

    Returns None when the mount succeeded (201: nothing to upload), else the upload
    session to send bytes to (a 202: new upload, or a mount the registry declined).
    """
    repo = validate_repository(repo)
    query: list[tuple[str, str]] = []
    if mount is not None and mount_from:
        query = [("mount", str(mount)), ("from", validate_repository(mount_from))]
    request = session.request("POST", session.url(f"/v2/{repo}/blobs/uploads/", query),
                              headers=(("Content-Length", "0"),), body=b"")
    response = yield from session.send(request, scopes=_push_scopes(repo, mount_from if query else None), now=now)
    if response.status == 201 and query:
        yield from close(response)
        return None
    yield from expect(response, 202)
    yield from close(response)
    return _upload_from(response, 0)


def upload_chunk(
    session: Session, repo: str, upload: Upload, body: Body, length: int, *, now: float
) -> Flow[Upload]:
    """``PATCH`` ``length`` bytes at ``upload.offset``; returns the moved-on upload."""
    if length <= 0:
        raise InvalidArgument("a chunk must hold at least one byte")
    end = upload.offset + length - 1
    request = session.request("PATCH", upload.location, headers=(
        ("Content-Type", "application/octet-stream"),
        ("Content-Range", f"{upload.offset}-{end}"),
        ("Content-Length", str(length)),
    ), body=body)
    response = yield from session.send(request, scopes=_push_scopes(repo), now=now)
    yield from expect(response, 202)
    yield from close(response)
    return _upload_from(response, end + 1)


def finish_upload(
    session: Session, repo: str, upload: Upload, digest: Digest, *, body: Body = b"", length: int = 0,
    now: float,
) -> Flow[Digest]:
    """``PUT`` the last bytes (or none) with the digest; the registry checks it and commits."""
    request = session.request("PUT", add_query(upload.location, [("digest", str(digest))]), headers=(
        ("Content-Type", "application/octet-stream"),
        ("Content-Length", str(length)),
    ), body=body)
    response = yield from session.send(request, scopes=_push_scopes(repo), now=now)
    yield from expect(response, 201, 204)
    yield from close(response)
    served = response.header("Docker-Content-Digest")
    if served and served.strip() != str(digest):
        raise DigestMismatch(f"registry committed {served.strip()} for {digest}",
                             expected=str(digest), actual=served.strip())
    return digest


def cancel_upload(session: Session, repo: str, upload: Upload, *, now: float) -> Flow[None]:
    """``DELETE`` an unfinished upload so the registry drops what it received."""
    request = session.request("DELETE", upload.location)
    response = yield from session.send(request, scopes=_push_scopes(repo), now=now)
    yield from close(response)


def push_blob(
    session: Session,
    repo: str,
    descriptor: Descriptor,
    source: BlobSource | None = None,
    *,
    relay: Callable[[], Flow[Response]] | None = None,
    mount_from: str | None = None,
    check_exists: bool = True,
    chunk_size: int = CHUNK_SIZE,
    monolithic_limit: int = MONOLITHIC_LIMIT,
    now: float,
) -> Flow[PushedBlob]:
    """Make ``descriptor``'s blob exist in ``repo``, moving as few bytes as possible.

    HEAD first (skip what exists), then a cross-repository mount when a source
    repository on the same registry is known, then a monolithic PUT for small blobs
    or PATCH chunks for large ones.  The bytes come from ``source`` (re-readable at
    any offset: bytes, a file, a layout), or from the response ``relay`` opens (a
    blob streamed from another registry, sent in one PUT whatever its size since it
    cannot be re-read).  The driver checks the bytes against the descriptor while
    they go out; a failed upload is cancelled, so nothing of it stays behind.
    """
    if (source is None) == (relay is None):
        raise InvalidArgument("push_blob needs exactly one of source and relay")
    digest, size = descriptor.digest, descriptor.size
    if check_exists:
        info = yield from head_blob(session, repo, digest, now=now, scopes=_push_scopes(repo, mount_from))
        if info is not None:
            if info.size != size:
                raise DigestMismatch(f"{digest} exists in {repo} with size {info.size}, not {size}",
                                     expected=str(size), actual=str(info.size))
            return PushedBlob(descriptor, "exists")
    upload = yield from start_upload(session, repo, mount=digest, mount_from=mount_from, now=now)
    if upload is None:
        return PushedBlob(descriptor, "mounted")
    key = str(digest)
    resumes = 0
    try:
        if relay is not None:
            response = yield from relay()
            body = BlobBody(digest, size, relay=response, key=key)
            yield from finish_upload(session, repo, upload, digest, body=body, length=size, now=now)
            return PushedBlob(descriptor, "uploaded")
        assert source is not None
        while True:
            try:
                if size <= monolithic_limit and upload.offset == 0:
                    body = BlobBody(digest, size, chunks=source(0, size), key=key)
                    yield from finish_upload(session, repo, upload, digest, body=body, length=size, now=now)
                else:
                    step = max(chunk_size, upload.min_chunk or 0)
                    while upload.offset < size:
                        length = min(step, size - upload.offset)
                        body = BlobBody(digest, size, upload.offset, length,
                                        chunks=source(upload.offset, length), key=key)
                        upload = yield from upload_chunk(session, repo, upload, body, length, now=now)
                    yield from _finish_chunked(session, repo, upload, descriptor, source, now=now)
                return PushedBlob(descriptor, "uploaded")
            except TransportError:
                # The connection broke mid-upload: the bytes can be read again, so go on
                # from what the registry says it holds, or start this blob over.
                if resumes >= session.retry.resumes:
                    raise
                resumes += 1
                upload = yield from _resume_upload(session, repo, upload, now=now)
    except RegistryError:
        # Any failure, local too: a layout blob found short or corrupt while it streams
        # (InvalidLayout, a UsageError), or a sibling transfer's failure (Cancelled),
        # leaves the upload as open as a network error does.
        with contextlib.suppress(RemoteError):  # the original failure is the one to report
            yield from cancel_upload(session, repo, upload, now=now)
        raise


def _finish_chunked(
    session: Session, repo: str, upload: Upload, descriptor: Descriptor, source: BlobSource, *, now: float
) -> Flow[None]:
    """The closing PUT of a chunked upload; when the registry finds the digest wrong,
    the source's own verdict instead of the registry's.

    Chunks go unhashed (the registry hashes what it receives, and a running digest
    would not survive a resume from the registry's offset), so a corrupt source is
    found only here, as ``400 DIGEST_INVALID``.  Read once more, whole, the source
    says whose fault it is: a layout names its corrupt file, other bytes give the
    :class:`~ocireg.DigestMismatch` a monolithic upload gives.  A second read only on
    this failure path; a source that matches leaves the registry's error as it is.
    """
    try:
        yield from finish_upload(session, repo, upload, descriptor.digest, now=now)
    except ResponseError as exc:
        if "DIGEST_INVALID" in exc.codes:
            yield from call(_read_checked, BlobBody(descriptor.digest, descriptor.size,
                                                    chunks=source(0, descriptor.size)))
        raise


def _read_checked(body: BlobBody) -> None:
    for _ in body:  # a whole BlobBody checks its digest as it is read
        pass


def upload_status(session: Session, repo: str, upload: Upload, *, now: float) -> Flow[Upload | None]:
    """``GET`` an upload's state: where the registry's bytes end, or None if it lost them."""
    request = session.request("GET", upload.location)
    response = yield from session.send(request, scopes=_push_scopes(repo), now=now)
    if response.status != 204:
        yield from close(response)
        return None
    yield from close(response)
    held = (response.header("Range") or "").strip()
    first, _, last = held.partition("-")
    # "0-0" is how some registries say "nothing yet" as well as "one byte": ambiguous,
    # so it counts as nothing held (the blob starts over).
    if first != "0" or not last.isdigit() or int(last) == 0:
        return None
    return _upload_from(response, int(last) + 1)


def _resume_upload(session: Session, repo: str, upload: Upload, *, now: float) -> Flow[Upload]:
    """Where an interrupted upload goes on: the registry's own offset when it reports
    one, else a fresh upload from the start (the old one cancelled)."""
    status = yield from upload_status(session, repo, upload, now=now)
    if status is not None:
        return status
    with contextlib.suppress(RemoteError):
        yield from cancel_upload(session, repo, upload, now=now)
    fresh = yield from start_upload(session, repo, now=now)
    assert fresh is not None  # without a mount, a registry answers 202 or raises
    return fresh
