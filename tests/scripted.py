"""A scripted transport: run flows against canned answers, without a network.

    transport = ScriptedTransport([ok_json({"tags": ["a"]}), (404, (), b"")])
    result = run(flow, transport)
    assert transport.requests[0].url == "https://registry.example/v2/..."

Each answer is a ``(status, headers, body)`` tuple, a callable taking the
``Request`` and returning such a tuple, or an exception instance to raise from
``send`` (a transport failure).  Answers are used in order; running out is an
``AssertionError``, as is reading a body after it was closed.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ocireg._driver import run_flow
from ocireg._http import Request, Response

__all__ = ["Answer", "MemoryStream", "Reply", "ScriptedTransport", "ok_json", "run"]

Reply = tuple[int, Sequence[tuple[str, str]], bytes]
Answer = Reply | Callable[[Request], Reply] | BaseException

run = run_flow
"""``run(flow, transport)``: the blocking driver, exactly as the library runs flows."""


class MemoryStream:
    """An in-memory ``ResponseStream`` that remembers whether it was closed."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)
        self.size = len(data)
        self.closed = False

    def readinto(self, buffer: bytearray | memoryview, /) -> int:
        if self.closed:
            raise AssertionError("read from a closed response stream")
        return self._data.readinto(buffer)

    @property
    def consumed(self) -> int:
        """How many bytes were read."""
        return self._data.tell()

    def close(self) -> None:
        self.closed = True


def _body_bytes(body: Any) -> bytes | None:
    """A request body as bytes, consuming an iterable the way a transport would."""
    if body is None:
        return None
    if isinstance(body, bytes | bytearray | memoryview):
        return bytes(body)
    return b"".join(bytes(chunk) for chunk in body)


class ScriptedTransport:
    """A ``Transport`` answering from a script; records what was sent."""

    def __init__(self, answers: Iterable[Answer]) -> None:
        self._answers = list(answers)
        self.requests: list[Request] = []
        self.bodies: list[bytes | None] = []
        self.responses: list[Response] = []
        self.closed = False

    def send(self, request: Request, /) -> Response:
        self.requests.append(request)
        self.bodies.append(_body_bytes(request.body))
        if not self._answers:
            raise AssertionError(f"unexpected request {request.method} {request.url}")
        answer = self._answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        status, headers, body = answer(request) if callable(answer) else answer
        response = Response(
            status=status,
            headers=tuple((str(k), str(v)) for k, v in headers),
            request=request,
            stream=MemoryStream(body),
        )
        self.responses.append(response)
        return response

    @property
    def remaining(self) -> int:
        """Answers not used yet."""
        return len(self._answers)

    @property
    def all_closed(self) -> bool:
        """Every response handed out has had its stream closed."""
        return all(r.stream.closed for r in self.responses)

    def close(self) -> None:
        self.closed = True


def ok_json(obj: object, headers: Sequence[tuple[str, str]] = ()) -> Reply:
    """A 200 answer with ``obj`` as a JSON body."""
    return (
        200,
        (*headers, ("Content-Type", "application/json")),
        json.dumps(obj).encode(),
    )
