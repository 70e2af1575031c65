"""A real registry (CNCF distribution, ``docker-registry``) for integration tests.

``start_registry(setup)`` runs ``docker-registry serve CONFIG.yml`` on
127.0.0.1 with a free port and its own temporary storage, in one of three
set-ups:

- ``"none"``: no authentication;
- ``"basic"``: htpasswd Basic auth (bcrypt entries from ``htpasswd -Bbn``);
- ``"token"``: Docker token auth, backed by ``tokenserver.TokenServer``.

and returns a ``RegistryInstance`` (also a context manager) that stops it.

The access log (Apache combined format, on the registry's stdout) goes to a
file that ``RegistryInstance.access_log_lines()`` parses, so tests can count
requests and see mounts and blob PUTs. Application logs (``level: warn``) go
to another file, shown when the registry fails to start.

Works from pytest (see conftest.py) and from plain scripts::

    sys.path.insert(0, "tests")
    from registry_bed import start_registry
    with start_registry("basic") as reg:
        print(reg.url, reg.writer)
"""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal

from tlsbed import TlsFiles
from tokenserver import TokenServer

Setup = Literal["none", "basic", "token"]
SETUPS: tuple[Setup, ...] = ("none", "basic", "token")

REGISTRY_BINARY = "docker-registry"
HTPASSWD_BINARY = "htpasswd"
SKOPEO_BINARY = "skopeo"
INSTALL_HINT = "scripts/install-system-deps (or `make system-deps`)"

BASIC_REALM = "ocireg-test-registry"
# Requests the bed makes itself carry this User-Agent; access_log_lines()
# leaves them out so tests only see their own traffic.
BED_USER_AGENT = "ocireg-test-bed"

_START_TIMEOUT = 20.0
_STOP_TIMEOUT = 10.0
_DIGEST = re.compile(r"sha256:([0-9a-f]{64})")
# 127.0.0.1 - - [27/Nov/2026:00:31:53 +0000] "GET /v2/ HTTP/1.1" 200 2 "" "curl/7.88.1"
_ACCESS_LINE = re.compile(
    r'^\S+ \S+ (?P<user>\S+) \[[^\]]*\] "(?P<method>[A-Z]+) (?P<path>\S+) HTTP/[0-9.]+" '
    r'(?P<status>\d{3}) (?P<size>\d+|-) "(?P<referer>[^"]*)" "(?P<agent>[^"]*)"'
)


class RegistryBedError(RuntimeError):
    """The test registry could not be set up."""


@dataclass(frozen=True)
class User:
    name: str
    password: str

    @property
    def creds(self) -> tuple[str, str]:
        return (self.name, self.password)

    @property
    def skopeo_creds(self) -> str:
        return f"{self.name}:{self.password}"

    def __repr__(self) -> str:
        # Passwords are random per session, but keep them out of reprs anyway.
        return f"User(name={self.name!r}, password=<hidden>)"


@dataclass(frozen=True)
class AccessLogEntry:
    method: str
    path: str  # path and query, as sent
    status: int
    user_agent: str


def missing_tools(tools: tuple[str, ...] = (REGISTRY_BINARY, HTPASSWD_BINARY)) -> list[str]:
    return [tool for tool in tools if shutil.which(tool) is None]


