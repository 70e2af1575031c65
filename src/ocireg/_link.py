"""The ``Link`` header (RFC 8288), parsed from its grammar.

Registries paginate ``/v2/_catalog`` and ``/v2/<name>/tags/list`` with a ``Link``
header whose ``rel="next"`` target is the following page, e.g. CNCF distribution's
``</v2/_catalog?last=cat%2Frepo-098&n=100>; rel="next"``.  A regex over that text
splits at commas inside ``<...>`` or quoted strings, so this is a position-passing
parser written from the ABNF, each function taking the text and a position and
returning what it read and the position after it::

    Link        = #link-value
    link-value  = "<" URI-Reference ">" *( OWS ";" OWS link-param )
    link-param  = token BWS [ "=" BWS ( token / quoted-string ) ]

``#`` is the RFC 7230 list: empty elements (``, ,``) are allowed and skipped.
Every error is a :class:`~ocireg.MalformedHeader` carrying the position.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from . import _abnf as abnf
from ._errors import MalformedHeader
from ._http import header_values

__all__ = ["Link", "next_url", "parse_link", "parse_links", "render_links"]

_HEADER = "Link"



def _is_target_char(c: str) -> bool:
    """A character of the URI-Reference between ``<`` and ``>``.

    Visible ASCII without the brackets: a little wider than RFC 3986 (servers do
    send ``|`` or ``{``), but no whitespace, controls or non-ASCII, which could not
    be sent back in a request line anyway.
    """
    return "\x21" <= c <= "\x7e" and c not in "<>"


def _fail(message: str, header: str, pos: int) -> MalformedHeader:
    return MalformedHeader(f"malformed {_HEADER} header: {message}", header=header, position=pos)


# --- the grammar, one rule per function ------------------------------------------


def _parse_ows(header: str, pos: int) -> int:
    return abnf.skip(header, pos)


def _parse_token(header: str, pos: int) -> tuple[str, int]:
    return abnf.token(header, pos, lambda message, at: _fail(message, header, at))


def _parse_quoted_string(header: str, pos: int) -> tuple[str, int]:
    return abnf.quoted_string(header, pos, lambda message, at: _fail(message, header, at))


def _parse_target(header: str, pos: int) -> tuple[str, int]:
    if pos >= len(header) or header[pos] != "<":
        raise _fail("expected '<'", header, pos)
    end = pos + 1
    while end < len(header) and _is_target_char(header[end]):
        end += 1
    if end >= len(header) or header[end] != ">":
        raise _fail("expected '>' closing the link target", header, end)
    return header[pos + 1 : end], end + 1


def _parse_link_param(header: str, pos: int) -> tuple[tuple[str, str], int]:
    name, pos = _parse_token(header, pos)
    after_name = pos
    pos = _parse_ows(header, pos)  # BWS
    if pos < len(header) and header[pos] == "=":
        pos = _parse_ows(header, pos + 1)  # BWS
        if pos < len(header) and header[pos] == '"':
            value, pos = _parse_quoted_string(header, pos)
        else:
            value, pos = _parse_token(header, pos)
        return (name, value), pos
    # A parameter without a value (RFC 8288 allows it); leave the whitespace for
    # the caller so that "; a ; b" still parses.
    return (name, ""), after_name


def _parse_link_value(header: str, pos: int) -> tuple[Link, int]:
    target, pos = _parse_target(header, pos)
    params: list[tuple[str, str]] = []
    while True:
        peek = _parse_ows(header, pos)
        if peek >= len(header) or header[peek] != ";":
            return Link(target, tuple(params)), pos
        pos = _parse_ows(header, peek + 1)
        param, pos = _parse_link_param(header, pos)
        params.append(param)


def parse_link(value: str) -> list[Link]:
    """The links of one ``Link`` header line; :class:`MalformedHeader` if it is not one."""
    links: list[Link] = []
    pos = 0
    # #link-value: elements separated by commas, empty elements allowed.
    while True:
        pos = _parse_ows(value, pos)
        if pos >= len(value):
            return links
        if value[pos] == ",":
            pos += 1
            continue
        link, pos = _parse_link_value(value, pos)
        links.append(link)
        pos = _parse_ows(value, pos)
        if pos < len(value):
            if value[pos] != ",":
                raise _fail("expected ',' or ';'", value, pos)
            pos += 1


def parse_links(values: Sequence[str]) -> list[Link]:
    """The links of several ``Link`` header lines, in order (a list header may repeat)."""
    return [link for value in values for link in parse_link(value)]


# --- the value ------------------------------------------------------------------


@dataclass(frozen=True)
class Link:
    """One link-value: a target URI reference and its parameters, in order.

    Parameter names keep their spelling and are compared case-insensitively
    (RFC 8288 3); values are the unquoted text.  A parameter given without a value
    has the value ``""``.
    """

    target: str
    params: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.target, str) or not all(map(_is_target_char, self.target)):
            raise MalformedHeader(f"invalid {_HEADER} target {self.target!r}")
        if not isinstance(self.params, tuple):
            raise MalformedHeader(f"{_HEADER} params must be a tuple of (name, value) pairs")
        for pair in self.params:
            if not (isinstance(pair, tuple) and len(pair) == 2):
                raise MalformedHeader(f"{_HEADER} param {pair!r} is not a (name, value) pair")
            name, value = pair
            if not isinstance(name, str) or not abnf.is_token(name):
                raise MalformedHeader(f"{_HEADER} param name {name!r} is not a token")
            if not isinstance(value, str) or not all(map(abnf.is_quotable, value)):
                raise MalformedHeader(f"{_HEADER} param {name} has an unsendable value")

    def param(self, name: str) -> str | None:
        """The value of the first parameter ``name`` (case-insensitive), or None.

        Only the first counts: RFC 8288 3.3 says later ``rel`` occurrences are ignored.
        """
        lname = name.lower()
        for key, value in self.params:
            if key.lower() == lname:
                return value
        return None

    @property
    def rels(self) -> tuple[str, ...]:
        """The relation types, lower-cased: ``rel`` is a space-separated list."""
        rel = self.param("rel")
        if rel is None:
            return ()
        return tuple(r.lower() for r in rel.split())


def render_links(links: Iterable[Link]) -> str:
    """One ``Link`` header value for ``links``; :func:`parse_link` reads it back equal."""
    return ", ".join(
        "".join([f"<{link.target}>", *(f"; {k}={abnf.quote(v)}" for k, v in link.params)])
        for link in links
    )


def next_url(headers: Sequence[tuple[str, str]], base_url: str) -> str | None:
    """The absolute URL of the first ``rel="next"`` link, or None.

    Relative targets are resolved against ``base_url`` (the URL of the request
    that got these headers).  The fragment is dropped: it is never sent to a server.
    """
    for link in parse_links(header_values(headers, _HEADER)):
        if "next" in link.rels:
            try:
                url = urllib.parse.urldefrag(urllib.parse.urljoin(base_url, link.target)).url
                parts = urllib.parse.urlsplit(url)
                parts.port  # noqa: B018 - raises ValueError for a bad port
            except ValueError:
                raise MalformedHeader(
                    f"malformed {_HEADER} header: next target is not a valid URL"
                ) from None
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise MalformedHeader(f"malformed {_HEADER} header: next target is not an HTTP URL")
            return url
    return None
