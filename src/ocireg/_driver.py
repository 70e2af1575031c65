"""The blocking driver: performs the effects a flow yields, with threads for :class:`Parallel`.

No protocol or orchestration decision lives here (see :mod:`ocireg._flow` for the
effects and what performing each means); :mod:`ocireg._async` is the same loop
for asyncio.  What is here is I/O and its hygiene: transport failures turned into
this package's errors whatever copy of ocireg a transport was written against,
byte streams checked against their digest, files committed or aborted, sibling
flows cancelled when one fails.
"""

from __future__ import annotations

import contextlib
import functools
import mmap
import os
import queue
import threading
import time
from collections.abc import Callable, Generator, Iterator
from typing import Any, BinaryIO, TypeVar

from ._defaults import DEFAULT_JOBS
from ._digest import DigestVerifier, verified_chunks
from ._errors import (
    Cancelled,
    LocalFileError,
    RegistryError,
    translate_transport_error,
    transport_errors,
)
from ._fileregion import READ_SIZE, FileRegion
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
from ._transport import ResponseStream, Transport, adopt_response

__all__ = [
    "CHUNK_SIZE",
    "DEFAULT_JOBS",
    "NEW_WORK",
    "CancelScope",
    "Runner",
    "SourceError",
    "iter_body",
    "local_error",
    "read_limited",
    "run_flow",
]

T = TypeVar("T")

CHUNK_SIZE = 1 << 20
"""Streaming read size: 1 MiB reads are 2-3 times faster than 8 KiB ones here."""

_GATE_LOCK = threading.Lock()

NEW_WORK = (Request, Parallel, Sleep)
"""Effects that start work: a cancelled flow is stopped before them, never before it
closes what it already holds."""


class CancelScope:
    """Set when a sibling failed; nested scopes see their parents' state."""

    def __init__(self, parent: CancelScope | None = None) -> None:
        self._event = threading.Event()
        self._parent = parent

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        scope: CancelScope | None = self
        while scope is not None:
            if scope._event.is_set():
                return True
            scope = scope._parent
        return False

    def check(self) -> None:
        if self.cancelled:
            raise Cancelled("cancelled: another transfer of this operation failed")


def read_limited(stream: ResponseStream, limit: int, url: str = "") -> bytes:
    """At most ``limit + 1`` bytes of ``stream`` (one more tells the core it was too big)."""
    buf = bytearray(min(limit + 1, CHUNK_SIZE))
    view = memoryview(buf)
    out = bytearray()
    while len(out) <= limit:
        with transport_errors(url):
            n = stream.readinto(view[:min(len(buf), limit + 1 - len(out))])
        if n == 0:
            break
        out += view[:n]
    return bytes(out)


def iter_body(response: Response, chunk_size: int = CHUNK_SIZE) -> Generator[memoryview, None, None]:
    """The body of ``response`` in chunks read into one reused buffer; closes it at the end.

    Each chunk is a view of that buffer, valid until the next one is asked for:
    consume it (hash it, write it, send it) before moving on.
    """
    stream: ResponseStream = response.stream
    url = response.request.url
    view = aligned_buffer(chunk_size)
    try:
        while True:
            with transport_errors(url):
                n = stream.readinto(view)
            if not n:
                break
            yield view[:n]
    finally:
        with transport_errors(url):
            stream.close()


def _fill(stream: ResponseStream, buffer: memoryview, url: str) -> tuple[int, RegistryError | None]:
    """Read until ``buffer`` is full or the body ends (fewer, larger hand-offs down the
    pipeline); a failure is returned beside the bytes read before it, not instead of them."""
    got = 0
    while got < len(buffer):
        try:
            with transport_errors(url):
                n = stream.readinto(buffer[got:])
        except RegistryError as exc:
            return got, exc
        if n == 0:
            break
        got += n
    return got, None


