"""Registry error bodies to typed errors, and the ``expect`` flow."""

from __future__ import annotations

import base64
import json
import urllib.parse
from collections.abc import Mapping

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from ocireg._auth import Credentials, Scope
from ocireg._errorbody import (
    ERROR_BODY_LIMIT,
    MAX_ERRORS,
    MAX_MESSAGE_LENGTH,
    expect,
    parse_error_body,
    response_error,
)
from ocireg._errors import (
    BlobUnknown,
    Denied,
    ErrorDetail,
    InvalidResponse,
    ManifestUnknown,
    NameUnknown,
    NotFound,
    ResponseError,
    TooManyRequests,
    Unauthorized,
    Unsupported,
)
from ocireg._flow import Flow
from ocireg._http import Request, Response
from ocireg._session import Session
from scripted import ScriptedTransport, run

DOCKER_HUB_401 = (
    b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required",'
    b'"detail":[{"Type":"repository","Name":"library/alpine","Action":"pull"}]}]}\n'
)
DISTRIBUTION_404 = (
    b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown",'
    b'"detail":{"Tag":"nope"}}]}\n'
)
HTML_502 = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)
URL = "https://registry-1.docker.io/v2/library/alpine/manifests/latest"


def response(status: int, headers: tuple[tuple[str, str], ...] = (), *, method: str = "GET",
             url: str = URL) -> Response:
    return Response(status, headers, Request(method, url, (("Authorization", "Bearer s3cr3t"),)))


def body_of(*entries: Mapping[str, object]) -> bytes:
    return json.dumps({"errors": list(entries)}).encode()


# --- parse_error_body -------------------------------------------------------------


def test_docker_hub_401_body() -> None:
    [entry] = parse_error_body(DOCKER_HUB_401)
    assert entry.code == "UNAUTHORIZED"
    assert entry.message == "authentication required"
    assert entry.detail == [{"Type": "repository", "Name": "library/alpine", "Action": "pull"}]


def test_distribution_manifest_unknown_body() -> None:
    assert parse_error_body(DISTRIBUTION_404) == (
        ErrorDetail("MANIFEST_UNKNOWN", "manifest unknown", {"Tag": "nope"}),
    )


@pytest.mark.parametrize(
    "body",
    [
        HTML_502,
        b"",
        b"null",
        b"[]",
        b'"errors"',
        b'{"errors": null}',
        b'{"errors": "denied"}',
        b'{"errors": [1, "x", null, []]}',
        b'{"errors": [{"code": 5, "message": ["x"]}]}',
        b'{"message": "not the registry shape"}',
        b'{"errors": [{"code": "DENIED"}], "errors": []}',  # duplicate keys
        b"\xff\xfe{}",
        DOCKER_HUB_401[:-10],  # trailing data cut off
    ],
)
def test_other_bodies_give_no_entries(body: bytes) -> None:
    assert parse_error_body(body) == ()


def test_trailing_garbage_after_a_body_gives_no_entries() -> None:
    assert parse_error_body(DOCKER_HUB_401) != ()
    assert parse_error_body(DOCKER_HUB_401 + b"<html>") == ()


def test_partial_entries_are_kept_and_shapeless_ones_skipped() -> None:
    body = body_of({"code": "DENIED"}, {"detail": "x"}, {"message": "no code"}, {"code": 7})
    assert parse_error_body(body) == (ErrorDetail("DENIED", ""), ErrorDetail("", "no code"))


def test_entries_and_message_length_are_capped() -> None:
    body = body_of(*[{"code": "DENIED", "message": "m" * 2000} for _ in range(25)])
    assert len(body) <= ERROR_BODY_LIMIT
    entries = parse_error_body(body)
    assert len(entries) == MAX_ERRORS
    assert all(len(e.message) <= MAX_MESSAGE_LENGTH for e in entries)


def test_control_characters_are_flattened() -> None:
    body = body_of({"code": "DENIED", "message": "line one\nFAKE: log line\x1b[31m red"})
    [entry] = parse_error_body(body)
    assert entry.message == "line one FAKE: log line [31m red"


def test_body_over_the_limit_gives_no_entries() -> None:
    padded = DOCKER_HUB_401 + b" " * ERROR_BODY_LIMIT
    assert parse_error_body(padded) == ()
    assert parse_error_body(padded, limit=len(padded)) != ()


@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise(body: bytes) -> None:
    entries = parse_error_body(body)
    assert isinstance(entries, tuple)
    assert all(isinstance(e, ErrorDetail) and (e.code or e.message) for e in entries)


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=10),
        lambda inner: st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(["errors", "code", "message", "detail", "x"]), inner,
                          max_size=4),
        max_leaves=20,
    )
)
def test_arbitrary_json_never_raises(doc: object) -> None:
    entries = parse_error_body(json.dumps(doc).encode())
    assert all(isinstance(e.code, str) and isinstance(e.message, str) for e in entries)
    if not isinstance(doc, dict) or not isinstance(doc.get("errors"), list):
        assert entries == ()


