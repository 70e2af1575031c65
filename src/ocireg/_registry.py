"""The blocking driver: the gem's ``Registry`` API, running the core's flows over a transport.

Every method builds a flow from :mod:`ocireg._endpoints` / :mod:`ocireg._upload`
and runs it with :func:`ocireg._driver.run_flow`, reading the clock once per flow.
What is left here is I/O: streaming blob bodies through a verifier into files or
into another registry's upload, and walking the documents of an image.
"""

from __future__ import annotations

import os
import time
import urllib.parse
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol, TypeVar

from . import _artifact
from . import _endpoints as ep
from ._artifact import ArtifactFile, PulledArtifact
from ._auth import CredentialProvider, Credentials, Scope
from ._digest import Digest, verified_chunks
from ._driver import iter_body, run_flow
from ._errors import BlobUnknown, InvalidArgument, UsageError
from ._files import atomic_write, file_digest
from ._flow import Flow, read_body
from ._http import Body, Headers, is_loopback_netloc
from ._layout import REF_NAME, OCILayout
from ._manifest import (
    Descriptor,
    Document,
    Index,
    Manifest,
    Platform,
    SchemaV1Manifest,
)
from ._paginate import Page, Pagination
from ._progress import NullProgress, Progress, track
from ._reference import api_host, validate_repository, validate_tag
from ._session import Limits, Session
from ._transfer import blobs_of, filter_index, parse_platform_arg
from ._transport import Transport
from ._upload import CHUNK_SIZE, MONOLITHIC_LIMIT, BlobSource, PushedBlob, push_blob

__all__ = ["CopyResult", "Listing", "PullResult", "RawResponse", "Registry", "default_transport"]

T = TypeVar("T")

IN_MEMORY_BLOB_LIMIT = 256 << 20
"""Largest blob :meth:`Registry.blob` returns as bytes; beyond, stream it to a file."""


def default_transport(
    *, open_timeout: float = 2, read_timeout: float = 5, ca_file: str | None = None, insecure: bool = False
) -> Transport:
    """urllib3 when it is installed, else h11, else an error naming the extra to install."""
    try:
        from ocireg_urllib3 import Urllib3Transport
    except ImportError:
        pass
    else:
        return Urllib3Transport(open_timeout=open_timeout, read_timeout=read_timeout, ca_file=ca_file, insecure=insecure)
    try:
        from ocireg_h11 import H11Transport
    except ImportError:
        raise UsageError(
            "no HTTP transport is installed: pip install 'ocireg[urllib3]' or 'ocireg[h11]', "
            "or pass transport="
        ) from None
    return H11Transport(open_timeout=open_timeout, read_timeout=read_timeout, ca_file=ca_file, insecure=insecure)


def _registry_url(url: str) -> str:
    """A base URL; a bare host gets https, or http on loopback (as crane does).

    Docker Hub's names (``docker.io``, ``index.docker.io``) become the host its API
    answers on, as references are resolved.
    """
    if "://" in url:
        return url
    netloc = api_host(url.rstrip("/"))
    return f"{'http' if is_loopback_netloc(netloc) else 'https'}://{netloc}"


@dataclass(frozen=True)
class Listing:
    """A tag or repository list: ``items``, the ``last`` item to continue from, digests if asked."""

    name: str | None
    items: tuple[str, ...]
    last: str | None = None
    digests: dict[str, Digest] = field(default_factory=dict)

    @property
    def tags(self) -> tuple[str, ...]:
        return self.items

    @property
    def repositories(self) -> tuple[str, ...]:
        return self.items


@dataclass(frozen=True)
class RawResponse:
    """The answer of :meth:`Registry.request`: status, headers and the (capped) body."""

    status: int
    headers: Headers
    body: bytes = field(repr=False)


@dataclass(frozen=True)
class PullResult:
    """What :meth:`Registry.pull` put in the layout."""

    layout: Path
    descriptor: Descriptor
    blobs_fetched: int
    blobs_reused: int


