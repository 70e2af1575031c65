"""Run the ocireg benchmarks against local CNCF distribution registries.

    .venv/bin/python benchmarks/run.py                    # everything, default sizes
    .venv/bin/python benchmarks/run.py --only blob,pull --runs 3
    .venv/bin/python benchmarks/run.py --only download --download-size 256MiB --runs 3

Whole-process scenarios (scenarios.py), ocireg's command line against curl, skopeo and
python-dxf in the same run, reported as ratios against the targets: blob, pull,
latency, copy, push, tags, transports, rss.  A profile of the hot loops of the blob and
pull scenarios (profile).  Library-level sections: download (throughput, vs skopeo
and plain urllib3), memory (peak RSS and tracemalloc, fresh process per case),
requests (token and registry request counts on the token set-up), upload (monolithic
and chunked).  Prints one table per section, the PASS/FAIL checks and the table of
targets, and writes everything to --out as JSON.  Every registry, token server, child
process and temporary file is gone when it returns, failed or not.  The exit status
is 1 when a check failed or a case raised (and, with --strict, when a target is not
met).  See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import (
    ROOT,
    Check,
    MiB,
    Result,
    random_file,
    seed_single_layer_image,
    table,
    use_checkout,
    use_test_bed,
)
from scenarios import SCENARIOS

LIBRARY_SECTIONS = ("download", "memory", "requests", "upload")
SECTIONS = (*SCENARIOS, "profile", *LIBRARY_SECTIONS)
# Room the whole-process scenarios need at their peak: the source registry (1.5 GiB), a
# 1 GiB output or pushed copy, and headroom.
SCRATCH_NEEDS = 6 << 30


def default_scratch() -> tuple[Path, str]:
    """/dev/shm when it is a tmpfs with room (disk speed then does not set the pace), else /tmp."""
    shm = Path("/dev/shm")
    try:
        stats = os.statvfs(shm)
        with open("/proc/mounts") as mounts:
            tmpfs = any(line.split()[1] == str(shm) and line.split()[2] == "tmpfs" for line in mounts)
    except OSError:
        return Path(tempfile.gettempdir()), "disk (/dev/shm is absent)"
    if tmpfs and stats.f_bavail * stats.f_frsize >= SCRATCH_NEEDS:
        return shm, "tmpfs (/dev/shm)"
    return Path(tempfile.gettempdir()), "disk (/dev/shm is not a tmpfs with 6 GiB free)"


def size_arg(text: str) -> int:
    """``1GiB``, ``256MiB``, ``512KiB`` or a bare number of MiB."""
    match = re.fullmatch(r"\s*(\d+)\s*(KiB|MiB|GiB)?\s*", text, re.IGNORECASE)
    if match is None:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 1GiB, 256MiB, 64)")
    unit = (match[2] or "MiB").lower()
    value = int(match[1]) << {"kib": 10, "mib": 20, "gib": 30}[unit]
    if value <= 0:
        raise argparse.ArgumentTypeError("a size must be positive")
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(SECTIONS),
                        help=f"comma-separated sections to run (default: all of {','.join(SECTIONS)})")
    parser.add_argument("--transports", default="urllib3,h11", help="comma-separated: urllib3,h11")
    parser.add_argument("--download-size", type=size_arg, default=1 << 30, help="default 1GiB")
    parser.add_argument("--memory-size", type=size_arg, default=256 * MiB, help="default 256MiB")
    parser.add_argument("--upload-size", type=size_arg, default=256 * MiB, help="default 256MiB")
    parser.add_argument("--runs", "--repeat", dest="repeat", type=int, default=5,
                        help="runs of each timed case; medians are reported (default 5)")
    parser.add_argument("--memory-repeat", type=int, default=3,
                        help="repetitions of each memory case (default 3)")
    parser.add_argument("--threshold", type=float, default=64.0,
                        help="memory check: max RSS delta over idle, MiB (default 64)")
    parser.add_argument("--no-skopeo", action="store_true", help="leave skopeo out of the download section")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where blob files go (default: a temporary directory, removed after)")
    parser.add_argument("--scratch", type=Path, default=None,
                        help="where the scenarios' registries and outputs go (default: /dev/shm when "
                             "it is a tmpfs with 6 GiB free, else the temporary directory)")
    parser.add_argument("--profile-dir", type=Path, default=Path("/tmp/ocireg-bench-profile"),
                        help="where the profile section leaves its raw profiles")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is not met")
    parser.add_argument("--out", type=Path, default=Path("/tmp/ocireg-bench.json"), help="JSON results")
    args = parser.parse_args(argv)
    args.only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(args.only) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s) {sorted(unknown)}; choose from {SECTIONS}")
    args.transports = [t.strip() for t in args.transports.split(",") if t.strip()]
    if set(args.transports) - {"urllib3", "h11"} or not args.transports:
        parser.error("--transports takes urllib3 and/or h11")
    if args.repeat < 1 or args.memory_repeat < 1:
        parser.error("repetitions must be at least 1")
    return args


def transport_factories(names: list[str]) -> dict[str, Callable[[], Any]]:
    # Generous read timeouts: a registry busy committing 1 GiB may pause.
    factories: dict[str, Callable[[], Any]] = {}
    for name in names:
        if name == "urllib3":
            from ocireg_urllib3 import Urllib3Transport

            factories[name] = lambda: Urllib3Transport(read_timeout=120)
        else:
            from ocireg_h11 import H11Transport

            factories[name] = lambda: H11Transport(read_timeout=120)
    return factories


def _version(command: list[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    except OSError:
        return "not installed"
    return (done.stdout or done.stderr).strip().splitlines()[0] if (done.stdout or done.stderr) else "?"


def machine(scratch: str) -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    from procs import rss_method

    def installed(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True, check=False).stdout.strip()
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load average at the end": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "urllib3": installed("urllib3"),
        "h11": installed("h11"),
        "python-dxf": installed("python-dxf"),
        "py-spy": installed("py-spy"),
        "curl": _version(["curl", "--version"]),
        "skopeo": _version(["skopeo", "--version"]),
        "docker-registry": _version(["docker-registry", "--version"]),
        "commit": _version(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
                  + (" (with uncommitted changes)" if dirty else ""),
        # The checkout may carry benchmark commits on top: name the code measured too.
        "src commit": _version(["git", "-C", str(ROOT), "log", "-1", "--format=%h", "--", "src", "transports"]),
        "storage": scratch,
        "peak RSS": rss_method(),
    }


def _sigterm(signum: int, frame: object) -> None:
    # Unwind through every `finally`, so registries and temporary files go too.
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _sigterm)
    use_checkout()
    use_test_bed()
    import download
    import memory
    import profile_hot
    import request_counts
    import scenarios
    import upload

    from registry_bed import start_registry

    transports = transport_factories(args.transports) if set(args.only) & set(LIBRARY_SECTIONS) else {}
    results: list[Result] = []
    checks: list[Check] = []
    outcomes: list[scenarios.Outcome] = []
    profile: dict[str, Any] = {}
    section_errors: dict[str, str] = {}
    started = time.monotonic()
    scratch_root, scratch_kind = (args.scratch, f"{args.scratch} (--scratch)") if args.scratch \
        else default_scratch()

    def report(name: str, rows: list[Result], found: list[Check]) -> None:
        results.extend(rows)
        checks.extend(found)
        print(f"\n== {name} ==")
        print(table(rows))
        for check in found:
            print(f"{'PASS' if check.passed else 'FAIL'}  {check.name}: {check.detail}")
        sys.stdout.flush()

    with contextlib.ExitStack() as stack:
        if args.workdir is None:
            workdir = Path(tempfile.mkdtemp(prefix="ocireg-bench-"))
            stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        else:
            workdir = args.workdir
            workdir.mkdir(parents=True, exist_ok=True)
        bed: scenarios.Bed | None = None
        if set(args.only) & {*SCENARIOS, "profile"}:
            scratch_root.mkdir(parents=True, exist_ok=True)
            scratch = Path(tempfile.mkdtemp(prefix="ocireg-bench-", dir=scratch_root))
            stack.callback(shutil.rmtree, scratch, ignore_errors=True)
            # Registries stop (pushed last, run first) before their storage goes.
            bed = scenarios.Bed(scratch, stack.enter_context(contextlib.ExitStack()))
        print(f"ocireg benchmarks: {', '.join(args.only)}; {args.repeat} runs ({args.memory_repeat} for "
              f"memory); scenario storage and outputs on {scratch_kind}; load average "
              f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")

        for section in args.only:
            print(f"\n[{time.monotonic() - started:6.1f} s] {section} ... (load average "
                  f"{' '.join(f'{x:.2f}' for x in os.getloadavg())})", flush=True)
            # Each library section starts and stops its own registries: no disk or state carries
            # over.  The scenarios share one source registry (read only) and its seeded images.
            with contextlib.ExitStack() as scope:
                try:
                    if section in SCENARIOS:
                        assert bed is not None
                        outcome = scenarios.RUNNERS[section](bed, args.repeat)
                        outcomes.append(outcome)
                        print(f"\n== {section}: {outcome.title} ==")
                        print(scenarios.cases_table(outcome))
                        print(scenarios.verdicts_markdown(outcome.verdicts), flush=True)
                    elif section == "profile":
                        assert bed is not None
                        profile = profile_hot.run(bed, args.profile_dir)
                        for name, lines in profile["summaries"].items():
                            print(f"\n== profile: {name} ==")
                            print("\n".join(lines))
                        print(f"\nraw profiles in {args.profile_dir}", flush=True)
                    elif section == "download":
                        reg = start_registry("none")
                        scope.callback(reg.stop)
                        blob = workdir / "download-source.blob"
                        scope.callback(blob.unlink, missing_ok=True)
                        digest = random_file(blob, args.download_size, seed=1)
                        image = seed_single_layer_image(reg.url, "bench/download", "latest", blob, digest)
                        blob.unlink()
                        rows = download.run(reg.url, image, transports, workdir, args.repeat,
                                            skopeo=not args.no_skopeo)
                        report(f"download: {args.download_size / MiB:,.0f} MiB blob", rows, [])
                    elif section == "upload":
                        reg = start_registry("none")
                        scope.callback(reg.stop)
                        blob = workdir / "upload-source.blob"
                        scope.callback(blob.unlink, missing_ok=True)
                        digest = random_file(blob, args.upload_size, seed=2)
                        rows = upload.run(reg.url, blob, digest, transports, args.repeat)
                        report(f"upload: {args.upload_size / MiB:,.0f} MiB blob", rows, [])
                    elif section == "memory":
                        source = start_registry("none")
                        scope.callback(source.stop)
                        dest = start_registry("none")
                        scope.callback(dest.stop)
                        blob = workdir / "memory-source.blob"
                        scope.callback(blob.unlink, missing_ok=True)
                        digest = random_file(blob, args.memory_size, seed=3)
                        image = seed_single_layer_image(source.url, "bench/memory", "latest", blob, digest)
                        rows, found = memory.run(
                            source_url=source.url, dest_url=dest.url, repo=image.repo, tag=image.tag,
                            digest=digest, blob=blob, workdir=workdir, transports=args.transports,
                            repeat=args.memory_repeat, threshold_mib=args.threshold,
                        )
                        report(f"memory: {args.memory_size / MiB:,.0f} MiB blob", rows, found)
                    elif section == "requests":
                        rows, found = request_counts.run(transports, workdir)
                        report("requests: token set-up", rows, found)
                except Exception as exc:  # one broken section must not hide the others
                    section_errors[section] = f"{type(exc).__name__}: {exc}"
                    print(f"ERROR in {section}: {section_errors[section]}", flush=True)

    elapsed = time.monotonic() - started
    failed = [c for c in checks if not c.passed]
    errored = [r for r in results if r.error is not None]
    errored_cases = [f"{o.name}: {c.name}" for o in outcomes for c in o.cases if c.error is not None]
    verdicts = [v for o in outcomes for v in o.verdicts]
    unmet = [v for v in verdicts if v.met is False]
    about = machine(scratch_kind)
    document = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "seconds": round(elapsed, 1),
        "machine": about,
        "settings": {
            "sections": args.only, "transports": args.transports, "runs": args.repeat,
            "memory_repeat": args.memory_repeat, "download_size": args.download_size,
            "memory_size": args.memory_size, "upload_size": args.upload_size,
            "threshold_mib": args.threshold,
        },
        "scenarios": [o.as_json() for o in outcomes],
        "profile": profile,
        "results": [r.as_json() for r in results],
        "checks": [c.as_json() for c in checks],
        "section_errors": section_errors,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(document, indent=2) + "\n")
    if verdicts:
        print(f"\n== targets: commit {about['commit']} (src/ and transports/ as of "
              f"{about['src commit']}), medians of {args.repeat} runs, "
              f"{scratch_kind}, load average {about['load average at the end']} ==")
        print(scenarios.verdicts_markdown(verdicts))
    print(f"\n{sum(v.met is True for v in verdicts)} of {sum(v.met is not None for v in verdicts)} targets met; "
          f"{len(checks) - len(failed)}/{len(checks)} checks passed; "
          f"{len(errored) + len(errored_cases)} case(s) with errors; "
          f"{len(section_errors)} section error(s); {elapsed:.0f} s; JSON in {args.out}")
    for name in errored_cases:
        print(f"  error: {name}")
    return 1 if failed or errored or errored_cases or section_errors or (args.strict and unmet) else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\ninterrupted: registries and temporary files removed", file=sys.stderr)
        sys.exit(130)
