"""Authentication as a flow: challenges, token requests, the token cache, credential scoping.

The shape is httpx's ``Auth.auth_flow``: send, and on a 401 read the challenge, get
what it asks for, and retry once.  The gem asked for a new token after a 401 on
every request; here what each origin wants is remembered, and tokens are cached per
(realm, service, scope set) until they expire, so N requests on one scope cost one
token request and no extra 401 round trips.

Safety rules kept here (the gem sent its credentials wherever a server pointed):

* credentials (a password, a refresh token, a token fetched with them) go only to
  the registry's origin; a request to any other origin (a blob redirected to
  object storage, a foreign upload ``Location``) carries none;
* they never cross plain HTTP except to loopback or a registry the caller declared
  insecure: :class:`~ocireg.InsecureRequestError` is raised before they are sent;
* a token realm gets them only when it is the registry's host or shares its parent
  domain (``registry-1.docker.io`` -> ``auth.docker.io``); any other realm gets an
  anonymous token request (see :func:`realm_trusted`).

Nothing here reads a clock: ``now`` is an argument, as is every expiry.
"""

from __future__ import annotations

import base64
import ipaddress
import math
import urllib.parse
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from ._challenge import Challenge, parse_challenges
from ._errorbody import ERROR_BODY_LIMIT
from ._errors import AuthenticationError, InsecureRequestError, InvalidArgument, ResponseTooLarge
from ._flow import BlobBody, Flow, Gate, close, gated, read_body
from ._http import Headers, Origin, Request, Response, add_query, header_values, with_header
from ._strictjson import parse_json_object

__all__ = [
    "MIN_TOKEN_LIFETIME",
    "SAFETY_MARGIN",
    "TOKEN_LIMIT",
    "Authenticator",
    "CredentialProvider",
    "Credentials",
    "Scope",
    "TokenCache",
    "TokenKey",
    "covers",
    "merge_scopes",
    "realm_trusted",
    "token_expiry",
]

TOKEN_LIMIT = 64 * 1024
"""Token answers are a JWT and a few fields: a few KiB."""
MIN_TOKEN_LIFETIME = 60
"""The token spec: a token without ``expires_in`` lives 60 s, and none is taken for less."""
MAX_TOKEN_LIFETIME = 7 * 24 * 3600
"""A longer ``expires_in`` is clamped: a cache entry outliving a week helps nobody."""
SAFETY_MARGIN = 10.0
"""Seconds (at most 10% of the lifetime) before expiry at which a cached token is dropped,
so that it does not expire between being attached and being checked."""

Send = Callable[[Request], Flow[Response]]
TokenKey = tuple[str, str, frozenset[str]]
"""(realm, service, scope strings): what a token was issued for."""


def _check_text(name: str, value: str | None, forbidden: str) -> None:
    if value is None:
        return
    if not isinstance(value, str):
        raise InvalidArgument(f"credentials: {name} must be a string")
    # The value is never shown: it may be the secret itself.
    if any(ord(c) < 0x20 or ord(c) == 0x7F or c in forbidden for c in value):
        raise InvalidArgument(f"credentials: {name} holds a character it cannot carry")


@dataclass(frozen=True)
class Credentials:
    """What to authenticate with; only ``username`` ever appears in ``repr``."""

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    identity_token: str | None = field(default=None, repr=False)
    """An OAuth2 refresh token (docker's ``identitytoken``), sent only to the token server."""
    registry_token: str | None = field(default=None, repr=False)
    """A bearer token sent to the registry as it is (docker's ``registrytoken``)."""

    def __post_init__(self) -> None:
        _check_text("username", self.username, ":")  # RFC 7617: no colon in a user-id
        _check_text("password", self.password, "")
        _check_text("identity_token", self.identity_token, " ")
        _check_text("registry_token", self.registry_token, " ")

    @property
    def has_password(self) -> bool:
        return self.username is not None and self.password is not None

    @property
    def is_empty(self) -> bool:
        return not (self.has_password or self.identity_token or self.registry_token)


