"""``Link``: parses or raises MalformedHeader; rendered links parse back equal; next_url stays sane."""

from __future__ import annotations

from _harness import fuzz, instrumented

with instrumented():
    from ocireg._errors import MalformedHeader
    from ocireg._link import next_url, parse_link, render_links

_BASE = "https://registry.example/v2/_catalog?n=100"


def check(data: bytes) -> None:
    value = data.decode("latin-1")
    try:
        links = parse_link(value)
    except MalformedHeader as exc:
        assert exc.position is None or 0 <= exc.position <= len(value)
        return
    assert parse_link(render_links(links)) == links
    try:
        url = next_url((("Link", value),), _BASE)
    except MalformedHeader:  # documented: a next target that is not an http(s) URL
        return
    assert url is None or (url.startswith(("http://", "https://")) and "#" not in url), url


if __name__ == "__main__":
    fuzz(check)
