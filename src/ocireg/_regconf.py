"""containers' ``registries.conf`` (v2, and v1 converted), read as containers/image reads it.

podman, skopeo and buildah users configure registries here: mirrors, location
rewrites, insecure and blocked registries, and the registries tried for short
names.  :meth:`RegistryConfig.load` finds the files as containers/image does:

1. the main file: an explicit path, else ``$CONTAINERS_REGISTRIES_CONF``, else
   ``$HOME/.config/containers/registries.conf`` if it exists, else
   ``/etc/containers/registries.conf`` (a missing default file is an empty one;
   a missing file that was named is an error);
2. then the drop-ins, ``*.conf`` in name order: ``/etc/containers/registries.conf.d``
   and ``$HOME/.config/containers/registries.conf.d`` (only the latter when the
   main file is the per-user one).  A drop-in's ``[[registry]]`` replaces the one
   with the same prefix; its ``unqualified-search-registries``, when present,
   replace the list.

Matching and rewriting follow ``sysregistriesv2``: the ``[[registry]]`` whose
``prefix`` is the longest match of ``registry/repository:tag@digest`` applies
(``prefix`` is ``host[:port][/namespace...]`` or ``*.example.com``); its
``location`` replaces the prefix.  Pulls try the mirrors in order (as their
``pull-from-mirror`` or the registry's ``mirror-by-digest-only`` allow), then the
primary location; pushes go to the primary location only.

Not read: ``[aliases]`` and ``short-name-mode`` (short names go to the
unqualified-search registries in order, or to docker.io when none is configured),
``credential-helpers``.  A blocked registry is refused for every command, not only
pulls.  Everything here is pure except :meth:`RegistryConfig.load`, which reads files.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from ._errors import InvalidConfig, InvalidReference, RegistryBlocked, RemoteError
from ._flow import Flow
from ._reference import Reference, _reads_as_registry, validate_registry

__all__ = [
    "CONFIG_ENV",
    "PullSource",
    "RegistryConfig",
    "RegistryEntry",
    "first_available",
    "is_short_name",
]

T = TypeVar("T")

CONFIG_ENV = "CONTAINERS_REGISTRIES_CONF"
SYSTEM_FILE = Path("/etc/containers/registries.conf")
SYSTEM_DIR = Path("/etc/containers/registries.conf.d")
USER_FILE = Path(".config/containers/registries.conf")
USER_DIR = Path(".config/containers/registries.conf.d")
MAX_FILE_SIZE = 1 << 20
"""A registries.conf is a few KiB; a bigger file is not read (bounded memory)."""
MAX_DROP_INS = 1000

_PULL_FROM_MIRROR = ("all", "digest-only", "tag-only")


@dataclass(frozen=True)
class Mirror:
    location: str
    insecure: bool = False
    pull_from_mirror: str = "all"


@dataclass(frozen=True)
class RegistryEntry:
    """One ``[[registry]]`` table, normalised (``prefix`` defaults to ``location``)."""

    prefix: str
    location: str
    insecure: bool = False
    blocked: bool = False
    mirror_by_digest_only: bool = False
    mirrors: tuple[Mirror, ...] = ()


@dataclass(frozen=True)
class PullSource:
    """Where to read an image: the rewritten reference, and whether its host is insecure."""

    reference: Reference
    insecure: bool = False
    mirror: bool = False


def is_short_name(text: str) -> bool:
    """Whether a reference as typed names no registry (``alpine``, ``user/app``)."""
    first, slash, _ = text.partition("/")
    return not slash or not _reads_as_registry(first.split("@", 1)[0])


def _match(ref: str, prefix: str) -> int:
    """The length of ``ref`` that ``prefix`` matches, or -1 (containers/image's rule)."""
    if prefix.startswith("*."):
        index = ref.find(prefix[1:])
        if index == -1 or "/" in ref[:index]:
            return -1
        index += len(prefix) - 1
        return index if index == len(ref) or ref[index] in ":/@" else -1
    if ref == prefix:
        return len(prefix)
    if ref.startswith(prefix) and len(ref) > len(prefix) and ref[len(prefix)] in ":/@":
        return len(prefix)
    return -1


@dataclass(frozen=True)
class RegistryConfig:
    """What the registries configuration says; empty means docker's defaults.

    ``unqualified_search`` is None when not configured: short names then mean
    docker.io, as docker, crane and skopeo read them.
    """

    registries: tuple[RegistryEntry, ...] = ()
    unqualified_search: tuple[str, ...] | None = None
    sources: tuple[str, ...] = field(default=(), compare=False)
    """The files read, for messages."""

    # --- reading ------------------------------------------------------------------

    @classmethod
    def parse(cls, text: str, source: str = "<registries.conf>", *, drop_in: bool = False) -> RegistryConfig:
        """One file's content; v1 tables are converted (not in drop-ins, as containers/image)."""
        import tomllib  # only when a registries.conf exists

        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise InvalidConfig(f"{source}: not valid TOML: {exc}") from None
        try:
            return _parse(data, source, drop_in=drop_in)
        except (InvalidConfig, InvalidReference) as exc:
            raise InvalidConfig(f"{source}: {exc}") from None

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str] | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        home: str | os.PathLike[str] | None = None,
        system_file: Path = SYSTEM_FILE,
        system_dir: Path = SYSTEM_DIR,
    ) -> RegistryConfig:
        """The configuration in force, read from the files containers/image reads (see above)."""
        env = os.environ if environ is None else environ
        home_dir = Path(home) if home is not None else Path(env.get("HOME") or Path.home())
        user_file, user_dir = home_dir / USER_FILE, home_dir / USER_DIR
        named = path if path is not None else env.get(CONFIG_ENV) or None
        dirs: list[Path] = [system_dir, user_dir]
        if named is not None:
            main, required = Path(named), True
        elif user_file.is_file():
            main, required, dirs = user_file, False, [user_dir]
        else:
            main, required = system_file, False
        text = _read(main, required=required)
        config = cls() if text is None else cls.parse(text, str(main))
        for directory in dirs:
            for drop_in in _drop_ins(directory):
                text = _read(drop_in, required=False)
                if text is not None:  # removed since listed: as containers/image, skip it
                    config = config.merged(cls.parse(text, str(drop_in), drop_in=True))
        return config

    def merged(self, drop_in: RegistryConfig) -> RegistryConfig:
        """This configuration updated by a drop-in: registries by prefix, search list if set."""
        by_prefix = {entry.prefix: entry for entry in self.registries}
        by_prefix.update((entry.prefix, entry) for entry in drop_in.registries)
        search = drop_in.unqualified_search if drop_in.unqualified_search is not None else self.unqualified_search
        return RegistryConfig(tuple(by_prefix[p] for p in sorted(by_prefix)), search,
                              (*self.sources, *drop_in.sources))

    # --- using it -----------------------------------------------------------------

    def find(self, name: str) -> RegistryEntry | None:
        """The entry whose prefix is the longest match of ``name`` (a host, a name, a reference)."""
        best, length = None, 0
        for entry in self.registries:
            if _match(name, entry.prefix) != -1 and len(entry.prefix) > length:
                best, length = entry, len(entry.prefix)
        return best

    def candidates(self, text: str) -> tuple[Reference, ...]:
        """The references a name as typed may mean, in the order to try them.

        A short name (no registry) is tried on each unqualified-search registry
        when they are configured; otherwise it means docker.io, as docker reads it.
        """
        if not is_short_name(text) or not self.unqualified_search:
            return (Reference.parse(text),)
        return tuple(Reference.parse(f"{registry}/{text}") for registry in self.unqualified_search)

    def _entry(self, ref: Reference) -> RegistryEntry | None:
        entry = self.find(str(ref))
        if entry is not None and entry.blocked:
            where = f" ({', '.join(self.sources)})" if self.sources else ""
            raise RegistryBlocked(f"{ref.familiar}: registry {entry.prefix} is blocked in the registries configuration{where}")
        return entry

    def push_target(self, ref: Reference) -> PullSource:
        """Where a write to ``ref`` goes: its primary location (rewritten); never a mirror."""
        entry = self._entry(ref)
        if entry is None:
            return PullSource(ref)
        return PullSource(_rewrite(ref, entry.prefix, entry.location), entry.insecure)

    def pull_sources(self, ref: Reference) -> tuple[PullSource, ...]:
        """Where a read of ``ref`` may be served, in order: the allowed mirrors, then the primary."""
        entry = self._entry(ref)
        if entry is None:
            return (PullSource(ref),)
        pinned = ref.digest is not None
        sources = []
        for mirror in entry.mirrors:
            rule = "digest-only" if entry.mirror_by_digest_only else mirror.pull_from_mirror
            if (rule == "digest-only" and not pinned) or (rule == "tag-only" and pinned):
                continue
            sources.append(PullSource(_rewrite(ref, entry.prefix, mirror.location), mirror.insecure, True))
        sources.append(PullSource(_rewrite(ref, entry.prefix, entry.location), entry.insecure))
        return tuple(sources)

    def is_insecure(self, host: str) -> bool:
        """Whether ``host[:port]`` is declared insecure, as a registry or as a mirror."""
        entry = self.find(host)
        if entry is not None and entry.insecure:
            return True
        return any(m.insecure and m.location.split("/", 1)[0] == host
                   for e in self.registries for m in e.mirrors)


