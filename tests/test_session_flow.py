"""The per-registry Session: URL building, request shaping, and send = auth around redirects."""

from __future__ import annotations

import urllib.parse

import pytest

from ocireg._auth import Credentials, Scope
from ocireg._errors import InvalidArgument, RedirectError
from ocireg._http import Request
from ocireg._session import Limits, Session
from scripted import ScriptedTransport, ok_json, run

DIGEST = "sha256:" + "f" * 64
PASSWORD = "s3cr3t-Passw0rd"


def authz(request: Request) -> str | None:
    for name, value in request.headers:
        if name.lower() == "authorization":
            return value
    return None


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        ("https://registry.example.com", "https://registry.example.com/v2/library/alpine/tags/list"),
        ("https://registry.example.com/", "https://registry.example.com/v2/library/alpine/tags/list"),
        ("https://harbor.example.com/prefix", "https://harbor.example.com/prefix/v2/library/alpine/tags/list"),
        ("https://harbor.example.com/prefix/", "https://harbor.example.com/prefix/v2/library/alpine/tags/list"),
        ("http://127.0.0.1:5000", "http://127.0.0.1:5000/v2/library/alpine/tags/list"),
    ],
)
def test_url_keeps_a_path_prefix(base: str, expected: str) -> None:
    assert Session(base).url("/v2/library/alpine/tags/list") == expected


def test_url_query_is_percent_encoded() -> None:
    session = Session("https://registry.example.com/prefix")
    query = [("n", "100"), ("last", "team/app+x y&z=1"), ("digest", DIGEST)]
    url = session.url("/v2/_catalog", query)
    parts = urllib.parse.urlsplit(url)
    assert parts.path == "/prefix/v2/_catalog"
    assert urllib.parse.parse_qsl(parts.query) == query
    assert "&z=1" not in url and " " not in url
    assert session.url("/v2/_catalog") == "https://registry.example.com/prefix/v2/_catalog"


def test_request_to_a_path_adds_user_agent() -> None:
    session = Session("https://registry.example.com", user_agent="ocireg-test/1.0")
    request = session.request("GET", "/v2/library/alpine/manifests/latest", headers=(("Accept", "application/vnd.oci.image.index.v1+json"),))
    assert request.method == "GET"
    assert request.url == "https://registry.example.com/v2/library/alpine/manifests/latest"
    assert ("User-Agent", "ocireg-test/1.0") in request.headers
    assert ("Accept", "application/vnd.oci.image.index.v1+json") in request.headers
    assert [name.lower() for name, _ in request.headers].count("user-agent") == 1


def test_request_to_an_upload_location_keeps_its_query() -> None:
    session = Session("https://registry.example.com")
    location = "https://registry.example.com/v2/app/blobs/uploads/9f1c?_state=abc%3D%3D"
    request = session.request("PUT", location, query=[("digest", DIGEST)], body=b"x")
    parts = urllib.parse.urlsplit(request.url)
    assert parts.path == "/v2/app/blobs/uploads/9f1c"
    assert urllib.parse.parse_qsl(parts.query) == [("_state", "abc=="), ("digest", DIGEST)]
    assert request.body == b"x"


@pytest.mark.parametrize(
    "base",
    [
        f"https://alice:{PASSWORD}@registry.example.com",
        "https://alice@registry.example.com",
    ],
)
def test_credentials_in_the_url_refused_without_echoing_them(base: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        Session(base)
    assert PASSWORD not in str(info.value)


@pytest.mark.parametrize(
    "base",
    ["ftp://registry.example.com", "file:///var/lib/registry", "registry.example.com", "https://", "unix:///run/docker.sock"],
)
def test_non_http_scheme_refused(base: str) -> None:
    with pytest.raises(InvalidArgument):
        Session(base)


def test_host_and_origin() -> None:
    session = Session("https://registry.example.com:5443/prefix")
    assert session.host == "registry.example.com:5443"
    assert session.origin == ("https", "registry.example.com", 5443)
    assert "registry.example.com" in repr(session)


def test_send_wraps_auth_around_redirects() -> None:
    """A 401 on the redirect target's origin is not ours; one on the registry is answered once."""
    challenge = ("WWW-Authenticate", 'Basic realm="Registry Realm"')
    storage = "https://storage.example.net/blob?sig=1"
    transport = ScriptedTransport(
        [
            (401, (challenge,), b""),
            (307, (("Location", storage),), b""),
            (200, (), b"blob"),
        ]
    )
    session = Session("https://registry.example.com", credentials=Credentials("alice", PASSWORD))
    request = session.request("GET", f"/v2/app/blobs/{DIGEST}")
    response = run(session.send(request, scopes=[Scope.pull("app")], now=0.0), transport)
    assert response.status == 200
    assert response.request.url == storage
    first, retry, hop = transport.requests
    assert authz(first) is None
    assert authz(retry) is not None and authz(retry).startswith("Basic ")  # type: ignore[union-attr]
    assert authz(hop) is None  # the credentials stayed on the registry
    assert all(("User-Agent", session.user_agent) in r.headers for r in transport.requests)


def test_send_respects_the_redirect_limit() -> None:
    session = Session("https://registry.example.com", limits=Limits(max_redirects=1))
    transport = ScriptedTransport(
        [
            (307, (("Location", "/v2/a"),), b""),
            (307, (("Location", "/v2/b"),), b""),
            ok_json({}),
        ]
    )
    with pytest.raises(RedirectError):
        run(session.send(session.request("GET", "/v2/"), now=0.0), transport)
    assert len(transport.requests) == 2
