"""Finding transports through entry points (``ocireg._discovery``).

The choices are tested against distributions made for the test (a ``.dist-info``
directory put first on ``sys.path``), so they hold whatever is installed; the
declarations in ``pyproject.toml`` are checked to load the shipped classes; the
installed wheel with neither urllib3 nor h11 is in ``test_fresh_install.py``.
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import ocireg
from ocireg import AsyncTransport, HTTPClientTransport, Registry, Transport, UsageError
from ocireg._discovery import ASYNC_GROUP, GROUP, available_transports
from ocireg.cli import main
from ocireg_h11 import AsyncH11Transport, H11Transport
from ocireg_urllib3 import Urllib3Transport

ROOT = Path(__file__).resolve().parent.parent
OPTIONS: dict[str, Any] = {
    "open_timeout": 1.5,
    "read_timeout": 7.0,
    "ca_file": None,
    "insecure": True,
    "pool_size": 9,
}

PLUGIN_MODULE = '''
class Recording:
    """A third party's transport: remembers the options it was built with."""

    def __init__(self, **options):
        self.options = options

    def send(self, request, /):
        raise ConnectionRefusedError("a test transport sends nothing")

    def close(self):
        pass


class AsyncRecording(Recording):
    async def send(self, request, /):
        raise ConnectionRefusedError("a test transport sends nothing")

    async def close(self):
        pass
'''

Plugins = Callable[..., None]


@pytest.fixture
def plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Plugins:
    """``plugins(sync={name: "module:Class"}, asynchronous={...})``: a distribution
    declaring those entry points, first on ``sys.path`` (so it overrides any installed
    declaration of a name), beside a module ``thirdparty_transport`` holding
    ``Recording`` and ``AsyncRecording``."""

    def install(sync: dict[str, str] | None = None, asynchronous: dict[str, str] | None = None) -> None:
        info = tmp_path / "thirdparty_transport-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: thirdparty-transport\nVersion: 1.0\n")
        lines = []
        for group, entries in ((GROUP, sync or {}), (ASYNC_GROUP, asynchronous or {})):
            lines.append(f"[{group}]")
            lines += [f"{name} = {target}" for name, target in entries.items()]
        (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
        (tmp_path / "thirdparty_transport.py").write_text(PLUGIN_MODULE)
        monkeypatch.syspath_prepend(str(tmp_path))

    return install


OURS = {"urllib3": "ocireg_urllib3:Urllib3Transport", "h11": "ocireg_h11:H11Transport"}
BROKEN = "ocireg_not_installed_anywhere:Transport"  # as urllib3's entry when urllib3 is absent


# --- the declarations ------------------------------------------------------------------


def test_pyproject_declares_the_shipped_transports_and_they_take_the_options() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]
    expected = {
        GROUP: {"urllib3": Urllib3Transport, "h11": H11Transport},
        ASYNC_GROUP: {"h11": AsyncH11Transport},
    }
    assert set(declared) == set(expected)
    for group, classes in expected.items():
        assert set(declared[group]) == set(classes)
        for name, cls in classes.items():
            module, _, attribute = declared[group][name].partition(":")
            assert getattr(importlib.import_module(module), attribute) is cls
            transport = cls(**OPTIONS)
            assert isinstance(transport, AsyncTransport if group == ASYNC_GROUP else Transport)
            if group == GROUP:
                transport.close()


def test_the_core_never_imports_a_transport_package() -> None:
    for path in sorted(Path(ocireg.__file__).parent.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                assert not any(n.startswith(("ocireg_urllib3", "ocireg_h11")) for n in names), path.name


# --- the default and the names ---------------------------------------------------------


def test_without_a_name_the_standard_library_transport_is_used(plugins: Plugins) -> None:
    # Whatever is registered, even a broken declaration: none is loaded without a name.
    plugins(sync={**OURS, "other": "thirdparty_transport:Recording"})
    transport = ocireg.default_transport(**OPTIONS)
    assert type(transport) is HTTPClientTransport
    assert type(Registry("127.0.0.1:5000").transport) is HTTPClientTransport


STARTUP = """
import sys
import ocireg
assert type(ocireg.default_transport()) is ocireg.HTTPClientTransport
loaded = {"importlib.metadata", "urllib3", "h11", "ocireg_urllib3", "ocireg_h11"} & set(sys.modules)
assert not loaded, loaded
print("ok")
"""


def test_the_default_needs_no_entry_point_scan_and_no_transport_package() -> None:
    """Scanning entry points and importing urllib3 cost a command line more than its work."""
    done = subprocess.run([sys.executable, "-c", STARTUP], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_a_named_entry_point_that_does_not_import_counts_as_absent(plugins: Plugins) -> None:
    plugins(sync={"urllib3": BROKEN, "h11": OURS["h11"]})
    transport = ocireg.default_transport("h11", **OPTIONS)
    assert type(transport) is H11Transport
    assert "urllib3" not in available_transports() and "h11" in available_transports()


def test_a_named_third_party_transport_gets_the_options(plugins: Plugins) -> None:
    plugins(sync={"custom": "thirdparty_transport:Recording"})
    transport: Any = ocireg.default_transport("custom", **OPTIONS)
    assert type(transport).__name__ == "Recording"
    assert transport.options == OPTIONS
    assert type(ocireg.default_transport("stdlib")) is HTTPClientTransport
    assert "custom" in available_transports() and available_transports()[-1] == "stdlib"


def test_an_unknown_name_is_a_usage_error_naming_what_is_available(plugins: Plugins) -> None:
    plugins(sync={"custom": "thirdparty_transport:Recording", "urllib3": BROKEN})
    with pytest.raises(UsageError, match=r"'nope' is not registered; available: .*custom.*stdlib"):
        ocireg.default_transport("nope")
    with pytest.raises(UsageError, match=r"'urllib3' is registered but not importable .*ocireg\[urllib3\]"):
        ocireg.default_transport("urllib3")


def test_the_asyncio_transport_is_found_the_same_way(plugins: Plugins) -> None:
    plugins(
        sync=OURS,
        asynchronous={"h11": "ocireg_h11:AsyncH11Transport",
                                 "custom": "thirdparty_transport:AsyncRecording"},
    )
    assert type(ocireg.default_async_transport(**OPTIONS)) is AsyncH11Transport
    named: Any = ocireg.default_async_transport("custom", **OPTIONS)
    assert named.options == OPTIONS
    with pytest.raises(UsageError, match="asyncio transport 'stdlib' is not registered"):
        ocireg.default_async_transport("stdlib")


def test_no_asyncio_transport_is_a_usage_error(plugins: Plugins) -> None:
    plugins(asynchronous={"h11": BROKEN})
    with pytest.raises(UsageError, match=r"no asyncio transport is installed: pip install 'ocireg\[h11\]'"):
        ocireg.default_async_transport()


# --- the command line ------------------------------------------------------------------


def test_cli_transport_goes_through_discovery(
    plugins: Plugins, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))  # the user's files stay out
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(tmp_path / "auth.json"))
    plugins(sync={"custom": "thirdparty_transport:Recording"})
    # The third party's transport is built and used: its refusal becomes the CLI's error.
    assert main(["--transport", "custom", "tags", "127.0.0.1:9/some/repo"]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("ocireg: error: ") and "a test transport sends nothing" in line
    with pytest.raises(SystemExit) as exited:
        main(["--transport", "nope", "tags", "127.0.0.1:9/some/repo"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "'nope' is not registered" in err and "custom" in err and "stdlib" in err
