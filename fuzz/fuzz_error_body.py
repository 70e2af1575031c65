"""Registry error bodies: never raise; one printable line; a token the body echoes never shows.

The first 8 bytes make the request's Bearer token; ``TOKEN`` in the body stands for it.
"""

from __future__ import annotations

from _harness import fuzz, instrumented

with instrumented():
    from ocireg._errorbody import MAX_ERRORS, parse_error_body, response_error
    from ocireg._errors import ResponseError
    from ocireg._http import Request, Response


def check(data: bytes) -> None:
    token = "tok" + data[:8].hex() + "Zq"
    body = data[8:].replace(b"TOKEN", token.encode())
    details = parse_error_body(body)
    assert len(details) <= MAX_ERRORS
    request = Request("GET", "https://registry.example/v2/a/manifests/b", (("Authorization", f"Bearer {token}"),))
    status = 400 + (data[0] % 200 if data else 0)
    exc = response_error(Response(status, (), request), body)
    assert isinstance(exc, ResponseError) and exc.status == status
    message = str(exc)
    assert message.isprintable(), message
    for text in (message, repr(exc), repr(exc.errors)):
        assert token not in text


if __name__ == "__main__":
    fuzz(check)
