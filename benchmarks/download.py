"""Benchmark 1: blob download throughput (MiB/s) from a local registry.

Cases, run round-robin so that drifts of the machine spread over all of them:

- ocireg ``iter_blob`` into /dev/null and ``blob(outpath)`` into a file, per transport
  (both verify sha256 while streaming; ``blob(outpath)`` also fsyncs and renames);
- ``skopeo copy docker://… dir:…`` of an image whose only layer is that blob (the wall
  time of the whole command: a process start, the manifest, config and layer);
- plain urllib3 reading 8 KiB at a time into /dev/null (the baseline asked for), and
  urllib3 ``readinto`` a reused 1 MiB buffer, without and with sha256 (the ceiling a
  streaming client reaches on this machine, and the same for a verifying one).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import urllib3
from common import MiB, Result, SeededImage, attempt, mib_per_s, stopwatch

from ocireg import Registry
from ocireg._transport import Transport

SECTION = "download"


def _urllib3_loop(url: str, size: int, *, block: int, readinto: bool, sha: bool) -> Callable[[], float]:
    pool = urllib3.PoolManager(maxsize=1)

    def run() -> float:
        hasher = hashlib.sha256() if sha else None
        got = 0
        with open("/dev/null", "wb") as sink, stopwatch() as elapsed:
            response = pool.request("GET", url, preload_content=False, decode_content=False, redirect=False)
            if response.status != 200:
                raise RuntimeError(f"GET answered {response.status}")
            if readinto:
                buffer = bytearray(block)
                view = memoryview(buffer)
                while n := response.readinto(buffer):
                    if hasher is not None:
                        hasher.update(view[:n])
                    sink.write(view[:n])
                    got += n
            else:
                while chunk := response.read(block):
                    sink.write(chunk)
                    got += len(chunk)
            response.release_conn()
        if got != size:
            raise RuntimeError(f"read {got} bytes, expected {size}")
        return mib_per_s(size, elapsed())

    return run


def run(
    base_url: str,
    image: SeededImage,
    transports: dict[str, Callable[[], Transport]],
    workdir: Path,
    repeat: int,
    skopeo: bool = True,
) -> list[Result]:
    size, digest, repo = image.layer_size, image.layer_digest, image.repo
    blob_url = f"{base_url}/v2/{repo}/blobs/{digest}"
    cases: list[tuple[Result, Callable[[], float]]] = []
    registries: list[Registry] = []
    out = workdir / "download.blob"

    for name, make in transports.items():
        reg = Registry(base_url, transport=make())
        registries.append(reg)

        def to_null(reg: Registry = reg) -> float:
            with open("/dev/null", "wb") as sink, stopwatch() as elapsed:
                for chunk in reg.iter_blob(repo, digest, size):
                    sink.write(chunk)
            return mib_per_s(size, elapsed())

        def to_file(reg: Registry = reg) -> float:
            try:
                with stopwatch() as elapsed:
                    reg.blob(repo, digest, out)
                if out.stat().st_size != size:
                    raise RuntimeError("short file")
            finally:
                out.unlink(missing_ok=True)
            return mib_per_s(size, elapsed())

        cases.append((Result(SECTION, f"ocireg {name} iter_blob -> /dev/null", "MiB/s"), to_null))
        cases.append((Result(SECTION, f"ocireg {name} blob(outpath) -> file", "MiB/s",
                             note="atomic write: fsync + rename"), to_file))

    if skopeo and shutil.which("skopeo"):
        target = workdir / "skopeo-dir"
        ref = f"docker://{base_url.split('://', 1)[1]}/{repo}:{image.tag}"

        def skopeo_copy() -> float:
            shutil.rmtree(target, ignore_errors=True)
            try:
                with stopwatch() as elapsed:
                    done = subprocess.run(
                        ["skopeo", "copy", "--src-tls-verify=false", ref, f"dir:{target}"],
                        capture_output=True, text=True, timeout=600, check=False,
                    )
                if done.returncode != 0:
                    raise RuntimeError(f"skopeo failed: {done.stderr.strip()[:200]}")
            finally:
                shutil.rmtree(target, ignore_errors=True)
            return mib_per_s(size, elapsed())

        cases.append((Result(SECTION, "skopeo copy docker:// dir: (whole image)", "MiB/s",
                             note="process start + manifest + config + layer"), skopeo_copy))
    elif skopeo:
        cases.append((Result(SECTION, "skopeo copy docker:// dir: (whole image)", "MiB/s",
                             error="skopeo not installed"), lambda: 0.0))

    cases.append((Result(SECTION, "urllib3 read(8 KiB) loop -> /dev/null (baseline)", "MiB/s"),
                  _urllib3_loop(blob_url, size, block=8 * 1024, readinto=False, sha=False)))
    cases.append((Result(SECTION, "urllib3 readinto(1 MiB) -> /dev/null (ceiling)", "MiB/s"),
                  _urllib3_loop(blob_url, size, block=MiB, readinto=True, sha=False)))
    cases.append((Result(SECTION, "urllib3 readinto(1 MiB) + sha256 -> /dev/null", "MiB/s",
                         note="ceiling for a verifying client"),
                  _urllib3_loop(blob_url, size, block=MiB, readinto=True, sha=True)))
    try:
        for _ in range(repeat):
            for result, action in cases:
                attempt(result, action)
    finally:
        for reg in registries:
            reg.transport.close()
    return [result for result, _ in cases]
