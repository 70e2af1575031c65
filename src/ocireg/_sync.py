"""Mirror many images between registries: the job of ``skopeo sync``, regsync and gcrane.

A :class:`SyncConfig` (TOML via :meth:`SyncConfig.from_toml`, or built in Python)
lists rules: a source repository, or a whole namespace listed through the catalog,
mapped to a target; tag filters (exact tags, regular expressions, semver ranges,
the newest N versions); platforms; referrers on or off.  Each registry has its own
settings: credentials (explicit, an environment variable or file read where the
copy runs, else docker's config and credential helpers there), a request-rate
limit, plain HTTP.

:func:`sync` turns the rules into a plan, a list of independent :class:`ImageCopy`
tasks, and runs each with :func:`run_image_copy` on an executor: threads by
default, or any :class:`concurrent.futures.Executor` (a Dask cluster's, for one).
Each copy is itself concurrent (the engine moves its blobs ``jobs`` at a time);
on its own threads :func:`sync` splits one budget of ``jobs`` transfers between
the two levels, so that images times blobs never exceed it.
A task holds only references, options and registry settings; it opens its own
clients where it runs, so it pickles, and a secret it carries shows in no repr.

Each copy is idempotent: when the target tag already names what the copy would
put there (found with a HEAD), the image is *skipped*; otherwise the copy skips
every manifest and blob the target already holds.  So a sync killed midway and
run again moves only what is missing.  A failing image is reported and the rest go
on, unless ``fail_fast``.
"""

from __future__ import annotations

import math
import os
import re
import threading
import time
import tomllib
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Executor, Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from ._auth import CredentialProvider, Credentials
from ._client import Registry
from ._credentials import DockerConfigStore
from ._defaults import DEFAULT_JOBS
from ._digest import Digest
from ._discovery import available_transports, default_transport
from ._errors import InvalidArgument, NotFound, RegistryError, RemoteError
from ._manifest import Index, Platform
from ._ratelimit import RateLimitedTransport, TokenBucket
from ._reference import Reference, validate_registry, validate_repository, validate_tag
from ._semver import VersionRange, newest
from ._transfer import filter_index
from ._transport import Transport

__all__ = [
    "ConnectionOptions",
    "ImageCopy",
    "ImageResult",
    "RegistrySettings",
    "SyncConfig",
    "SyncFailed",
    "SyncReport",
    "SyncRule",
    "TagFilter",
    "plan",
    "run_image_copy",
    "split_jobs",
    "sync",
]

_REFERRERS_TAG = re.compile(r"sha256-[0-9a-f]{64}|sha512-[0-9a-f]{128}")
Status = Literal["copied", "skipped", "failed", "cancelled", "planned"]
CONFIG_LIMIT = 4 << 20
"""Largest sync config read: thousands of rules are a few hundred KiB."""


class SyncFailed(RemoteError):
    """A sync finished with images that failed (the report says which and why)."""

    def __init__(self, report: SyncReport) -> None:
        super().__init__(f"{report.failed} of {len(report.images)} images failed")
        self.report = report


# --- settings and rules ---------------------------------------------------------------


def _positive(value: object, what: str, *, integer: bool = False) -> float:
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not (0 < value < math.inf):
        raise InvalidArgument(f"{what} must be a positive {'integer' if integer else 'number'}, not {value!r:.50}")
    return value


