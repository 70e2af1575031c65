"""Credential policy, token lifetimes, the cache and OAuth2 paths; the main flow is in test_auth_flow.py."""

from __future__ import annotations

import itertools
import urllib.parse

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ocireg._auth import (
    MIN_TOKEN_LIFETIME,
    Authenticator,
    Credentials,
    Scope,
    TokenCache,
    covers,
    merge_scopes,
    realm_trusted,
    token_expiry,
)
from ocireg._errors import AuthenticationError, InvalidArgument
from ocireg._http import Origin, Request
from ocireg._redirect import send_once
from scripted import Reply, ScriptedTransport, ok_json, run

REGISTRY = Origin.of("https://registry.example.com")
REALM = "https://registry.example.com/token"
CHALLENGE = f'Bearer realm="{REALM}",service="registry.example.com",scope="repository:team/app:pull"'
USER = Credentials("alice", "s3cr3t-Passw0rd")


def unauthorized(value: str = CHALLENGE) -> Reply:
    return (401, (("WWW-Authenticate", value),), b"")


def authz(request: Request) -> str | None:
    return next((v for k, v in request.headers if k.lower() == "authorization"), None)


def send(auth: Authenticator, transport: ScriptedTransport, now: float = 1000.0, scope: Scope | None = None) -> int:
    request = Request("GET", "https://registry.example.com/v2/team/app/manifests/latest")
    flow = auth.send(request, scopes=[scope or Scope.pull("team/app")], now=now, transport_send=send_once)
    return run(flow, transport).status


# --- where credentials may go ---------------------------------------------------------


@pytest.mark.parametrize(
    ("registry", "realm", "trusted"),
    [
        ("https://registry-1.docker.io", "https://auth.docker.io/token", True),
        ("https://docker.io", "https://auth.docker.io/token", True),
        ("https://registry.gitlab.com", "https://gitlab.com/jwt/auth", True),
        ("https://ghcr.io", "https://ghcr.io/token", True),
        ("https://ghcr.io", "https://evil.io/token", False),  # "io" is not a shared parent
        ("https://registry.example.co.uk", "https://attacker.co.uk/token", False),
        ("https://registry.example.co.uk", "https://auth.example.co.uk/token", True),
        ("https://registry.example.com", "https://auth.evilexample.com/token", False),
        ("https://registry.example.com", "https://example.com.attacker.test/token", False),
        ("https://10.0.0.5", "https://10.0.0.6/token", False),
        ("http://127.0.0.1:5000", "http://127.0.0.1:5001/token", True),  # beside the registry
        ("http://127.0.0.1:5000", "http://127.0.0.2:5001/token", False),  # another loopback address
        ("http://127.0.0.1:5000", "http://localhost:5001/token", False),
        ("http://localhost:5000", "http://127.0.0.1/token", False),
        ("https://10.0.0.5:5000", "https://10.0.0.5/token", True),
        ("https://registry.example.com", "http://169.254.169.254/latest/meta-data", False),
        ("https://registry.example.com", "https://[fd00:ec2::254]/token", False),
        ("https://registry.example.com", "https://0.0.0.0/token", False),
        ("https://registry.example.com", "https://127.0.0.1/token", False),
    ],
)
def test_realm_trusted(registry: str, realm: str, trusted: bool) -> None:
    assert realm_trusted(Origin.of(registry), Origin.of(realm)) is trusted


@pytest.mark.parametrize(
    "build",
    [
        lambda: Credentials("al:ice", "SECRET-1"),  # RFC 7617: no colon in a user-id
        lambda: Credentials("alice", "SECRET-2\r\n"),
        lambda: Credentials(identity_token="SECRET 3"),
        lambda: Credentials(registry_token="SECRET-4\n"),
    ],
)
def test_credentials_that_cannot_be_sent_are_refused_without_echo(build: object) -> None:
    with pytest.raises(InvalidArgument) as info:
        build()  # type: ignore[operator]
    assert "SECRET" not in str(info.value) and "al:ice" not in str(info.value)


# --- lifetimes and the cache ----------------------------------------------------------


