"""Registry credentials where the container tools keep them: Docker's config, containers' auth.json.

This is the one core module (with the layout) allowed to touch the machine: it
reads files and environment variables and runs credential helper programs, because
that is where users' credentials live.  Nothing here speaks HTTP; the result is a
:class:`~ocireg._auth.Credentials` handed to the auth flow, or ``None``.

Lookup for a registry host (``ghcr.io``, ``127.0.0.1:5000``, ``docker.io``):

1. Docker's ``config.json`` (``$DOCKER_CONFIG/config.json``, else
   ``~/.docker/config.json``): ``credHelpers[host]`` runs
   ``docker-credential-<name> get``; else an ``auths`` entry holding credentials;
   else ``credsStore``, the default helper for every registry.  ``auths`` entries
   that hold nothing (``{}``, the placeholder docker writes next to a helper) do not
   count, so the helper behind them is asked.
2. containers' ``auth.json`` (``$REGISTRY_AUTH_FILE``, else
   ``$XDG_RUNTIME_DIR/containers/auth.json`` then
   ``${XDG_CONFIG_HOME:-~/.config}/containers/auth.json``), the same format, where a
   key may also name a repository (``quay.io/org/app``) or a namespace
   (``quay.io/org``): asked for a repository, the most specific key that covers it
   wins.

Helpers are looked up in the absolute entries of ``PATH`` only: an empty or
relative entry (the current directory) is never searched.

Docker Hub answers to several names; all of them map to the key docker itself
writes, ``https://index.docker.io/v1/`` (see :func:`registry_key`).

Failures raise :class:`~ocireg.InvalidArgument`: a malformed file is named, never
quoted (it holds secrets); a helper that is missing or fails is named with its exit
status and its trimmed diagnostics, scrubbed of anything that was sent to it.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import math
import os
import re
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._auth import Credentials
from ._errors import InvalidArgument, RegistryError
from ._files import atomic_write
from ._http import redact_secrets, secret_forms
from ._reference import validate_registry, validate_repository
from ._strictjson import parse_json_object

__all__ = [
    "CONFIG_LIMIT",
    "DOCKER_HUB_KEY",
    "HELPER_TIMEOUT",
    "DockerConfigStore",
    "login",
    "logout",
    "registry_key",
]

CONFIG_LIMIT = 1 << 20
"""Credential files and helper answers are a few KiB; 1 MiB is read at most."""
DOCKER_HUB_KEY = "https://index.docker.io/v1/"
"""The key docker writes for Docker Hub, and the server URL its helpers are given."""
_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
_TOKEN_USERNAME = "<token>"
"""A helper answering this username means ``Secret`` is an identity (refresh) token."""
_NOT_FOUND = "credentials not found"
"""What docker-credential-helpers print (on stdout) when they hold nothing for a URL."""
_HELPER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", re.ASCII)
# The name comes from a file and becomes part of a program name looked up on PATH:
# no separators, so "../../tmp/x" can never name a program outside PATH.
_DIAGNOSTIC_MAX = 200
HELPER_TIMEOUT = 10.0
"""Seconds a credential helper may take (a keychain may prompt, but not forever)."""


# --- keys and hosts -------------------------------------------------------------------


def _strip_scheme(key: str) -> tuple[str, bool]:
    lowered = key.lower()
    for scheme in ("https://", "http://"):
        if lowered.startswith(scheme):
            return key[len(scheme) :], True
    return key, False


def _canonical_host(host: str) -> str:
    """Lower case, with Docker Hub's names folded into one."""
    host = host.lower()
    return "docker.io" if host in _HUB_ALIASES else host


def _host_of(host: str) -> str:
    """Validate a host given by the caller (a URL-ish key is accepted) and fold it."""
    if not isinstance(host, str):
        raise InvalidArgument(f"registry host must be a string, got {type(host).__name__}")
    bare, _ = _strip_scheme(host)
    bare = bare.split("/", 1)[0]
    try:
        validate_registry(bare)
    except RegistryError:
        raise InvalidArgument(f"invalid registry host {host!r}") from None
    return _canonical_host(bare)