@dataclass(frozen=True)
class RegistrySettings:
    """How to reach one registry and who to be there.

    Credentials, in order: ``credentials`` given explicitly (they travel with the
    task; a :class:`Credentials` never shows its secret in a repr); ``username``
    with ``password_env`` or ``password_file``, read where the copy runs; else, when
    ``docker_config`` is true (or a directory), docker's ``config.json`` and credential
    helpers where the copy runs; else anonymous.
    """

    host: str
    url: str | None = None
    insecure: bool = False
    rate: float | None = None
    """Requests per second to this registry, from each process (None: no limit)."""
    burst: float | None = None
    credentials: Credentials | None = None
    username: str | None = None
    password_env: str | None = None
    password_file: str | None = None
    docker_config: bool | str = True

    def __post_init__(self) -> None:
        validate_registry(self.host)
        if self.rate is not None:
            TokenBucket(self.rate, self.burst)  # the same checks, once, at configuration time
        if self.credentials is not None and not isinstance(self.credentials, Credentials):
            raise InvalidArgument(f"{self.host}: credentials must be a Credentials")
        secret_sources = [s for s in (self.password_env, self.password_file) if s is not None]
        if len(secret_sources) > 1 or (secret_sources and self.username is None):
            raise InvalidArgument(f"{self.host}: give username with one of password_env or password_file")
        if self.username is not None and not secret_sources:
            raise InvalidArgument(f"{self.host}: username needs password_env or password_file")
        if self.credentials is not None and self.username is not None:
            raise InvalidArgument(f"{self.host}: give credentials or username, not both")

    def resolve_credentials(self) -> Credentials | CredentialProvider | None:
        """The credentials to use, looked up here and now (on the worker that runs the copy)."""
        if self.credentials is not None:
            return self.credentials
        if self.username is not None:
            if self.password_env is not None:
                password = os.environ.get(self.password_env)
                if password is None:
                    raise InvalidArgument(f"{self.host}: environment variable {self.password_env} is not set")
            else:
                assert self.password_file is not None
                try:
                    password = Path(self.password_file).read_text(encoding="utf-8")
                except OSError as exc:
                    raise InvalidArgument(f"{self.host}: cannot read {self.password_file}: {exc.strerror}") from None
                password = password.removesuffix("\n").removesuffix("\r")
            return Credentials(username=self.username, password=password)
        if self.docker_config is False:
            return None
        directory = self.docker_config if isinstance(self.docker_config, str) else None
        return DockerConfigStore(docker_config=directory)


@dataclass(frozen=True)
class ConnectionOptions:
    """Transport options, by name so that a task pickles.

    ``transport`` is a name :func:`~ocireg.default_transport` knows (``"urllib3"``,
    ``"h11"``, ``"stdlib"`` or another registered one), checked here against what
    this process has installed; None takes the default where the copy runs.
    """

    transport: str | None = None
    timeout: float = 30.0
    ca_file: str | None = None

    def __post_init__(self) -> None:
        if self.transport is not None and self.transport not in (known := available_transports()):
            raise InvalidArgument(f"transport must be one of {', '.join(known)}, not {self.transport!r:.50}")
        _positive(self.timeout, "timeout")

    def open(self, insecure: bool, pool_size: int = 1) -> Transport:
        """A transport keeping ``pool_size`` connections per registry (one per transfer in flight)."""
        return default_transport(self.transport, open_timeout=self.timeout, read_timeout=self.timeout,
                                 ca_file=self.ca_file, insecure=insecure, pool_size=pool_size)


@dataclass(frozen=True)
class TagFilter:
    """Which tags of a repository to copy.

    A tag is taken when it fully matches one of ``regex`` or names a version in
    ``semver`` (with neither, every listed tag is); tags that fully match an
    ``exclude`` pattern are dropped, and ``newest`` keeps the tags of the N highest
    release versions left.  Tags named in ``tags`` are always copied, even when the
    source does not list them: a missing one is reported as failed, not ignored.
    Listed tags of the OCI 1.1 referrers fallback (``sha256-<hex>``) are never taken:
    they index referrers, which ``referrers`` copies (and the target's own fallback
    tag is kept up to date as they are pushed).
    """

    tags: tuple[str, ...] = ()
    regex: tuple[re.Pattern[str], ...] = ()
    semver: VersionRange | None = None
    exclude: tuple[re.Pattern[str], ...] = ()
    newest: int | None = None

    def __post_init__(self) -> None:
        for tag in self.tags:
            validate_tag(tag)
        if self.newest is not None:
            _positive(self.newest, "newest", integer=True)

    @property
    def needs_listing(self) -> bool:
        """Whether the repository's tags must be listed (not only the exact ones)."""
        return bool(self.regex or self.semver or self.newest is not None or not self.tags)

    def select(self, listed: Iterable[str]) -> list[str]:
        """The tags to copy out of ``listed`` (plus the exact ones), sorted."""
        patterns = bool(self.regex or self.semver)
        if not patterns and self.tags and self.newest is None:
            return sorted(set(self.tags))  # exact tags alone: nothing listed is wanted
        chosen = {
            tag for tag in listed
            if not _REFERRERS_TAG.fullmatch(tag) and (
                not patterns or any(p.fullmatch(tag) for p in self.regex)
                or (self.semver is not None and self.semver.contains(tag))
            )
        }
        kept = [t for t in chosen if not any(p.fullmatch(t) for p in self.exclude)]
        if self.newest is not None:
            kept = newest(kept, self.newest)
        return sorted(set(kept) | set(self.tags))