def free_port() -> int:
    """A port free right now on 127.0.0.1 (start_registry retries on a race)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _yaml_str(value: str) -> str:
    # A JSON string is a valid YAML double-quoted scalar: no YAML library needed.
    return json.dumps(value)


def _tls_yaml(tls: TlsFiles | None) -> str:
    if tls is None:
        return ""
    return (
        "  tls:\n"
        f"    certificate: {_yaml_str(str(tls.certificate))}\n"
        f"    key: {_yaml_str(str(tls.key))}\n"
    )


def _config_yaml(*, storage: Path, port: int, secret: str, auth: str, tls: TlsFiles | None = None) -> str:
    return (
        "version: 0.1\n"
        "log:\n"
        "  level: warn\n"
        "  formatter: text\n"
        "  accesslog:\n"
        "    disabled: false\n"
        "storage:\n"
        "  filesystem:\n"
        f"    rootdirectory: {_yaml_str(str(storage))}\n"
        "  delete:\n"
        "    enabled: true\n"
        "  maintenance:\n"
        "    uploadpurging:\n"
        "      enabled: false\n"
        "http:\n"
        f"  addr: {_yaml_str(f'127.0.0.1:{port}')}\n"
        f"  secret: {_yaml_str(secret)}\n"
        f"{_tls_yaml(tls)}"
        f"{auth}"
    )


def _htpasswd_line(user: User) -> str:
    result = subprocess.run(
        [HTPASSWD_BINARY, "-Bbn", user.name, user.password],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    if result.returncode != 0:
        raise RegistryBedError(f"htpasswd failed for user {user.name!r}: {result.stderr.strip()}")
    return result.stdout.strip() + "\n"


@dataclass
class RegistryInstance:
    """A running registry. ``stop()`` (or leaving the ``with``) ends it."""

    setup: Setup
    port: int
    storage_dir: Path
    workdir: Path
    writer: User
    reader: User
    access_log_path: Path
    error_log_path: Path
    config_path: Path
    token_server: TokenServer | None = None
    tls: TlsFiles | None = None
    """Set when the registry serves https with a certificate from the tests' own CA."""
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _log_files: list[IO[bytes]] = field(default_factory=list, repr=False)
    _own_workdir: bool = field(default=False, repr=False)
    _sync_counter: int = field(default=0, repr=False)

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def users(self) -> dict[str, User]:
        return {self.writer.name: self.writer, self.reader.name: self.reader}

    @property
    def read_only_enforced(self) -> bool:
        # htpasswd has no notion of permissions: any Basic user may push.
        # Only the token set-up makes "reader" read-only.
        return self.setup == "token"

    @property
    def auth_required(self) -> bool:
        return self.setup != "none"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    # -- files ---------------------------------------------------------------

    def blob_data_path(self, digest: str) -> Path:
        """Where distribution's filesystem driver keeps a blob's bytes."""
        match = _DIGEST.fullmatch(digest)
        if match is None:
            raise ValueError(f"not a sha256 digest: {digest!r}")
        hexdigest = match.group(1)
        return (
            self.storage_dir
            / "docker/registry/v2/blobs/sha256"
            / hexdigest[:2]
            / hexdigest
            / "data"
        )

    def error_log(self) -> str:
        return self.error_log_path.read_text(errors="replace")

    # -- access log ------------------------------------------------------------

    def _raw_access_entries(self) -> list[AccessLogEntry]:
        entries = []
        for line in self.access_log_path.read_text(errors="replace").splitlines():
            match = _ACCESS_LINE.match(line)
            if match is None:
                continue
            entries.append(
                AccessLogEntry(match["method"], match["path"], int(match["status"]), match["agent"])
            )
        return entries

    def _sync_access_log(self, timeout: float = 5.0) -> None:
        """Make sure the log holds every request already answered.

        distribution writes an access-log line after the response has gone
        out, so a client can see its answer before the line exists. A marker
        request sent now is logged after everything answered before it; once
        the marker shows up the earlier lines are there too.
        """
        self._sync_counter += 1
        marker = f"/v2/?ocireg-bed-sync={self._sync_counter}"
        _get(self.port, marker, tls=self.tls)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(e.path == marker for e in self._raw_access_entries()):
                return
            time.sleep(0.01)
        raise RegistryBedError("access log marker never appeared")

    def access_log_lines(self, *, sync: bool = True) -> list[AccessLogEntry]:
        """Parsed access log, oldest first, without the bed's own requests."""
        if sync and self.running:
            self._sync_access_log()
        return [e for e in self._raw_access_entries() if e.user_agent != BED_USER_AGENT]

    # -- lifecycle ---------------------------------------------------------------

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            try:
                if process.poll() is None:
                    process.terminate()
                    try:
                        process.wait(timeout=_STOP_TIMEOUT)
                    except subprocess.TimeoutExpired:
                        process.kill()
                        process.wait(timeout=_STOP_TIMEOUT)
            finally:
                with contextlib.suppress(Exception):
                    process.wait(timeout=_STOP_TIMEOUT)
        for handle in self._log_files:
            handle.close()
        self._log_files.clear()
        if self.token_server is not None:
            self.token_server.stop()
        if self._own_workdir:
            self._own_workdir = False
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> RegistryInstance:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _get(port: int, target: str, timeout: float = 2.0, tls: TlsFiles | None = None) -> int:
    conn: http.client.HTTPConnection
    if tls is None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    else:
        context = ssl.create_default_context(cafile=str(tls.ca))
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout, context=context)
    try:
        conn.request("GET", target, headers={"User-Agent": BED_USER_AGENT})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def _wait_ready(instance: RegistryInstance, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + _START_TIMEOUT
    while True:
        if process.poll() is not None:
            raise RegistryBedError(
                f"docker-registry exited with {process.returncode} while starting "
                f"({instance.setup} set-up, port {instance.port}); its stderr:\n"
                + instance.error_log()[-4000:]
            )
        try:
            status = _get(instance.port, "/v2/", timeout=1.0, tls=instance.tls)
        except OSError:
            status = None
        if status in (200, 401):
            return
        if time.monotonic() > deadline:
            raise RegistryBedError(
                f"docker-registry did not answer /v2/ within {_START_TIMEOUT:.0f} s "
                f"(last status {status}); its stderr:\n" + instance.error_log()[-4000:]
            )
        time.sleep(0.05)


def start_registry(
    setup: Setup = "none",
    *,
    workdir: Path | None = None,
    attempts: int = 5,
    tls: TlsFiles | None = None,
) -> RegistryInstance:
    """Start a registry in ``setup`` and wait until ``/v2/`` answers.

    ``workdir`` (created if missing) holds config, htpasswd, certificate,
    logs and storage; without it a temporary directory is made and removed
    on ``stop()``.  With ``tls`` the registry serves https with that
    certificate (see tlsbed.make_tls_files).
    """
    if setup not in SETUPS:
        raise ValueError(f"unknown set-up {setup!r}; one of {SETUPS}")
    missing = missing_tools()
    if missing:
        raise RegistryBedError(f"missing {', '.join(missing)}: install with {INSTALL_HINT}")

    own = workdir is None
    if workdir is None:
        base = Path(tempfile.mkdtemp(prefix=f"ocireg-registry-{setup}-"))
    else:
        base = Path(workdir)
    base.mkdir(parents=True, exist_ok=True)
    writer = User("writer", secrets.token_urlsafe(12))
    reader = User("reader", secrets.token_urlsafe(12))
    token_server: TokenServer | None = None
    try:
        if setup == "basic":
            htpasswd = base / "htpasswd"
            htpasswd.write_text(_htpasswd_line(writer) + _htpasswd_line(reader))
            auth = (
                "auth:\n"
                "  htpasswd:\n"
                f"    realm: {_yaml_str(BASIC_REALM)}\n"
                f"    path: {_yaml_str(str(htpasswd))}\n"
            )
        elif setup == "token":
            token_server = TokenServer(
                base, users={writer.name: writer.password, reader.name: reader.password}
            ).start()
            auth = (
                "auth:\n"
                "  token:\n"
                f"    realm: {_yaml_str(token_server.realm)}\n"
                f"    service: {_yaml_str(token_server.service)}\n"
                f"    issuer: {_yaml_str(token_server.issuer)}\n"
                f"    rootcertbundle: {_yaml_str(str(token_server.cert_path))}\n"
            )
        else:
            auth = ""

        last_error: RegistryBedError | None = None
        for attempt in range(attempts):
            instance = _launch(setup, base, attempt, auth, writer, reader, token_server, own, tls)
            try:
                _wait_ready(instance, instance._process)  # type: ignore[arg-type]
                return instance
            except RegistryBedError as error:
                instance._own_workdir = False  # keep base for the next attempt
                instance.token_server = None  # ditto
                instance.stop()
                last_error = error
                # Another process may have taken the port between free_port()
                # and the bind: try again on a new one; anything else is fatal.
                if "address already in use" not in str(error):
                    break
        assert last_error is not None
        raise last_error
    except BaseException:
        if token_server is not None:
            token_server.stop()
        if own:
            shutil.rmtree(base, ignore_errors=True)
        raise


def _launch(
    setup: Setup,
    base: Path,
    attempt: int,
    auth: str,
    writer: User,
    reader: User,
    token_server: TokenServer | None,
    own: bool,
    tls: TlsFiles | None = None,
) -> RegistryInstance:
    port = free_port()
    storage = base / "storage"
    storage.mkdir(exist_ok=True)
    config = base / "config.yml"
    config.write_text(
        _config_yaml(storage=storage, port=port, secret=secrets.token_hex(32), auth=auth, tls=tls)
    )
    access_log = base / f"access-{attempt}.log"
    error_log = base / f"registry-{attempt}.log"
    instance = RegistryInstance(
        setup=setup,
        port=port,
        storage_dir=storage,
        workdir=base,
        writer=writer,
        reader=reader,
        access_log_path=access_log,
        error_log_path=error_log,
        config_path=config,
        token_server=token_server,
        tls=tls,
        _own_workdir=own,
    )
    out = access_log.open("wb")
    instance._log_files.append(out)
    err = error_log.open("wb")
    instance._log_files.append(err)
    # distribution writes the access log to stdout and its own log to stderr.
    instance._process = subprocess.Popen(
        [REGISTRY_BINARY, "serve", str(config)],
        stdin=subprocess.DEVNULL,
        stdout=out,
        stderr=err,
    )
    return instance


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    """Start one registry per set-up, print where they are, wait for Ctrl-C."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("setups", nargs="*", default=list(SETUPS), choices=SETUPS)
    args = parser.parse_args()
    # Stop the registries on SIGTERM too (and on SIGINT even when a shell
    # started us in the background with SIGINT ignored).
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    signal.signal(signal.SIGINT, _raise_keyboard_interrupt)
    instances = []
    try:
        for setup in args.setups:
            reg = start_registry(setup)
            instances.append(reg)
            print(
                f"{setup:6} {reg.url}  writer:{reg.writer.password}  reader:{reg.reader.password}"
            )
            if reg.token_server is not None:
                print(f"       token realm {reg.token_server.realm}")
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)
    finally:
        for reg in instances:
            reg.stop()


if __name__ == "__main__":
    main()
