"""Platforms: ``Platform.parse`` parses or raises InvalidPlatform; describe() reads back; matching is sane."""

from __future__ import annotations

from _harness import fuzz, instrumented, text

with instrumented():
    from ocireg._errors import InvalidPlatform
    from ocireg._manifest import Platform
    from ocireg._platform import matches, normalize


def check(data: bytes) -> None:
    source = text(data)
    try:
        platform = Platform.parse(source)
    except InvalidPlatform:
        return
    assert normalize(Platform.parse(platform.describe())) == normalize(platform)
    assert normalize(normalize(platform)) == normalize(platform)
    assert matches(platform, platform) and matches(platform, normalize(platform))
    assert matches(platform, platform, strict=True)


if __name__ == "__main__":
    fuzz(check)