@dataclass(frozen=True)
class SyncRule:
    """One source mapped to one target.

    ``source`` is ``host/repository`` (a ``:tag`` there is an exact tag); with
    ``namespace`` it is ``host`` or ``host/prefix``, and every repository the
    catalog lists under it is copied to ``target`` (``host/prefix``) followed by the
    repository's path below the source prefix.
    """

    source: str
    target: str
    tags: TagFilter = field(default_factory=TagFilter)
    platforms: tuple[Platform, ...] = ()
    referrers: bool = False
    namespace: bool = False

    def __post_init__(self) -> None:
        if self.namespace:
            _split_namespace(self.source)
            _split_namespace(self.target)
        else:
            source = Reference.parse(self.source)
            if source.digest is not None:
                raise InvalidArgument(f"sync source {self.source!r}: name tags, not a digest")
            if source.tag is not None and ":" in self.source.rsplit("/", 1)[-1]:
                object.__setattr__(self, "tags", replace(self.tags, tags=(*self.tags.tags, source.tag)))
            target = Reference.parse(self.target)
            if target.tag is not None or target.digest is not None:
                raise InvalidArgument(f"sync target {self.target!r}: a repository, without tag or digest")


def _split_namespace(text: str) -> tuple[str, str]:
    host, _, prefix = text.partition("/")
    validate_registry(host)
    if prefix:
        validate_repository(prefix)
    return host, prefix


@dataclass(frozen=True)
class SyncConfig:
    """Rules, per-registry settings, and how to run them."""

    rules: tuple[SyncRule, ...]
    registries: tuple[RegistrySettings, ...] = ()
    jobs: int = DEFAULT_JOBS
    connection: ConnectionOptions = field(default_factory=ConnectionOptions)

    def __post_init__(self) -> None:
        _positive(self.jobs, "jobs", integer=True)
        hosts = [r.host for r in self.registries]
        if len(set(hosts)) != len(hosts):
            raise InvalidArgument("a registry is configured twice")

    def settings(self, host: str) -> RegistrySettings:
        """The settings for ``host`` (defaults when it has none)."""
        for settings in self.registries:
            if settings.host == host:
                return settings
        return RegistrySettings(host)

    @classmethod
    def from_toml(cls, source: str | os.PathLike[str]) -> SyncConfig:
        """Read a config file (see the README's sync section for its keys)."""
        path = Path(source)
        try:
            with path.open("rb") as f:
                data = f.read(CONFIG_LIMIT + 1)
        except OSError as exc:
            raise InvalidArgument(f"{path}: cannot read the sync config ({exc.strerror})") from None
        if len(data) > CONFIG_LIMIT:
            raise InvalidArgument(f"{path}: larger than {CONFIG_LIMIT} bytes")
        try:
            document = tomllib.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise InvalidArgument(f"{path}: not valid TOML ({exc})") from None
        try:
            return cls.from_mapping(document)
        except ValueError as exc:  # InvalidArgument, InvalidReference, InvalidPlatform: all the file's
            raise InvalidArgument(f"{path}: {exc}") from None

    @classmethod
    def from_mapping(cls, document: Mapping[str, Any]) -> SyncConfig:
        """From the TOML document's tables (``[[sync]]``, ``[registries.HOST]``, top-level options)."""
        top = _Table(document, "config")
        defaults_platforms = top.str_list("platforms")
        defaults_referrers = top.bool("referrers", False)
        connection = ConnectionOptions(
            transport=top.opt_str("transport"),
            timeout=top.number("timeout", 30.0),
            ca_file=top.opt_str("ca_file"),
        )
        jobs = int(top.number("jobs", DEFAULT_JOBS))
        registries = []
        for host, value in top.table("registries").items():
            t = _Table(value, f"registries.{host!r}")
            docker_config: bool | str = t.get("docker_config", True, (bool, str))
            registries.append(RegistrySettings(
                host=host, url=t.opt_str("url"), insecure=t.bool("insecure", False),
                rate=t.opt_number("rate"), burst=t.opt_number("burst"), username=t.opt_str("username"),
                password_env=t.opt_str("password_env"), password_file=t.opt_str("password_file"),
                docker_config=docker_config,
            ))
            t.done()
        rules = []
        entries = top.get("sync", [], list)
        for i, value in enumerate(entries):
            t = _Table(value, f"sync[{i}]")
            tags = TagFilter(
                tags=tuple(t.str_list("tags")),
                regex=tuple(_pattern(p, f"sync[{i}].tag_regex") for p in t.str_list("tag_regex")),
                semver=VersionRange.parse(s) if (s := t.opt_str("semver")) is not None else None,
                exclude=tuple(_pattern(p, f"sync[{i}].exclude_regex") for p in t.str_list("exclude_regex")),
                newest=int(n) if (n := t.opt_number("newest")) is not None else None,
            )
            platforms = t.str_list("platforms") if "platforms" in value else defaults_platforms
            rules.append(SyncRule(
                source=t.text("source"), target=t.text("target"), tags=tags,
                platforms=tuple(Platform.parse(p) for p in platforms),
                referrers=t.bool("referrers", defaults_referrers), namespace=t.bool("namespace", False),
            ))
            t.done()
        top.done()
        if not rules:
            raise InvalidArgument("no [[sync]] rules")
        return cls(tuple(rules), tuple(registries), jobs, connection)