class CredentialProvider(Protocol):
    """Looks credentials up by registry host (``host`` or ``host:port``), e.g. docker's config.

    A provider that also takes a ``repository`` keyword argument is asked once per
    repository (``None`` for registry-wide calls such as the catalog), so keys
    scoped to a repository can apply (containers' ``auth.json``, and
    :class:`~ocireg.DockerConfigStore`); one taking the host alone is asked once.
    """

    def __call__(self, host: str, /) -> Credentials | None: ...


# --- scopes -------------------------------------------------------------------------

_SCOPE_FORBIDDEN = frozenset(' "\\\t\r\n')


@dataclass(frozen=True, order=True)
class Scope:
    """A token scope, ``repository:library/alpine:pull,push``; actions kept sorted and unique."""

    type: str
    name: str
    actions: tuple[str, ...]

    def __post_init__(self) -> None:
        actions = tuple(sorted(set(self.actions)))
        object.__setattr__(self, "actions", actions)
        parts = [self.type, self.name, *actions]
        if not self.type or not self.name or not actions or any(not part for part in parts):
            raise InvalidArgument("a scope needs a type, a name and at least one action")
        if any(c in _SCOPE_FORBIDDEN for part in parts for c in part) or any(
            ord(c) < 0x20 for part in parts for c in part
        ):
            raise InvalidArgument(f"scope {str(self)[:200]!r} holds whitespace or a quote")
        if ":" in self.type or any(c in ":," for a in actions for c in a):
            raise InvalidArgument(f"scope {str(self)[:200]!r} is not type:name:actions")

    @classmethod
    def parse(cls, text: str) -> Scope:
        """``type:name:action[,action]``; the name may hold colons (``host:5000/repo``)."""
        kind, sep, rest = text.partition(":")
        name, sep2, actions = rest.rpartition(":")
        if not (sep and sep2):
            raise InvalidArgument(f"scope {text[:200]!r} is not type:name:actions")
        return cls(kind, name, tuple(actions.split(",")))

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
    return tuple(Scope(kind, name, tuple(actions)) for (kind, name), actions in sorted(merged.items()))


def covers(have: Iterable[Scope], want: Iterable[Scope]) -> bool:
    """Whether a token issued for ``have`` grants everything ``want`` asks (``*`` is every action)."""
    granted: dict[tuple[str, str], set[str]] = {}
    for scope in have:
        granted.setdefault((scope.type, scope.name), set()).update(scope.actions)
    for scope in want:
        actions = granted.get((scope.type, scope.name), set())
        if "*" not in actions and not set(scope.actions) <= actions:
            return False
    return True


def _key(realm: str, service: str, scopes: Iterable[Scope]) -> TokenKey:
    return (realm, service, frozenset(str(s) for s in scopes))


# --- the token cache ------------------------------------------------------------------


def token_expiry(now: float, expires_in: float | None, issued_at: float | None) -> float:
    """When a token stops being used: issue time + lifetime - margin.

    ``issued_at`` from the token server counts only when it is sane, that is, not in
    our future and not so far in our past that the token would be born expired;
    otherwise (the two clocks disagree) ``now``, the time the request was made,
    counts.  The lifetime is ``expires_in``, at least :data:`MIN_TOKEN_LIFETIME`.
    """
    lifetime = min(max(expires_in or 0.0, MIN_TOKEN_LIFETIME), MAX_TOKEN_LIFETIME)
    start = now
    if issued_at is not None and now - lifetime < issued_at <= now:
        start = issued_at
    return start + lifetime - min(SAFETY_MARGIN, lifetime / 10)


