"""Local HTTP servers for transport tests, both on 127.0.0.1 port 0, both context managers.

``RouteServer`` is a stdlib ``ThreadingHTTPServer`` speaking keep-alive HTTP/1.1
whose answers are scripted per path::

    with RouteServer() as server:
        server.route("/v2/", status=401, headers=[("WWW-Authenticate", 'Bearer realm="x"')])
        server.route("/blob", chunks=[b"ab", b"cd"], delay=0.1)   # chunked, slow
        server.route("/echo", echo=True)                          # body back
        ... transport.send(Request("GET", server.url + "/v2/")) ...
        server.requests[0].headers, server.connections

``TunnelProxy`` is an HTTP proxy that only tunnels (``CONNECT``), recording each
``CONNECT`` head it was sent, for HTTPS through a proxy.

``ScriptedServer`` is a raw socket server for what a well-behaved server never
does: each accepted connection runs the next script, a sequence of steps
(``READ`` one request, ``Send(bytes)``, ``CLOSE``, ``RESET`` via ``SO_LINGER 0``,
``STALL`` until the server shuts down)::

    with ScriptedServer([READ, Send(response(200, body=b"abc", length=10)), CLOSE]) as s:
        ...  # a truncated body

Leaving the ``with`` block stops every thread and closes every socket, so no
thread outlives the test and no ``ResourceWarning`` fires.
"""

from __future__ import annotations

import contextlib
import datetime
import http.server
import ipaddress
import select
import socket
import ssl
import struct
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = [
    "CLOSE",
    "READ",
    "RESET",
    "STALL",
    "CuttingProxy",
    "Received",
    "Route",
    "RouteServer",
    "ScriptedServer",
    "Send",
    "Step",
    "TunnelProxy",
    "response",
    "self_signed",
    "server_tls",
]

_IO_TIMEOUT = 10.0
"""Server sockets give up after this long, so a broken test cannot hang forever."""


@dataclass(frozen=True)
class Received:
    """One request as the server read it."""

    method: str
    path: str
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


@dataclass(frozen=True)
class Route:
    """A scripted answer.  ``chunks`` sends a chunked body (``body`` is then unused);
    ``delay`` waits before each chunk; ``echo`` answers with the request body."""

    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    chunks: tuple[bytes, ...] | None = None
    delay: float = 0.0
    echo: bool = False


def _read_chunked(rfile: Any) -> bytes:
    body = bytearray()
    while True:
        size = int(rfile.readline().split(b";")[0], 16)
        if size == 0:
            while rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
            return bytes(body)
        body += rfile.read(size)
        rfile.readline()


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so connection reuse can be counted
    timeout = _IO_TIMEOUT
    server: _ThreadingServer

    def setup(self) -> None:
        super().setup()
        self.server.opened(self.connection)

    def finish(self) -> None:
        self.server.closed(self.connection)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass

    def _serve(self) -> None:
        owner = self.server.owner
        owner.begin()
        try:
            self._answer()
        finally:
            owner.end()

    def _answer(self) -> None:
        length = self.headers.get("Content-Length")
        if length is not None:
            body = self.rfile.read(int(length))
        elif "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            body = _read_chunked(self.rfile)
        else:
            body = b""
        path = self.path
        self.server.owner.record(Received(self.command, path, tuple(self.headers.items()), body))
        route = self.server.owner.routes.get(path.split("?")[0], Route(404, body=b"not found"))
        self.send_response(route.status)
        for name, value in route.headers:
            self.send_header(name, value)
        content = body if route.echo else route.body
        if route.chunks is not None:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            if self.command != "HEAD":
                for chunk in route.chunks:
                    if self.server.owner.stopping.wait(route.delay):
                        return
                    self.wfile.write(b"%x\r\n%b\r\n" % (len(chunk), chunk))
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")
            return
        if route.status not in (204, 304):
            self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        if self.command != "HEAD" and route.status not in (204, 304):
            if route.delay and self.server.owner.stopping.wait(route.delay):
                return
            self.wfile.write(content)

    do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _serve


class _ThreadingServer(http.server.ThreadingHTTPServer):
    daemon_threads = False  # so server_close() joins every handler thread
    block_on_close = True

    def __init__(self, owner: RouteServer, host: str) -> None:
        self.owner = owner
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        super().__init__((host, 0), _Handler)

    def opened(self, sock: socket.socket) -> None:
        with self._lock:
            self.owner.connections += 1
            self._open.add(sock)

    def closed(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.discard(sock)

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, OSError):  # the client hung up: a test of dropped connections
            return
        self.owner.errors.append(repr(error))  # a bug in the handler fails the test

    def hang_up(self) -> None:
        """Wake handler threads blocked on idle keep-alive connections."""
        with self._lock:
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


