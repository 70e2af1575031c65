"""CPU and wall time of one 1 GiB transfer per transport, and per checkout of the code.

A focused A/B measurement, lighter than ``run.py``: one no-auth registry with its
storage on a tmpfs, one random blob, and for each round every (code, transport) pair
in turn (interleaved, so that a drift of a shared machine spreads over all of them).
Each transfer runs in a fresh child process that imports ocireg from the checkout
given with ``--code`` and reports the user + system CPU time and the wall time of the
transfer alone (``resource.getrusage`` of the child around the call; the import and
the start are excluded, the threads of the driver's pipeline included).  For the
uploads the CPU time the receiving registry spent is shown too (``/proc``): it sets
the pace.

- ``blob``: ``Registry(url, transport=T()).blob(repo, digest, path)`` into a file on
  the tmpfs (verified, atomic write); ``h11-async`` is ``AsyncRegistry`` over
  ``AsyncH11Transport``;
- ``push``: ``Registry(url, transport=T()).push(layout, repo, tag)`` of an OCI layout
  holding one image with that blob as its only layer, into a registry started afresh
  for every run (so each push uploads the whole blob and the tmpfs never fills up);
  a blob this large goes in 128 MiB PATCHes, which the client does not hash;
- ``put``: ``push_blob(repo, file, digest, monolithic_limit=size)``, the blob from its
  file in one PUT, hashed on the way (a whole blob is verified as it is sent).

Example (the code as committed against the code of another commit)::

    git archive 20e3b41 src transports | tar -x -C /tmp/base
    python benchmarks/transfer_cpu.py blob --code /tmp/base --code . --transports urllib3,h11
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from common import ROOT, GiB, MiB, random_file, seed_single_layer_image, use_test_bed

_CHILD = r"""
import json, os, resource, sys, time
code, mode, transport, url, repo, what, out = sys.argv[1:8]
sys.path[:0] = [os.path.join(code, "src"), os.path.join(code, "transports")]
from ocireg import AsyncRegistry, Registry
if transport == "urllib3":
    from ocireg_urllib3 import Urllib3Transport as T
elif transport in ("h11", "h11-async"):
    from ocireg_h11 import AsyncH11Transport, H11Transport as T
else:
    from ocireg import HTTPClientTransport as T
import ocireg
assert ocireg.__file__.startswith(os.path.abspath(code)), ocireg.__file__

async def asynchronous():
    async with AsyncRegistry(url, transport=AsyncH11Transport(read_timeout=60)) as reg:
        if mode == "blob":
            await reg.blob(repo, what, out)
        elif mode == "put":
            await reg.push_blob(repo, out, what, monolithic_limit=os.stat(out).st_size)
        else:
            await reg.push(what, repo, "latest")

before, started = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
if transport == "h11-async":
    import asyncio
    asyncio.run(asynchronous())
else:
    with Registry(url, transport=T(read_timeout=60)) as reg:
        if mode == "blob":
            reg.blob(repo, what, out)
        elif mode == "put":
            reg.push_blob(repo, out, what, monolithic_limit=os.stat(out).st_size)
        else:
            reg.push(what, repo, "latest")
wall = time.perf_counter() - started
after = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"wall": wall, "user": after.ru_utime - before.ru_utime,
                  "sys": after.ru_stime - before.ru_stime}))
"""


def _process_cpu(pid: int) -> float:
    """User + system CPU seconds of a running process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _child(code: Path, mode: str, transport: str, url: str, repo: str, what: str, out: str) -> dict[str, float]:
    done = subprocess.run([sys.executable, "-c", _CHILD, str(code), mode, transport, url, repo, what, out],
                          capture_output=True, text=True, check=False, timeout=600,
                          env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    if done.returncode != 0:
        raise RuntimeError(f"{mode} over {transport} ({code}) failed:\n{done.stderr[-3000:]}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=["blob", "push", "put"])
    parser.add_argument("--code", action="append", type=Path,
                        help="a directory holding src/ and transports/ (repeatable; default: this checkout)")
    parser.add_argument("--transports", default="urllib3,h11",
                        help="comma-separated: urllib3, h11, stdlib, h11-async (AsyncRegistry)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--size-mib", type=int, default=GiB // MiB)
    parser.add_argument("--scratch", type=Path, default=Path("/dev/shm"))
    args = parser.parse_args()
    codes = [c.resolve() for c in (args.code or [ROOT])]
    transports = args.transports.split(",")
    use_test_bed()
    from registry_bed import start_registry

    scratch = Path(tempfile.mkdtemp(prefix="ocireg-transfer-cpu-", dir=args.scratch))
    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    try:
        blob = scratch / "blob"
        digest = random_file(blob, args.size_mib * MiB, seed=9)
        source = start_registry("none", workdir=scratch / "source")
        try:
            seed_single_layer_image(source.url, "bench/big", "latest", blob, digest)
            layout = scratch / "layout"
            if args.mode == "push":  # the layout the pushes read, pulled once by this checkout
                sys.path[:0] = [str(ROOT / "src"), str(ROOT / "transports")]
                from ocireg import HTTPClientTransport, Registry

                with Registry(source.url, transport=HTTPClientTransport(read_timeout=60)) as reg:
                    reg.pull("bench/big", "latest", layout)
                source.stop()
            if args.mode != "put":
                blob.unlink()
            for run in range(args.runs):
                for code in codes:
                    for transport in transports:
                        out = scratch / "out.blob"
                        if args.mode == "blob":
                            measured = _child(code, "blob", transport, source.url, "bench/big", digest, str(out))
                            out.unlink()
                        else:
                            dest = start_registry("none", workdir=scratch / f"dest-{run}")
                            try:
                                registry_pid = dest._process.pid
                                registry_before = _process_cpu(registry_pid)
                                if args.mode == "put":
                                    measured = _child(code, "put", transport, dest.url, "bench/put",
                                                      digest, str(blob))
                                else:
                                    measured = _child(code, "push", transport, dest.url, "bench/pushed",
                                                      str(layout), "")
                                measured["registry"] = _process_cpu(registry_pid) - registry_before
                            finally:
                                dest.stop()
                                shutil.rmtree(scratch / f"dest-{run}", ignore_errors=True)
                        results.setdefault((str(code), transport), []).append(measured)
                        registry_cpu = f", registry CPU {measured['registry']:.2f} s" if "registry" in measured else ""
                        print(f"run {run + 1} {code} {transport}: wall {measured['wall']:.2f} s, "
                              f"user {measured['user']:.2f} s, sys {measured['sys']:.2f} s{registry_cpu}", flush=True)
        finally:
            source.stop()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"\n{args.mode}, {args.size_mib} MiB, medians of {args.runs}:")
    print(f"{'code':40} {'transport':10} {'wall':>8} {'cpu':>8} {'user':>8} {'sys':>8} {'registry':>9}")
    for (code, transport), runs in results.items():
        wall = statistics.median(r["wall"] for r in runs)
        cpu = statistics.median(r["user"] + r["sys"] for r in runs)
        user = statistics.median(r["user"] for r in runs)
        system = statistics.median(r["sys"] for r in runs)
        registry = f"{statistics.median(r['registry'] for r in runs):9.2f}" if "registry" in runs[0] else f"{'-':>9}"
        print(f"{code[-40:]:40} {transport:10} {wall:8.2f} {cpu:8.2f} {user:8.2f} {system:8.2f} {registry}")


if __name__ == "__main__":
    main()
