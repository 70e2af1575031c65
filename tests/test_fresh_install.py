"""``pip install ocireg`` alone talks to a registry: the standard-library transport.

The project is built into a wheel with this interpreter's hatchling (offline, no
build isolation), installed with ``--no-deps`` into a new virtual environment
that has neither urllib3 nor h11, and used there, isolated from this checkout,
against the test bed's registry: tags, a blob read and verified, and the command
line.  The wheel declares the urllib3 and h11 entry points; discovery must find
them unimportable and fall back.  Slow (a wheel and a virtual environment), and
part of ``make test`` all the same.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from registry_bed import RegistryInstance
from test_registry import seeded

pytestmark = [pytest.mark.slow, pytest.mark.registry]

ROOT = Path(__file__).resolve().parent.parent

USE = r'''
import importlib.metadata, importlib.util, json, sys
import ocireg
from ocireg import Registry

url, repo, digest = sys.argv[1:]
with Registry(url) as reg:
    tags = list(reg.tags(repo).tags)
    blob = reg.blob(repo, digest)  # verified against the digest while it streams
    transport = type(reg.transport)
print(json.dumps({
    "missing": [name for name in ("urllib3", "h11") if importlib.util.find_spec(name) is None],
    "declared": sorted(e.name for e in importlib.metadata.entry_points(group="ocireg.transports")),
    "transport": f"{transport.__module__}.{transport.__qualname__}",
    "ocireg": ocireg.__file__,
    "tags": tags,
    "blob": len(blob),
}))
'''


def _run(*argv: str | Path, cwd: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "COVERAGE", "PIP_"))}
    done = subprocess.run([str(a) for a in argv], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=600, check=False)
    assert done.returncode == 0, f"{argv}: {done.stderr[-2000:]}"
    return done.stdout


def test_the_package_alone_lists_tags_and_reads_a_verified_blob(
    registry_none: RegistryInstance, tmp_path: Path
) -> None:
    if importlib.util.find_spec("hatchling") is None:
        message = "hatchling (the build backend, in the test extra) is needed to build the wheel offline"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    seed = seeded(registry_none)
    layer = seed.oci.blobs[1]

    wheels = tmp_path / "wheels"
    _run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--no-index", "--wheel-dir", wheels, ROOT, cwd=tmp_path)
    (wheel,) = wheels.glob("ocireg-*.whl")
    venv = tmp_path / "fresh"
    _run(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    _run(python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", wheel, cwd=tmp_path)

    # -I: this checkout, PYTHONPATH and the user's site stay out.
    seen = json.loads(_run(python, "-I", "-c", USE, registry_none.url, seed.repo, layer.digest, cwd=tmp_path))
    assert seen["missing"] == ["urllib3", "h11"]
    assert seen["declared"] == ["h11", "urllib3"]  # declared by the wheel, not importable
    assert seen["transport"] == "ocireg._stdlib_transport.HTTPClientTransport"
    assert Path(seen["ocireg"]).is_relative_to(venv)
    assert set(seen["tags"]) >= seed.tags
    assert seen["blob"] == len(layer.data)

    listed = _run(venv / "bin" / "ocireg", "tags", f"{registry_none.host}/{seed.repo}", cwd=tmp_path)
    assert set(listed.split()) >= seed.tags
