"""Benchmark 2: peak memory of moving a large blob, each case in a fresh process.

Cases (per transport): pull a blob to a file (``blob(repo, digest, outpath)``),
push a blob from a file (``push_blob(repo, path)``), and copy a one-layer image
between two registries (``copy(repo, tag, dest, dest_repo, dest_tag)``).

Each case runs in its own ``python benchmarks/memory.py --child SPEC`` process:
once plain, reporting ``ru_maxrss``, and once under ``tracemalloc``, reporting the
traced peak of the operation alone.  An idle child that imports the same modules
and does nothing gives the RSS baseline; the reported figure is the delta.  A
streaming client stays flat: the delta is a few MiB whatever the blob size.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tracemalloc
from pathlib import Path
from typing import Any

from common import Check, MiB, Result, attempt

SECTION = "memory"
CASES = ("pull", "push", "copy")

# Linux carries the peak RSS of the process that forks across exec into the new
# program's ru_maxrss: a child started straight from this (large) process reports at
# least this process's size.  A small launcher in between forks the measured child
# from a process of a few MiB, below any child's own peak, so its getrusage is its own.
# (The child also reports VmHWM from /proc, which exec resets, as a cross-check.)
_LAUNCHER = "import subprocess, sys; sys.exit(subprocess.run(sys.argv[1:]).returncode)"


def run(
    *,
    source_url: str,
    dest_url: str,
    repo: str,
    tag: str,
    digest: str,
    blob: Path,
    workdir: Path,
    transports: list[str],
    repeat: int,
    threshold_mib: float,
) -> tuple[list[Result], list[Check]]:
    def child(spec: dict[str, Any]) -> dict[str, Any]:
        # Its own process group: on a timeout or an interrupt the launcher and the
        # measured child both end, not the launcher alone.
        proc = subprocess.Popen(
            [sys.executable, "-S", "-c", _LAUNCHER,
             sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        )
        try:
            out, err = proc.communicate(timeout=600)
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise
        if proc.returncode != 0:
            lines = err.strip().splitlines()
            raise RuntimeError(lines[-1] if lines else f"child exited with {proc.returncode}")
        return dict(json.loads(out.strip().splitlines()[-1]))

    idle = Result(SECTION, "idle process (imports only), max RSS", "MiB", higher_is_better=False)
    idle_hwm: list[float] = []
    for _ in range(repeat):
        report = child({"case": "idle", "tracemalloc": False})
        idle.values.append(report["maxrss_kib"] / 1024)
        if report["vmhwm_kib"] is not None:
            idle_hwm.append(report["vmhwm_kib"] / 1024)
    results = [idle]
    checks = []
    baseline = idle.median or 0.0
    hwm_baseline = statistics.median(idle_hwm) if idle_hwm else None
    counter = 0
    for transport in transports:
        for case in CASES:
            rss = Result(SECTION, f"{case} ({transport}): RSS over idle", "MiB",
                         note=f"idle = {baseline:.1f} MiB", higher_is_better=False)
            traced = Result(SECTION, f"{case} ({transport}): tracemalloc peak", "MiB",
                            higher_is_better=False)

            hwm_deltas: list[float] = []

            def measure(use_tracemalloc: bool, case: str = case, transport: str = transport,
                        hwm_deltas: list[float] = hwm_deltas) -> float:
                nonlocal counter
                counter += 1
                spec = {
                    "case": case, "tracemalloc": use_tracemalloc, "transport": transport,
                    "source": source_url, "dest": dest_url, "repo": repo, "tag": tag,
                    "digest": digest, "blob": str(blob), "workdir": str(workdir), "n": counter,
                }
                report = child(spec)
                if use_tracemalloc:
                    return float(report["traced_peak"]) / MiB
                if report["vmhwm_kib"] is not None and hwm_baseline is not None:
                    hwm_deltas.append(report["vmhwm_kib"] / 1024 - hwm_baseline)
                return float(report["maxrss_kib"]) / 1024 - baseline

            for _ in range(repeat):
                attempt(rss, functools.partial(measure, False))
                attempt(traced, functools.partial(measure, True))
            results += [rss, traced]
            worst = rss.high
            if rss.error is not None or worst is None:
                checks.append(Check(SECTION, f"{case} ({transport}) RSS delta < {threshold_mib:g} MiB",
                                    False, f"error: {rss.error}"))
            else:
                checks.append(Check(
                    SECTION, f"{case} ({transport}) RSS delta < {threshold_mib:g} MiB",
                    worst < threshold_mib,
                    f"worst of {len(rss.values)}: {worst:.1f} MiB; "
                    f"tracemalloc peak median {traced.median or 0:.1f} MiB; "
                    f"VmHWM delta worst {max(hwm_deltas, default=float('nan')):.1f} MiB",
                ))
    return results, checks


# --- the child process ------------------------------------------------------------------


def _vmhwm_kib() -> int | None:
    """Peak resident set of this program (reset by exec) from /proc, or None off Linux."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _transport(name: str) -> Any:
    if name == "urllib3":
        from ocireg_urllib3 import Urllib3Transport

        return Urllib3Transport(read_timeout=60)
    from ocireg_h11 import H11Transport

    return H11Transport(read_timeout=60)


def _child(spec: dict[str, Any]) -> dict[str, Any]:
    # The same imports in every child, the idle one included, so the baseline holds
    # the interpreter and the modules and the delta is what the operation costs.
    import ocireg  # noqa: F401
    import ocireg_h11  # noqa: F401
    import ocireg_urllib3  # noqa: F401
    from ocireg import Registry

    case = spec["case"]
    if spec["tracemalloc"]:
        tracemalloc.start()
    if case != "idle":
        source = Registry(spec["source"], transport=_transport(spec["transport"]))
        n = spec["n"]
        if spec["tracemalloc"]:
            tracemalloc.reset_peak()
        if case == "pull":
            out = Path(spec["workdir"]) / f"memory-pull-{n}.blob"
            try:
                source.blob(spec["repo"], spec["digest"], out)
            finally:
                out.unlink(missing_ok=True)
        elif case == "push":
            pushed = source.push_blob(f"bench/memory-push-{n}", spec["blob"])
            if pushed.how != "uploaded":
                raise RuntimeError(f"blob was {pushed.how}, not uploaded")
        elif case == "copy":
            dest = Registry(spec["dest"], transport=_transport(spec["transport"]))
            source.copy(spec["repo"], spec["tag"], dest, f"bench/memory-copy-{n}", "latest")
            dest.transport.close()
        else:
            raise ValueError(f"unknown case {case!r}")
        source.transport.close()
    report: dict[str, Any] = {
        "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "vmhwm_kib": _vmhwm_kib(),
    }
    if spec["tracemalloc"]:
        report["traced_peak"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return report


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "--child":
        sys.exit("usage: memory.py --child SPEC (run benchmarks/run.py instead)")
    print(json.dumps(_child(json.loads(sys.argv[2]))))
