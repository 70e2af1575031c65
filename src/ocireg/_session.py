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
from ._http import Body, Headers, Origin, Request, Response, redact_url, with_header
from ._redirect import MAX_REDIRECTS, follow_redirects, send_once
from ._retry import RateLimit, RetryPolicy, retrying

__all__ = ["Limits", "Session"]

_TCHAR = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
# RFC 3986 pchar plus "/" and "%" (a path may already be percent-encoded, e.g. a
# name taken from a Link header): everything else in a path is percent-encoded.
_PATH_SAFE = "/:@!$&'()*+,;=-._~%"


@dataclass(frozen=True)
class Limits:
    """Caps on what is read whole, and on loops a server drives."""

    manifest: int = 4 * 1024 * 1024
    token: int = 64 * 1024
    error: int = 64 * 1024
    max_redirects: int = MAX_REDIRECTS
    max_pages: int = 10_000

    def __post_init__(self) -> None:
        for name in ("manifest", "token", "error", "max_pages"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise InvalidArgument(f"limits: {name} must be a positive integer")
        if isinstance(self.max_redirects, bool) or not isinstance(self.max_redirects, int) \
                or self.max_redirects < 0:
            raise InvalidArgument("limits: max_redirects must be a non-negative integer")


def _normalise_base(base_url: str) -> str:
    """``scheme://host[:port][/prefix]`` without a trailing slash, lower-cased scheme and host.

    A path prefix is kept: ``https://host/prefix/`` gives ``https://host/prefix/v2/...``
    (the gem needed a trailing slash for ``URI.join`` not to drop it).
    """
    if isinstance(base_url, str) and "@" in base_url:
        # Userinfo, or text that would put it in the path ("https:/user:pw@host"):
        # refused without echoing any of it.
        raise InvalidArgument("put credentials in credentials=, not in the registry URL")
    shown = redact_url(base_url)[:200]
    try:
        parts = urllib.parse.urlsplit(base_url.strip())
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        raise InvalidArgument(f"registry URL {shown!r} is malformed") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise InvalidArgument(f"registry URL must be http(s)://host[:port][/prefix], not {shown!r}")
    if parts.query or parts.fragment:
        raise InvalidArgument(f"registry URL {shown!r} must not have a query or fragment")
    if any(c <= " " or c == "\x7f" for c in base_url.strip()):
        raise InvalidArgument(f"registry URL {shown!r} holds whitespace or control characters")
    path = urllib.parse.quote(parts.path.rstrip("/"), safe=_PATH_SAFE)
    return urllib.parse.urlunsplit((scheme, parts.netloc.lower(), path, "", ""))


def _quote_query(query: Sequence[tuple[str, str]]) -> str:
    # quote, not quote_plus: "+" in a value (a tag, a digest) must arrive as "+".
    return urllib.parse.urlencode(list(query), quote_via=urllib.parse.quote)


def _join_query(url: str, query: Sequence[tuple[str, str]]) -> str:
    if not query:
        return url
    return f"{url}{'&' if '?' in url else '?'}{_quote_query(query)}"


class Session:
    """One registry: where it is, how to authenticate to it, and how much to read.

    ``base_url`` needs its scheme; plain ``http`` is allowed, but credentials go
    over it only to loopback or when ``insecure`` is set (see :mod:`ocireg._auth`).
    """

    def __init__(
        self,
        base_url: str,
        *,
        credentials: Credentials | CredentialProvider | None = None,
        insecure: bool = False,
        limits: Limits | None = None,
        user_agent: str = "ocireg/0.1",
        retry: RetryPolicy | None = None,
    ) -> None:
        if any(c < " " or c == "\x7f" for c in user_agent):
            raise InvalidArgument("user_agent holds a control character")
        self.base_url = _normalise_base(base_url)
        self.origin = Origin.of(self.base_url)
        self.limits = limits if limits is not None else Limits()
        self.user_agent = user_agent
        self.insecure = insecure
        self.retry = retry if retry is not None else RetryPolicy()
        self.rate_limit: RateLimit | None = None
        """The request budget the registry last announced (``RateLimit-*`` headers)."""
        self.auth = Authenticator(
            self.origin,
            credentials,
            insecure=insecure,
            token_limit=self.limits.token,
            error_limit=self.limits.error,
        )

    @property
    def host(self) -> str:
        """``host`` or ``host:port`` as credential stores key it."""
        return urllib.parse.urlsplit(self.base_url).netloc

    def url(self, path: str, query: Sequence[tuple[str, str]] = ()) -> str:
        """``<base>/v2/...``: ``path`` (from ``/v2/``, may carry a query) under the base.

        The path is percent-encoded where needed, ``query`` values always.  Dot
        segments are refused: they would climb out of a path prefix.
        """
        if not path.startswith("/"):
            raise InvalidArgument(f"path {path[:200]!r} must start with '/'")
        if any(c <= " " or c in "#\x7f" for c in path):
            raise InvalidArgument(f"path {path[:200]!r} holds whitespace, '#' or a control character")
        path, sep, existing = path.partition("?")
        if any(segment in (".", "..") for segment in path.split("/")):
            raise InvalidArgument(f"path {path[:200]!r} holds a '.' or '..' segment")
        url = self.base_url + urllib.parse.quote(path, safe=_PATH_SAFE) + sep + existing
        return _join_query(url, query)

    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        headers: Headers = (),
        body: Body = None,
        query: Sequence[tuple[str, str]] = (),
    ) -> Request:
        """A request to this registry (a path) or to a URL it gave us (an upload ``Location``)."""
        if not method or not all(c in _TCHAR for c in method):
            raise InvalidArgument(f"method {method[:50]!r} is not an HTTP token")
        if "://" in path_or_url:
            scheme = path_or_url.split("://", 1)[0].lower()
            if scheme not in ("http", "https") or any(c <= " " or c == "\x7f" for c in path_or_url):
                raise InvalidArgument(f"{redact_url(path_or_url)[:200]!r} is not an http(s) URL")
            url = _join_query(path_or_url, query)
        else:
            url = self.url(path_or_url, query)
        headers = tuple(headers)
        if not any(name.lower() == "user-agent" for name, _ in headers):
            headers = with_header(headers, "User-Agent", self.user_agent)
        return Request(method, url, headers, body)

    def send(self, request: Request, *, scopes: Sequence[Scope] = (), now: float) -> Flow[Response]:
        """Send through authentication, redirects and retries; returns the final response, any status.

        ``scopes`` are what the request needs (for a token); ``now`` is the time, for
        token expiry.  A 401 left after authenticating is returned, for the caller to
        raise as :class:`~ocireg.Unauthorized`.
        """

        def one_hop(req: Request) -> Flow[Response]:
            return retrying(req, send_once, self.retry)

        def transport_send(req: Request) -> Flow[Response]:
            return follow_redirects(req, one_hop, max_hops=self.limits.max_redirects)

        response = yield from self.auth.send(request, scopes=scopes, now=now, transport_send=transport_send)
        self.rate_limit = RateLimit.of(response) or self.rate_limit
        return response

    def __repr__(self) -> str:
        return f"<Session {self.base_url}>"
