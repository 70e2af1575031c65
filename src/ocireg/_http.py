"""HTTP values shared by the core, the drivers and the transports.

A :class:`Request` describes what to send; a :class:`Response` is the head of what
came back, with the body left unread behind an opaque ``stream`` handle that only
the driver touches.  Headers travel as a tuple of ``(name, value)`` pairs, never a
dict, because a response can carry several ``WWW-Authenticate`` lines.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import re
import urllib.parse
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

__all__ = [
    "REDACTED",
    "Body",
    "Headers",
    "Origin",
    "Request",
    "Response",
    "add_query",
    "authorization_secrets",
    "header_value",
    "header_values",
    "is_loopback_host",
    "is_loopback_netloc",
    "redact_secrets",
    "redact_url",
    "secret_forms",
    "with_header",
    "without_header",
]

Headers = tuple[tuple[str, str], ...]
"""Header pairs in order; names are compared case-insensitively."""

Body = bytes | Iterable[bytes | bytearray | memoryview] | None
"""A request body: bytes, an iterable of chunks (streamed; set Content-Length), or none.

Flows also use a :class:`~ocireg._flow.BlobBody` (an iterable of chunks), which
the drivers check and report on as it is sent."""


def header_values(headers: Sequence[tuple[str, str]], name: str) -> list[str]:
    """Every value of the header ``name``, in order."""
    lname = name.lower()
    return [v for k, v in headers if k.lower() == lname]


def header_value(headers: Sequence[tuple[str, str]], name: str) -> str | None:
    """The first value of the header ``name``, or None."""
    lname = name.lower()
    for k, v in headers:
        if k.lower() == lname:
            return v
    return None


def without_header(headers: Headers, name: str) -> Headers:
    lname = name.lower()
    return tuple((k, v) for k, v in headers if k.lower() != lname)


def with_header(headers: Headers, name: str, value: str) -> Headers:
    """``headers`` with every ``name`` line replaced by one ``name: value`` line."""
    return (*without_header(headers, name), (name, value))


class Origin(NamedTuple):
    """Scheme, host and port: the unit credentials are scoped to (RFC 6454)."""

    scheme: str
    host: str
    port: int

    @classmethod
    def of(cls, url: str) -> Origin:
        parts = urllib.parse.urlsplit(url)
        scheme = parts.scheme.lower()
        host = (parts.hostname or "").lower()
        port = parts.port or (443 if scheme == "https" else 80)
        return cls(scheme, host, port)

    @property
    def is_loopback(self) -> bool:
        return is_loopback_host(self.host)


def is_loopback_host(host: str) -> bool:
    """``localhost``, 127.0.0.0/8 or ::1: hosts where plain HTTP cannot be sniffed."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def add_query(url: str, pairs: Sequence[tuple[str, str]]) -> str:
    """``url`` with ``pairs`` appended to its query, keeping what is there (an upload's state)."""
    parts = urllib.parse.urlsplit(url)
    extra = urllib.parse.urlencode(pairs)
    query = f"{parts.query}&{extra}" if parts.query and extra else parts.query or extra
    return urllib.parse.urlunsplit(parts._replace(query=query))


_SECRET_QUERY = re.compile(r"sig|signature|token|credential|secret|key|auth|password", re.IGNORECASE)
"""Query parameters that sign or authorise a URL (presigned object-storage redirects)."""


def is_loopback_netloc(netloc: str) -> bool:
    """:func:`is_loopback_host` for ``host[:port]`` (``[::1]:5000`` included)."""
    try:
        return is_loopback_host(urllib.parse.urlsplit(f"//{netloc}").hostname or "")
    except ValueError:  # an unbalanced "[": not a host at all, so not loopback
        return False


# Userinfo urlsplit does not see as such, in text that is not quite a URL:
# "user:pw@host" (read as scheme "user"), "https:/user:pw@host", "//user:pw@host".
_LOOSE_USERINFO = re.compile(r"^(/*)[^/?#]*@|^([A-Za-z][A-Za-z0-9+.-]*:/*)[^/?#]*@")