class Registry:
    """A registry client: every method of docker_registry2's ``Registry``, plus push and copy.

    ``url`` is the registry's base URL (``https://ghcr.io``, ``localhost:5000``).
    Credentials are ``username``/``password``, or ``credentials`` (a
    :class:`Credentials` or a provider called with the host, e.g. a
    :class:`~ocireg.DockerConfigStore`).  ``progress`` receives byte counts per blob as
    they move (``start``/``advance``/``finish``, see ``ocireg._progress.Progress``).
    Use it as a context manager, or call
    :meth:`close`, to release pooled connections.
    """

    def __init__(
        self,
        url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        credentials: Credentials | CredentialProvider | None = None,
        open_timeout: float = 2,
        read_timeout: float = 5,
        transport: Transport | None = None,
        insecure: bool = False,
        ca_file: str | None = None,
        limits: Limits | None = None,
        clock: Callable[[], float] = time.time,
        progress: Progress | None = None,
    ) -> None:
        if credentials is not None and (username is not None or password is not None):
            raise InvalidArgument("give either username/password or credentials, not both")
        if username is not None or password is not None:
            credentials = Credentials(username=username, password=password)
        self.url = _registry_url(url)
        self.session = Session(self.url, credentials=credentials, insecure=insecure, limits=limits or Limits())
        self._own_transport = transport is None
        self.transport = transport or default_transport(
            open_timeout=open_timeout, read_timeout=read_timeout, ca_file=ca_file, insecure=insecure
        )
        self._clock = clock
        self.progress: Progress = progress or NullProgress()

    # --- plumbing -----------------------------------------------------------------

    def run(self, flow: Callable[..., Flow[T]], *args: Any, **kwargs: Any) -> T:
        """Run a core flow function against this registry: ``flow(session, *args, now=..., **kwargs)``."""
        return run_flow(flow(self.session, *args, now=self._clock(), **kwargs), self.transport)

    def close(self) -> None:
        if self._own_transport:
            self.transport.close()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Registry {self.url}>"

    @property
    def host(self) -> str:
        return self.session.host

    def request(
        self,
        method: str,
        path: str,
        *,
        headers: Headers = (),
        body: Body = None,
        scopes: Sequence[Scope] = (),
        limit: int | None = None,
    ) -> RawResponse:
        """A raw request (the gem's ``doget``/``doput``/``dohead``/``dodelete``).

        It goes through the same authentication and redirect flows as every other
        call; the body is read up to ``limit`` (default: the manifest cap).
        """
        cap = limit if limit is not None else self.session.limits.manifest

        def flow(session: Session, *, now: float) -> Flow[RawResponse]:
            request = session.request(method, path, headers=headers, body=body)
            response = yield from session.send(request, scopes=scopes, now=now)
            data = yield from read_body(response, cap)
            return RawResponse(response.status, response.headers, data)

        return self.run(flow)

    # --- listing -------------------------------------------------------------------

    def ping(self) -> Headers:
        """``GET /v2/``: raises unless the registry answers and accepts our credentials."""
        return self.run(ep.ping)

    def _listing(self, first_url: str, page: Callable[..., Flow[Page]], args: tuple[Any, ...], auto: bool) -> Listing:
        if auto:
            return Listing(args[0] if args else None, tuple(self._iter_pages(first_url, page, args)))
        result = self.run(page, *args, first_url)
        return Listing(result.name, result.items, _last_of(result))

    def _iter_pages(self, first_url: str, page: Callable[..., Flow[Page]], args: tuple[Any, ...]) -> Iterator[str]:
        # Pagination decides every next URL: same origin only, no loops, a page cap.
        pagination = Pagination(first_url, max_pages=self.session.limits.max_pages)
        while (url := pagination.next_request()) is not None:
            yield from pagination.feed(self.run(page, *args, url))

    def catalog(self, count: int | None = None, last: str | None = None, auto_paginate: bool = False) -> Listing:
        """Repositories in the registry (``/v2/_catalog``), one page or all of them."""
        return self._listing(ep.catalog_url(self.session, count, last), ep.catalog_page, (), auto_paginate)

    def iter_catalog(self, page_size: int | None = None) -> Iterator[str]:
        """Every repository, page by page, lazily (the gem's ``paginate_doget``)."""
        return self._iter_pages(ep.catalog_url(self.session, page_size), ep.catalog_page, ())

    def tags(
        self,
        repo: str,
        count: int | None = None,
        last: str | None = None,
        with_digests: bool = False,
        auto_paginate: bool = False,
    ) -> Listing:
        """Tags of ``repo``; with ``with_digests`` also each tag's manifest digest."""
        listing = self._listing(ep.tags_url(self.session, repo, count, last), ep.tags_page, (repo,), auto_paginate)
        if not with_digests:
            return listing
        digests = {tag: self.manifest_digest(repo, tag) for tag in listing.items}
        return Listing(listing.name, listing.items, listing.last, digests)

    def iter_tags(self, repo: str, page_size: int | None = None) -> Iterator[str]:
        """Every tag of ``repo``, page by page, lazily."""
        return self._iter_pages(ep.tags_url(self.session, repo, page_size), ep.tags_page, (repo,))

    # --- manifests -----------------------------------------------------------------

    def manifest(
        self, repo: str, reference: str | Digest, *, platform: str | Platform | None = None
    ) -> ep.ManifestResult:
        """The manifest or index as served: ``.body`` bytes, ``.media_type``, verified ``.digest``.

        With ``platform``, an index is resolved to the child manifest that platform picks.
        """
        result = self.run(ep.get_manifest, repo, reference)
        wanted = parse_platform_arg(platform)
        if wanted is not None and isinstance(result.document, Index):
            result = self.run(ep.get_manifest, repo, ep.resolve_platform(result, wanted))
        return result

    def manifest_digest(self, repo: str, reference: str | Digest) -> Digest:
        """The digest of what ``reference`` names (HEAD, falling back to GET)."""
        return self.run(ep.manifest_digest, repo, reference)

    def digest(
        self,
        image: str,
        tag: str | Digest,
        architecture: str | None = None,
        os: str | None = None,
        variant: str | None = None,
    ) -> Digest:
        """The digest for a platform: the matching child of an index, else the document's own."""
        result = self.manifest(image, tag)
        platform = None
        if architecture is not None or os is not None:
            if architecture is None or os is None:
                raise InvalidArgument("give both architecture and os to pick a platform")
            platform = Platform(os=os, architecture=architecture, variant=variant)
        return ep.resolve_platform(result, platform)

    @staticmethod
    def manifest_sum(manifest: Manifest | ep.ManifestResult) -> int:
        """Total size of an image manifest's layers."""
        document = manifest.document if isinstance(manifest, ep.ManifestResult) else manifest
        if not isinstance(document, Manifest):
            raise InvalidArgument("manifest_sum needs an image manifest, not an index")
        return document.layers_size

    def tag(self, repo: str, tag: str | Digest, newrepo: str, newtag: str) -> Digest:
        """Put the manifest ``repo:tag`` under ``newrepo:newtag``, its bytes and media type unchanged.

        Within a repository only the manifest is PUT; across repositories the blobs
        are mounted first (no byte moves), so the registry accepts the manifest.
        """
        validate_tag(newtag)
        if validate_repository(newrepo) != validate_repository(repo):
            return self.copy(repo, tag, self, newrepo, newtag).descriptor.digest
        result = self.manifest(repo, tag)
        return self.push_manifest(newrepo, newtag, result.body, result.media_type)

    def rmtag(self, image: str, tag: str) -> Digest:
        """Delete the manifest ``tag`` points to (registries delete by digest); returns it."""
        digest = self.manifest_digest(image, tag)
        self.run(ep.delete_manifest, image, digest)
        return digest

    def delete_manifest(self, repo: str, reference: str | Digest) -> Digest:
        """Delete a manifest by digest, or by tag resolved to its digest first."""
        digest = reference if isinstance(reference, Digest) else None
        if digest is None:
            digest = self.manifest_digest(repo, reference)
        self.run(ep.delete_manifest, repo, digest)
        return digest

    def referrers(self, repo: str, digest: str | Digest, artifact_type: str | None = None) -> tuple[Descriptor, ...]:
        """Manifests whose ``subject`` is ``digest`` (referrers API, else the tag schema)."""
        return self.run(ep.referrers, repo, _digest(digest), artifact_type=artifact_type)

    # --- blobs -----------------------------------------------------------------------

    def blob_size(self, repo: str, digest: str | Digest) -> int:
        """Size of a blob (HEAD)."""
        d = _digest(digest)
        info = self.run(ep.head_blob, repo, d)
        if info is None:
            raise BlobUnknown(f"HEAD {repo}@{d}: 404: blob unknown", status=404, method="HEAD",
                              url=self.session.url(f"/v2/{repo}/blobs/{d}"))
        return info.size

    def iter_blob(self, repo: str, digest: str | Digest, size: int | None = None) -> Generator[memoryview, None, None]:
        """A blob's bytes in 1 MiB views of one reused buffer, verified as they pass.

        The request is sent on the first ``next()``; the last step raises
        :class:`~ocireg.DigestMismatch` if the bytes (or their count) are wrong.
        Closing the generator early releases the connection.
        """
        d = _digest(digest)
        body = iter_body(self.run(ep.open_blob, repo, d))
        try:
            yield from track(self.progress, str(d), size, verified_chunks(body, d, size))
        finally:
            body.close()

    def blob(
        self,
        repo: str,
        digest: str | Digest,
        outpath: str | os.PathLike[str] | BinaryIO | None = None,
        *,
        max_memory: int = IN_MEMORY_BLOB_LIMIT,
    ) -> bytes | Path | BinaryIO:
        """A blob: to ``outpath`` (a path, written atomically; or a binary file), else its bytes.

        Every byte is verified against ``digest`` while it streams; a mismatch raises
        :class:`~ocireg.DigestMismatch` and leaves no file at the path.  Held in memory
        (no ``outpath``), a blob may be at most ``max_memory`` bytes: larger ones belong
        in a file or in :meth:`iter_blob`, so memory stays bounded whatever the server sends.
        """
        chunks = self.iter_blob(repo, digest)
        if outpath is None:
            data = bytearray()
            for chunk in chunks:
                data += chunk
                if len(data) > max_memory:
                    chunks.close()
                    raise InvalidArgument(
                        f"{repo}@{digest} is larger than {max_memory} bytes: give a path or use iter_blob"
                    )
            return bytes(data)
        if isinstance(outpath, str | os.PathLike):
            return atomic_write(outpath, chunks)
        for chunk in chunks:
            outpath.write(chunk)
        return outpath

    def delete_blob(self, repo: str, digest: str | Digest) -> None:
        """Delete a blob from a repository."""
        self.run(ep.delete_blob, repo, _digest(digest))

    # --- pull --------------------------------------------------------------------

    def pull(
        self,
        repo: str,
        reference: str | Digest,
        directory: str | os.PathLike[str],
        *,
        platform: str | Platform | None = None,
        ref_name: str | None = None,
    ) -> PullResult:
        """Pull an image into the OCI image layout ``directory`` (created if missing).

        An index is pulled whole (every child) unless ``platform`` picks one child.
        Blobs already in the layout are re-used only after their bytes are verified.
        ``ref_name`` (default: the tag, or the digest) names the image in ``index.json``.
        """
        layout = OCILayout.create(directory)
        result = self.manifest(repo, reference, platform=platform)
        stats = [0, 0]
        self._pull_document(repo, result, layout, stats)
        name = ref_name or (str(reference) if not isinstance(reference, Digest) else None)
        layout.add_ref(result.descriptor, name)
        return PullResult(layout.path, result.descriptor, stats[0], stats[1])

    def _pull_document(self, repo: str, result: ep.ManifestResult, layout: OCILayout, stats: list[int]) -> None:
        document = result.document
        if isinstance(document, Index):
            for child in document.manifests:
                self._pull_document(repo, self.manifest(repo, child.digest), layout, stats)
        for blob in blobs_of(document):
            if layout.has_blob(blob.digest, blob.size):
                stats[1] += 1
                continue
            layout.write_blob(blob.digest, self.iter_blob(repo, blob.digest, blob.size), blob.size)
            stats[0] += 1
        if not layout.has_blob(result.digest, len(result.body)):
            layout.write_blob(result.digest, [result.body], len(result.body))


    # --- push and copy (the gem left both empty) ------------------------------------

    def push_blob(
        self,
        repo: str,
        data: bytes | str | os.PathLike[str],
        digest: str | Digest | None = None,
        *,
        media_type: str = "application/octet-stream",
        mount_from: str | None = None,
        chunk_size: int = CHUNK_SIZE,
        monolithic_limit: int = MONOLITHIC_LIMIT,
    ) -> PushedBlob:
        """Upload a blob from bytes or a file, streamed from disk; skipped when present.

        Blobs up to ``monolithic_limit`` bytes go in one PUT, larger ones in PATCH
        chunks of ``chunk_size`` (or the registry's ``OCI-Chunk-Min-Length``).
        """
        if isinstance(data, bytes):
            d = _digest(digest) if digest is not None else Digest.of(data)
            descriptor = Descriptor(media_type=media_type, digest=d, size=len(data))
            source: BlobSource = _bytes_source(data)
        else:
            path = Path(data)
            d = _digest(digest) if digest is not None else file_digest(path)
            descriptor = Descriptor(media_type=media_type, digest=d, size=path.stat().st_size)
            source = _file_source(path)
        return self.run(push_blob, repo, descriptor, self._tracked(_verifying(source, descriptor), descriptor),
                        mount_from=mount_from, chunk_size=chunk_size, monolithic_limit=monolithic_limit)

    def push_manifest(self, repo: str, reference: str | Digest, body: bytes, media_type: str) -> Digest:
        """PUT a manifest or index as its exact bytes with its media type.

        A manifest with a ``subject`` on a registry without the referrers API also
        gets listed in the ``<alg>-<hex>`` referrers tag index (OCI 1.1 fallback).
        """
        result = self.run(ep.put_manifest, repo, reference, body, media_type)
        return result.digest

    def push(
        self,
        layout: str | os.PathLike[str] | OCILayout,
        repo: str,
        tag: str | None = None,
        *,
        ref_name: str | None = None,
        mount_from: str | None = None,
    ) -> Descriptor:
        """Push an image or index from an OCI image layout to ``repo`` (and ``tag``).

        ``ref_name`` picks the image in the layout (default: its only one); ``tag``
        defaults to that name.  Children go first, so the registry never receives a
        manifest that refers to something it lacks.
        """
        source = layout if isinstance(layout, OCILayout) else OCILayout(layout)
        descriptor = source.resolve(ref_name)
        name = dict(descriptor.annotations).get(REF_NAME)
        self._send_tree(_LayoutSource(source), repo, descriptor.digest, descriptor.media_type, mount_from)
        target = tag or (name if name and _is_tag(name) else None)
        if target:
            self.push_manifest(repo, target, source.read_blob(descriptor.digest), descriptor.media_type)
        return Descriptor(media_type=descriptor.media_type, digest=descriptor.digest, size=descriptor.size)

    def copy(
        self,
        repo: str,
        reference: str | Digest,
        dest_registry: Registry | str | None,
        dest_repo: str,
        dest_tag: str | None = None,
        *,
        platforms: Sequence[str | Platform] | None = None,
        referrers: bool = False,
    ) -> CopyResult:
        """Copy ``repo:reference`` to ``dest_repo:dest_tag`` on ``dest_registry``.

        ``dest_registry`` is this registry (or None), another :class:`Registry`, or a
        URL (opened with this one's transport).  On the same registry every blob is
        mounted and no byte moves; across registries each blob streams from source to
        destination, verified on the way, never held whole.  An index is copied with
        all its children, or filtered to ``platforms`` (a new index: its digest then
        differs, and the result says so).  ``referrers`` copies signatures, SBOMs and
        other manifests whose subject is the image.
        """
        dest = self if dest_registry is None else dest_registry
        if isinstance(dest, str):
            dest = Registry(dest, transport=self.transport)
        result = self.manifest(repo, reference)
        wanted = [p for p in (parse_platform_arg(p) for p in platforms or ()) if p is not None]
        source = _RegistrySource(self, repo)
        mount_from = repo if dest._same_registry(self) else None
        sent = result
        if wanted and isinstance(result.document, Index):
            index = filter_index(result.document, wanted)
            sent = ep.ManifestResult(index.raw, index.media_type, index.digest, (), index)
        dest._send_tree(source, dest_repo, sent.digest, sent.media_type, mount_from, known=sent)
        if dest_tag:
            dest.push_manifest(dest_repo, validate_tag(dest_tag), sent.body, sent.media_type)
        copied_referrers: tuple[Descriptor, ...] = ()
        if referrers:
            copied_referrers = self.referrers(repo, result.digest)
            for referrer in copied_referrers:
                dest._send_tree(source, dest_repo, referrer.digest, referrer.media_type, mount_from)
        return CopyResult(sent.descriptor, sent.digest != result.digest, copied_referrers)

    def push_artifact(
        self,
        repo: str,
        tag: str | None,
        files: Sequence[str | os.PathLike[str] | ArtifactFile | tuple[str | os.PathLike[str], str]],
        *,
        artifact_type: str | None = None,
        annotations: Mapping[str, str] | None = None,
        subject: str | Digest | Descriptor | None = None,
    ) -> Descriptor:
        """Push files as an OCI artifact, as oras does (see :mod:`ocireg._artifact`)."""
        return _artifact.push_artifact(self, repo, tag, files, artifact_type=artifact_type,
                                       annotations=annotations, subject=subject)

    def pull_artifact(
        self, repo: str, reference: str | Digest, directory: str | os.PathLike[str]
    ) -> PulledArtifact:
        """Write an artifact's files into ``directory`` by their titles, refusing unsafe ones."""
        return _artifact.pull_artifact(self, repo, reference, directory)

    def _tracked(self, source: BlobSource, descriptor: Descriptor) -> BlobSource:
        """``source`` whose bytes are reported to :attr:`progress` as they are sent."""
        progress, key = self.progress, str(descriptor.digest)

        def tracked(offset: int, length: int) -> Iterable[bytes | bytearray | memoryview]:
            return track(progress, key, descriptor.size, source(offset, length), offset)

        return tracked

    def _same_registry(self, other: Registry) -> bool:
        return other is self or other.session.origin == self.session.origin

    def _send_tree(
        self,
        source: _ImageSource,
        repo: str,
        digest: Digest,
        media_type: str,
        mount_from: str | None,
        *,
        known: ep.ManifestResult | None = None,
    ) -> None:
        """Push the document ``digest`` and everything it refers to, children first, by digest.

        ``known`` is the document when the caller already holds it (no second fetch).
        """
        if self.run(ep.head_manifest_exists, repo, digest):
            return  # a manifest present by digest implies its whole tree is present
        body, document = (known.body, known.document) if known else source.document(digest, media_type)
        if isinstance(document, Index):
            for child in document.manifests:
                self._send_tree(source, repo, child.digest, child.media_type, mount_from)
        if isinstance(document, SchemaV1Manifest):
            raise UsageError("schema1 manifests cannot be pushed; registries refuse them")
        for blob in blobs_of(document):
            assert blob.size is not None  # only schema1 lacks sizes
            descriptor = Descriptor(media_type=blob.media_type or "application/octet-stream",
                                    digest=blob.digest, size=blob.size)
            # A blob streamed from another registry cannot be re-read at an offset,
            # so it goes in one PUT whatever its size; a layout can be chunked.
            # Its download is already reported by the source registry's iter_blob.
            limit = MONOLITHIC_LIMIT if source.seekable else descriptor.size
            data = self._tracked(source.blob(descriptor), descriptor) if source.seekable else source.blob(descriptor)
            self.run(push_blob, repo, descriptor, data, mount_from=mount_from, monolithic_limit=limit)
        self.push_manifest(repo, digest, body, document.media_type)


