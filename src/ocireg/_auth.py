"""Authentication as a flow: challenges, token requests, the token cache, credential scoping.

The shape is httpx's ``Auth.auth_flow``: send, and on a 401 read the challenge,
get what it asks for, and retry once.  Unlike the gem, which asks for a new token
before every request, what a registry wants is remembered per origin, and tokens
are cached per (realm, service, scope set) until they expire, so N requests on
one scope cost one token request and no extra 401 round trips.

Safety rules kept here:

* credentials and tokens go only to the registry's own origin (scheme, host,
  port); a request to any other origin (a blob redirect, a foreign upload
  ``Location``) is sent without them;
* Basic credentials never cross plain HTTP except to loopback or a registry the
  caller declared insecure;
* a token realm gets the user's credentials only when it is the registry's host or
  shares its parent domain (``registry-1.docker.io`` -> ``auth.docker.io``); a
  registry cannot send them to an arbitrary host by naming it as its realm.
"""

from __future__ import annotations

import base64
import urllib.parse
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from ._challenge import Challenge, parse_www_authenticate
from ._errors import AuthenticationError, InsecureRequestError, InvalidArgument
from ._flow import Flow, close, read_body
from ._http import Origin, Request, Response, add_query, with_header
from ._strictjson import parse_json_object

__all__ = [
    "MIN_TOKEN_LIFETIME",
    "TOKEN_LIMIT",
    "Authenticator",
    "CredentialProvider",
    "Credentials",
    "Scope",
    "TokenCache",
    "merge_scopes",
]

TOKEN_LIMIT = 64 * 1024
MIN_TOKEN_LIFETIME = 60
"""The token spec: a token without ``expires_in`` lives 60 s, and none is taken for less."""
SAFETY_MARGIN = 10
"""Seconds before expiry at which a cached token is no longer used (clock skew, latency)."""

Send = Callable[[Request], Flow[Response]]


@dataclass(frozen=True)
class Credentials:
    """What to authenticate with; the secrets never appear in ``repr``."""

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    identity_token: str | None = field(default=None, repr=False)
    """An OAuth2 refresh token (docker's ``identitytoken``)."""
    registry_token: str | None = field(default=None, repr=False)
    """A bearer token used as it is."""

    @property
    def has_password(self) -> bool:
        return self.username is not None and self.password is not None


class CredentialProvider(Protocol):
    """Looks credentials up by registry host (``host`` or ``host:port``), e.g. docker's config."""

    def __call__(self, host: str, /) -> Credentials | None: ...


@dataclass(frozen=True, order=True)
class Scope:
    """A token scope: ``repository:library/alpine:pull,push``."""

    type: str
    name: str
    actions: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> Scope:
        kind, sep, rest = text.partition(":")
        name, sep2, actions = rest.rpartition(":")
        if not (sep and sep2 and kind and name):
            raise InvalidArgument(f"scope {text[:200]!r} is not type:name:actions")
        return cls(kind, name, tuple(a for a in actions.split(",") if a))

    @classmethod
    def pull(cls, repo: str) -> Scope:
        return cls("repository", repo, ("pull",))

    @classmethod
    def push(cls, repo: str) -> Scope:
        return cls("repository", repo, ("pull", "push"))

    def __str__(self) -> str:
        return f"{self.type}:{self.name}:{','.join(self.actions)}"


def merge_scopes(scopes: Iterable[Scope]) -> tuple[Scope, ...]:
    """The union of actions per (type, name), sorted: the token cache key."""
    merged: dict[tuple[str, str], set[str]] = {}
    for scope in scopes:
        merged.setdefault((scope.type, scope.name), set()).update(scope.actions)
    return tuple(Scope(kind, name, tuple(sorted(actions))) for (kind, name), actions in sorted(merged.items()))


TokenKey = tuple[str, str, tuple[str, ...]]


class TokenCache:
    """Bearer tokens by (realm, service, scope set), each with its expiry; no clock inside."""

    def __init__(self) -> None:
        self._tokens: dict[TokenKey, tuple[str, float]] = {}

    def get(self, key: TokenKey, now: float) -> str | None:
        entry = self._tokens.get(key)
        if entry is None:
            return None
        token, expires_at = entry
        if now >= expires_at:
            del self._tokens[key]
            return None
        return token

    def put(self, key: TokenKey, token: str, expires_at: float) -> None:
        self._tokens[key] = (token, expires_at)

    def __len__(self) -> int:
        return len(self._tokens)


def _parent_domain(host: str) -> str | None:
    labels = host.split(".")
    if len(labels) < 2 or all(part.isdigit() for part in labels):
        return None  # single label or an IPv4 address: no parent to share
    return ".".join(labels[-2:])


