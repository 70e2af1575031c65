"""The blocking driver's streaming into a sink: threads for a lone big body, inline otherwise.

Both shapes must write every byte once, in order, feed the verifier every byte
once, and stop at the first failure of the hash or of the sink.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator

import pytest

from ocireg import (
    Digest,
    DigestMismatch,
    DigestVerifier,
    LocalFileError,
    Request,
    Response,
    StreamBody,
)
from ocireg._driver import _STREAMS, CHUNK_SIZE, Runner
from ocireg._files import MemorySink
from scripted import MemoryStream

BODY = os.urandom(5 * CHUNK_SIZE + 12345)
DIGEST = Digest("sha256", hashlib.sha256(BODY).hexdigest())


class RecordingSink(MemorySink):
    """Remembers which threads wrote; fails with ENOSPC after ``fail_after`` bytes if set."""

    def __init__(self, fail_after: int | None = None) -> None:
        super().__init__(limit=len(BODY) * 2)
        self.writers: set[str] = set()
        self.fail_after = fail_after
        self.written = 0

    def write(self, chunk: bytes | bytearray | memoryview, /) -> None:
        self.writers.add(threading.current_thread().name)
        self.written += len(chunk)
        if self.fail_after is not None and self.written > self.fail_after:
            raise OSError(28, "No space left on device")
        super().write(chunk)


def _stream(sink: RecordingSink, body: bytes = BODY, size: int | None = len(BODY)) -> int:
    response = Response(200, (), Request("GET", "http://r.test/v2/a/blobs/x"), MemoryStream(body))
    sink.open()
    verifier = DigestVerifier(DIGEST, size)
    n = Runner(transport=None).perform(StreamBody(response, sink, verifier), [])  # type: ignore[arg-type]
    verifier.finish()
    return int(n)


@pytest.fixture(params=["alone", "beside another"])
def shape(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "alone":
        yield "ocireg-pipeline"
        return
    with _STREAMS.streaming():  # another transfer streams at the same time
        yield threading.current_thread().name


def test_every_byte_is_written_and_hashed_once_in_either_shape(shape: str) -> None:
    sink = RecordingSink()
    assert _stream(sink) == len(BODY)
    assert sink.commit() == BODY
    assert sink.writers == {shape}  # threads only for a body streamed alone


def test_a_one_buffer_body_starts_no_threads() -> None:
    sink = RecordingSink()
    small = BODY[:1000]
    response = Response(200, (), Request("GET", "http://r.test/x"), MemoryStream(small))
    sink.open()
    verifier = DigestVerifier(Digest("sha256", hashlib.sha256(small).hexdigest()), len(small))
    Runner(transport=None).perform(StreamBody(response, sink, verifier), [])  # type: ignore[arg-type]
    verifier.finish()
    assert sink.writers == {threading.current_thread().name}


def test_too_many_bytes_stop_the_transfer_in_either_shape(shape: str) -> None:
    sink = RecordingSink()
    with pytest.raises(DigestMismatch, match="more than the expected"):
        _stream(sink, size=2 * CHUNK_SIZE)
    assert sink.written <= 2 * CHUNK_SIZE + CHUNK_SIZE * 4  # stopped within the buffers in flight


def test_a_full_disk_is_a_local_error_in_either_shape(shape: str) -> None:
    sink = RecordingSink(fail_after=3 * CHUNK_SIZE)
    with pytest.raises(LocalFileError, match="No space left"):
        _stream(sink)
    assert _STREAMS.active == (0 if shape == "ocireg-pipeline" else 1)  # the count is given back
