"""``WWW-Authenticate`` challenges (RFC 7235 section 4.1), parsed from the ABNF.

    WWW-Authenticate = 1#challenge
    challenge        = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
    auth-param       = token BWS "=" BWS ( token / quoted-string )
    token68          = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="

The gem split this header with ``/(\\w+)="([^"]+)"/``, which loses unquoted values,
escaped quotes and every challenge after the first, and breaks on commas inside a
quoted scope.  Here each function takes the text and a position and returns the
value and the position after it; errors are :class:`~ocireg.MalformedHeader`
carrying the position where parsing stopped.

A comma separates both parameters and challenges, so after each comma the parser
looks ahead: ``token BWS "="`` continues the parameters, anything else starts a new
challenge.  ``#`` is the RFC 7230 list, so empty elements (``, ,``) are skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from . import _abnf as abnf
from ._errors import InvalidArgument, MalformedHeader

__all__ = ["Challenge", "parse_challenges", "parse_www_authenticate", "render_challenge"]

# RFC 7230 3.2.6 tchar, and RFC 7235 2.1 token68 characters.
_TOKEN68 = frozenset("-._~+/0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")

MAX_HEADER = 16 * 1024
"""Longer challenge lines are refused outright: real ones are a few hundred bytes."""


def _is_token68(text: str) -> bool:
    body = text.rstrip("=")
    return bool(body) and all(c in _TOKEN68 for c in body)


@dataclass(frozen=True)
class Challenge:
    """One challenge: a lower-cased scheme and either parameters or a token68.

    Parameter names are lower-cased (they are case-insensitive) and unique; values
    are kept as sent, unescaped.  Building one validates it, so every
    :class:`Challenge` can be rendered and parsed back to itself.
    """

    scheme: str
    params: tuple[tuple[str, str], ...] = ()
    token68: str | None = None

    def __post_init__(self) -> None:
        if not abnf.is_token(self.scheme):
            raise InvalidArgument(f"auth scheme {self.scheme[:100]!r} is not a token")
        object.__setattr__(self, "scheme", self.scheme.lower())
        params = tuple((name.lower(), value) for name, value in self.params)
        object.__setattr__(self, "params", params)
        if self.token68 is not None:
            if params:
                raise InvalidArgument("a challenge carries a token68 or parameters, not both")
            if not _is_token68(self.token68):
                raise InvalidArgument(f"{self.token68[:100]!r} is not a token68")
        seen: set[str] = set()
        for name, value in params:
            if not abnf.is_token(name):
                raise InvalidArgument(f"parameter name {name[:100]!r} is not a token")
            if name in seen:
                raise InvalidArgument(f"parameter {name!r} given twice")
            seen.add(name)
            if not all(abnf.is_quotable(c) for c in value):
                raise InvalidArgument(f"parameter {name!r} holds a control character")

    def param(self, name: str) -> str | None:
        """The value of parameter ``name`` (any case), or None."""
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
        return tuple(part for part in value.split(" ") if part) if value else ()

    @property
    def error(self) -> str | None:
        """``insufficient_scope``, ``invalid_token``, ... (RFC 6750 section 3.1)."""
        return self.param("error")


# --- the parser ---------------------------------------------------------------------


def _fail(message: str, header: str, pos: int) -> MalformedHeader:
    return MalformedHeader(f"WWW-Authenticate: {message}", header, pos)


def _skip(header: str, pos: int, chars: str = abnf.OWS) -> int:
    return abnf.skip(header, pos, chars)


def _token(header: str, pos: int) -> tuple[str, int]:
    return abnf.token(header, pos, lambda message, at: _fail(message, header, at))


def _quoted_string(header: str, pos: int) -> tuple[str, int]:
    return abnf.quoted_string(header, pos, lambda message, at: _fail(message, header, at))


def _token68_end(header: str, pos: int) -> int | None:
    """The end of a token68 at ``pos`` if one stands there alone (then OWS, and "," or the end)."""
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
    while end < len(header) and header[end] in abnf.TCHAR:
        end += 1
    if end == pos:
        return False
    end = _skip(header, end)
    return end < len(header) and header[end] == "="


def _challenge(header: str, pos: int) -> tuple[Challenge, int]:
    scheme, pos = _token(header, pos)
    if pos == len(header) or header[pos] == ",":
        return Challenge(scheme), pos
    if header[pos] != " ":
        raise _fail("expected a space after the scheme", header, pos)
    pos = _skip(header, pos, " ")
    if pos == len(header) or header[pos] == ",":
        return Challenge(scheme), pos
    # A token68 is followed by the end or a comma; an auth-param always has a value
    # after its "=", so "abc==" is a token68 and "abc=d" a parameter.
    t68 = _token68_end(header, pos)
    if t68 is not None:
        return Challenge(scheme, token68=header[pos:t68]), t68
    params: list[tuple[str, str]] = []
    names: set[str] = set()
    while True:
        start = pos
        name, pos = _token(header, pos)
        pos = _skip(header, pos)
        if pos == len(header) or header[pos] != "=":
            raise _fail("expected '=' after a parameter name", header, pos)
        pos = _skip(header, pos + 1)
        if pos < len(header) and header[pos] == '"':
            value, pos = _quoted_string(header, pos)
        else:
            value, pos = _token(header, pos)
        # RFC 7235 2.1: each parameter name occurs once; two realms would leave the
        # choice of where credentials go to whichever one a parser happens to keep.
        if name.lower() in names:
            raise _fail(f"parameter {name.lower()!r} given twice", header, start)
        names.add(name.lower())
        params.append((name, value))
        pos = _skip(header, pos)
        if pos == len(header):
            break
        if header[pos] != ",":
            raise _fail("expected ',' after a parameter", header, pos)
        after = _skip(header, pos, abnf.OWS + ",")
        if after == len(header) or not _starts_param(header, after):
            break  # the comma ends this challenge; the next one (if any) starts after it
        pos = after
    return Challenge(scheme, tuple(params)), pos


def parse_challenges(value: str) -> list[Challenge]:
    """Every challenge of one ``WWW-Authenticate`` line; :class:`MalformedHeader` otherwise."""
    if len(value) > MAX_HEADER:
        raise MalformedHeader(f"WWW-Authenticate: longer than {MAX_HEADER} characters", "", MAX_HEADER)
    challenges: list[Challenge] = []
    pos = _skip(value, 0, abnf.OWS + ",")
    while pos < len(value):
        challenge, pos = _challenge(value, pos)
        challenges.append(challenge)
        pos = _skip(value, pos, abnf.OWS + ",")
    if not challenges:
        raise _fail("no challenge", value, 0)
    return challenges


def parse_www_authenticate(headers: Sequence[tuple[str, str]]) -> list[Challenge]:
    """The challenges of every ``WWW-Authenticate`` line of a response, in order.

    Strict: one malformed line raises :class:`MalformedHeader`.
    """
    found: list[Challenge] = []
    for name, value in headers:
        if name.lower() == "www-authenticate":
            found.extend(parse_challenges(value))
    return found


# --- rendering ----------------------------------------------------------------------


def render_challenge(challenge: Challenge) -> str:
    """The challenge as header text; :func:`parse_challenges` reads it back unchanged.

    Values that are tokens go bare, others quoted; the scheme is capitalised as
    servers usually send it (``Bearer``), which the case-insensitive parser ignores.
    """
    scheme = challenge.scheme[:1].upper() + challenge.scheme[1:]
    if challenge.token68 is not None:
        return f"{scheme} {challenge.token68}"
    if not challenge.params:
        return scheme
    return scheme + " " + ",".join(f"{name}={abnf.quote(value)}" for name, value in challenge.params)