def _pattern(text: str, where: str) -> re.Pattern[str]:
    try:
        return re.compile(text)
    except re.error as exc:
        raise InvalidArgument(f"{where}: invalid regular expression {text!r:.100}: {exc}") from None


class _Table:
    """Typed reads from one TOML table; unknown keys are refused (typos do not pass silently)."""

    def __init__(self, value: object, where: str) -> None:
        if not isinstance(value, Mapping):
            raise InvalidArgument(f"{where} must be a table")
        self.value = value
        self.where = where
        self.seen: set[str] = set()

    def get(self, key: str, default: Any, kinds: type | tuple[type, ...]) -> Any:
        self.seen.add(key)
        if key not in self.value:
            return default
        value = self.value[key]
        if isinstance(value, bool) and bool not in (kinds if isinstance(kinds, tuple) else (kinds,)):
            raise InvalidArgument(f"{self.where}.{key}: expected a number, not a boolean")
        if not isinstance(value, kinds):
            raise InvalidArgument(f"{self.where}.{key}: wrong type ({type(value).__name__})")
        return value

    def text(self, key: str) -> str:
        value = self.get(key, None, str)
        if value is None:
            raise InvalidArgument(f"{self.where}.{key} is required")
        return str(value)

    def opt_str(self, key: str) -> str | None:
        value: str | None = self.get(key, None, str)
        return value

    def bool(self, key: str, default: bool) -> bool:
        return bool(self.get(key, default, bool))

    def number(self, key: str, default: float) -> float:
        return float(self.get(key, default, (int, float)))

    def opt_number(self, key: str) -> float | None:
        value = self.get(key, None, (int, float))
        return None if value is None else float(value)

    def str_list(self, key: str) -> list[str]:
        value = self.get(key, [], (list, str))
        items = [value] if isinstance(value, str) else value
        if not all(isinstance(v, str) for v in items):
            raise InvalidArgument(f"{self.where}.{key}: expected strings")
        return list(items)

    def table(self, key: str) -> Mapping[str, Any]:
        value: Mapping[str, Any] = self.get(key, {}, dict)
        return value

    def done(self) -> None:
        unknown = sorted(set(self.value) - self.seen)
        if unknown:
            raise InvalidArgument(f"{self.where}: unknown key {unknown[0]!r}")


# --- the plan -------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageCopy:
    """One task of a plan: copy ``source`` (with its tag) to ``target`` (with its tag)."""

    source: Reference
    target: Reference
    source_registry: RegistrySettings
    target_registry: RegistrySettings
    platforms: tuple[Platform, ...] = ()
    referrers: bool = False
    connection: ConnectionOptions = field(default_factory=ConnectionOptions)
    jobs: int = 1
    """Blobs this copy moves at once (the engine's ``jobs``)."""


