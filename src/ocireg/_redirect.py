"""Redirects as a flow, and which headers survive them.

Transports never follow redirects; this flow does, so that one rule decides what
a redirect may carry: a blob redirected to object storage on another origin
arrives there without ``Authorization`` (the gem sent the registry's credentials
wherever it was pointed), and https never downgrades to http.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable

from ._errors import InsecureRequestError, RedirectError
from ._flow import Flow, close
from ._http import Request, Response, redact_url, without_header

__all__ = ["MAX_REDIRECTS", "follow_redirects", "send_once"]

MAX_REDIRECTS = 10
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_CREDENTIAL_HEADERS = ("Authorization", "Proxy-Authorization", "Cookie")


def send_once(request: Request) -> Flow[Response]:
    """One hop: yield the request, get the response."""
    response: Response = yield request
    return response


def _next_request(request: Request, response: Response, location: str) -> Request:
    target = urllib.parse.urljoin(request.url, location.strip())
    scheme = urllib.parse.urlsplit(target).scheme.lower()
    if scheme not in ("http", "https"):
        raise RedirectError(f"{request.method} {redact_url(request.url)}: redirect to a non-HTTP URL")
    if request.origin.scheme == "https" and scheme == "http":
        raise InsecureRequestError(f"{request.method} {redact_url(request.url)}: refusing a redirect from https to http")
    method, body, headers = request.method, request.body, request.headers
    if response.status == 303 and method != "HEAD":
        method, body = "GET", None
        headers = without_header(without_header(headers, "Content-Length"), "Content-Type")
    if body is not None and not isinstance(body, bytes | bytearray | memoryview):
        raise RedirectError(f"{method} {redact_url(request.url)}: redirected, and a streamed body cannot be replayed")
    next_request = request.replace(method=method, url=target, headers=headers, body=body)
    if next_request.origin != request.origin:
        for name in _CREDENTIAL_HEADERS:
            headers = without_header(headers, name)
        next_request = next_request.replace(headers=headers)
    return next_request


def follow_redirects(
    request: Request,
    send: Callable[[Request], Flow[Response]] = send_once,
    *,
    max_hops: int = MAX_REDIRECTS,
) -> Flow[Response]:
    """Send ``request``, following redirects; the final response's ``request`` is the last hop."""
    seen = {request.url}
    for _ in range(max_hops + 1):
        response = yield from send(request)
        location = response.header("Location")
        if response.status not in REDIRECT_STATUSES or not location:
            return response
        yield from close(response)
        request = _next_request(request, response, location)
        if request.url in seen:
            raise RedirectError(f"redirect loop at {redact_url(request.url)}")
        seen.add(request.url)
    raise RedirectError(f"more than {max_hops} redirects from {redact_url(request.url)}")
