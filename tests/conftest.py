"""Shared pytest fixtures. Keep this file thin: logic lives in helper modules
(registry_bed.py, tokenserver.py, images.py); fixtures only wire it up.

Sections: real registries. Add new sections below with their own heading.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ocireg import HTTPClientTransport, Registry
from registry_bed import (
    INSTALL_HINT,
    SETUPS,
    RegistryInstance,
    Setup,
    missing_tools,
    start_registry,
)
from tlsbed import make_tls_files

# ---------------------------------------------------------------------------
# Real registries (CNCF distribution), one per set-up and session.
# ---------------------------------------------------------------------------


def require_tools(*tools: str) -> None:
    """Fail (never skip) when an external tool the tests need is absent."""
    missing = missing_tools(tools)
    if not missing:
        return
    if os.environ.get("CI"):
        pytest.fail(
            f"{', '.join(missing)} missing on CI: {INSTALL_HINT} should have installed it",
            pytrace=False,
        )
    pytest.fail(
        f"{', '.join(missing)} missing: install with {INSTALL_HINT} "
        "(the integration tests need a real registry and never skip)",
        pytrace=False,
    )


def _running(setup: Setup, *, tls: bool = False) -> Iterator[RegistryInstance]:
    require_tools("docker-registry", "htpasswd")
    with tempfile.TemporaryDirectory(prefix="ocireg-tls-") as certs:
        instance = start_registry(setup, tls=make_tls_files(Path(certs)) if tls else None)
        try:
            yield instance
        finally:
            instance.stop()


@pytest.fixture(scope="session")
def registry_none() -> Iterator[RegistryInstance]:
    yield from _running("none")


@pytest.fixture(scope="session")
def registry_basic() -> Iterator[RegistryInstance]:
    yield from _running("basic")


@pytest.fixture(scope="session")
def registry_token() -> Iterator[RegistryInstance]:
    yield from _running("token")


@pytest.fixture(scope="session", params=SETUPS, ids=SETUPS)
def registry(request: pytest.FixtureRequest) -> RegistryInstance:
    """The same test against each set-up: "none", "basic", "token"."""
    instance: RegistryInstance = request.getfixturevalue(f"registry_{request.param}")
    return instance


@pytest.fixture(scope="session")
def skopeo() -> str:
    """The skopeo command, the independent client for interop tests."""
    require_tools("skopeo")
    return "skopeo"


@pytest.fixture(scope="session")
def second_registry() -> Iterator[RegistryInstance]:
    """Another no-auth registry, as the destination of copies."""
    yield from _running("none")


@pytest.fixture(scope="session")
def registry_tls() -> Iterator[RegistryInstance]:
    """A no-auth registry serving https on 127.0.0.1 with a certificate from a CA made for
    the session (``instance.tls.ca``): what a port-forwarded Harbor or Zot looks like."""
    yield from _running("none", tls=True)


# ---------------------------------------------------------------------------
# Transports: integration tests run over each of them (parametrised, not copied).
# ---------------------------------------------------------------------------

TRANSPORTS = ("urllib3", "h11", "stdlib")


def make_transport(name: str, **options: object) -> Any:
    """A fresh transport by name, as a user would build it."""
    if name == "urllib3":
        from ocireg_urllib3 import Urllib3Transport

        return Urllib3Transport(**options)  # type: ignore[arg-type]
    if name == "h11":
        from ocireg_h11 import H11Transport

        return H11Transport(**options)  # type: ignore[arg-type]
    assert name == "stdlib", name
    return HTTPClientTransport(**options)  # type: ignore[arg-type]


@pytest.fixture(scope="session", params=TRANSPORTS, ids=TRANSPORTS)
def transport_name(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


def open_client(instance: RegistryInstance, transport_name: str, user: str = "writer") -> Registry:
    """A Registry for ``instance`` as ``user`` (no credentials on the no-auth set-up)."""
    creds = instance.users[user].creds if instance.auth_required else (None, None)
    return Registry(instance.url, username=creds[0], password=creds[1],
                    transport=make_transport(transport_name))  # type: ignore[arg-type]


# ---------------------------------------------------------------------------
# Push, copy and interop tests: no auth and token auth, each transport.
# (test_registry.py overrides ``client`` to run over all three set-ups.)
# ---------------------------------------------------------------------------


@pytest.fixture(params=["none", "token"])
def reg(request: pytest.FixtureRequest) -> RegistryInstance:
    """The registry under test: without authentication, and with token auth."""
    instance: RegistryInstance = request.getfixturevalue(f"registry_{request.param}")
    return instance


@pytest.fixture
def client(reg: RegistryInstance, transport_name: str) -> Iterator[Registry]:
    c = open_client(reg, transport_name)
    try:
        yield c
    finally:
        c.transport.close()


# ---------------------------------------------------------------------------
# The command line: the user's own credential files kept out.
# ---------------------------------------------------------------------------


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty DOCKER_CONFIG, no containers auth.json and an empty registries.conf:
    the user's and the machine's own files stay out."""
    config_dir = tmp_path / "docker"
    config_dir.mkdir()
    (tmp_path / "registries.conf").write_text("")
    monkeypatch.setenv("CONTAINERS_REGISTRIES_CONF", str(tmp_path / "registries.conf"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DOCKER_CONFIG", str(config_dir))
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(tmp_path / "no-auth.json"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "runtime"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    return config_dir
