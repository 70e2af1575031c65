"""Defaults shared by the client, the driver and the command line.

A module of constants alone, so that ``ocireg --help`` can print them without
importing the machinery they configure.
"""

from __future__ import annotations

__all__ = ["DEFAULT_JOBS", "DEFAULT_TIMEOUT"]

DEFAULT_JOBS = 4
"""Transfers in flight at once by default (containerd pulls 3 layers at a time, crane 4)."""

DEFAULT_TIMEOUT = 30.0
"""The command line's connect and read timeout, in seconds."""
