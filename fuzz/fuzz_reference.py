"""Image references: ``Reference.parse`` parses or raises InvalidReference; what parses round-trips."""

from __future__ import annotations

from _harness import fuzz, instrumented, text

with instrumented():
    from ocireg._errors import InvalidReference
    from ocireg._reference import Reference


def check(data: bytes) -> None:
    source = text(data)
    try:
        ref = Reference.parse(source)
    except InvalidReference:
        return
    assert Reference.parse(str(ref)) == ref, source
    assert Reference.parse(ref.familiar) == ref, source
    assert ref.target == (str(ref.digest) if ref.digest else ref.tag or "latest")
    assert len(ref.repository) <= 255


if __name__ == "__main__":
    fuzz(check)