class _Streams:
    """How many bodies this process is streaming into sinks right now.

    Process-wide on purpose: what it decides is how to use the machine's cores.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.active = 0

    @contextlib.contextmanager
    def streaming(self) -> Iterator[None]:
        with self._lock:
            self.active += 1
        try:
            yield
        finally:
            with self._lock:
                self.active -= 1


_STREAMS = _Streams()


class _Pipeline:
    """Hashing and writing beside the reading thread, on a few reused buffers.

    The reader fills a free buffer and hands it to two workers, one feeding the
    digest verifier, one writing the sink; a buffer is free again once both are
    done with it.  Memory stays at ``DEPTH`` buffers whatever the blob's size, and
    the first worker failure (a digest overflow, a full disk) stops the reader at
    its next hand-off.

    The threads start only for a body of more than one buffer that is streamed
    alone: the overlap is what lets one big blob use a second core.  When other
    bodies stream at the same time, they already keep the cores busy, and threads
    per transfer would only add hand-offs, contention and buffers (a 20-layer pull
    with 4 in flight: 10 % slower, 13 MiB more), so each buffer is then hashed and
    written inline, one after the other, on one buffer.
    """

    DEPTH = 4
    BUFFER = CHUNK_SIZE  # 1 MiB: DEPTH of them per transfer, jobs transfers at once

    def __init__(self, sink: Any, verifier: DigestVerifier) -> None:
        self.sink = sink
        self.verifier = verifier
        self._free: queue.SimpleQueue[memoryview] = queue.SimpleQueue()
        self._made = 0
        self._pending: dict[int, int] = {}
        self._lock = threading.Lock()
        self._queues: list[queue.SimpleQueue[tuple[memoryview, int] | None]] = []
        self._threads: list[threading.Thread] = []
        self._error: BaseException | None = None
        self._first: tuple[memoryview, int] | None = None
        self._inline = False

    def free_buffer(self) -> memoryview:
        if self._made < self.DEPTH and self._free.empty():
            self._made += 1
            return aligned_buffer(self.BUFFER)
        while True:
            self._raise_failure()
            try:
                return self._free.get(timeout=0.1)
            except queue.Empty:
                continue

    def submit(self, buffer: memoryview, n: int) -> None:
        self._raise_failure()
        if self._inline:
            self._consume(buffer, n)
            self._free.put(buffer)
            return
        if not self._threads:
            if self._first is None:  # a one-buffer body may need no threads at all
                self._first = (buffer, n)
                return
            if _STREAMS.active > 1:  # others stream too: they use the cores
                self._inline = True
                first, self._first = self._first, None
                self._consume(*first)
                self._free.put(first[0])
                self._consume(buffer, n)
                self._free.put(buffer)
                return
            self._start()
            first, self._first = self._first, None
            self._hand(*first)
        self._hand(buffer, n)

    def finish(self) -> None:
        """Wait for the workers; raise what one of them raised."""
        if self._first is not None:
            buffer, n = self._first
            self._first = None
            self._consume(buffer, n)
        self._join()
        self._raise_failure()

    def _consume(self, buffer: memoryview, n: int) -> None:
        """Hash and write one buffer in the reading thread."""
        self.verifier.update(buffer[:n])
        _local(self.sink.write, buffer[:n])

    def stop(self) -> None:
        """After a failure: let the workers finish what they hold, then end them."""
        self._first = None
        self._join()

    def _start(self) -> None:
        for work in (self.verifier.update, lambda view: _local(self.sink.write, view)):
            jobs: queue.SimpleQueue[tuple[memoryview, int] | None] = queue.SimpleQueue()
            thread = threading.Thread(target=self._work, args=(jobs, work), daemon=True,
                                      name="ocireg-pipeline")
            thread.start()
            self._queues.append(jobs)
            self._threads.append(thread)

    def _hand(self, buffer: memoryview, n: int) -> None:
        with self._lock:
            self._pending[id(buffer)] = len(self._queues)
        for jobs in self._queues:
            jobs.put((buffer, n))

    def _work(self, jobs: queue.SimpleQueue[tuple[memoryview, int] | None], work: Callable[[memoryview], Any]) -> None:
        while (item := jobs.get()) is not None:
            buffer, n = item
            if self._error is None:
                try:
                    work(buffer[:n])
                except BaseException as exc:  # handed to the reader, which raises it
                    self._error = self._error or exc
            with self._lock:
                self._pending[id(buffer)] -= 1
                done = self._pending[id(buffer)] == 0
            if done:
                self._free.put(buffer)

    def _join(self) -> None:
        for jobs in self._queues:
            jobs.put(None)
        for thread in self._threads:
            thread.join()
        self._queues, self._threads = [], []

    def _raise_failure(self) -> None:
        if self._error is not None:
            raise self._error


class SourceError:
    """Remembers what a request body raised, so the flow sees the source's own verdict
    (a corrupt layout blob, a short file) even when the transport reports it otherwise."""

    error: BaseException | None = None

    def blame(self, exc: BaseException) -> BaseException:
        """Record what the body raised, a local file failure as this package's error."""
        self.error = local_error(exc) if isinstance(exc, OSError) and not isinstance(exc, RegistryError) else exc
        return self.error


