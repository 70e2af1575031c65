"""Redirect following as a flow: methods, bodies, credential headers, loops and limits."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ocireg._errors import InsecureRequestError, RedirectError, RegistryError
from ocireg._http import Request, header_value
from ocireg._redirect import MAX_REDIRECTS, follow_redirects, redirect_request, send_once
from scripted import Reply, ScriptedTransport, ok_json, run

REGISTRY = "https://registry.example.com"
BLOB = REGISTRY + "/v2/library/alpine/blobs/sha256:" + "a" * 64
# Docker Hub answers a blob GET with a 307 to a signed URL on another host.
STORAGE = "https://production.cloudflare.docker.com/registry-v2/docker/registry/v2/blobs/sha256/aa/data?verify=1700000000-abc"
SECRET_HEADERS = (
    ("Authorization", "Bearer registry-token"),
    ("Cookie", "session=1"),
    ("Proxy-Authorization", "Basic cHJveHk6cHc="),
    ("Accept", "application/octet-stream"),
)


def redirect(status: int, location: str) -> Reply:
    return (status, (("Location", location), ("Content-Length", "0")), b"")


def follow(request: Request, answers: list[Reply], max_hops: int = MAX_REDIRECTS) -> tuple[object, ScriptedTransport]:
    transport = ScriptedTransport(answers)
    return run(follow_redirects(request, send_once, max_hops=max_hops), transport), transport


def test_blob_redirect_to_object_storage_drops_credentials_keeps_the_rest() -> None:
    response, transport = follow(Request("GET", BLOB, SECRET_HEADERS), [redirect(307, STORAGE), (200, (), b"layer")])
    assert response.status == 200  # type: ignore[attr-defined]
    first, second = transport.requests
    assert header_value(first.headers, "Authorization") == "Bearer registry-token"
    assert second.url == STORAGE
    assert second.headers == (("Accept", "application/octet-stream"),)
    assert transport.responses[0].stream.closed  # the redirect answer was released
    assert not transport.responses[1].stream.closed  # the final one is the caller's


def test_redirect_to_another_port_of_the_same_host_drops_authorization() -> None:
    _, transport = follow(
        Request("GET", BLOB, SECRET_HEADERS),
        [redirect(302, "https://registry.example.com:8443/blobs/1"), ok_json({})],
    )
    assert header_value(transport.requests[1].headers, "Authorization") is None


def test_same_origin_redirect_keeps_authorization_and_resolves_relative_location() -> None:
    _, transport = follow(
        Request("GET", REGISTRY + "/v2/app/manifests/latest", SECRET_HEADERS),
        [redirect(301, "../manifests/sha256:" + "b" * 64), redirect(308, "/v2/app/manifests/v2#frag"), ok_json({})],
    )
    urls = [r.url for r in transport.requests]
    assert urls[1] == REGISTRY + "/v2/app/manifests/sha256:" + "b" * 64
    assert urls[2] == REGISTRY + "/v2/app/manifests/v2"  # the fragment is not sent
    assert all(header_value(r.headers, "Authorization") == "Bearer registry-token" for r in transport.requests)


@pytest.mark.parametrize(
    ("method", "status", "expected"),
    [
        ("GET", 301, "GET"), ("HEAD", 301, "HEAD"), ("GET", 302, "GET"), ("HEAD", 302, "HEAD"),
        ("POST", 301, "GET"), ("POST", 302, "GET"), ("PUT", 303, "GET"), ("HEAD", 303, "HEAD"),
        ("PUT", 301, "PUT"), ("PUT", 307, "PUT"), ("POST", 308, "POST"), ("PATCH", 307, "PATCH"),
    ],
)
def test_method_after_redirect(method: str, status: int, expected: str) -> None:
    body = b"{}" if method in ("POST", "PUT", "PATCH") else None
    headers = (("Content-Type", "application/json"), ("Content-Length", "2")) if body else ()
    _, transport = follow(Request(method, REGISTRY + "/v2/a/x", headers, body), [redirect(status, "/v2/a/y"), ok_json({})])
    following = transport.requests[1]
    assert following.method == expected
    if expected == method:
        assert transport.bodies[1] == transport.bodies[0]
        assert following.headers == headers
    else:
        assert following.body is None and transport.bodies[1] is None
        assert header_value(following.headers, "Content-Length") is None
        assert header_value(following.headers, "Content-Type") is None


def test_streamed_body_cannot_follow_a_307() -> None:
    request = Request("PUT", REGISTRY + "/v2/a/blobs/uploads/1", (("Content-Length", "4"),), iter([b"da", b"ta"]))
    with pytest.raises(RedirectError, match="streamed body"):
        follow(request, [redirect(307, "/v2/a/blobs/uploads/2")])


def test_streamed_body_may_follow_a_303_as_get() -> None:
    request = Request("POST", REGISTRY + "/v2/a/blobs/uploads/", (("Content-Length", "4"),), iter([b"data"]))
    _, transport = follow(request, [redirect(303, "/v2/a/blobs/uploads/2"), ok_json({})])
    assert transport.requests[1].method == "GET" and transport.bodies[1] is None


def test_https_to_http_is_refused_before_it_is_sent() -> None:
    transport = ScriptedTransport([redirect(302, "http://registry.example.com/v2/")])
    with pytest.raises(InsecureRequestError):
        run(follow_redirects(Request("GET", REGISTRY + "/v2/", SECRET_HEADERS), send_once), transport)
    assert len(transport.requests) == 1
    assert transport.all_closed


def test_http_to_https_is_fine() -> None:
    _, transport = follow(Request("GET", "http://127.0.0.1:5000/v2/"), [redirect(301, "https://127.0.0.1:5443/v2/"), ok_json({})])
    assert transport.requests[1].url == "https://127.0.0.1:5443/v2/"


def test_loop_is_detected() -> None:
    transport = ScriptedTransport([redirect(302, "/v2/b"), redirect(302, "/v2/a")])
    with pytest.raises(RedirectError, match="loop"):
        run(follow_redirects(Request("GET", REGISTRY + "/v2/a"), send_once), transport)
    assert len(transport.requests) == 2 and transport.all_closed


def test_ten_hops_are_followed_eleven_refused() -> None:
    chain = [redirect(302, f"/v2/hop{i}") for i in range(1, 11)]
    response, transport = follow(Request("GET", REGISTRY + "/v2/hop0"), [*chain, ok_json({})])
    assert response.status == 200  # type: ignore[attr-defined]
    assert len(transport.requests) == 11

    transport = ScriptedTransport([*chain, redirect(302, "/v2/hop11")])
    with pytest.raises(RedirectError, match="more than 10"):
        run(follow_redirects(Request("GET", REGISTRY + "/v2/hop0"), send_once), transport)
    assert len(transport.requests) == 11 and transport.all_closed


def test_max_hops_zero_follows_nothing() -> None:
    transport = ScriptedTransport([redirect(302, "/v2/b")])
    with pytest.raises(RedirectError):
        run(follow_redirects(Request("GET", REGISTRY + "/v2/a"), send_once, max_hops=0), transport)


@pytest.mark.parametrize("headers", [(), (("Location", ""),), (("Location", "   "),)])
def test_redirect_without_location_is_returned_as_is(headers: tuple[tuple[str, str], ...]) -> None:
    response, transport = follow(Request("GET", REGISTRY + "/v2/"), [(302, headers, b"moved")])
    assert response.status == 302  # type: ignore[attr-defined]
    assert not transport.responses[0].stream.closed


def test_non_redirect_3xx_is_returned() -> None:
    response, _ = follow(Request("GET", REGISTRY + "/v2/"), [(304, (("Location", "/x"),), b"")])
    assert response.status == 304  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "location",
    ["file:///etc/passwd", "ftp://registry.example.com/x", "https://h:99999/x", "/v2/a\r\nX-Injected: 1", "/v2/a b"],
)
def test_unusable_location_is_a_redirect_error(location: str) -> None:
    transport = ScriptedTransport([redirect(302, location)])
    with pytest.raises(RedirectError):
        run(follow_redirects(Request("GET", REGISTRY + "/v2/"), send_once), transport)
    assert transport.all_closed


def test_userinfo_in_location_is_dropped_and_non_ascii_encoded() -> None:
    following = redirect_request(Request("GET", BLOB), 302, "https://user:pw@storage.example.net/blob/é")
    assert following.url == "https://storage.example.net/blob/%C3%A9"


# --- property: credentials never reach another origin, every chain ends ---------------

_ORIGINS = ["https://registry.example.com", "https://registry.example.com:8443", "https://storage.example.net", "http://127.0.0.1:5000"]


@settings(max_examples=200, deadline=None)
@given(
    hops=st.lists(
        st.tuples(st.sampled_from([301, 302, 303, 307, 308]), st.sampled_from(_ORIGINS), st.integers(0, 5)),
        max_size=14,
    ),
    method=st.sampled_from(["GET", "HEAD", "PUT", "POST"]),
)
def test_redirect_chains_never_leak_credentials(hops: list[tuple[int, str, int]], method: str) -> None:
    answers: list[Reply] = [redirect(status, f"{origin}/v2/p{path}") for status, origin, path in hops]
    answers.append(ok_json({}))
    start = Request(method, REGISTRY + "/v2/start", SECRET_HEADERS, b"x" if method in ("PUT", "POST") else None)
    transport = ScriptedTransport(answers)
    try:
        response = run(follow_redirects(start, send_once), transport)
    except RegistryError as exc:
        assert isinstance(exc, RedirectError | InsecureRequestError)
    else:
        assert response.status == 200
    assert len(transport.requests) <= MAX_REDIRECTS + 1
    urls = [r.url for r in transport.requests]
    assert len(urls) == len(set(urls))  # no URL twice
    left = False
    for request in transport.requests:
        left = left or request.origin != start.origin
        if left:  # once the chain has left the origin, the credentials are gone for good
            for name in ("Authorization", "Cookie", "Proxy-Authorization"):
                assert header_value(request.headers, name) is None
        assert not (transport.requests[0].origin.scheme == "https" and request.origin.scheme == "http")
    assert all(r.stream.closed for r in transport.responses[:-1])
