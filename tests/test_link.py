"""The Link header parser (RFC 8288) on real-shaped headers, then with Hypothesis."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ocireg._errors import InvalidResponse, MalformedHeader
from ocireg._link import Link, next_url, parse_link, parse_links, render_links

DISTRIBUTION = '</v2/_catalog?last=cat%2Frepo-098&n=100>; rel="next"'
GITHUB = (
    '<https://api.github.com/repositories/1300192/issues?page=2>; rel="next", '
    '<https://api.github.com/repositories/1300192/issues?page=515>; rel="last"'
)
BASE = "https://registry.example:5000/v2/_catalog?n=100"


# --- whole headers ----------------------------------------------------------------


def test_distribution_catalog_link() -> None:
    [link] = parse_link(DISTRIBUTION)
    assert link == Link("/v2/_catalog?last=cat%2Frepo-098&n=100", (("rel", "next"),))
    assert link.rels == ("next",)
    assert next_url([("Link", DISTRIBUTION)], BASE) == (
        "https://registry.example:5000/v2/_catalog?last=cat%2Frepo-098&n=100"
    )


def test_github_style_multiple_links() -> None:
    first, last = parse_link(GITHUB)
    assert first.target.endswith("page=2") and first.rels == ("next",)
    assert last.target.endswith("page=515") and last.rels == ("last",)
    assert next_url([("link", GITHUB)], BASE) == first.target


def test_next_need_not_be_first() -> None:
    value = '</v2/x?page=1>; rel="prev", </v2/x?page=3>; rel=next'
    assert next_url([("Link", value)], "https://r.example/v2/x?page=2") == (
        "https://r.example/v2/x?page=3"
    )


def test_quoted_rel_with_several_values() -> None:
    [link] = parse_link('</v2/_catalog?n=2&last=b>; rel="Next  LAST"')
    assert link.rels == ("next", "last")
    assert next_url([("Link", render_links([link]))], BASE) == (
        "https://registry.example:5000/v2/_catalog?n=2&last=b"
    )


def test_commas_inside_target_and_quoted_params_do_not_split() -> None:
    value = '</v2/t?a=1,2>; title="one, two; three"; rel=next, </v2/u>; rel="a,b"'
    first, second = parse_link(value)
    assert first.target == "/v2/t?a=1,2"
    assert first.param("title") == "one, two; three"
    assert first.param("TITLE") == "one, two; three"
    assert first.rels == ("next",)
    assert second.target == "/v2/u" and second.param("rel") == "a,b"


def test_quoted_pair_and_bws_and_valueless_param() -> None:
    [link] = parse_link('<x> ;rel = "n\\"e\\\\xt" ; hreflang ;  anchor=#a')
    assert link.params == (("rel", 'n"e\\xt'), ("hreflang", ""), ("anchor", "#a"))


def test_only_the_first_rel_counts() -> None:
    [link] = parse_link("</a>; rel=prev; rel=next")
    assert link.rels == ("prev",)
    assert next_url([("Link", "</a>; rel=prev; rel=next")], BASE) is None


def test_empty_list_elements_are_skipped() -> None:
    assert parse_link("") == []
    assert parse_link(" , ,") == []
    assert [link.target for link in parse_link(", </a>; rel=next ,, </b> ,")] == ["/a", "/b"]


def test_several_header_lines() -> None:
    links = parse_links(['</a>; rel="prev"', '</b>; rel="next"'])
    assert [link.target for link in links] == ["/a", "/b"]
    headers = [("Content-Type", "application/json"), ("Link", '</a>; rel="prev"'),
               ("LINK", '</b>; rel="next"')]
    assert next_url(headers, "http://127.0.0.1:5000/v2/_catalog") == (
        "http://127.0.0.1:5000/b"
    )


def test_no_link_or_no_next() -> None:
    assert next_url([], BASE) is None
    assert next_url([("Link", '</a>; rel="last"')], BASE) is None


def test_next_url_absolute_target_and_fragment_dropped() -> None:
    value = '<https://other.example/v2/_catalog?last=z#frag>; rel="next"'
    assert next_url([("Link", value)], BASE) == "https://other.example/v2/_catalog?last=z"


@pytest.mark.parametrize(
    "target",
    ["ftp://registry.example/v2/", "javascript:alert(1)", "http://[::1/x", "http://h:99999999/"],
)
def test_next_url_refuses_unusable_targets(target: str) -> None:
    with pytest.raises(MalformedHeader):
        next_url([("Link", f"<{target}>; rel=next")], BASE)


# --- malformed headers, with positions --------------------------------------------


@pytest.mark.parametrize(
    ("value", "position"),
    [
        ("/v2/_catalog; rel=next", 0),  # no angle brackets
        ("</v2/_catalog; rel=next", 14),  # unterminated target (";" is a URI character)
        ("</v 2>; rel=next", 3),  # whitespace in target
        ('</a>; rel="next', 15),  # unterminated quoted string: parsing stops at the end
        ("</a>; =next", 6),  # missing parameter name
        ("</a>; rel=", 10),  # missing value
        ("</a>; rel=a b", 12),  # two tokens
        ("</a>; rel=\"x\x01\"", 12),  # control character in quoted string
        ('</a>; rel="x\\', 12),  # dangling backslash
    ],
)
def test_malformed_headers_carry_the_position(value: str, position: int) -> None:
    with pytest.raises(MalformedHeader) as info:
        parse_link(value)
    assert info.value.position == position
    assert info.value.header == value
    assert f"at position {position}" in str(info.value)
    assert isinstance(info.value, InvalidResponse) and isinstance(info.value, ValueError)


@pytest.mark.parametrize("garbage", [" x", "; ", ";;", " <", ' "next"', "\x00", " ;=x"])
def test_trailing_garbage_is_refused(garbage: str) -> None:
    parse_link(DISTRIBUTION)  # the prefix alone is fine
    with pytest.raises(MalformedHeader) as info:
        parse_link(DISTRIBUTION + garbage)
    assert info.value.position is not None
    assert info.value.position >= len(DISTRIBUTION)


def test_prefixes_byte_by_byte() -> None:
    # Cut the distribution header at every position: only the prefixes that are
    # themselves complete link-values parse (a bare target, a valueless param).
    close = DISTRIBUTION.index(">") + 1
    parsed = set()
    for cut in range(len(DISTRIBUTION) + 1):
        try:
            parse_link(DISTRIBUTION[:cut])
        except MalformedHeader as exc:
            assert exc.position is not None and exc.position <= cut
        else:
            parsed.add(cut)
    assert parsed == {0, close, close + 3, close + 4, close + 5, len(DISTRIBUTION)}


def test_link_validates_when_built() -> None:
    with pytest.raises(MalformedHeader):
        Link("has space")
    with pytest.raises(MalformedHeader):
        Link("/a", (("bad name", "x"),))
    with pytest.raises(MalformedHeader):
        Link("/a", (("rel", "line\nbreak"),))
    assert Link("/a", (("rel", "next"),)).param("missing") is None
    assert Link("/a").rels == ()


def test_render_quotes_what_is_not_a_token() -> None:
    links = [Link("/a", (("rel", "next last"), ("title", 'say "hi"'), ("x", "")))]
    assert render_links(links) == '</a>; rel="next last"; title="say \\"hi\\""; x=""'
    assert parse_link(render_links(links)) == links


# --- Hypothesis -------------------------------------------------------------------

TCHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
targets = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="<>"),
    max_size=40,
)
names = st.text(alphabet=TCHARS, min_size=1, max_size=10)
values = st.text(
    alphabet=st.one_of(
        st.characters(min_codepoint=0x20, max_codepoint=0x7E),
        st.sampled_from(["\t", "\x80", "é", "\xff"]),
    ),
    max_size=20,
)
links_strategy = st.builds(
    Link, targets, st.lists(st.tuples(names, values), max_size=4).map(tuple)
)


@given(st.lists(links_strategy, max_size=5))
def test_render_then_parse_round_trips(links: list[Link]) -> None:
    assert parse_link(render_links(links)) == links


@given(st.lists(links_strategy, min_size=1, max_size=3), st.integers(0, 2))
def test_splitting_into_header_lines_changes_nothing(links: list[Link], cut: int) -> None:
    cut = min(cut, len(links))
    lines = [render_links(links[:cut]), render_links(links[cut:])]
    assert parse_links(lines) == links


@given(st.text(max_size=80))
def test_arbitrary_text_parses_or_raises_malformed_header(text: str) -> None:
    try:
        links = parse_link(text)
    except MalformedHeader as exc:
        assert exc.position is not None and 0 <= exc.position <= len(text)
    else:
        assert all(isinstance(link, Link) for link in links)
        # Whatever parsed renders to something that parses the same.
        assert parse_link(render_links(links)) == links


@given(st.text(alphabet='<>;,=" \t/anrelxt\\', max_size=40))
def test_link_shaped_text_parses_or_raises_malformed_header(text: str) -> None:
    try:
        links = parse_link(text)
    except MalformedHeader as exc:
        assert exc.position is not None and 0 <= exc.position <= len(text)
    else:
        assert parse_link(render_links(links)) == links