@dataclass(frozen=True)
class ImageResult:
    """What happened to one image (or to the listing of one source, when that failed)."""

    source: str
    target: str
    status: Status
    digest: str | None = None
    bytes: int = 0
    seconds: float = 0.0
    referrers: int = 0
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"source": self.source, "target": self.target, "status": self.status}
        if self.digest is not None:
            out["digest"] = self.digest
        out.update(bytes=self.bytes, seconds=round(self.seconds, 3))
        if self.referrers:
            out["referrers"] = self.referrers
        if self.error is not None:
            out["error"] = self.error
        return out


@dataclass(frozen=True)
class SyncReport:
    """Every image's result, in plan order, and the totals."""

    images: tuple[ImageResult, ...]
    seconds: float
    dry_run: bool = False

    def _count(self, status: Status) -> int:
        return sum(1 for r in self.images if r.status == status)

    @property
    def copied(self) -> int:
        return self._count("copied")

    @property
    def skipped(self) -> int:
        return self._count("skipped")

    @property
    def failed(self) -> int:
        return self._count("failed")

    @property
    def cancelled(self) -> int:
        return self._count("cancelled")

    @property
    def bytes(self) -> int:
        return sum(r.bytes for r in self.images)

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.cancelled == 0

    def summary(self) -> str:
        if self.dry_run:
            return f"{self._count('planned')} images planned ({self.failed} sources failed to list)"
        return (f"{self.copied} copied, {self.skipped} skipped, {self.failed} failed"
                + (f", {self.cancelled} cancelled" if self.cancelled else "")
                + f"; {_human(self.bytes)} in {self.seconds:.1f} s")

    def to_json(self) -> dict[str, Any]:
        return {
            "dryRun": self.dry_run, "copied": self.copied, "skipped": self.skipped,
            "failed": self.failed, "cancelled": self.cancelled, "bytes": self.bytes,
            "seconds": round(self.seconds, 3), "images": [r.to_json() for r in self.images],
        }


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def plan(config: SyncConfig) -> tuple[list[ImageCopy], list[ImageResult]]:
    """The copies the rules ask for, and a failed result for each source that could not be listed.

    Listing runs here, in this process, with this machine's credentials.
    """
    tasks: list[ImageCopy] = []
    failures: list[ImageResult] = []
    for rule in config.rules:
        try:
            for source, target in _repositories(config, rule):
                tasks += _rule_tasks(config, rule, source, target)
        except RegistryError as exc:
            failures.append(ImageResult(rule.source, rule.target, "failed", error=_message(exc)))
    return tasks, failures


def _repositories(config: SyncConfig, rule: SyncRule) -> Iterator[tuple[Reference, Reference]]:
    """(source, target) repository pairs of a rule, without tags."""
    if not rule.namespace:
        source = Reference.parse(rule.source)
        target = Reference.parse(rule.target)
        yield Reference(source.registry, source.repository), target
        return
    host, prefix = _split_namespace(rule.source)
    target_host, target_prefix = _split_namespace(rule.target)
    with _Client(config.settings(host), config.connection) as client:
        repositories = sorted(client.registry.iter_catalog())
    for repository in repositories:
        if prefix and not repository.startswith(prefix + "/"):
            continue
        rest = repository[len(prefix) + 1:] if prefix else repository
        mapped = f"{target_prefix}/{rest}" if target_prefix else rest
        yield Reference(host, repository), Reference(target_host, mapped)


def _rule_tasks(config: SyncConfig, rule: SyncRule, source: Reference, target: Reference) -> list[ImageCopy]:
    listed: Iterable[str] = ()
    if rule.tags.needs_listing:
        with _Client(config.settings(source.registry), config.connection) as client:
            listed = list(client.registry.iter_tags(source.repository))
    return [
        ImageCopy(
            source=source.with_tag(tag), target=target.with_tag(tag),
            source_registry=config.settings(source.registry), target_registry=config.settings(target.registry),
            platforms=rule.platforms, referrers=rule.referrers, connection=config.connection,
        )
        for tag in rule.tags.select(listed)
    ]


# --- running one copy -------------------------------------------------------------------

_BUCKETS: dict[tuple[str, float, float | None], TokenBucket] = {}
_BUCKETS_LOCK = threading.Lock()


