"""The RFC 7230 rules that several header grammars share: token, OWS, quoted-string.

Position-passing, as in h11's ``_abnf``: each function takes the text and a
position and returns what it read and the position after it.  Errors come from
the caller's ``fail(message, position)``, so each header names itself in them.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["OWS", "TCHAR", "is_quotable", "is_token", "quote", "quoted_string", "skip", "token"]

Fail = Callable[[str, int], Exception]

TCHAR = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
"""RFC 7230 3.2.6 ``tchar``."""
OWS = " \t"


def is_token(text: str) -> bool:
    return bool(text) and all(c in TCHAR for c in text)


def is_quotable(c: str) -> bool:
    """What a quoted-string may carry, escaped or not: HTAB / SP / VCHAR / obs-text."""
    return c in "\t " or "\x21" <= c <= "\x7e" or c >= "\x80"


def skip(text: str, pos: int, chars: str = OWS) -> int:
    """Past any of ``chars`` (OWS by default) from ``pos``."""
    while pos < len(text) and text[pos] in chars:
        pos += 1
    return pos


def token(text: str, pos: int, fail: Fail) -> tuple[str, int]:
    end = pos
    while end < len(text) and text[end] in TCHAR:
        end += 1
    if end == pos:
        raise fail("expected a token", pos)
    return text[pos:end], end


def quoted_string(text: str, pos: int, fail: Fail) -> tuple[str, int]:
    """``DQUOTE *( qdtext / quoted-pair ) DQUOTE`` at ``pos``, returned unescaped."""
    if pos >= len(text) or text[pos] != '"':
        raise fail("expected a quoted string", pos)
    out: list[str] = []
    i = pos + 1
    while i < len(text):
        c = text[i]
        if c == '"':
            return "".join(out), i + 1
        if c == "\\":
            if i + 1 == len(text):
                raise fail("nothing to escape at the end of a quoted string", i)
            i += 1
            c = text[i]
        if not is_quotable(c):
            raise fail("control character in a quoted string", i)
        out.append(c)
        i += 1
    raise fail("unterminated quoted string", len(text))


def quote(value: str) -> str:
    """``value`` as a token when it is one, else as a quoted-string (for rendering)."""
    if is_token(value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