REDACTED = "<redacted>"


def secret_forms(secrets: Iterable[str]) -> tuple[str, ...]:
    """Each secret as it may be echoed back: raw, JSON-escaped, percent-encoded.

    Longest first, so a secret containing another is replaced whole.
    """
    forms: set[str] = set()
    for secret in secrets:
        if secret:
            forms.update((
                secret,
                json.dumps(secret)[1:-1],
                json.dumps(secret, ensure_ascii=False)[1:-1],
                urllib.parse.quote(secret, safe=""),
            ))  # fmt: skip
    return tuple(sorted(forms, key=len, reverse=True))


def redact_secrets(text: str, forms: Sequence[str]) -> str:
    """``text`` with every one of ``forms`` (from :func:`secret_forms`) replaced."""
    for form in forms:
        if form in text:
            text = text.replace(form, REDACTED)
    return text


def authorization_secrets(headers: Sequence[tuple[str, str]]) -> tuple[str, ...]:
    """What a server might echo of a request's credentials.

    The ``Authorization`` values, their credential part (the Bearer token, the
    Basic base64), and for Basic the decoded ``user:password`` and the password.
    """
    found: list[str] = []
    for value in header_values(headers, "Authorization"):
        value = value.strip()
        scheme, _, credential = value.partition(" ")
        credential = credential.strip()
        found += [value, credential]
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(credential, validate=True).decode("utf-8")
            except (binascii.Error, ValueError):
                continue
            found += [decoded, decoded.partition(":")[2]]
    return tuple(s for s in found if s)


def redact_url(url: str) -> str:
    """``url`` without userinfo or the values of signing query parameters.

    Safe in an error message or a log line: a blob redirect to object storage
    carries its authorisation in the query (``X-Amz-Signature``, ``sig``, ...).
    Text that is not a well-formed URL is redacted too, never raised on.
    """
    url = _LOOSE_USERINFO.sub(lambda m: m.group(1) or m.group(2) or "", url, count=1)
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:  # an unbalanced "[": nothing in it is worth showing
        return "<malformed URL>"
    if "@" in parts.netloc:
        parts = parts._replace(netloc=parts.netloc.rsplit("@", 1)[1])
    if parts.query and _SECRET_QUERY.search(parts.query):
        pairs = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
        query = urllib.parse.urlencode(
            [(k, "<redacted>" if _SECRET_QUERY.search(k) else v) for k, v in pairs], safe="<>:/,"
        )
        parts = parts._replace(query=query)
    return urllib.parse.urlunsplit(parts)


@dataclass(frozen=True)
class Request:
    """One HTTP request as the core wants it sent, exactly.

    ``url`` is absolute.  Transports send ``headers`` as given (adding only
    ``Host`` and framing headers) and ``body`` as given: bytes, or an iterable of
    chunks whose total length is in a ``Content-Length`` header.
    """

    method: str
    url: str
    headers: Headers = ()
    body: Body = field(default=None, compare=False)

    @property
    def origin(self) -> Origin:
        return Origin.of(self.url)

    def replace(self, **changes: Any) -> Request:
        return replace(self, **changes)

    def __repr__(self) -> str:  # never show header values: they may hold credentials
        return f"<Request {self.method} {redact_url(self.url)}>"


@dataclass(frozen=True, eq=False)
class Response:
    """The head of an answer; the body is behind ``stream``, read only by a driver.

    Flows never touch ``stream``: they yield :class:`ocireg._flow.ReadBody` or
    :class:`ocireg._flow.Close` for it, or return the response to the caller, which
    then streams it (blobs).
    """

    status: int
    headers: Headers
    request: Request
    stream: Any = field(default=None, repr=False)

    def header(self, name: str) -> str | None:
        return header_value(self.headers, name)

    def header_all(self, name: str) -> list[str]:
        return header_values(self.headers, name)

    def __repr__(self) -> str:
        return f"<Response {self.status} for {self.request!r}>"
