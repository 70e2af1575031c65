"""The asyncio flow runner: the same flows as the blocking driver, awaited.

Flows never do I/O, so nothing in them changes under an event loop: only the
loop that performs their effects does.  An async transport mirrors
:class:`~ocireg.Transport` with coroutines.
"""

from __future__ import annotations

from typing import Protocol, TypeVar, runtime_checkable

from ._errors import RegistryError, transport_errors
from ._flow import Close, Effect, Flow, ReadBody
from ._http import Request, Response
from ._transport import adopt_response

__all__ = ["AsyncResponseStream", "AsyncTransport", "run_flow_async"]

T = TypeVar("T")


@runtime_checkable
class AsyncResponseStream(Protocol):
    async def readinto(self, buffer: bytearray | memoryview, /) -> int: ...

    async def close(self) -> None: ...


@runtime_checkable
class AsyncTransport(Protocol):
    """``send`` returns a :class:`~ocireg.Response` whose ``stream`` is an :class:`AsyncResponseStream`."""

    async def send(self, request: Request, /) -> Response: ...

    async def close(self) -> None: ...


async def _read_limited(stream: AsyncResponseStream, limit: int) -> bytes:
    """At most ``limit + 1`` bytes, as the blocking driver reads them (see ``_driver``)."""
    buf = bytearray(min(limit + 1, 1 << 20))
    view = memoryview(buf)
    out = bytearray()
    while len(out) <= limit:
        n = await stream.readinto(view[: min(len(buf), limit + 1 - len(out))])
        if n == 0:
            break
        out += view[:n]
    return bytes(out)


async def _perform(effect: Effect, transport: AsyncTransport) -> object:
    if isinstance(effect, Request):
        with transport_errors(effect.url):
            return adopt_response(await transport.send(effect), effect)
    stream: AsyncResponseStream = effect.response.stream
    with transport_errors(effect.response.request.url):
        if isinstance(effect, ReadBody):
            try:
                return await _read_limited(stream, effect.limit)
            finally:
                await stream.close()
        if isinstance(effect, Close):
            await stream.close()
            return None
    raise TypeError(f"unknown effect {effect!r}")  # pragma: no cover - the union is closed


async def run_flow_async(flow: Flow[T], transport: AsyncTransport) -> T:
    """Run ``flow`` to completion over an async transport; the twin of :func:`ocireg.run_flow`."""
    try:
        effect = next(flow)
        while True:
            try:
                outcome = await _perform(effect, transport)
            except RegistryError as exc:
                effect = flow.throw(exc)
            else:
                effect = flow.send(outcome)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
