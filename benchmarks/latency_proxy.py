"""A loopback TCP proxy that delays each direction by a fixed time: a far registry, nearby.

Every chunk read from one side is written to the other side ``delay`` seconds after it
arrived, in order, so a request/response exchange costs two delays (one round trip)
while bandwidth stays that of loopback: latency alone, not a slow link.  Opening a
connection costs its round trip too, as TCP's handshake does across a network: the
kernel accepts the client's connection at once, so the proxy holds what the client
sends first until a round trip after the accept has passed (the moment a far client
could have sent it) plus the one-way delay.  A client that opens a connection per
request pays for it, one that reuses its connections does not.

As a module (the benchmarks)::

    with LatencyProxy(("127.0.0.1", registry_port), delay=0.025) as proxy:
        ...  # talk to http://127.0.0.1:{proxy.port}

As a script (by hand)::

    python benchmarks/latency_proxy.py --upstream 127.0.0.1:5000 --delay-ms 25 --port 5025
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import threading
from types import TracebackType

READ_SIZE = 256 * 1024
# Chunks in flight per direction.  Bounds memory (a few MiB per connection) while a fast
# side waits for the delay to pass; a full queue stops reading, as a full TCP window would.
QUEUE_CHUNKS = 64


async def _pump(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float, not_before: float = 0.0
) -> None:
    """Copy reader to writer, each chunk ``delay`` after it was read and never before the
    loop time ``not_before``; EOF travels delayed too."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue(QUEUE_CHUNKS)

    async def deliver() -> None:
        while True:
            due, data = await queue.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                if writer.can_write_eof():
                    writer.write_eof()
                return
            writer.write(data)
            await writer.drain()

    delivering = asyncio.create_task(deliver())
    try:
        while True:
            data = await reader.read(READ_SIZE)
            # Deadlines only grow (max of two growing values): the order of chunks holds.
            await queue.put((max(loop.time() + delay, not_before), data))
            if not data:
                break
        await delivering
    finally:
        delivering.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await delivering


async def _serve_connection(
    client_reader: asyncio.StreamReader,
    client_writer: asyncio.StreamWriter,
    upstream: tuple[str, int],
    delay: float,
) -> None:
    # The handshake's round trip, then the first bytes' way there (see the module's doc).
    not_before = asyncio.get_running_loop().time() + 3 * delay
    try:
        up_reader, up_writer = await asyncio.open_connection(*upstream)
    except OSError:
        client_writer.close()
        return
    try:
        # Either direction failing ends the connection (the task group cancels the other):
        # a reset is forwarded as a close.
        async with asyncio.TaskGroup() as group:
            group.create_task(_pump(client_reader, up_writer, delay, not_before))
            group.create_task(_pump(up_reader, client_writer, delay))
    except* (ConnectionError, OSError):
        pass
    finally:
        for writer in (client_writer, up_writer):
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()


class LatencyProxy:
    """The proxy on its own event loop in a daemon thread; ``port`` is where it listens."""

    def __init__(self, upstream: tuple[str, int], delay: float, port: int = 0) -> None:
        if delay < 0:
            raise ValueError("delay must not be negative")
        self.upstream = upstream
        self.delay = delay
        self.port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self.accepted = 0  # connections accepted so far
        self._error: BaseException | None = None

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        connections: set[asyncio.Task[None]] = set()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.accepted += 1
            task = asyncio.current_task()
            assert task is not None
            connections.add(task)
            try:
                await _serve_connection(reader, writer, self.upstream, self.delay)
            except asyncio.CancelledError:
                pass  # shutting down: asyncio's stream callback would report a cancelled task
            finally:
                connections.discard(task)

        server = await asyncio.start_server(handle, "127.0.0.1", self.port)
        self.port = int(server.sockets[0].getsockname()[1])
        self._ready.set()
        async with server:
            await self._stop.wait()
        for task in list(connections):
            task.cancel()
        await asyncio.gather(*connections, return_exceptions=True)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported to start()'s caller
            self._error = exc
            self._ready.set()

    def start(self) -> LatencyProxy:
        self._thread = threading.Thread(target=self._run, name="latency-proxy", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise RuntimeError(f"latency proxy did not start: {self._error!r}")
        if not self._ready.is_set():
            raise RuntimeError("latency proxy did not start within 10 s")
        return self

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        thread.join(10)

    def __enter__(self) -> LatencyProxy:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--upstream", required=True, help="HOST:PORT of the registry")
    parser.add_argument("--delay-ms", type=float, default=25.0, help="delay of each direction (default 25)")
    parser.add_argument("--port", type=int, default=0, help="port to listen on, 127.0.0.1 (default: any)")
    args = parser.parse_args()
    host, _, port = args.upstream.rpartition(":")
    proxy = LatencyProxy((host or "127.0.0.1", int(port)), args.delay_ms / 1000, args.port)
    with proxy:
        print(f"127.0.0.1:{proxy.port} -> {args.upstream}, {args.delay_ms:g} ms each way", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
