"""The WWW-Authenticate parser (RFC 7235) on real-shaped challenges, byte by byte, then with Hypothesis."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from ocireg._challenge import (
    MAX_HEADER,
    Challenge,
    parse_challenges,
    parse_www_authenticate,
    render_challenge,
)
from ocireg._errors import InvalidResponse, MalformedHeader

DOCKER_HUB = (
    'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
    'scope="repository:library/alpine:pull"'
)
INSUFFICIENT = (
    'Bearer realm="https://registry.example.com:5001/auth",service="Docker registry",'
    'scope="repository:team/app:pull,push",error="insufficient_scope"'
)
MOUNT = (
    'Bearer realm="https://ghcr.io/token",service="ghcr.io",'
    'scope="repository:org/target:pull,push repository:org/source:pull"'
)
BASIC = 'Basic realm="Registry Realm"'
SEVERAL = 'Negotiate abc==, Basic realm="Registry Realm", ' + DOCKER_HUB
ESCAPED = r'Bearer realm="https://auth.example.com/token?a=1,b=2", service="say \"hi\", ok\\"'

REALISTIC = [DOCKER_HUB, INSUFFICIENT, MOUNT, BASIC, SEVERAL, ESCAPED, "Negotiate abc=="]


# --- whole headers ----------------------------------------------------------------


def test_docker_hub_challenge() -> None:
    [challenge] = parse_challenges(DOCKER_HUB)
    assert challenge.scheme == "bearer"
    assert challenge.realm == "https://auth.docker.io/token"
    assert challenge.service == "registry.docker.io"
    assert challenge.scopes == ("repository:library/alpine:pull",)
    assert challenge.error is None
    assert challenge.token68 is None


def test_insufficient_scope_challenge() -> None:
    [challenge] = parse_challenges(INSUFFICIENT)
    assert challenge.error == "insufficient_scope"
    assert challenge.service == "Docker registry"
    assert challenge.scopes == ("repository:team/app:pull,push",)


def test_mount_challenge_has_two_scopes_in_one_attribute() -> None:
    [challenge] = parse_challenges(MOUNT)
    assert challenge.scopes == ("repository:org/target:pull,push", "repository:org/source:pull")


def test_basic_challenge() -> None:
    assert parse_challenges(BASIC) == [Challenge("basic", (("realm", "Registry Realm"),))]


def test_token68() -> None:
    assert parse_challenges("Negotiate abc==") == [Challenge("negotiate", token68="abc==")]


def test_several_challenges_on_one_line() -> None:
    negotiate, basic, bearer = parse_challenges(SEVERAL)
    assert negotiate == Challenge("negotiate", token68="abc==")
    assert basic.realm == "Registry Realm" and basic.params == (("realm", "Registry Realm"),)
    assert bearer == parse_challenges(DOCKER_HUB)[0]


def test_challenges_over_several_header_lines_in_order() -> None:
    headers = [
        ("Content-Type", "application/json"),
        ("WWW-Authenticate", BASIC),
        ("Docker-Distribution-Api-Version", "registry/2.0"),
        ("www-authenticate", "Negotiate abc==, " + DOCKER_HUB),
    ]
    found = parse_www_authenticate(headers)
    assert [c.scheme for c in found] == ["basic", "negotiate", "bearer"]
    assert found[2].realm == "https://auth.docker.io/token"
    assert parse_www_authenticate([("Content-Length", "0")]) == []


def test_quoted_strings_with_escapes_and_commas() -> None:
    [challenge] = parse_challenges(ESCAPED)
    assert challenge.realm == "https://auth.example.com/token?a=1,b=2"
    assert challenge.service == 'say "hi", ok\\'


def test_names_and_scheme_are_case_insensitive_values_are_not() -> None:
    [challenge] = parse_challenges('BEARER Realm="https://A.example/T", SERVICE=Reg')
    assert challenge.scheme == "bearer"
    assert challenge.param("REALM") == "https://A.example/T"
    assert challenge.service == "Reg"


def test_whitespace_around_equals_and_empty_list_elements() -> None:
    found = parse_challenges(' , Basic realm = "r" ,, , Bearer realm="x" , ')
    assert found == [Challenge("basic", (("realm", "r"),)), Challenge("bearer", (("realm", "x"),))]


def test_grammar_ambiguities_resolve_as_rfc_7235_says() -> None:
    # "realm=" is a token68 with padding; a bare word after a comma is a new scheme.
    assert parse_challenges("Basic realm=") == [Challenge("basic", token68="realm=")]
    assert parse_challenges('Bearer realm="https://a", service') == [
        Challenge("bearer", (("realm", "https://a"),)),
        Challenge("service"),
    ]


def test_scheme_without_parameters_then_another() -> None:
    assert parse_challenges("Basic, Bearer realm=x") == [
        Challenge("basic"),
        Challenge("bearer", (("realm", "x"),)),
    ]


@pytest.mark.parametrize(
    "header",
    [
        "",
        "   ",
        ",,",
        'Basic realm="Registry Realm" trailing',
        'Basic realm="unterminated',
        'Basic realm="a\\',
        'Basic\trealm="x"',
        '"Basic" realm="x"',
        'Bearer realm="line\r\nbreak"',
        'Bearer realm="nul\x00"',
        'Bearer realm="https://a", service=',
        "Bearer =value",
        "Basic realm=\u00e9t\u00e9",
    ],
)
def test_malformed_headers_raise_with_position(header: str) -> None:
    with pytest.raises(MalformedHeader) as info:
        parse_challenges(header)
    assert isinstance(info.value, InvalidResponse) and isinstance(info.value, ValueError)
    assert info.value.position is not None
    assert 0 <= info.value.position <= len(header)


def test_overlong_header_refused() -> None:
    value = 'Bearer realm="https://auth.example/token",scope="' + "x" * MAX_HEADER + '"'
    with pytest.raises(MalformedHeader, match="longer than"):
        parse_challenges(value)


def test_malformed_line_fails_parse_www_authenticate() -> None:
    with pytest.raises(MalformedHeader):
        parse_www_authenticate([("WWW-Authenticate", BASIC), ("WWW-Authenticate", 'Bearer realm="x')])


# --- byte by byte, and with trailing data ----------------------------------------


@pytest.mark.parametrize("header", REALISTIC)
def test_every_prefix_parses_or_raises_malformed_header(header: str) -> None:
    outcomes = {"parsed": 0, "malformed": 0}
    for end in range(len(header) + 1):
        try:
            challenges = parse_challenges(header[:end])
        except MalformedHeader:
            outcomes["malformed"] += 1
        else:
            assert challenges and all(isinstance(c, Challenge) for c in challenges)
            outcomes["parsed"] += 1
    # A prefix ending inside a quoted string fails; the whole header parses.
    assert outcomes["malformed"] > 0
    assert outcomes["parsed"] > 0


@pytest.mark.parametrize("header", REALISTIC)
@pytest.mark.parametrize("garbage", [' "', " x", ' realm="x" y', "\x00", ' =', "\u00e9"])
def test_trailing_garbage_raises_malformed_header(header: str, garbage: str) -> None:
    with pytest.raises(MalformedHeader):
        parse_challenges(header + garbage)


@pytest.mark.parametrize("header", REALISTIC)
def test_trailing_commas_and_spaces_are_harmless(header: str) -> None:
    assert parse_challenges(header + " ,  , ") == parse_challenges(header)


@pytest.mark.parametrize("header", REALISTIC)
def test_render_then_parse_is_stable(header: str) -> None:
    challenges = parse_challenges(header)
    rendered = ", ".join(render_challenge(c) for c in challenges)
    assert parse_challenges(rendered) == challenges


# --- Hypothesis ---------------------------------------------------------------------

_TCHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz"
_lower_tokens = st.text(alphabet=_TCHARS, min_size=1, max_size=12)
_param_values = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cs",),
        blacklist_characters="\r\n\x00\x7f",
        min_codepoint=0x09,
    ).filter(lambda c: c == "\t" or ord(c) >= 0x20),
    max_size=40,
)
_token68 = st.builds(
    lambda body, pad: body + "=" * pad,
    st.text(alphabet="-._~+/0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=20),
    st.integers(0, 2),
)
_challenges = st.one_of(
    st.builds(Challenge, _lower_tokens),
    st.builds(
        Challenge,
        _lower_tokens,
        st.lists(
            st.tuples(_lower_tokens, _param_values), min_size=1, max_size=5, unique_by=lambda p: p[0]
        ).map(tuple),
    ),
    st.builds(lambda scheme, t68: Challenge(scheme, token68=t68), _lower_tokens, _token68),
)


@given(st.lists(_challenges, min_size=1, max_size=5))
@example([Challenge("bearer", (("realm", 'a"b,c=d\\'),)), Challenge("basic")])
@example([Challenge("negotiate", token68="abc=="), Challenge("basic", (("realm", "r"),))])
def test_render_parse_round_trip(challenges: list[Challenge]) -> None:
    line = ", ".join(render_challenge(c) for c in challenges)
    assert parse_challenges(line) == challenges
    # Over several header lines, the same challenges in the same order.
    headers = [("WWW-Authenticate", render_challenge(c)) for c in challenges]
    assert parse_www_authenticate(headers) == challenges


@given(st.text(max_size=200))
@example('Bearer realm="')
@example("Basic realm=a, =")
@example("a b=, c")
def test_arbitrary_text_parses_or_raises_malformed_header(text: str) -> None:
    try:
        challenges = parse_challenges(text)
    except MalformedHeader as exc:
        assert exc.position is None or 0 <= exc.position <= len(text)
    else:
        assert challenges
        for challenge in challenges:
            assert challenge.scheme == challenge.scheme.lower()
            assert all(name == name.lower() for name, _ in challenge.params)


_header_alphabet = st.sampled_from(list('Bearer realm="https://a.example/t",scope=\\ \t=abc,'))


@given(st.text(alphabet=_header_alphabet, max_size=80))
def test_header_shaped_text_parses_or_raises_malformed_header(text: str) -> None:
    try:
        challenges = parse_challenges(text)
    except MalformedHeader:
        return
    # What parses renders and parses back to the same thing.
    assert parse_challenges(", ".join(render_challenge(c) for c in challenges)) == challenges
