"""Media types: a valid one is safe in a header and in a descriptor; base_media_type never raises."""

from __future__ import annotations

from _harness import fuzz, instrumented, text

with instrumented():
    from ocireg._digest import Digest
    from ocireg._errors import InvalidArgument
    from ocireg._manifest import Descriptor
    from ocireg._media import base_media_type, is_valid_media_type

_EMPTY = Digest.of(b"")


def check(data: bytes) -> None:
    source = text(data)
    base = base_media_type(source)
    assert base is None or (base == base.strip().lower() and ";" not in base and base)
    if is_valid_media_type(source):
        assert all(0x21 <= ord(c) <= 0x7E for c in source)  # no CR, LF or space: header-safe
        assert base == source.lower()
        Descriptor(source, _EMPTY, 0)
    else:
        try:
            Descriptor(source, _EMPTY, 0)
        except InvalidArgument:
            return
        raise AssertionError(f"an invalid media type built a descriptor: {source!r}")


if __name__ == "__main__":
    fuzz(check)
