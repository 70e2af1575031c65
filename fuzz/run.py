"""Run every fuzz target for a bounded time: ``make fuzz`` (``FUZZ_SECONDS`` each, default 60).

Each ``fuzz/fuzz_*.py`` runs under atheris in its own process with its corpus in
``.fuzz/corpus/<target>`` (grown across runs, not committed) seeded from
``fuzz/seeds/<target>``; a crash leaves its input in ``.fuzz/artifacts``.  The
summary gives each target's seconds, executions and verdict; the exit status is
non-zero if any target crashed.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=60, help="run time per target")
    parser.add_argument("targets", nargs="*", help="target names (default: all)")
    args = parser.parse_args()
    targets = sorted(HERE.glob("fuzz_*.py"))
    if args.targets:
        targets = [t for t in targets if t.stem in args.targets or t.stem[5:] in args.targets]
    failed = []
    print(f"{'target':<24} {'seconds':>8} {'executions':>11}  verdict")
    for target in targets:
        corpus = ROOT / ".fuzz" / "corpus" / target.stem
        artifacts = ROOT / ".fuzz" / "artifacts"
        corpus.mkdir(parents=True, exist_ok=True)
        artifacts.mkdir(parents=True, exist_ok=True)
        seeds = HERE / "seeds" / target.stem
        command = [
            sys.executable, str(target), f"-max_total_time={args.seconds}", "-rss_limit_mb=2048",
            "-timeout=10", f"-artifact_prefix={artifacts}/{target.stem}-", str(corpus),
            *([str(seeds)] if seeds.is_dir() else []),
        ]
        started = time.monotonic()
        done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=HERE)
        took = time.monotonic() - started
        runs = re.findall(r"#(\d+)\s+DONE", done.stderr) or re.findall(r"#(\d+)\s", done.stderr)
        verdict = "crash-free" if done.returncode == 0 else f"FAILED (exit {done.returncode})"
        print(f"{target.stem:<24} {took:>8.0f} {runs[-1] if runs else '?':>11}  {verdict}", flush=True)
        if done.returncode != 0:
            failed.append(target.stem)
            print("\n".join(done.stderr.splitlines()[-40:]), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
