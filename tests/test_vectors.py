"""The field's own test vectors (``../shared/vectors``) run against ocireg.

The folder sits beside the repository (its parent's ``shared/vectors``) and is
never copied in: when it is absent these tests skip, saying why, except on CI
(``CI=true``), where they fail.  Each vector file names its upstream source; its
``README.md`` describes the format.

Every case passes, or is listed in :data:`DIFFERENCES` with the reason ocireg
differs on purpose.  A listed case must still disagree (it runs as a strict
``xfail`` on an ``AssertionError``), so the list cannot outlive the difference,
and every listed id must exist in the vectors.

ocireg's APIs are not Go's, so each upstream assertion is restated in ocireg's
terms; the adapters below say how.  Upstream ``Parse`` (no normalisation) is
compared through ocireg's normalised :class:`~ocireg.Reference`; containerd keeps
platforms normalised, ocireg keeps them as written and compares them through
:func:`~ocireg._platform.normalize`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from ocireg._challenge import parse_challenges, parse_www_authenticate
from ocireg._digest import Digest
from ocireg._errors import (
    InvalidDigest,
    InvalidManifest,
    InvalidPlatform,
    InvalidReference,
    PlatformNotFound,
)
from ocireg._manifest import Descriptor, Index, Manifest, Platform, parse_manifest
from ocireg._platform import matches, normalize, select
from ocireg._reference import DOCKER_HUB, Reference
from ocireg._strictjson import parse_json_object

VECTORS = Path(__file__).resolve().parent.parent.parent / "shared" / "vectors"

_NO_HOST_DEFAULTS = (
    "containerd fills a missing OS or architecture from the machine running it; ocireg "
    "talks about images for other machines and requires os/arch, so it refuses the input"
)
_ALGORITHMS = (
    "ocireg accepts only sha256 and sha512, the digests registries use and that it can "
    "verify with the standard library; any other algorithm is refused as InvalidDigest"
)
_SHORT_DIGEST = (
    "the upstream test attaches a digest too short to be sha256 (WithDigest does not "
    "validate); ocireg validates every digest when it is built"
)
_ONLY_OS = (
    "OnlyOS (match on the OS alone, whatever the architecture) has no use in a registry "
    "client: ocireg selects and copies by architecture"
)
_IMAGE_ID = (
    "a bare 64-hex string (or sha256:<hex>) names a local image for docker; ocireg has no "
    "local store, so it refuses the first and reads the second as docker's "
    "ParseNormalizedNamed does (repository 'sha256')"
)

DIFFERENCES: dict[str, str] = {
    # containerd/platforms: single-component specifiers take the host's defaults.
    **{
        f"TestParseSelector/{name}": _NO_HOST_DEFAULTS
        for name in (
            "arm", "armel", "armhf", "Aarch64", "x86_64", "i386", "linux", "s390x", "macOS",
            "windows", "windows()", "windows(10.0.17763)", "windows(10.0.17763+win32k)",
            "linux(+gpu)", "linux(+gpu+simd)", "linux(+unsorted+erofs)",
            "windows(10.0.17763%2Bbuild.42)", "windows(10.0.17763%2Bbuild.42+win32k)",
            "windows(50%25done)",
        )
    },
    "TestFormatAllSkipsEmptyOSFeatures": (
        "an empty os.features entry is refused as invalid (a platform value is never empty) "
        "rather than dropped when formatting"
    ),
    **{f"TestOnlyOS/{p}": _ONLY_OS for p in (
        "linux/amd64", "windows(10.0.17763)/amd64", "linux(+gpu)/amd64")},
    **{f"TestOnlyOSLess/{i}": _ONLY_OS for i in (
        "0/linux/amd64", "1/linux/arm64", "2/linux/amd64")},
    # go-digest
    "TestParseDigest/1/sha384:d3fc7881460b7e22e3d172954463dddd7866d17597e7248453c48b3e9d26d9596bf9c4a9cf8072c9d5bad76e19af801d": _ALGORITHMS,
    "TestBLAKE3": _ALGORITHMS,
    "TestBLAKE3Vector": _ALGORITHMS,
    # image-spec: digests of other algorithms and encodings
    **{f"TestDescriptor/{i}": _ALGORITHMS for i in (21, 22, 23, 24, 25, 27, 28)},
    "TestManifest/6": _ALGORITHMS,
    "TestManifest/5": (
        "image-spec says layers SHOULD (not MUST) have an entry; registries store and serve "
        "manifests without layers, so ocireg reads them"
    ),
    # distribution/reference
    **{f"TestWithDigest/{n}": _SHORT_DIGEST for n in (
        "test.com/foo@sha256:1234567890098765432112345667890098765",
        "foo@sha256:1234567890098765432112345667890098765",
        "test.com:8000/foo@sha256:1234567890098765432112345667890098765",
        "test.com:8000/foo:latest@sha256:1234567890098765432112345667890098765")},
    "TestWithTag/test.com:8000/foo:TAG5@sha256:1234567890098765432112345667890098765": _SHORT_DIGEST,
    "TestReferenceParse/validname@sha512:" + "f" * 128: (
        "sha512 is refused upstream only because that Go test binary does not import "
        "crypto/sha512; ocireg supports sha512 digests out of the box"
    ),
    "TestParseAnyReference/dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c": _IMAGE_ID,
    "TestParseAnyReference/sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c": _IMAGE_ID,
    **{f"TestMatch/{c}": (
        "FamiliarMatch (path.Match globbing over familiar names) has no caller in ocireg"
    ) for c in (
        "foo|foo/**/ba[rz]", "foo/any/bat|foo/**/ba[rz]", "foo/a/bar|foo/**/ba[rz]",
        "foo/b/baz|foo/**/ba[rz]", "foo/c/baz:tag|foo/**/ba[rz]", "foo/c/baz:tag|foo/*/baz:tag",
        "foo/c/baz:tag|foo/c/baz:tag", "example.com/foo/c/baz:tag|*/foo/c/baz",
        "example.com/foo/c/baz:tag|example.com/foo/c/baz")},
}


# --- loading -----------------------------------------------------------------------


def _need_vectors() -> None:
    if VECTORS.is_dir():
        return
    message = f"upstream test vectors not found at {VECTORS} (../shared/vectors beside the repository)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}: CI must provide them", pytrace=False)
    pytest.skip(message)


@cache
def _file(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((VECTORS / name).read_text(encoding="utf-8"))
    return data


def cases(name: str, *tests: str) -> list[Any]:
    """pytest params for the cases of ``tests`` in vector file ``name``."""
    if not VECTORS.is_dir():
        return [pytest.param(None, id="vectors-absent")]
    out = []
    for test in tests:
        for case in _file(name)["tests"][test]["cases"]:
            marks = []
            if case["id"] in DIFFERENCES:
                marks.append(
                    pytest.mark.xfail(
                        strict=True, raises=AssertionError, reason=DIFFERENCES[case["id"]]
                    )
                )
            out.append(pytest.param(case, id=case["id"], marks=marks))
    return out


def check(case: dict[str, Any] | None) -> dict[str, Any]:
    _need_vectors()
    assert case is not None
    return case


def refused(fn: Callable[[], object], *errors: type[Exception]) -> bool:
    try:
        fn()
    except errors:
        return True
    return False


def test_every_listed_difference_is_a_real_case() -> None:
    _need_vectors()
    ids = {
        case["id"]
        for path in VECTORS.glob("*.json")
        for test in _file(path.name)["tests"].values()
        for case in test["cases"]
    }
    assert sorted(set(DIFFERENCES) - ids) == []


# --- containerd/platforms ---------------------------------------------------------------


def _spec(obj: dict[str, Any]) -> Platform:
    """A Go specs.Platform (as the vectors spell it) as an ocireg Platform."""
    return Platform(
        obj["OS"],
        obj["Architecture"],
        obj.get("Variant") or None,
        obj.get("OSVersion") or None,
        tuple(obj.get("OSFeatures") or ()),
    )


def _same(a: Platform, b: Platform) -> bool:
    a, b = normalize(a), normalize(b)
    return (a.os, a.architecture, a.variant, a.os_version, a.os_features) == (
        b.os, b.architecture, b.variant, b.os_version, b.os_features)  # fmt: skip


PLATFORMS = "containerd-platforms__platforms_test.json"
COMPARE = "containerd-platforms__compare_test.json"
WINDOWS = "containerd-platforms__platform_windows_compat_test.json"


@pytest.mark.parametrize("case", cases(PLATFORMS, "TestParseSelector"))
def test_platform_parse(case: dict[str, Any] | None) -> None:
    """Parse(input) is expected; the exact matcher of it accepts each of ``matches``;
    the formatted text reads back as the same platform (ocireg keeps the spelling
    given, containerd's text is canonical, so the two are compared normalised)."""
    c = check(case)
    if c.get("skip"):  # wildcards: skipped upstream too, and refused here
        assert refused(lambda: Platform.parse(c["input"]), InvalidPlatform)
        return
    try:
        parsed = Platform.parse(c["input"])
    except InvalidPlatform as exc:
        raise AssertionError(f"refused: {exc}") from None
    expected = _spec(c["expected"])
    assert _same(parsed, expected)
    for m in c.get("matches", ()):
        assert matches(parsed, _spec(m), strict=True)
    assert _same(Platform.parse(c["formatted"]), parsed)
    assert _same(Platform.parse(parsed.describe()), parsed)


@pytest.mark.parametrize("case", cases(PLATFORMS, "TestParseSelectorInvalid"))
def test_platform_parse_invalid(case: dict[str, Any] | None) -> None:
    c = check(case)
    assert refused(lambda: Platform.parse(c["input"]), InvalidPlatform)


@pytest.mark.parametrize(
    "case", cases(PLATFORMS, "TestFormatAllEncoding", "TestFormatAllSkipsEmptyOSFeatures")
)
def test_platform_format(case: dict[str, Any] | None) -> None:
    c = check(case)
    try:
        platform = _spec(c["platform"])
    except InvalidPlatform as exc:
        raise AssertionError(f"refused: {exc}") from None
    assert platform.describe() == c["expected"]
    assert Platform.parse(c["expected"]) == platform


@pytest.mark.parametrize("case", cases(COMPARE, "TestOnly", "TestOnlyStrict", "TestOnlyOS"))
def test_platform_only(case: dict[str, Any] | None) -> None:
    """Only -> matches(); OnlyStrict -> matches(strict=True); OnlyOS has no counterpart."""
    c = check(case)
    if c["id"].startswith("TestOnlyOS/"):
        raise AssertionError("ocireg has no OS-only matcher")
    strict = c["id"].startswith("TestOnlyStrict/")
    host = Platform.parse(c["platform"])
    for expected, images in c["matches"].items():
        for image in images:
            got = matches(host, Platform.parse(image), strict=strict)
            assert got is (expected == "true"), f"{c['platform']} runs {image}: {got}"


def _selection_order(host: Platform, candidates: list[Platform]) -> list[str]:
    """The candidates ``select`` picks one after another until none matches."""
    left = [
        Descriptor("application/vnd.oci.image.manifest.v1+json", Digest.of(str(i).encode()), 1,
                   platform=p)
        for i, p in enumerate(candidates)
    ]  # fmt: skip
    order = []
    while True:
        try:
            chosen = select(left, host)
        except PlatformNotFound:
            return order
        assert chosen.platform is not None
        order.append(chosen.platform.describe())
        left.remove(chosen)


@pytest.mark.parametrize("case", cases(COMPARE, "TestCompareOSFeatures", "TestOnlyOSLess"))
def test_platform_order(case: dict[str, Any] | None) -> None:
    """containerd sorts every candidate; ocireg only ranks those the host can run,
    so the expected order is compared on the candidates that match (containerd puts
    them first too) and the rest must not match."""
    c = check(case)
    if c["id"].startswith("TestOnlyOSLess/"):
        raise AssertionError("ocireg has no OS-only matcher")
    host = Platform.parse(c["platform"])
    expected = [Platform.parse(p).describe() for p in c["expected"]]
    got = _selection_order(host, [Platform.parse(p) for p in c["platforms"]])
    assert got == expected[: len(got)]
    assert not any(matches(host, Platform.parse(p)) for p in expected[len(got) :])


@pytest.mark.parametrize("case", cases(WINDOWS, "Test_PlatformCompat"))
def test_windows_compat(case: dict[str, Any] | None) -> None:
    c = check(case)
    host = Platform("windows", "amd64", os_version=f"10.0.{c['hostBuild']}")
    image = Platform("windows", "amd64", os_version=f"10.0.{c['ctrBuild']}.100")
    assert matches(host, image) is c["shouldRun"]


@pytest.mark.parametrize("case", cases(WINDOWS, "Test_PlatformOrder"))
def test_windows_order(case: dict[str, Any] | None) -> None:
    c = check(case)
    order = _selection_order(_spec(c["hostPlatform"]), [_spec(p) for p in c["platforms"]])
    assert order[0] == _spec(c["wantPlatform"]).describe()


# --- WWW-Authenticate ----------------------------------------------------------------

DIST_CHALLENGE = "distribution-distribution__authchallenge_test.json"
CONTAINERD_AUTH = "containerd-containerd__auth_parse_test.json"


@pytest.mark.parametrize(
    "case",
    cases(CONTAINERD_AUTH, "TestParseAuthHeaderBearer", "TestParseAuthHeader")
    + cases(DIST_CHALLENGE, "TestAuthChallengeParse"),
)
def test_challenge_parse(case: dict[str, Any] | None) -> None:
    c = check(case)
    challenges = parse_challenges(c["header"])
    assert len(challenges) == c.get("count", 1)
    first = challenges[0]
    if "scheme" in c:
        assert first.scheme == c["scheme"]
        assert dict(first.params) == c["parameters"]
    for name, value in c.get("parameters_subset", {}).items():
        assert first.param(name) == value


@pytest.mark.parametrize("case", cases(DIST_CHALLENGE, "TestFilteringManager"))
def test_challenge_filtering(case: dict[str, Any] | None) -> None:
    c = check(case)
    found = parse_www_authenticate([("WWW-Authenticate", h) for h in c["headers"]])
    kept = [ch for ch in found if ch.service == c["keep_service"]]
    assert len(kept) == c["count"]


# --- go-digest ---------------------------------------------------------------------------

DIGEST = "go-digest__digest_test.json"


@pytest.mark.parametrize("case", cases(DIGEST, "TestParseDigest"))
def test_digest_parse(case: dict[str, Any] | None) -> None:
    c = check(case)
    if "Err" in c:
        assert refused(lambda: Digest.parse(c["Input"]), InvalidDigest)
        return
    try:
        d = Digest.parse(c["Input"])
    except InvalidDigest as exc:
        raise AssertionError(f"refused: {exc}") from None
    assert (d.algorithm, d.encoded) == (c["Algorithm"], c["Encoded"])
    assert Digest.parse(str(d)) == d


@pytest.mark.parametrize(
    "case", cases("go-digest__verifiers_test.json", "TestVerifierUnsupportedDigest")
)
def test_digest_verifier_refuses(case: dict[str, Any] | None) -> None:
    c = check(case)
    assert refused(lambda: Digest.parse(c["Digest"]), InvalidDigest)


@pytest.mark.parametrize("case", cases("go-digest__blake3_test.json", "TestBLAKE3", "TestBLAKE3Vector"))
def test_digest_blake3(case: dict[str, Any] | None) -> None:
    c = check(case)
    if "bytes" in c:
        algorithm = c["expected"].split(":")[0]
        assert not refused(lambda: Digest.of(bytes(c["bytes"]), algorithm), InvalidDigest)
        assert str(Digest.of(bytes(c["bytes"]), algorithm)) == c["expected"]
    else:
        assert not refused(lambda: Digest.parse(c["Input"]), InvalidDigest)


# --- image-spec ----------------------------------------------------------------------------


def _descriptor(text: str) -> object:
    return Descriptor.from_json(parse_json_object(text.encode(), limit=1 << 20, what="descriptor",
                                                  error=InvalidManifest))  # fmt: skip


@pytest.mark.parametrize("case", cases("image-spec__descriptor_test.json", "TestDescriptor"))
def test_descriptor(case: dict[str, Any] | None) -> None:
    c = check(case)
    assert refused(lambda: _descriptor(c["document"]), InvalidManifest) is bool(c.get("fail"))


@pytest.mark.parametrize(
    "case",
    cases("image-spec__manifest_test.json", "TestManifest")
    + cases("image-spec__imageindex_test.json", "TestImageIndex"),
)
def test_manifest_and_index(case: dict[str, Any] | None) -> None:
    c = check(case)
    kind = Manifest if c["id"].startswith("TestManifest/") else Index
    try:
        parsed = parse_manifest(c["document"].encode())
    except InvalidManifest:
        assert c.get("fail"), "a valid document was refused"
        return
    assert not c.get("fail"), "an invalid document was accepted"
    assert isinstance(parsed, kind)


@pytest.mark.parametrize(
    "case",
    cases(
        "image-spec__backwards_compatibility_test.json",
        "TestBackwardsCompatibilityImageIndex",
        "TestBackwardsCompatibilityManifest",
        "TestBackwardsCompatibilityConfig",
    ),
)
def test_docker_documents(case: dict[str, Any] | None) -> None:
    """Docker documents read as they are (ocireg parses Docker types natively rather
    than converting them to OCI first); configs are opaque blobs to ocireg, so for
    them only the digest and strict JSON are checked."""
    c = check(case)
    raw = c["document"].encode()
    assert str(Digest.of(raw)) == c["digest"]
    if c["id"].startswith("TestBackwardsCompatibilityConfig/"):
        parse_json_object(raw, limit=1 << 20, what="config", error=InvalidManifest)
        return
    parsed = parse_manifest(raw)
    assert str(parsed.digest) == c["digest"]


# --- distribution/reference -----------------------------------------------------------------

REFERENCE = "distribution-reference__reference_test.json"
NORMALIZE = "distribution-reference__normalize_test.json"


def _hub(domain: str, path: str) -> tuple[str, str]:
    """Where docker's normalisation puts a raw (domain, path): the same split ocireg makes."""
    if "." in domain or ":" in domain or domain == "localhost" or domain != domain.lower():
        return domain, path
    full = f"{domain}/{path}" if domain else path
    return DOCKER_HUB, full if "/" in full else f"library/{full}"


def _parse(text: str) -> Reference:
    try:
        return Reference.parse(text)
    except InvalidReference as exc:
        raise AssertionError(f"refused: {exc}") from None


def _name_only(text: str) -> Reference:
    """Upstream WithName: a name, with no tag or digest."""
    ref = Reference.parse(text)
    if ref.tag is not None or ref.digest is not None:
        raise InvalidReference("a name has no tag or digest", text)
    return ref


@pytest.mark.parametrize("case", cases(REFERENCE, "TestReferenceParse"))
def test_reference_parse(case: dict[str, Any] | None) -> None:
    c = check(case)
    if "err" in c:
        assert refused(lambda: Reference.parse(c["input"]), InvalidReference)
        return
    ref = _parse(c["input"])
    domain = c.get("domain", "")
    path = c["repository"][len(domain) + 1 :] if domain else c["repository"]
    assert (ref.registry, ref.repository) == _hub(domain, path)
    assert ref.tag == c.get("tag")
    assert (str(ref.digest) if ref.digest else None) == c.get("digest")


@pytest.mark.parametrize("case", cases(REFERENCE, "TestWithNameFailure"))
def test_reference_name_failure(case: dict[str, Any] | None) -> None:
    c = check(case)
    assert refused(lambda: _name_only(c["input"]), InvalidReference)


@pytest.mark.parametrize(
    "case", cases(REFERENCE, "TestDomainAndPath") + cases(NORMALIZE, "TestNormalizedSplitHostname")
)
def test_reference_domain_and_path(case: dict[str, Any] | None) -> None:
    c = check(case)
    ref = _parse(c["input"])
    expected = _hub(c["domain"], c["path"]) if c["domain"] != DOCKER_HUB else (DOCKER_HUB, c["path"])
    assert (ref.registry, ref.repository) == expected


@pytest.mark.parametrize("case", cases(REFERENCE, "TestSerialization"))
def test_reference_serialization(case: dict[str, Any] | None) -> None:
    c = check(case)
    if "err" in c:
        assert refused(lambda: Reference.parse(c.get("input", "")), InvalidReference)
        return
    ref = _parse(c["input"])
    assert ref.name == c["name"]
    assert ref.tag == c.get("tag")
    assert (str(ref.digest) if ref.digest else None) == c.get("digest")
    assert ref.familiar == c["input"]


@pytest.mark.parametrize("case", cases(REFERENCE, "TestWithTag", "TestWithDigest"))
def test_reference_with_tag_and_digest(case: dict[str, Any] | None) -> None:
    c = check(case)
    try:
        ref = _name_only(c["name"])
        if "digest" in c:
            ref = ref.with_digest(Digest.parse(c["digest"]))
        if "tag" in c:
            ref = ref.with_tag(c["tag"])
    except (InvalidReference, InvalidDigest) as exc:
        raise AssertionError(f"refused: {exc}") from None
    assert ref.familiar == c["combined"]


@pytest.mark.parametrize("case", cases(REFERENCE, "TestParseNamed"))
def test_reference_parse_named(case: dict[str, Any] | None) -> None:
    """ParseNamed: the name must already be in its normalised (canonical) form."""
    c = check(case)
    canonical = not refused(lambda: _name_only(c["input"]), InvalidReference) and (
        _name_only(c["input"]).name == c["input"]
    )
    assert canonical is ("err" not in c)
    if canonical:
        ref = _name_only(c["input"])
        assert (ref.registry, ref.repository) == (c["domain"], c["path"])


@pytest.mark.parametrize("case", cases(NORMALIZE, "TestValidateReferenceName", "TestValidateRemoteName"))
def test_reference_validate(case: dict[str, Any] | None) -> None:
    c = check(case)
    assert (not refused(lambda: Reference.parse(c["input"]), InvalidReference)) is c["valid"]


@pytest.mark.parametrize("case", cases(NORMALIZE, "TestParseRepositoryInfo"))
def test_reference_repository_info(case: dict[str, Any] | None) -> None:
    c = check(case)
    ref = _parse(c["input"])
    assert ref.familiar == c["FamiliarName"]
    assert ref.name == c["FullName"]
    assert (ref.registry, ref.repository) == (c["Domain"], c["RemoteName"])
    if c["AmbiguousName"]:
        assert _parse(c["AmbiguousName"]) == ref


@pytest.mark.parametrize("case", cases(NORMALIZE, "TestParseReferenceWithTagAndDigest"))
def test_reference_tag_and_digest(case: dict[str, Any] | None) -> None:
    c = check(case)
    ref = _parse(c["input"])
    assert str(ref) == c["expected_string"]
    assert ref.familiar == c["familiar_string"]
    assert (ref.tag is not None, ref.digest is not None) == (c["tagged"], c["canonical"])


@pytest.mark.parametrize("case", cases(NORMALIZE, "TestInvalidReferenceComponents"))
def test_reference_invalid_components(case: dict[str, Any] | None) -> None:
    c = check(case)
    if c["what"] == "name":
        assert refused(lambda: Reference.parse(c["input"]), InvalidReference)
    elif c["what"] == "tag":
        assert refused(lambda: _parse(c["base"]).with_tag(c["input"]), InvalidReference)
    else:
        assert refused(lambda: _parse(c["base"]).with_digest(Digest.parse(c["input"])), InvalidDigest)


@pytest.mark.parametrize("case", cases(NORMALIZE, "TestParseAnyReference"))
def test_reference_parse_any(case: dict[str, Any] | None) -> None:
    c = check(case)
    if "Expected" in c:  # a digest reference: a local image, by ID
        ref = _parse(c["Reference"])
        assert ref.digest is not None and str(ref.digest) == c["Expected"]["args"][0]
        return
    assert str(_parse(c["Reference"])) == c["Equivalent"]


@pytest.mark.parametrize("case", cases(NORMALIZE, "TestMatch"))
def test_reference_match(case: dict[str, Any] | None) -> None:
    check(case)
    raise AssertionError("ocireg has no familiar-name glob matching")


@pytest.mark.parametrize("case", cases(NORMALIZE, "TestParseDockerRef"))
def test_reference_docker_ref(case: dict[str, Any] | None) -> None:
    """ParseDockerRef: what ocireg asks the registry for (``Reference.target``)."""
    c = check(case)
    ref = _parse(c["input"])
    sep = "@" if ref.digest is not None else ":"
    assert f"{ref.name}{sep}{ref.target}" == c["expected"]

