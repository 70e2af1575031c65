"""Digests: grammar, known hash values, and verification that ignores chunking."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ocireg._digest import Digest, DigestVerifier, verified_chunks, verify_bytes
from ocireg._errors import DigestMismatch, InvalidArgument, InvalidDigest

EMPTY_SHA256 = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
EMPTY_JSON_SHA256 = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
ABC_SHA256 = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
EMPTY_SHA512 = (
    "sha512:cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
    "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"
)


# --- known values ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "algorithm", "expected"),
    [
        (b"", "sha256", EMPTY_SHA256),
        (b"{}", "sha256", EMPTY_JSON_SHA256),  # the OCI empty descriptor's digest
        (b"abc", "sha256", ABC_SHA256),
        (b"", "sha512", EMPTY_SHA512),
    ],
)
def test_of_known_values(data: bytes, algorithm: str, expected: str) -> None:
    assert str(Digest.of(data, algorithm)) == expected
    assert str(Digest.of(memoryview(data), algorithm)) == expected


def test_parse_and_render() -> None:
    d = Digest.parse(EMPTY_JSON_SHA256)
    assert d.algorithm == "sha256"
    assert d.encoded == EMPTY_JSON_SHA256[7:]
    assert str(d) == EMPTY_JSON_SHA256
    assert d.tag_form == "sha256-" + EMPTY_JSON_SHA256[7:]
    assert d == Digest("sha256", EMPTY_JSON_SHA256[7:])


def test_hasher_is_fresh_and_of_the_right_algorithm() -> None:
    d = Digest.parse(EMPTY_SHA512)
    h = d.hasher()
    assert h.name == "sha512"
    assert "sha512:" + h.hexdigest() == EMPTY_SHA512
    h.update(b"x")
    assert d.hasher().hexdigest() == EMPTY_SHA512[7:]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "sha256",
        "sha256:",
        ":" + "a" * 64,
        "sha256:" + "a" * 63,
        "sha256:" + "a" * 65,
        "sha256:" + "A" * 64,  # upper case is refused, not folded
        "sha256:" + "g" * 64,
        "sha512:" + "a" * 64,
        "sha384:" + "a" * 96,
        "md5:d41d8cd98f00b204e9800998ecf8427e",
        "SHA256:" + "a" * 64,
        "sha256:" + "a" * 63 + "\n",
        "sha256:../../../../etc/passwd" + "a" * 40,
        "sha256:" + "a" * 32 + "/" + "a" * 31,
        " sha256:" + "a" * 64,
    ],
)
def test_parse_rejects(text: str) -> None:
    with pytest.raises(InvalidDigest):
        Digest.parse(text)


def test_parse_rejects_non_strings() -> None:
    with pytest.raises(InvalidDigest):
        Digest.parse(b"sha256:" + b"a" * 64)  # type: ignore[arg-type]
    with pytest.raises(InvalidDigest):
        Digest("sha256", 5)  # type: ignore[arg-type]


def test_of_rejects_unknown_algorithm() -> None:
    with pytest.raises(InvalidDigest):
        Digest.of(b"", "md5")


# --- verification --------------------------------------------------------------


def test_verify_bytes_accepts_and_rejects() -> None:
    verify_bytes(b"abc", Digest.parse(ABC_SHA256))
    verify_bytes(b"abc", Digest.parse(ABC_SHA256), 3)
    with pytest.raises(DigestMismatch) as info:
        verify_bytes(b"abd", Digest.parse(ABC_SHA256))
    assert info.value.expected == ABC_SHA256
    assert info.value.actual == str(Digest.of(b"abd"))


def test_short_body_is_a_mismatch_with_both_digests() -> None:
    v = DigestVerifier(Digest.parse(ABC_SHA256), size=3)
    v.update(b"ab")
    with pytest.raises(DigestMismatch) as info:
        v.finish()
    assert "2 bytes" in str(info.value)
    assert info.value.actual == str(Digest.of(b"ab"))


def test_overlong_body_stops_at_the_overflowing_chunk() -> None:
    v = DigestVerifier(Digest.parse(ABC_SHA256), size=3)
    v.update(b"abc")
    with pytest.raises(DigestMismatch):
        v.update(b"d")
    assert v.bytes_seen == 4


def test_overflow_counts_bytes_not_memoryview_items() -> None:
    data = b"abcd"
    wide = memoryview(data).cast("I")  # one item of four bytes
    v = DigestVerifier(Digest.of(data), size=3)
    with pytest.raises(DigestMismatch):
        v.update(wide)


def test_size_must_be_non_negative_int() -> None:
    for bad in (-1, 1.0, True, "3"):
        with pytest.raises(InvalidArgument):
            DigestVerifier(Digest.parse(ABC_SHA256), size=bad)  # type: ignore[arg-type]


def test_verified_chunks_passes_chunks_through_and_fails_after_last() -> None:
    chunks: list[bytes | bytearray | memoryview] = [b"a", bytearray(b"b"), memoryview(b"c")]
    out = list(verified_chunks(chunks, Digest.parse(ABC_SHA256), 3))
    assert [bytes(c) for c in out] == [b"a", b"b", b"c"]

    seen: list[bytes] = []
    with pytest.raises(DigestMismatch):
        for chunk in verified_chunks([b"a", b"b", b"x"], Digest.parse(ABC_SHA256)):
            seen.append(chunk)
    assert seen == [b"a", b"b", b"x"]  # the failure comes after the last chunk


def test_verified_chunks_stops_a_stream_that_never_ends() -> None:
    def forever() -> Iterator[bytes]:
        while True:
            yield b"x" * 1024

    passed = 0
    with pytest.raises(DigestMismatch):
        for chunk in verified_chunks(forever(), Digest.parse(ABC_SHA256), 10_000):
            passed += len(chunk)
    assert passed <= 10_000


# --- properties ----------------------------------------------------------------

hex_digits = st.text("0123456789abcdef", min_size=64, max_size=64)


@given(st.sampled_from(["sha256", "sha512"]), st.data())
def test_round_trip(algorithm: str, data: st.DataObject) -> None:
    length = 64 if algorithm == "sha256" else 128
    encoded = data.draw(st.text("0123456789abcdef", min_size=length, max_size=length))
    d = Digest(algorithm, encoded)
    assert Digest.parse(str(d)) == d
    assert d.tag_form.replace("-", ":", 1) == str(d)


@given(st.text(max_size=200))
def test_arbitrary_text_parses_or_raises_invalid_digest(text: str) -> None:
    try:
        d = Digest.parse(text)
    except InvalidDigest:
        return
    assert str(d) == text


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


def _verdict(chunks: list[bytes], expected: Digest, size: int | None) -> bool:
    v = DigestVerifier(expected, size)
    try:
        for c in chunks:
            v.update(c)
        v.finish()
    except DigestMismatch:
        return False
    return True


@given(
    st.binary(max_size=300),
    st.lists(st.integers(min_value=0), max_size=12),
    st.lists(st.integers(min_value=0), max_size=12),
    st.booleans(),
    st.sampled_from(["sha256", "sha512"]),
)
def test_verdict_is_independent_of_chunking(
    data: bytes, cuts_a: list[int], cuts_b: list[int], with_size: bool, algorithm: str
) -> None:
    expected = Digest.of(data, algorithm)
    size = len(data) if with_size else None
    assert _verdict(_split(data, cuts_a), expected, size)
    assert _verdict(_split(data, cuts_b), expected, size)


@given(
    st.binary(min_size=1, max_size=300),
    st.data(),
    st.lists(st.integers(min_value=0), max_size=12),
    st.booleans(),
)
def test_any_single_byte_change_is_detected_in_any_chunking(
    data: bytes, draw: st.DataObject, cuts: list[int], with_size: bool
) -> None:
    expected = Digest.of(data)
    i = draw.draw(st.integers(0, len(data) - 1))
    delta = draw.draw(st.integers(1, 255))
    changed = bytearray(data)
    changed[i] = (changed[i] + delta) % 256
    size = len(data) if with_size else None
    assert not _verdict(_split(bytes(changed), cuts), expected, size)


@given(st.binary(max_size=200), st.binary(min_size=1, max_size=20), st.lists(st.integers(0)))
def test_extra_or_missing_bytes_are_detected_with_a_size(
    data: bytes, extra: bytes, cuts: list[int]
) -> None:
    expected = Digest.of(data)
    assert not _verdict(_split(data + extra, cuts), expected, len(data))
    if data:
        assert not _verdict(_split(data[:-1], cuts), expected, len(data))


def test_hashlib_agrees_on_a_large_chunked_blob() -> None:
    blob = bytes(range(256)) * 4096  # 1 MiB
    expected = Digest("sha256", hashlib.sha256(blob).hexdigest())
    chunks = [blob[i : i + 65536] for i in range(0, len(blob), 65536)]
    out = b"".join(verified_chunks(chunks, expected, len(blob)))
    assert out == blob