def registry_key(host: str) -> str:
    """The ``auths`` / helper key docker uses for ``host``.

    ``ghcr.io`` -> ``ghcr.io``; ``docker.io``, ``index.docker.io`` and
    ``registry-1.docker.io`` -> ``https://index.docker.io/v1/``.
    """
    canonical = _host_of(host)
    return DOCKER_HUB_KEY if canonical == "docker.io" else canonical


@dataclass(frozen=True)
class _Key:
    """Where an ``auths`` / ``credHelpers`` key points: a host, maybe a repository in it."""

    host: str
    path: str

    @classmethod
    def parse(cls, key: str, *, repository_paths: bool) -> _Key:
        # docker reduces every key to its host (``https://host/v1/`` -> ``host``);
        # containers keeps a repository path, except on legacy keys with a scheme.
        bare, had_scheme = _strip_scheme(key)
        host, _, path = bare.partition("/")
        if had_scheme or not repository_paths:
            path = ""
        return cls(_canonical_host(host), path.strip("/"))


def _ranked(
    table: Mapping[str, Any],
    host: str,
    *,
    repository_paths: bool,
    repository: str | None = None,
) -> Iterator[tuple[str, Any]]:
    """The entries of ``table`` that apply to ``host``, most specific key first.

    For a ``repository`` (containers-auth.json's rule): keys naming it or a
    namespace above it, longest first (``host/org/app`` before ``host/org``), then
    the exact host key (what docker itself writes), then other host-only keys in
    file order; keys for other repositories do not apply.  Asked for a host alone:
    the exact key, host-only keys, then repository keys with the most general
    first, as a key for the whole registry fits better than one for a repository.
    """
    exact = registry_key(host)
    found: list[tuple[int, str, Any]] = []
    for name, value in table.items():
        key = _Key.parse(name, repository_paths=repository_paths)
        if key.host != host:
            continue
        if name == exact:
            rank = 0
        elif not key.path:
            rank = 1
        elif repository is None:
            rank = 2 + key.path.count("/")
        elif repository == key.path or repository.startswith(key.path + "/"):
            rank = -1 - key.path.count("/")  # deeper is more specific: earlier
        else:
            continue  # another repository's key
        found.append((rank, name, value))
    found.sort(key=lambda item: item[0])  # stable: file order within a rank
    for _, name, value in found:
        yield name, value


# --- files ----------------------------------------------------------------------------


