"""``WWW-Authenticate`` challenges (RFC 7235 section 4.1), parsed from the ABNF.

    WWW-Authenticate = 1#challenge
    challenge        = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
    auth-param       = token BWS "=" BWS ( token / quoted-string )
    token68          = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="

A comma separates both parameters and challenges, so after each comma the parser
looks ahead: ``token BWS "="`` continues the parameters, anything else starts a new
challenge.  Functions take the text and a position and return the value and the
new position; errors carry the position where parsing stopped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ._errors import MalformedHeader

__all__ = ["Challenge", "parse_challenges", "parse_www_authenticate", "render_challenge"]

_TCHAR = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_TOKEN68 = frozenset("-._~+/0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_OWS = " \t"
MAX_HEADER = 16 * 1024
"""Longer challenge lines are refused outright: no real registry sends one."""


@dataclass(frozen=True)
class Challenge:
    """One challenge: a lower-cased scheme, lower-cased parameter names, or a token68."""

    scheme: str
    params: tuple[tuple[str, str], ...] = ()
    token68: str | None = None

    def param(self, name: str) -> str | None:
        name = name.lower()
        for key, value in self.params:
            if key == name:
                return value
        return None

    @property
    def realm(self) -> str | None:
        return self.param("realm")

    @property
    def service(self) -> str | None:
        return self.param("service")

    @property
    def scopes(self) -> tuple[str, ...]:
        """The ``scope`` parameter split on spaces (a mount asks for two scopes in one)."""
        value = self.param("scope")
        return tuple(value.split()) if value else ()

    @property
    def error(self) -> str | None:
        return self.param("error")


def _fail(message: str, header: str, pos: int) -> MalformedHeader:
    return MalformedHeader(f"WWW-Authenticate: {message}", header, pos)


def _skip(header: str, pos: int, chars: str = _OWS) -> int:
    while pos < len(header) and header[pos] in chars:
        pos += 1
    return pos


def _token(header: str, pos: int) -> tuple[str, int]:
    end = pos
    while end < len(header) and header[end] in _TCHAR:
        end += 1
    if end == pos:
        raise _fail("expected a token", header, pos)
    return header[pos:end], end


def _quoted_string(header: str, pos: int) -> tuple[str, int]:
    """``DQUOTE *( qdtext / quoted-pair ) DQUOTE``, unescaped."""
    assert header[pos] == '"'
    out: list[str] = []
    pos += 1
    while pos < len(header):
        char = header[pos]
        if char == '"':
            return "".join(out), pos + 1
        if char == "\\":
            pos += 1
            if pos == len(header):
                break
            char = header[pos]
        if char in "\r\n\x00" or (ord(char) < 0x20 and char != "\t") or ord(char) == 0x7F:
            raise _fail("control character in quoted string", header, pos)
        out.append(char)
        pos += 1
    raise _fail("unterminated quoted string", header, pos)


def _token68_end(header: str, pos: int) -> int | None:
    """The end of a token68 at ``pos`` if one stands there alone (then OWS and "," or the end)."""
    end = pos
    while end < len(header) and header[end] in _TOKEN68:
        end += 1
    if end == pos:
        return None
    while end < len(header) and header[end] == "=":
        end += 1
    after = _skip(header, end)
    return end if after == len(header) or header[after] == "," else None


def _starts_param(header: str, pos: int) -> bool:
    """Look ahead: does ``token BWS "="`` start at ``pos``?"""
    end = pos
    while end < len(header) and header[end] in _TCHAR:
        end += 1
    if end == pos:
        return False
    end = _skip(header, end)
    return end < len(header) and header[end] == "="


def _challenge(header: str, pos: int) -> tuple[Challenge, int]:
    scheme, pos = _token(header, pos)
    if pos == len(header) or header[pos] == ",":
        return Challenge(scheme.lower()), pos
    if header[pos] != " ":
        raise _fail("expected a space after the scheme", header, pos)
    pos = _skip(header, pos, " ")
    if pos == len(header) or header[pos] == ",":
        return Challenge(scheme.lower()), pos
    # token68 ends in optional "=" padding and then the end or a comma; an auth-param
    # always has a value after its "=", so the two cannot be confused.
    t68 = _token68_end(header, pos)
    if t68 is not None:
        return Challenge(scheme.lower(), token68=header[pos:t68]), t68
    params: list[tuple[str, str]] = []
    while True:
        name, pos = _token(header, pos)
        pos = _skip(header, pos)
        if pos == len(header) or header[pos] != "=":
            raise _fail("expected '=' after a parameter name", header, pos)
        pos = _skip(header, pos + 1)
        if pos < len(header) and header[pos] == '"':
            value, pos = _quoted_string(header, pos)
        else:
            value, pos = _token(header, pos)
        params.append((name.lower(), value))
        pos = _skip(header, pos)
        if pos == len(header):
            break
        if header[pos] != ",":
            raise _fail("expected ',' between parameters", header, pos)
        after = _skip(header, pos, _OWS + ",")
        if after == len(header) or not _starts_param(header, after):
            break  # the comma ends this challenge: the next one (if any) starts after it
        pos = after
    return Challenge(scheme.lower(), tuple(params)), pos


def parse_challenges(value: str) -> list[Challenge]:
    """Every challenge of one ``WWW-Authenticate`` line; :class:`MalformedHeader` otherwise."""
    if len(value) > MAX_HEADER:
        raise MalformedHeader(f"WWW-Authenticate: longer than {MAX_HEADER} characters", "", 0)
    challenges: list[Challenge] = []
    pos = _skip(value, 0, _OWS + ",")
    while pos < len(value):
        challenge, pos = _challenge(value, pos)
        challenges.append(challenge)
        pos = _skip(value, pos, _OWS + ",")
    if not challenges:
        raise _fail("no challenge", value, 0)
    return challenges


def parse_www_authenticate(headers: Sequence[tuple[str, str]]) -> list[Challenge]:
    """The challenges of every ``WWW-Authenticate`` line of a response, in order."""
    found: list[Challenge] = []
    for name, value in headers:
        if name.lower() == "www-authenticate":
            found.extend(parse_challenges(value))
    return found


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_challenge(challenge: Challenge) -> str:
    """The challenge as header text (parameters always quoted)."""
    if challenge.token68 is not None:
        return f"{challenge.scheme} {challenge.token68}"
    if not challenge.params:
        return challenge.scheme
    return challenge.scheme + " " + ", ".join(f"{k}={_quote(v)}" for k, v in challenge.params)
