"""HTTP values: origins, loopback detection, URL redaction."""

from __future__ import annotations

import pytest

from ocireg._http import Origin, add_query, header_values, is_loopback_host, redact_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://user:secret@registry.example/v2/", "https://registry.example/v2/"),
        (
            "https://bucket.s3.example/blob?X-Amz-Credential=AKIA%2F1&X-Amz-Signature=abc123&X-Amz-Expires=600",
            "https://bucket.s3.example/blob?X-Amz-Credential=<redacted>&X-Amz-Signature=<redacted>&X-Amz-Expires=600",
        ),
        ("https://cdn.example/b?sig=zzz&se=2026", "https://cdn.example/b?sig=<redacted>&se=2026"),
        ("https://registry.example/v2/_catalog?n=100&last=a%2Fb", "https://registry.example/v2/_catalog?n=100&last=a%2Fb"),
        ("https://registry.example/v2/a@b", "https://registry.example/v2/a@b"),  # "@" in a path stays
        # Not quite URLs, as a user may type them: the userinfo still goes.
        ("user:secret@registry.example:5000", "registry.example:5000"),
        ("https:/user:secret@registry.example", "https:///registry.example"),
        ("//user:secret@registry.example", "//registry.example"),
        ("https://user:p@ss:secret@registry.example", "https://registry.example"),
        ("https://user:secret@[::1", "<malformed URL>"),  # urlsplit raises: never re-raised
    ],
)
def test_redact_url_hides_userinfo_and_signatures(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    assert "secret" not in redact_url(url) and "abc123" not in redact_url(url)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("localhost", True), ("127.0.0.1", True), ("127.8.9.10", True), ("[::1]", True), ("::1", True),
     ("registry.localhost", True), ("10.0.0.1", False), ("example.com", False), ("localhost.example", False)],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


def test_origin_defaults_ports_and_lowercases() -> None:
    assert Origin.of("HTTPS://Registry.Example/v2/") == Origin("https", "registry.example", 443)
    assert Origin.of("http://127.0.0.1:5000/x") == Origin("http", "127.0.0.1", 5000)
    assert Origin.of("https://a.example") != Origin.of("https://a.example:444")


def test_add_query_keeps_an_upload_state() -> None:
    location = "http://127.0.0.1:5000/v2/r/blobs/uploads/u?_state=abc%3D"
    assert add_query(location, [("digest", "sha256:00")]) == location + "&digest=sha256%3A00"
    assert add_query("http://h/x", []) == "http://h/x"


def test_header_values_keep_every_line_in_order() -> None:
    headers = (("WWW-Authenticate", "Bearer realm=a"), ("Content-Type", "x"), ("www-authenticate", "Basic realm=b"))
    assert header_values(headers, "WWW-AUTHENTICATE") == ["Bearer realm=a", "Basic realm=b"]


@pytest.mark.parametrize(
    ("given", "url"),
    [
        # https first everywhere; plain HTTP on loopback is discovered (test_scheme.py).
        ("localhost:5000", "https://localhost:5000"),
        ("127.0.0.1:5000", "https://127.0.0.1:5000"),
        ("[::1]:5000", "https://[::1]:5000"),
        ("ghcr.io", "https://ghcr.io"),
        ("docker.io", "https://registry-1.docker.io"),
        ("index.docker.io", "https://registry-1.docker.io"),
        ("http://10.1.2.3:5000", "http://10.1.2.3:5000"),
    ],
)
def test_registry_url_from_a_bare_host(given: str, url: str) -> None:
    from ocireg._client import _registry_url

    assert _registry_url(given) == url


@pytest.mark.parametrize(
    ("netloc", "loopback"),
    [("localhost:5000", True), ("127.0.0.1:5000", True), ("[::1]:5000", True), ("[::1]", True),
     ("ghcr.io", False), ("10.0.0.1:5000", False)],
)
def test_loopback_netlocs(netloc: str, loopback: bool) -> None:
    from ocireg._http import is_loopback_netloc

    assert is_loopback_netloc(netloc) is loopback
