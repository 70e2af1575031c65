"""The authentication flow over a scripted transport: challenges, tokens, the cache, credential scoping."""

from __future__ import annotations

import base64
import json
import urllib.parse
from collections.abc import Callable, Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ocireg._auth import (
    MIN_TOKEN_LIFETIME,
    Authenticator,
    Credentials,
    Scope,
    TokenCache,
    merge_scopes,
)
from ocireg._errors import (
    AuthenticationError,
    InsecureRequestError,
    InvalidArgument,
    RemoteError,
)
from ocireg._http import Origin, Request, Response
from ocireg._redirect import send_once
from ocireg._session import Limits, Session
from scripted import Reply, ScriptedTransport, ok_json, run

REGISTRY = "https://registry.example.com"
SAME_HOST_REALM = "https://registry.example.com/token"
PARENT_REALM = "https://auth.example.com/token"
FOREIGN_REALM = "https://auth.attacker.test/token"
MANIFEST = "/v2/library/alpine/manifests/latest"
PASSWORD = "s3cr3t-Passw0rd"
USER_CREDS = Credentials("alice", PASSWORD)
BASIC_VALUE = "Basic " + base64.b64encode(f"alice:{PASSWORD}".encode()).decode()

ALPINE = Scope.pull("library/alpine")


def bearer(realm: str, service: str = "registry.example.com", scope: str | None = None, error: str | None = None) -> tuple[str, str]:
    value = f'Bearer realm="{realm}",service="{service}"'
    if scope is not None:
        value += f',scope="{scope}"'
    if error is not None:
        value += f',error="{error}"'
    return ("WWW-Authenticate", value)


def unauthorized(*challenges: tuple[str, str]) -> Reply:
    body = b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}'
    return (401, (*challenges, ("Content-Type", "application/json")), body)


def token_answer(token: str, expires_in: int | None = 300, **extra: object) -> Reply:
    doc: dict[str, object] = {"token": token, **extra}
    if expires_in is not None:
        doc["expires_in"] = expires_in
    return ok_json(doc)


def query(request: Request) -> dict[str, list[str]]:
    return urllib.parse.parse_qs(urllib.parse.urlsplit(request.url).query)


def authz(request: Request) -> str | None:
    for name, value in request.headers:
        if name.lower() == "authorization":
            return value
    return None


class Registry:
    """A callable answer: a registry that wants a token from ``realm`` for what it serves.

    Token requests get a fresh token each; registry requests succeed with a token the
    realm issued, and get a 401 with the challenge otherwise.
    """

    def __init__(self, realm: str = SAME_HOST_REALM, service: str = "registry.example.com", expires_in: int = 300) -> None:
        self.realm = realm
        self.service = service
        self.expires_in = expires_in
        self.issued: list[str] = []
        self.token_requests: list[Request] = []

    def __call__(self, request: Request) -> Reply:
        if request.url.startswith(self.realm):
            self.token_requests.append(request)
            token = f"tok{len(self.issued)}"
            self.issued.append(token)
            return token_answer(token, self.expires_in)
        header = authz(request)
        if header is not None and header.removeprefix("Bearer ") in self.issued:
            return (200, (("Docker-Content-Digest", "sha256:" + "a" * 64),), b"{}")
        scope = request.url.split("/v2/", 1)[1].rsplit("/", 2)[0]
        return unauthorized(bearer(self.realm, self.service, f"repository:{scope}:pull"))


def session_for(answers: list[object] | Callable[[Request], Reply], base: str = REGISTRY, **kwargs: object) -> tuple[Session, ScriptedTransport]:
    script = [answers] * 200 if callable(answers) else answers
    return Session(base, **kwargs), ScriptedTransport(script)  # type: ignore[arg-type]


def get(session: Session, transport: ScriptedTransport, path: str = MANIFEST, *, scopes: tuple[Scope, ...] = (ALPINE,), now: float = 1000.0) -> Response:
    return run(session.send(session.request("GET", path), scopes=scopes, now=now), transport)


# --- values -------------------------------------------------------------------------


