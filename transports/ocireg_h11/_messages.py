"""What both h11 transports share, free of I/O: request heads, answer headers, TLS
settings, the translation of failures, the rules of keep-alive and of a safe retry,
and the pool of idle connections."""

from __future__ import annotations

import builtins
import ssl
import threading
import urllib.parse
from collections.abc import Callable
from typing import Any, Generic, TypeVar, cast

import h11

from ocireg import Origin, ProtocolError, Request, TransportError, TransportTimeout, header_value

__all__ = [
    "BYTES_LIKE",
    "DRAIN_LIMIT",
    "HEAD_RECV_SIZE",
    "NETWORK_ERRORS",
    "RECV_SIZE",
    "CycleState",
    "IdlePool",
    "SendFailed",
    "StaleConnection",
    "as_bytes",
    "cause",
    "content_length",
    "file_sender",
    "network_error",
    "replayable",
    "request_head",
    "response_headers",
    "tls_context",
]

RECV_SIZE = 1 << 20
"""One large read per wait: the driver reads 1 MiB at a time, so should we."""

HEAD_RECV_SIZE = 64 * 1024
"""The reads that look for a response head: what they take past the head goes through
h11's buffer (copied), so they stay small; the rest of a ``Content-Length`` body is then
read straight into the caller's buffer."""

DRAIN_LIMIT = 64 * 1024
"""Unread bytes worth draining to keep a connection; past this, dropping it is cheaper."""

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
"""Methods whose empty body is announced with ``Content-Length: 0``, as http.client does."""

BYTES_LIKE = (bytes, bytearray, memoryview)
"""A body sent as one piece (iterating a bytearray would give ints, not chunks)."""


