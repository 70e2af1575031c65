"""Pagination of the catalog and tag lists, over scripted registries."""

from __future__ import annotations

import json
import urllib.parse

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ocireg._errors import (
    InvalidArgument,
    InvalidResponse,
    MalformedHeader,
    NameUnknown,
    ResponseTooLarge,
    Unauthorized,
)
from ocireg._flow import Flow
from ocireg._http import Request, Response
from ocireg._paginate import Page, Pagination, collect_pages, page_flow, paginated_url
from scripted import Reply, ScriptedTransport, ok_json, run

REGISTRY = "https://registry.example"
CATALOG = f"{REGISTRY}/v2/_catalog?n=2"


def send(request: Request) -> Flow[Response]:
    """The plainest send: no auth, no redirects."""
    response: Response = yield request
    return response


def link(target: str) -> tuple[str, str]:
    return ("Link", f'<{target}>; rel="next"')


# --- one page ---------------------------------------------------------------------


def test_distribution_catalog_page() -> None:
    transport = ScriptedTransport(
        [ok_json({"repositories": ["cat/repo-097", "cat/repo-098"]},
                 [link("/v2/_catalog?last=cat%2Frepo-098&n=2")])]
    )
    page = run(page_flow(send, CATALOG, key="repositories"), transport)
    assert page == Page(
        ("cat/repo-097", "cat/repo-098"),
        f"{REGISTRY}/v2/_catalog?last=cat%2Frepo-098&n=2",
        None,
    )
    [request] = transport.requests
    assert (request.method, request.url) == ("GET", CATALOG)
    assert request.headers == (("Accept", "application/json"),)
    assert transport.all_closed


def test_tags_page_with_name_and_null_tags() -> None:
    url = f"{REGISTRY}/v2/library/alpine/tags/list"
    transport = ScriptedTransport([ok_json({"name": "library/alpine", "tags": None})])
    assert run(page_flow(send, url, key="tags"), transport) == Page((), None, "library/alpine")


def test_missing_key_reads_as_empty() -> None:
    transport = ScriptedTransport([ok_json({"name": "x"})])
    assert run(page_flow(send, CATALOG, key="tags"), transport).items == ()


@pytest.mark.parametrize(
    "doc",
    [
        {"repositories": "a"},
        {"repositories": ["a", 1]},
        {"repositories": [["a"]]},
        {"repositories": {"a": 1}},
        {"repositories": ["a"], "name": 5},
        ["a", "b"],
    ],
)
def test_wrong_shapes_are_invalid_response(doc: object) -> None:
    transport = ScriptedTransport([ok_json(doc)])
    with pytest.raises(InvalidResponse):
        run(page_flow(send, CATALOG, key="repositories"), transport)


@pytest.mark.parametrize("body", [b"<html>", b'{"repositories": []} trailing', b""])
def test_bad_json_is_invalid_response(body: bytes) -> None:
    transport = ScriptedTransport([(200, (), body)])
    with pytest.raises(InvalidResponse, match="invalid JSON"):
        run(page_flow(send, CATALOG, key="repositories"), transport)


def test_page_over_the_limit() -> None:
    body = json.dumps({"repositories": ["r"] * 1000}).encode()
    transport = ScriptedTransport([(200, (), body)])
    with pytest.raises(ResponseTooLarge):
        run(page_flow(send, CATALOG, key="repositories", limit=100), transport)
    assert transport.responses[0].stream.consumed == 101


def test_error_status_is_the_typed_error() -> None:
    body = b'{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}'
    transport = ScriptedTransport([(404, (), body)])
    with pytest.raises(NameUnknown, match=r"GET https://registry\.example/v2/x/tags/list: 404"):
        run(page_flow(send, f"{REGISTRY}/v2/x/tags/list", key="tags"), transport)


def test_malformed_link_header_is_refused() -> None:
    transport = ScriptedTransport([ok_json({"repositories": ["a"]}, [("Link", "/v2/x; rel=next")])])
    with pytest.raises(MalformedHeader):
        run(page_flow(send, CATALOG, key="repositories"), transport)


