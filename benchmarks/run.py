"""Run the ocireg benchmarks against local CNCF distribution registries.

    .venv/bin/python benchmarks/run.py                    # everything, default sizes
    .venv/bin/python benchmarks/run.py --only download --download-size 256MiB --repeat 3

Sections: download (throughput, vs skopeo and plain urllib3), memory (peak RSS and
tracemalloc, fresh process per case), requests (token and registry request counts on
the token set-up), upload (monolithic and chunked).  Prints one table per section and
the PASS/FAIL checks, and writes everything to --out as JSON.  Every registry, token
server, child process and temporary file is gone when it returns, failed or not.
The exit status is 1 when a check failed or a case raised.  See benchmarks/README.md.
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
    use_test_bed,
)

SECTIONS = ("download", "memory", "requests", "upload")


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
    parser.add_argument("--repeat", type=int, default=5, help="repetitions of each timed case (default 5)")
    parser.add_argument("--memory-repeat", type=int, default=3,
                        help="repetitions of each memory case (default 3)")
    parser.add_argument("--threshold", type=float, default=64.0,
                        help="memory check: max RSS delta over idle, MiB (default 64)")
    parser.add_argument("--no-skopeo", action="store_true", help="leave skopeo out of the download section")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where blob files go (default: a temporary directory, removed after)")
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


def machine() -> dict[str, Any]:
    from importlib.metadata import version

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "urllib3": version("urllib3"),
        "h11": version("h11"),
        "skopeo": _version(["skopeo", "--version"]),
        "docker-registry": _version(["docker-registry", "--version"]),
        "commit": _version(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]),
    }


def _sigterm(signum: int, frame: object) -> None:
    # Unwind through every `finally`, so registries and temporary files go too.
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _sigterm)
    use_test_bed()
    import download
    import memory
    import request_counts
    import upload

    from registry_bed import start_registry

    transports = transport_factories(args.transports)
    results: list[Result] = []
    checks: list[Check] = []
    section_errors: dict[str, str] = {}
    started = time.monotonic()

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
        print(f"ocireg benchmarks: {', '.join(args.only)}; transports {', '.join(args.transports)}; "
              f"{args.repeat} repetitions ({args.memory_repeat} for memory)")

        for section in args.only:
            print(f"\n[{time.monotonic() - started:6.1f} s] {section} ...", flush=True)
            # Each section starts and stops its own registries: no disk or state carries over.
            with contextlib.ExitStack() as scope:
                try:
                    if section == "download":
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
    document = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "seconds": round(elapsed, 1),
        "machine": machine(),
        "settings": {
            "sections": args.only, "transports": args.transports, "repeat": args.repeat,
            "memory_repeat": args.memory_repeat, "download_size": args.download_size,
            "memory_size": args.memory_size, "upload_size": args.upload_size,
            "threshold_mib": args.threshold,
        },
        "results": [r.as_json() for r in results],
        "checks": [c.as_json() for c in checks],
        "section_errors": section_errors,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(document, indent=2) + "\n")
    print(f"\n{len(checks) - len(failed)}/{len(checks)} checks passed; {len(errored)} case(s) with errors; "
          f"{len(section_errors)} section error(s); {elapsed:.0f} s; JSON in {args.out}")
    return 1 if failed or errored or section_errors else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\ninterrupted: registries and temporary files removed", file=sys.stderr)
        sys.exit(130)
