"""A copy of the core vendored under another name works with every shipped transport.

``src/ocireg`` is copied, unchanged, to ``mytool/_vendor/ocireg`` (the core imports
itself relatively, see ``test_exports.py``) and driven in a subprocess that also
has the installed ``ocireg`` and its transports, which import that installed copy.
Every failure must reach the vendored flows as the *vendored* classes: a refused
connection, a timeout, a body cut short (read whole by a flow, and streamed), and a
real exchange with the test bed's registry must work.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import ocireg
import ocireg_h11
from registry_bed import RegistryInstance
from servers import CLOSE, READ, STALL, ScriptedServer, Send, response
from test_registry import seeded

VENDORED = "mytool._vendor.ocireg"

PROBE = r'''
import asyncio, json, sys, time

import ocireg as installed
import mytool._vendor.ocireg as v
import mytool._vendor.ocireg.flows

assert v.RegistryError is not installed.RegistryError  # two copies indeed
name, urls = sys.argv[1], json.loads(sys.argv[2])


def transport():
    if name == "urllib3":
        from ocireg_urllib3 import Urllib3Transport
        return Urllib3Transport(read_timeout=0.5)
    if name == "h11":
        from ocireg_h11 import H11Transport
        return H11Transport(read_timeout=0.5)
    if name == "h11-async":
        from ocireg_h11 import AsyncH11Transport
        return AsyncH11Transport(read_timeout=0.5)
    if name == "stdlib-installed":
        return installed.HTTPClientTransport(read_timeout=0.5)
    assert name == "stdlib-vendored", name
    return v.HTTPClientTransport(read_timeout=0.5)


def tags(url):
    if name != "h11-async":
        return v.Registry(url, transport=transport()).tags(urls["repo"]).tags
    session = v.Session(url)

    async def main():
        t = transport()
        try:
            page = await v.run_flow_async(
                v.flows.tags_page(session, urls["repo"], v.flows.tags_url(session, urls["repo"]), now=time.time()), t)
        finally:
            await t.close()
        return page.items

    return asyncio.run(main())


def blob(url):
    if name != "h11-async":
        return v.Registry(url, transport=transport()).blob(urls["repo"], urls["digest"])
    session = v.Session(url)

    def whole_blob():  # the asyncio runner reads bodies through effects only
        response = yield from v.flows.open_blob(
            session, urls["repo"], v.Digest.parse(urls["digest"]), now=time.time())
        data = yield v.ReadBody(response, 1 << 20)
        v.verify_bytes(data, v.Digest.parse(urls["digest"]))
        return data

    async def main():
        t = transport()
        try:
            return await v.run_flow_async(whole_blob(), t)
        finally:
            await t.close()

    return asyncio.run(main())


def outcome(action):
    try:
        result = action()
    except BaseException as exc:
        return {"raised": f"{type(exc).__module__}.{type(exc).__qualname__}"}
    return {"result": len(result) if isinstance(result, bytes) else list(result)}


print(json.dumps({
    "refused": outcome(lambda: tags(urls["refused"])),
    "timeout": outcome(lambda: tags(urls["stall"])),
    "truncated document": outcome(lambda: tags(urls["truncated"])),
    "truncated blob": outcome(lambda: blob(urls["truncated"])),
    "registry tags": outcome(lambda: tags(urls["registry"])),
    "registry blob": outcome(lambda: blob(urls["registry"])),
}))
'''

SHIPPED = ["urllib3", "h11", "h11-async", "stdlib-installed", "stdlib-vendored"]


@pytest.fixture(scope="module")
def vendored_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``mytool/_vendor/ocireg``: the core copied as it is, nothing rewritten."""
    root = tmp_path_factory.mktemp("vendored")
    vendor = root / "mytool" / "_vendor"
    vendor.mkdir(parents=True)
    (root / "mytool" / "__init__.py").write_text("")
    (vendor / "__init__.py").write_text("")
    shutil.copytree(Path(ocireg.__file__).parent, vendor / "ocireg",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return root


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.mark.parametrize("name", SHIPPED)
def test_every_transport_failure_reaches_a_vendored_core_as_its_own_class(
    vendored_root: Path, registry_none: RegistryInstance, name: str
) -> None:
    seed = seeded(registry_none)
    layer = seed.oci.blobs[1]
    cut = response(200, body=b'{"name":"seed/app","ta', length=100)
    with ScriptedServer([[READ, STALL]]) as stall, ScriptedServer([[READ, Send(cut), CLOSE]]) as truncated:
        urls = {
            "repo": seed.repo,
            "digest": layer.digest,
            "refused": f"http://127.0.0.1:{_closed_port()}",
            "stall": stall.url,
            "truncated": truncated.url,
            "registry": registry_none.url,
        }
        # The installed ocireg (and its transports) from where this test imports them.
        path = [str(vendored_root), str(Path(ocireg.__file__).parent.parent),
                str(Path(ocireg_h11.__file__).parent.parent)]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
        for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
            env.pop(proxy, None)
        done = subprocess.run([sys.executable, "-c", PROBE, name, json.dumps(urls)],
                              capture_output=True, text=True, timeout=120, env=env, check=False)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["refused"] == {"raised": f"{VENDORED}._errors.ConnectError"}
    assert seen["timeout"] == {"raised": f"{VENDORED}._errors.TransportTimeout"}
    assert seen["truncated document"] == {"raised": f"{VENDORED}._errors.ProtocolError"}
    assert seen["truncated blob"] == {"raised": f"{VENDORED}._errors.ProtocolError"}
    assert set(seen["registry tags"]["result"]) >= seed.tags
    assert seen["registry blob"] == {"result": len(layer.data)}
