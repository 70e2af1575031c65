"""A blob body sent from its file (``send_file``), against the same body sent in chunks.

The driver hands a transport a body read from a file region (a layout's blob, a file
given to ``push_blob``): iterated, it is the checked chunks every transport sends; a
transport that owns a plain socket may call its ``send_file`` instead and move the
bytes with ``socket.sendfile``.  Either way the same bytes go out, progress is
reported, the upload can be cancelled, and a faulty source gets the same typed
verdict: a corrupt layout blob is an ``InvalidLayout`` naming the file, found before
its last bytes are sent.  Here a fake transport plays both kinds, and a recording
``sendfile`` stands for the socket, under the blocking driver and the asyncio one;
``test_transports.py`` checks the transports' side, ``test_push_copy.py`` the whole
push against a real registry.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path
from typing import Any, BinaryIO

import pytest

import ocireg
from ocireg import Digest
from ocireg._async import AsyncRunner
from ocireg._driver import HELD_BACK, CancelScope, Runner
from ocireg._flow import BlobBody, Flow
from ocireg._http import Request, Response
from ocireg._layout import OCILayout
from ocireg._manifest import Descriptor
from ocireg._sources import LayoutSource, file_source

SIZE = 2_500_000
"""Several chunks (1 MiB reads) and send steps (made 64 KiB here), and more than what is
held back."""


@pytest.fixture(autouse=True)
def _small_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("ocireg._driver.SENDFILE_STEP", 64 << 10)


class _Empty:
    def readinto(self, buffer: Any) -> int:
        return 0

    def close(self) -> None:
        pass


class _AsyncEmpty:
    async def readinto(self, buffer: Any) -> int:
        return 0

    async def close(self) -> None:
        pass


class FakeTransport:
    """Sends a body from its file when it can (``sendfile`` True), else iterates it;
    records the bytes and each sendfile call.  ``fail`` is raised by the socket's side
    after that many bytes; ``short_by`` makes the last call send fewer bytes."""

    def __init__(self, *, sendfile: bool, fail: BaseException | None = None, fail_after: int = 0,
                 on_call: Any = None, on_chunk: Any = None) -> None:
        self.sendfile = sendfile
        self.on_chunk = on_chunk
        self.fail = fail
        self.fail_after = fail_after
        self.on_call = on_call
        self.received = bytearray()
        self.calls: list[tuple[int, int]] = []
        self.used_sendfile = False

    def send(self, request: Request) -> Response:
        body = request.body
        send_file = getattr(body, "send_file", None)
        if self.sendfile and send_file is not None:
            self.used_sendfile = True
            send_file(self._sendfile)
        else:
            assert body is not None and not isinstance(body, bytes)
            for chunk in body:
                self.received += chunk
                if self.on_chunk is not None:
                    self.on_chunk()
        return Response(201, (), request, _Empty())

    def _sendfile(self, file: BinaryIO, offset: int, count: int) -> int:
        self.calls.append((offset, count))
        if self.on_call is not None:
            self.on_call(len(self.calls))
        if self.fail is not None and len(self.received) + count > self.fail_after:
            raise self.fail
        data = os.pread(file.fileno(), count, offset)
        self.received += data
        return len(data)

    def close(self) -> None:
        pass


class AsyncFake:
    """``transport`` as an asyncio transport: the same choices and records, awaited."""

    def __init__(self, transport: FakeTransport) -> None:
        self.transport = transport

    async def send(self, request: Request) -> Response:
        fake, body = self.transport, request.body
        send_file = getattr(body, "send_file", None)
        if fake.sendfile and send_file is not None:
            fake.used_sendfile = True

            async def sendfile(file: BinaryIO, offset: int, count: int) -> int:
                return fake._sendfile(file, offset, count)

            await send_file(sendfile)
        else:
            async for chunk in body:  # type: ignore[union-attr]
                fake.received += chunk
                if fake.on_chunk is not None:
                    fake.on_chunk()
        return Response(201, (), request, _AsyncEmpty())

    async def close(self) -> None:
        pass


@pytest.fixture(params=["blocking", "asyncio"])
def run(request: pytest.FixtureRequest) -> Any:
    """Runs a flow over a fake transport with the driver of the parameter."""

    def running(transport: FakeTransport, flow: Flow[Any], **options: Any) -> Any:
        if request.param == "blocking":
            return Runner(transport, **options).run(flow)
        return asyncio.run(AsyncRunner(AsyncFake(transport), **options).run(flow))  # type: ignore[arg-type]

    return running


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, int | None]] = []

    def start(self, key: str, total: int | None, done: int) -> None:
        self.events.append(("start", key, total))

    def advance(self, key: str, n: int) -> None:
        self.events.append(("advance", key, n))

    def finish(self, key: str) -> None:
        self.events.append(("finish", key, None))

    def advanced(self) -> int:
        return sum(n or 0 for kind, _, n in self.events if kind == "advance")


def put(body: BlobBody, length: int) -> Flow[Response]:
    response: Response = yield Request("PUT", "http://registry.test/upload",
                                       headers=(("Content-Length", str(length)),), body=body)
    return response


@pytest.fixture
def layout(tmp_path: Path) -> tuple[OCILayout, Digest, bytes]:
    data = hashlib.sha256(b"seed").digest() * (SIZE // 32) + b"tail"
    digest = Digest.of(data)
    made = OCILayout.create(tmp_path / "layout")
    made.write_blob(digest, [data], len(data))
    return made, digest, data


def whole(layout: OCILayout, digest: Digest, size: int, key: str = "layer") -> BlobBody:
    source = LayoutSource(layout).ranges(Descriptor("application/octet-stream", digest, size))
    return BlobBody(digest, size, chunks=source(0, size), key=key)


def blob_file(layout: OCILayout, digest: Digest) -> Path:
    return layout.blob_path(digest)


MODES = pytest.mark.parametrize("sendfile", [True, False], ids=["sendfile", "chunks"])


@MODES
def test_a_whole_blob_goes_out_whole_with_its_progress(run: Any, layout: Any, sendfile: bool) -> None:
    made, digest, data = layout
    transport = FakeTransport(sendfile=sendfile)
    progress = Recorder()
    run(transport, put(whole(made, digest, len(data)), len(data)), progress=progress)
    assert bytes(transport.received) == data
    assert transport.used_sendfile is sendfile
    assert progress.events[0] == ("start", "layer", len(data))
    assert progress.events[-1] == ("finish", "layer", None)
    assert progress.advanced() == len(data)
    if sendfile:  # in steps, the last HELD_BACK bytes after the digest was checked
        assert transport.calls[-1] == (len(data) - HELD_BACK, HELD_BACK)
        assert sum(count for _, count in transport.calls) == len(data)


@MODES
def test_a_range_goes_out_unhashed_from_its_offset(run: Any, layout: Any, sendfile: bool,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    made, digest, data = layout
    monkeypatch.setattr("ocireg._driver._RegionHasher", None)  # a range is never hashed here
    source = LayoutSource(made).ranges(Descriptor("application/octet-stream", digest, len(data)))
    body = BlobBody(digest, len(data), 100_000, 300_001, chunks=source(100_000, 300_001))
    transport = FakeTransport(sendfile=sendfile)
    run(transport, put(body, 300_001))
    assert bytes(transport.received) == data[100_000:400_001]


@MODES
def test_a_corrupt_layout_blob_is_invalid_layout_before_its_last_bytes(run: Any, layout: Any, sendfile: bool) -> None:
    made, digest, data = layout
    path = blob_file(made, digest)
    damaged = bytearray(data)
    damaged[SIZE // 2] ^= 1
    path.write_bytes(damaged)
    transport = FakeTransport(sendfile=sendfile)
    with pytest.raises(ocireg.InvalidLayout, match="content does not match its digest") as caught:
        run(transport, put(whole(made, digest, len(data)), len(data)))
    assert str(path) in str(caught.value)
    assert len(transport.received) < len(data)  # the registry never got it whole


@MODES
def test_a_short_layout_blob_is_refused_before_its_first_byte(run: Any, layout: Any, sendfile: bool) -> None:
    made, digest, data = layout
    blob_file(made, digest).write_bytes(data[:1000])
    transport = FakeTransport(sendfile=sendfile)
    with pytest.raises(ocireg.InvalidLayout, match="shorter than its descriptor says"):
        run(transport, put(whole(made, digest, len(data)), len(data)))
    assert transport.received == b""


def test_a_file_that_ends_while_it_is_sent_is_the_sources_fault(run: Any, layout: Any) -> None:
    made, digest, data = layout
    path = blob_file(made, digest)

    def truncate(call: int) -> None:
        if call == 2:
            os.truncate(path, 100_000)

    transport = FakeTransport(sendfile=True, on_call=truncate)
    with pytest.raises(ocireg.InvalidLayout, match="shrank"):
        run(transport, put(whole(made, digest, len(data)), len(data)))


@MODES
def test_a_cancelled_upload_stops_between_two_steps(run: Any, layout: Any, sendfile: bool) -> None:
    made, digest, data = layout
    scope = CancelScope()

    transport = FakeTransport(sendfile=sendfile, on_call=lambda call: scope.cancel(), on_chunk=scope.cancel)
    with pytest.raises(ocireg.Cancelled):
        run(transport, put(whole(made, digest, len(data)), len(data)), scope=scope)
    assert 0 < len(transport.received) < len(data)


def test_the_transports_own_failure_passes_through_as_a_transport_error(run: Any, layout: Any) -> None:
    made, digest, data = layout
    transport = FakeTransport(sendfile=True, fail=ConnectionResetError("reset by peer"), fail_after=200_000)
    with pytest.raises(ocireg.TransportError) as caught:
        run(transport, put(whole(made, digest, len(data)), len(data)))
    assert not isinstance(caught.value, ocireg.UsageError)  # not a verdict on the source
    assert "reset by peer" in str(caught.value)


@MODES
def test_a_file_pushed_by_path_with_the_wrong_digest_is_a_digest_mismatch(run: Any,
    tmp_path: Path, sendfile: bool
) -> None:
    data = os.urandom(300_000)
    path = tmp_path / "blob"
    path.write_bytes(data)
    wrong = Digest.of(b"other")
    body = BlobBody(wrong, len(data), chunks=file_source(path)(0, len(data)))
    transport = FakeTransport(sendfile=sendfile)
    with pytest.raises(ocireg.DigestMismatch):
        run(transport, put(body, len(data)))
    if sendfile:  # held back; chunks from a path are checked after the last one
        assert len(transport.received) < len(data)


@MODES
def test_a_missing_file_is_a_local_file_error(run: Any, tmp_path: Path, sendfile: bool) -> None:
    body = BlobBody(Digest.of(b"x"), 1, chunks=file_source(tmp_path / "gone")(0, 1))
    with pytest.raises(ocireg.LocalFileError):
        run(FakeTransport(sendfile=sendfile), put(body, 1))


def test_a_body_is_sent_once(layout: Any) -> None:
    made, digest, data = layout
    bodies: list[Any] = []

    class Keeping(FakeTransport):
        def send(self, request: Request) -> Response:
            bodies.append(request.body)
            return super().send(request)

    Runner(Keeping(sendfile=True)).run(put(whole(made, digest, len(data)), len(data)))
    with pytest.raises(RuntimeError):
        iter(bodies[0])
