"""Scheme discovery as a flow, and errors in words, without a network (the real TLS
registry is in test_cli_everyday.py)."""

from __future__ import annotations

import io

import pytest

from ocireg import ConnectError, Denied, Request, Response, TransportError, Unauthorized, run_flow
from ocireg._explain import explain
from ocireg._scheme import discover_scheme, http_to_https_hint, plain_http_allowed

TLS_ON_HTTP = ConnectError("https://h/v2/: cannot connect: [SSL: WRONG_VERSION_NUMBER] wrong version number")
UNTRUSTED = ConnectError("https://h/v2/: cannot connect: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")


class _Stream:
    def __init__(self, data: bytes) -> None:
        self.data = io.BytesIO(data)

    def readinto(self, buffer: bytearray | memoryview) -> int:
        return self.data.readinto(buffer)

    def close(self) -> None:
        pass


class Scripted:
    """Answers by scheme: an exception, or (status, body)."""

    def __init__(self, https: TransportError | tuple[int, bytes], http: TransportError | tuple[int, bytes]) -> None:
        self.answers = {"https": https, "http": http}
        self.sent: list[str] = []

    def send(self, request: Request, /) -> Response:
        self.sent.append(request.url)
        answer = self.answers[request.url.split(":", 1)[0]]
        if isinstance(answer, TransportError):
            raise answer
        return Response(answer[0], (), request, _Stream(answer[1]))

    def close(self) -> None:
        pass


HINT = b"Client sent an HTTP request to an HTTPS server.\n"


def test_https_answering_anything_is_https() -> None:
    transport = Scripted((401, b""), (200, b""))
    assert run_flow(discover_scheme("10.0.0.5:5000", insecure=True), transport) == "https://10.0.0.5:5000"
    assert transport.sent == ["https://10.0.0.5:5000/v2/"]


def test_loopback_is_plain_http_first_and_https_only_when_that_is_no_registry() -> None:
    plain = Scripted(TLS_ON_HTTP, (401, b""))
    assert run_flow(discover_scheme("127.0.0.1:5000", insecure=False), plain) == "http://127.0.0.1:5000"
    assert plain.sent == ["http://127.0.0.1:5000/v2/"]  # one round trip, no TLS
    tls = Scripted((200, b"{}"), (400, HINT))
    assert run_flow(discover_scheme("localhost:5000", insecure=False), tls) == "https://localhost:5000"
    assert tls.sent == ["http://localhost:5000/v2/", "https://localhost:5000/v2/"]
    # A TLS port that drops plain HTTP, or answers it with another server's 400 page.
    closed = Scripted((404, b""), ConnectError("http://h/v2/: connection closed before the response"))
    assert run_flow(discover_scheme("[::1]:5000", insecure=False), closed) == "https://[::1]:5000"
    other = Scripted((401, b""), (400, b"The plain HTTP request was sent to HTTPS port"))
    assert run_flow(discover_scheme("127.0.0.1:443", insecure=False), other) == "https://127.0.0.1:443"


class _ResetStream:
    def readinto(self, buffer: bytearray | memoryview) -> int:
        raise ConnectionResetError(104, "Connection reset by peer")

    def close(self) -> None:
        pass


class ResetAfterHead(Scripted):
    """A TLS port that answers plain HTTP with a 400 head and resets before its body."""

    def send(self, request: Request, /) -> Response:
        if request.url.startswith("http:"):
            self.sent.append(request.url)
            return Response(400, (), request, _ResetStream())
        return super().send(request)


def test_a_reset_after_the_400_head_still_leads_to_https() -> None:
    transport = ResetAfterHead((200, b"{}"), (400, b""))
    assert run_flow(discover_scheme("127.0.0.1:5000", insecure=False), transport) == "https://127.0.0.1:5000"
    assert transport.sent == ["http://127.0.0.1:5000/v2/", "https://127.0.0.1:5000/v2/"]


