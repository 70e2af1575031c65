"""The sans-IO per-registry state the operation flows use: base URL, limits, authentication.

``Session.send`` is the one request path: authentication wrapped around redirect
following, for every operation (the gem had three copies of its request function).
Nothing here reads a clock or touches a socket.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass

from ._auth import Authenticator, CredentialProvider, Credentials, Scope
from ._errors import InvalidArgument
from ._flow import Flow
from ._http import Body, Headers, Origin, Request, Response, add_query, with_header
from ._redirect import MAX_REDIRECTS, follow_redirects, send_once

__all__ = ["Limits", "Session"]


@dataclass(frozen=True)
class Limits:
    """Caps on what is read whole, and on loops driven by the server."""

    manifest: int = 4 * 1024 * 1024
    token: int = 64 * 1024
    error: int = 64 * 1024
    max_redirects: int = MAX_REDIRECTS
    max_pages: int = 10_000


class Session:
    """One registry: where it is, how to authenticate to it, and how much to read."""

    def __init__(
        self,
        base_url: str,
        *,
        credentials: Credentials | CredentialProvider | None = None,
        insecure: bool = False,
        limits: Limits | None = None,
        user_agent: str = "ocireg/0.1",
    ) -> None:
        parts = urllib.parse.urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidArgument(f"registry URL must be http(s)://host[:port][/prefix], not {base_url!r}")
        if parts.username or parts.password:
            raise InvalidArgument("put credentials in username/password, not in the registry URL")
        # A trailing slash keeps a path prefix (https://host/prefix/v2/...) when joining.
        path = parts.path.rstrip("/")
        self.base_url = urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, "", ""))
        self.origin = Origin.of(self.base_url)
        self.limits = limits or Limits()
        self.user_agent = user_agent
        self.insecure = insecure
        self.auth = Authenticator(self.origin, credentials, insecure=insecure, token_limit=self.limits.token)

    @property
    def host(self) -> str:
        """``host`` or ``host:port`` as credential stores key it."""
        return urllib.parse.urlsplit(self.base_url).netloc

    def url(self, path: str, query: Sequence[tuple[str, str]] = ()) -> str:
        """``<base>/v2/...`` with the query percent-encoded."""
        if not path.startswith("/"):
            path = "/" + path
        url = self.base_url + path
        return f"{url}?{urllib.parse.urlencode(list(query))}" if query else url

    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        headers: Headers = (),
        body: Body = None,
        query: Sequence[tuple[str, str]] = (),
    ) -> Request:
        """A request to this registry (a path) or to a URL it gave us (an upload Location)."""
        if "://" in path_or_url:
            url = add_query(path_or_url, query)
        else:
            url = self.url(path_or_url, query)
        return Request(method, url, with_header(headers, "User-Agent", self.user_agent), body)

    def send(self, request: Request, *, scopes: Sequence[Scope] = (), now: float) -> Flow[Response]:
        """Send through authentication and redirects; returns the final response, any status."""

        def transport_send(req: Request) -> Flow[Response]:
            return follow_redirects(req, send_once, max_hops=self.limits.max_redirects)

        return (yield from self.auth.send(request, scopes=scopes, now=now, transport_send=transport_send))

    def __repr__(self) -> str:
        return f"<Session {self.base_url}>"