def _read_config(path: Path) -> dict[str, Any] | None:
    """The JSON object in ``path``, ``None`` if there is no such file."""
    try:
        with path.open("rb") as f:
            data = f.read(CONFIG_LIMIT + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise InvalidArgument(f"cannot read credentials file {path}: {exc.strerror}") from None
    return parse_json_object(
        data, limit=CONFIG_LIMIT, what=f"credentials file {path}", error=InvalidArgument
    )


def _section(config: Mapping[str, Any], name: str, path: Path) -> dict[str, Any]:
    value = config.get(name, {})
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidArgument(f"credentials file {path}: {name!r} must be an object")
    return value


def _helper_name(value: object, where: str, path: Path) -> str | None:
    if value is None or value == "":
        return None  # docker: an empty store name means no store
    if not isinstance(value, str) or _HELPER_NAME.fullmatch(value) is None:
        raise InvalidArgument(f"credentials file {path}: {where} is not a helper name")
    return value


def _optional_text(entry: Mapping[str, Any], field: str, where: str) -> str | None:
    value = entry.get(field)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidArgument(f"{where}: {field!r} must be a string")
    return value


def _entry_credentials(entry: object, where: str) -> Credentials | None:
    """Credentials of one ``auths`` entry; ``None`` for a placeholder holding nothing."""
    if not isinstance(entry, dict):
        raise InvalidArgument(f"{where} must be an object")
    username = _optional_text(entry, "username", where)
    password = _optional_text(entry, "password", where)
    encoded = _optional_text(entry, "auth", where)
    if encoded is not None:
        # None of the messages below may quote the value: it is the password.
        try:
            decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            raise InvalidArgument(f"{where}: 'auth' is not base64 of UTF-8 text") from None
        user, sep, secret = decoded.partition(":")
        if not sep:
            raise InvalidArgument(f"{where}: 'auth' is not base64 of user:password")
        # docker trims NULs some old writers padded the password with.
        username, password = user or None, secret.strip("\x00") or None
    try:
        credentials = Credentials(
            username=username,
            password=password,
            identity_token=_optional_text(entry, "identitytoken", where),
            registry_token=_optional_text(entry, "registrytoken", where),
        )
    except InvalidArgument as exc:
        raise InvalidArgument(f"{where}: {exc}") from None
    return None if credentials.is_empty else credentials


# --- helpers --------------------------------------------------------------------------


def _scrub(text: str, secrets: tuple[str, ...]) -> str:
    """One trimmed line of diagnostics with every secret (raw or escaped) removed."""
    line = " ".join(redact_secrets(text, secret_forms(secrets)).split())
    if len(line) > _DIAGNOSTIC_MAX:
        line = line[:_DIAGNOSTIC_MAX] + "..."
    return line


@dataclass(frozen=True)
class _Helper:
    """A ``docker-credential-<name>`` program, run without a shell and with a timeout."""

    name: str
    env: Mapping[str, str] | None
    timeout: float

    @property
    def program(self) -> str:
        return f"docker-credential-{self.name}"

    def _find(self) -> str:
        """The helper's absolute path, searched only in absolute ``PATH`` entries.

        An empty or relative entry means the current directory, where anyone who
        can write a file would choose the program that receives the credentials:
        docker refuses such a match (Go's ``exec.ErrDot``), and so does this.
        """
        environ = os.environ if self.env is None else self.env
        entries = environ.get("PATH", os.defpath).split(os.pathsep)
        safe = [e for e in entries if os.path.isabs(e)]
        found = shutil.which(self.program, path=os.pathsep.join(safe)) if safe else None
        if found is not None:
            return found
        unsafe = [e or "." for e in entries if not os.path.isabs(e)]
        if unsafe and shutil.which(self.program, path=os.pathsep.join(unsafe)) is not None:
            raise InvalidArgument(
                f"credential helper {self.program} found only through a relative PATH entry; "
                "refusing to run a program chosen by the current directory"
            )
        raise InvalidArgument(f"credential helper {self.program} not found on PATH")

    def _run(self, action: str, payload: bytes, secrets: tuple[str, ...] = ()) -> bytes | None:
        """Run ``action``; stdout on success, ``None`` when the helper holds nothing."""
        import subprocess  # only for helpers: 2 ms of every command's start-up otherwise

        executable = self._find()
        try:
            done = subprocess.run(
                [executable, action],
                input=payload,
                capture_output=True,
                timeout=self.timeout,
                env=None if self.env is None else dict(self.env),
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise InvalidArgument(
                f"credential helper {self.program} {action} timed out after {self.timeout:g} s"
            ) from None
        except OSError as exc:
            raise InvalidArgument(
                f"credential helper {self.program} {action} could not run: {exc.strerror}"
            ) from None
        if done.returncode == 0:
            return done.stdout
        out = done.stdout.decode("utf-8", "replace")
        err = done.stderr.decode("utf-8", "replace")
        # docker-credential-helpers report errors on stdout, others on stderr.
        if _NOT_FOUND in out.lower() or _NOT_FOUND in err.lower():
            return None
        detail = _scrub(err.strip() or out.strip(), secrets)
        raise InvalidArgument(
            f"credential helper {self.program} {action} exited with status {done.returncode}"
            + (f": {detail}" if detail else "")
        )

    def get(self, server_url: str) -> Credentials | None:
        out = self._run("get", server_url.encode("utf-8"))
        if out is None:
            return None
        what = f"answer of credential helper {self.program} get"
        answer = parse_json_object(out, limit=CONFIG_LIMIT, what=what, error=InvalidArgument)
        username = _optional_text(answer, "Username", what)
        secret = _optional_text(answer, "Secret", what)
        try:
            if username == _TOKEN_USERNAME:
                credentials = Credentials(identity_token=secret)
            else:
                credentials = Credentials(username=username, password=secret)
        except InvalidArgument as exc:
            raise InvalidArgument(f"{what}: {exc}") from None
        return None if credentials.is_empty else credentials

    def store(self, server_url: str, username: str, secret: str) -> None:
        payload = json.dumps({"ServerURL": server_url, "Username": username, "Secret": secret})
        if self._run("store", payload.encode("utf-8"), (secret,)) is None:
            raise InvalidArgument(f"credential helper {self.program} store found no keychain")

    def erase(self, server_url: str) -> bool:
        return self._run("erase", server_url.encode("utf-8")) is not None


def _helper_for(
    config: Mapping[str, Any], path: Path, host: str, env: Mapping[str, str] | None, timeout: float
) -> tuple[_Helper | None, bool]:
    """The helper configured for ``host`` and whether it is a per-registry one."""
    helpers = _section(config, "credHelpers", path)
    for name, value in _ranked(helpers, host, repository_paths=False):
        helper = _helper_name(value, f"credHelpers[{name!r}]", path)
        if helper is not None:
            return _Helper(helper, env, timeout), True
    store = _helper_name(config.get("credsStore"), "'credsStore'", path)
    return (None if store is None else _Helper(store, env, timeout)), False


# --- the store ------------------------------------------------------------------------


def _check_timeout(timeout: float) -> float:
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise InvalidArgument("helper_timeout must be a number of seconds")
    if not (math.isfinite(timeout) and timeout > 0):
        raise InvalidArgument("helper_timeout must be a positive, finite number of seconds")
    return float(timeout)


def _home(env: Mapping[str, str]) -> Path:
    home = env.get("HOME")
    return Path(home) if home else Path.home()


def _docker_config_file(
    docker_config: str | os.PathLike[str] | None, env: Mapping[str, str]
) -> Path:
    # Like ``docker --config DIR`` and $DOCKER_CONFIG, the argument names a directory.
    if docker_config is not None:
        return Path(docker_config) / "config.json"
    directory = env.get("DOCKER_CONFIG")
    if directory:
        return Path(directory) / "config.json"
    return _home(env) / ".docker" / "config.json"


def _auth_files(auth_file: str | os.PathLike[str] | None, env: Mapping[str, str]) -> list[Path]:
    if auth_file is not None:
        return [Path(auth_file)]
    named = env.get("REGISTRY_AUTH_FILE")
    if named:
        return [Path(named)]
    files = []
    runtime = env.get("XDG_RUNTIME_DIR")
    if runtime:
        files.append(Path(runtime) / "containers" / "auth.json")
    config_home = env.get("XDG_CONFIG_HOME")
    base = Path(config_home) if config_home else _home(env) / ".config"
    files.append(base / "containers" / "auth.json")
    return files


class DockerConfigStore:
    """A :class:`~ocireg._auth.CredentialProvider` reading the container tools' files.

    Files are read on every call, so a login in another process is seen at once;
    the auth flow asks once per registry.  ``env`` replaces ``os.environ`` for
    finding the files and for running helpers (tests, sandboxes).
    """

    def __init__(
        self,
        *,
        docker_config: str | os.PathLike[str] | None = None,
        auth_file: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None,
        helper_timeout: float = HELPER_TIMEOUT,
    ) -> None:
        self._docker_config = docker_config
        self._auth_file = auth_file
        self._env = None if env is None else dict(env)
        self._timeout = _check_timeout(helper_timeout)

    def __repr__(self) -> str:
        return f"<DockerConfigStore {self.config_file} + {', '.join(map(str, self.auth_files))}>"

    @property
    def _environ(self) -> Mapping[str, str]:
        return os.environ if self._env is None else self._env

    @property
    def config_file(self) -> Path:
        """Docker's ``config.json`` this store reads."""
        return _docker_config_file(self._docker_config, self._environ)

    @property
    def auth_files(self) -> tuple[Path, ...]:
        """containers' ``auth.json`` files this store falls back to, in order."""
        return tuple(_auth_files(self._auth_file, self._environ))

    def __call__(self, host: str, /, repository: str | None = None) -> Credentials | None:
        """Credentials for ``host``; with ``repository`` (its path on that registry,
        e.g. ``org/app``), auth.json keys scoped to it or a namespace above it win."""
        canonical = _host_of(host)
        if repository is not None:
            try:
                validate_repository(repository)
            except RegistryError:
                raise InvalidArgument(f"invalid repository {repository[:300]!r}") from None
        for path, repository_paths in [
            (self.config_file, False),
            *((p, True) for p in self.auth_files),
        ]:
            config = _read_config(path)
            if config is None:
                continue
            found = self._lookup(
                config, path, canonical, repository_paths=repository_paths, repository=repository
            )
            if found is not None:
                return found
        return None

    def _lookup(
        self,
        config: Mapping[str, Any],
        path: Path,
        host: str,
        *,
        repository_paths: bool,
        repository: str | None,
    ) -> Credentials | None:
        helper, per_registry = _helper_for(config, path, host, self._env, self._timeout)
        if helper is not None and per_registry:
            return helper.get(registry_key(host))
        auths = _section(config, "auths", path)
        ranked = _ranked(auths, host, repository_paths=repository_paths, repository=repository)
        for name, entry in ranked:
            found = _entry_credentials(entry, f"credentials file {path}: auths[{name!r}]")
            if found is not None:
                return found
        return None if helper is None else helper.get(registry_key(host))


# --- login / logout -------------------------------------------------------------------


def _write_config(path: Path, config: Mapping[str, Any]) -> None:
    """Replace ``path`` atomically with a 0600 file in a 0700 directory."""
    # Write through a symlinked config.json (dotfile managers) instead of replacing the link.
    target = Path(os.path.realpath(path))
    with contextlib.suppress(FileExistsError):
        target.parent.mkdir(mode=0o700, parents=True)
    text = json.dumps(config, indent="\t", ensure_ascii=False) + "\n"
    try:
        # mkstemp creates the temporary file 0600, and os.replace keeps that mode.
        atomic_write(target, [text.encode("utf-8")], mode=0o600)
    except OSError as exc:
        raise InvalidArgument(f"cannot write credentials file {path}: {exc.strerror}") from None


def _forget_host(auths: dict[str, Any], host: str) -> bool:
    """Remove every ``auths`` key that docker reads as ``host``; True if one was there."""
    names = [n for n in auths if _Key.parse(n, repository_paths=False).host == host]
    for name in names:
        del auths[name]
    return bool(names)


def login(
    host: str,
    username: str,
    password: str,
    *,
    docker_config: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> Path:
    """Save credentials for ``host`` as ``docker login`` does; return the config path.

    Through the credential helper configured for the host (``credHelpers``, else
    ``credsStore``) when there is one, leaving the placeholder ``{}`` docker leaves;
    else inline as ``auths[key].auth``.  Other keys of the file are kept as they are;
    other entries naming the same registry are dropped so that none can shadow these.
    """
    credentials = Credentials(username=username, password=password)
    if not username or not password:
        raise InvalidArgument("login needs a non-empty username and password")
    try:
        pair = f"{username}:{password}".encode()
    except UnicodeEncodeError:
        raise InvalidArgument("login: username or password is not encodable text") from None
    canonical = _host_of(host)
    key = registry_key(canonical)
    environ = os.environ if env is None else env
    path = _docker_config_file(docker_config, environ)
    config = _read_config(path) or {}
    helper, _ = _helper_for(config, path, canonical, env, HELPER_TIMEOUT)
    auths = _section(config, "auths", path)
    _forget_host(auths, canonical)
    if helper is not None:
        helper.store(key, credentials.username or "", credentials.password or "")
        auths[key] = {}
    else:
        auths[key] = {"auth": base64.b64encode(pair).decode("ascii")}
    config["auths"] = auths
    _write_config(path, config)
    return path


def logout(
    host: str,
    *,
    docker_config: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> bool:
    """Forget ``host``'s credentials (entry and helper); True if something was removed."""
    canonical = _host_of(host)
    environ = os.environ if env is None else env
    path = _docker_config_file(docker_config, environ)
    config = _read_config(path)
    if config is None:
        return False
    helper, _ = _helper_for(config, path, canonical, env, HELPER_TIMEOUT)
    erased = helper is not None and helper.erase(registry_key(canonical))
    auths = _section(config, "auths", path)
    removed = _forget_host(auths, canonical)
    if removed:
        config["auths"] = auths
        _write_config(path, config)
    return removed or erased