def first_available(sources: Sequence[T], probe: Callable[[T], Flow[object]]) -> Flow[T]:
    """The first of ``sources`` whose ``probe`` flow succeeds, trying them in order.

    A registry failure (a 404, a refusal, a connection error) moves on to the next;
    a mistake of the caller's stops at once.  When all fail, the last source's error
    is raised (the primary location's, which is what the user named), with the
    others' in its message.
    """
    failures: list[str] = []
    for i, source in enumerate(sources):
        try:
            yield from probe(source)
        except RemoteError as exc:
            if i == len(sources) - 1:
                if failures:
                    exc.args = (f"{exc} (also tried: {'; '.join(failures)})", *exc.args[1:])
                raise
            failures.append(f"{_name(source)}: {exc}")
            continue
        return source
    raise InvalidConfig("no source to pull from")


def _name(source: object) -> str:
    return source.reference.familiar if isinstance(source, PullSource) else str(source)


# --- parsing ------------------------------------------------------------------------


def _read(path: Path, *, required: bool) -> str | None:
    try:
        with path.open("rb") as f:
            data = f.read(MAX_FILE_SIZE + 1)
    except FileNotFoundError:
        if required:
            raise InvalidConfig(f"{path}: registries configuration file not found") from None
        return None
    except OSError as exc:
        raise InvalidConfig(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_FILE_SIZE:
        raise InvalidConfig(f"{path}: larger than {MAX_FILE_SIZE} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidConfig(f"{path}: not UTF-8") from None


def _drop_ins(directory: Path) -> list[Path]:
    try:
        names = sorted(entry.name for entry in os.scandir(directory)
                       if entry.name.endswith(".conf") and not entry.is_dir())
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError as exc:
        raise InvalidConfig(f"{directory}: cannot list: {exc.strerror or exc}") from None
    return [directory / name for name in names[:MAX_DROP_INS]]


def _location(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise InvalidConfig(f"{what} must be a string")
    trimmed = value.rstrip("/")
    if trimmed.startswith(("http://", "https://")):
        raise InvalidConfig(f"invalid {what} {value!r}: URI schemes are not supported")
    return trimmed


def _bool(table: Mapping[str, Any], key: str, what: str) -> bool:
    value = table.get(key, False)
    if not isinstance(value, bool):
        raise InvalidConfig(f"{what}: {key} must be true or false")
    return value


def _tables(value: object, what: str) -> list[Mapping[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
        raise InvalidConfig(f"{what} must be an array of tables")
    return value


def _strings(value: object, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidConfig(f"{what} must be an array of strings")
    return value


def _parse_v1(v1: object) -> dict[str, Any]:
    """A v1 ``[registries.search/insecure/block]`` configuration as its v2 equivalent."""
    if not isinstance(v1, dict):
        raise InvalidConfig("registries must be a table (v1 format)")
    entries: dict[str, dict[str, Any]] = {}
    for kind, key in (("block", "blocked"), ("insecure", "insecure")):
        section = v1.get(kind, {})
        if not isinstance(section, dict):
            raise InvalidConfig(f"registries.{kind} must be a table")
        for location in _strings(section.get("registries", []), f"registries.{kind}.registries"):
            entries.setdefault(location, {"location": location})[key] = True
    out: dict[str, Any] = {"registry": list(entries.values())}
    search = v1.get("search", {})
    if not isinstance(search, dict):
        raise InvalidConfig("registries.search must be a table")
    if "registries" in search:
        out["unqualified-search-registries"] = _strings(search["registries"], "registries.search.registries")
    return out


def _parse(data: dict[str, Any], source: str, *, drop_in: bool) -> RegistryConfig:
    if "registries" in data:
        if drop_in:
            raise InvalidConfig("a drop-in must be in the v2 format, this one is v1")
        if "registry" in data or "unqualified-search-registries" in data:
            raise InvalidConfig("mixing the v1 and v2 formats is not supported")
        data = _parse_v1(data["registries"])
    entries: list[RegistryEntry] = []
    seen: set[str] = set()
    for i, table in enumerate(_tables(data.get("registry"), "[[registry]]")):
        entry = _entry(table, f"[[registry]] #{i + 1}")
        if entry.prefix not in seen:  # the first of equal prefixes wins, as containers/image
            seen.add(entry.prefix)
            entries.append(entry)
    settings: dict[str, tuple[bool, bool]] = {}
    for entry in entries:
        key = entry.location or entry.prefix
        if settings.setdefault(key, (entry.insecure, entry.blocked)) != (entry.insecure, entry.blocked):
            raise InvalidConfig(f"registry {key!r} is defined several times with conflicting insecure or blocked")
    search: tuple[str, ...] | None = None
    if "unqualified-search-registries" in data:
        found = _strings(data["unqualified-search-registries"], "unqualified-search-registries")
        search = tuple(validate_registry(_location(r, "unqualified-search-registries entry")) for r in found)
    return RegistryConfig(tuple(sorted(entries, key=lambda e: e.prefix)), search, (source,))


def _entry(table: Mapping[str, Any], what: str) -> RegistryEntry:
    location = _location(table.get("location", ""), f"{what} location")
    prefix = _location(table.get("prefix", ""), f"{what} prefix") or location
    if not prefix:
        raise InvalidConfig(f"{what}: both location and prefix are unset")
    if prefix.startswith("*."):
        if any(c in prefix for c in "/@:"):
            raise InvalidConfig(f"{what}: a wildcard prefix is *.example.com, not {prefix!r}")
    elif not location:
        raise InvalidConfig(f"{what}: location is unset and prefix is not *.example.com")
    if "pull-from-mirror" in table:
        raise InvalidConfig(f"{what}: pull-from-mirror is for mirrors, not the registry")
    by_digest = _bool(table, "mirror-by-digest-only", what)
    mirrors = []
    for j, mirror in enumerate(_tables(table.get("mirror"), f"{what} mirror")):
        where = f"{what} mirror #{j + 1}"
        mirror_location = _location(mirror.get("location", ""), f"{where} location")
        if not mirror_location:
            raise InvalidConfig(f"{where}: location is unset")
        rule = mirror.get("pull-from-mirror", "")
        if rule not in ("", *_PULL_FROM_MIRROR):
            raise InvalidConfig(f"{where}: pull-from-mirror must be one of {', '.join(_PULL_FROM_MIRROR)}")
        if by_digest and rule:
            raise InvalidConfig(f"{where}: pull-from-mirror cannot be set with mirror-by-digest-only")
        mirrors.append(Mirror(mirror_location, _bool(mirror, "insecure", where), rule or "all"))
    return RegistryEntry(prefix, location, _bool(table, "insecure", what), _bool(table, "blocked", what),
                         by_digest, tuple(mirrors))


def _rewrite(ref: Reference, prefix: str, location: str) -> Reference:
    """``ref`` with ``prefix`` replaced by ``location``."""
    text = str(ref)
    length = _match(text, prefix)
    if not location:  # a wildcard prefix without a location: the reference as it is
        return ref
    try:
        return Reference.parse(location + text[length:])
    except InvalidReference as exc:
        raise InvalidConfig(f"location {location!r} rewrites {ref.familiar} to an invalid reference: {exc}") from None