@dataclass(frozen=True)
class CopyResult:
    """What :meth:`Registry.copy` put at the destination."""

    descriptor: Descriptor
    digest_changed: bool
    """True when a platform filter made a new index, whose digest differs from the source's."""
    referrers: tuple[Descriptor, ...] = ()


class _ImageSource(Protocol):
    """Where push and copy read documents and blobs from: a layout or another registry."""

    seekable: bool
    """Whether :meth:`blob` sources can start at any offset (for chunked uploads)."""

    def document(self, digest: Digest, media_type: str) -> tuple[bytes, Document]: ...

    def blob(self, descriptor: Descriptor) -> BlobSource: ...


class _LayoutSource:
    seekable = True

    def __init__(self, layout: OCILayout) -> None:
        self.layout = layout

    def document(self, digest: Digest, media_type: str) -> tuple[bytes, Document]:
        descriptor = Descriptor(media_type=media_type, digest=digest, size=0)
        return self.layout.read_blob(digest), self.layout.document(descriptor)

    def blob(self, descriptor: Descriptor) -> BlobSource:
        layout = self.layout

        def source(offset: int, length: int) -> Iterator[bytes]:
            return layout.iter_blob(descriptor.digest, offset, length)

        return _verifying(source, descriptor)


class _RegistrySource:
    seekable = False

    def __init__(self, registry: Registry, repo: str) -> None:
        self.registry = registry
        self.repo = repo

    def document(self, digest: Digest, media_type: str) -> tuple[bytes, Document]:
        result = self.registry.manifest(self.repo, digest)
        return result.body, result.document

    def blob(self, descriptor: Descriptor) -> BlobSource:
        registry, repo = self.registry, self.repo

        def source(offset: int, length: int) -> Iterator[memoryview]:
            # Lazy: the GET starts only when the upload starts sending, and streams
            # straight into it; iter_blob verifies digest and size on the way.
            if offset != 0 or length != descriptor.size:
                raise UsageError("a blob streamed from a registry is sent in one piece")
            yield from registry.iter_blob(repo, descriptor.digest, descriptor.size)

        return source


