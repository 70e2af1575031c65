"""An ocireg transport over urllib3: connection pooling, TLS and proxies from the environment.

It is written as an outside transport would be, against ocireg's public names
alone: to write your own, read the contract in :class:`ocireg.Transport` (module
``ocireg._transport``) and use this module as an example.
"""

from __future__ import annotations

import ssl
import threading
import urllib.parse
import urllib.request
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import urllib3
from urllib3 import exceptions as u3
from urllib3.util import make_headers, parse_url
from urllib3.util.response import assert_header_parsing

from ocireg import (
    ConnectError,
    ProtocolError,
    Request,
    Response,
    TransportError,
    TransportTimeout,
    redact_url,
)

__all__ = ["Urllib3Transport"]

_DRAIN_LIMIT = 64 * 1024
"""Unread bytes worth draining to keep a connection; past this, dropping it is cheaper."""


def _system_ca_file() -> str | None:
    """``None`` when the system has a CA store (urllib3 loads it), else certifi's bundle."""
    paths = ssl.get_default_verify_paths()
    if paths.cafile or paths.capath:
        return None
    try:
        import certifi  # type: ignore[import-not-found,unused-ignore]
    except ImportError:  # no system store and no certifi: verification will fail loudly
        return None
    return str(certifi.where())


def _cause(exc: BaseException) -> BaseException | None:
    """What to chain a translated error to: not a ValueError, whose text may quote a
    header value (a credential)."""
    return None if isinstance(exc, ValueError) else exc


def _translate(exc: BaseException, url: str) -> TransportError:
    """The ocireg error for a urllib3 (or socket, or http.client) exception."""
    where = redact_url(url)
    if isinstance(exc, u3.MaxRetryError) and exc.reason is not None:
        return _translate(exc.reason, url)
    # Order matters: NewConnectionError subclasses ConnectTimeoutError in urllib3 2.
    if isinstance(exc, u3.NewConnectionError | u3.ProxyError | u3.SSLError | ssl.SSLError):
        return ConnectError(f"{where}: cannot connect: {exc}")
    if isinstance(exc, u3.LocationValueError):
        return ConnectError(f"{where}: unusable URL")
    if isinstance(exc, ValueError):  # http.client refusing a header: never echo its value
        return ProtocolError(f"{where}: the request cannot be encoded (invalid header?)")
    if isinstance(exc, u3.TimeoutError | TransportTimeout):
        return TransportTimeout(f"{where}: timed out: {exc}")
    return ProtocolError(f"{where}: {type(exc).__name__}: {exc}")


# Everything urllib3 and the layers under it may raise while sending or reading.
_ERRORS = (u3.HTTPError, OSError, ValueError)


def _check_head(response: urllib3.BaseHTTPResponse) -> None:
    """Refuse a head http.client let through: cut mid-line, or a Content-Length that is
    not one decimal number.

    http.client quietly takes a head cut by the end of the stream as complete, and a
    malformed Content-Length as "read until close", which would turn a truncated
    answer into a clean one; h11 refuses both, and so do we.
    """
    # urllib3 only logs these defects; the parsed message is kept on the response.
    message = getattr(response, "_original_response", None)
    if message is not None:
        try:
            assert_header_parsing(message.msg)
        except u3.HeaderParsingError:
            raise ProtocolError("malformed response head") from None
    values = response.headers.getlist("content-length")
    lengths = {part.strip() for value in values for part in value.split(",")}
    if lengths and (len(lengths) != 1 or not all(v.isdigit() for v in lengths)):
        raise ProtocolError("malformed or conflicting Content-Length")


class _Stream:
    """The body of one urllib3 response, read into the caller's buffer."""

    def __init__(self, response: urllib3.BaseHTTPResponse, url: str) -> None:
        self._response = response
        self._url = url
        self._done = False  # read to the end: the connection can go back to the pool
        self._closed = False

    def readinto(self, buffer: bytearray | memoryview, /) -> int:
        if self._closed or self._done:
            return 0
        try:
            n = self._response.readinto(buffer)
        except _ERRORS as exc:
            self._discard()
            raise _translate(exc, self._url) from _cause(exc)
        if n == 0 and len(buffer) > 0:
            self._done = True
            self._response.release_conn()
        return n

    def close(self) -> None:
        if self._closed:
            return
        if not self._done:
            self._drain()
        self._closed = True

    def _drain(self) -> None:
        """Read a small remainder to keep the connection; drop it if there is more."""
        scratch = bytearray(16 * 1024)
        left = _DRAIN_LIMIT
        try:
            while left > 0:
                n = self._response.readinto(scratch)
                if n == 0:
                    self._done = True
                    self._response.release_conn()
                    return
                left -= n
        except _ERRORS:
            pass
        self._discard()

    def _discard(self) -> None:
        self._done = True
        self._closed = True
        self._response.close()  # closes the socket; the pool opens a new one next time
        self._response.release_conn()