def test_scope_parse_and_render() -> None:
    scope = Scope.parse("repository:library/alpine:pull,push")
    assert scope == Scope("repository", "library/alpine", ("pull", "push"))
    assert str(scope) == "repository:library/alpine:pull,push"
    # A name may hold a colon (a registry with a port in a catalog scope); actions come last.
    assert Scope.parse("repository:localhost:5000/app:pull").name == "localhost:5000/app"
    assert Scope.parse("registry:catalog:*") == Scope("registry", "catalog", ("*",))
    assert Scope.push("a/b") == Scope("repository", "a/b", ("pull", "push"))


@pytest.mark.parametrize("text", ["", "repository", "repository:alpine", ":alpine:pull", "repository::pull"])
def test_scope_parse_refuses_malformed(text: str) -> None:
    with pytest.raises(InvalidArgument):
        Scope.parse(text)


def test_merge_scopes_unions_actions_and_sorts() -> None:
    merged = merge_scopes([Scope.pull("b/x"), Scope("repository", "a/y", ("push",)), Scope.push("b/x"), Scope.pull("a/y")])
    assert merged == (Scope("repository", "a/y", ("pull", "push")), Scope("repository", "b/x", ("pull", "push")))
    assert merge_scopes([]) == ()
    assert merge_scopes([Scope.pull("a"), Scope.pull("a")]) == (Scope.pull("a"),)


def test_token_cache_expires_at_the_given_time() -> None:
    cache = TokenCache()
    key = (SAME_HOST_REALM, "svc", frozenset({"repository:a:pull"}))
    cache.put(key, "t", 100.0)  # type: ignore[arg-type]
    assert cache.get(key, 99.9) == "t"  # type: ignore[arg-type]
    assert cache.get((SAME_HOST_REALM, "other", frozenset({"repository:a:pull"})), 0.0) is None  # type: ignore[arg-type]
    assert cache.get(key, 100.0) is None  # type: ignore[arg-type]
    assert len(cache) == 0


def test_credentials_repr_hides_secrets() -> None:
    creds = Credentials("alice", PASSWORD, identity_token="refresh-XYZ", registry_token="reg-ABC")
    text = repr(creds) + str(creds)
    assert "alice" in text
    for secret in (PASSWORD, "refresh-XYZ", "reg-ABC"):
        assert secret not in text


def test_request_repr_hides_authorization_and_userinfo() -> None:
    request = Request("GET", f"https://alice:{PASSWORD}@registry.example.com/v2/", (("Authorization", BASIC_VALUE),))
    assert PASSWORD not in repr(request) and BASIC_VALUE not in repr(request)
    assert "registry.example.com/v2/" in repr(request)


# --- the flow -------------------------------------------------------------------------


def test_anonymous_token_docker_hub() -> None:
    challenge = bearer("https://auth.docker.io/token", "registry.docker.io", "repository:library/alpine:pull")
    session, transport = session_for([unauthorized(challenge), token_answer("anon-token"), ok_json({})], "https://registry-1.docker.io")
    response = get(session, transport)
    assert response.status == 200
    first, token_request, retry = transport.requests
    assert authz(first) is None
    assert token_request.url.startswith("https://auth.docker.io/token?")
    assert query(token_request) == {"service": ["registry.docker.io"], "scope": ["repository:library/alpine:pull"]}
    assert authz(token_request) is None  # no credentials: an anonymous token
    assert authz(retry) == "Bearer anon-token"
    assert retry.url == first.url
    assert transport.responses[0].stream.closed and transport.responses[1].stream.closed
    assert not transport.responses[2].stream.closed  # the caller's to read
    assert session.auth.token_requests == 1


def test_basic_challenge_answered_then_sent_up_front() -> None:
    session, transport = session_for([unauthorized(("WWW-Authenticate", 'Basic realm="Registry Realm"')), ok_json({}), ok_json({})], credentials=USER_CREDS)
    assert get(session, transport).status == 200
    assert get(session, transport).status == 200
    first, retry, second = transport.requests
    assert authz(first) is None
    assert authz(retry) == BASIC_VALUE
    assert authz(second) == BASIC_VALUE  # remembered: no second 401
    assert session.auth.token_requests == 0


def test_basic_challenge_without_credentials_returns_the_401() -> None:
    session, transport = session_for([unauthorized(("WWW-Authenticate", 'Basic realm="Registry Realm"'))])
    response = get(session, transport)
    assert response.status == 401
    assert len(transport.requests) == 1


