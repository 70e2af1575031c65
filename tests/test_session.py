"""Session edge cases: base URL normalisation, path and query encoding, limits; basics in test_session_flow.py."""

from __future__ import annotations

import pytest

import ocireg
from ocireg._errors import InvalidArgument, RedirectError
from ocireg._http import header_value
from ocireg._session import Limits, Session
from scripted import ScriptedTransport, ok_json, run


@pytest.mark.parametrize(
    ("base", "normalised"),
    [
        ("HTTPS://Registry.Example.COM:5443", "https://registry.example.com:5443"),
        ("https://registry.example.com/mirror/", "https://registry.example.com/mirror"),
        ("https://registry.example.com/mirror//", "https://registry.example.com/mirror"),
        ("  http://127.0.0.1:5000  ", "http://127.0.0.1:5000"),
        ("http://[::1]:5000/", "http://[::1]:5000"),
    ],
)
def test_base_url_is_normalised(base: str, normalised: str) -> None:
    session = Session(base)
    assert session.base_url == normalised
    assert session.url("/v2/") == normalised + "/v2/"


@pytest.mark.parametrize(
    "base",
    ["registry.example.com", "https://", "https://registry.example.com/?x=1", "https://registry.example.com/#f",
     "https://registry.example.com:99999", "https://registry.example.com/a b"],
)
def test_unusable_base_url_is_refused(base: str) -> None:
    with pytest.raises(InvalidArgument):
        Session(base)


@pytest.mark.parametrize(
    "base",
    ["https://user:s3cret@registry.example", "user:s3cret@registry.example:5000",
     "https:/user:s3cret@registry.example", "//user:s3cret@registry.example",
     "https:user:s3cret@registry.example", "https://user:s3cret@[::1", "user:s3cret@[::1",
     "ftp://user:s3cret@registry.example", "https://user:s3cret@registry.example:99999"],
)  # fmt: skip
def test_a_password_in_the_url_is_never_echoed(base: str) -> None:
    for make in (Session, ocireg.Registry):
        with pytest.raises(InvalidArgument) as info:
            make(base)
        assert "s3cret" not in str(info.value) and "s3cret" not in repr(info.value)


def test_path_is_encoded_and_kept_under_the_prefix() -> None:
    session = Session("https://registry.example.com/prefix/")
    assert session.url("/v2/a/tags/list?n=10", [("last", "v1.0+build 2/x")]) == (
        "https://registry.example.com/prefix/v2/a/tags/list?n=10&last=v1.0%2Bbuild%202%2Fx"
    )
    assert session.url("/v2/café/tags/list") == "https://registry.example.com/prefix/v2/caf%C3%A9/tags/list"
    for path in ("/v2/../../admin", "/v2/./x", "v2/", "/v2/a b", "/v2/a#frag", "/v2/a\r\nX: 1"):
        with pytest.raises(InvalidArgument):
            session.url(path)


def test_request_shapes() -> None:
    session = Session("https://registry.example.com", user_agent="tool/2")
    own = session.request("GET", "/v2/", headers=(("user-agent", "mine/1"),))
    assert [v for k, v in own.headers if k.lower() == "user-agent"] == ["mine/1"]
    added = session.request("GET", "/v2/")
    assert header_value(added.headers, "User-Agent") == "tool/2"
    upload = session.request("PUT", "https://uploads.example.net/u/1?_state=abc", query=[("digest", "sha256:" + "0" * 64)])
    assert upload.url == "https://uploads.example.net/u/1?_state=abc&digest=sha256%3A" + "0" * 64
    for method in ("", "GE T", "GET\r\n"):
        with pytest.raises(InvalidArgument):
            session.request(method, "/v2/")
    with pytest.raises(InvalidArgument):
        session.request("GET", "file:///etc/passwd")
    with pytest.raises(InvalidArgument):
        Session("https://registry.example.com", user_agent="x\r\nInjected: 1")


@pytest.mark.parametrize(
    "limits",
    [lambda: Limits(manifest=0), lambda: Limits(token=-1), lambda: Limits(error=True), lambda: Limits(max_redirects=-1),
     lambda: Limits(max_pages=1.5)],  # type: ignore[arg-type]
)
def test_limits_validate(limits: object) -> None:
    with pytest.raises(InvalidArgument):
        limits()  # type: ignore[operator]


def test_limits_drive_redirects() -> None:
    session = Session("https://registry.example.com", limits=Limits(max_redirects=1))
    hop = (307, (("Location", "/v2/b"),), b"")
    transport = ScriptedTransport([hop, ok_json({})])
    assert run(session.send(session.request("GET", "/v2/a"), now=0.0), transport).status == 200
    transport = ScriptedTransport([hop, (307, (("Location", "/v2/c"),), b"")])
    with pytest.raises(RedirectError):
        run(session.send(session.request("GET", "/v2/a"), now=0.0), transport)
    assert transport.all_closed
