"""Flows for the read, tag and delete endpoints of the distribution spec.

Each function here is a flow (see :mod:`ocireg._flow`): it builds the request,
sends it through the session (authentication, credential scoping, redirects), and
interprets the answer, raising the typed errors of :mod:`ocireg._errors`.  Uploads
live in :mod:`ocireg._upload`, pagination in :mod:`ocireg._paginate`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from . import _media as media
from ._auth import Scope
from ._digest import Digest, verify_bytes
from ._errorbody import expect
from ._errors import (
    DigestMismatch,
    InvalidResponse,
    ManifestUnknown,
    NotFound,
    Unsupported,
)
from ._flow import Flow, close, read_body
from ._http import Headers, Request, Response
from ._manifest import Descriptor, Document, Index, Platform, parse_manifest
from ._paginate import Page, page_flow, paginated_url
from ._platform import select
from ._reference import validate_repository, validate_tag
from ._session import Session

__all__ = [
    "BlobInfo",
    "ManifestInfo",
    "ManifestResult",
    "add_referrer_to_tag_schema",
    "catalog_page",
    "catalog_url",
    "check_reference",
    "delete_blob",
    "delete_manifest",
    "get_manifest",
    "head_blob",
    "head_manifest",
    "head_manifest_exists",
    "manifest_digest",
    "open_blob",
    "ping",
    "put_manifest",
    "referrers",
    "resolve_platform",
    "resumed_at",
    "tags_page",
    "tags_url",
]

CATALOG_SCOPE = Scope("registry", "catalog", ("*",))


def check_reference(reference: str | Digest) -> str:
    """A tag or a digest, validated before it becomes part of a URL path."""
    if isinstance(reference, Digest):
        return str(reference)
    if ":" in reference:
        return str(Digest.parse(reference))
    return validate_tag(reference)


def _as_digest(reference: str) -> Digest | None:
    return Digest.parse(reference) if ":" in reference else None


def _content_type(response: Response) -> str | None:
    value = response.header("Content-Type")
    return value.split(";", 1)[0].strip().lower() if value else None


def _header_digest(response: Response) -> Digest | None:
    value = response.header("Docker-Content-Digest")
    if value is None:
        return None
    try:
        return Digest.parse(value.strip())
    except ValueError:
        raise InvalidResponse(f"malformed Docker-Content-Digest header {value!r}") from None


def _content_length(response: Response) -> int | None:
    value = response.header("Content-Length")
    if value is None:
        return None
    value = value.strip()
    if not value.isdigit():
        raise InvalidResponse(f"malformed Content-Length header {value!r}")
    return int(value)


# --- ping ---------------------------------------------------------------------------


def ping(session: Session, *, now: float) -> Flow[Headers]:
    """``GET /v2/``: the registry speaks the API and our credentials (if any) are good."""
    request = session.request("GET", "/v2/")
    response = yield from session.send(request, scopes=(), now=now)
    yield from expect(response, 200)
    yield from close(response)
    return response.headers


# --- listing ----------------------------------------------------------------------


def catalog_url(session: Session, n: int | None = None, last: str | None = None) -> str:
    """The first ``/v2/_catalog`` page's URL."""
    return paginated_url(session.base_url, "/v2/_catalog", n, last)


def tags_url(session: Session, repo: str, n: int | None = None, last: str | None = None) -> str:
    """The first ``/v2/<repo>/tags/list`` page's URL."""
    return paginated_url(session.base_url, f"/v2/{validate_repository(repo)}/tags/list", n, last)


def catalog_page(session: Session, url: str, *, now: float) -> Flow[Page]:
    """One page of the catalog: ``url`` is :func:`catalog_url` or a next link."""

    def send(request: Request) -> Flow[Response]:
        return session.send(request, scopes=(CATALOG_SCOPE,), now=now)

    return (yield from page_flow(send, url, key="repositories", limit=session.limits.manifest))


def tags_page(session: Session, repo: str, url: str, *, now: float) -> Flow[Page]:
    """One page of ``repo``'s tags: ``url`` is :func:`tags_url` or a next link."""
    scope = Scope.pull(validate_repository(repo))

    def send(request: Request) -> Flow[Response]:
        return session.send(request, scopes=(scope,), now=now)

    return (yield from page_flow(send, url, key="tags", limit=session.limits.manifest))


# --- manifests ------------------------------------------------------------------