def _bucket(settings: RegistrySettings) -> TokenBucket | None:
    """The process-wide bucket of a registry: every copy in this process shares it."""
    if settings.rate is None:
        return None
    key = (settings.host, settings.rate, settings.burst)
    with _BUCKETS_LOCK:
        if key not in _BUCKETS:
            _BUCKETS[key] = TokenBucket(settings.rate, settings.burst)
        return _BUCKETS[key]


class _ByteCount:
    """A progress listener that only adds up the bytes moved (from each transfer's thread)."""

    def __init__(self) -> None:
        self.total = 0
        self._lock = threading.Lock()

    def start(self, key: str, total: int | None, done: int) -> None:
        pass

    def advance(self, key: str, n: int) -> None:
        with self._lock:
            self.total += n

    def finish(self, key: str) -> None:
        pass

    def close(self) -> None:
        pass


class _Client:
    """A :class:`Registry` opened from settings, with its own transport, closed on exit.

    The transport is wrapped in the registry's rate limit, so every request of the
    client goes through it, those of its ``jobs`` concurrent transfers, and those a
    copy from another client routes to this one's transport.
    """

    def __init__(self, settings: RegistrySettings, connection: ConnectionOptions, jobs: int = 1) -> None:
        transport = connection.open(settings.insecure, pool_size=jobs)
        bucket = _bucket(settings)
        self.transport: Transport = transport if bucket is None else RateLimitedTransport(transport, bucket)
        self.bytes = _ByteCount()
        try:
            self.registry = Registry(settings.url or settings.host, credentials=settings.resolve_credentials(),
                                     transport=self.transport, insecure=settings.insecure, progress=self.bytes,
                                     jobs=jobs)
        except BaseException:
            self.transport.close()
            raise

    def __enter__(self) -> _Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.transport.close()


def _message(exc: BaseException) -> str:
    """An error as one line; ocireg's messages carry no credentials by design."""
    text = str(exc) if isinstance(exc, RegistryError | OSError) else f"{type(exc).__name__}: {exc}"
    return " ".join(text.split())


def _outcomes(source: Registry, task: ImageCopy) -> tuple[Digest, set[Digest]]:
    """The source digest, and every digest the target tag may hold once the copy is done.

    With platforms, a copy makes a filtered index, or may keep a single child's own
    manifest: any of those at the target means there is nothing left to copy.
    """
    result = source.manifest(task.source.repository, task.source.target)
    done = {result.digest}
    if task.platforms and isinstance(result.document, Index):
        filtered = filter_index(result.document, task.platforms)
        done.add(filtered.digest)
        if len(filtered.manifests) == 1:
            done.add(filtered.manifests[0].digest)
    return result.digest, done


def _has_manifest(registry: Registry, repo: str, reference: str | Digest) -> Digest | None:
    try:
        return registry.manifest_digest(repo, reference)
    except NotFound:
        return None


def run_image_copy(task: ImageCopy) -> ImageResult:
    """Run one task of a plan, wherever the executor runs it; ocireg's errors become a failed result."""
    start = time.monotonic()
    src, dst = str(task.source), str(task.target)
    digest: Digest | None = None
    moved = _ByteCount()
    try:
        with _Client(task.source_registry, task.connection, task.jobs) as source_client, \
                _Client(task.target_registry, task.connection, task.jobs) as target_client:
            moved = source_client.bytes
            source, target = source_client.registry, target_client.registry
            repo, dest_repo, tag = task.source.repository, task.target.repository, task.target.tag
            digest, done = _outcomes(source, task)
            if _has_manifest(target, dest_repo, tag or str(digest)) in done:
                # The image is there; referrers may have been added at the source since.
                missing = [r for r in (source.referrers(repo, digest) if task.referrers else ())
                           if _has_manifest(target, dest_repo, r.digest) is None]
                for referrer in missing:
                    source.copy(repo, referrer.digest, target, dest_repo, None)
                status: Status = "copied" if missing else "skipped"
                return ImageResult(src, dst, status, str(digest), moved.total,
                                   time.monotonic() - start, len(missing))
            copied = source.copy(repo, task.source.target, target, dest_repo, tag,
                                 platforms=list(task.platforms) or None, referrers=task.referrers)
            return ImageResult(src, dst, "copied", str(copied.descriptor.digest), moved.total,
                               time.monotonic() - start, len(copied.referrers))
    except (RegistryError, OSError) as exc:
        return ImageResult(src, dst, "failed", str(digest) if digest else None, moved.total,
                           time.monotonic() - start, error=_message(exc))


