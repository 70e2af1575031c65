"""What every fuzz target shares: running under atheris, and text from bytes.

A target module defines ``check(data: bytes) -> None``, which asserts the parser's
documented contract (it parses, or raises the documented error; what parses
behaves) and raises anything else.  ``check`` needs no atheris, so
``tests/test_fuzz_targets.py`` runs every target's seeds in ``make test``; only
:func:`fuzz` imports atheris (``pip install -e '.[fuzz]'``).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path


def text(data: bytes) -> str:
    """Fuzz bytes as text, as a user's input arrives: UTF-8, U+FFFD where it is not."""
    return data.decode("utf-8", "replace")


def _fuzzing() -> bool:
    """True when a target runs as the program (``python fuzz/fuzz_x.py``), not under pytest."""
    return Path(sys.argv[0]).stem.startswith("fuzz_")


def instrumented() -> AbstractContextManager[object]:
    """Wrap a target's ocireg imports: coverage-instrumented when fuzzing, plain otherwise.

    Only ocireg is instrumented (the standard library would slow every run for
    coverage that says nothing about ocireg).
    """
    if not _fuzzing():
        return contextlib.nullcontext()
    import atheris

    manager: AbstractContextManager[object] = atheris.instrument_imports(include=["ocireg"])
    return manager


def fuzz(check: Callable[[bytes], None]) -> None:
    """Run ``check`` coverage-guided under atheris (libFuzzer arguments from ``sys.argv``)."""
    import atheris

    atheris.Setup(sys.argv, check)
    atheris.Fuzz()