def _verifying(source: BlobSource, descriptor: Descriptor) -> BlobSource:
    """``source`` whose whole-blob reads are checked against the descriptor as they stream."""

    def checked(offset: int, length: int) -> Iterable[bytes | bytearray | memoryview]:
        chunks = source(offset, length)
        if offset == 0 and length == descriptor.size:
            return verified_chunks(chunks, descriptor.digest, descriptor.size)
        return chunks  # a chunk of a larger upload: the registry verifies the whole on commit

    return checked


def _bytes_source(data: bytes) -> BlobSource:
    view = memoryview(data)

    def source(offset: int, length: int) -> Iterator[memoryview]:
        yield view[offset:offset + length]

    return source


def _file_source(path: Path) -> BlobSource:
    def source(offset: int, length: int) -> Iterator[bytes]:
        with path.open("rb") as f:
            f.seek(offset)
            while length > 0:
                block = f.read(min(length, 1 << 20))
                if not block:
                    raise UsageError(f"{path}: file shrank while it was being uploaded")
                length -= len(block)
                yield block

    return source


def _is_tag(name: str) -> bool:
    try:
        validate_tag(name)
    except ValueError:
        return False
    return True


def _digest(value: str | Digest) -> Digest:
    return value if isinstance(value, Digest) else Digest.parse(value)


def _last_of(page: Page) -> str | None:
    """The ``last`` parameter of a page's next link, as the gem's ``last(header)`` returns."""
    if not page.next_url:
        return None
    values = urllib.parse.parse_qs(urllib.parse.urlsplit(page.next_url).query).get("last")
    return values[0] if values else None
