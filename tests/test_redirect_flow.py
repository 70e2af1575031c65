"""Redirect following as a flow: targets, methods, which headers survive, and the refusals."""

from __future__ import annotations

import pytest

from ocireg._errors import InsecureRequestError, RedirectError
from ocireg._http import Request
from ocireg._redirect import MAX_REDIRECTS, follow_redirects
from scripted import Reply, ScriptedTransport, run

REGISTRY = "https://registry.example.com"
BLOB = REGISTRY + "/v2/library/alpine/blobs/sha256:" + "a" * 64
STORAGE = "https://production.cloudflare.docker.com/registry-v2/docker/registry/v2/blobs/sha256/aa/data?verify=1700000000-abc"
TOKEN = "Bearer eyJhbGciOiJSUzI1NiJ9.payload.signature"


def redirect(location: str, status: int = 307) -> Reply:
    return (status, (("Location", location), ("Content-Length", "0")), b"")


def authz(request: Request) -> str | None:
    for name, value in request.headers:
        if name.lower() == "authorization":
            return value
    return None


def test_no_redirect_returns_the_response() -> None:
    transport = ScriptedTransport([(200, (), b"blob")])
    response = run(follow_redirects(Request("GET", BLOB)), transport)
    assert response.status == 200 and response.request.url == BLOB
    assert not response.stream.closed


def test_absolute_location_to_storage_drops_credentials() -> None:
    headers = (("Authorization", TOKEN), ("Cookie", "session=1"), ("Proxy-Authorization", "Basic eA=="), ("Accept", "*/*"))
    transport = ScriptedTransport([redirect(STORAGE), (200, (), b"blob")])
    response = run(follow_redirects(Request("GET", BLOB, headers)), transport)
    assert response.status == 200
    first, second = transport.requests
    assert authz(first) == TOKEN
    assert second.url == STORAGE
    assert second.headers == (("Accept", "*/*"),)
    assert response.request is second
    assert transport.responses[0].stream.closed  # the redirect answer was released


def test_relative_location_keeps_credentials_on_the_same_origin() -> None:
    transport = ScriptedTransport([redirect("/v2/library/alpine/blobs/uploads/abc?_state=x", 302), (204, (), b"")])
    request = Request("GET", REGISTRY + "/v2/library/alpine/blobs/uploads/abc", (("Authorization", TOKEN),))
    response = run(follow_redirects(request), transport)
    assert response.status == 204
    second = transport.requests[1]
    assert second.url == REGISTRY + "/v2/library/alpine/blobs/uploads/abc?_state=x"
    assert authz(second) == TOKEN


def test_path_relative_location_resolves_against_the_request() -> None:
    transport = ScriptedTransport([redirect("../manifests/sha256:" + "b" * 64, 301), (200, (), b"{}")])
    run(follow_redirects(Request("GET", REGISTRY + "/v2/app/manifests/latest")), transport)
    assert transport.requests[1].url == REGISTRY + "/v2/app/manifests/sha256:" + "b" * 64


def test_303_turns_a_post_into_a_get_without_body() -> None:
    headers = (("Content-Type", "application/octet-stream"), ("Content-Length", "4"), ("Authorization", TOKEN))
    transport = ScriptedTransport([redirect("/v2/app/blobs/sha256:" + "c" * 64, 303), (200, (), b"")])
    run(follow_redirects(Request("POST", REGISTRY + "/v2/app/blobs/uploads/", headers, b"data")), transport)
    second = transport.requests[1]
    assert second.method == "GET"
    assert second.body is None and transport.bodies[1] is None
    names = {name.lower() for name, _ in second.headers}
    assert "content-type" not in names and "content-length" not in names
    assert authz(second) == TOKEN


@pytest.mark.parametrize("status", [307, 308])
def test_307_and_308_repeat_method_and_bytes_body(status: int) -> None:
    transport = ScriptedTransport([redirect(REGISTRY + "/v2/app/blobs/uploads/2", status), (201, (), b"")])
    run(follow_redirects(Request("PUT", REGISTRY + "/v2/app/blobs/uploads/1", (("Content-Length", "4"),), b"data")), transport)
    assert transport.requests[1].method == "PUT"
    assert transport.bodies == [b"data", b"data"]


def test_head_stays_head_after_303() -> None:
    transport = ScriptedTransport([redirect("/v2/app/manifests/other", 303), (200, (), b"")])
    run(follow_redirects(Request("HEAD", REGISTRY + "/v2/app/manifests/latest")), transport)
    assert transport.requests[1].method == "HEAD"


def test_authorization_dropped_for_another_port_on_loopback() -> None:
    request = Request("GET", "http://127.0.0.1:5000/v2/app/blobs/sha256:" + "d" * 64, (("Authorization", "Basic YTpi"),))
    transport = ScriptedTransport([redirect("http://127.0.0.1:5001/blob"), (200, (), b"")])
    run(follow_redirects(request), transport)
    assert authz(transport.requests[1]) is None