def test_bearer_prefers_bearer_over_basic_and_negotiate() -> None:
    header = ("WWW-Authenticate", 'Negotiate abc==, Basic realm="Registry Realm", ' + bearer(SAME_HOST_REALM)[1])
    session, transport = session_for([unauthorized(header), token_answer("t"), ok_json({})], credentials=USER_CREDS)
    assert get(session, transport).status == 200
    assert authz(transport.requests[2]) == "Bearer t"


@pytest.mark.parametrize("realm", [SAME_HOST_REALM, PARENT_REALM])
def test_bearer_get_sends_basic_to_a_trusted_realm_with_one_scope_param_each(realm: str) -> None:
    mount = bearer(realm, "registry.example.com", "repository:org/target:pull,push repository:org/source:pull")
    session, transport = session_for([unauthorized(mount), token_answer("t"), (201, (), b"")], credentials=USER_CREDS)
    request = session.request("POST", "/v2/org/target/blobs/uploads/", query=[("mount", "sha256:" + "b" * 64), ("from", "org/source")])
    response = run(session.send(request, scopes=[Scope.push("org/target")], now=0.0), transport)
    assert response.status == 201
    token_request = transport.requests[1]
    params = query(token_request)
    assert params["service"] == ["registry.example.com"]
    assert params["scope"] == ["repository:org/source:pull", "repository:org/target:pull,push"]
    assert params["account"] == ["alice"]
    assert authz(token_request) == BASIC_VALUE


def test_realm_on_an_unrelated_host_gets_no_credentials() -> None:
    for creds in (USER_CREDS, Credentials("alice", PASSWORD, identity_token="refresh-XYZ")):
        session, transport = session_for([unauthorized(bearer(FOREIGN_REALM, scope="repository:library/alpine:pull")), token_answer("t"), ok_json({})], credentials=creds)
        assert get(session, transport).status == 200
        token_request = transport.requests[1]
        assert token_request.method == "GET"  # no refresh-token POST either
        assert token_request.url.startswith(FOREIGN_REALM)
        assert authz(token_request) is None
        assert "account" not in query(token_request)
        assert "alice" not in token_request.url and PASSWORD not in token_request.url


def test_lookalike_suffix_is_not_the_parent_domain() -> None:
    # "evilexample.com" ends with "example.com" but is not under it.
    session, transport = session_for([unauthorized(bearer("https://auth.evilexample.com/token")), token_answer("t"), ok_json({})], credentials=USER_CREDS)
    assert get(session, transport).status == 200
    assert authz(transport.requests[1]) is None


def test_ip_registry_shares_no_parent_domain() -> None:
    session, transport = session_for([unauthorized(bearer("https://10.0.0.6/token")), token_answer("t"), ok_json({})], "https://10.0.0.5", credentials=USER_CREDS)
    assert get(session, transport).status == 200
    assert authz(transport.requests[1]) is None


def test_cached_token_reused_across_twenty_requests() -> None:
    registry = Registry()
    session, transport = session_for(registry, credentials=USER_CREDS)
    for i in range(20):
        assert get(session, transport, now=1000.0 + i).status == 200
    assert len(registry.token_requests) == 1
    assert session.auth.token_requests == 1
    assert len(transport.requests) == 2 + 20  # one 401 and one token request, then only the 20
    assert [r.status for r in transport.responses].count(401) == 1
    assert all(authz(r) == "Bearer tok0" for r in transport.requests[2:])


def test_token_renewed_after_expiry_without_a_401() -> None:
    registry = Registry(expires_in=300)
    session, transport = session_for(registry)
    get(session, transport, now=1000.0)
    get(session, transport, now=1200.0)
    assert len(registry.token_requests) == 1
    get(session, transport, now=1000.0 + 300)
    assert len(registry.token_requests) == 2
    assert authz(transport.requests[-1]) == "Bearer tok1"
    assert [r.status for r in transport.responses].count(401) == 1  # the renewal went up front