class TokenCache:
    """Bearer tokens by (realm, service, scope set), each with its expiry; no clock inside."""

    def __init__(self, max_entries: int = 256) -> None:
        self.max_entries = max_entries
        self._tokens: dict[TokenKey, tuple[str, float, tuple[Scope, ...]]] = {}

    def get(self, key: TokenKey, now: float) -> str | None:
        """The token stored under exactly ``key``, if it is still valid at ``now``."""
        entry = self._tokens.get(key)
        if entry is None:
            return None
        if now >= entry[1]:
            del self._tokens[key]
            return None
        return entry[0]

    def find(self, realm: str, service: str, scopes: Sequence[Scope], now: float) -> tuple[TokenKey, str] | None:
        """A valid token of ``realm``/``service`` whose scope set covers ``scopes``.

        A push token serves a pull; the exact key is tried first.
        """
        exact = _key(realm, service, scopes)
        token = self.get(exact, now)
        if token is not None:
            return exact, token
        for key, (token, expires_at, granted) in list(self._tokens.items()):
            if key[0] == realm and key[1] == service and now < expires_at and covers(granted, scopes):
                return key, token
        return None

    def put(self, key: TokenKey, token: str, expires_at: float) -> None:
        scopes = tuple(Scope.parse(text) for text in sorted(key[2]))
        self._tokens.pop(key, None)
        while len(self._tokens) >= self.max_entries:
            # Bounded whatever a server does: drop the entry that expires first.
            del self._tokens[min(self._tokens, key=lambda k: self._tokens[k][1])]
        self._tokens[key] = (token, expires_at, scopes)

    def discard(self, key: TokenKey) -> None:
        """Forget a token the registry refused."""
        self._tokens.pop(key, None)

    def __len__(self) -> int:
        return len(self._tokens)


# --- where credentials may go --------------------------------------------------------

# Two-label public suffixes under which unrelated parties register names.  The
# standard library has no Public Suffix List, so these are refused as a "parent
# domain" by name; a registry at foo.example.co.uk still shares example.co.uk.
_SHARED_SECOND_LEVEL = frozenset(
    ["ac", "co", "com", "edu", "go", "gob", "gov", "govt", "int", "ltd", "mil", "ne", "net", "nic", "nom", "or", "org", "plc", "sch"]
)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def realm_trusted(registry: Origin, realm: Origin) -> bool:
    """Whether a token realm may receive the credentials meant for ``registry``.

    Yes when the realm is the registry's host, a subdomain of it, or shares its
    parent domain (``registry-1.docker.io`` -> ``auth.docker.io``,
    ``registry.gitlab.com`` -> ``gitlab.com``).  Any other host gets an anonymous
    token request: the realm is just text in a response header, and a registry (or
    anyone who can inject one answer) must not be able to have the user's password
    sent to a host of its choosing.  Public images still work, and a private one
    fails with :class:`~ocireg.Unauthorized` instead of leaking.

    An IP literal realm (loopback, private, link-local such as the cloud metadata
    service, unspecified) qualifies only as the registry's own host, as in
    go-containerregistry: another loopback address is another service, not the
    registry.  Unlike go-containerregistry the port may differ: a token server
    beside the registry on the same host (docker_auth's ``:5001``) is as trusted
    as the registry, which chooses the realm anyway.
    """
    host, other = registry.host, realm.host
    if other == host:
        return True
    if _is_ip(host) or _is_ip(other):
        return False
    if other.endswith("." + host):
        return True
    labels = host.split(".")
    parent = labels[1:]
    if len(parent) < 2 or (len(parent) == 2 and parent[0] in _SHARED_SECOND_LEVEL):
        return False  # "io", "co.uk": a public suffix, shared with strangers
    suffix = ".".join(parent)
    return other == suffix or other.endswith("." + suffix)


def _takes_repository(source: object) -> bool:
    """Whether a credential provider accepts the ``repository`` keyword."""
    if source is None or isinstance(source, Credentials) or not callable(source):
        return False
    import inspect  # costly to import; only a callable provider needs it

    try:
        parameters = inspect.signature(source).parameters.values()
    except (TypeError, ValueError):  # a builtin without a signature: host only
        return False
    return any(
        p.kind is p.VAR_KEYWORD
        or (p.name == "repository" and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD))
        for p in parameters
    )


def _credentials_safe(origin: Origin, insecure: bool) -> bool:
    """Credentials may travel to ``origin``: https, loopback, or declared insecure."""
    return origin.scheme == "https" or origin.is_loopback or insecure


def _basic(credentials: Credentials) -> str:
    raw = f"{credentials.username}:{credentials.password}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def _authorized(request: Request, authorization: str | None) -> Request:
    if authorization is None:
        return request
    return request.replace(headers=with_header(request.headers, "Authorization", authorization))