class RouteServer:
    """A keep-alive HTTP/1.1 server with scripted routes (see the module docstring);
    with ``tls`` (a server-side context), it speaks HTTPS; ``host`` is another
    loopback address to listen on (127.0.0.2: "another machine" for trust tests)."""

    def __init__(self, *, tls: ssl.SSLContext | None = None, host: str = "127.0.0.1") -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[Received] = []
        self.connections = 0
        self.in_flight = 0
        self.max_in_flight = 0
        """The most requests being answered at once (concurrent transfers)."""
        self.errors: list[str] = []
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._server = _ThreadingServer(self, host)
        if tls is not None:  # the handshake runs in accept(); failures there are dropped
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        host, port = self._server.server_address[:2]
        self.url = f"{'https' if tls else 'http'}://{host!s}:{port}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,))

    def route(self, path: str, **answer: Any) -> None:
        """Answer requests for ``path`` (any method, query ignored) with ``Route(**answer)``."""
        if "headers" in answer:
            answer["headers"] = tuple(answer["headers"])
        if "chunks" in answer:
            answer["chunks"] = tuple(answer["chunks"])
        self.routes[path] = Route(**answer)

    def record(self, received: Received) -> None:
        with self._lock:
            self.requests.append(received)

    def begin(self) -> None:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def end(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def __enter__(self) -> RouteServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._thread.join()
        self._server.hang_up()
        self._server.server_close()
        if self.errors and exc is None:
            raise AssertionError(f"the test server failed: {self.errors}")


def self_signed(directory: Path, *names: str) -> tuple[str, str]:
    """A self-signed certificate for ``names`` (DNS names or IP addresses) and its key,
    written to ``directory``; returns (certificate file, key file)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    alt: list[x509.GeneralName] = []
    for name in names:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt.append(x509.DNSName(name))
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_file), str(key_file)


def server_tls(cert_file: str, key_file: str) -> ssl.SSLContext:
    """A server-side TLS context for ``RouteServer(tls=...)``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context


# --- the raw scripted server ----------------------------------------------------------


@dataclass(frozen=True)
class Send:
    """Send these bytes."""

    data: bytes


@dataclass(frozen=True)
class _Action:
    name: str


READ = _Action("read")
"""Read one request (head, then a Content-Length body)."""
CLOSE = _Action("close")
"""Close the connection cleanly (FIN)."""
RESET = _Action("reset")
"""Abort the connection (RST, via SO_LINGER 0)."""
STALL = _Action("stall")
"""Send nothing more until the server shuts down."""

Step = Send | _Action


def response(
    status: int = 200,
    *,
    body: bytes = b"",
    headers: Sequence[tuple[str, str]] = (),
    length: int | None = None,
) -> bytes:
    """An HTTP/1.1 response head and body; ``length`` overrides the Content-Length."""
    lines = [f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}"]
    lines += [f"{name}: {value}" for name, value in headers]
    if not any(name.lower() in ("content-length", "transfer-encoding") for name, _ in headers):
        lines.append(f"Content-Length: {len(body) if length is None else length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def _read_request(sock: socket.socket) -> bytes | None:
    """One request, or None if the peer closed first."""
    data = b""
    while b"\r\n\r\n" not in data:
        more = sock.recv(65536)
        if not more:
            return None
        data += more
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        more = sock.recv(65536)
        if not more:
            return None
        body += more
    return head + b"\r\n\r\n" + body


@dataclass
class ScriptedServer:
    """Connection ``i`` runs ``scripts[i]`` (the last script repeats for later ones)."""

    scripts: Sequence[Sequence[Step]]
    connections: int = 0
    requests: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.scripts:
            raise ValueError("at least one script")
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._stop = threading.Event()
        self._finished: list[threading.Event] = []
        self._threads: list[threading.Thread] = []
        self._acceptor = threading.Thread(target=self._accept)

    def finished(self, index: int, timeout: float = 5.0) -> bool:
        """Wait until connection ``index`` has run its script to the end."""
        deadline = time.monotonic() + timeout
        while len(self._finished) <= index:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return self._finished[index].wait(max(0.0, deadline - time.monotonic()))

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            script = self.scripts[min(self.connections, len(self.scripts) - 1)]
            done = threading.Event()
            thread = threading.Thread(target=self._run, args=(sock, script, done))
            self._threads.append(thread)
            self._finished.append(done)
            self.connections += 1
            thread.start()

    def _run(self, sock: socket.socket, script: Sequence[Step], done: threading.Event) -> None:
        sock.settimeout(_IO_TIMEOUT)
        try:
            for step in script:
                if isinstance(step, Send):
                    sock.sendall(step.data)
                elif step is READ:
                    request = _read_request(sock)
                    if request is None:
                        return
                    self.requests.append(request)
                elif step is RESET:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    return
                elif step is STALL:
                    self._stop.wait()
                    return
                else:  # CLOSE
                    return
        except OSError:
            return  # the client went away; nothing to script any more
        finally:
            sock.close()
            done.set()

    def __enter__(self) -> ScriptedServer:
        self._acceptor.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._acceptor.join()
        self._listener.close()
        for thread in self._threads:
            thread.join()


# --- a tunnelling proxy ---------------------------------------------------------------


class TunnelProxy:
    """Answers ``CONNECT host:port`` with 200 and relays bytes both ways; ``heads`` holds
    each ``CONNECT`` head received (request line and header lines)."""

    def __init__(self) -> None:
        self.heads: list[list[str]] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._acceptor = threading.Thread(target=self._accept)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            thread = threading.Thread(target=self._tunnel, args=(client,))
            self._threads.append(thread)
            thread.start()

    def _tunnel(self, client: socket.socket) -> None:
        client.settimeout(_IO_TIMEOUT)
        upstream: socket.socket | None = None
        try:
            head = b""
            while b"\r\n\r\n" not in head:
                more = client.recv(65536)
                if not more:
                    return
                head += more
            lines = head.split(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
            self.heads.append(lines)
            method, target, _ = lines[0].split(" ", 2)
            if method != "CONNECT":
                client.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
                return
            host, _, port = target.rpartition(":")
            upstream = socket.create_connection((host, int(port)), timeout=_IO_TIMEOUT)
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            self._relay(client, upstream)
        except OSError:
            return
        finally:
            client.close()
            if upstream is not None:
                upstream.close()

    def _relay(self, a: socket.socket, b: socket.socket) -> None:
        peers = {a: b, b: a}
        while not self._stop.is_set():
            ready, _, _ = select.select(list(peers), [], [], 0.05)
            for sock in ready:
                data = sock.recv(65536)
                if not data:
                    return
                peers[sock].sendall(data)

    def __enter__(self) -> TunnelProxy:
        self._acceptor.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._acceptor.join()
        self._listener.close()
        for thread in self._threads:
            thread.join()


class CuttingProxy:
    """A TCP proxy on 127.0.0.1 port 0 in front of ``target`` that breaks one connection.

    The first connection on which more than ``cut_after`` bytes have gone in
    ``direction`` (``"down"``: server to client, ``"up"``: client to server) is
    reset on both sides, once: a transfer cut off midway, as when a registry
    restarts or a network path drops.  Everything else is passed through.
    """

    def __init__(self, target: tuple[str, int], cut_after: int, direction: str = "down") -> None:
        self.target = target
        self.cut_after = cut_after
        self.direction = direction
        self.cuts = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            upstream = socket.create_connection(self.target, timeout=_IO_TIMEOUT)
            client.settimeout(_IO_TIMEOUT)
            with self._lock:
                self._sockets += [client, upstream]
            moved = [0]
            for src, dst, way in ((client, upstream, "up"), (upstream, client, "down")):
                thread = threading.Thread(target=self._pump, args=(src, dst, way, moved, client, upstream))
                thread.start()
                self._threads.append(thread)

    def _pump(self, src: socket.socket, dst: socket.socket, way: str, moved: list[int],
              client: socket.socket, upstream: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                if way == self.direction:
                    with self._lock:
                        moved[0] += len(data)
                        cut = self.cuts == 0 and moved[0] > self.cut_after
                        if cut:
                            self.cuts += 1
                    if cut:
                        dst.sendall(data[: len(data) // 2])
                        for sock in (client, upstream):
                            with contextlib.suppress(OSError):
                                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                                sock.shutdown(socket.SHUT_RDWR)
                        return
                dst.sendall(data)
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)
        except OSError:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> CuttingProxy:
        thread = threading.Thread(target=self._accept)
        thread.start()
        self._threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        for thread in self._threads:
            thread.join(timeout=_IO_TIMEOUT)
        for sock in self._sockets:
            sock.close()
        self._listener.close()
