"""Digests: ``Digest.parse`` parses or raises InvalidDigest; verification ignores how bytes are cut."""

from __future__ import annotations

from _harness import fuzz, instrumented, text

with instrumented():
    from ocireg._digest import Digest, DigestVerifier
    from ocireg._errors import DigestMismatch, InvalidDigest


def _verdict(digest: Digest, size: int | None, chunks: list[bytes]) -> bool:
    verifier = DigestVerifier(digest, size)
    try:
        for chunk in chunks:
            verifier.update(chunk)
        verifier.finish()
    except DigestMismatch:
        return False
    return True


def check(data: bytes) -> None:
    source = text(data)
    try:
        digest = Digest.parse(source)
    except InvalidDigest:
        pass
    else:
        assert Digest.parse(str(digest)) == digest
        assert "/" not in str(digest) and ".." not in str(digest)  # safe as a path component
    # The same bytes, cut anywhere, get the same verdict; their own digest always passes.
    if not data:
        return
    cut = data[0] % (len(data) + 1)
    own = Digest.of(data)
    assert _verdict(own, len(data), [data[:cut], data[cut:]])
    assert _verdict(own, None, [data])
    other = Digest.of(data[1:])
    whole, split = _verdict(other, len(data), [data]), _verdict(other, len(data), [data[:cut], data[cut:]])
    assert whole == split is False


if __name__ == "__main__":
    fuzz(check)