def test_token_without_expires_in_lives_the_spec_minimum() -> None:
    session, transport = session_for([unauthorized(bearer(SAME_HOST_REALM, scope="repository:library/alpine:pull")), token_answer("t", None), ok_json({}), ok_json({}), token_answer("t2", None), ok_json({})])
    get(session, transport, now=0.0)
    get(session, transport, now=MIN_TOKEN_LIFETIME - 11.0)
    assert session.auth.token_requests == 1
    get(session, transport, now=float(MIN_TOKEN_LIFETIME))
    assert session.auth.token_requests == 2
    assert authz(transport.requests[-1]) == "Bearer t2"


def test_future_issued_at_does_not_extend_a_token() -> None:
    answer = token_answer("t", 300, issued_at="2999-01-01T00:00:00Z")
    session, transport = session_for([unauthorized(bearer(SAME_HOST_REALM, scope="repository:library/alpine:pull")), answer, ok_json({}), token_answer("t2"), ok_json({})])
    get(session, transport, now=1000.0)
    get(session, transport, now=1300.0)
    assert session.auth.token_requests == 2


def test_insufficient_scope_widens_once_and_returns_the_second_401() -> None:
    push_needed = bearer(SAME_HOST_REALM, scope="repository:team/app:pull,push", error="insufficient_scope")
    session, transport = session_for(
        [
            unauthorized(bearer(SAME_HOST_REALM, scope="repository:team/app:pull")),
            token_answer("pull-token"),
            ok_json({}),
            unauthorized(push_needed),
            token_answer("push-token"),
            unauthorized(push_needed),
        ],
        credentials=USER_CREDS,
    )
    assert get(session, transport, "/v2/team/app/tags/list", scopes=(Scope.pull("team/app"),)).status == 200
    request = session.request("POST", "/v2/team/app/blobs/uploads/", body=b"")
    response = run(session.send(request, scopes=[Scope.pull("team/app")], now=1001.0), transport)
    assert response.status == 401  # the caller's to raise as Unauthorized: no loop
    assert transport.remaining == 0
    widened = transport.requests[4]
    assert query(widened)["scope"] == ["repository:team/app:pull,push"]
    assert authz(transport.requests[5]) == "Bearer push-token"
    assert authz(transport.requests[3]) == "Bearer pull-token"


def test_refresh_token_post_falls_back_to_get_on_404() -> None:
    creds = Credentials(identity_token="refresh-XYZ")
    session, transport = session_for(
        [unauthorized(bearer(PARENT_REALM, scope="repository:library/alpine:pull")), (404, (), b"404 page not found"), token_answer("t"), ok_json({})],
        credentials=creds,
    )
    assert get(session, transport).status == 200
    _, post, fallback, retry = transport.requests
    assert post.method == "POST" and post.url == PARENT_REALM
    form = urllib.parse.parse_qs(transport.bodies[1].decode())  # type: ignore[union-attr]
    assert form == {
        "grant_type": ["refresh_token"],
        "refresh_token": ["refresh-XYZ"],
        "service": ["registry.example.com"],
        "client_id": ["ocireg"],
        "scope": ["repository:library/alpine:pull"],
    }
    assert ("Content-Type", "application/x-www-form-urlencoded") in post.headers
    assert fallback.method == "GET" and authz(fallback) is None
    assert authz(retry) == "Bearer t"
    assert transport.responses[1].stream.closed


def test_refresh_token_from_an_answer_is_used_by_post_next_time() -> None:
    session, transport = session_for(
        [
            unauthorized(bearer(SAME_HOST_REALM, scope="repository:library/alpine:pull")),
            token_answer("t1", 300, refresh_token="r2"),
            ok_json({}),
            ok_json({"access_token": "t2", "expires_in": 300}),
            ok_json({}),
        ],
        credentials=USER_CREDS,
    )
    get(session, transport, now=0.0)
    get(session, transport, now=1000.0)
    post = transport.requests[3]
    assert post.method == "POST"
    assert urllib.parse.parse_qs(transport.bodies[3].decode())["refresh_token"] == ["r2"]  # type: ignore[union-attr]
    assert authz(transport.requests[4]) == "Bearer t2"


def test_registry_token_used_directly() -> None:
    registry = Registry(PARENT_REALM)
    registry.issued.append("reg-ABC")  # the registry accepts the token the user holds
    session, transport = session_for(registry, credentials=Credentials(registry_token="reg-ABC"))
    for _ in range(3):
        assert get(session, transport).status == 200
    assert registry.token_requests == [] and session.auth.token_requests == 0
    assert [r.status for r in transport.responses].count(401) <= 1
    assert all(authz(r) in (None, "Bearer reg-ABC") for r in transport.requests)
    assert authz(transport.requests[-1]) == "Bearer reg-ABC"