# --- response_error ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "cls"),
    [
        (404, body_of({"code": "NAME_UNKNOWN", "message": "repository name not known"}),
         NameUnknown),
        (404, DISTRIBUTION_404, ManifestUnknown),
        (404, body_of({"code": "BLOB_UNKNOWN", "message": "blob unknown"}), BlobUnknown),
        (404, body_of({"code": "BLOB_UPLOAD_UNKNOWN", "message": "upload unknown"}), BlobUnknown),
        (404, b"404 page not found\n", NotFound),
        (404, body_of({"code": "SOMETHING", "message": "x"}, {"code": "NAME_UNKNOWN"}),
         NameUnknown),
        (401, DOCKER_HUB_401, Unauthorized),
        (401, b"", Unauthorized),
        (400, body_of({"code": "UNAUTHORIZED", "message": "x"}), Unauthorized),
        (403, body_of({"code": "DENIED", "message": "requested access is denied"}), Denied),
        (400, body_of({"code": "DENIED", "message": "x"}), Denied),
        (405, body_of({"code": "UNSUPPORTED", "message": "The operation is unsupported."}),
         Unsupported),
        (400, body_of({"code": "unsupported", "message": "x"}), Unsupported),
        (429, body_of({"code": "TOOMANYREQUESTS", "message": "pull rate limit"}),
         TooManyRequests),
        (503, body_of({"code": "TOOMANYREQUESTS", "message": "slow down"}), TooManyRequests),
        (502, HTML_502, ResponseError),
        (500, body_of({"code": "UNKNOWN", "message": "unknown error"}), ResponseError),
        (400, body_of({"code": "MANIFEST_INVALID", "message": "manifest invalid"}),
         ResponseError),
    ],
)
def test_error_class(status: int, body: bytes, cls: type[ResponseError]) -> None:
    err = response_error(response(status), body)
    assert type(err) is cls
    assert err.status == status and err.method == "GET" and err.url == URL


def test_message_of_docker_hub_401() -> None:
    err = response_error(response(401), DOCKER_HUB_401)
    assert str(err) == f"GET {URL}: 401 UNAUTHORIZED: authentication required"
    assert err.codes == ("UNAUTHORIZED",)
    assert err.errors[0].detail == [
        {"Type": "repository", "Name": "library/alpine", "Action": "pull"}
    ]


def test_message_of_html_502_has_no_html() -> None:
    err = response_error(response(502, method="HEAD"), HTML_502)
    assert str(err) == f"HEAD {URL}: 502 Bad Gateway"
    assert err.errors == ()


def test_message_names_further_errors_and_unknown_status() -> None:
    body = body_of({"code": "DENIED", "message": "a"}, {"code": "DENIED", "message": "b"})
    assert str(response_error(response(403), body)).endswith("403 DENIED: a (and 1 more)")
    assert str(response_error(response(599), b"")).endswith(": 599")


def test_message_is_one_short_line() -> None:
    body = body_of({"code": "DENIED", "message": "x\n" * 3000})
    message = str(response_error(response(403), body))
    assert "\n" not in message and len(message) < 400


def test_url_credentials_and_headers_never_in_the_error() -> None:
    url = "https://user:hunter2@registry.example/v2/x/tags/list"
    resp = Response(
        401,
        (("WWW-Authenticate", 'Basic realm="hunter2-realm"'),),
        Request("GET", url, (("Authorization", "Basic dXNlcjpodW50ZXIy"),)),
    )
    err = response_error(resp, DOCKER_HUB_401)
    assert "hunter2" not in str(err) and "hunter2" not in err.url
    assert "dXNlcjpodW50ZXIy" not in str(err)
    assert err.url == "https://registry.example/v2/x/tags/list"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("30", 30.0), (" 0 ", 0.0), ("Wed, 21 Oct 2015 07:28:00 GMT", None), ("-5", None),
     ("1.5", None), ("\uff11\uff12", None), ("9" * 40, None)],
)
def test_retry_after(value: str, expected: float | None) -> None:
    err = response_error(response(429, (("Retry-After", value),)), b"")
    assert isinstance(err, TooManyRequests)
    assert err.retry_after == expected


def test_retry_after_absent() -> None:
    err = response_error(response(429), b"")
    assert isinstance(err, TooManyRequests) and err.retry_after is None


# --- expect -------------------------------------------------------------------------


def fetch(*statuses: int, limit: int = ERROR_BODY_LIMIT) -> Flow[Response]:
    resp: Response = yield Request("GET", URL)
    yield from expect(resp, *statuses, limit=limit)
    return resp


def test_expect_passes_and_leaves_the_body() -> None:
    transport = ScriptedTransport([(200, (), b"{}")])
    resp = run(fetch(200, 201), transport)
    assert resp.status == 200 and not resp.stream.closed and resp.stream.consumed == 0


def test_expect_raises_the_typed_error_and_releases_the_body() -> None:
    transport = ScriptedTransport([(404, (("Content-Type", "application/json"),), DISTRIBUTION_404)])
    with pytest.raises(ManifestUnknown) as info:
        run(fetch(200), transport)
    assert info.value.codes == ("MANIFEST_UNKNOWN",)
    assert transport.all_closed


