"""Flows: registry operations as generators, the shape of httpx's ``Auth.auth_flow``.

A flow is a generator that yields *effects* and returns its result.  A driver runs
it: for each effect it performs the I/O and sends the outcome back in.  The
drivers (:func:`ocireg.run_flow`, :func:`ocireg.run_flow_async`, or an embedding
tool's own loop) decide nothing: every protocol and orchestration decision is in
the flows, so every driver behaves the same.

=====================  ==============================================  ===================
effect yielded         the driver does                                 and sends back
=====================  ==============================================  ===================
``Request``            ``transport.send(request)``, after turning a      :class:`Response`
                       :class:`BlobBody` body into chunks
``ReadBody(r, n)``     reads at most ``n + 1`` bytes of ``r``'s body,    ``bytes``
                       then closes ``r`` (releasing its connection)
``Close(r)``           closes ``r`` unread (drain or drop connection)  ``None``
``StreamBody(...)``    streams ``r``'s body into a :class:`Sink`,        bytes moved
                       feeding a digest verifier on the way
``Call(f, *args)``     ``f(*args)``: local I/O (a layout, a file)       ``f``'s result
``Parallel(flows)``    runs independent sub-flows, up to its ``jobs``   their results, in
                       at once; the first failure cancels the rest      order
``Acquire(g)`` /       takes / releases the mutex ``g`` (one token      ``None``
``Release(g)``         request per scope set across concurrent flows)
``Sleep(s)``           waits ``s`` seconds (a retry's back-off)         ``None``
``Now()``              reads the clock                                  seconds (float)
``Emit(items)``        hands ``items`` to the caller of a listing      ``None``
                       iterator (pages as they arrive)
=====================  ==============================================  ===================

Reading ``n + 1`` bytes lets the core, not the driver, decide that a body was too
large.  Flows compose with ``yield from``; time is an argument or the ``Now``
effect, so the core never reads a clock, and every body read whole has a cap, so
it never allocates without bound.  A failure while performing an effect is thrown
back into the flow at the ``yield`` that asked for it, so the flow can clean up
(cancel an upload) or translate it.  When a sibling in a :class:`Parallel` fails,
the driver throws :class:`~ocireg.Cancelled` into the others at their next effect.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, runtime_checkable

from ._digest import Digest, DigestVerifier, verified_chunks
from ._errors import ResponseTooLarge
from ._http import Request, Response, redact_url

__all__ = [
    "Acquire",
    "BlobBody",
    "Call",
    "Close",
    "Effect",
    "Emit",
    "Flow",
    "Gate",
    "Now",
    "Parallel",
    "ReadBody",
    "Release",
    "Sink",
    "Sleep",
    "StreamBody",
    "call",
    "close",
    "gated",
    "now",
    "parallel",
    "read_body",
]

T = TypeVar("T")

Chunk = bytes | bytearray | memoryview


@runtime_checkable
class Sink(Protocol):
    """Where a blob is written: a file replaced atomically, memory, a layout's blob.

    A flow opens it, has the driver write a body into it (:class:`StreamBody`),
    and commits it once every byte arrived and matched its digest, or aborts it
    (nothing half-written may stay visible); ``reset`` empties it to start over
    (a download whose resume was refused).  Opening, committing and aborting are
    local I/O, asked for with :class:`Call`.  A sink is used by one flow at a time.
    """

    def open(self) -> None: ...

    def write(self, chunk: Chunk, /) -> None: ...

    def reset(self) -> None: ...

    def commit(self) -> Any: ...

    def abort(self) -> None: ...


@dataclass(frozen=True, eq=False)
class ReadBody:
    """Read the body of ``response`` whole, at most ``limit + 1`` bytes, then close it."""

    response: Response
    limit: int


@dataclass(frozen=True, eq=False)
class Close:
    """Release ``response`` without reading its body."""

    response: Response


@dataclass(frozen=True, eq=False)
class StreamBody:
    """Stream ``response``'s body into the open ``sink``, feeding every byte to ``verifier``.

    The driver writes and hashes; the flow decides what the bytes are worth (it
    calls ``verifier.finish()``, then commits or aborts the sink).  ``key`` and
    ``total`` name the transfer for progress reports.  The response is closed at
    the end either way; a failure mid-body leaves what was written in the sink,
    so the flow can resume from ``verifier.bytes_seen``.
    """

    response: Response
    sink: Sink
    verifier: DigestVerifier
    key: str = ""
    total: int | None = None


@dataclass(frozen=True, eq=False)
class BlobBody:
    """A request body the driver assembles: ``length`` bytes from ``offset`` of a blob.

    ``chunks`` is a lazy iterable (a layout file read at an offset), or ``relay``
    is a response whose body is forwarded as it arrives (a copy between
    registries).  When the range is the whole blob the driver checks ``digest``
    and ``size`` while it sends, so a corrupt source fails the upload instead of
    committing; ``key`` names the transfer for progress reports.
    """

    digest: Digest
    size: int
    offset: int = 0
    length: int | None = None
    chunks: Iterable[Chunk] | None = None
    relay: Response | None = None
    key: str = ""

    @property
    def whole(self) -> bool:
        return self.offset == 0 and (self.length is None or self.length == self.size)

    def __iter__(self) -> Iterator[Chunk]:
        """The chunks of a ``chunks`` body, checked against the digest when whole.

        A ``relay`` body is read by the driver from the response it names."""
        if self.chunks is None:
            raise TypeError("a relayed BlobBody is read by the driver, not iterated")
        if self.whole:
            return verified_chunks(self.chunks, self.digest, self.size)
        return iter(self.chunks)


@dataclass(frozen=True, eq=False)
class Call:
    """Call ``function(*args)``: local I/O the core asks for but never does itself."""

    function: Callable[..., Any]
    args: tuple[Any, ...] = ()


@dataclass(frozen=True, eq=False)
class Parallel:
    """Run independent ``flows``, at most ``jobs`` at once (None: the driver's limit).

    The result is the tuple of their results in the order given, whatever order
    they finish in.  The first failure cancels the others (their uploads are
    cancelled, their files aborted) and is raised once they have all stopped.
    """

    flows: tuple[Flow[Any], ...]
    jobs: int | None = None


class Gate:
    """A mutex flows share through :class:`Acquire` / :class:`Release` (no I/O, no lock here).

    The driver attaches its own primitive (a thread lock, an asyncio lock) to
    ``handle`` the first time it sees the gate.
    """

    __slots__ = ("handle", "name")

    def __init__(self, name: str = "") -> None:
        self.name = name
        self.handle: Any = None

    def __repr__(self) -> str:
        return f"<Gate {self.name}>"


@dataclass(frozen=True, eq=False)
class Acquire:
    gate: Gate


@dataclass(frozen=True, eq=False)
class Release:
    gate: Gate


@dataclass(frozen=True)
class Sleep:
    seconds: float


@dataclass(frozen=True)
class Now:
    pass


@dataclass(frozen=True, eq=False)
class Emit:
    items: tuple[Any, ...] = field(default=())


Effect = Request | ReadBody | Close | StreamBody | Call | Parallel | Acquire | Release | Sleep | Now | Emit
Flow = Generator[Any, Any, T]
"""A flow yielding effects and returning ``T``."""


def read_body(response: Response, limit: int) -> Flow[bytes]:
    """The whole body of ``response``; :class:`ResponseTooLarge` past ``limit`` bytes."""
    data: bytes = yield ReadBody(response, limit)
    if len(data) > limit:
        raise ResponseTooLarge(
            f"{response.request.method} {redact_url(response.request.url)}: "
            f"body larger than {limit} bytes"
        )
    return data


def close(response: Response) -> Flow[None]:
    """Release ``response`` unread."""
    yield Close(response)


def call(function: Callable[..., T], *args: Any) -> Flow[T]:
    """``function(*args)`` performed by the driver (local I/O)."""
    result: T = yield Call(function, args)
    return result


def parallel(flows: Sequence[Flow[T]], jobs: int | None = None) -> Flow[tuple[T, ...]]:
    """The results of ``flows`` run concurrently by the driver, in the order given."""
    if not flows:
        return ()
    if len(flows) == 1:
        return ((yield from flows[0]),)
    results: tuple[T, ...] = yield Parallel(tuple(flows), jobs)
    return results


def gated(gate: Gate, flow: Flow[T]) -> Flow[T]:
    """``flow`` run while holding ``gate``: one flow at a time does it (a token request,
    a scheme probe); the others wait, then find its result stored."""
    yield Acquire(gate)
    try:
        result = yield from flow
    except GeneratorExit:
        raise  # the driver releases a gate its closed flow still holds
    except BaseException:
        yield Release(gate)
        raise
    yield Release(gate)
    return result


def now() -> Flow[float]:
    """The driver's clock, in seconds since the epoch."""
    value: float = yield Now()
    return value