def test_http_realm_for_https_registry_is_refused() -> None:
    session, transport = session_for([unauthorized(bearer("http://registry.example.com/token"))], credentials=USER_CREDS)
    with pytest.raises(InsecureRequestError) as info:
        get(session, transport)
    assert len(transport.requests) == 1
    assert PASSWORD not in str(info.value)


@pytest.mark.parametrize("realm", ["file:///etc/passwd", "ftp://registry.example.com/token", "https://alice@registry.example.com/token"])
def test_odd_realm_gets_nothing(realm: str) -> None:
    session, transport = session_for([unauthorized(bearer(realm)), token_answer("t"), ok_json({})], credentials=USER_CREDS)
    with pytest.raises(RemoteError) as info:
        get(session, transport)
    assert len(transport.requests) == 1  # nothing is sent to it
    assert PASSWORD not in str(info.value)


def test_bearer_without_realm_is_an_authentication_error() -> None:
    session, transport = session_for([unauthorized(("WWW-Authenticate", 'Bearer service="registry.example.com"'))], credentials=USER_CREDS)
    with pytest.raises(AuthenticationError):
        get(session, transport)
    assert len(transport.requests) == 1


def test_basic_over_plain_http_refused_before_credentials_are_sent() -> None:
    session, transport = session_for([unauthorized(("WWW-Authenticate", 'Basic realm="Registry Realm"'))], "http://registry.internal:5000", credentials=USER_CREDS)
    with pytest.raises(InsecureRequestError) as info:
        get(session, transport)
    assert [authz(r) for r in transport.requests] == [None]
    assert PASSWORD not in str(info.value) and "alice" not in str(info.value)


def test_password_never_goes_to_a_plain_http_token_realm() -> None:
    base = "http://registry.internal:5000"
    session, transport = session_for([unauthorized(bearer(base + "/token")), token_answer("t"), ok_json({})], base, credentials=USER_CREDS)
    with pytest.raises(InsecureRequestError) as info:
        get(session, transport)
    assert [authz(r) for r in transport.requests] == [None]  # refused before the token request
    assert PASSWORD not in str(info.value)


@pytest.mark.parametrize(
    ("base", "insecure"),
    [("http://registry.internal:5000", True), ("http://127.0.0.1:5000", False), ("http://localhost:5000", False), ("http://[::1]:5000", False)],
)
def test_basic_over_plain_http_allowed_when_insecure_or_loopback(base: str, insecure: bool) -> None:
    session, transport = session_for([unauthorized(("WWW-Authenticate", 'Basic realm="Registry Realm"')), ok_json({})], base, credentials=USER_CREDS, insecure=insecure)
    assert get(session, transport).status == 200
    assert authz(transport.requests[1]) == BASIC_VALUE


def test_anonymous_token_over_plain_http_is_fine() -> None:
    base = "http://registry.internal:5000"
    session, transport = session_for([unauthorized(bearer(base + "/token")), token_answer("t"), ok_json({})], base)
    assert get(session, transport).status == 200


def test_401_from_another_origin_is_returned_untouched() -> None:
    storage = "https://storage.example.net/blobs/abc?sig=1"
    session, transport = session_for(
        [(307, (("Location", storage),), b""), unauthorized(bearer("https://storage.example.net/token"))],
        credentials=USER_CREDS,
    )
    response = get(session, transport, "/v2/library/alpine/blobs/sha256:" + "c" * 64)
    assert response.status == 401
    assert response.request.url == storage
    assert not response.stream.closed
    assert len(transport.requests) == 2
    assert session.auth.token_requests == 0


def test_request_to_another_origin_never_gets_the_cached_token() -> None:
    registry = Registry()
    session, transport = session_for(registry, credentials=USER_CREDS)
    get(session, transport)
    foreign = Request("GET", "https://uploads.example.net/v2/library/alpine/blobs/uploads/1")
    transport_answers = ScriptedTransport([unauthorized(bearer(SAME_HOST_REALM))])
    response = run(session.send(foreign, scopes=[ALPINE], now=1001.0), transport_answers)
    assert response.status == 401
    assert [authz(r) for r in transport_answers.requests] == [None]


