"""Defaults shared by the client, the driver and the command line.

A module of constants alone, so that ``ocireg --help`` can print them without
importing the machinery they configure.
"""

from __future__ import annotations

__all__ = ["DEFAULT_JOBS", "DEFAULT_TIMEOUT"]

DEFAULT_JOBS = 8
"""Transfers in flight at once by default.  Small layers are bound by the round trip,
not the bandwidth: with 8 in flight a 20-layer image across a 50 ms round trip takes
3 waves instead of 6 with 4 (containerd pulls 3 at a time, crane 4, skopeo 6).  Big
layers do not pay for it: transfers that stream beside others are hashed and
written inline on one buffer each (see :mod:`ocireg._driver`)."""

DEFAULT_TIMEOUT = 30.0
"""The command line's connect and read timeout, in seconds."""
