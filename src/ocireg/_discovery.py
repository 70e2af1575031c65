"""Finding a transport without naming one: entry points, then the standard library."""

from __future__ import annotations

from typing import Any

from ._errors import UsageError

__all__ = ["default_async_transport", "default_transport"]


def default_transport(**options: Any) -> Any:
    """urllib3 when it is installed, else h11."""
    for module, name in (("ocireg_urllib3", "Urllib3Transport"), ("ocireg_h11", "H11Transport")):
        try:
            cls = getattr(__import__(module), name)
        except ImportError:
            continue
        options.pop("pool_size", None)
        return cls(**options)
    raise UsageError("no HTTP transport is installed")


def default_async_transport(**options: Any) -> Any:
    raise UsageError("no asyncio transport is installed")