def test_streamed_body_is_not_replayed_after_401() -> None:
    session, transport = session_for([unauthorized(bearer(SAME_HOST_REALM))])
    request = session.request("PUT", "/v2/a/blobs/uploads/1", body=iter([b"chunk"]), headers=(("Content-Length", "5"),))
    response = run(session.send(request, scopes=[Scope.push("a")], now=0.0), transport)
    assert response.status == 401
    assert len(transport.requests) == 1


def test_credential_provider_is_asked_with_host_and_port() -> None:
    asked: list[str] = []

    def provider(host: str) -> Credentials | None:
        asked.append(host)
        return USER_CREDS

    session, transport = session_for([unauthorized(("WWW-Authenticate", 'Basic realm="r"')), ok_json({})], "https://registry.example.com:5443", credentials=provider)
    assert get(session, transport).status == 200
    assert asked and set(asked) == {"registry.example.com:5443"}
    assert authz(transport.requests[1]) == BASIC_VALUE
    session, transport = session_for([unauthorized(("WWW-Authenticate", 'Basic realm="r"')), ok_json({})], REGISTRY, credentials=provider)
    get(session, transport)
    assert asked[-1] == "registry.example.com"


# --- bad token answers ----------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        (200, (), b'{"token": "' + b"x" * 200 + b'"}'),
        ok_json({"expires_in": 300}),
        ok_json({"token": ""}),
        ok_json({"token": 42}),
        ok_json({"token": "a b"}),
        ok_json({"token": "a\r\nX-Injected: 1"}),
        (200, (), b'{"token": "t",'),
        (200, (), b'{"token": "a", "token": "b"}'),
        (200, (), b"\xff\xfe"),
        ok_json(["token"]),
        (401, (), b'{"details":"incorrect username or password"}'),
        (403, (), b""),
    ],
)
def test_bad_token_answer_is_an_authentication_error(answer: Reply) -> None:
    session, transport = session_for([unauthorized(bearer(SAME_HOST_REALM)), answer], credentials=USER_CREDS, limits=Limits(token=128))
    with pytest.raises(AuthenticationError) as info:
        get(session, transport)
    text = str(info.value) + repr(info.value) + repr(info.value.args)
    for secret in (PASSWORD, BASIC_VALUE.split()[1]):
        assert secret not in text
    # A refusal names whose credentials were refused (never the secret); nothing else does.
    assert ("alice" in text) == ("refused credentials for alice" in text)
    assert transport.all_closed


def test_token_server_failure_is_a_remote_error() -> None:
    session, transport = session_for([unauthorized(bearer(SAME_HOST_REALM)), (500, (), b"oops")], credentials=USER_CREDS)
    with pytest.raises(RemoteError) as info:
        get(session, transport)
    assert PASSWORD not in str(info.value) and BASIC_VALUE.split()[1] not in str(info.value)
    assert len(transport.requests) == 2


def test_a_provider_taking_repository_is_asked_per_repository() -> None:
    asked: list[tuple[str, str | None]] = []

    def provider(host: str, /, repository: str | None = None) -> Credentials | None:
        asked.append((host, repository))
        return Credentials("robot-" + (repository or "all").replace("/", "-"), PASSWORD)

    basic = [(401, (("WWW-Authenticate", 'Basic realm="r"'),), b""), ok_json({})] * 4
    session, transport = session_for(basic, credentials=provider)
    get(session, transport, "/v2/team/a/manifests/1", scopes=(Scope.pull("team/a"),))
    get(session, transport, "/v2/team/b/manifests/1", scopes=(Scope.push("team/b"), Scope.pull("team/a")))
    get(session, transport, "/v2/team/a/manifests/2", scopes=(Scope.pull("team/a"),))
    assert asked == [("registry.example.com", "team/a"), ("registry.example.com", "team/b")]
    users = [base64.b64decode(v.split()[1]).decode().split(":")[0]
             for v in (authz(r) for r in transport.requests) if v]  # fmt: skip
    assert users[:2] == ["robot-team-a", "robot-team-b"]
    assert set(users) == {"robot-team-a", "robot-team-b"}


