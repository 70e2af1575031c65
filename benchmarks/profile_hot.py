"""Where ocireg's time goes: profiles of the blob and pull scenarios' commands, and start-up.

Two views of one command each, in fresh processes, as the scenarios run them:

- py-spy (``py-spy record --idle``), when installed: wall-clock samples, waits in the
  socket and the disk included (``--idle``), summarised as the functions the samples
  end in (self) and the ocireg functions they pass through (inclusive);
- cProfile: call counts and own time per function, which show how often each byte is
  hashed, copied or written (``sha256.update``, ``write``, ``readinto`` per chunk);

and the imports of ``ocireg --help`` (``python -X importtime``): where start-up goes.

The raw profiles (collapsed stacks, pstats) stay in ``--profile-dir``; the summaries
are printed and kept in the JSON results.
"""

from __future__ import annotations

import collections
import io
import os
import pstats
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from procs import ocireg_command, run_measured
from scenarios import Bed, check_layout, fresh_path

TOP = 14


def py_spy() -> str | None:
    """py-spy from PATH or from this interpreter's environment."""
    beside = Path(sys.executable).parent / "py-spy"
    return shutil.which("py-spy") or (str(beside) if os.access(beside, os.X_OK) else None)


def collapsed_summary(path: Path, top: int = TOP) -> list[str]:
    """Self and inclusive shares of a py-spy raw (collapsed stacks) file."""
    own: collections.Counter[str] = collections.Counter()
    through: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [_short(frame) for frame in stack.split(";") if frame]
        total += n
        if frames:
            own[frames[-1]] += n
        for frame in set(frames):
            if "ocireg" in frame:
                through[frame] += n
    if not total:
        return ["(no samples)"]
    lines = [f"{total} samples (wall clock, waits included)", "self (where the samples end):"]
    lines += [f"  {100 * n / total:5.1f} %  {name}" for name, n in own.most_common(top)]
    lines.append("inclusive, ocireg functions:")
    lines += [f"  {100 * n / total:5.1f} %  {name}" for name, n in through.most_common(top)]
    return lines


def _short(frame: str) -> str:
    # "readinto (/usr/lib/python3.11/socket.py)" -> "readinto (socket.py)"; the package
    # directory is kept for ocireg's own modules so that they stay recognisable.
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    parts = Path(where).parts
    keep = parts[-2:] if len(parts) >= 2 and parts[-2].startswith("ocireg") else parts[-1:]
    return f"{name} ({'/'.join(keep)})" if where else name


def pstats_summary(path: Path, top: int = TOP) -> list[str]:
    """The functions with the most own time, with their call counts."""
    text = io.StringIO()
    stats = pstats.Stats(str(path), stream=text)
    stats.sort_stats("tottime").print_stats(top)
    lines = text.getvalue().splitlines()
    start = next((i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls")), 0)
    head = [line.strip() for line in lines[:start] if "function calls" in line]
    return head + [line.rstrip() for line in lines[start:] if line.strip()]


def import_summary(stderr: str, top: int = TOP) -> list[str]:
    """From ``python -X importtime``: the modules that cost the most, cumulative, self included."""
    rows = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        own, cumulative, raw = line[len("import time:"):].split("|")
        name = raw.lstrip()
        depth = (len(raw) - len(name) - 1) // 2  # one space after the bar, two more per level
        rows.append((int(cumulative), int(own), depth, name.rstrip()))
    total = sum(cumulative for cumulative, _, depth, _ in rows if depth == 0)
    lines = [f"imports: {total / 1000:.0f} ms in all (top-level modules, cumulative)"]
    # Top-level imports and their direct children: where the start-up goes, not every leaf.
    shown = sorted((r for r in rows if r[2] <= 1), reverse=True)[:top]
    lines += [f"  {cumulative / 1000:6.1f} ms  {'  ' * depth}{name}" for cumulative, _, depth, name in shown]
    return lines


# ``python -m cProfile -m ocireg`` would write nothing: the program leaves with os._exit
# (cli.entry_point skips the interpreter's teardown), so cProfile never reaches its dump.
# The profile wraps cli.main, which returns, and is written before the exit.
_PROFILED = ("import cProfile, sys\nfrom ocireg.cli import main\n"
             "profile = cProfile.Profile()\nstatus = profile.runcall(main, sys.argv[2:])\n"
             "profile.dump_stats(sys.argv[1])\nsys.exit(status)\n")


def run(bed: Bed, out_dir: Path) -> dict[str, Any]:
    """Profile the blob (1 GiB to a file) and pull (20 x 20 MiB to a layout) commands."""
    out_dir.mkdir(parents=True, exist_ok=True)
    big = bed.big()
    digest = big.layer_digest
    layers = bed.image("layers20", [20 << 20] * 20)
    work = bed.scratch / "profile"
    work.mkdir(exist_ok=True)

    def blob_written() -> None:
        fresh_path(work / "blob")

    def layout_written() -> None:
        check_layout(work / "pull", layers)
        fresh_path(work / "pull")

    subjects: dict[str, tuple[list[str], Callable[[], None]]] = {
        "blob": (["blob", f"{bed.source.host}/{big.repo}@{digest}", "-o", str(work / "blob")], blob_written),
        "pull": (["pull", bed.ref(layers), str(work / "pull")], layout_written),
    }
    spy = py_spy()
    report: dict[str, Any] = {"py-spy": spy or "not installed", "files": {}, "summaries": {}}
    for name, (args, after) in subjects.items():
        fresh_path(work / name)
        command = ocireg_command(*args)
        if spy is not None:
            raw = out_dir / f"{name}.pyspy.txt"
            run_measured([spy, "record", "--idle", "--nolineno", "--format", "raw", "--rate", "250",
                          "--output", str(raw), "--", *command], env=bed.env())
            after()
            report["files"][f"{name} py-spy"] = str(raw)
            report["summaries"][f"{name} py-spy"] = collapsed_summary(raw)
        prof = out_dir / f"{name}.pstats"
        run_measured([command[0], "-c", _PROFILED, str(prof), *command[3:]], env=bed.env())
        after()
        report["files"][f"{name} cProfile"] = str(prof)
        report["summaries"][f"{name} cProfile"] = pstats_summary(prof)
    # Start-up: what `ocireg --help` imports, and for how long (one run: an outline, not a figure).
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "ocireg", "--help"], capture_output=True,
                          text=True, env=bed.env(), timeout=120, check=True)
    report["summaries"]["ocireg --help imports"] = import_summary(done.stderr)
    return report