@dataclass(frozen=True)
class ManifestResult:
    """A manifest or index as served: the exact bytes, their type, verified digest and document."""

    body: bytes = field(repr=False)
    media_type: str
    digest: Digest
    headers: Headers = field(repr=False)
    document: Document = field(repr=False)

    @property
    def descriptor(self) -> Descriptor:
        return Descriptor(media_type=self.media_type, digest=self.digest, size=len(self.body))


@dataclass(frozen=True)
class ManifestInfo:
    """What a manifest HEAD tells: digest, media type and size, without the body."""

    digest: Digest
    media_type: str | None
    size: int | None


def _manifest_digest(response: Response, body: bytes, document: Document, wanted: Digest | None) -> Digest:
    """The document's digest, checked against the one asked for and the one the server sent.

    ``document.digest`` is the sha256 of the bytes (of the payload without its JWS
    signature for a signed schema1 manifest, as registries compute it).
    """
    for claimed, who in ((wanted, "asked for"), (_header_digest(response), "the registry said")):
        if claimed is None:
            continue
        ours = document.digest if claimed.algorithm == document.digest.algorithm else Digest.of(body, claimed.algorithm)
        if ours != claimed:
            raise DigestMismatch(f"manifest hashes to {ours}, {who} {claimed}", expected=str(claimed), actual=str(ours))
    return wanted or document.digest


def get_manifest(
    session: Session, repo: str, reference: str | Digest, *, accept: str = media.ACCEPT_MANIFESTS, now: float
) -> Flow[ManifestResult]:
    """``GET /v2/<repo>/manifests/<reference>``, parsed with limits and its digest verified.

    ``accept`` lists every type by default: CNCF distribution answers 404 for an OCI
    document whose type is not accepted, and converts schema2 to schema1 (with another
    digest) when the schema2 type is missing.
    """
    repo = validate_repository(repo)
    ref = check_reference(reference)
    request = session.request("GET", f"/v2/{repo}/manifests/{ref}", headers=(("Accept", accept),))
    response = yield from session.send(request, scopes=(Scope.pull(repo),), now=now)
    yield from expect(response, 200)
    limit = session.limits.manifest
    body = yield from read_body(response, limit)
    document = parse_manifest(body, _content_type(response), limit=limit)
    digest = _manifest_digest(response, body, document, _as_digest(ref))
    return ManifestResult(body, document.media_type, digest, response.headers, document)


def head_manifest(
    session: Session, repo: str, reference: str | Digest, *, accept: str = media.ACCEPT_MANIFESTS, now: float
) -> Flow[ManifestInfo | None]:
    """``HEAD`` a manifest: its digest, type and size, or None when the answer has no digest.

    Raises :class:`ManifestUnknown` when there is no such manifest.
    """
    repo = validate_repository(repo)
    ref = check_reference(reference)
    request = session.request("HEAD", f"/v2/{repo}/manifests/{ref}", headers=(("Accept", accept),))
    response = yield from session.send(request, scopes=(Scope.pull(repo),), now=now)
    if response.status == 404:
        yield from close(response)
        raise ManifestUnknown(
            f"HEAD {response.request.url}: 404: manifest unknown",
            status=404, method="HEAD", url=response.request.url,
        )
    yield from expect(response, 200)
    yield from close(response)
    digest = _header_digest(response)
    if digest is None:
        return None
    wanted = _as_digest(ref)
    if wanted is not None and wanted != digest:
        raise DigestMismatch(f"asked for {wanted}, the registry answered for {digest}",
                             expected=str(wanted), actual=str(digest))
    return ManifestInfo(digest, _content_type(response), _content_length(response))


def manifest_digest(
    session: Session, repo: str, reference: str | Digest, *, accept: str = media.ACCEPT_MANIFESTS, now: float
) -> Flow[Digest]:
    """The digest of the document ``reference`` names: HEAD, falling back to GET.

    The fallback covers registries that refuse HEAD (405, as pre-2.3 registries did)
    or answer it without ``Docker-Content-Digest``; GET then hashes the body itself.
    """
    try:
        info = yield from head_manifest(session, repo, reference, accept=accept, now=now)
    except Unsupported:
        info = None
    if info is not None:
        return info.digest
    result = yield from get_manifest(session, repo, reference, accept=accept, now=now)
    return result.digest


def resolve_platform(result: ManifestResult, platform: Platform | None) -> Digest:
    """The digest ``platform`` selects: the matching child of an index, else the document's own."""
    if platform is not None and isinstance(result.document, Index):
        return select(result.document.manifests, platform).digest
    return result.digest