def test_a_provider_taking_the_host_alone_is_asked_once() -> None:
    asked: list[str] = []

    def provider(host: str) -> Credentials | None:
        asked.append(host)
        return USER_CREDS

    basic = [(401, (("WWW-Authenticate", 'Basic realm="r"'),), b""), ok_json({})] + [ok_json({})] * 3
    session, transport = session_for(basic, credentials=provider)
    for repo in ("team/a", "team/b"):
        get(session, transport, f"/v2/{repo}/manifests/1", scopes=(Scope.pull(repo),))
    assert asked == ["registry.example.com"]


def test_errors_and_reprs_never_carry_credentials() -> None:
    secrets = (PASSWORD, BASIC_VALUE.split()[1], "refresh-XYZ", "reg-ABC")
    creds = Credentials("alice", PASSWORD, identity_token="refresh-XYZ", registry_token="reg-ABC")
    session = Session(REGISTRY, credentials=creds)
    texts = [repr(session), repr(session.auth.credentials()), repr(session.request("GET", MANIFEST))]
    for base in (f"https://alice:{PASSWORD}@registry.example.com", "ftp://registry.example.com"):
        with pytest.raises(InvalidArgument) as info:
            Session(base)
        texts.append(str(info.value))
    for text in texts:
        for secret in secrets:
            assert secret not in text, text


# --- property: credential scoping, no loops, one token per scope set -------------------