class Runner:
    """Performs effects over a transport: the loop under :class:`~ocireg.Registry`.

    ``route`` picks the transport for a request's origin (a copy between registries
    whose clients have their own transports); ``jobs`` bounds :class:`Parallel`.
    """

    def __init__(
        self,
        transport: Transport,
        *,
        jobs: int = DEFAULT_JOBS,
        progress: Progress | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Any] | None = None,
        route: Callable[[Request], Transport | None] | None = None,
        scope: CancelScope | None = None,
    ) -> None:
        self.transport = transport
        self.jobs = max(1, jobs)
        self.progress: Progress = progress or NullProgress()
        self.clock = clock
        self.sleep = sleep
        self.route = route
        self.scope = scope or CancelScope()

    def _child(self, scope: CancelScope) -> Runner:
        return Runner(self.transport, jobs=self.jobs, progress=self.progress, clock=self.clock,
                      sleep=self.sleep, route=self.route, scope=scope)

    # --- the loop ---------------------------------------------------------------------

    def run(self, flow: Flow[T]) -> T:
        """Run ``flow`` to completion and return its result (emitted items are dropped)."""
        drive = self.drive(flow)
        while True:
            try:
                next(drive)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]

    def drive(self, flow: Flow[T]) -> Generator[Any, None, T]:
        """Run ``flow``, yielding every item it emits (a listing's names, page by page)."""
        held: list[Any] = []
        told = False
        try:
            effect = next(flow)
            while True:
                if isinstance(effect, Emit):
                    yield from effect.items
                    effect = flow.send(None)
                    continue
                try:
                    if not told and isinstance(effect, NEW_WORK):
                        self.scope.check()
                    outcome = self.perform(effect, held)
                except RegistryError as exc:
                    # Cancelled reaches a flow once; its clean-up (closing what it holds,
                    # cancelling its upload) then runs to the end.
                    told = told or isinstance(exc, Cancelled)
                    effect = flow.throw(exc)
                else:
                    effect = flow.send(outcome)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        finally:
            flow.close()
            for lock in held:  # a flow that failed while holding a gate
                lock.release()

    def perform(self, effect: Any, held: list[Any]) -> Any:
        if isinstance(effect, Request):
            return self._send(effect)
        if isinstance(effect, ReadBody):
            response = effect.response
            try:
                return read_limited(response.stream, effect.limit, response.request.url)
            finally:
                with transport_errors(response.request.url):
                    response.stream.close()
        if isinstance(effect, Close):
            with transport_errors(effect.response.request.url):
                effect.response.stream.close()
            return None
        if isinstance(effect, StreamBody):
            return self._stream_into(effect)
        if isinstance(effect, Call):
            try:
                return effect.function(*effect.args)
            except RegistryError:
                raise
            except OSError as exc:
                raise local_error(exc) from exc
        if isinstance(effect, Parallel):
            return self._parallel(effect)
        if isinstance(effect, Acquire):
            lock = _gate_lock(effect.gate)
            lock.acquire()
            held.append(lock)
            return None
        if isinstance(effect, Release):
            lock = _gate_lock(effect.gate)
            held.remove(lock)
            lock.release()
            return None
        if isinstance(effect, Sleep):
            if self.sleep is not None:
                self.sleep(effect.seconds)
            elif _cancellable_wait(self.scope, effect.seconds):
                self.scope.check()
            return None
        if isinstance(effect, Now):
            return self.clock()
        raise TypeError(f"unknown effect {effect!r}")

    # --- requests -----------------------------------------------------------------------

    def _send(self, request: Request) -> Response:
        transport = (self.route(request) if self.route else None) or self.transport
        source = SourceError()
        body = request.body
        if isinstance(body, BlobBody):
            if body.relay is None and isinstance(body.chunks, FileRegion) and CAN_SEND_FILES:
                sent = request.replace(body=_FileBody(self, body, body.chunks, source))
            else:
                sent = request.replace(body=self._body_chunks(body, source))
        else:
            sent = request
        try:
            raw = transport.send(sent)
        except BaseException as exc:
            if isinstance(request.body, BlobBody) and request.body.relay is not None:
                request.body.relay.stream.close()  # a body never started never closed it
            if source.error is not None:
                raise source.error from None
            if isinstance(exc, RegistryError) or not isinstance(exc, OSError):
                raise
            raise translate_transport_error(exc, request.url) from exc
        if source.error is not None:  # a transport that swallowed the body's failure
            raise source.error
        return adopt_response(raw, request)

    def _body_chunks(self, body: BlobBody, source: SourceError) -> Iterator[Any]:
        """The bytes of ``body`` as the transport will send them: checked, reported, cancellable."""
        if body.relay is not None:
            chunks: Iterator[Any] = verified_chunks(iter_body(body.relay), body.digest, body.size)
        else:
            chunks = iter(body)  # checked against the digest by BlobBody itself
        progress = self.progress
        if body.key:
            progress.start(body.key, body.size, body.offset)
        try:
            for chunk in chunks:
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
            closer = getattr(chunks, "close", None)
            if closer is not None:
                closer()
            if body.key:
                progress.finish(body.key)

    def _send_file(self, body: BlobBody, region: FileRegion, source: SourceError,
                   sendfile: Callable[[BinaryIO, int, int], int]) -> None:
        """``body`` sent by the transport's ``sendfile`` from its file: what
        :meth:`_body_chunks` checks, reports and cancels, and the same verdicts."""
        ours: list[BaseException] = []  # what the transport's sendfile raised: its own to report

        def send(file: BinaryIO, offset: int, count: int) -> None:
            try:
                sent = sendfile(file, offset, count)
            except BaseException as exc:
                ours.append(exc)
                raise
            if sent != count:  # the file ended early
                raise region.shrank()

        progress, key = self.progress, body.key
        if key:
            progress.start(key, body.size, body.offset)
        try:
            with contextlib.closing(region_sends(body, region, self.scope, progress)) as steps:
                for step in steps:
                    if callable(step):
                        step()
                    else:
                        send(*step)
        except BaseException as exc:
            failure = sendfile_failure(exc, ours, source)
            if failure is exc:
                raise
            raise failure from None
        finally:
            if key:
                progress.finish(key)

    # --- streaming into a sink ------------------------------------------------------------

    def _stream_into(self, effect: StreamBody) -> int:
        """Write the body into the sink and feed the verifier; the flow judges the result.

        Reading, hashing and writing overlap (see :class:`_Pipeline`): each stage
        releases the GIL on large buffers, so a verified download costs about what
        its slowest stage costs, not the sum of the three.
        """
        verifier, progress, key = effect.verifier, self.progress, effect.key
        start = verifier.bytes_seen
        if key:
            progress.start(key, effect.total, start)
        pipeline = _Pipeline(effect.sink, verifier)
        stream = effect.response.stream
        url = effect.response.request.url
        try:
            self.scope.check()  # the response is held: cancel here, not before, so it is closed
            with _STREAMS.streaming():
                while True:
                    buffer = pipeline.free_buffer()
                    n, failure = _fill(stream, buffer, url)
                    if n:
                        pipeline.submit(buffer, n)
                        if key:
                            progress.advance(key, n)
                    if failure is not None:
                        # Everything read before the cut is hashed and written, so the
                        # flow can resume from ``verifier.bytes_seen``.
                        pipeline.finish()
                        raise failure
                    if n == 0:
                        break
                    self.scope.check()
                pipeline.finish()
            with transport_errors(url):
                stream.close()
        except BaseException:
            pipeline.stop()
            # The failure that got here is the one to report, not a failed close.
            with contextlib.suppress(RegistryError), transport_errors(url):
                stream.close()
            raise
        finally:
            if key:
                progress.finish(key)
        return verifier.bytes_seen - start

    # --- concurrency ------------------------------------------------------------------------

    def _parallel(self, effect: Parallel) -> tuple[Any, ...]:
        flows = effect.flows
        jobs = min(effect.jobs or self.jobs, self.jobs, len(flows))
        if jobs <= 1:
            return tuple(self.run(flow) for flow in flows)
        scope = CancelScope(self.scope)
        child = self._child(scope)
        results: list[Any] = [None] * len(flows)
        failures: list[tuple[int, BaseException]] = []

        def work(i: int) -> None:
            if scope.cancelled:
                flows[i].close()
                return
            try:
                results[i] = child.run(flows[i])
            except BaseException as exc:
                failures.append((i, exc))
                scope.cancel()

        from concurrent.futures import ThreadPoolExecutor  # not for a one-request command

        with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="ocireg") as pool:
            for future in [pool.submit(work, i) for i in range(len(flows))]:
                future.result()
        if failures:
            # The first failure is the cause; the others were cancelled because of it.
            first = next((exc for _, exc in failures if not isinstance(exc, Cancelled)), failures[0][1])
            raise first
        return tuple(results)