@dataclass(frozen=True)
class PutResult:
    """What a manifest PUT established."""

    digest: Digest
    location: str | None
    subject: Digest | None
    """The ``OCI-Subject`` the registry acknowledged; None when it did not (then the
    referrers tag-schema index was updated instead)."""


def put_manifest(
    session: Session, repo: str, reference: str | Digest, body: bytes, media_type: str, *, now: float
) -> Flow[PutResult]:
    """``PUT`` the manifest bytes as they are, under a tag or their digest.

    A manifest with a ``subject`` that the registry does not acknowledge with
    ``OCI-Subject`` (no referrers API) is also listed in the subject's
    ``<alg>-<hex>`` referrers tag index, the OCI 1.1 fallback.
    """
    repo = validate_repository(repo)
    ref = check_reference(reference)
    limit = session.limits.manifest
    document = parse_manifest(body, media_type, limit=limit)  # refuse to push what we would not pull
    digest = Digest.of(body)
    wanted = _as_digest(ref)
    if wanted is not None:
        verify_bytes(body, wanted)
    request = session.request(
        "PUT", f"/v2/{repo}/manifests/{ref}",
        headers=(("Content-Type", document.media_type), ("Content-Length", str(len(body)))),
        body=body,
    )
    response = yield from session.send(request, scopes=(Scope.push(repo),), now=now)
    yield from expect(response, 201, 200)
    yield from close(response)
    served = _header_digest(response)
    if served is not None and served.algorithm == digest.algorithm and served != digest:
        raise DigestMismatch(f"registry stored {served} for a manifest that hashes to {digest}",
                             expected=str(digest), actual=str(served))
    subject_header = response.header("OCI-Subject")
    subject = None
    if subject_header:
        try:
            subject = Digest.parse(subject_header.strip())
        except ValueError:
            raise InvalidResponse(f"malformed OCI-Subject header {subject_header!r}") from None
    declared = getattr(document, "subject", None)
    if declared is not None and subject is None:
        entry = Descriptor(
            media_type=document.media_type, digest=digest, size=len(body),
            artifact_type=_artifact_type(document), annotations=getattr(document, "annotations", ()),
        )
        yield from add_referrer_to_tag_schema(session, repo, declared.digest, entry, now=now)
    return PutResult(digest, response.header("Location"), subject)


def _artifact_type(document: Document) -> str | None:
    """A referrer's artifact type: ``artifactType``, else its config's media type (OCI 1.1)."""
    artifact_type = getattr(document, "artifact_type", None)
    if artifact_type:
        return str(artifact_type)
    config = getattr(document, "config", None)
    return config.media_type if config is not None else None


def delete_manifest(session: Session, repo: str, digest: Digest, *, now: float) -> Flow[None]:
    """``DELETE`` a manifest by digest (registries refuse deletes by tag)."""
    repo = validate_repository(repo)
    request = session.request("DELETE", f"/v2/{repo}/manifests/{digest}")
    response = yield from session.send(request, scopes=(Scope(
        "repository", repo, ("delete",)
    ),), now=now)
    yield from expect(response, 202, 200, 204)
    yield from close(response)


# --- blobs --------------------------------------------------------------------------


@dataclass(frozen=True)
class BlobInfo:
    digest: Digest
    size: int


def head_blob(session: Session, repo: str, digest: Digest, *, now: float, scopes: Sequence[Scope] = ()) -> Flow[BlobInfo | None]:
    """``HEAD`` a blob: its size, or None when the repository does not have it."""
    repo = validate_repository(repo)
    request = session.request("HEAD", f"/v2/{repo}/blobs/{digest}")
    response = yield from session.send(request, scopes=(*scopes, Scope.pull(repo)), now=now)
    if response.status == 404:
        yield from close(response)
        return None
    yield from expect(response, 200)
    yield from close(response)
    size = _content_length(response)
    if size is None:
        raise InvalidResponse(f"HEAD {response.request.url}: no Content-Length for a blob")
    return BlobInfo(digest, size)


def open_blob(session: Session, repo: str, digest: Digest, *, now: float, offset: int = 0) -> Flow[Response]:
    """``GET`` a blob, following redirects (credentials stay home); returns the response unread.

    With ``offset``, asks for the bytes from there (``Range``): the answer is a 206
    to check with :func:`resumed_at`, or a 200 with the whole blob from a server
    that ignores ranges.  The caller streams the body through a verifier.
    """
    repo = validate_repository(repo)
    headers: Headers = (("Range", f"bytes={offset}-"),) if offset else ()
    request = session.request("GET", f"/v2/{repo}/blobs/{digest}", headers=headers)
    response = yield from session.send(request, scopes=(Scope.pull(repo),), now=now)
    yield from expect(response, 206, 200) if offset else expect(response, 200)
    return response


