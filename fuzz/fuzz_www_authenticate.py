"""``WWW-Authenticate``: parses or raises MalformedHeader; what parses renders and parses back equal."""

from __future__ import annotations

from _harness import fuzz, instrumented

with instrumented():
    from ocireg._challenge import parse_challenges, render_challenge
    from ocireg._errors import MalformedHeader


def check(data: bytes) -> None:
    value = data.decode("latin-1")  # header values arrive as ISO-8859-1 text
    try:
        challenges = parse_challenges(value)
    except MalformedHeader as exc:
        assert exc.position is None or 0 <= exc.position <= len(value)
        return
    assert challenges
    for challenge in challenges:
        assert parse_challenges(render_challenge(challenge)) == [challenge]
    assert parse_challenges(", ".join(map(render_challenge, challenges))) == challenges


if __name__ == "__main__":
    fuzz(check)