def test_expect_html_502() -> None:
    transport = ScriptedTransport([(502, (("Content-Type", "text/html"),), HTML_502)])
    with pytest.raises(ResponseError) as info:
        run(fetch(200), transport)
    assert info.value.status == 502 and transport.all_closed


def test_too_large_error_body_does_not_hide_the_status() -> None:
    transport = ScriptedTransport([(401, (), DOCKER_HUB_401 + b" " * 1000)])
    with pytest.raises(Unauthorized) as info:
        run(fetch(200, limit=100), transport)
    assert info.value.status == 401 and info.value.errors == ()
    stream = transport.responses[0].stream
    assert stream.closed and stream.consumed == 101


@pytest.mark.parametrize("status", [201, 204, 302, 307])
def test_unexpected_success_or_redirect_is_invalid_response(status: int) -> None:
    transport = ScriptedTransport([(status, (), b"x" * 10_000)])
    with pytest.raises(InvalidResponse, match=f"unexpected status {status}") as info:
        run(fetch(200, 202), transport)
    assert not isinstance(info.value, ResponseError)
    assert "200 or 202" in str(info.value)
    stream = transport.responses[0].stream
    assert stream.closed and stream.consumed == 0


# --- secrets the server echoes back -------------------------------------------------------

PASSWORD = "hunter2:Sup3r/S3cret+"  # a colon, a slash and a plus: every encoding differs
BASIC = "Basic " + base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl"


def _texts(exc: ResponseError) -> str:
    return " ".join([str(exc), repr(exc), exc.url, repr(exc.errors), repr(exc.args)])


def _echo(value: str) -> list[bytes]:
    """Bodies echoing ``value`` the ways a server might."""
    return [
        body_of({"code": "UNAUTHORIZED", "message": f"bad header Authorization: {value}"}),
        body_of({"code": "DENIED", "message": "denied", "detail": {"headers": {"Authorization": [value]}}}),
        body_of({"code": "DENIED", "message": "x" * 190 + value}),  # where the summary cuts
        body_of({"code": value, "message": "m"}),
        body_of({"code": "DENIED", "message": "q", "detail": {value: urllib.parse.quote(value, safe="")}}),
        json.dumps({"errors": [{"code": "DENIED", "message": value}]}, ensure_ascii=True).encode(),
    ]


@pytest.mark.parametrize(
    ("authorization", "secrets"),
    [
        (BASIC, [BASIC, BASIC.split()[1], f"alice:{PASSWORD}", PASSWORD]),
        (f"Bearer {TOKEN}", [TOKEN]),
    ],
)
def test_credentials_echoed_in_an_error_body_are_redacted(authorization: str, secrets: list[str]) -> None:
    request = Request("GET", URL, (("Authorization", authorization),))
    for secret in secrets:
        for body in _echo(secret):
            exc = response_error(Response(401, (), request), body)
            assert isinstance(exc, Unauthorized)
            text = _texts(exc)
            for form in (PASSWORD, BASIC.split()[1], TOKEN, urllib.parse.quote(PASSWORD, safe="")):
                assert form not in text, text
            assert PASSWORD[:8] not in text  # not even a cut prefix
    echoed = response_error(Response(401, (), request), _echo(secrets[-1])[0])
    assert "<redacted>" in str(echoed)


def test_a_body_echoing_credentials_through_the_auth_flow_is_redacted() -> None:
    def echo(request: Request) -> tuple[int, tuple[tuple[str, str], ...], bytes]:
        sent = next((v for k, v in request.headers if k.lower() == "authorization"), "")
        return (403, (), body_of({"code": "DENIED", "message": f"you sent {sent!r}"}))

    session = Session("https://registry.example", credentials=Credentials("alice", PASSWORD))
    transport = ScriptedTransport([(401, (("WWW-Authenticate", 'Basic realm="r"'),), b""), echo])
    with pytest.raises(Denied) as info:
        run(expect_flow(session, transport), transport)
    assert PASSWORD not in _texts(info.value) and BASIC.split()[1] not in _texts(info.value)


def expect_flow(session: Session, transport: ScriptedTransport) -> Flow[None]:
    request = session.request("GET", "/v2/team/app/manifests/latest")
    response = yield from session.send(request, scopes=(Scope.pull("team/app"),), now=0.0)
    yield from expect(response, 200)


_B64TOKEN = st.text(  # RFC 6750 b64token: what a Bearer token is made of
    st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/"),
    min_size=8, max_size=40,
)


@given(_B64TOKEN, st.text(max_size=50), st.text(max_size=50))
def test_an_echoed_bearer_token_never_reaches_the_error(token: str, before: str, after: str) -> None:
    request = Request("GET", URL, (("Authorization", f"Bearer {token}"),))
    body = body_of({"code": "DENIED", "message": before + token + after, "detail": [after + token]})
    exc = response_error(Response(403, (), request), body)
    assume(token not in f"GET {URL}: 403 DENIED")
    assert token not in _texts(exc)