def _replayable(request: Request) -> bool:
    """A body that can be sent twice: none, bytes, or a re-iterable (not a one-shot iterator;
    a blob's chunks are read from their source once)."""
    body = request.body
    if body is None or isinstance(body, bytes | bytearray | memoryview):
        return True
    return not isinstance(body, BlobBody) and iter(body) is not body


def _challenges_of(response: Response) -> list[Challenge]:
    """Every well-formed challenge of a 401; a malformed line is skipped, not fatal.

    One unreadable line (a proxy's, a scheme we do not speak) must not hide a
    usable Bearer challenge on another.
    """
    found: list[Challenge] = []
    for value in header_values(response.headers, "WWW-Authenticate"):
        try:
            found.extend(parse_challenges(value))
        except ValueError:
            continue
    return found


def _pick(challenges: Sequence[Challenge]) -> Challenge | None:
    """Bearer over Basic; other schemes (Negotiate, ...) are not spoken."""
    for challenge in challenges:
        if challenge.scheme == "bearer":
            return challenge
    for challenge in challenges:
        if challenge.scheme == "basic":
            return challenge
    return None


def _challenge_scopes(challenge: Challenge) -> list[Scope]:
    found = []
    for text in challenge.scopes:
        try:
            found.append(Scope.parse(text))
        except InvalidArgument:
            continue  # a scope we cannot read is one we will not ask for
    return found


def _realm_origin(registry: Origin, realm: str) -> Origin:
    bad = AuthenticationError(f"{registry.host}: the token realm is not a plain http(s) URL")
    if any(c <= " " or c == "\x7f" for c in realm):
        raise bad
    try:
        parts = urllib.parse.urlsplit(realm)
        origin = Origin.of(realm)  # raises ValueError for a port out of range
    except ValueError:
        raise bad from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
        raise bad
    return origin


# --- token answers --------------------------------------------------------------------


@dataclass(frozen=True)
class _TokenAnswer:
    token: str = field(repr=False)
    expires_in: float | None
    issued_at: float | None
    refresh_token: str | None = field(repr=False)


def _secret(value: object) -> str | None:
    """A token-like string that can go into a header or a form: visible ASCII, no spaces."""
    if isinstance(value, str) and value and all("\x21" <= c <= "\x7e" for c in value):
        return value
    return None


def _issued_at(value: object) -> float | None:
    """RFC 3339 ``issued_at``; anything else (no offset, not a date) counts as absent."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment.timestamp() if moment.tzinfo is not None else None


def _expires_in(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    seconds = float(value)
    return seconds if math.isfinite(seconds) and seconds > 0 else None


def parse_token_answer(body: bytes, *, limit: int, where: str) -> _TokenAnswer:
    """A token server's JSON answer: ``token`` (or ``access_token``) and its lifetime."""
    data = parse_json_object(body, limit=limit, what=where, error=AuthenticationError)
    token = _secret(data.get("token")) or _secret(data.get("access_token"))
    if token is None:
        raise AuthenticationError(f"{where}: the answer holds no usable token")
    return _TokenAnswer(
        token=token,
        expires_in=_expires_in(data.get("expires_in")),
        issued_at=_issued_at(data.get("issued_at")),
        refresh_token=_secret(data.get("refresh_token")),
    )


# --- the authenticator ----------------------------------------------------------------


@dataclass(frozen=True)
class _Attached:
    """What went into the Authorization header of an attempt."""

    scheme: str  # "basic" or "bearer"
    header: str = field(repr=False)
    key: TokenKey | None = None  # the cache entry of a fetched token
    scopes: tuple[Scope, ...] = ()


