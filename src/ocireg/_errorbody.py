"""Registry error answers: ``{"errors": [{"code", "message", "detail"}]}`` to typed errors.

The body is read with a cap and decoded leniently: an error answer is often not
the registry's at all (a proxy's HTML 502 page, an empty 401), and a body we
cannot read must never hide the status it came with.  What the body says is
hostile text that ends up in exception messages, so it is cut short and flattened
to one printable line.  Header values never go into an error: they may hold
credentials.
"""

from __future__ import annotations

import http
from collections.abc import Sequence
from typing import Any

from ._errors import (
    BlobUnknown,
    Denied,
    ErrorDetail,
    InvalidResponse,
    ManifestUnknown,
    NameUnknown,
    NotFound,
    ResponseError,
    ResponseTooLarge,
    TooManyRequests,
    Unauthorized,
    Unsupported,
)
from ._flow import Flow, close, read_body
from ._http import Response, authorization_secrets, redact_secrets, redact_url, secret_forms
from ._scheme import http_to_https_hint
from ._strictjson import parse_json

__all__ = [
    "ERROR_BODY_LIMIT",
    "MAX_CODE_LENGTH",
    "MAX_ERRORS",
    "MAX_MESSAGE_LENGTH",
    "expect",
    "parse_error_body",
    "response_error",
]

ERROR_BODY_LIMIT = 64 * 1024
"""Error bodies are a few hundred bytes; anything past this is not worth reading."""

MAX_ERRORS = 20
"""Entries kept from one body: registries send one or two."""

MAX_MESSAGE_LENGTH = 1024
"""Characters kept of each message."""

MAX_CODE_LENGTH = 64
"""Characters kept of each code (real ones are short upper-case words)."""

_SUMMARY_LENGTH = 200
"""Characters of the message shown in the exception's one line."""

_MAX_RETRY_AFTER_DIGITS = 10
"""Over ~300 years of delay: a bigger Retry-After is nonsense, not a wait."""


def _clean(text: str, limit: int) -> str:
    """``text`` as one printable line of at most ``limit`` characters.

    Control characters (newlines, ANSI escapes) become spaces so that a message
    cannot forge extra log lines or recolour a terminal.
    """
    flat = "".join(c if c.isprintable() else " " for c in text[: limit + 1])
    flat = " ".join(flat.split())
    if len(flat) > limit:
        flat = flat[: limit - 1] + "…"
    return flat


def _redact_json(value: object, forms: Sequence[str]) -> object:
    """A JSON value with the secrets removed from every string, keys included."""
    if isinstance(value, str):
        return redact_secrets(value, forms)
    if isinstance(value, list):
        return [_redact_json(v, forms) for v in value]
    if isinstance(value, dict):
        return {redact_secrets(k, forms): _redact_json(v, forms) for k, v in value.items()}
    return value


def _detail(entry: dict[str, Any], forms: Sequence[str]) -> ErrorDetail | None:
    # Secrets go before anything is cut: a cut could leave a secret's first half.
    code = entry.get("code")
    message = entry.get("message")
    code = _clean(redact_secrets(code, forms), MAX_CODE_LENGTH) if isinstance(code, str) else ""
    message = (
        _clean(redact_secrets(message, forms), MAX_MESSAGE_LENGTH)
        if isinstance(message, str)
        else ""
    )
    if not code and not message:
        return None
    # detail is free-form JSON (Docker Hub puts the denied access there); it came
    # from a body under the cap, so it is bounded.
    return ErrorDetail(code=code, message=message, detail=_redact_json(entry.get("detail"), forms))


def parse_error_body(
    body: bytes, *, limit: int = ERROR_BODY_LIMIT, secrets: Sequence[str] = ()
) -> tuple[ErrorDetail, ...]:
    """The entries of a registry error body; ``()`` for anything else.  Never raises.

    Non-JSON, HTML, a body over ``limit``, or JSON of another shape all give ``()``;
    entries without a string code or message are skipped; at most
    :data:`MAX_ERRORS` are kept.  ``secrets`` (raw, JSON-escaped or
    percent-encoded) are replaced by ``<redacted>`` in every string kept.
    """
    forms = secret_forms(secrets)
    try:
        doc = parse_json(body, limit=limit, what="error body")
    except InvalidResponse:
        return ()
    if not isinstance(doc, dict):
        return ()
    entries = doc.get("errors")
    if not isinstance(entries, list):
        return ()
    details: list[ErrorDetail] = []
    for entry in entries:
        if len(details) >= MAX_ERRORS:
            break
        if isinstance(entry, dict) and (detail := _detail(entry, forms)) is not None:
            details.append(detail)
    return tuple(details)


