"""Image operations as flows: everything above a single request, shared by every driver.

Listings with pagination, a manifest for a platform, tags and deletes, pull into a
layout, push from a layout and copy between repositories or registries.  Every
decision is here (which requests, in what order, what to skip, what runs at once);
:class:`~ocireg.Registry` and :class:`~ocireg.AsyncRegistry` only run these flows.

Independent transfers (the blobs of an image, the children of an index) are handed
to the driver as :class:`~ocireg._flow.Parallel` sub-flows; results never depend on
the order they finish in.  The time for token expiry is read with the ``Now``
effect before each request, so a long pull never uses a stale clock.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from . import _endpoints as ep
from ._digest import Digest, DigestVerifier
from ._errors import (
    BlobUnknown,
    InvalidArgument,
    InvalidResponse,
    ProtocolError,
    TransportTimeout,
    UsageError,
)
from ._files import AtomicFile, FileObjectSink, MemorySink, file_digest
from ._flow import Flow, Sink, StreamBody, call, close, now, parallel
from ._layout import MAX_DEPTH, REF_NAME, OCILayout
from ._manifest import Descriptor, Document, Index, Platform, SchemaV1Manifest
from ._paginate import Page, paginate
from ._reference import validate_repository, validate_tag
from ._results import CopyResult, Listing, PullResult, last_of
from ._session import Session
from ._sources import ImageSource, LayoutSource, RegistrySource, bytes_source, file_source
from ._transfer import BlobRef, blobs_of, filter_index, parse_platform_arg
from ._upload import CHUNK_SIZE, MONOLITHIC_LIMIT, PushedBlob, push_blob

__all__ = [
    "MAX_DEPTH",
    "blob_into",
    "blob_size",
    "catalog",
    "copy",
    "delete_manifest",
    "iter_catalog",
    "iter_tags",
    "manifest",
    "platform_digest",
    "pull",
    "push",
    "rmtag",
    "send_tree",
    "tag",
    "tags",
    "upload",
]



# --- listings -------------------------------------------------------------------------


def _pager(session: Session, repo: str | None) -> Callable[[str], Flow[Page]]:
    def page(url: str) -> Flow[Page]:
        t = yield from now()
        if repo is None:
            return (yield from ep.catalog_page(session, url, now=t))
        return (yield from ep.tags_page(session, repo, url, now=t))

    return page


def _listing(session: Session, repo: str | None, first_url: str, auto: bool) -> Flow[Listing]:
    page = _pager(session, repo)
    if auto:
        merged = yield from paginate(page, first_url, max_pages=session.limits.max_pages)
        return Listing(repo, merged.items)
    one = yield from page(first_url)
    return Listing(one.name, one.items, last_of(one.next_url))


def catalog(session: Session, count: int | None = None, last: str | None = None,
            auto_paginate: bool = False) -> Flow[Listing]:
    """Repositories in the registry, one page or all of them."""
    return (yield from _listing(session, None, ep.catalog_url(session, count, last), auto_paginate))


def iter_catalog(session: Session, page_size: int | None = None) -> Flow[Page]:
    """Every repository, emitted page by page (the gem's ``paginate_doget``)."""
    return (yield from paginate(_pager(session, None), ep.catalog_url(session, page_size),
                                max_pages=session.limits.max_pages))


def tags(session: Session, repo: str, count: int | None = None, last: str | None = None,
         with_digests: bool = False, auto_paginate: bool = False) -> Flow[Listing]:
    """Tags of ``repo``; with ``with_digests`` each tag's manifest digest too (asked at once)."""
    listing = yield from _listing(session, repo, ep.tags_url(session, repo, count, last), auto_paginate)
    if not with_digests:
        return listing
    found = yield from parallel([_manifest_digest(session, repo, t) for t in listing.items])
    return Listing(listing.name, listing.items, listing.last, dict(zip(listing.items, found, strict=True)))


def iter_tags(session: Session, repo: str, page_size: int | None = None) -> Flow[Page]:
    """Every tag of ``repo``, emitted page by page."""
    return (yield from paginate(_pager(session, repo), ep.tags_url(session, repo, page_size),
                                max_pages=session.limits.max_pages))


# --- manifests ------------------------------------------------------------------------


def _manifest_digest(session: Session, repo: str, reference: str | Digest) -> Flow[Digest]:
    return (yield from ep.manifest_digest(session, repo, reference, now=(yield from now())))


def _get(session: Session, repo: str, reference: str | Digest) -> Flow[ep.ManifestResult]:
    return (yield from ep.get_manifest(session, repo, reference, now=(yield from now())))


def manifest(session: Session, repo: str, reference: str | Digest,
             platform: str | Platform | None = None) -> Flow[ep.ManifestResult]:
    """The manifest or index as served; with ``platform``, an index resolved to that child."""
    result = yield from _get(session, repo, reference)
    wanted = parse_platform_arg(platform)
    if wanted is not None and isinstance(result.document, Index):
        result = yield from _get(session, repo, ep.resolve_platform(result, wanted))
    return result


def platform_digest(session: Session, image: str, tag: str | Digest, architecture: str | None = None,
                    os: str | None = None, variant: str | None = None) -> Flow[Digest]:
    """The gem's ``digest``: the matching child of an index, else the document's own digest."""
    platform = None
    if architecture is not None or os is not None:
        if architecture is None or os is None:
            raise InvalidArgument("give both architecture and os to pick a platform")
        platform = Platform(os=os, architecture=architecture, variant=variant)
    result = yield from _get(session, image, tag)
    return ep.resolve_platform(result, platform)


def tag(session: Session, repo: str, reference: str | Digest, newrepo: str, newtag: str) -> Flow[Digest]:
    """``repo:reference`` also as ``newrepo:newtag``, its bytes unchanged.

    Within a repository only the manifest is PUT; across repositories the blobs are
    mounted first (no byte moves), so the registry accepts the manifest.
    """
    validate_tag(newtag)
    if validate_repository(newrepo) != validate_repository(repo):
        result = yield from copy(session, session, repo, reference, newrepo, newtag)
        return result.descriptor.digest
    found = yield from _get(session, repo, reference)
    put = yield from ep.put_manifest(session, newrepo, newtag, found.body, found.media_type,
                                     now=(yield from now()))
    return put.digest


def delete_manifest(session: Session, repo: str, reference: str | Digest) -> Flow[Digest]:
    """Delete a manifest by digest, or by a tag resolved to its digest first."""
    digest = reference if isinstance(reference, Digest) else None
    if digest is None:
        digest = yield from _manifest_digest(session, repo, reference)
    yield from ep.delete_manifest(session, repo, digest, now=(yield from now()))
    return digest


def rmtag(session: Session, image: str, tag: str) -> Flow[Digest]:
    """The gem's ``rmtag``: delete the manifest ``tag`` points to (by digest)."""
    return (yield from delete_manifest(session, image, validate_tag(tag)))


# --- blobs ----------------------------------------------------------------------------


def blob_size(session: Session, repo: str, digest: Digest) -> Flow[int]:
    info = yield from ep.head_blob(session, repo, digest, now=(yield from now()))
    if info is None:
        raise BlobUnknown(f"HEAD {repo}@{digest}: 404: blob unknown", status=404, method="HEAD",
                          url=session.url(f"/v2/{repo}/blobs/{digest}"))
    return info.size


def blob_into(session: Session, repo: str, digest: Digest, sink: Sink, size: int | None = None) -> Flow[Any]:
    """Stream the blob into ``sink``, verified on the way; committed only if it matched.

    A body cut off midway is resumed from where it stopped (``Range``), accepted
    only as a 206 with exactly the expected ``Content-Range``; any other answer
    starts the download over.  Returns what the sink's ``commit`` returned (the
    bytes, the path, the file); on any failure the sink is aborted.
    """
    verifier = DigestVerifier(digest, size)
    yield from call(sink.open)
    try:
        response = yield from ep.open_blob(session, repo, digest, now=(yield from now()))
        resumes = 0
        while True:
            try:
                yield StreamBody(response, sink, verifier, key=str(digest), total=size)
                break
            except (ProtocolError, TransportTimeout):
                if resumes >= session.retry.resumes:
                    raise
                resumes += 1
            offset = verifier.bytes_seen
            response = yield from ep.open_blob(session, repo, digest, now=(yield from now()), offset=offset)
            if not ep.resumed_at(response, offset, size):
                if response.status != 200:  # a range we did not ask for: never splice it in
                    yield from close(response)
                    response = yield from ep.open_blob(session, repo, digest, now=(yield from now()))
                yield from call(sink.reset)
                verifier = DigestVerifier(digest, size)
        verifier.finish()
        result = yield from call(sink.commit)
    except GeneratorExit:
        sink.abort()  # the flow is being discarded: no effect can be asked for any more
        raise
    except BaseException:
        yield from call(sink.abort)
        raise
    return result


def blob_sink(target: Any, repo: str, digest: Digest, max_memory: int) -> Sink:
    """The sink :meth:`Registry.blob` writes to: memory (capped), a path, or a file object."""
    if target is None:
        return MemorySink(max_memory, what=f"{repo}@{digest}")
    if isinstance(target, str | Path) or hasattr(target, "__fspath__"):
        return AtomicFile(target)
    if callable(getattr(target, "write", None)):
        return FileObjectSink(target)
    raise InvalidArgument(f"outpath must be a path or a binary file, not {type(target).__name__}")


def upload(session: Session, repo: str, data: bytes | str | os.PathLike[str], digest: Digest | None = None, *,
           media_type: str = "application/octet-stream", mount_from: str | None = None,
           chunk_size: int = CHUNK_SIZE, monolithic_limit: int = MONOLITHIC_LIMIT) -> Flow[PushedBlob]:
    """Upload a blob from bytes or a file (streamed from disk); skipped when present."""
    if isinstance(data, bytes | bytearray | memoryview):
        data = bytes(data)
        d = digest or Digest.of(data)
        size, source = len(data), bytes_source(data)
    elif isinstance(data, str | os.PathLike):
        path = Path(data)
        d = digest or (yield from call(file_digest, path))
        size, source = (yield from call(os.path.getsize, path)), file_source(path)
    else:
        raise InvalidArgument(f"data must be bytes or a file path, not {type(data).__name__}")
    descriptor = Descriptor(media_type=media_type, digest=d, size=size)
    return (yield from push_blob(session, repo, descriptor, source, mount_from=mount_from, chunk_size=chunk_size,
                                 monolithic_limit=monolithic_limit, now=(yield from now())))


# --- walking an image -----------------------------------------------------------------


class _Doc:
    """A document of an image being moved: its descriptor fields, exact bytes, parsed form."""

    __slots__ = ("body", "digest", "document", "media_type")

    def __init__(self, digest: Digest, media_type: str, body: bytes, document: Document) -> None:
        self.digest, self.media_type, self.body, self.document = digest, media_type, body, document


def _children(level: Sequence[_Doc], seen: set[Digest]) -> list[Descriptor]:
    found: list[Descriptor] = []
    for doc in level:
        if isinstance(doc.document, Index):
            for child in doc.document.manifests:
                if child.digest not in seen:
                    seen.add(child.digest)
                    found.append(child)
    return found


def _walk(root: _Doc, fetch: Callable[[Descriptor], Flow[_Doc | None]]) -> Flow[list[list[_Doc]]]:
    """The documents under ``root``, level by level (each level fetched at once).

    ``fetch`` returns None for a child to leave out (one the destination already has:
    a manifest present by digest implies its whole tree is present).
    """
    levels = [[root]]
    seen = {root.digest}
    while children := _children(levels[-1], seen):
        if len(levels) > MAX_DEPTH:
            raise InvalidResponse(f"{root.digest}: indexes nested more than {MAX_DEPTH} deep")
        fetched = yield from parallel([fetch(child) for child in children])
        level = [doc for doc in fetched if doc is not None]
        if not level:
            break
        levels.append(level)
    return levels


def _unique_blobs(levels: Sequence[Sequence[_Doc]]) -> list[BlobRef]:
    seen: dict[Digest, BlobRef] = {}
    for level in levels:
        for doc in level:
            for blob in blobs_of(doc.document):
                seen.setdefault(blob.digest, blob)
    return list(seen.values())


# --- pull -----------------------------------------------------------------------------


def pull(session: Session, repo: str, reference: str | Digest, directory: str | Path, *,
         platform: str | Platform | None = None, ref_name: str | None = None) -> Flow[PullResult]:
    """Pull an image into the OCI image layout ``directory`` (created if missing).

    An index is pulled whole (every child) unless ``platform`` picks one child.
    Blobs already in the layout are kept only if their bytes verify.  Blobs are
    fetched at once (up to the driver's ``jobs``), then the manifests, children
    first, and the ``index.json`` entry last: a layout never names what it lacks.
    """
    layout = yield from call(OCILayout.create, directory)
    result = yield from manifest(session, repo, reference, platform)
    root = _Doc(result.digest, result.media_type, result.body, result.document)

    def fetch(child: Descriptor) -> Flow[_Doc | None]:
        got = yield from _get(session, repo, child.digest)
        return _Doc(got.digest, got.media_type, got.body, got.document)

    levels = yield from _walk(root, fetch)
    blobs = _unique_blobs(levels)
    fetched = yield from parallel([_pull_blob(session, repo, layout, blob) for blob in blobs])
    for level in reversed(levels):
        for doc in level:
            if not (yield from call(layout.has_blob, doc.digest, len(doc.body))):
                yield from call(layout.write_blob, doc.digest, [doc.body], len(doc.body))
    name = ref_name or (str(reference) if not isinstance(reference, Digest) else None)
    yield from call(layout.add_ref, result.descriptor, name)
    count = sum(fetched)
    return PullResult(layout.path, result.descriptor, count, len(blobs) - count)


def _pull_blob(session: Session, repo: str, layout: OCILayout, blob: BlobRef) -> Flow[bool]:
    """Fetch one blob into the layout unless a verified copy is there; True if fetched."""
    if (yield from call(layout.has_blob, blob.digest, blob.size)):
        return False
    yield from blob_into(session, repo, blob.digest, layout.blob_sink(blob.digest), blob.size)
    return True


# --- push and copy --------------------------------------------------------------------


def push(session: Session, layout: OCILayout | str | Path, repo: str, tag: str | None = None, *,
         ref_name: str | None = None, mount_from: str | None = None, pin: Digest | None = None) -> Flow[Descriptor]:
    """Push an image or index from an OCI image layout to ``repo`` (and ``tag``).

    ``ref_name`` picks the image in the layout (default: its only one); ``tag``
    defaults to that name when it is a valid tag.  ``pin`` (``repo:tag@digest``) is
    checked before anything is sent: a tag never moves to another digest.
    """
    source_layout = layout if isinstance(layout, OCILayout) else OCILayout(layout)
    descriptor = yield from call(source_layout.resolve, ref_name)
    _check_pin(descriptor.digest, pin)
    name = dict(descriptor.annotations).get(REF_NAME)
    target = tag or (name if name and _is_tag(name) else None)
    yield from send_tree(session, repo, LayoutSource(source_layout), descriptor.digest,
                         descriptor.media_type, mount_from, tag=target)
    return Descriptor(media_type=descriptor.media_type, digest=descriptor.digest, size=descriptor.size)


def copy(src: Session, dst: Session, repo: str, reference: str | Digest, dest_repo: str,
         dest_tag: str | None = None, *, platforms: Sequence[str | Platform] | None = None,
         referrers: bool = False, pin: Digest | None = None) -> Flow[CopyResult]:
    """Copy ``repo:reference`` from ``src`` to ``dest_repo:dest_tag`` on ``dst``.

    On the same registry every blob is mounted and no byte moves; across registries
    each blob streams from source to destination, verified on the way.  An index
    with one platform asked for is copied as that platform's child manifest, its
    digest kept (as skopeo and crane do); several platforms make a new, filtered
    index (its digest differs, and the result says so).  ``referrers`` copies the
    manifests whose subject is the image (signatures, SBOMs).  ``pin`` is the digest
    the destination must get (``repo:tag@digest``), checked before anything moves.
    """
    if dest_tag is not None:
        validate_tag(dest_tag)
    result = yield from _get(src, repo, reference)
    wanted = [p for p in (parse_platform_arg(p) for p in platforms or ()) if p is not None]
    sent = result
    if wanted and isinstance(result.document, Index):
        if len(wanted) == 1:
            sent = yield from _get(src, repo, ep.resolve_platform(result, wanted[0]))
        else:
            index = filter_index(result.document, wanted)
            sent = ep.ManifestResult(index.raw, index.media_type, index.digest, (), index)
    _check_pin(sent.digest, pin)
    source = RegistrySource(src, repo)
    mount_from = repo if src.origin == dst.origin else None
    yield from send_tree(dst, dest_repo, source, sent.digest, sent.media_type, mount_from,
                         known=(sent.body, sent.document), tag=dest_tag)
    copied: tuple[Descriptor, ...] = ()
    if referrers:
        copied = yield from ep.referrers(src, repo, result.digest, now=(yield from now()))
        # One at a time: without the referrers API each one rewrites the same tag index.
        for referrer in copied:
            yield from send_tree(dst, dest_repo, source, referrer.digest, referrer.media_type, mount_from)
    changed = sent is not result
    return CopyResult(sent.descriptor, changed and len(wanted) > 1, copied, platform_child=changed and len(wanted) == 1)


def send_tree(dst: Session, repo: str, source: ImageSource, digest: Digest, media_type: str,
              mount_from: str | None = None, *, known: tuple[bytes, Document] | None = None,
              tag: str | None = None) -> Flow[None]:
    """Make the document ``digest`` and everything it refers to exist in ``repo``.

    Whatever the destination already holds by digest is skipped (a manifest present
    implies its tree).  Then every blob goes at once (mounted, or uploaded from the
    source), then the manifests level by level, children first, so the registry
    never receives a manifest that refers to something it lacks; the root last,
    under ``tag`` when given.  ``known`` is the root when the caller holds it.
    """
    if (yield from _exists(dst, repo, digest)):
        if tag:
            body, document = known or (yield from source.document(digest, media_type))
            yield from _put(dst, repo, tag, body, document.media_type)
        return
    body, document = known or (yield from source.document(digest, media_type))
    root = _Doc(digest, media_type, body, document)

    def fetch(child: Descriptor) -> Flow[_Doc | None]:
        if (yield from _exists(dst, repo, child.digest)):
            return None
        child_body, child_doc = yield from source.document(child.digest, child.media_type)
        return _Doc(child.digest, child.media_type, child_body, child_doc)

    levels = yield from _walk(root, fetch)
    if any(isinstance(doc.document, SchemaV1Manifest) for level in levels for doc in level):
        raise UsageError("schema1 manifests cannot be pushed; registries refuse them")
    yield from parallel([_send_blob(dst, repo, source, blob, mount_from) for blob in _unique_blobs(levels)])
    for level in reversed(levels[1:]):
        yield from parallel([_put(dst, repo, doc.digest, doc.body, doc.document.media_type) for doc in level])
    yield from _put(dst, repo, tag or digest, body, document.media_type)


def _exists(session: Session, repo: str, digest: Digest) -> Flow[bool]:
    return (yield from ep.head_manifest_exists(session, repo, digest, now=(yield from now())))


def _put(session: Session, repo: str, reference: str | Digest, body: bytes, media_type: str) -> Flow[Digest]:
    result = yield from ep.put_manifest(session, repo, reference, body, media_type, now=(yield from now()))
    return result.digest


def _send_blob(dst: Session, repo: str, source: ImageSource, blob: BlobRef,
               mount_from: str | None) -> Flow[PushedBlob]:
    assert blob.size is not None  # only schema1 lacks sizes, and it was refused
    descriptor = Descriptor(media_type=blob.media_type or "application/octet-stream",
                            digest=blob.digest, size=blob.size)
    t = yield from now()
    ranges = source.ranges(descriptor)
    if ranges is not None:
        return (yield from push_blob(dst, repo, descriptor, ranges, mount_from=mount_from,
                                     monolithic_limit=MONOLITHIC_LIMIT, now=t))
    return (yield from push_blob(dst, repo, descriptor, relay=lambda: source.relay(descriptor),
                                 mount_from=mount_from, now=t))


def _check_pin(digest: Digest, pin: Digest | None) -> None:
    if pin is not None and pin != digest:
        raise InvalidArgument(f"the image to send is {digest}, not the pinned {pin}: nothing was sent")


def _is_tag(name: str) -> bool:
    try:
        validate_tag(name)
    except ValueError:
        return False
    return True