CAN_SEND_FILES = hasattr(os, "sendfile") and hasattr(os, "preadv")
"""Whether blob bodies read from files offer ``send_file`` here: the kernel's sendfile
for the transport, positioned reads for the digest's thread (not on Windows)."""

SENDFILE_STEP = 8 << 20
"""Bytes per ``sendfile`` call of a body sent from its file: progress is reported and
cancellation checked between two."""

HELD_BACK = 64 << 10
"""The last bytes of a whole blob sent from its file wait until its digest is checked,
so that a corrupt file never reaches the registry whole (as with chunks, whose check
comes before the last one is handed over)."""


class _FileBody:
    """A :class:`BlobBody` whose bytes are a file region, as the transport gets it.

    Iterated, it is the checked chunks any body is.  A transport that owns a plain
    socket may call :meth:`send_file` instead (the optional extension described in
    :mod:`ocireg._transport`): the kernel then moves the bytes from the page cache to
    the socket, and the digest of a whole blob is computed beside it, by a thread
    reading the same region, so each byte is still read and hashed once.
    """

    def __init__(self, runner: Runner, body: BlobBody, region: FileRegion, source: SourceError) -> None:
        self._runner = runner
        self._body = body
        self._region = region
        self._source = source
        self._taken = False

    def __iter__(self) -> Iterator[Any]:
        self._take()
        return self._runner._body_chunks(self._body, self._source)

    def send_file(self, sendfile: Callable[[BinaryIO, int, int], int], /) -> None:
        """Send the body by calls of ``sendfile(file, offset, count)``, which sends
        ``count`` bytes of ``file`` from ``offset`` and returns how many it sent."""
        self._take()
        self._runner._send_file(self._body, self._region, self._source, sendfile)

    def _take(self) -> None:
        if self._taken:
            raise RuntimeError("a request body is sent once")
        self._taken = True