class Authenticator:
    """The mutable authentication state for one registry origin, and the flow that uses it.

    Remembers the challenge last answered (so credentials go up front next time),
    the tokens obtained (:attr:`tokens`) and refresh tokens the token server handed
    out.  ``credentials`` is fixed credentials or a :class:`CredentialProvider`,
    asked once with ``host`` or ``host:port``.  They belong to ``origin``: a request
    to any other origin passes through untouched.  ``force_oauth`` obtains tokens
    with the OAuth2 password grant (the password goes to the token server once, a
    refresh token is used after) instead of a GET with Basic credentials.
    """

    def __init__(
        self,
        origin: Origin,
        credentials: Credentials | CredentialProvider | None = None,
        *,
        insecure: bool = False,
        client_id: str = "ocireg",
        token_limit: int = TOKEN_LIMIT,
        error_limit: int = ERROR_BODY_LIMIT,
        force_oauth: bool = False,
    ) -> None:
        self.origin = origin
        self.insecure = insecure
        self.client_id = client_id
        self.token_limit = token_limit
        self.error_limit = error_limit
        self.force_oauth = force_oauth
        self.tokens = TokenCache()
        self.token_requests = 0
        """Requests sent to token servers, for tests and benchmarks."""
        self._source = credentials
        self._per_repository = _takes_repository(credentials)
        self._credentials: dict[str | None, Credentials | None] = {}
        self._challenge: Challenge | None = None
        self._refresh_tokens: dict[tuple[str, str], str] = {}
        self._oauth_refused: set[str] = set()
        self._gates: dict[TokenKey, Gate] = {}

    def __repr__(self) -> str:
        return f"<Authenticator for {self.origin.host}:{self.origin.port}>"

    # --- state ------------------------------------------------------------------------

    def credentials(self, repository: str | None = None) -> Credentials | None:
        """The credentials for ``repository`` on this registry.

        A provider is asked once with ``host[:port]`` (and ``repository=`` when it
        takes one, then once per repository); the answer is kept.
        """
        key = repository if self._per_repository else None
        if key not in self._credentials:
            source = self._source
            if source is None or isinstance(source, Credentials):
                creds = source
            else:
                origin = self.origin
                default = 443 if origin.scheme == "https" else 80
                host = f"[{origin.host}]" if ":" in origin.host else origin.host
                host = host if origin.port == default else f"{host}:{origin.port}"
                creds = source(host, repository=key) if self._per_repository else source(host)  # type: ignore[call-arg]
            self._credentials[key] = None if creds is None or creds.is_empty else creds
        return self._credentials[key]

    @property
    def challenge(self) -> Challenge | None:
        """What the registry last asked for (scheme, realm, service), if anything."""
        return self._challenge

    def _remember(self, challenge: Challenge) -> None:
        kept = tuple((k, v) for k, v in challenge.params if k in ("realm", "service"))
        self._challenge = Challenge(challenge.scheme, kept)

    def _require_safe(self, origin: Origin, what: str) -> None:
        if not _credentials_safe(origin, self.insecure):
            raise InsecureRequestError(
                f"refusing to send {what} over plain HTTP to {origin.host}; "
                "use https, or declare the registry insecure"
            )

    # --- the flow ---------------------------------------------------------------------

    def send(
        self, request: Request, *, scopes: Sequence[Scope], now: float, transport_send: Send
    ) -> Flow[Response]:
        """Send ``request`` authenticated; on a 401 from the registry, authenticate and retry once.

        Returns the final response whatever its status: a 401 after the retry (wrong
        password, ``insufficient_scope``) is the caller's to raise as
        :class:`~ocireg.Unauthorized`; a 401 from another origin (after a redirect)
        is returned untouched, and a request to another origin is sent as it is.
        """
        if request.origin != self.origin:
            return (yield from transport_send(request))
        wanted = merge_scopes(scopes)
        # The repository the request is about comes first among its scopes (a mount
        # adds its source after): its credentials are the ones to use.
        creds = self.credentials(next((s.name for s in scopes if s.type == "repository"), None))
        attached = yield from self._up_front(creds, wanted, now, transport_send)
        response = yield from transport_send(_authorized(request, attached.header if attached else None))
        if response.status != 401 or response.request.origin != self.origin:
            return response
        challenge = _pick(_challenges_of(response))
        if challenge is None or not _replayable(request):
            return response
        if challenge.scheme == "basic":
            if creds is None or not creds.has_password or (attached and attached.scheme == "basic"):
                return response  # nothing to answer with, or the password was refused
            yield from close(response)
            self._require_safe(self.origin, "a password")
            self._remember(challenge)
            return (yield from transport_send(_authorized(request, _basic(creds))))

        if creds is not None and creds.registry_token:
            if attached is not None and attached.scheme == "bearer":
                return response  # the token as given was refused: nothing else to try
            yield from close(response)
            self._require_safe(self.origin, "a registry token")
            self._remember(challenge)
            return (yield from transport_send(_authorized(request, f"Bearer {creds.registry_token}")))
        if not challenge.realm:
            yield from close(response)
            raise AuthenticationError(f"{self.origin.host}: Bearer challenge without a realm")
        realm, service = challenge.realm, challenge.service or ""
        # The challenge's scope widens ours: pull to pull,push, or a mount's source repo.
        widened = merge_scopes((*wanted, *_challenge_scopes(challenge)))
        self._remember(challenge)
        if attached is not None and attached.key is not None and attached.key[:2] == (realm, service) \
                and covers(attached.scopes, widened):
            # A token for everything asked was refused (insufficient_scope for what it
            # does not grant): asking again would give the same.  It stays cached until
            # it expires, so one scope set costs one token request while it is valid.
            return response
        yield from close(response)
        _, token = yield from self._token(creds, realm, service, widened, now, transport_send)
        return (yield from transport_send(_authorized(request, f"Bearer {token}")))

    def _up_front(
        self, creds: Credentials | None, wanted: tuple[Scope, ...], now: float, send: Send
    ) -> Flow[_Attached | None]:
        """Authorization to attach before any 401, from what the registry asked for before."""
        challenge = self._challenge
        if challenge is None:
            return None
        if challenge.scheme == "basic":
            if creds is None or not creds.has_password:
                return None
            self._require_safe(self.origin, "a password")
            return _Attached("basic", _basic(creds))
        if creds is not None and creds.registry_token:
            self._require_safe(self.origin, "a registry token")
            return _Attached("bearer", f"Bearer {creds.registry_token}")
        realm, service = challenge.realm or "", challenge.service or ""
        key, token = yield from self._token(creds, realm, service, wanted, now, send)
        scopes = tuple(Scope.parse(text) for text in sorted(key[2]))
        return _Attached("bearer", f"Bearer {token}", key, scopes)

    # --- token requests -----------------------------------------------------------------

    def _token(
        self, creds: Credentials | None, realm: str, service: str, scopes: tuple[Scope, ...], now: float, send: Send
    ) -> Flow[tuple[TokenKey, str]]:
        """A cached token covering ``scopes``, else one fetched by one flow at a time.

        Flows running at once (the blobs of a pull) that need the same scopes wait
        at the scope set's gate; the first fetches, the others find its token cached.
        """
        found = self.tokens.find(realm, service, scopes, now)
        if found is not None:
            return found
        key = _key(realm, service, scopes)
        gate = self._gates.setdefault(key, Gate(f"token {realm}"))

        def fetch() -> Flow[tuple[TokenKey, str]]:
            cached = self.tokens.find(realm, service, scopes, now)  # fetched while this flow waited
            if cached is not None:
                return cached
            return key, (yield from self._fetch_token(creds, realm, service, scopes, now, send))

        return (yield from gated(gate, fetch()))

    def _fetch_token(
        self, creds: Credentials | None, realm: str, service: str, scopes: tuple[Scope, ...], now: float, send: Send
    ) -> Flow[str]:
        """Ask the token server for ``scopes``; cache and return the token."""
        registry = self.origin
        realm_origin = _realm_origin(registry, realm)
        if realm_origin.scheme == "http" and registry.scheme == "https" and not self.insecure:
            raise InsecureRequestError(f"{registry.host}: refusing a plain-HTTP token realm for an https registry")
        use = creds if creds is not None and (creds.has_password or creds.identity_token) else None
        if use is not None and not realm_trusted(registry, realm_origin):
            use = None  # a realm elsewhere gets an anonymous request (see realm_trusted)
        if use is not None:
            # The credentials would cross plain HTTP, or the token got with them would.
            self._require_safe(realm_origin, "credentials to the token server")
            self._require_safe(registry, "a token got with your credentials")
        refresh_key = (realm, service)
        refresh = (use.identity_token or self._refresh_tokens.get(refresh_key)) if use is not None else None
        answer: _TokenAnswer | None = None
        if use is not None and realm not in self._oauth_refused:
            form: list[tuple[str, str]] | None = None
            if refresh:
                form = [("grant_type", "refresh_token"), ("refresh_token", refresh)]
            elif self.force_oauth and use.has_password:
                form = [("grant_type", "password"), ("username", use.username or ""),
                        ("password", use.password or ""), ("access_type", "offline")]
            if form is not None:
                posted = yield from self._token_post(realm, service, scopes, form, send)
                if isinstance(posted, _TokenAnswer):
                    answer = posted
                else:
                    self._refresh_tokens.pop(refresh_key, None)
                    if posted in (404, 405):
                        self._oauth_refused.add(realm)  # no OAuth2 endpoint: GET from now on
                    elif posted in (401, 403) and not use.has_password:
                        # The refresh token itself was refused and there is no password
                        # to fall back on.
                        raise AuthenticationError(
                            f"token server {realm_origin.host} refused the credentials ({posted})"
                        )
        if answer is None:
            answer = yield from self._token_get(realm, service, scopes, use, send)
        if answer.refresh_token and use is not None:
            self._refresh_tokens[refresh_key] = answer.refresh_token
        self.tokens.put(_key(realm, service, scopes), answer.token, token_expiry(now, answer.expires_in, answer.issued_at))
        return answer.token

    def _token_post(
        self, realm: str, service: str, scopes: tuple[Scope, ...], grant: list[tuple[str, str]], send: Send
    ) -> Flow[_TokenAnswer | int]:
        """The OAuth2 form POST; a 4xx refusal is returned as its status (then GET is tried)."""
        form = [*grant, ("service", service), ("client_id", self.client_id)]
        if scopes:
            form.append(("scope", " ".join(str(s) for s in scopes)))  # RFC 6749: space-separated
        body = urllib.parse.urlencode(form, quote_via=urllib.parse.quote).encode()
        headers: Headers = (
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Content-Length", str(len(body))),
            ("Accept", "application/json"),
        )
        self.token_requests += 1
        response = yield from send(Request("POST", realm, headers, body))
        if 400 <= response.status < 500:
            # 404/405: no OAuth2 endpoint; 400/401/403: this grant (a stale refresh
            # token) is refused.  Either way the token spec's GET may still work.
            yield from close(response)
            return response.status
        return (yield from self._token_answer(response))

    def _token_get(
        self, realm: str, service: str, scopes: tuple[Scope, ...], creds: Credentials | None, send: Send
    ) -> Flow[_TokenAnswer]:
        """The token spec's GET: ``service`` and one ``scope`` per scope, Basic if we have a password."""
        query = [("service", service)] if service else []
        query += [("scope", str(s)) for s in scopes]
        headers: Headers = (("Accept", "application/json"),)
        if creds is not None and creds.has_password:
            # offline_token asks for a refresh token, so later tokens need no password.
            query += [("account", creds.username or ""), ("client_id", self.client_id),
                      ("offline_token", "true")]
            headers += (("Authorization", _basic(creds)),)
        self.token_requests += 1
        response = yield from send(Request("GET", add_query(realm, query), headers))
        return (yield from self._token_answer(response, creds.username if creds else None))

    def _token_answer(self, response: Response, user: str | None = None) -> Flow[_TokenAnswer]:
        where = f"token server {response.request.origin.host}"
        if response.status != 200:
            yield from close(response)
            # Never echo what was sent or the body: the request carried the credentials,
            # and some servers echo them back.  The user name is not a secret: say whose.
            if response.status in (401, 403):
                whose = f"credentials for {user}" if user else "the credentials"
                raise AuthenticationError(f"{where} refused {whose} ({response.status})")
            raise AuthenticationError(f"{where} answered {response.status} instead of a token")
        try:
            body = yield from read_body(response, self.token_limit)
        except ResponseTooLarge:
            raise AuthenticationError(f"{where}: answer larger than {self.token_limit} bytes") from None
        return parse_token_answer(body, limit=self.token_limit, where=where)