def _basic(credentials: Credentials) -> str:
    raw = f"{credentials.username}:{credentials.password}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def _parse_issued_at(value: object) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _replayable(request: Request) -> bool:
    """A body that can be sent twice: none, bytes, or a re-iterable (not a one-shot iterator)."""
    body = request.body
    return body is None or isinstance(body, bytes | bytearray | memoryview) or iter(body) is not body


class Authenticator:
    """Per-registry authentication state: the challenge each origin asked for, tokens, refresh tokens."""

    def __init__(
        self,
        origin: Origin,
        credentials: Credentials | CredentialProvider | None = None,
        *,
        insecure: bool = False,
        client_id: str = "ocireg",
        token_limit: int = TOKEN_LIMIT,
    ) -> None:
        self.origin = origin
        self._credentials = credentials
        self.insecure = insecure
        self.client_id = client_id
        self.token_limit = token_limit
        self.tokens = TokenCache()
        self._challenge: Challenge | None = None
        self._refresh_tokens: dict[tuple[str, str], str] = {}
        self.token_requests = 0

    # --- credentials ---------------------------------------------------------------

    def credentials(self) -> Credentials | None:
        creds = self._credentials
        if creds is None or isinstance(creds, Credentials):
            return creds
        default_port = 443 if self.origin.scheme == "https" else 80
        host = self.origin.host if self.origin.port == default_port else f"{self.origin.host}:{self.origin.port}"
        return creds(host)

    def _plain_http_allowed(self, origin: Origin) -> bool:
        return origin.scheme == "https" or origin.is_loopback or self.insecure

    def _check_basic_allowed(self, origin: Origin) -> None:
        if not self._plain_http_allowed(origin):
            raise InsecureRequestError(
                f"refusing to send a password over plain HTTP to {origin.host}; "
                "use https, or declare the registry insecure"
            )

    def _realm_trusted(self, realm: Origin) -> bool:
        """Whether the token server may see the user's credentials (see the module docstring)."""
        if realm.host == self.origin.host:
            return True
        parent = _parent_domain(self.origin.host)
        return parent is not None and (realm.host == parent or realm.host.endswith("." + parent))

    # --- the flow --------------------------------------------------------------------

    def send(self, request: Request, *, scopes: Sequence[Scope], now: float, transport_send: Send) -> Flow[Response]:
        """Send ``request`` authenticated; on a 401 from the registry, authenticate and retry once.

        Returns the final response whatever its status: a second 401 is the caller's
        to raise as :class:`~ocireg.Unauthorized`.
        """
        if request.origin != self.origin:
            return (yield from transport_send(request))  # not ours: no credentials at all
        wanted = merge_scopes(scopes)
        authorization = yield from self._known_authorization(wanted, now, transport_send)
        response = yield from transport_send(_authorized(request, authorization))
        if response.status != 401 or response.request.origin != self.origin:
            return response
        challenge = _pick(parse_www_authenticate(response.headers))
        if challenge is None or not _replayable(request):
            return response
        creds = self.credentials()
        if challenge.scheme == "basic" and (creds is None or not creds.has_password):
            return response  # nothing to answer a Basic challenge with
        yield from close(response)
        if challenge.scheme == "basic":
            assert creds is not None
            self._check_basic_allowed(self.origin)
            authorization = _basic(creds)
        else:
            # The challenge's scope widens ours: pull to pull,push, or a mount's source repo.
            widened = merge_scopes((*wanted, *_scopes(challenge)))
            token = yield from self._fetch_token(challenge, widened, now, transport_send)
            authorization = f"Bearer {token}"
        self._challenge = Challenge(challenge.scheme, tuple(
            (k, v) for k, v in challenge.params if k in ("realm", "service")
        ))
        return (yield from transport_send(_authorized(request, authorization)))

    def _known_authorization(self, scopes: tuple[Scope, ...], now: float, send: Send) -> Flow[str | None]:
        """Authorization to attach up front, from what the registry asked for before."""
        challenge = self._challenge
        if challenge is None:
            return None
        if challenge.scheme == "basic":
            creds = self.credentials()
            if creds is None or not creds.has_password:
                return None
            self._check_basic_allowed(self.origin)
            return _basic(creds)
        token = yield from self._fetch_token(challenge, scopes, now, send)
        return f"Bearer {token}"

    def _fetch_token(self, challenge: Challenge, scopes: tuple[Scope, ...], now: float, send: Send) -> Flow[str]:
        creds = self.credentials()
        if creds is not None and creds.registry_token:
            return creds.registry_token
        realm, service = challenge.realm, challenge.service or ""
        if not realm:
            raise AuthenticationError(f"{self.origin.host}: Bearer challenge without a realm")
        key: TokenKey = (realm, service, tuple(str(s) for s in scopes))
        cached = self.tokens.get(key, now)
        if cached is not None:
            return cached
        realm_origin = Origin.of(realm)
        if realm_origin.scheme not in ("http", "https"):
            raise AuthenticationError(f"{self.origin.host}: token realm is not an http(s) URL")
        if realm_origin.scheme == "http" and self.origin.scheme == "https" and not self.insecure:
            raise InsecureRequestError(f"{self.origin.host}: refusing a plain-HTTP token realm for an https registry")
        if not self._realm_trusted(realm_origin):
            creds = None  # a realm elsewhere gets an anonymous request, never the user's secrets
        if creds is not None and (creds.has_password or creds.identity_token):
            self._check_basic_allowed(realm_origin)
        refresh = (creds.identity_token if creds else None) or self._refresh_tokens.get((realm, service))
        answer = None
        if refresh:
            answer = yield from self._oauth_post(realm, service, scopes, refresh, send)
        if answer is None:
            answer = yield from self._token_get(realm, service, scopes, creds, send)
        token, lifetime, issued_at, refresh_token = answer
        if refresh_token:
            self._refresh_tokens[(realm, service)] = refresh_token
        start = min(now, issued_at) if issued_at is not None else now  # never trust a future issue time
        self.tokens.put(key, token, start + max(lifetime, MIN_TOKEN_LIFETIME) - SAFETY_MARGIN)
        return token

    def _token_get(
        self, realm: str, service: str, scopes: tuple[Scope, ...], creds: Credentials | None, send: Send
    ) -> Flow[tuple[str, float, float | None, str | None]]:
        query = ([("service", service)] if service else []) + [("scope", str(s)) for s in scopes]
        if creds is not None and creds.has_password:
            query.append(("account", creds.username or ""))
        url = add_query(realm, query)
        headers: tuple[tuple[str, str], ...] = (("Accept", "application/json"),)
        if creds is not None and creds.has_password:
            headers += (("Authorization", _basic(creds)),)
        self.token_requests += 1
        response = yield from send(Request("GET", url, headers))
        return (yield from self._token_answer(response))

    def _oauth_post(
        self, realm: str, service: str, scopes: tuple[Scope, ...], refresh: str, send: Send
    ) -> Flow[tuple[str, float, float | None, str | None] | None]:
        form = [("grant_type", "refresh_token"), ("refresh_token", refresh), ("service", service),
                ("client_id", self.client_id), ("scope", " ".join(str(s) for s in scopes))]
        body = urllib.parse.urlencode(form).encode()
        request = Request("POST", realm, (
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Content-Length", str(len(body))),
            ("Accept", "application/json"),
        ), body)
        self.token_requests += 1
        response = yield from send(request)
        if response.status in (400, 401, 403, 404, 405):
            # Token servers without OAuth2 (or that refuse this grant) still speak GET.
            yield from close(response)
            return None
        return (yield from self._token_answer(response))

    def _token_answer(self, response: Response) -> Flow[tuple[str, float, float | None, str | None]]:
        body = yield from read_body(response, self.token_limit)
        where = f"token server for {self.origin.host}"
        if response.status in (401, 403):
            raise AuthenticationError(f"{where} refused the credentials ({response.status})")
        if response.status != 200:
            raise AuthenticationError(f"{where} answered {response.status}")
        data = parse_json_object(body, limit=self.token_limit, what=where, error=AuthenticationError)
        token = data.get("token") or data.get("access_token")
        if not isinstance(token, str) or not token or any(c in token for c in "\r\n "):
            raise AuthenticationError(f"{where} answered without a usable token")
        expires_in = data.get("expires_in")
        lifetime = float(expires_in) if isinstance(expires_in, int) and not isinstance(expires_in, bool) else 0.0
        refresh = data.get("refresh_token")
        return token, lifetime, _parse_issued_at(data.get("issued_at")), refresh if isinstance(refresh, str) else None


def _scopes(challenge: Challenge) -> list[Scope]:
    found = []
    for text in challenge.scopes:
        try:
            found.append(Scope.parse(text))
        except InvalidArgument:
            continue  # a scope we cannot read is one we will not ask for
    return found


def _pick(challenges: Sequence[Challenge]) -> Challenge | None:
    """Bearer over Basic; other schemes are not spoken."""
    for scheme in ("bearer", "basic"):
        for challenge in challenges:
            if challenge.scheme == scheme:
                return challenge
    return None


def _authorized(request: Request, authorization: str | None) -> Request:
    if authorization is None:
        return request
    return request.replace(headers=with_header(request.headers, "Authorization", authorization))