class CycleState:
    """The h11 client state of one connection, whatever carries its bytes.

    h11 parses every response head and every body framed otherwise than by
    ``Content-Length`` alone.  A ``Content-Length`` body is h11's only until its buffer
    runs dry: the stream hands out what h11 had buffered past the head, then reads the
    rest *past* h11, straight into the caller's buffer (no copy in user space), and
    counts it.  h11 never sees those bytes, so it still waits for them; once they are
    all read (:meth:`read_body_past_h11` reached zero), :meth:`next_cycle` starts the
    next exchange with a fresh h11 state machine -- if h11 had agreed to keep the
    connection (both sides on HTTP/1.1, no ``Connection: close``).
    """

    def __init__(self, origin: Origin) -> None:
        self.origin = origin
        self.h11 = h11.Connection(h11.CLIENT)
        self.reused = False  # it served a full exchange before this one
        self.answered = False  # a byte of the current answer arrived: never retry after it
        self.body_length: int | None = None  # the answer's Content-Length (no Transfer-Encoding)
        self.body_seen = 0  # bytes of the answer's body handed out by h11
        self.body_left: int | None = None  # bytes still to read past h11, once it ran dry
        self._request_length: int | None = None  # the request body's Content-Length

    def note_request(self, head: h11.Request) -> None:
        """Note how the body of the request whose head is ``head`` is framed."""
        length = None
        for name, value in head.headers:  # h11's normalised headers: lower-case names
            if name == b"transfer-encoding":
                length = None
                break
            if name == b"content-length":
                length = int(value)
        self._request_length = length

    def start_body(self, method: str, head: h11.Response) -> None:
        """Note how the body of the answer whose head is ``head`` is framed."""
        self.body_length = content_length(method, head)
        self.body_seen = 0
        self.body_left = None

    def sends_with_length(self) -> bool:
        """Whether the request body being sent is framed by ``Content-Length``."""
        return self.h11.our_state is h11.SEND_BODY and self._request_length is not None

    def count_sent_elsewhere(self, count: int) -> None:
        """``count`` bytes of a ``Content-Length`` request body went out past h11 (by
        sendfile): h11 counts them, and refuses more than announced before they go."""
        self.h11.send_with_data_passthrough(h11.Data(data=cast(bytes, _Sized(count))))

    def body_event(self) -> h11.Event | type[h11.NEED_DATA] | None:
        """What h11 has next for the body, without I/O: an event, ``NEED_DATA`` (receive,
        then ask again), or None when the rest of the body is to be read past h11."""
        event = self.h11.next_event()
        if event is h11.NEED_DATA:
            return None if self.bypass_h11() else h11.NEED_DATA
        if event is h11.PAUSED:  # only after a full cycle: a bug in the caller
            raise ProtocolError("h11 connection paused mid-response")
        assert isinstance(event, h11.Event)
        if isinstance(event, h11.Data):
            self.body_seen += len(event.data)
        return event

    def bypass_h11(self) -> bool:
        """When h11 asked for more bytes of the body: whether the rest may be read past it
        (a ``Content-Length`` body); if so ``body_left`` is how much of it is still to come."""
        if self.body_length is None or self.h11.their_state is not h11.SEND_BODY:
            return False
        left = self.body_length - self.body_seen
        if left <= 0:  # cannot be: h11 would have ended the body itself
            return False
        self.body_left = left
        return True

    def read_body_past_h11(self, n: int) -> None:
        """``n`` more bytes of the body were read past h11."""
        assert self.body_left is not None and 0 < n <= self.body_left
        self.body_left -= n

    def unread_body(self) -> int:
        """How many bytes of a ``Content-Length`` body have not reached h11's events or the
        caller yet (0 when the length is unknown: draining finds out)."""
        if self.body_left is not None:
            return self.body_left
        return 0 if self.body_length is None else self.body_length - self.body_seen

    def next_cycle(self) -> bool:
        """Ready the connection for another request; False if it cannot be kept
        (the exchange did not finish cleanly on both sides, or keep-alive is off)."""
        # h11 turns our DONE into MUST_CLOSE when either side disabled keep-alive.
        if self.h11.our_state is not h11.DONE:
            return False
        if self.body_left is not None:
            # The body was read past h11: it is over when every byte of it arrived and
            # h11 still waits for the rest (it saw nothing past its buffer).
            if self.body_left != 0 or self.h11.their_state is not h11.SEND_BODY:
                return False
            self.h11 = h11.Connection(h11.CLIENT)
        elif self.h11.their_state is not h11.DONE:
            return False
        else:
            self.h11.start_next_cycle()
        self.body_length, self.body_seen, self.body_left = None, 0, None
        self.reused = True
        self.answered = False
        return True


class _Sized:
    """Stands for ``n`` body bytes sent past h11: h11 only measures a Data event's bytes
    (``len``) and, with ``send_with_data_passthrough``, hands them back unread."""

    __slots__ = ("n",)

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n


def content_length(method: str, head: h11.Response) -> int | None:
    """The length of the body of the answer ``head`` to ``method`` when it is framed by
    ``Content-Length`` alone (or has none at all), else None; h11's rules (RFC 9112 6.3).

    h11 has validated the header (digits; repeated values equal); a ``Transfer-Encoding``
    wins over it, and a body without either is read until the connection closes."""
    method = method.upper()
    if head.status_code in (204, 304) or method == "HEAD" or (method == "CONNECT" and head.status_code < 300):
        return 0
    length = None
    for name, value in head.headers:  # h11's normalised headers: lower-case names
        if name == b"transfer-encoding":
            return None
        if name == b"content-length":
            length = int(value)
    return length


C = TypeVar("C")