def test_plain_http_after_a_tls_failure_on_insecure_hosts_only() -> None:
    transport = Scripted(TLS_ON_HTTP, (200, b"{}"))
    assert run_flow(discover_scheme("10.0.0.5:5000", insecure=True), transport) == "http://10.0.0.5:5000"
    assert transport.sent == ["https://10.0.0.5:5000/v2/", "http://10.0.0.5:5000/v2/"]
    remote = Scripted(TLS_ON_HTTP, (200, b"{}"))
    with pytest.raises(ConnectError, match="server gave HTTP response to HTTPS client"):
        run_flow(discover_scheme("registry.example", insecure=False), remote)
    assert remote.sent == ["https://registry.example/v2/"]  # never plain HTTP to a remote host


def test_a_tls_server_with_an_untrusted_certificate_is_reported_as_such() -> None:
    for host, insecure, tried in (("127.0.0.1:5000", False, ["http", "https"]),
                                  ("10.0.0.5:5000", True, ["https"])):
        transport = Scripted(UNTRUSTED, (400, HINT))
        with pytest.raises(ConnectError) as info:
            run_flow(discover_scheme(host, insecure=insecure), transport)
        text = str(info.value)
        assert "speaks https" in text and "certificate verify failed" in text and "--ca-file" in text
        # its certificate says TLS: no plain HTTP try after it
        assert transport.sent == [f"{scheme}://{host}/v2/" for scheme in tried]


def test_an_https_server_hinting_on_plain_http_makes_the_tls_failure_the_error() -> None:
    reset = ConnectError("https://h/v2/: cannot connect: [Errno 104] Connection reset by peer")
    for host, insecure in (("127.0.0.1:5000", False), ("10.0.0.5:5000", True)):
        with pytest.raises(ConnectError) as info:
            run_flow(discover_scheme(host, insecure=insecure), Scripted(reset, (400, HINT)))
        text = str(info.value)
        assert "speaks https" in text and "Connection reset" in text


def test_both_failing_names_both() -> None:
    refused = ConnectError("cannot connect: [Errno 111] Connection refused")
    with pytest.raises(ConnectError, match=r"no answer over plain HTTP .*refused.* nor https .*refused"):
        run_flow(discover_scheme("127.0.0.1:1", insecure=False), Scripted(refused, refused))
    with pytest.raises(ConnectError, match=r"no answer over https .*refused.* nor plain HTTP .*refused"):
        run_flow(discover_scheme("10.0.0.5:1", insecure=True), Scripted(refused, refused))


def test_rules() -> None:
    assert plain_http_allowed("localhost:5000", False) and plain_http_allowed("[::1]:5000", False)
    assert not plain_http_allowed("ghcr.io", False) and plain_http_allowed("ghcr.io", True)
    assert http_to_https_hint(400, b"Client sent an HTTP request to an HTTPS server.") is not None
    assert http_to_https_hint(404, b"Client sent an HTTP request to an HTTPS server.") is None
    assert http_to_https_hint(400, b'{"errors":[]}') is None


URL = "https://r.example/v2/team/app/manifests/1"


def test_explain_names_the_user_host_and_access() -> None:
    basic = Unauthorized("GET x: 401", status=401, method="GET", url=URL)
    assert explain(basic, user="me", scheme="basic").endswith("credentials for me were refused by r.example")
    bearer_push = Unauthorized("PUT x: 401", status=401, method="PUT", url=URL)
    assert explain(bearer_push, user="me", scheme="bearer").endswith(
        "credentials for me lack push access to team/app on r.example")
    denied = Denied("POST x: 403 DENIED", status=403, method="POST", url=URL)
    assert "lack push access" in explain(denied, user="me", scheme="basic")
    assert explain(basic).endswith("r.example needs credentials (ocireg login r.example)")
    assert "plain HTTP, not TLS" in explain(TLS_ON_HTTP)