# --- the whole run ----------------------------------------------------------------------


def _as_config(config: SyncConfig | str | os.PathLike[str] | Mapping[str, Any]) -> SyncConfig:
    if isinstance(config, SyncConfig):
        return config
    if isinstance(config, Mapping):
        return SyncConfig.from_mapping(config)
    return SyncConfig.from_toml(config)


def sync(
    config: SyncConfig | str | os.PathLike[str] | Mapping[str, Any],
    *,
    executor: Executor | None = None,
    jobs: int | None = None,
    copy_jobs: int | None = None,
    dry_run: bool = False,
    fail_fast: bool = False,
    progress: Callable[[ImageResult], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> SyncReport:
    """Copy every image the config's rules name; return the report (raises nothing for a failed image).

    ``config`` is a :class:`SyncConfig`, a TOML file's path, or its parsed tables.
    Without ``executor`` the copies run on threads of this process, with ``jobs``
    (default: the config's) transfers in flight in all: that many images at once
    when there are that many, else fewer images each moving several blobs at once
    (see :func:`split_jobs`).  With ``executor`` (any
    :class:`concurrent.futures.Executor`, e.g. a Dask client's ``get_executor()``)
    the executor decides how many images run at once and ``jobs`` is not used; each
    copy moves one blob at a time.  ``copy_jobs``, when given, sets the blobs each
    copy moves at once in either case.  ``dry_run`` lists and
    plans only.  ``progress`` is called with each image's result as it finishes.
    ``fail_fast`` cancels what has not started after the first failure.
    """
    resolved = _as_config(config)
    started = clock()
    tasks, failures = plan(resolved)
    if dry_run:
        planned = [ImageResult(str(t.source), str(t.target), "planned") for t in tasks]
        return SyncReport(tuple(planned + failures), clock() - started, dry_run=True)
    results: dict[int, ImageResult] = {}
    for failure in failures:
        if progress is not None:
            progress(failure)
    own = executor is None
    if executor is None:
        workers, per_copy = split_jobs(_positive_int(jobs or resolved.jobs), len(tasks))
        pool: Executor = ThreadPoolExecutor(max_workers=workers)
    else:
        per_copy, pool = 1, executor
    if copy_jobs is not None:
        per_copy = _positive_int(copy_jobs)
    tasks = [replace(task, jobs=per_copy) for task in tasks]
    try:
        futures: dict[Future[ImageResult], int] = {}
        stop = fail_fast and bool(failures)
        if not stop:
            futures = {pool.submit(run_image_copy, task): i for i, task in enumerate(tasks)}
        for future in as_completed(futures):
            index = futures[future]
            if future.cancelled():
                continue
            try:
                result = future.result()
            except Exception as exc:  # a worker lost or a bug: that image failed, the rest go on
                task = tasks[index]
                result = ImageResult(str(task.source), str(task.target), "failed", error=_message(exc))
            results[index] = result
            if progress is not None:
                progress(result)
            if fail_fast and result.status == "failed" and not stop:
                stop = True
                for other in futures:
                    other.cancel()
    finally:
        if own:
            pool.shutdown(wait=True, cancel_futures=True)
    ordered = [results.get(i) or ImageResult(str(t.source), str(t.target), "cancelled")
               for i, t in enumerate(tasks)]
    return SyncReport(tuple(ordered + failures), clock() - started)


def _positive_int(value: int) -> int:
    return int(_positive(value, "jobs", integer=True))


def split_jobs(jobs: int, images: int) -> tuple[int, int]:
    """``jobs`` transfers shared between ``images`` copies: (images at once, blobs per copy).

    Images first, since images are independent and a copy's blobs wait on its
    manifests; what is left over when there are fewer images than ``jobs`` goes to
    each copy's blobs.  The product never exceeds ``jobs``, so the two levels of
    concurrency together never oversubscribe the connections or the registries.
    """
    workers = max(1, min(jobs, images))
    return workers, max(1, jobs // workers)