def resumed_at(response: Response, offset: int, size: int | None) -> bool:
    """Whether ``response`` is exactly the rest of a blob from ``offset``: a 206 whose
    ``Content-Range`` is ``bytes offset-(size-1)/size`` (any total when the size is unknown)."""
    if response.status != 206:
        return False
    value = (response.header("Content-Range") or "").strip()
    unit, _, spec = value.partition(" ")
    span, _, total = spec.partition("/")
    first, _, last = span.partition("-")
    if unit.lower() != "bytes" or not (first.isdigit() and last.isdigit()) or int(first) != offset:
        return False
    if size is None:
        return total == "*" or (total.isdigit() and int(last) == int(total) - 1)
    return int(last) == size - 1 and total == str(size)


def delete_blob(session: Session, repo: str, digest: Digest, *, now: float) -> Flow[None]:
    """``DELETE`` a blob from a repository."""
    repo = validate_repository(repo)
    request = session.request("DELETE", f"/v2/{repo}/blobs/{digest}")
    response = yield from session.send(request, scopes=(Scope("repository", repo, ("delete",)),), now=now)
    yield from expect(response, 202, 200, 204)
    yield from close(response)


# --- referrers ----------------------------------------------------------------------


def referrers(
    session: Session, repo: str, digest: Digest, *, artifact_type: str | None = None, now: float
) -> Flow[tuple[Descriptor, ...]]:
    """The manifests whose ``subject`` is ``digest``: the referrers API, else the tag schema.

    A registry without the API (404) may still keep the OCI 1.1 fallback index under
    the tag ``<alg>-<hex>``; no such tag means no referrers.
    """
    repo = validate_repository(repo)
    query = [("artifactType", artifact_type)] if artifact_type else []
    request = session.request(
        "GET", session.url(f"/v2/{repo}/referrers/{digest}", query), headers=(("Accept", media.OCI_INDEX),)
    )
    response = yield from session.send(request, scopes=(Scope.pull(repo),), now=now)
    if response.status == 200 and _content_type(response) == media.OCI_INDEX:
        body = yield from read_body(response, session.limits.manifest)
        document = parse_manifest(body, media.OCI_INDEX, limit=session.limits.manifest)
    elif response.status in (404, 405, 400):
        yield from close(response)
        try:
            result = yield from get_manifest(session, repo, digest.tag_form, accept=media.OCI_INDEX, now=now)
        except NotFound:
            return ()
        document = result.document
    else:
        yield from expect(response, 200)  # raises: an error status, or 200 that is not an index
        yield from close(response)
        raise InvalidResponse(f"referrers of {digest}: answer is not an OCI index")
    if not isinstance(document, Index):
        raise InvalidResponse(f"referrers of {digest}: answer is not an OCI index")
    found = document.manifests
    if artifact_type:  # a registry that did not apply the filter (no OCI-Filters-Applied)
        found = tuple(d for d in found if d.artifact_type == artifact_type)
    return found


def head_manifest_exists(session: Session, repo: str, digest: Digest, *, now: float) -> Flow[bool]:
    """Whether ``repo`` holds the manifest ``digest`` (before pushing it again)."""
    try:
        info = yield from head_manifest(session, repo, digest, now=now)
    except ManifestUnknown:
        return False
    return info is not None


def add_referrer_to_tag_schema(
    session: Session, repo: str, subject: Digest, entry: Descriptor, *, now: float
) -> Flow[Digest]:
    """List ``entry`` in the referrers tag index ``<alg>-<hex>`` of ``subject`` (OCI 1.1 fallback).

    For registries without the referrers API: read the index under that tag (or start
    an empty one), add the entry once, and PUT it back.
    """
    tag = subject.tag_form
    try:
        current = yield from get_manifest(session, repo, tag, accept=media.OCI_INDEX, now=now)
    except NotFound:
        children: tuple[Descriptor, ...] = ()
    else:
        if not isinstance(current.document, Index):
            raise InvalidResponse(f"{repo}:{tag} is not an index; cannot list referrers there")
        children = current.document.manifests
    if any(child.digest == entry.digest for child in children):
        return subject
    index = Index.build((*children, entry), media_type=media.OCI_INDEX)
    result = yield from put_manifest(session, repo, tag, index.raw, media.OCI_INDEX, now=now)
    return result.digest