def test_relative_link_resolves_against_the_final_request() -> None:
    # A send that was redirected: the response belongs to another URL than asked.
    def redirected(request: Request) -> Flow[Response]:
        response: Response = yield request.replace(url="https://mirror.example/r/v2/_catalog")
        return response

    transport = ScriptedTransport([ok_json({"repositories": ["a"]}, [link("_catalog?last=a")])])
    page = run(page_flow(redirected, CATALOG, key="repositories"), transport)
    assert page.next_url == "https://mirror.example/r/v2/_catalog?last=a"


# --- Pagination, the state alone --------------------------------------------------


def test_pagination_state() -> None:
    p = Pagination(CATALOG)
    assert p.next_request() == CATALOG
    p.feed(Page(("a", "b"), f"{REGISTRY}/v2/_catalog?last=b&n=2"))
    assert p.next_request() == f"{REGISTRY}/v2/_catalog?last=b&n=2"
    p.feed(Page(("c",), None))
    assert p.next_request() is None
    with pytest.raises(InvalidArgument):
        p.feed(Page(("d",), None))


def test_pagination_stops_on_an_empty_page_even_with_a_next_link() -> None:
    p = Pagination(CATALOG)
    p.feed(Page((), f"{REGISTRY}/v2/_catalog?last=z"))
    assert p.next_request() is None


@pytest.mark.parametrize(
    "url",
    [
        "http://registry.example/v2/_catalog?last=b",  # scheme
        "https://registry.example:5000/v2/_catalog?last=b",  # port
        "https://evil.example/v2/_catalog?last=b",  # host
        "https://registry.example.evil.example/v2/_catalog",
    ],
)
def test_pagination_refuses_another_origin(url: str) -> None:
    p = Pagination(CATALOG)
    with pytest.raises(InvalidResponse, match="leaves"):
        p.feed(Page(("a",), url))


def test_pagination_accepts_the_same_origin_spelled_differently() -> None:
    p = Pagination(CATALOG)
    p.feed(Page(("a",), "https://REGISTRY.example:443/v2/_catalog?last=a"))
    assert p.next_request() == "https://REGISTRY.example:443/v2/_catalog?last=a"


def test_pagination_refuses_a_loop() -> None:
    p = Pagination(CATALOG)
    p.feed(Page(("a",), f"{REGISTRY}/v2/_catalog?last=a"))
    with pytest.raises(InvalidResponse, match="loops"):
        p.feed(Page(("b",), CATALOG))


def test_pagination_refuses_too_many_pages() -> None:
    p = Pagination(CATALOG, max_pages=3)
    p.feed(Page(("a",), f"{REGISTRY}/v2/_catalog?page=2"))
    p.feed(Page(("b",), f"{REGISTRY}/v2/_catalog?page=3"))
    with pytest.raises(InvalidResponse, match="more than 3 pages"):
        p.feed(Page(("c",), f"{REGISTRY}/v2/_catalog?page=4"))
    done = Pagination(CATALOG, max_pages=1)
    done.feed(Page(("a",), None))  # exactly max_pages pages is fine
    assert done.next_request() is None


def test_pagination_arguments() -> None:
    with pytest.raises(InvalidArgument):
        Pagination(CATALOG, max_pages=0)
    with pytest.raises(InvalidResponse):
        Pagination("https://registry.example:notaport/v2/_catalog")
    with pytest.raises(InvalidArgument, match="not an http"):
        Pagination("")
    with pytest.raises(InvalidArgument, match="not an http"):
        Pagination("/v2/_catalog?n=2")
    with pytest.raises(InvalidArgument):
        Page(["a"])  # type: ignore[arg-type]


# --- collect_pages ----------------------------------------------------------------