class _BodyGuard:
    """A request body as urllib3 iterates it: remembers what the body itself raised
    and refuses to send more or fewer bytes than its ``Content-Length``.

    urllib3 (and http.client under it) iterate the body inside ``urlopen`` and wrap
    some failures: this is how ``send`` tells the body's errors from the network's,
    and how extra bytes never reach the wire as the start of another request.
    """

    def __init__(self, body: Iterable[bytes | bytearray | memoryview], length: str | None, url: str) -> None:
        self._body = body
        self._length = int(length) if length is not None and length.isdigit() else None
        self._url = url
        self.error: BaseException | None = None

    def __iter__(self) -> Iterator[bytes | bytearray | memoryview]:
        chunks = iter(self._body)
        sent = 0
        while True:
            try:
                chunk = next(chunks)
            except StopIteration:
                break
            except BaseException as exc:
                self.error = exc
                raise
            sent += memoryview(chunk).nbytes
            if self._length is not None and sent > self._length:
                raise self._fail("longer")
            yield chunk
        if self._length is not None and sent < self._length:
            raise self._fail("shorter")

    def _fail(self, how: str) -> ProtocolError:
        self.error = ProtocolError(f"{redact_url(self._url)}: the body is {how} than its Content-Length")
        return self.error


class Urllib3Transport:
    """Sends requests with a urllib3 ``PoolManager`` (one per proxy in use).

    ``open_timeout`` bounds connecting (TCP and TLS), ``read_timeout`` each wait
    for bytes.  ``ca_file`` replaces the system CA store; ``insecure`` turns
    verification off (and keeps urllib3's warning about it quiet).  ``pool_size``
    connections are kept per origin.  With
    ``proxy_from_env``, ``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY`` are honoured.
    """

    def __init__(
        self,
        *,
        open_timeout: float = 2,
        read_timeout: float = 5,
        ca_file: str | None = None,
        insecure: bool = False,
        pool_size: int = 4,
        proxy_from_env: bool = True,
    ) -> None:
        self._insecure = insecure
        self._proxy_from_env = proxy_from_env
        self._pool_kw: dict[str, object] = {
            "timeout": urllib3.Timeout(connect=open_timeout, read=read_timeout),
            "maxsize": pool_size,
            "block": False,
            "cert_reqs": "CERT_NONE" if insecure else "CERT_REQUIRED",
            "ca_certs": None if insecure else (ca_file or _system_ca_file()),
        }
        self._direct = urllib3.PoolManager(**self._pool_kw)  # type: ignore[arg-type]
        self._proxies: dict[str, urllib3.ProxyManager] = {}
        self._lock = threading.Lock()

    def _manager(self, url: str) -> urllib3.PoolManager:
        if not self._proxy_from_env:
            return self._direct
        parts = urllib.parse.urlsplit(url)
        proxy = urllib.request.getproxies().get(parts.scheme)
        if not proxy or urllib.request.proxy_bypass(parts.hostname or ""):
            return self._direct
        with self._lock:
            manager = self._proxies.get(proxy)
            if manager is None:
                manager = self._proxies[proxy] = self._proxy_manager(proxy)
            return manager

    def _proxy_manager(self, proxy: str) -> urllib3.ProxyManager:
        # Credentials in the proxy URL become a Proxy-Authorization header, sent to
        # the proxy only (urllib3 does not take them from the URL itself).
        parsed = parse_url(proxy)
        headers = None
        if parsed.auth:
            headers = make_headers(proxy_basic_auth=urllib.parse.unquote(parsed.auth))
            parsed = parsed._replace(auth=None)
        return urllib3.ProxyManager(parsed.url, proxy_headers=headers, **self._pool_kw)  # type: ignore[arg-type]

    @contextmanager
    def _quiet_if_insecure(self) -> Iterator[None]:
        """Silence InsecureRequestWarning around this call only, when asked to be insecure.

        The filter is scoped to the call rather than installed process-wide, so other
        code keeps its warnings; ``catch_warnings`` is the standard local switch.
        """
        if not self._insecure:
            yield
            return
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", u3.InsecureRequestWarning)
            yield

    def send(self, request: Request, /) -> Response:
        headers = urllib3.HTTPHeaderDict()
        for name, value in request.headers:
            headers.add(name, value)
        body = request.body
        guard = None
        if body is not None and not isinstance(body, bytes | bytearray | memoryview):
            guard = _BodyGuard(body, headers.get("content-length"), request.url)
            body = iter(guard)
        try:
            with self._quiet_if_insecure():
                response = self._manager(request.url).urlopen(
                    request.method,
                    request.url,
                    body=body,
                    headers=headers,
                    redirect=False,
                    retries=False,
                    preload_content=False,
                    decode_content=False,
                    enforce_content_length=True,
                    # Content-Length is set by the core for iterable bodies: no chunking.
                    chunked=guard is not None and "content-length" not in headers,
                )
        except BaseException as exc:
            if guard is not None and guard.error is not None:
                # Raised by the request body (a source's own verdict, or a length
                # that does not match): not ours to translate, whatever urllib3 made of it.
                raise guard.error from None
            if isinstance(exc, _ERRORS):
                raise _translate(exc, request.url) from _cause(exc)
            raise
        stream = _Stream(response, request.url)
        try:
            _check_head(response)
        except ProtocolError:
            stream._discard()
            raise
        return Response(
            status=response.status,
            headers=tuple(response.headers.iteritems()),
            request=request,
            stream=stream,
        )

    def close(self) -> None:
        with self._lock:
            managers = [self._direct, *self._proxies.values()]
            self._proxies.clear()
        for manager in managers:
            manager.clear()

    def __enter__(self) -> Urllib3Transport:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