def test_authorization_dropped_for_another_scheme_same_host() -> None:
    request = Request("GET", "http://127.0.0.1:5000/v2/", (("Authorization", "Basic YTpi"),))
    transport = ScriptedTransport([redirect("https://127.0.0.1:5000/v2/"), (200, (), b"")])
    run(follow_redirects(request), transport)
    assert authz(transport.requests[1]) is None


def test_authorization_kept_on_same_origin_with_explicit_default_port() -> None:
    transport = ScriptedTransport([redirect("https://registry.example.com:443/v2/other"), (200, (), b"")])
    run(follow_redirects(Request("GET", BLOB, (("Authorization", TOKEN),))), transport)
    assert authz(transport.requests[1]) == TOKEN


def test_credentials_do_not_come_back_after_leaving_the_origin() -> None:
    transport = ScriptedTransport([redirect(STORAGE), redirect(REGISTRY + "/v2/back"), (200, (), b"")])
    run(follow_redirects(Request("GET", BLOB, (("Authorization", TOKEN),))), transport)
    assert [authz(r) for r in transport.requests] == [TOKEN, None, None]


def test_https_to_http_refused() -> None:
    transport = ScriptedTransport([redirect("http://registry.example.com/v2/plain")])
    with pytest.raises(InsecureRequestError):
        run(follow_redirects(Request("GET", BLOB, (("Authorization", TOKEN),))), transport)
    assert len(transport.requests) == 1
    assert transport.all_closed


def test_http_to_https_allowed() -> None:
    transport = ScriptedTransport([redirect("https://registry.example.com/v2/"), (200, (), b"")])
    assert run(follow_redirects(Request("GET", "http://registry.example.com/v2/")), transport).status == 200


@pytest.mark.parametrize("location", ["ftp://registry.example.com/blob", "file:///etc/passwd", "javascript:alert(1)"])
def test_non_http_location_refused(location: str) -> None:
    transport = ScriptedTransport([redirect(location)])
    with pytest.raises(RedirectError):
        run(follow_redirects(Request("GET", BLOB)), transport)
    assert len(transport.requests) == 1


def test_redirect_loop_refused() -> None:
    other = REGISTRY + "/v2/other"
    transport = ScriptedTransport([redirect(other), redirect(BLOB), (200, (), b"")])
    with pytest.raises(RedirectError, match="loop"):
        run(follow_redirects(Request("GET", BLOB)), transport)
    assert len(transport.requests) == 2
    assert transport.all_closed


def test_max_hops_followed_then_one_more_refused() -> None:
    hops = [redirect(f"{REGISTRY}/v2/hop/{i}") for i in range(MAX_REDIRECTS)]
    transport = ScriptedTransport([*hops, (200, (), b"")])
    assert run(follow_redirects(Request("GET", BLOB)), transport).status == 200
    assert len(transport.requests) == MAX_REDIRECTS + 1

    hops = [redirect(f"{REGISTRY}/v2/hop/{i}") for i in range(MAX_REDIRECTS + 1)]
    transport = ScriptedTransport([*hops, (200, (), b"")])
    with pytest.raises(RedirectError):
        run(follow_redirects(Request("GET", BLOB)), transport)
    assert len(transport.requests) == MAX_REDIRECTS + 1  # the 12th request is never sent
    assert transport.remaining == 1
    assert transport.all_closed


def test_max_hops_argument() -> None:
    transport = ScriptedTransport([redirect(REGISTRY + "/v2/a"), redirect(REGISTRY + "/v2/b")])
    with pytest.raises(RedirectError):
        run(follow_redirects(Request("GET", BLOB), max_hops=1), transport)
    assert len(transport.requests) == 2


def test_streamed_body_not_replayed() -> None:
    chunks = iter([b"layer", b"-bytes"])
    request = Request("PUT", REGISTRY + "/v2/app/blobs/uploads/1?digest=sha256:" + "e" * 64, (("Content-Length", "11"),), chunks)
    transport = ScriptedTransport([redirect(REGISTRY + "/v2/app/blobs/uploads/2")])
    with pytest.raises(RedirectError, match="streamed"):
        run(follow_redirects(request), transport)
    assert transport.bodies == [b"layer-bytes"]
    assert len(transport.requests) == 1


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirect_without_location_is_returned(status: int) -> None:
    transport = ScriptedTransport([(status, (), b"")])
    response = run(follow_redirects(Request("GET", BLOB)), transport)
    assert response.status == status
    assert not response.stream.closed


def test_error_messages_have_no_userinfo() -> None:
    transport = ScriptedTransport([redirect("http://alice:hunter2@registry.example.com/x")])
    with pytest.raises(InsecureRequestError) as info:
        run(follow_redirects(Request("GET", "https://alice:hunter2@registry.example.com/v2/")), transport)
    assert "hunter2" not in str(info.value)