def test_token_expiry() -> None:
    assert token_expiry(1000.0, 300, None) == 1000.0 + 300 - 10
    assert token_expiry(1000.0, None, None) == 1000.0 + MIN_TOKEN_LIFETIME - 6  # margin is at most 10%
    assert token_expiry(1000.0, 5, None) == token_expiry(1000.0, None, None)  # never under the minimum
    assert token_expiry(1000.0, 300, 990.0) == 990.0 + 290  # issued a moment ago: count from then
    assert token_expiry(1000.0, 300, 5000.0) == 1290.0  # a future issue time is not believed
    assert token_expiry(1000.0, 300, 100.0) == 1290.0  # nor one that would be born expired
    assert token_expiry(0.0, 1e12, None) < 8 * 24 * 3600  # clamped


def test_covers_and_merge() -> None:
    push = merge_scopes([Scope.pull("a"), Scope("repository", "a", ("push",))])
    assert push == (Scope.push("a"),)
    assert covers(push, [Scope.pull("a")])
    assert not covers([Scope.pull("a")], push)
    assert covers([Scope("registry", "catalog", ("*",))], [Scope("registry", "catalog", ("*",))])
    assert covers([Scope("repository", "a", ("*",))], [Scope.push("a")])
    assert not covers(push, [Scope.pull("b")])
    assert Scope("repository", "a", ("push", "pull", "push")).actions == ("pull", "push")


def test_cache_finds_a_covering_token_and_stays_bounded() -> None:
    cache = TokenCache(max_entries=3)
    push_key = (REALM, "svc", frozenset({"repository:a:pull,push"}))
    cache.put(push_key, "push-token", 100.0)
    assert cache.find(REALM, "svc", [Scope.pull("a")], 50.0) == (push_key, "push-token")
    assert cache.find(REALM, "other-svc", [Scope.pull("a")], 50.0) is None
    assert cache.find(REALM, "svc", [Scope.pull("a")], 100.0) is None
    for i in range(5):
        cache.put((REALM, "svc", frozenset({f"repository:r{i}:pull"})), f"t{i}", 200.0 + i)
    assert len(cache) == 3
    assert cache.get((REALM, "svc", frozenset({"repository:r4:pull"})), 0.0) == "t4"


# --- OAuth2 paths -----------------------------------------------------------------------


def test_force_oauth_sends_the_password_once_then_uses_the_refresh_token() -> None:
    auth = Authenticator(REGISTRY, USER, force_oauth=True)
    transport = ScriptedTransport([
        unauthorized(), ok_json({"access_token": "t1", "expires_in": 60, "refresh_token": "r1"}), ok_json({}),
        ok_json({"access_token": "t2", "expires_in": 60}), ok_json({}),
    ])
    assert send(auth, transport, now=0.0) == 200
    assert send(auth, transport, now=500.0) == 200  # expired: renewed up front
    first, second = (urllib.parse.parse_qs((b or b"").decode()) for b in (transport.bodies[1], transport.bodies[3]))
    assert first["grant_type"] == ["password"] and first["username"] == ["alice"] and first["access_type"] == ["offline"]
    assert second["grant_type"] == ["refresh_token"] and second["refresh_token"] == ["r1"]
    assert "password" not in second
    assert authz(transport.requests[4]) == "Bearer t2"


def test_refused_refresh_token_falls_back_to_get_with_the_password() -> None:
    auth = Authenticator(REGISTRY, Credentials("alice", "pw", identity_token="stale"))
    transport = ScriptedTransport([unauthorized(), (401, (), b""), ok_json({"token": "t"}), ok_json({})])
    assert send(auth, transport) == 200
    post, get = transport.requests[1:3]
    assert post.method == "POST" and get.method == "GET"
    assert authz(get) is not None and authz(get).startswith("Basic ")  # type: ignore[union-attr]


def test_refused_refresh_token_without_a_password_is_an_authentication_error() -> None:
    auth = Authenticator(REGISTRY, Credentials(identity_token="stale"))
    transport = ScriptedTransport([unauthorized(), (401, (), b"")])
    with pytest.raises(AuthenticationError) as info:
        send(auth, transport)
    assert "stale" not in str(info.value)
    assert transport.all_closed


