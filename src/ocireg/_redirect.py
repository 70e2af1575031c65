"""Redirects as a flow, and which headers survive them.

Transports never follow redirects; this flow does, so that one rule decides what a
redirect may carry: a blob redirected to object storage on another origin arrives
there without ``Authorization`` (the gem sent the registry's credentials wherever
it was pointed), https never downgrades to http, and a server cannot keep a client
bouncing forever.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable

from ._errors import InsecureRequestError, RedirectError
from ._flow import Flow, close
from ._http import Headers, Request, Response, redact_url, without_header

__all__ = ["MAX_REDIRECTS", "REDIRECT_STATUSES", "follow_redirects", "redirect_request", "send_once"]

MAX_REDIRECTS = 10
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})

_CREDENTIAL_HEADERS = ("Authorization", "Proxy-Authorization", "Cookie")
"""Headers that belong to one origin and are dropped when a redirect leaves it."""
_CONTENT_HEADERS = ("Content-Length", "Content-Type", "Content-Range", "Content-Encoding", "Transfer-Encoding")
"""Headers that describe a body, dropped when a redirect turns the request into a GET."""


def send_once(request: Request) -> Flow[Response]:
    """One hop: yield the request, get the response."""
    response: Response = yield request
    return response


def _new_method(method: str, status: int) -> str:
    """The method after a redirect, as browsers, curl and httpx do (RFC 9110 15.4).

    303 means "GET the answer elsewhere"; 302 and a 301 on POST are treated the same
    for historical reasons; 307/308 (and 301 on other methods) repeat the request.
    """
    if method == "HEAD":
        return method
    if status in (302, 303) or (status == 301 and method == "POST"):
        return "GET"
    return method


def redirect_request(request: Request, status: int, location: str) -> Request:
    """The request to send for a ``status`` redirect of ``request`` to ``location``.

    Raises :class:`~ocireg.InsecureRequestError` for https to http and
    :class:`~ocireg.RedirectError` for a target that is not http(s) or a body that
    cannot be sent again.
    """
    where = f"{request.method} {redact_url(request.url)}"
    location = location.strip(" \t")
    if any(c <= " " or c == "\x7f" for c in location):
        raise RedirectError(f"{where}: redirected to a URL with whitespace or control characters")
    # Raw UTF-8 in a Location is common enough; send it percent-encoded.
    location = urllib.parse.quote(location, safe="".join(map(chr, range(0x21, 0x7F))))
    target, _ = urllib.parse.urldefrag(urllib.parse.urljoin(request.url, location))
    try:
        parts = urllib.parse.urlsplit(target)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        raise RedirectError(f"{where}: redirected to a malformed URL") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise RedirectError(f"{where}: redirected to a non-HTTP URL")
    if "@" in parts.netloc:
        # Userinfo in a Location would be a server handing us credentials to send on.
        target = urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))
    if request.origin.scheme == "https" and scheme == "http":
        raise InsecureRequestError(f"{where}: refusing a redirect from https to http")
    method = _new_method(request.method, status)
    headers: Headers = request.headers
    body = request.body
    if method != request.method:
        body = None
        for name in _CONTENT_HEADERS:
            headers = without_header(headers, name)
    elif body is not None and not isinstance(body, bytes | bytearray | memoryview):
        # A streamed body has been consumed by the first attempt.
        raise RedirectError(f"{where}: redirected ({status}), and a streamed body cannot be sent again")
    following = request.replace(method=method, url=target, headers=headers, body=body)
    if following.origin != request.origin:
        for name in _CREDENTIAL_HEADERS:
            headers = without_header(headers, name)
        following = following.replace(headers=headers)
    return following


def follow_redirects(
    request: Request,
    send: Callable[[Request], Flow[Response]] = send_once,
    *,
    max_hops: int = MAX_REDIRECTS,
) -> Flow[Response]:
    """Send ``request`` with the one-hop ``send``, following redirects.

    Returns the first answer that is not a redirect (or a redirect without
    ``Location``); its ``request`` is the last hop.  Every redirect answer is
    closed.  More than ``max_hops`` redirects, or a URL seen twice, is a
    :class:`~ocireg.RedirectError`.
    """
    seen = {request.url}
    hops = 0
    while True:
        response = yield from send(request)
        location = response.header("Location")
        if response.status not in REDIRECT_STATUSES or not location or not location.strip():
            return response
        yield from close(response)
        if hops == max_hops:
            raise RedirectError(f"more than {max_hops} redirects, the last from {redact_url(request.url)}")
        request = redirect_request(request, response.status, location)
        if request.url in seen:
            raise RedirectError(f"redirect loop at {redact_url(request.url)}")
        seen.add(request.url)
        hops += 1
