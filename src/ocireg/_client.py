"""The clients: :class:`Registry` (blocking) and :class:`AsyncRegistry` (asyncio).

Every public method is written once, in :class:`_Client`, as the core flow it
runs (see :mod:`ocireg._image`, :mod:`ocireg._endpoints`); the two classes differ
only in the loop that performs the effects (:class:`~ocireg._driver.Runner`,
:class:`~ocireg._async.AsyncRunner`) and in what a listing or a blob stream is to
their callers (an iterator, or an async iterator).  :class:`operation` is the
descriptor that binds a method to its class's loop, typed for each.

A client given a bare host that may speak plain HTTP (loopback, or insecure)
settles its scheme in the first operation it runs (https first, as docker and
crane do; see :mod:`ocireg._scheme`): every operation's flow starts with
:meth:`_Client._ready`, so both clients do it the same way.
"""

from __future__ import annotations

import functools
import math
import os
import time
from collections.abc import (
    AsyncIterator,
    Callable,
    Coroutine,
    Generator,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from pathlib import Path
from typing import (
    IO,
    TYPE_CHECKING,
    Any,
    BinaryIO,
    Concatenate,
    Generic,
    ParamSpec,
    Self,
    TypeVar,
    overload,
)

from . import _endpoints as ep
from . import _image as ops
from ._auth import CredentialProvider, Credentials, Scope
from ._digest import Digest, DigestVerifier, verified_chunks
from ._discovery import default_async_transport, default_transport
from ._driver import DEFAULT_JOBS, Runner, iter_body
from ._errors import InvalidArgument
from ._flow import Flow, Gate, gated, now, read_body
from ._http import Body, Headers, Origin, Request
from ._layout import OCILayout
from ._manifest import Descriptor, Manifest, Platform
from ._paginate import Page
from ._progress import NullProgress, Progress, track
from ._reference import DOCKER_HUB, DOCKER_HUB_API_HOST, Reference, api_host
from ._regconf import PullSource, RegistryConfig, first_available
from ._results import CopyResult, Listing, PullResult, RawResponse
from ._retry import RateLimit, RetryPolicy
from ._scheme import discover_scheme, plain_http_allowed
from ._session import Limits, Session
from ._transfer import parse_platform_arg
from ._transport import AsyncTransport, Transport
from ._upload import CHUNK_SIZE, MONOLITHIC_LIMIT, PushedBlob

if TYPE_CHECKING:  # the modules of rarer operations are imported when those run
    from ._artifact import ArtifactFile, PulledArtifact
    from ._async import AsyncRunner
    from ._delete import TagDeleted
    from ._export import Writable
    from ._validate import ValidationReport

__all__ = ["AsyncRegistry", "Registry"]

P = ParamSpec("P")
T = TypeVar("T")
TransportT = TypeVar("TransportT", Transport, AsyncTransport)

IN_MEMORY_BLOB_LIMIT = 256 << 20
"""Largest blob :meth:`Registry.blob` returns as bytes; beyond, stream it to a file."""


def _registry_url(url: str) -> str:
    """A base URL; a bare host gets https (plain HTTP is discovered, see :mod:`ocireg._scheme`).

    Docker Hub's names (``docker.io``, ``index.docker.io``) become the host its API
    answers on, as references are resolved.
    """
    if not isinstance(url, str):
        raise InvalidArgument(f"url must be a string such as 'ghcr.io', not {type(url).__name__}")
    if "://" in url:
        return url
    return f"https://{api_host(url.rstrip('/'))}"


def _undiscovered(given: str, session: Session) -> bool:
    """Whether ``session``, made from the URL as ``given``, still has its scheme to settle:
    a bare host that may speak plain HTTP (loopback, or insecure)."""
    return "://" not in given and plain_http_allowed(session.host, session.insecure)


def _discovered(session: Session, renew: Callable[[str], Session]) -> Flow[Session]:
    """``session``, or a new one from ``renew`` for plain HTTP when the host does not speak https."""
    base = yield from discover_scheme(session.host, insecure=session.insecure, user_agent=session.user_agent)
    return session if base == session.base_url else renew(base)


def _digest(value: str | Digest) -> Digest:
    if not isinstance(value, str | Digest):
        raise InvalidArgument(f"a digest must be a string such as 'sha256:...', not {type(value).__name__}")
    return value if isinstance(value, Digest) else Digest.parse(value)


def _transport_options(open_timeout: float, read_timeout: float, ca_file: str | None) -> None:
    """Refuse bad options here, naming them, before a transport turns them into something obscure."""
    for name, value in (("open_timeout", open_timeout), ("read_timeout", read_timeout)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
            raise InvalidArgument(f"{name} must be a positive number of seconds, not {value!r}")
    if ca_file is not None:
        if not isinstance(ca_file, str | os.PathLike):
            raise InvalidArgument(f"ca_file must be a path, not {type(ca_file).__name__}")
        if not os.path.isfile(ca_file):
            raise InvalidArgument(f"ca_file {os.fspath(ca_file)!r} is not a readable file")


class operation(Generic[P, T]):
    """A client method defined as the flow it runs; each client class runs it its own way.

    On a :class:`Registry` the bound method returns the result; on an
    :class:`AsyncRegistry` it returns a coroutine of it.  The flow reads the session,
    so while the client's scheme is unsettled it is built (again) after
    :meth:`_Client._ready` has settled it.
    """

    settle = True

    def __init__(self, build: Callable[Concatenate[Any, P], Flow[T]]) -> None:
        self.build = build
        functools.update_wrapper(self, build)  # type: ignore[arg-type]

    @overload
    def __get__(self, obj: None, owner: type) -> operation[P, T]: ...

    @overload
    def __get__(self, obj: Registry, owner: type) -> Callable[P, T]: ...

    @overload
    def __get__(self, obj: AsyncRegistry, owner: type) -> Callable[P, Coroutine[Any, Any, T]]: ...

    def __get__(self, obj: Any, owner: type) -> Any:
        if obj is None:
            return self
        build = self.build

        @functools.wraps(build)
        def bound(*args: P.args, **kwargs: P.kwargs) -> Any:
            flow = build(obj, *args, **kwargs)  # arguments are checked now, before anything is sent
            if self.settle and obj._undiscovered:
                # Built on the unsettled session: built again once the scheme is settled.
                flow.close()
                flow = obj._prepared(lambda: build(obj, *args, **kwargs))
            return obj._execute(flow)

        return bound


class unsettled_operation(operation[P, T]):
    """An operation that may send nothing to this registry (a pull served by a mirror):
    it settles the scheme itself, through :meth:`_Client._peer`, only if it comes here."""

    settle = False


class _Client(Generic[TransportT]):
    """What both clients share: the registry's session, options, transport, and every operation.

    The clients differ in the kind of transport they drive (:meth:`_default_transport`)
    and in the loop that drives it (:meth:`_start_runner`).
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
        transport: TransportT | None = None,
        insecure: bool = False,
        ca_file: str | None = None,
        limits: Limits | None = None,
        clock: Callable[[], float] = time.time,
        progress: Progress | None = None,
        jobs: int = DEFAULT_JOBS,
        retry: RetryPolicy | None = None,
        config: RegistryConfig | None = None,
    ) -> None:
        if credentials is not None and (username is not None or password is not None):
            raise InvalidArgument("give either username/password or credentials, not both")
        if username is not None or password is not None:
            credentials = Credentials(username=username, password=password)
        if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
            raise InvalidArgument(f"jobs must be a positive integer, not {jobs!r}")
        self.url = _registry_url(url)
        self.config = config or RegistryConfig()
        """containers' registries configuration: insecure hosts, mirrors for :meth:`pull_source`."""
        self._credentials = credentials
        # The session validates the URL (and never echoes a password in it) before the
        # configuration looks at its host.
        self.session = Session(self.url, credentials=credentials, insecure=insecure, limits=limits or Limits(),
                               retry=retry)
        if not insecure and self.config.is_insecure(self.session.host):
            insecure = True
            self.session = Session(self.url, credentials=credentials, insecure=True, limits=limits or Limits(),
                                   retry=retry)
        self._undiscovered = _undiscovered(url, self.session)
        self._scheme_gate = Gate("scheme")
        self.jobs = jobs
        self._clock = clock
        self.progress: Progress = progress or NullProgress()
        self._routes: dict[Origin, Any] = {}
        """Transports of other clients this one copied to, by origin."""
        _transport_options(open_timeout, read_timeout, ca_file)
        self._own_transport = transport is None
        self.transport: TransportT = transport or self._default_transport(
            open_timeout=open_timeout, read_timeout=read_timeout, ca_file=ca_file, insecure=self.session.insecure,
            pool_size=jobs,
        )
        self._start_runner()

    def _default_transport(self, **options: Any) -> TransportT:  # pragma: no cover - each client defines it
        raise NotImplementedError

    def _start_runner(self) -> None:  # pragma: no cover - each client defines it
        raise NotImplementedError

    def _execute(self, flow: Flow[Any]) -> Any:  # pragma: no cover - each client defines it
        raise NotImplementedError

    def _prepared(self, build: Callable[[], Flow[T]]) -> Flow[T]:
        """The flow ``build`` makes, made once the scheme is settled (it reads :attr:`session`)."""
        yield from self._ready()
        return (yield from build())

    def _ready(self) -> Flow[None]:
        """Settle https or plain HTTP for a bare loopback or insecure host, once.

        Operations started meanwhile (threads, tasks) wait at the gate, then find it settled;
        a failed discovery is tried again by the next operation.
        """
        if self._undiscovered:
            yield from gated(self._scheme_gate, self._discover())

    def _discover(self) -> Flow[None]:
        if self._undiscovered:  # not settled while this flow waited at the gate
            self.session = yield from _discovered(self.session, self._renewed)
            self.url = self.session.base_url
            self._undiscovered = False

    def _renewed(self, base_url: str) -> Session:
        old = self.session
        return Session(base_url, credentials=self._credentials, insecure=old.insecure, limits=old.limits,
                       retry=old.retry)

    def _origins(self) -> tuple[Origin, ...]:
        """Where this client's requests may go: its origin, or both schemes' while unsettled."""
        if not self._undiscovered:
            return (self.session.origin,)
        return tuple(Origin.of(f"{scheme}://{self.session.host}") for scheme in ("https", "http"))

    def _route(self, request: Request) -> Any:
        return self._routes.get(request.origin) if self._routes else None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url}>"

    @property
    def host(self) -> str:
        return self.session.host

    @property
    def rate_limit(self) -> RateLimit | None:
        """The request budget the registry last announced (``RateLimit-*`` headers), if any."""
        return self.session.rate_limit

    # --- plumbing -----------------------------------------------------------------

    @operation
    def run(self, flow: Callable[..., Flow[T]], *args: Any, **kwargs: Any) -> Flow[T]:
        """Run a core flow function: ``flow(session, *args, now=..., **kwargs)``."""
        return (yield from flow(self.session, *args, now=(yield from now()), **kwargs))

    @operation
    def request(self, method: str, path: str, *, headers: Headers = (), body: Body = None,
                scopes: Sequence[Scope] = (), limit: int | None = None) -> Flow[RawResponse]:
        """A raw request (the gem's ``doget``/``doput``/``dohead``/``dodelete``).

        It goes through the same authentication and redirect flows as every other
        call; the body is read up to ``limit`` (default: the manifest cap).
        """
        cap = limit if limit is not None else self.session.limits.manifest
        request = self.session.request(method, path, headers=headers, body=body)
        response = yield from self.session.send(request, scopes=scopes, now=(yield from now()))
        data = yield from read_body(response, cap)
        return RawResponse(response.status, response.headers, data)

    # --- listing -------------------------------------------------------------------

    @operation
    def ping(self) -> Flow[Headers]:
        """``GET /v2/``: raises unless the registry answers and accepts our credentials."""
        return (yield from ep.ping(self.session, now=(yield from now())))

    @operation
    def catalog(self, count: int | None = None, last: str | None = None,
                auto_paginate: bool = False) -> Flow[Listing]:
        """Repositories in the registry (``/v2/_catalog``), one page or all of them."""
        return ops.catalog(self.session, count, last, auto_paginate)

    @operation
    def tags(self, repo: str, count: int | None = None, last: str | None = None,
             with_digests: bool = False, auto_paginate: bool = False) -> Flow[Listing]:
        """Tags of ``repo``; with ``with_digests`` also each tag's manifest digest."""
        return ops.tags(self.session, repo, count, last, with_digests, auto_paginate)

    # --- manifests -----------------------------------------------------------------

    @operation
    def manifest(self, repo: str, reference: str | Digest, *,
                 platform: str | Platform | None = None) -> Flow[ep.ManifestResult]:
        """The manifest or index as served: ``.body`` bytes, ``.media_type``, verified ``.digest``.

        With ``platform``, an index is resolved to the child manifest that platform picks.
        """
        return ops.manifest(self.session, repo, reference, platform)

    @operation
    def manifest_digest(self, repo: str, reference: str | Digest) -> Flow[Digest]:
        """The digest of what ``reference`` names (HEAD, falling back to GET)."""
        return (yield from ep.manifest_digest(self.session, repo, reference, now=(yield from now())))

    @operation
    def digest(self, image: str, tag: str | Digest, architecture: str | None = None,
               os: str | None = None, variant: str | None = None) -> Flow[Digest]:
        """The digest for a platform: the matching child of an index, else the document's own."""
        return ops.platform_digest(self.session, image, tag, architecture, os, variant)

    @staticmethod
    def manifest_sum(manifest: Manifest | ep.ManifestResult) -> int:
        """Total size of an image manifest's layers."""
        document = manifest.document if isinstance(manifest, ep.ManifestResult) else manifest
        if not isinstance(document, Manifest):
            raise InvalidArgument("manifest_sum needs an image manifest, not an index")
        return document.layers_size

    @operation
    def tag(self, repo: str, tag: str | Digest, newrepo: str, newtag: str) -> Flow[Digest]:
        """Put the manifest ``repo:tag`` under ``newrepo:newtag``, its bytes and media type unchanged."""
        return ops.tag(self.session, repo, tag, newrepo, newtag)

    @operation
    def rmtag(self, image: str, tag: str) -> Flow[Digest]:
        """Delete the manifest ``tag`` points to (registries delete by digest); returns it."""
        return ops.rmtag(self.session, image, tag)

    @operation
    def delete_manifest(self, repo: str, reference: str | Digest) -> Flow[Digest]:
        """Delete a manifest by digest, or by tag resolved to its digest first."""
        return ops.delete_manifest(self.session, repo, reference)

    @operation
    def referrers(self, repo: str, digest: str | Digest,
                  artifact_type: str | None = None) -> Flow[tuple[Descriptor, ...]]:
        """Manifests whose ``subject`` is ``digest`` (referrers API, else the tag schema)."""
        return (yield from ep.referrers(self.session, repo, _digest(digest), artifact_type=artifact_type,
                                        now=(yield from now())))

    # --- blobs -----------------------------------------------------------------------

    @operation
    def blob_size(self, repo: str, digest: str | Digest) -> Flow[int]:
        """Size of a blob (HEAD)."""
        return ops.blob_size(self.session, repo, _digest(digest))

    @operation
    def blob(self, repo: str, digest: str | Digest,
             outpath: str | os.PathLike[str] | BinaryIO | None = None, *,
             max_memory: int = IN_MEMORY_BLOB_LIMIT, size: int | None = None) -> Flow[bytes | Path | BinaryIO]:
        """A blob: to ``outpath`` (a path, written atomically; or a binary file), else its bytes.

        Every byte is verified against ``digest`` while it streams; a mismatch raises
        :class:`~ocireg.DigestMismatch` and leaves no file at the path.  Held in memory
        (no ``outpath``), a blob may be at most ``max_memory`` bytes.  ``size``, when known,
        is checked too and gives progress reports their end.
        """
        d = _digest(digest)
        sink = ops.blob_sink(outpath, repo, d, max_memory)
        return (yield from ops.blob_into(self.session, repo, d, sink, size))  # type: ignore[no-any-return]

    @operation
    def delete_blob(self, repo: str, digest: str | Digest) -> Flow[None]:
        """Delete a blob from a repository."""
        return (yield from ep.delete_blob(self.session, repo, _digest(digest), now=(yield from now())))

    # --- pull, push, copy ------------------------------------------------------------

    @operation
    def pull(self, repo: str, reference: str | Digest, directory: str | os.PathLike[str], *,
             platform: str | Platform | None = None, ref_name: str | None = None) -> Flow[PullResult]:
        """Pull an image into the OCI image layout ``directory`` (created if missing).

        An index is pulled whole (every child) unless ``platform`` picks one child.
        Blobs already in the layout are re-used only after their bytes are verified;
        up to ``jobs`` blobs are fetched at once.  ``ref_name`` (default: the tag, or
        the digest) names the image in ``index.json``.
        """
        if not isinstance(directory, str | os.PathLike):
            raise InvalidArgument(f"directory must be a path, not {type(directory).__name__}")
        return ops.pull(self.session, repo, reference, Path(directory), platform=platform, ref_name=ref_name)

    @operation
    def push_blob(self, repo: str, data: bytes | str | os.PathLike[str], digest: str | Digest | None = None, *,
                  media_type: str = "application/octet-stream", mount_from: str | None = None,
                  chunk_size: int = CHUNK_SIZE, monolithic_limit: int = MONOLITHIC_LIMIT) -> Flow[PushedBlob]:
        """Upload a blob from bytes or a file, streamed from disk; skipped when present.

        Blobs up to ``monolithic_limit`` bytes go in one PUT, larger ones in PATCH
        chunks of ``chunk_size`` (or the registry's ``OCI-Chunk-Min-Length``).
        """
        return ops.upload(self.session, repo, data, _digest(digest) if digest is not None else None,
                            media_type=media_type, mount_from=mount_from, chunk_size=chunk_size,
                            monolithic_limit=monolithic_limit)

    @operation
    def push_manifest(self, repo: str, reference: str | Digest, body: bytes, media_type: str) -> Flow[Digest]:
        """PUT a manifest or index as its exact bytes with its media type.

        A manifest with a ``subject`` on a registry without the referrers API also
        gets listed in the ``<alg>-<hex>`` referrers tag index (OCI 1.1 fallback).
        """
        result = yield from ep.put_manifest(self.session, repo, reference, body, media_type, now=(yield from now()))
        return result.digest

    @operation
    def push(self, layout: str | os.PathLike[str] | OCILayout, repo: str, tag: str | None = None, *,
             ref_name: str | None = None, mount_from: str | None = None,
             pin: str | Digest | None = None) -> Flow[Descriptor]:
        """Push an image or index from an OCI image layout to ``repo`` (and ``tag``).

        ``layout`` is a directory, or an :class:`~ocireg.ArchiveLayout` (a ``docker
        save`` archive or an OCI layout in a tar, read in place).

        ``ref_name`` picks the image in the layout (default: its only one); ``tag``
        defaults to that name.  Blobs go up to ``jobs`` at once, then the manifests,
        children first, so the registry never receives one that refers to something
        it lacks.  ``pin`` is the digest the image must have (``repo:tag@digest``):
        checked before anything is sent.
        """
        if not isinstance(layout, OCILayout | str | os.PathLike):
            raise InvalidArgument(f"layout must be a path or an OCILayout, not {type(layout).__name__}")
        source = layout if isinstance(layout, OCILayout) else Path(layout)
        return ops.push(self.session, source, repo, tag, ref_name=ref_name, mount_from=mount_from,
                        pin=_digest(pin) if pin is not None else None)

    @operation
    def copy(self, repo: str, reference: str | Digest, dest_registry: _Client[Any] | str | None, dest_repo: str,
             dest_tag: str | None = None, *, platforms: Sequence[str | Platform] | None = None,
             referrers: bool = False, pin: str | Digest | None = None) -> Flow[CopyResult]:
        """Copy ``repo:reference`` to ``dest_repo:dest_tag`` on ``dest_registry``.

        ``dest_registry`` is this registry (or None), another client of the same kind,
        or a URL (reached with this client's transport and no credentials).  On the same
        registry every blob is mounted; across registries each blob streams from source
        to destination, verified on the way, never held whole.  One platform in
        ``platforms`` copies that child manifest itself (its digest kept); several make
        a filtered index (a new digest, ``digest_changed``).  ``referrers`` copies
        signatures, SBOMs and other manifests whose subject is the image.  ``pin`` is
        the digest the destination must get (``repo:tag@digest``), checked first.
        """
        dest = self.session if dest_registry is None else (yield from self._destination(dest_registry))
        return (yield from ops.copy(self.session, dest, repo, reference, dest_repo, dest_tag, platforms=platforms,
                                    referrers=referrers, pin=_digest(pin) if pin is not None else None))

    # --- artifacts and archives -------------------------------------------------------

    @operation
    def push_artifact(
        self,
        repo: str,
        tag: str | None,
        files: Sequence[str | os.PathLike[str] | ArtifactFile | tuple[str | os.PathLike[str], str]],
        *,
        artifact_type: str | None = None,
        annotations: Mapping[str, str] | None = None,
        subject: str | Digest | Descriptor | None = None,
    ) -> Flow[Descriptor]:
        """Push files as an OCI artifact, as oras does (see :mod:`ocireg._artifact`).

        ``files`` are paths, ``(path, media_type)`` pairs or :class:`ArtifactFile` objects;
        ``subject`` (a tag, digest or descriptor in ``repo``) makes it a referrer.
        """
        from . import _artifact  # artifacts and archives are imported by those who use them

        return _artifact.push_artifact(self.session, repo, tag, files, artifact_type=artifact_type,
                                       annotations=annotations, subject=subject)

    @operation
    def pull_artifact(self, repo: str, reference: str | Digest,
                      directory: str | os.PathLike[str]) -> Flow[PulledArtifact]:
        """Write an artifact's files into ``directory`` by their titles, refusing unsafe ones."""
        if not isinstance(directory, str | os.PathLike):
            raise InvalidArgument(f"directory must be a path, not {type(directory).__name__}")
        from . import _artifact

        return _artifact.pull_artifact(self.session, repo, reference, directory)

    @operation
    def pull_archive(self, repo: str, reference: str | Digest, path: str | os.PathLike[str], *,
                     platform: str | Platform | None = None,
                     repo_tags: Iterable[str] | None = None) -> Flow[Descriptor]:
        """Write one image to ``path`` as a ``docker save`` archive; returns its manifest's descriptor.

        An index is resolved to ``platform`` (default linux/amd64); ``repo_tags``
        (default ``host/repo:tag`` for a tag) names it for ``docker load``.  Push an
        archive back with ``push(ArchiveLayout(path), ...)``.
        """
        if not isinstance(path, str | os.PathLike):
            raise InvalidArgument(f"path must be a path, not {type(path).__name__}")
        from . import _archive

        return _archive.pull_archive(self.session, repo, reference, path, platform=platform, repo_tags=repo_tags)

    def _destination(self, dest: _Client[Any] | str) -> Flow[Session]:
        if isinstance(dest, str):
            insecure, limits = self.session.insecure, self.session.limits
            session = Session(_registry_url(dest), insecure=insecure, limits=limits)
            if _undiscovered(dest, session):
                session = yield from _discovered(session, lambda base: Session(base, insecure=insecure, limits=limits))
            return session
        if not isinstance(dest, type(self)):
            raise InvalidArgument(f"dest_registry must be a {type(self).__name__}, a URL or None, "
                                  f"not {type(dest).__name__}")
        return (yield from self._peer(dest))

    def _peer(self, other: Self) -> Flow[Session]:
        """``other``'s session, its scheme settled, for a flow of this client that reaches
        it (a copy's destination, a mirror): its requests go out on its own transport."""
        if other is not self:
            transport = other._transport_for_routes()
            for origin in other._origins():
                if origin != self.session.origin:
                    self._routes[origin] = transport
        yield from other._ready()
        return other.session

    def _transport_for_routes(self) -> TransportT:
        return self.transport

    def _open_blob(self, repo: str, digest: Digest) -> Flow[Any]:
        yield from self._ready()
        return (yield from ep.open_blob(self.session, repo, digest, now=(yield from now())))

    # --- inspect, validate, safe deletes, mirrors --------------------------------------

    @operation
    def inspect(self, repo: str, reference: str | Digest, *, platform: str | Platform | None = None,
                tags: bool = True, name: str | None = None) -> Flow[dict[str, Any]]:
        """skopeo's inspect view (see :mod:`ocireg._inspect`); an index lists its platforms
        unless ``platform`` picks one.  ``tags`` lists the repository's tags (one more request);
        ``name`` is shown as the image's name (default: host/repo)."""
        from ._inspect import inspect

        return inspect(self.session, repo, reference, platform=platform, tags=tags, name=name)

    @operation
    def validate(self, repo: str, reference: str | Digest, *,
                 platforms: Sequence[str | Platform] = ()) -> Flow[ValidationReport]:
        """Fetch every manifest and blob of the image and check them (``crane validate``).

        Digests and sizes of every blob, and each layer's uncompressed digest against
        the config's ``diff_ids``; every problem is reported, nothing is stored.
        ``platforms`` limits an index to those children (default: all).
        """
        wanted = [p for p in (parse_platform_arg(p) for p in platforms) if p is not None]
        from ._validate import validate

        return validate(self.session, repo, reference, platforms=wanted)

    @operation
    def delete_tag(self, repo: str, tag: str) -> Flow[TagDeleted]:
        """Remove the tag alone (DELETE by tag, else a throwaway manifest); its image stays."""
        from ._delete import delete_tag

        return delete_tag(self.session, repo, tag)

    @operation
    def tags_sharing(self, repo: str, digest: str | Digest, *,
                     except_tag: str | None = None) -> Flow[tuple[str, ...]]:
        """The tags of ``repo`` whose manifest is ``digest`` (other than ``except_tag``)."""
        from ._delete import tags_sharing

        return tags_sharing(self.session, repo, _digest(digest), except_tag=except_tag)

    @unsettled_operation
    def pull_source(self, repo: str, reference: str | Digest, *,
                    open_mirror: Callable[[PullSource], Self] | None = None) -> Flow[tuple[Self, str, str]]:
        """Where to read ``repo:reference``: the first mirror of :attr:`config` that has it, else here.

        Returns the client, repository and tag or digest to use there (a ``location``
        rewrite may change all three).  Mirrors are tried in order (``pull-from-mirror``
        honoured), each with a HEAD of the manifest.  ``open_mirror`` opens a client for
        a mirror (default: one of this kind on this one's transport, with credentials
        only when they come from a provider, which is asked per host).
        """
        target = str(reference)
        pinned = ":" in target
        here = Reference(DOCKER_HUB if self.host == DOCKER_HUB_API_HOST else self.host, repo,
                         None if pinned else target, Digest.parse(target) if pinned else None)
        sources = self.config.pull_sources(here)
        opener = open_mirror or self._open_mirror
        clients: dict[PullSource, Self] = {}

        def probe(source: PullSource) -> Flow[Digest]:
            client = clients[source] = self._client_for(source, opener)
            session = yield from self._peer(client)
            ref = source.reference
            return (yield from ep.manifest_digest(session, ref.repository, ref.target, now=(yield from now())))

        chosen = sources[0] if len(sources) == 1 else (yield from first_available(sources, probe))
        client = clients.get(chosen) or self._client_for(chosen, opener)
        return client, chosen.reference.repository, chosen.reference.target

    def _client_for(self, source: PullSource, opener: Callable[[PullSource], Self]) -> Self:
        return self if source.reference.api_host == self.host else opener(source)

    def _open_mirror(self, source: PullSource) -> Self:
        provider = self._credentials
        kind: Any = type(self)  # each client's constructor takes its own kind of transport
        opened: Self = kind(source.reference.api_host, transport=self._transport_for_routes(),
                            insecure=source.insecure,
                            credentials=None if isinstance(provider, Credentials) else provider,
                            clock=self._clock, progress=self.progress, limits=self.session.limits, jobs=self.jobs)
        return opened


class Registry(_Client[Transport]):
    """A blocking registry client: every method of docker_registry2's ``Registry``, plus push and copy.

    ``url`` is the registry's base URL (``https://ghcr.io``, ``localhost:5000``); a
    bare loopback or insecure host is tried over https first, then plain HTTP.
    ``config`` is containers' registries configuration (insecure hosts, mirrors for
    :meth:`pull_source`; see :class:`~ocireg.RegistryConfig`).  Credentials are
    ``username``/``password``, or ``credentials`` (a :class:`Credentials` or a
    provider called with the host, e.g. a :class:`~ocireg.DockerConfigStore`).  ``jobs`` bounds the transfers in flight at
    once (1: one after another); the default transport pools that many connections.
    ``progress`` receives byte counts per blob as they move (``start``/``advance``/
    ``finish``, see ``ocireg._progress.Progress``), from several threads when
    ``jobs`` > 1.  ``retry`` says how idempotent requests are retried (429, 502-504,
    connection failures) and interrupted downloads resumed (default
    :class:`~ocireg.RetryPolicy`; ``RetryPolicy.off()`` never retries).  Use it as a
    context manager, or call :meth:`close`.
    """

    _runner: Runner

    def _default_transport(self, **options: Any) -> Transport:
        return default_transport(**options)

    def _start_runner(self) -> None:
        self._runner = Runner(self.transport, jobs=self.jobs, progress=self.progress, clock=self._clock,
                              route=self._route)

    def _execute(self, flow: Flow[T]) -> T:
        return self._runner.run(flow)

    def close(self) -> None:
        if self._own_transport:
            self.transport.close()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def iter_catalog(self, page_size: int | None = None) -> Iterator[str]:
        """Every repository, page by page, lazily (the gem's ``paginate_doget``)."""
        return self._iterate(self._prepared(lambda: ops.iter_catalog(self.session, page_size)))

    def iter_tags(self, repo: str, page_size: int | None = None) -> Iterator[str]:
        """Every tag of ``repo``, page by page, lazily."""
        return self._iterate(self._prepared(lambda: ops.iter_tags(self.session, repo, page_size)))

    def _iterate(self, flow: Flow[Page]) -> Iterator[str]:
        yield from self._runner.drive(flow)

    def iter_blob(self, repo: str, digest: str | Digest, size: int | None = None) -> Generator[memoryview, None, None]:
        """A blob's bytes in 1 MiB views of one reused buffer, verified as they pass.

        The request is sent on the first ``next()``; the last step raises
        :class:`~ocireg.DigestMismatch` if the bytes (or their count) are wrong.
        Closing the generator early releases the connection.
        """
        d = _digest(digest)
        body = iter_body(self._runner.run(self._open_blob(repo, d)))
        try:
            yield from track(self.progress, str(d), size, verified_chunks(body, d, size))
        finally:
            body.close()

    def export(self, repo: str, reference: str | Digest, out: IO[bytes] | Writable, *,
               platform: str | Platform | None = None) -> int:
        """Write the image's flattened filesystem to ``out`` as a tar stream (``crane export``).

        Whiteouts and opaque directories are applied and each layer's uncompressed
        digest is checked against the config; an index needs ``platform``.  Returns
        the number of entries written.  Blocking only: :mod:`tarfile` pulls each
        layer as a file, so the layers stream through :meth:`iter_blob`, one at a time.
        """
        from ._export import export_layers, image_to_export

        manifest, config = self._execute(self._prepared(
            lambda: image_to_export(self.session, repo, reference, platform)))
        return export_layers(manifest.layers, lambda layer: self.iter_blob(repo, layer.digest, layer.size), out,
                             diff_ids=config.diff_ids)


class AsyncRegistry(_Client[AsyncTransport]):
    """The asyncio client: every method of :class:`Registry`, awaited, except ``export``.

    Listings and blob streams are async iterators; use it as ``async with``.  The
    default transport is the first asyncio transport installed (``ocireg_h11``'s).
    There is no ``export``: flattening layers into a tar reads each layer as a file
    (:mod:`tarfile` pulls from it), which has no asyncio form; stream the layers
    with :meth:`iter_blob` instead, or use :meth:`Registry.export`.
    """

    _runner: AsyncRunner

    def _default_transport(self, **options: Any) -> AsyncTransport:
        return default_async_transport(**options)

    def _start_runner(self) -> None:
        from ._async import AsyncRunner  # asyncio is imported only by those who use it

        self._runner = AsyncRunner(self.transport, jobs=self.jobs, progress=self.progress, clock=self._clock,
                                   route=self._route)

    def _execute(self, flow: Flow[T]) -> Coroutine[Any, Any, T]:
        return self._runner.run(flow)

    async def aclose(self) -> None:
        if self._own_transport:
            await self.transport.close()

    async def __aenter__(self) -> AsyncRegistry:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def iter_catalog(self, page_size: int | None = None) -> AsyncIterator[str]:
        """Every repository, page by page, lazily."""
        return self._runner.drive(self._prepared(lambda: ops.iter_catalog(self.session, page_size)), [])

    def iter_tags(self, repo: str, page_size: int | None = None) -> AsyncIterator[str]:
        """Every tag of ``repo``, page by page, lazily."""
        return self._runner.drive(self._prepared(lambda: ops.iter_tags(self.session, repo, page_size)), [])

    async def iter_blob(self, repo: str, digest: str | Digest, size: int | None = None) -> AsyncIterator[memoryview]:
        """A blob's bytes in views of one reused buffer, verified as they pass."""
        from ._async import aiter_body

        d = _digest(digest)
        response = await self._runner.run(self._open_blob(repo, d))
        verifier = DigestVerifier(d, size)
        key = str(d)
        self.progress.start(key, size, 0)
        try:
            async for chunk in aiter_body(response):
                verifier.update(chunk)
                self.progress.advance(key, len(chunk))
                yield chunk
            verifier.finish()
        finally:
            await response.stream.close()
            self.progress.finish(key)