def test_collect_pages_distribution_style() -> None:
    transport = ScriptedTransport(
        [
            ok_json({"repositories": ["a", "b"]}, [link("/v2/_catalog?last=b&n=2")]),
            ok_json({"repositories": ["c", "b"]}, [link("/v2/_catalog?last=c&n=2")]),
            ok_json({"repositories": []}),
        ]
    )
    merged = run(collect_pages(send, CATALOG, key="repositories"), transport)
    assert merged == Page(("a", "b", "c"), None, None)
    assert [r.url for r in transport.requests] == [
        CATALOG,
        f"{REGISTRY}/v2/_catalog?last=b&n=2",
        f"{REGISTRY}/v2/_catalog?last=c&n=2",
    ]
    assert transport.remaining == 0 and transport.all_closed


def test_collect_tags_keeps_the_first_name() -> None:
    url = f"{REGISTRY}/v2/library/alpine/tags/list?n=1"
    transport = ScriptedTransport(
        [
            ok_json({"name": "library/alpine", "tags": ["3.19"]},
                    [link("/v2/library/alpine/tags/list?n=1&last=3.19")]),
            ok_json({"name": "other", "tags": ["3.20"]}),
        ]
    )
    merged = run(collect_pages(send, url, key="tags"), transport)
    assert merged == Page(("3.19", "3.20"), None, "library/alpine")


def test_collect_pages_error_on_a_later_page() -> None:
    transport = ScriptedTransport(
        [
            ok_json({"repositories": ["a"]}, [link("/v2/_catalog?last=a")]),
            (401, (), b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}'),
        ]
    )
    with pytest.raises(Unauthorized):
        run(collect_pages(send, CATALOG, key="repositories"), transport)


@given(
    items=st.lists(st.sampled_from([f"repo-{i:03d}" for i in range(40)]) | st.text(max_size=8),
                   max_size=40),
    sizes=st.lists(st.integers(1, 6), max_size=40),
    styles=st.lists(st.sampled_from(["absolute", "root", "relative", "query"]), max_size=40),
    max_pages=st.integers(1, 50),
)
def test_any_split_yields_every_item_once_in_order(
    items: list[str], sizes: list[int], styles: list[str], max_pages: int
) -> None:
    # Cut items into non-empty pages of the drawn sizes (the rest in one last page).
    pages: list[list[str]] = []
    rest = items
    for size in sizes:
        if not rest:
            break
        pages.append(rest[:size])
        rest = rest[size:]
    if rest or not pages:
        pages.append(rest)

    def target(k: int) -> str:
        style = styles[k % len(styles)] if styles else "root"
        if style == "absolute":
            return f"{REGISTRY}/v2/_catalog?page={k}"
        if style == "root":
            return f"/v2/_catalog?page={k}"
        if style == "relative":
            return f"_catalog?page={k}"
        return f"?page={k}"

    def answer(request: Request) -> Reply:
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(request.url).query)
        k = int(query.get("page", ["0"])[0])
        assert request.url.startswith(f"{REGISTRY}/v2/_catalog")
        headers = (link(target(k + 1)),) if k + 1 < len(pages) else ()
        return 200, headers, json.dumps({"repositories": pages[k]}).encode()

    transport = ScriptedTransport([answer] * len(pages))
    flow = collect_pages(send, f"{REGISTRY}/v2/_catalog", key="repositories",
                         max_pages=max_pages)
    if len(pages) > max_pages:
        with pytest.raises(InvalidResponse, match="pages"):
            run(flow, transport)
        assert len(transport.requests) == max_pages
    else:
        merged = run(flow, transport)
        assert list(merged.items) == list(dict.fromkeys(items))
        assert merged.next_url is None
        assert len(transport.requests) == len(pages)
    assert transport.all_closed


