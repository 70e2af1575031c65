"""Finding a transport: entry points, so the core never imports one by name.

A transport package declares its classes in the entry-point groups
``ocireg.transports`` (blocking) and ``ocireg.async_transports`` (asyncio), as
ocireg's own ``pyproject.toml`` does::

    [project.entry-points."ocireg.transports"]
    urllib3 = "ocireg_urllib3:Urllib3Transport"

Each class takes the keyword options ``open_timeout``, ``read_timeout``,
``ca_file``, ``insecure`` and ``pool_size`` (connections kept per origin).

Without a name, the blocking side uses :class:`~ocireg.HTTPClientTransport`
(standard library, part of the core and of any vendored copy): it is always there,
reads bodies straight into the caller's buffer (the fastest of the three in
``benchmarks/``: a 1 GiB blob, verified, in about three quarters of urllib3's time)
and costs no import beyond ``http.client``, which the others load too; entry points
are then not even looked at, so a command line starts quickly.  urllib3 and h11 are
there to be named (an application's own pool and proxy set-up; a strict, small
parser), as is any other registered transport.  The asyncio side prefers h11.  An entry point whose package cannot be imported
(ocireg's wheel declares urllib3 and h11 even when those libraries are absent)
counts as not installed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._defaults import DEFAULT_JOBS
from ._errors import UsageError
from ._stdlib_transport import HTTPClientTransport
from ._transport import AsyncTransport, Transport

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

__all__ = [
    "ASYNC_GROUP",
    "GROUP",
    "STDLIB",
    "available_transports",
    "default_async_transport",
    "default_transport",
]

GROUP = "ocireg.transports"
ASYNC_GROUP = "ocireg.async_transports"
STDLIB = "stdlib"
"""The name of the standard-library transport; built in, never looked up."""

_PREFERRED_ASYNC = ("h11",)
"""The asyncio default (the standard library has no asyncio HTTP client)."""

_EXTRAS = {"urllib3": "ocireg[urllib3]", "h11": "ocireg[h11]"}
"""What to install for ocireg's own transports."""


def _registered(group: str) -> dict[str, EntryPoint]:
    """The entry points of ``group`` by name; the first one on ``sys.path`` wins."""
    import importlib.metadata  # slow to import and to scan: only when a name is looked up

    found: dict[str, EntryPoint] = {}
    for point in importlib.metadata.entry_points(group=group):
        found.setdefault(point.name, point)
    return found


def _load(point: EntryPoint) -> tuple[Callable[..., Any] | None, str]:
    """The class behind ``point``, or None and why it cannot be had."""
    try:
        return point.load(), ""
    except (ImportError, AttributeError) as exc:  # its library is not installed, or a stale declaration
        return None, str(exc)


def available_transports(*, asynchronous: bool = False) -> list[str]:
    """The names that can be asked for: registered transports that import, and ``stdlib``."""
    names = [name for name, point in sorted(_registered(ASYNC_GROUP if asynchronous else GROUP).items())
             if _load(point)[0] is not None]
    return names if asynchronous else [*names, STDLIB]


def _options(
    open_timeout: float, read_timeout: float, ca_file: str | None, insecure: bool, pool_size: int
) -> dict[str, Any]:
    """The keyword options every transport class takes."""
    return {"open_timeout": open_timeout, "read_timeout": read_timeout, "ca_file": ca_file,
            "insecure": insecure, "pool_size": pool_size}


def _pick(group: str, name: str | None, options: dict[str, Any], *, asynchronous: bool) -> Any:
    """A transport of ``group``: the one named, else the first preferred that imports, else None."""
    registered = _registered(group)
    if name is None:
        for preferred in _PREFERRED_ASYNC:
            factory = _load(registered[preferred])[0] if preferred in registered else None
            if factory is not None:
                return factory(**options)
        return None
    point = registered.get(name)
    why = "not registered"
    if point is not None:
        factory, why = _load(point)
        if factory is not None:
            return factory(**options)
        why = f"registered but not importable ({why})"
        if name in _EXTRAS:
            why += f": pip install '{_EXTRAS[name]}'"
    kind = "asyncio transport" if asynchronous else "transport"
    available = ", ".join(available_transports(asynchronous=asynchronous)) or "none"
    raise UsageError(f"{kind} {name!r} is {why}; available: {available}")


def default_transport(
    name: str | None = None,
    *,
    open_timeout: float = 2,
    read_timeout: float = 5,
    ca_file: str | None = None,
    insecure: bool = False,
    pool_size: int = DEFAULT_JOBS,
) -> Transport:
    """A blocking transport: ``name``'s, else the standard library's."""
    options = _options(open_timeout, read_timeout, ca_file, insecure, pool_size)
    if name is None or name == STDLIB:
        return HTTPClientTransport(**options)
    transport: Transport = _pick(GROUP, name, options, asynchronous=False)
    return transport


def default_async_transport(
    name: str | None = None,
    *,
    open_timeout: float = 2,
    read_timeout: float = 5,
    ca_file: str | None = None,
    insecure: bool = False,
    pool_size: int = DEFAULT_JOBS,
) -> AsyncTransport:
    """An asyncio transport: ``name``'s, else h11's; there is no standard-library one."""
    options = _options(open_timeout, read_timeout, ca_file, insecure, pool_size)
    transport: AsyncTransport | None = _pick(ASYNC_GROUP, name, options, asynchronous=True)
    if transport is None:
        raise UsageError(
            "no asyncio transport is installed: pip install 'ocireg[h11]', or pass one"
        )
    return transport
