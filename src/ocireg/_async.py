"""The asyncio driver: the same flows and effects as :mod:`ocireg._driver`, awaited.

Flows never do I/O, so nothing in them changes under an event loop: only the loop
that performs their effects does.  :class:`~ocireg._flow.Parallel` sub-flows run
as tasks, local file work (:class:`~ocireg._flow.Call`, committing a file) in
worker threads so the event loop never waits on a disk.  An async transport mirrors
:class:`~ocireg.Transport` with coroutines; request bodies it receives are bytes,
iterables or async iterables of chunks.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import Any, BinaryIO, TypeVar

from ._digest import DigestVerifier
from ._driver import (
    CAN_SEND_FILES,
    DEFAULT_JOBS,
    NEW_WORK,
    CancelScope,
    SourceError,
    aligned_buffer,
    local_error,
    region_sends,
    sendfile_failure,
)
from ._errors import Cancelled, RegistryError, translate_transport_error, transport_errors
from ._fileregion import FileRegion
from ._flow import (
    Acquire,
    BlobBody,
    Call,
    Close,
    Emit,
    Flow,
    Now,
    Parallel,
    ReadBody,
    Release,
    Sleep,
    StreamBody,
)
from ._http import Request, Response
from ._progress import NullProgress, Progress
from ._transport import AsyncResponseStream, AsyncTransport, adopt_response

__all__ = ["AsyncRunner", "aiter_body", "run_flow_async"]

T = TypeVar("T")

CHUNK_SIZE = 1 << 20


async def _read_limited(response: Response, limit: int) -> bytes:
    """At most ``limit + 1`` bytes, as the blocking driver reads them."""
    stream: AsyncResponseStream = response.stream
    buf = bytearray(min(limit + 1, CHUNK_SIZE))
    view = memoryview(buf)
    out = bytearray()
    while len(out) <= limit:
        with transport_errors(response.request.url):
            n = await stream.readinto(view[: min(len(buf), limit + 1 - len(out))])
        if n == 0:
            break
        out += view[:n]
    return bytes(out)


async def aiter_body(response: Response, chunk_size: int = CHUNK_SIZE) -> AsyncGenerator[memoryview, None]:
    """The body in views of one reused buffer (valid until the next); closes it at the end."""
    stream: AsyncResponseStream = response.stream
    url = response.request.url
    view = aligned_buffer(chunk_size)
    try:
        while True:
            with transport_errors(url):
                n = await stream.readinto(view)
            if not n:
                break
            yield view[:n]
    finally:
        with transport_errors(url):
            await stream.close()


async def _local_async(function: Callable[..., Any], *args: Any) -> Any:
    """Local file work in a worker thread, so the event loop never waits on a disk."""
    try:
        return await asyncio.to_thread(function, *args)
    except RegistryError:
        raise
    except OSError as exc:
        raise local_error(exc) from exc


def _gate_lock(gate: Any) -> asyncio.Lock:
    handles = gate.handle if isinstance(gate.handle, dict) else None
    if handles is None:
        handles = gate.handle = {}
    lock = handles.get("asyncio")
    if lock is None:
        lock = handles["asyncio"] = asyncio.Lock()
    return lock


class AsyncRunner:
    """Performs effects over an async transport: the loop under :class:`~ocireg.AsyncRegistry`."""

    def __init__(
        self,
        transport: AsyncTransport,
        *,
        jobs: int = DEFAULT_JOBS,
        progress: Progress | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Any] | None = None,
        route: Callable[[Request], AsyncTransport | None] | None = None,
        scope: CancelScope | None = None,
    ) -> None:
        self.transport = transport
        self.jobs = max(1, jobs)
        self.progress: Progress = progress or NullProgress()
        self.clock = clock
        self.sleep = sleep
        self.route = route
        self.scope = scope or CancelScope()

    def _child(self, scope: CancelScope) -> AsyncRunner:
        return AsyncRunner(self.transport, jobs=self.jobs, progress=self.progress, clock=self.clock,
                           sleep=self.sleep, route=self.route, scope=scope)

    async def run(self, flow: Flow[T]) -> T:
        box: list[T] = []
        async for _ in self.drive(flow, box):
            pass
        return box[0]

    async def drive(self, flow: Flow[T], box: list[T]) -> AsyncIterator[Any]:
        """Run ``flow``, yielding every item it emits; its result goes into ``box``."""
        held: list[asyncio.Lock] = []
        told = False
        try:
            effect = next(flow)
            while True:
                if isinstance(effect, Emit):
                    for item in effect.items:
                        yield item
                    effect = flow.send(None)
                    continue
                try:
                    if not told and isinstance(effect, NEW_WORK):
                        self.scope.check()
                    outcome = await self.perform(effect, held)
                except RegistryError as exc:
                    # Cancelled reaches a flow once; its clean-up (closing what it holds,
                    # cancelling its upload) then runs to the end.
                    told = told or isinstance(exc, Cancelled)
                    effect = flow.throw(exc)
                else:
                    effect = flow.send(outcome)
        except StopIteration as stop:
            box.append(stop.value)
        finally:
            flow.close()
            for lock in held:
                lock.release()

    async def perform(self, effect: Any, held: list[asyncio.Lock]) -> Any:
        if isinstance(effect, Request):
            return await self._send(effect)
        if isinstance(effect, ReadBody):
            try:
                return await _read_limited(effect.response, effect.limit)
            finally:
                with transport_errors(effect.response.request.url):
                    await effect.response.stream.close()
        if isinstance(effect, Close):
            with transport_errors(effect.response.request.url):
                await effect.response.stream.close()
            return None
        if isinstance(effect, StreamBody):
            return await self._stream_into(effect)
        if isinstance(effect, Call):
            return await _local_async(effect.function, *effect.args)
        if isinstance(effect, Parallel):
            return await self._parallel(effect)
        if isinstance(effect, Acquire):
            lock = _gate_lock(effect.gate)
            await lock.acquire()
            held.append(lock)
            return None
        if isinstance(effect, Release):
            lock = _gate_lock(effect.gate)
            held.remove(lock)
            lock.release()
            return None
        if isinstance(effect, Sleep):
            if self.sleep is not None:
                await self.sleep(effect.seconds)
            else:
                deadline = time.monotonic() + effect.seconds
                while (left := deadline - time.monotonic()) > 0:
                    self.scope.check()
                    await asyncio.sleep(min(left, 0.05))
            return None
        if isinstance(effect, Now):
            return self.clock()
        raise TypeError(f"unknown effect {effect!r}")

    async def _send(self, request: Request) -> Response:
        transport = (self.route(request) if self.route else None) or self.transport
        source = SourceError()
        sent = request
        body = request.body
        if isinstance(body, BlobBody):
            if body.relay is None and isinstance(body.chunks, FileRegion) and CAN_SEND_FILES:
                sent = request.replace(body=_AsyncFileBody(self, body, body.chunks, source))
            else:
                sent = request.replace(body=self._body_chunks(body, source))
        try:
            raw = await transport.send(sent)
        except BaseException as exc:
            if isinstance(request.body, BlobBody) and request.body.relay is not None:
                await request.body.relay.stream.close()
            if source.error is not None:
                raise source.error from None
            if isinstance(exc, RegistryError) or not isinstance(exc, OSError):
                raise
            raise translate_transport_error(exc, request.url) from exc
        if source.error is not None:
            raise source.error
        return adopt_response(raw, request)

    async def _body_chunks(self, body: BlobBody, source: SourceError) -> AsyncIterator[Any]:
        """The bytes of ``body`` as the transport will send them: checked, reported, cancellable."""
        progress = self.progress
        if body.key:
            progress.start(body.key, body.size, body.offset)
        try:
            async for chunk in self._chunks_of(body):
                self.scope.check()
                if body.key:
                    progress.advance(body.key, len(chunk))
                yield chunk
        except OSError as exc:
            failure: BaseException = exc if isinstance(exc, RegistryError) else local_error(exc)
            source.error = failure
            raise failure from None
        except BaseException as exc:
            source.error = exc
            raise
        finally:
            if body.key:
                progress.finish(body.key)

    async def _send_file(self, body: BlobBody, region: FileRegion, source: SourceError,
                         sendfile: Callable[[BinaryIO, int, int], Awaitable[int]]) -> None:
        """``body`` sent by the transport's ``sendfile`` from its file: the blocking
        driver's ``_send_file``, awaited (the digest's thread is waited for off the loop)."""
        ours: list[BaseException] = []  # what the transport's sendfile raised: its own to report
        progress, key = self.progress, body.key

        async def send(file: BinaryIO, offset: int, count: int) -> None:
            try:
                sent = await sendfile(file, offset, count)
            except BaseException as exc:
                ours.append(exc)
                raise
            if sent != count:  # the file ended early
                raise region.shrank()

        if key:
            progress.start(key, body.size, body.offset)
        try:
            with contextlib.closing(region_sends(body, region, self.scope, progress)) as steps:
                for step in steps:
                    if callable(step):  # joins the digest's thread: off the loop
                        await asyncio.get_running_loop().run_in_executor(None, step)
                    else:
                        await send(*step)
        except BaseException as exc:
            failure = sendfile_failure(exc, ours, source)
            if failure is exc:
                raise
            raise failure from None
        finally:
            if key:
                progress.finish(key)

    async def _chunks_of(self, body: BlobBody) -> AsyncIterator[Any]:
        if body.relay is not None:
            verifier = DigestVerifier(body.digest, body.size)
            async with contextlib.aclosing(aiter_body(body.relay)) as relayed:
                async for chunk in relayed:
                    verifier.update(chunk)
                    yield chunk
            verifier.finish()
            return
        chunks = iter(body)  # checked against the digest by BlobBody itself
        try:
            for piece in chunks:  # local file reads: short, from the page cache
                yield piece
        finally:
            closer = getattr(chunks, "close", None)
            if closer is not None:
                closer()

    async def _stream_into(self, effect: StreamBody) -> int:
        sink, verifier, progress, key = effect.sink, effect.verifier, self.progress, effect.key
        start = verifier.bytes_seen
        if key:
            progress.start(key, effect.total, start)
        try:
            async with contextlib.aclosing(aiter_body(effect.response)) as body:
                self.scope.check()  # the response is held: cancel here, so it is closed
                async for chunk in body:
                    self.scope.check()
                    verifier.update(chunk)
                    try:
                        sink.write(chunk)
                    except OSError as exc:
                        raise local_error(exc) from exc
                    if key:
                        progress.advance(key, len(chunk))
        except BaseException:
            with contextlib.suppress(RegistryError), transport_errors(effect.response.request.url):
                await effect.response.stream.close()  # also when the body was never started
            raise
        finally:
            if key:
                progress.finish(key)
        return verifier.bytes_seen - start

    async def _parallel(self, effect: Parallel) -> tuple[Any, ...]:
        flows = effect.flows
        jobs = min(effect.jobs or self.jobs, self.jobs, len(flows))
        if jobs <= 1:
            return tuple([await self.run(flow) for flow in flows])
        scope = CancelScope(self.scope)
        child = self._child(scope)
        results: list[Any] = [None] * len(flows)
        failures: list[BaseException] = []
        pending = iter(range(len(flows)))

        async def worker() -> None:
            for i in pending:
                if scope.cancelled:
                    flows[i].close()
                    continue
                try:
                    results[i] = await child.run(flows[i])
                except Exception as exc:
                    failures.append(exc)
                    scope.cancel()

        await asyncio.gather(*(worker() for _ in range(jobs)))
        if failures:
            raise next((exc for exc in failures if not isinstance(exc, Cancelled)), failures[0])
        return tuple(results)


class _AsyncFileBody:
    """The blocking driver's ``_FileBody`` for asyncio: an async iterable of checked
    chunks, or ``await send_file(sendfile)`` with an async ``sendfile``."""

    def __init__(self, runner: AsyncRunner, body: BlobBody, region: FileRegion, source: SourceError) -> None:
        self._runner = runner
        self._body = body
        self._region = region
        self._source = source
        self._taken = False

    def __aiter__(self) -> AsyncIterator[Any]:
        self._take()
        return self._runner._body_chunks(self._body, self._source)

    async def send_file(self, sendfile: Callable[[BinaryIO, int, int], Awaitable[int]], /) -> None:
        """Send the body by awaited calls of ``sendfile(file, offset, count)``, which
        sends ``count`` bytes of ``file`` from ``offset`` and returns how many it sent."""
        self._take()
        await self._runner._send_file(self._body, self._region, self._source, sendfile)

    def _take(self) -> None:
        if self._taken:
            raise RuntimeError("a request body is sent once")
        self._taken = True


async def run_flow_async(flow: Flow[T], transport: AsyncTransport, *, jobs: int = DEFAULT_JOBS) -> T:
    """Run ``flow`` to completion over an async transport; the twin of :func:`ocireg.run_flow`."""
    return await AsyncRunner(transport, jobs=jobs).run(flow)