def region_sends(body: BlobBody, region: FileRegion, scope: CancelScope,
                 progress: Progress) -> Generator[tuple[BinaryIO, int, int] | Callable[[], None], None, None]:
    """What sending ``region`` from its file takes, one step at a time, for either driver.

    Yields ``(file, offset, count)`` for each ``sendfile`` call, in steps of
    ``SENDFILE_STEP`` (cancellation is checked and progress reported between two), and,
    for a whole blob, the call that waits for the digest computed beside the send and
    raises its verdict: before the last ``HELD_BACK`` bytes go, so a corrupt file never
    reaches the registry whole.  The blocking driver makes that call in place, the
    asyncio driver off the loop.
    """
    file, length, whole_file = region.open()
    with file:
        hasher = _RegionHasher(file.fileno(), region, length, body) if body.whole else None

        def steps(position: int, stop: int) -> Iterator[tuple[BinaryIO, int, int]]:
            while position < stop:
                scope.check()
                n = min(SENDFILE_STEP, stop - position)
                yield file, position, n
                if body.key:
                    progress.advance(body.key, n)
                position += n

        try:
            end = region.offset + length
            held_from = end - (min(HELD_BACK, length) if hasher is not None else 0)
            yield from steps(region.offset, held_from)
            if hasher is not None:
                yield functools.partial(hasher.verdict, whole_file)
            yield from steps(held_from, end)
        finally:
            if hasher is not None:
                hasher.stop()


