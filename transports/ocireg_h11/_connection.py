"""One HTTP/1.1 connection: a socket (TLS or not) and the h11 state machine driving it."""

from __future__ import annotations

import builtins
import select
import socket
import ssl
from collections.abc import Callable, Iterable
from typing import BinaryIO, cast

import h11

from ocireg import ConnectError, Origin, TransportTimeout

from ._messages import NETWORK_ERRORS, RECV_SIZE, CycleState, SendFailed

__all__ = ["Connection", "open_connection"]


def open_connection(
    origin: Origin,
    *,
    open_timeout: float,
    read_timeout: float,
    tls: ssl.SSLContext | None,
) -> Connection:
    """Connect (TCP, then TLS with SNI for https) within ``open_timeout``."""
    where = f"{origin.scheme}://{origin.host}:{origin.port}"
    try:
        sock = socket.create_connection((origin.host, origin.port), timeout=open_timeout)
    except builtins.TimeoutError as exc:
        raise TransportTimeout(f"{where}: connect timed out") from exc
    except OSError as exc:  # refused, unreachable, DNS (gaierror)
        raise ConnectError(f"{where}: cannot connect: {exc}") from exc
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls is not None:
            sock = tls.wrap_socket(sock, server_hostname=origin.host)
        sock.settimeout(read_timeout)
    except builtins.TimeoutError as exc:
        sock.close()
        raise TransportTimeout(f"{where}: TLS handshake timed out") from exc
    except (OSError, ValueError) as exc:  # ssl.SSLError and CertificateError are OSError/ValueError
        sock.close()
        raise ConnectError(f"{where}: cannot connect: {exc}") from exc
    return Connection(sock, origin)


class Connection(CycleState):
    """A socket and its h11 client state."""

    def __init__(self, sock: socket.socket, origin: Origin) -> None:
        super().__init__(origin)
        self.sock = sock

    def write(self, event: h11.Event) -> None:
        if isinstance(event, h11.Request):
            self.note_request(event)
        # The passthrough form hands body chunks back uncopied, so a 1 MiB chunk
        # goes to sendall() as it is instead of through a join.
        for piece in self.h11.send_with_data_passthrough(event) or ():
            self.sock.sendall(piece)

    def write_body(self, chunks: Iterable[bytes | bytearray | memoryview] | None) -> None:
        """Send each chunk, or the end of the body for ``None``.

        A failure to send (or h11 refusing more than ``Content-Length``) is a
        ``SendFailed`` from its cause, so that what the iterable itself raises
        stays apart whatever its class.
        """
        if chunks is None:
            self._send_guarded(h11.EndOfMessage())
            return
        for chunk in chunks:
            if chunk:
                # h11 only measures a chunk and hands it back to us (passthrough), so
                # a view of the caller's buffer is sent as it is, without a bytes copy.
                self._send_guarded(h11.Data(data=cast(bytes, chunk)))

    def can_send_file(self) -> bool:
        """Whether a body may go out with ``sendfile``: a plain socket (TLS encrypts in
        user space) and a body framed by ``Content-Length`` (h11 counts it)."""
        return not isinstance(self.sock, ssl.SSLSocket) and self.sends_with_length()

    def write_file_body(self, send_file: Callable[[Callable[[BinaryIO, int, int], int]], None]) -> None:
        """The body by the caller's ``send_file``, each piece of the file sent with
        ``socket.sendfile``; a failure to send is a ``SendFailed`` (see :meth:`write_body`)."""

        def sendfile(file: BinaryIO, offset: int, count: int) -> int:
            try:
                self.count_sent_elsewhere(count)
                return self.sock.sendfile(file, offset, count)
            except NETWORK_ERRORS as exc:
                raise SendFailed from exc

        send_file(sendfile)

    def _send_guarded(self, event: h11.Event) -> None:
        try:
            self.write(event)
        except NETWORK_ERRORS as exc:
            raise SendFailed from exc

    def receive(self, size: int = RECV_SIZE) -> bytes:
        """One recv() fed to h11; ``b""`` is the end of the stream."""
        data = self.sock.recv(size)
        self.answered = self.answered or bool(data)
        self.h11.receive_data(data)
        return data

    def receive_body_into(self, buffer: memoryview) -> int:
        """One recv_into() of the body past h11 (see ``CycleState``): straight into
        ``buffer``, never more than the body still holds; 0 is the end of the stream."""
        assert self.body_left is not None
        n = self.sock.recv_into(buffer, min(len(buffer), self.body_left))
        if n:
            self.read_body_past_h11(n)
        return n

    def next_event(self) -> h11.Event | None:
        """The next event of the body, receiving as needed; None when the rest of the
        body is to be read past h11 (:meth:`receive_body_into`)."""
        while (event := self.body_event()) is h11.NEED_DATA:
            self.receive()
        assert event is None or isinstance(event, h11.Event)
        return event

    def looks_dropped(self) -> bool:
        """Whether an idle connection is unusable.

        Nothing may arrive on an idle keep-alive connection, so readable means the
        server closed it (EOF), reset it, or sent something unsolicited.
        """
        if isinstance(self.sock, ssl.SSLSocket) and self.sock.pending():
            return True
        try:
            if hasattr(select, "poll"):
                poller = select.poll()
                poller.register(self.sock, select.POLLIN)
                return bool(poller.poll(0))
            return bool(select.select([self.sock], [], [], 0)[0])
        except (OSError, ValueError):
            return True

    def close(self) -> None:
        self.sock.close()
