"""Challenge values and rendering; the grammar itself is exercised in test_challenge_flow.py."""

from __future__ import annotations

import pytest

from ocireg._challenge import Challenge, parse_challenges, parse_www_authenticate, render_challenge
from ocireg._errors import InvalidArgument, MalformedHeader

DOCKER_HUB = 'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"'
MOUNT = (
    'Bearer realm="https://registry.example.com/token",service="registry.example.com",'
    'scope="repository:org/target:pull,push repository:org/source:pull",error="insufficient_scope"'
)


def test_building_a_challenge_normalises_names() -> None:
    challenge = Challenge("Bearer", (("Realm", "r"), ("SCOPE", "a  b")))
    assert challenge.scheme == "bearer"
    assert challenge.params == (("realm", "r"), ("scope", "a  b"))
    assert challenge.scopes == ("a", "b")  # split on spaces, empty pieces dropped


@pytest.mark.parametrize(
    "build",
    [
        lambda: Challenge(""),
        lambda: Challenge("Bear er"),
        lambda: Challenge("Bearer", (("realm", "a"), ("REALM", "b"))),
        lambda: Challenge("Bearer", (("re alm", "a"),)),
        lambda: Challenge("Bearer", (("realm", "line\r\nX-Injected: 1"),)),
        lambda: Challenge("Negotiate", token68="a=b"),
        lambda: Challenge("Negotiate", (("a", "b"),), token68="abc=="),
    ],
)
def test_invalid_challenges_cannot_be_built(build: object) -> None:
    with pytest.raises(InvalidArgument):
        build()  # type: ignore[operator]


def test_duplicate_parameter_is_malformed_at_its_position() -> None:
    value = 'Bearer realm="https://a.example/token",service=s,Realm="https://evil.test/token"'
    with pytest.raises(MalformedHeader) as info:
        parse_challenges(value)
    assert info.value.position == value.index("Realm")
    assert "given twice" in str(info.value)


def test_render_leaves_tokens_bare_and_quotes_the_rest() -> None:
    [challenge] = parse_challenges(MOUNT)
    text = render_challenge(challenge)
    assert text.startswith('Bearer realm="https://registry.example.com/token",service=registry.example.com,')
    assert 'error=insufficient_scope' in text
    assert parse_challenges(text) == [challenge]
    tricky = Challenge("basic", (("realm", 'say "hi" \\ bye'), ("charset", "")))
    assert render_challenge(tricky) == 'Basic realm="say \\"hi\\" \\\\ bye",charset=""'
    assert parse_challenges(render_challenge(tricky)) == [tricky]
    assert render_challenge(Challenge("negotiate", token68="YII=")) == "Negotiate YII="


def test_real_headers_keep_their_meaning_through_render() -> None:
    headers = [("WWW-Authenticate", DOCKER_HUB), ("www-authenticate", 'Basic realm="Registry Realm"')]
    found = parse_www_authenticate(headers)
    assert [c.scheme for c in found] == ["bearer", "basic"]
    again = parse_www_authenticate([("WWW-Authenticate", ", ".join(render_challenge(c) for c in found))])
    assert again == found
    assert found[0].scopes == ("repository:library/alpine:pull",)
    assert found[0].error is None and found[1].realm == "Registry Realm"


@pytest.mark.parametrize(
    ("value", "position"),
    [
        ("Bearer realm", None),  # a token68, not an error
        ('Bearer realm="x', 15),  # unterminated quote: stops at the end
        ("Bearer\trealm=x", 6),  # 1*SP after the scheme, not a tab
        ('Bearer realm="a\x01b"', 15),
        ("Bearer realm=x y", 15),
    ],
)
def test_error_positions(value: str, position: int | None) -> None:
    if position is None:
        assert parse_challenges(value) == [Challenge("bearer", token68="realm")]
        return
    with pytest.raises(MalformedHeader) as info:
        parse_challenges(value)
    assert info.value.position == position