def test_a_realm_without_oauth_is_not_posted_to_again() -> None:
    auth = Authenticator(REGISTRY, Credentials(identity_token="refresh"))
    transport = ScriptedTransport([
        unauthorized(), (405, (), b""), ok_json({"token": "t1"}), ok_json({}),
        ok_json({"token": "t2"}), ok_json({}),
    ])
    send(auth, transport)
    # Another scope: the token is fetched up front, by GET straight away.
    assert send(auth, transport, scope=Scope.pull("team/other")) == 200
    assert [r.method for r in transport.requests] == ["GET", "POST", "GET", "GET", "GET", "GET"]
    assert authz(transport.requests[5]) == "Bearer t2"


def test_a_refused_token_that_covers_the_challenge_is_not_retried() -> None:
    auth = Authenticator(REGISTRY)
    transport = ScriptedTransport([
        unauthorized(), ok_json({"token": "t"}), ok_json({}),
        unauthorized(CHALLENGE + ',error="insufficient_scope"'),
    ])
    assert send(auth, transport) == 200
    assert send(auth, transport, now=1001.0) == 401  # one request: asking again would give "t" again
    assert auth.token_requests == 1 and transport.remaining == 0


def test_request_with_issued_at_counts_from_the_server_time() -> None:
    auth = Authenticator(REGISTRY)
    answer = ok_json({"token": "t", "expires_in": 100, "issued_at": "1970-01-01T00:16:30Z"})  # 990 s
    transport = ScriptedTransport([unauthorized(), answer, ok_json({}), ok_json({}), ok_json({"token": "t2"}), ok_json({})])
    send(auth, transport, now=1000.0)
    send(auth, transport, now=1079.0)  # 990 + 100 - 10 = 1080: still valid
    assert auth.token_requests == 1
    send(auth, transport, now=1081.0)
    assert auth.token_requests == 2


# --- property: renewal follows expiry exactly -------------------------------------------


@settings(max_examples=100, deadline=None)
@given(
    steps=st.lists(st.tuples(st.integers(0, 200), st.sampled_from(["a", "b"])), min_size=1, max_size=25),
    expires_in=st.sampled_from([None, 60, 120, 300]),
)
def test_one_token_per_scope_set_while_it_is_valid(steps: list[tuple[int, str]], expires_in: int | None) -> None:
    auth = Authenticator(REGISTRY, USER)
    issued: dict[str, list[float]] = {}
    now = 1000.0

    def answer(request: Request) -> Reply:
        if request.url.startswith(REALM):
            scope = urllib.parse.parse_qs(urllib.parse.urlsplit(request.url).query)["scope"][0]
            issued.setdefault(scope, []).append(now)
            doc: dict[str, object] = {"token": f"{scope.split(':')[1]}-{len(issued[scope])}"}
            if expires_in is not None:
                doc["expires_in"] = expires_in
            return ok_json(doc)
        repo = request.url.split("/v2/team/")[1].split("/")[0]
        token = (authz(request) or "").removeprefix("Bearer ")
        if token.startswith(f"team/{repo}-"):
            return ok_json({})
        return unauthorized(CHALLENGE.replace("team/app", f"team/{repo}"))

    transport = ScriptedTransport([answer] * 200)
    lifetime = max(expires_in or 0, MIN_TOKEN_LIFETIME)
    for step, repo in steps:
        now += step
        request = Request("GET", f"https://registry.example.com/v2/team/{repo}/manifests/latest")
        flow = auth.send(request, scopes=[Scope.pull(f"team/{repo}")], now=now, transport_send=send_once)
        assert run(flow, transport).status == 200
    for times in issued.values():
        for earlier, later in itertools.pairwise(times):
            # renewed only once the previous token was about to expire
            assert later - earlier >= lifetime - min(10, lifetime / 10)
    assert all(authz(r) is None or r.url.startswith("https://registry.example.com/v2/") or authz(r).startswith("Basic ")  # type: ignore[union-attr]
               for r in transport.requests)