def _retry_after(response: Response) -> float | None:
    """``Retry-After`` in its delay-seconds form; an HTTP-date would need a clock."""
    value = response.header("Retry-After")
    if value is None:
        return None
    value = value.strip()
    if not value.isascii() or not value.isdigit() or len(value) > _MAX_RETRY_AFTER_DIGITS:
        return None
    return float(int(value))


# By status first: the status is what every registry gets right.  Then, for other
# statuses (a 400 or a 503 that carries a code), by the first code that names a
# kind of failure.
_BY_STATUS: dict[int, type[ResponseError]] = {
    401: Unauthorized,
    403: Denied,
    404: NotFound,
    405: Unsupported,
    429: TooManyRequests,
}
_NOT_FOUND_BY_CODE: dict[str, type[NotFound]] = {
    "NAME_UNKNOWN": NameUnknown,
    "MANIFEST_UNKNOWN": ManifestUnknown,
    "BLOB_UNKNOWN": BlobUnknown,
    "BLOB_UPLOAD_UNKNOWN": BlobUnknown,
}
_BY_CODE: dict[str, type[ResponseError]] = {
    "UNAUTHORIZED": Unauthorized,
    "DENIED": Denied,
    "UNSUPPORTED": Unsupported,
    "TOOMANYREQUESTS": TooManyRequests,
}


def _error_class(status: int, codes: tuple[str, ...]) -> type[ResponseError]:
    cls = _BY_STATUS.get(status)
    if cls is NotFound:
        for code in codes:
            if code in _NOT_FOUND_BY_CODE:
                return _NOT_FOUND_BY_CODE[code]
    if cls is not None:
        return cls
    for code in codes:
        if code in _BY_CODE:
            return _BY_CODE[code]
    return ResponseError


def _summary(status: int, errors: tuple[ErrorDetail, ...]) -> str:
    if not errors:
        try:
            return f"{status} {http.HTTPStatus(status).phrase}"
        except ValueError:
            return str(status)
    first = errors[0]
    text = f"{status} {first.code or 'error'}"
    if first.message:
        text += f": {_clean(first.message, _SUMMARY_LENGTH)}"
    if len(errors) > 1:
        text += f" (and {len(errors) - 1} more)"
    return text


def response_error(response: Response, body: bytes) -> ResponseError:
    """The typed error for an error ``response`` whose (capped) body is ``body``.

    The message is one line: ``GET https://host/v2/...: 404 MANIFEST_UNKNOWN: ...``.
    A body echoing the request's credentials (its ``Authorization`` value, the
    token, the Basic password) has them replaced by ``<redacted>`` everywhere.
    """
    errors = parse_error_body(body, secrets=authorization_secrets(response.request.headers))
    codes = tuple(e.code.upper() for e in errors)
    method = response.request.method
    url = redact_url(response.request.url)
    message = f"{method} {url}: {_summary(response.status, errors)}"
    hint = None if errors else http_to_https_hint(response.status, body)
    if hint is not None:  # plain HTTP reached a TLS port: the server's own words say so
        message += f": {hint}"
    cls = _error_class(response.status, codes)
    if cls is TooManyRequests:
        return TooManyRequests(
            message,
            status=response.status,
            method=method,
            url=url,
            errors=errors,
            retry_after=_retry_after(response),
        )
    return cls(message, status=response.status, method=method, url=url, errors=errors)


def expect(response: Response, *statuses: int, limit: int = ERROR_BODY_LIMIT) -> Flow[None]:
    """Return if ``response.status`` is one of ``statuses``; raise the right error if not.

    On success the body is left for the caller.  Otherwise the body is consumed:
    an error body is read (at most ``limit`` bytes) for its error entries, an
    unexpected success or redirect is closed unread (it may be a whole blob).
    """
    if response.status in statuses:
        return
    request = response.request
    if response.status < 400:
        yield from close(response)
        wanted = " or ".join(map(str, statuses)) or "an error"
        raise InvalidResponse(
            f"{request.method} {redact_url(request.url)}: "
            f"unexpected status {response.status} (expected {wanted})"
        )
    try:
        body = yield from read_body(response, limit)
    except ResponseTooLarge:
        # An oversized error body must not hide the status: its entries are lost
        # (cut JSON does not parse), the error class still comes from the status.
        body = b""
    raise response_error(response, body)