def sendfile_failure(exc: BaseException, transport_raised: list[BaseException], source: SourceError) -> BaseException:
    """What a send from a file that raised ``exc`` reports: the transport's own failure
    as it is, anything else (the file shrank, its digest is wrong) as the source's verdict."""
    if transport_raised and exc is transport_raised[0]:
        return exc
    return source.blame(exc)


class _RegionHasher:
    """Hashes a file region in a thread of its own while the kernel sends it (the reads
    come from the page cache, into one reused buffer)."""

    def __init__(self, fd: int, region: FileRegion, length: int, body: BlobBody) -> None:
        self._fd = fd
        self._region = region
        self._length = length
        self._digest = body.digest
        self.verifier = DigestVerifier(body.digest, body.size)
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._short = False
        self._thread = threading.Thread(target=self._run, daemon=True, name="ocireg-hash")
        self._thread.start()

    def _run(self) -> None:
        buffer = aligned_buffer(min(READ_SIZE, max(self._length, 1)))
        position, end = self._region.offset, self._region.offset + self._length
        try:
            while position < end and not self._stop.is_set():
                n = os.preadv(self._fd, [buffer[:min(len(buffer), end - position)]], position)
                if n == 0:
                    self._short = True
                    return
                self.verifier.update(buffer[:n])
                position += n
        except BaseException as exc:  # raised by verdict(), in the sending thread
            self._error = exc

    def verdict(self, whole_file: bool) -> None:
        """Wait for the hash; raise the source's verdict (or DigestMismatch) if wrong."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        if self._short:
            raise self._region.shrank()
        if self.verifier.actual() != self._digest:
            mismatch = self._region.mismatch(self._digest, whole_file)
            if mismatch is not None:
                raise mismatch
        self.verifier.finish()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def aligned_buffer(size: int) -> memoryview:
    """A writable buffer of ``size`` bytes that starts on a page boundary.

    The kernel copies into it (a read, a recv_into) up to three times faster than into
    a bytearray of the same size, whose bytes start 16 bytes into the block malloc
    mapped for them: 0.2 s of system time per GiB against 0.6-0.7 s on this machine.
    """
    return memoryview(mmap.mmap(-1, size))


def local_error(exc: OSError) -> LocalFileError:
    """A local file failure (disk full, permissions) as this package's error."""
    return LocalFileError(exc.errno, f"{exc.strerror or exc}", exc.filename)


def _local(op: Callable[..., Any], *args: Any) -> Any:
    try:
        return op(*args)
    except RegistryError:
        raise
    except OSError as exc:
        raise local_error(exc) from exc


def _gate_lock(gate: Any) -> Any:
    with _GATE_LOCK:
        if not isinstance(gate.handle, dict):
            gate.handle = {}
        return gate.handle.setdefault("thread", threading.Lock())


def _cancellable_wait(scope: CancelScope, seconds: float) -> bool:
    """Sleep ``seconds`` unless the scope is cancelled first; True if it was."""
    deadline = time.monotonic() + max(0.0, seconds)
    while (left := deadline - time.monotonic()) > 0:
        if scope.cancelled:
            return True
        time.sleep(min(left, 0.05))
    return scope.cancelled


def run_flow(flow: Flow[T], transport: Transport, *, jobs: int = DEFAULT_JOBS) -> T:
    """Run ``flow`` to completion over ``transport`` and return its result.

    A failure while performing an effect (a transport error, or a digest mismatch
    raised by a request body being streamed) is thrown into the flow at the point
    that yielded it, so the flow can clean up (cancel an upload) or translate it.
    """
    return Runner(transport, jobs=jobs).run(flow)
