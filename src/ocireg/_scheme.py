"""Which scheme a bare registry host speaks, and TLS/HTTP mismatches told in words.

A host given without a scheme (``localhost:5000``, ``registry.example``) is spoken
to over https.  Plain HTTP is allowed on loopback hosts and on hosts the user
declared insecure:

* a **loopback** host is tried over plain HTTP first, as crane does (it speaks
  plain HTTP to loopback hosts and never tries https there): a test registry there
  usually speaks it, and the traffic never leaves the machine.  https follows when
  the answer is not a registry's: a TLS port's ``400`` (or any ``400``: no
  registry answers ``GET /v2/`` with one) or no HTTP at all.  So a port-forwarded
  Harbor or Zot on 127.0.0.1, which speaks https, works too, without a flag, and a
  plain-HTTP one costs one round trip and no TLS context (loading the system CA
  store costs more than a whole tag listing);
* an **insecure** host elsewhere is tried over https first, and over plain HTTP
  only when the TLS attempt fails at the transport level, as docker does.

When the two sides disagree, the error says so in words, in both directions:

* https to a plain-HTTP port fails in the TLS handshake with OpenSSL's
  ``WRONG_VERSION_NUMBER``; we say the server answered in plain HTTP (skopeo's
  "server gave HTTP response to HTTPS client");
* plain HTTP to an https port gets ``400`` with the server's own hint
  ("Client sent an HTTP request to an HTTPS server"), which is kept.

Discovery is a flow (see :mod:`ocireg._flow`): the driver performs its two
requests at most, and a transport failure is thrown into it where it yielded.  The
probe, ``GET /v2/``, carries no credentials.
"""

from __future__ import annotations

import re

from ._errors import ConnectError, TransportError
from ._flow import Close, Flow, ReadBody
from ._http import Request, is_loopback_netloc

__all__ = [
    "HTTP_TO_HTTPS_HINT",
    "discover_scheme",
    "explain_transport_error",
    "http_to_https_hint",
    "plain_http_allowed",
]

HTTP_TO_HTTPS_HINT = "Client sent an HTTP request to an HTTPS server"
"""What Go's net/http (every registry written in Go) answers plain HTTP with on a TLS port."""

_HINT_BODY_LIMIT = 1024
"""Bytes of a 400 answer read to look for the hint: the real one is 49 bytes."""

# OpenSSL's words when the peer's first bytes are not a TLS record (an HTTP answer):
# "wrong version number" (OpenSSL 1.1/3.0), "record layer failure" and
# "packet length too long" (3.2+), "unknown protocol" (older), "http request".
_NOT_TLS = re.compile(
    r"WRONG_VERSION_NUMBER|wrong version number|record layer failure|packet length too long"
    r"|UNKNOWN_PROTOCOL|unknown protocol|HTTP_REQUEST|http request",
)
_CERTIFICATE = re.compile(r"CERTIFICATE_VERIFY_FAILED|certificate verify failed|hostname mismatch"
                          r"|IP address mismatch", re.IGNORECASE)


def plain_http_allowed(host: str, insecure: bool) -> bool:
    """Whether a bare ``host[:port]`` may be spoken to over plain HTTP: loopback, or insecure."""
    return insecure or is_loopback_netloc(host)


def http_to_https_hint(status: int, body: bytes) -> str | None:
    """The server's own hint when a plain-HTTP request reached its TLS port, else None."""
    if status == 400 and HTTP_TO_HTTPS_HINT.encode() in body[:_HINT_BODY_LIMIT]:
        return f"the server speaks https, not plain HTTP ({HTTP_TO_HTTPS_HINT})"
    return None


def explain_transport_error(exc: TransportError) -> TransportError:
    """``exc`` reworded when it is a TLS/HTTP mismatch or an untrusted certificate; else itself.

    Both only arise in a TLS handshake, so the library's words identify them.
    """
    text = str(exc)
    if _NOT_TLS.search(text):
        return ConnectError(
            f"{text.split(': ', 1)[0]}: the server answered in plain HTTP, not TLS "
            "(server gave HTTP response to HTTPS client); use http:// or mark it insecure"
        )
    if _CERTIFICATE.search(text):
        return ConnectError(
            f"{text}; if the registry uses a private CA give its certificate (--ca-file), "
            "or skip verification (--insecure)"
        )
    return exc


def _probe(base: str, user_agent: str) -> Request:
    return Request("GET", f"{base}/v2/", (("User-Agent", user_agent),))


def discover_scheme(host: str, *, insecure: bool, user_agent: str = "ocireg/0.1") -> Flow[str]:
    """The base URL (``https://host`` or ``http://host``) to use for a bare ``host[:port]``.

    A loopback host: see :func:`_plain_http_first`.  Elsewhere, https answers anything (even 401 or 404): https it is; a certificate it sent
    that is not trusted also means https, and is the error raised.  Otherwise, where
    plain HTTP is allowed (:func:`plain_http_allowed`), ``GET /v2/`` over plain HTTP
    decides; an https server's 400 hint there means the TLS attempt failed for a
    reason of its own, which is then the error raised.  Where plain HTTP is not
    allowed, the https failure is raised, explained.
    """
    if is_loopback_netloc(host):
        return (yield from _plain_http_first(host, user_agent))
    https = f"https://{host}"
    try:
        response = yield _probe(https, user_agent)
    except TransportError as exc:
        _raise_if_certificate(host, exc)
        tls_error = explain_transport_error(exc)
    else:
        yield Close(response)
        return https
    if not plain_http_allowed(host, insecure):
        raise tls_error
    http = f"http://{host}"
    try:
        response = yield _probe(http, user_agent)
    except TransportError as exc:
        raise ConnectError(f"{host}: no answer over https ({tls_error}) nor plain HTTP ({exc})") from None
    body: bytes = yield ReadBody(response, _HINT_BODY_LIMIT)
    hint = http_to_https_hint(response.status, body)
    if hint is not None:
        raise ConnectError(f"{host}: {hint}, and the TLS connection failed: {tls_error}")
    return http


def _plain_http_first(host: str, user_agent: str) -> Flow[str]:
    """A loopback host: plain HTTP if ``GET /v2/`` gets an answer other than ``400``, else https."""
    http = f"http://{host}"
    try:
        response = yield _probe(http, user_agent)
    except TransportError as exc:  # a TLS port that closed on plain HTTP, or nothing there
        plain_error = str(exc)
    else:
        if response.status != 400:
            yield Close(response)
            return http
        try:
            body: bytes = yield ReadBody(response, _HINT_BODY_LIMIT)
        except TransportError:  # a TLS port may answer and reset the connection at once
            body = b""
        plain_error = http_to_https_hint(400, body) or "400 Bad Request to GET /v2/"
    https = f"https://{host}"
    try:
        response = yield _probe(https, user_agent)
    except TransportError as exc:
        _raise_if_certificate(host, exc)
        raise ConnectError(
            f"{host}: no answer over plain HTTP ({plain_error}) nor https ({explain_transport_error(exc)})"
        ) from None
    yield Close(response)
    return https


def _raise_if_certificate(host: str, exc: TransportError) -> None:
    """A handshake that got as far as the server's certificate: it speaks https, untrusted."""
    if _CERTIFICATE.search(str(exc)):
        raise ConnectError(f"{host}: the server speaks https, but {explain_transport_error(exc)}") from None