class IdlePool(Generic[C]):
    """Idle connections per origin, at most ``size`` each; thread-safe.

    It only keeps them: checking that one still lives, opening and closing them is
    the transport's.
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._idle: dict[Origin, list[C]] = {}
        self._lock = threading.Lock()

    def take(self, origin: Origin) -> C | None:
        with self._lock:
            idle = self._idle.get(origin)
            return idle.pop() if idle else None

    def put(self, origin: Origin, conn: C) -> bool:
        """Keep ``conn``; False when the origin has ``size`` already (close it then)."""
        with self._lock:
            idle = self._idle.setdefault(origin, [])
            if len(idle) >= self._size:
                return False
            idle.append(conn)
            return True

    def clear(self) -> list[C]:
        """Forget every idle connection; the caller closes them."""
        with self._lock:
            conns = [conn for idle in self._idle.values() for conn in idle]
            self._idle.clear()
        return conns


def as_bytes(buffer: bytearray | memoryview) -> memoryview:
    """The caller's buffer as a writable view of bytes (its length in bytes)."""
    view = memoryview(buffer)
    return view if view.format == "B" else view.cast("B")


def file_sender(body: object) -> Callable[..., Any] | None:
    """The body's ``send_file``, when it offers that optional extension (a body read from
    a file: see ``ocireg._transport``); None for bytes, None and plain iterables."""
    if body is None or isinstance(body, BYTES_LIKE):
        return None
    send_file = getattr(body, "send_file", None)
    return send_file if callable(send_file) else None


def replayable(request: Request) -> bool:
    """Whether the body can be sent again (an iterator is already partly consumed)."""
    return request.body is None or isinstance(request.body, BYTES_LIKE)


def tls_context(ca_file: str | None, insecure: bool) -> ssl.SSLContext:
    """The client TLS settings; built once per transport, as loading the CA store is
    the expensive part."""
    context = ssl.create_default_context(cafile=ca_file)
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["http/1.1"])
    return context


# What a socket, ssl or h11 may raise once connected; everything else is the caller's.
NETWORK_ERRORS = (OSError, ValueError, h11.ProtocolError)


class StaleConnection(Exception):
    """A reused connection died before any byte of the answer: the server had closed it."""


class SendFailed(Exception):
    """Sending a request body failed; the network's error is the ``__cause__``."""


def network_error(exc: BaseException | None, where: str) -> TransportError:
    """The ocireg error for a failure on an established connection."""
    if isinstance(exc, TransportError):
        return exc
    if isinstance(exc, builtins.TimeoutError):  # socket.timeout
        return TransportTimeout(f"{where}: read timed out")
    if isinstance(exc, h11.LocalProtocolError | ValueError):
        # Our side refused to encode the request; the text may quote a header value
        # (a credential), so it is not repeated, and callers chain with ``cause``.
        return ProtocolError(f"{where}: the request cannot be encoded (invalid header?)")
    return ProtocolError(f"{where}: {type(exc).__name__}: {exc}")


def cause(exc: BaseException | None) -> BaseException | None:
    """What to chain a translated error to: nothing that may quote a header value."""
    return None if isinstance(exc, h11.LocalProtocolError | ValueError) else exc


def request_head(request: Request) -> h11.Request:
    """The h11 request head: the caller's headers, plus Host and framing if missing."""
    parts = urllib.parse.urlsplit(request.url)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    headers = list(request.headers)
    if header_value(headers, "host") is None:
        host = parts.hostname or ""
        host = f"[{host}]" if ":" in host else host
        default = 443 if parts.scheme.lower() == "https" else 80
        port = parts.port or default
        headers.insert(0, ("Host", host if port == default else f"{host}:{port}"))
    framed = header_value(headers, "content-length") or header_value(headers, "transfer-encoding")
    if framed is None:
        if isinstance(request.body, BYTES_LIKE):
            headers.append(("Content-Length", str(memoryview(request.body).nbytes)))
        elif request.body is not None:
            headers.append(("Transfer-Encoding", "chunked"))
        elif request.method.upper() in BODY_METHODS:
            headers.append(("Content-Length", "0"))
    return h11.Request(
        method=request.method.encode("ascii"),
        target=target.encode("ascii"),
        headers=[(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers],
    )


def response_headers(head: h11.Response) -> tuple[tuple[str, str], ...]:
    """The answer's header lines as received: names in their case, repeats kept."""
    return tuple(
        (name.decode("latin-1"), value.decode("latin-1")) for name, value in head.headers.raw_items()
    )