_REALMS = {
    "same": SAME_HOST_REALM,
    "parent": PARENT_REALM,
    "foreign": FOREIGN_REALM,
}
_REPOS = ("library/alpine", "team/app", "org/source")
_registry_answers = st.one_of(
    st.just(("ok",)),
    st.tuples(st.just("bearer"), st.sampled_from(sorted(_REALMS)), st.sampled_from(_REPOS), st.sampled_from(["pull", "pull,push"]), st.booleans()),
    st.just(("basic",)),
)
_token_answers = st.one_of(
    st.tuples(st.just("token"), st.sampled_from([None, 0, 30, 300, 3600]), st.booleans()),
    st.just(("refused",)),
    st.just(("not-found",)),
)
_credentials = st.sampled_from(
    [
        None,
        USER_CREDS,
        Credentials("alice", PASSWORD, identity_token="refresh-XYZ"),
        Credentials(identity_token="refresh-XYZ"),
    ]
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    registry_script=st.lists(_registry_answers, max_size=30),
    token_script=st.lists(_token_answers, max_size=15),
    calls=st.lists(st.tuples(st.sampled_from(_REPOS), st.booleans(), st.integers(0, 400)), min_size=1, max_size=12),
    creds=_credentials,
)
def test_auth_flow_property(
    registry_script: list[tuple[object, ...]],
    token_script: list[tuple[object, ...]],
    calls: list[tuple[str, bool, int]],
    creds: Credentials | None,
) -> None:
    registry_answers: Iterator[tuple[object, ...]] = iter(registry_script)
    token_answers: Iterator[tuple[object, ...]] = iter(token_script)
    clock = {"now": 1000.0}
    # (realm, service, scopes) -> time until which a token issued for it is still valid
    valid_until: dict[tuple[str, str, tuple[str, ...]], float] = {}
    registry_origin = Origin.of(REGISTRY)
    trusted_realm_origins = {Origin.of(SAME_HOST_REALM), Origin.of(PARENT_REALM)}
    secrets = (PASSWORD, BASIC_VALUE.split()[1], "refresh-XYZ")
    issued = [0]
    token_keys: dict[str, tuple[str, str, tuple[str, ...]]] = {}

    def answer(request: Request) -> Reply:
        origin = request.origin
        header = authz(request) or ""
        sent = request.url + header + repr(request.headers)
        if origin not in {registry_origin, *trusted_realm_origins}:
            assert header == "", f"credentials to {origin}"
            assert not any(s in sent for s in secrets)
        if origin != registry_origin:
            assert not header.startswith("Bearer"), "a registry token left the registry"
        if origin == registry_origin and not request.url.startswith(SAME_HOST_REALM):
            kind = next(registry_answers, ("ok",))
            if kind[0] != "ok" and header.removeprefix("Bearer ") in token_keys:
                # The registry refused this token: it is no longer valid, a new one may be fetched.
                valid_until.pop(token_keys[header.removeprefix("Bearer ")], None)
            if kind[0] == "ok":
                return ok_json({})
            if kind[0] == "basic":
                return unauthorized(("WWW-Authenticate", 'Basic realm="Registry Realm"'))
            _, realm, repo, actions, insufficient = kind
            return unauthorized(bearer(_REALMS[str(realm)], scope=f"repository:{repo}:{actions}", error="insufficient_scope" if insufficient else None))
        # A token request (GET with query, or the OAuth2 POST).
        if request.method == "POST":
            form = urllib.parse.parse_qs(bytes(request.body).decode())  # type: ignore[arg-type]
            service, scopes = form.get("service", [""])[0], tuple(form.get("scope", [""])[0].split())
            # The user's refresh token goes to trusted realms; one a realm issued, only back to it.
            allowed = {f"refresh-from-{origin.host}"}
            if origin in trusted_realm_origins:
                allowed.add("refresh-XYZ")
            assert form["refresh_token"][0] in allowed
        else:
            params = query(request)
            service, scopes = params.get("service", [""])[0], tuple(params.get("scope", []))
        realm = request.url.split("?", 1)[0]
        key = (realm, service, scopes)
        assert clock["now"] >= valid_until.get(key, float("-inf")), f"token fetched again while valid: {key}"
        kind = next(token_answers, ("token", 300, False))
        if kind[0] == "refused":
            return (401, (), b'{"details":"denied"}')
        if kind[0] == "not-found":
            return (404, (), b"")
        _, expires_in, with_refresh = kind
        issued[0] += 1
        lifetime = max(int(expires_in or 0), MIN_TOKEN_LIFETIME)  # type: ignore[call-overload]
        valid_until[key] = clock["now"] + lifetime - 10
        doc: dict[str, object] = {"token": f"tok{issued[0]}"}
        token_keys[f"tok{issued[0]}"] = key
        if expires_in is not None:
            doc["expires_in"] = expires_in
        if with_refresh:
            doc["refresh_token"] = f"refresh-from-{origin.host}"
        return (200, (("Content-Type", "application/json"),), json.dumps(doc).encode())

    session = Session(REGISTRY, credentials=creds)
    transport = ScriptedTransport([answer] * 1000)
    returned: list[Response] = []
    for repo, push, step in calls:
        clock["now"] += step
        before = len(transport.requests)
        scopes = [Scope.push(repo) if push else Scope.pull(repo)]
        request = session.request("GET", f"/v2/{repo}/manifests/latest")
        try:
            response = run(session.send(request, scopes=scopes, now=clock["now"]), transport)
        except RemoteError:
            pass  # a token server that refused or failed: typed, and nothing leaked
        else:
            assert response.status in (200, 401)
            returned.append(response)
        # Up front: a POST and a GET for a token; the request; a POST and a GET; the retry.
        assert len(transport.requests) - before <= 6
    # Everything not handed back to the caller was released.
    assert all(r.stream.closed for r in transport.responses if not any(r is x for x in returned))


def test_property_helper_registry_serves_tokens_it_issued() -> None:
    # The Registry helper above must really refuse unknown tokens, or tests using it prove nothing.
    registry = Registry()
    assert registry(Request("GET", REGISTRY + MANIFEST, (("Authorization", "Bearer forged"),)))[0] == 401
    registry(Request("GET", SAME_HOST_REALM + "?scope=x"))
    assert registry(Request("GET", REGISTRY + MANIFEST, (("Authorization", "Bearer tok0"),)))[0] == 200


def test_authenticator_send_directly_with_send_once() -> None:
    auth = Session(REGISTRY, credentials=USER_CREDS).auth
    assert isinstance(auth, Authenticator)
    transport = ScriptedTransport([unauthorized(bearer(PARENT_REALM)), token_answer("t"), ok_json({}), ok_json({})])
    for now in (0.0, 1.0):
        flow = auth.send(Request("GET", REGISTRY + MANIFEST), scopes=[ALPINE], now=now, transport_send=send_once)
        assert run(flow, transport).status == 200
    assert auth.token_requests == 1
    assert [authz(r) for r in transport.requests] == [None, BASIC_VALUE, "Bearer t", "Bearer t"]