@given(
    page_count=st.integers(1, 8),
    back_to=st.integers(0, 7),
    absolute=st.booleans(),
)
def test_a_looping_server_ends_in_invalid_response(
    page_count: int, back_to: int, absolute: bool
) -> None:
    back_to = min(back_to, page_count - 1)

    def answer(request: Request) -> Reply:
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(request.url).query)
        k = int(query.get("page", ["0"])[0])
        nxt = k + 1 if k + 1 < page_count else back_to
        path = f"/v2/_catalog?page={nxt}"
        return ok_json({"repositories": [f"r{k}"]}, [link(REGISTRY + path if absolute else path)])

    transport = ScriptedTransport([answer] * (page_count + 1))
    first = f"{REGISTRY}/v2/_catalog?page=0"
    with pytest.raises(InvalidResponse, match="loops"):
        run(collect_pages(send, first, key="repositories"), transport)
    assert len(transport.requests) == page_count


@given(
    page_count=st.integers(1, 5),
    elsewhere=st.sampled_from(
        ["https://evil.example", "http://registry.example", "https://registry.example:8443",
         "//evil.example"]
    ),
)
def test_a_server_pointing_to_another_origin_ends_in_invalid_response(
    page_count: int, elsewhere: str
) -> None:
    def answer(request: Request) -> Reply:
        k = int(urllib.parse.parse_qs(urllib.parse.urlsplit(request.url).query)["page"][0])
        base = elsewhere if k + 1 == page_count else ""
        return ok_json({"repositories": [f"r{k}"]}, [link(f"{base}/v2/_catalog?page={k + 1}")])

    transport = ScriptedTransport([answer] * page_count)
    with pytest.raises(InvalidResponse, match="leaves"):
        run(collect_pages(send, f"{REGISTRY}/v2/_catalog?page=0", key="repositories"), transport)
    assert len(transport.requests) == page_count
    assert all(r.url.startswith(REGISTRY + "/") for r in transport.requests)


# --- paginated_url ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("base", "path", "n", "last", "url"),
    [
        ("https://registry.example", "/v2/_catalog", 100, "cat/repo-098",
         "https://registry.example/v2/_catalog?n=100&last=cat%2Frepo-098"),
        ("https://registry.example/", "v2/_catalog", None, None,
         "https://registry.example/v2/_catalog"),
        ("http://127.0.0.1:5000", "/v2/a/b/tags/list", 0, None,
         "http://127.0.0.1:5000/v2/a/b/tags/list?n=0"),
        ("https://r.example", "/v2/x/tags/list", None, "v1.0+build&x=y z",
         "https://r.example/v2/x/tags/list?last=v1.0%2Bbuild%26x%3Dy%20z"),
        ("https://r.example", "/v2/_catalog?foo=1", 5, "",
         "https://r.example/v2/_catalog?foo=1&n=5"),
    ],
)
def test_paginated_url(base: str, path: str, n: int | None, last: str | None, url: str) -> None:
    assert paginated_url(base, path, n, last) == url


@given(st.text(max_size=30), st.integers(0, 10_000))
def test_paginated_url_round_trips_last(last: str, n: int) -> None:
    url = paginated_url(REGISTRY, "/v2/_catalog", n, last)
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query, keep_blank_values=True)
    assert query["n"] == [str(n)]
    assert query.get("last", [""]) == [last]
    assert " " not in url and "+" not in urllib.parse.urlsplit(url).query


@pytest.mark.parametrize(
    ("base", "n", "last"),
    [("registry.example", None, None), ("ftp://r.example", None, None),
     (REGISTRY, -1, None), (REGISTRY, True, None), (REGISTRY, None, 5)],
)
def test_paginated_url_refuses_bad_arguments(base: str, n: object, last: object) -> None:
    with pytest.raises(InvalidArgument):
        paginated_url(base, "/v2/_catalog", n, last)  # type: ignore[arg-type]


def test_feed_returns_only_items_not_seen_on_earlier_pages() -> None:
    pagination = Pagination(f"{REGISTRY}/v2/_catalog")
    first = Page(("a", "b", "b"), f"{REGISTRY}/v2/_catalog?last=b")
    assert pagination.feed(first) == ("a", "b")
    assert pagination.feed(Page(("b", "c"), None)) == ("c",)
    assert pagination.next_request() is None
