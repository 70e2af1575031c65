"""Whole-process measurements: wall time, CPU time and peak RSS of one command.

Every command, ocireg's and the baselines', runs the same way: a fresh process, timed
from the parent around the whole run (start-up included), its peak resident set
(``ru_maxrss``) and CPU time (user + system; the registry's own is not counted) read
from the kernel's rusage.  With GNU time (``/usr/bin/time``, Debian package
``time``) the measured program is forked by that small C program; without it, by a
small ``python -S`` launcher that reports ``getrusage(RUSAGE_CHILDREN)``.  Either way
the parent of the measured program is small: Linux carries the forking process's peak
RSS into the ``ru_maxrss`` of the program it execs, so a large parent would set a floor.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from common import ROOT

GNU_TIME = "/usr/bin/time"
# The fallback launcher: runs argv, writes its children's ru_maxrss (KiB) and CPU seconds
# to the file argv[1].
_LAUNCHER = (
    "import resource, subprocess, sys\n"
    "code = subprocess.run(sys.argv[2:]).returncode\n"
    "use = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "open(sys.argv[1], 'w').write(f'{use.ru_maxrss} {use.ru_utime} {use.ru_stime}')\n"
    "sys.exit(code)\n"
)
# GNU time: peak RSS (KiB), user and system CPU seconds, as the launcher writes them.
_GNU_FORMAT = "%M %U %S"


def rss_method() -> str:
    """How peak RSS is read on this machine, for the report."""
    return "GNU time %M" if _has_gnu_time() else "getrusage(RUSAGE_CHILDREN) in a python -S launcher"


@functools.cache
def _has_gnu_time() -> bool:
    if not os.access(GNU_TIME, os.X_OK):
        return False
    try:
        done = subprocess.run([GNU_TIME, "-f", "%M", "true"], capture_output=True, text=True,
                              timeout=10, check=False)
    except OSError:
        return False
    # busybox time has no -f; GNU time prints the number on stderr.
    return done.returncode == 0 and done.stderr.strip().isdigit()


def _usage(text: str) -> tuple[float | None, float | None]:
    """(peak RSS MiB, CPU seconds) from the last line GNU time or the launcher wrote."""
    lines = text.strip().splitlines()
    try:
        rss_kib, user, system = lines[-1].split()
        return int(rss_kib) / 1024, float(user) + float(system)
    except (IndexError, ValueError):
        return None, None


@dataclass(frozen=True)
class Sample:
    """One run: wall seconds, peak RSS, and CPU seconds (user + system) of the process tree.

    CPU time says what a run costs whatever else the machine is doing; wall time, what
    a user waits, grows with the load of a shared machine.
    """

    seconds: float
    rss_mib: float | None
    cpu_seconds: float | None = None


class CommandFailed(RuntimeError):
    pass


def ocireg_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment an ``ocireg`` child runs in: this checkout's code first on the path.

    The shared virtual environment may have another checkout installed; PYTHONPATH puts
    this one's ``src`` and ``transports`` ahead of it, so the code measured is the code
    checked out here.  An empty DOCKER_CONFIG keeps stored credentials out of the runs.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT / "transports")])
    env.pop("PYTHONSTARTUP", None)
    env.update(extra or {})
    return env


def compile_checkout() -> None:
    """Byte-compile this checkout's code, as an installed package is.

    Without it, with PYTHONDONTWRITEBYTECODE set (as it may be on a shared machine), every
    ``ocireg`` process would compile its modules again and start-up would be measured
    several times too slow, while the peers' packages come compiled.
    """
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "src"), str(ROOT / "transports")],
                   check=True, timeout=300, stdout=subprocess.DEVNULL)


def ocireg_command(*args: str) -> list[str]:
    """``python -m ocireg -q --timeout 600 ARGS``: quiet (no progress), patient with a busy registry."""
    return [sys.executable, "-m", "ocireg", "-q", "--timeout", "600", *args]


def run_measured(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = 900,
    stdout_path: Path | None = None,
) -> Sample:
    """Run ``argv`` to completion; its wall time and peak RSS.  Raises CommandFailed on exit != 0.

    The child gets its own session so that a timeout or an interrupt ends it and anything
    it started, not only the launcher.  ``stdout_path`` keeps its standard output (else
    it is read and dropped, so a command printing much does not block on a pipe).
    """
    with tempfile.NamedTemporaryFile(prefix="ocireg-bench-rss-", delete=False) as handle:
        rss_file = Path(handle.name)
    try:
        if _has_gnu_time():
            full = [GNU_TIME, "-f", _GNU_FORMAT, "-o", str(rss_file), *argv]
        else:
            full = [sys.executable, "-S", "-c", _LAUNCHER, str(rss_file), *argv]
        out = stdout_path.open("wb") if stdout_path is not None else subprocess.DEVNULL
        try:
            start = time.perf_counter()
            proc = subprocess.Popen(full, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.PIPE,
                                    env=dict(env) if env is not None else None, start_new_session=True)
            try:
                _, err = proc.communicate(timeout=timeout)
            except BaseException:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.communicate()
                raise
            seconds = time.perf_counter() - start
        finally:
            if stdout_path is not None and not isinstance(out, int):
                out.close()
        if proc.returncode != 0:
            text = err.decode(errors="replace").strip().splitlines()
            tail = " | ".join(line for line in text[-3:] if not line.startswith("Command exited"))
            raise CommandFailed(f"{Path(argv[0]).name} exited {proc.returncode}: {tail[:300]}")
        return Sample(seconds, *_usage(rss_file.read_text()))
    finally:
        rss_file.unlink(missing_ok=True)


