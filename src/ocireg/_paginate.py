"""Pagination of ``/v2/_catalog`` and ``/v2/<name>/tags/list``.

A page is a JSON object holding a list (``repositories`` or ``tags``) and maybe a
``Link: <...>; rel="next"`` header.  The server decides where the next page is,
so the server can also send us in circles or elsewhere: :class:`Pagination` is the
sans-IO state that refuses a next link on another origin (credentials were sent
for this one), a next link already followed (a loop), and more than ``max_pages``
pages (a loop through ever-new URLs).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass

from ._errorbody import expect
from ._errors import InvalidArgument, InvalidResponse
from ._flow import Emit, Flow, read_body
from ._http import Origin, Request, Response, redact_url
from ._link import next_url
from ._strictjson import parse_json_object

__all__ = [
    "MAX_PAGES",
    "PAGE_LIMIT",
    "Page",
    "Pagination",
    "collect_pages",
    "page_flow",
    "paginate",
    "paginated_url",
]

PAGE_LIMIT = 4 * 1024 * 1024
"""Bytes of one page: 100 names of at most 255 characters is about 26 KiB."""

MAX_PAGES = 10_000

Send = Callable[[Request], Flow[Response]]
"""The caller's send flow (authentication and redirects wrapped around a request)."""


@dataclass(frozen=True)
class Page:
    """One page of names, or the merge of all of them.

    ``name`` is the ``name`` field of a tags list (None for the catalog).
    """

    items: tuple[str, ...]
    next_url: str | None = None
    name: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.items, tuple) or not all(isinstance(i, str) for i in self.items):
            raise InvalidArgument("Page.items must be a tuple of strings")
        if self.next_url is not None and not isinstance(self.next_url, str):
            raise InvalidArgument("Page.next_url must be a string or None")
        if self.name is not None and not isinstance(self.name, str):
            raise InvalidArgument("Page.name must be a string or None")


def _origin(url: str) -> Origin:
    try:
        return Origin.of(url)
    except ValueError:  # urlsplit refuses a bad port or a broken IPv6 literal
        raise InvalidResponse(f"not a valid URL: {redact_url(url)}") from None


def page_flow(send: Send, url: str, *, key: str, limit: int = PAGE_LIMIT) -> Flow[Page]:
    """GET one page at ``url`` through ``send`` and return its items and next link."""
    response = yield from send(Request("GET", url, (("Accept", "application/json"),)))
    yield from expect(response, 200)
    body = yield from read_body(response, limit)
    request = response.request
    what = f"GET {redact_url(request.url)}"
    doc = parse_json_object(body, limit=limit, what=what)
    # null is what distribution sends for a repository without tags; an absent
    # key is read the same way rather than failing a listing over it.
    raw = doc.get(key)
    if raw is None:
        raw = []
    if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
        raise InvalidResponse(f"{what}: {key!r} is not a list of strings")
    name = doc.get("name")
    if name is not None and not isinstance(name, str):
        raise InvalidResponse(f"{what}: 'name' is not a string")
    # Relative next links are relative to the request that got them, which after
    # a redirect is not the URL asked for.
    return Page(tuple(raw), next_url(response.headers, request.url), name)


class Pagination:
    """Which page to fetch next, given the pages so far.  No I/O.

    ``next_request()`` is the URL to GET (the first URL at the start), or None
    when done; ``feed(page)`` takes the page that URL returned and gives back its
    items not seen on an earlier page (a name listed again because the list changed
    while we paged keeps its first place).  Stops on a page
    without a next link or without items; raises :class:`InvalidResponse` for a
    next link on another origin, a next link seen before, or too many pages.
    """

    def __init__(self, first_url: str, *, max_pages: int = MAX_PAGES) -> None:
        if max_pages < 1:
            raise InvalidArgument("max_pages must be at least 1")
        self._origin = _origin(first_url)
        # The first URL is the caller's: the origin every later page must stay on.
        if self._origin.scheme not in ("http", "https") or not self._origin.host:
            raise InvalidArgument(f"first page URL is not an http(s) URL: {redact_url(first_url)}")
        self._max_pages = max_pages
        self._next: str | None = first_url
        # Every URL fetched, to catch loops; at most max_pages entries.
        self._seen = {first_url}
        self._items: set[str] = set()
        self.pages = 0

    def next_request(self) -> str | None:
        return self._next

    def feed(self, page: Page) -> tuple[str, ...]:
        if self._next is None:
            raise InvalidArgument("feed() called after pagination ended")
        self.pages += 1
        new = tuple(dict.fromkeys(item for item in page.items if item not in self._items))
        self._items.update(new)
        self._follow(page)
        return new

    def _follow(self, page: Page) -> None:
        url = page.next_url
        # An empty page with a next link would only lead to more empty pages.
        if url is None or not page.items:
            self._next = None
            return
        if _origin(url) != self._origin:
            raise InvalidResponse(
                f"next page link leaves {self._origin.scheme}://{self._origin.host}:"
                f"{self._origin.port}: {redact_url(url)}"
            )
        if url in self._seen:
            raise InvalidResponse(f"next page link loops back to {redact_url(url)}")
        if self.pages >= self._max_pages:
            raise InvalidResponse(f"more than {self._max_pages} pages")
        self._seen.add(url)
        self._next = url


def paginate(page: Callable[[str], Flow[Page]], url: str, *, max_pages: int = MAX_PAGES) -> Flow[Page]:
    """The one pagination loop: every page from ``url``, each page's new items emitted as
    they arrive (see :class:`~ocireg._flow.Emit`), all of them merged in the result."""
    pagination = Pagination(url, max_pages=max_pages)
    items: list[str] = []
    name: str | None = None
    while (page_url := pagination.next_request()) is not None:
        got = yield from page(page_url)
        if pagination.pages == 0:
            name = got.name
        new = pagination.feed(got)
        yield Emit(new)
        items.extend(new)
    return Page(tuple(items), None, name)


def collect_pages(
    send: Send, url: str, *, key: str, max_pages: int = MAX_PAGES, limit: int = PAGE_LIMIT
) -> Flow[Page]:
    """Every page from ``url`` merged into one: items in order, each once."""

    def page(page_url: str) -> Flow[Page]:
        return page_flow(send, page_url, key=key, limit=limit)

    return (yield from paginate(page, url, max_pages=max_pages))


def paginated_url(base_url: str, path: str, n: int | None, last: str | None) -> str:
    """``base_url`` + ``path`` with the ``n`` and ``last`` query parameters.

    Values are percent-encoded with ``/`` as ``%2F`` (``last=cat%2Frepo``), as
    distribution writes them itself.
    """
    parts = urllib.parse.urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidArgument(f"not an http(s) base URL: {redact_url(base_url)}")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 0):
        raise InvalidArgument(f"n must be a non-negative integer, not {n!r}")
    if last is not None and not isinstance(last, str):
        raise InvalidArgument(f"last must be a string, not {last!r}")
    url = base_url.rstrip("/") + "/" + path.lstrip("/")
    query: list[tuple[str, str]] = []
    if n is not None:
        query.append(("n", str(n)))
    if last:  # an empty last means "from the start", the same as none
        query.append(("last", last))
    if not query:
        return url
    encoded = urllib.parse.urlencode(query, quote_via=urllib.parse.quote, safe="")
    return url + ("&" if "?" in url else "?") + encoded
