"""Manifests, indexes and descriptors: parsing real-shaped documents, refusing
malformed or ambiguous ones, and building documents that parse back identically."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ocireg._digest import Digest
from ocireg._errors import InvalidArgument, InvalidManifest, InvalidPlatform
from ocireg._manifest import (
    MANIFEST_LIMIT,
    Descriptor,
    Index,
    Manifest,
    Platform,
    SchemaV1Manifest,
    parse_manifest,
)
from ocireg._media import (
    DOCKER_CONFIG,
    DOCKER_LAYER_TAR_GZIP,
    DOCKER_MANIFEST_LIST,
    DOCKER_MANIFEST_V1,
    DOCKER_MANIFEST_V1_SIGNED,
    DOCKER_MANIFEST_V2,
    OCI_CONFIG,
    OCI_EMPTY_JSON,
    OCI_INDEX,
    OCI_LAYER_TAR_GZIP,
    OCI_MANIFEST,
)

# A Docker Hub manifest list as Hub serves it (three-space indentation, keys in
# the order Docker's tooling writes them), with Windows entries carrying os.version.
DOCKER_LIST = b"""{
   "manifests": [
      {
         "digest": "sha256:5861314d7fccb39c2192173240eab44fa35ca66426201ca2acd0630a6258dd51",
         "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
         "platform": {
            "architecture": "amd64",
            "os": "linux"
         },
         "size": 525
      },
      {
         "digest": "sha256:5b93ff5f5cd53074088b6155e5d584c4606f26fc75be9f3d0ca03a60e8d00d8c",
         "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
         "platform": {
            "architecture": "arm",
            "os": "linux",
            "variant": "v5"
         },
         "size": 525
      },
      {
         "digest": "sha256:5ba6c8710dd1369ce61603ab9b7a81b25f92d4a9f74956ab72a7ea75884f07ee",
         "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
         "platform": {
            "architecture": "arm",
            "os": "linux",
            "variant": "v7"
         },
         "size": 525
      },
      {
         "digest": "sha256:f69162950f235e3cdbbad33f1f912d1a504be90d8a37d002c735d6f3e3882265",
         "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
         "platform": {
            "architecture": "arm64",
            "os": "linux",
            "variant": "v8"
         },
         "size": 525
      },
      {
         "digest": "sha256:15a26c6fa5151c712acc7ee45a1fd525ab85b801f096847c7d5fdf49efeabb4d",
         "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
         "platform": {
            "architecture": "386",
            "os": "linux"
         },
         "size": 525
      },
      {
         "digest": "sha256:499213206eb26e36cccd8e1888034d90f691bc672722797e948f325d9391b9b0",
         "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
         "platform": {
            "architecture": "amd64",
            "os": "windows",
            "os.version": "10.0.20348.2340"
         },
         "size": 946
      },
      {
         "digest": "sha256:46c63ce16ca86b9e5d98d6724c13f655aeeba36990014641bc4d1ac0d8fd0fee",
         "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
         "platform": {
            "architecture": "amd64",
            "os": "windows",
            "os.version": "10.0.17763.5576"
         },
         "size": 946
      }
   ],
   "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
   "schemaVersion": 2
}"""

# An OCI index as buildx pushes it: two images and their attestation manifests
# (platform unknown/unknown, pointing at the image they describe).
OCI_INDEX_DOC = (
    b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":['
    b'{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:5861314d7fccb39c2192173240eab44fa35ca66426201ca2acd0630a6258dd51","size":1054,"platform":{"architecture":"amd64","os":"linux"}},'
    b'{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:f69162950f235e3cdbbad33f1f912d1a504be90d8a37d002c735d6f3e3882265","size":1054,"platform":{"architecture":"arm64","os":"linux","variant":"v8"}},'
    b'{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:f745a15153c4dacf0ea4bbf57265e73283941f8335939b33c693975315cf5916","size":839,"annotations":{"vnd.docker.reference.digest":"sha256:5861314d7fccb39c2192173240eab44fa35ca66426201ca2acd0630a6258dd51","vnd.docker.reference.type":"attestation-manifest"},"platform":{"architecture":"unknown","os":"unknown"}}'
    b'],"annotations":{"org.opencontainers.image.created":"2024-03-14T09:21:07Z"}}'
)

# A Docker schema2 image manifest as Docker Hub serves it.
DOCKER_IMAGE = b"""{
   "schemaVersion": 2,
   "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
   "config": {
      "mediaType": "application/vnd.docker.container.image.v1+json",
      "size": 1472,
      "digest": "sha256:e67d23e7820c49a8051dac2831f38290f5e72f66c8db5079eeb60d82f14894c0"
   },
   "layers": [
      {
         "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
         "size": 3408729,
         "digest": "sha256:2804bad6fe94a55f18b2b37e300919a5fd517b95aa81e95db574c0ba069a3740"
      },
      {
         "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
         "size": 1259,
         "digest": "sha256:8a1cee436cbac1489a1883c9d886fcfc46f302c55ed4106ae31729e4f4eb9041"
      }
   ]
}"""

# An OCI artifact manifest with a subject: a Notary signature of an image.
OCI_SIGNATURE = (
    b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'
    b'"artifactType":"application/vnd.cncf.notary.signature",'
    b'"config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},'
    b'"layers":[{"mediaType":"application/jose+json","digest":"sha256:ddc6e2b224d0fd821669202258386936fc9ce2899e215eec6322b95f8dd96d6a","size":2096}],'
    b'"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:5861314d7fccb39c2192173240eab44fa35ca66426201ca2acd0630a6258dd51","size":1054},'
    b'"annotations":{"io.cncf.notary.x509chain.thumbprint#S256":"[\\"b1b6a7b1fcb1c3cf6fcba0c8d1f8ba4b3f5a0c6e1ce2a9d74e5b69e1c6d0bd7a\\"]",'
    b'"org.opencontainers.image.created":"2024-03-14T09:30:00Z"}}'
)

# The payload of a schema1 manifest, as docker 1.x wrote it before signing.
SCHEMA1_PAYLOAD = b"""{
   "schemaVersion": 1,
   "name": "library/hello-world",
   "tag": "latest",
   "architecture": "amd64",
   "fsLayers": [
      {
         "blobSum": "sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4"
      },
      {
         "blobSum": "sha256:2804bad6fe94a55f18b2b37e300919a5fd517b95aa81e95db574c0ba069a3740"
      }
   ],
   "history": [
      {
         "v1Compatibility": "{\\"id\\":\\"e45a5af57b00862e5ef5782a9925979a02ba2b12dff832fd0991335f4a11e5c5\\",\\"parent\\":\\"31cbccb51277105ba3ae35ce33c22b69c9e3f1002e76e4c736a2e8ebff9d7b5d\\",\\"created\\":\\"2014-12-31T22:23:56.943403668Z\\",\\"container_config\\":{\\"Cmd\\":[\\"/bin/sh\\",\\"-c\\",\\"#(nop) CMD [/hello]\\"]}}"
      },
      {
         "v1Compatibility": "{\\"id\\":\\"31cbccb51277105ba3ae35ce33c22b69c9e3f1002e76e4c736a2e8ebff9d7b5d\\",\\"created\\":\\"2014-12-31T22:23:56.190797792Z\\"}"
      }
   ]
}"""


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign_schema1(payload: bytes, signatures: int = 1, tail_override: bytes | None = None) -> bytes:
    """Wrap ``payload`` the way libtrust's pretty JWS does.

    The signed document is the payload up to its closing ``\\n}``, then the
    ``signatures`` array, then the same tail.  Each protected header records the
    cut (``formatLength``) and the tail (``formatTail``), which is how a reader
    rebuilds the payload whose digest registries report.
    """
    tail_at = payload.rindex(b"\n}")
    head, tail = payload[:tail_at], payload[tail_at:]
    sigs = []
    for i in range(signatures):
        protected = json.dumps(
            {
                "formatLength": tail_at,
                "formatTail": _b64url(tail if tail_override is None or i == 0 else tail_override),
                "time": "2015-01-01T10:00:00Z",
            }
        ).encode()
        sigs.append(
            "      {\n"
            '         "header": {\n'
            '            "jwk": {\n'
            '               "crv": "P-256",\n'
            '               "kid": "OD6I:6DRK:JXEJ:KBM4:255X:NSAA:MUSF:E4VM:ZI6W:CUN2:L4Z6:LSF4",\n'
            '               "kty": "EC",\n'
            '               "x": "3gAwX48IQ5oaYQAYSxor6rYYc_6yjuLCjtQ9LUakg4A",\n'
            '               "y": "t72ge6kIA1XOjqjVoEOiPPAURltJFBMGDSQvEGVB010"\n'
            "            },\n"
            '            "alg": "ES256"\n'
            "         },\n"
            '         "signature": "XREm0L8WNn27Ga_iE_vRnTxVMhhYY0Zst_FfkKopg6gWSoTOZTuW4rK0fg_IqnKkEKlbD83tD46LKEGi5aIVFg",\n'
            f'         "protected": "{_b64url(protected)}"\n'
            "      }"
        )
    return head + b',\n   "signatures": [\n' + ",\n".join(sigs).encode() + b"\n   ]" + tail


SCHEMA1_SIGNED = sign_schema1(SCHEMA1_PAYLOAD)

D = "sha256:5861314d7fccb39c2192173240eab44fa35ca66426201ca2acd0630a6258dd51"


def sha256(data: bytes) -> Digest:
    return Digest("sha256", hashlib.sha256(data).hexdigest())


# --- real-shaped documents -------------------------------------------------------


def test_docker_manifest_list() -> None:
    doc = parse_manifest(DOCKER_LIST, DOCKER_MANIFEST_LIST)
    assert isinstance(doc, Index)
    assert doc.media_type == DOCKER_MANIFEST_LIST
    assert doc.raw == DOCKER_LIST
    assert doc.digest == sha256(DOCKER_LIST)
    assert [str(p) for p in doc.platforms] == [
        "linux/amd64",
        "linux/arm/v5",
        "linux/arm/v7",
        "linux/arm64/v8",
        "linux/386",
        "windows/amd64",
        "windows/amd64",
    ]
    win = doc.manifests[5]
    assert win.platform == Platform("windows", "amd64", os_version="10.0.20348.2340")
    assert win.size == 946
    assert win.media_type == DOCKER_MANIFEST_V2
    assert str(win.digest) == (
        "sha256:499213206eb26e36cccd8e1888034d90f691bc672722797e948f325d9391b9b0"
    )


def test_oci_index_with_attestations() -> None:
    doc = parse_manifest(OCI_INDEX_DOC, OCI_INDEX)
    assert isinstance(doc, Index)
    assert doc.digest == sha256(OCI_INDEX_DOC)
    assert len(doc.manifests) == 3
    attestation = doc.manifests[2]
    assert attestation.platform == Platform("unknown", "unknown")
    assert dict(attestation.annotations)["vnd.docker.reference.type"] == "attestation-manifest"
    assert doc.annotations == (("org.opencontainers.image.created", "2024-03-14T09:21:07Z"),)


def test_docker_image_manifest() -> None:
    doc = parse_manifest(DOCKER_IMAGE, DOCKER_MANIFEST_V2)
    assert isinstance(doc, Manifest)
    assert doc.digest == sha256(DOCKER_IMAGE)
    assert doc.config.media_type == DOCKER_CONFIG
    assert doc.config.size == 1472
    assert [d.media_type for d in doc.layers] == [DOCKER_LAYER_TAR_GZIP] * 2
    assert doc.layers_size == 3408729 + 1259
    assert doc.blobs == (doc.config, *doc.layers)
    assert doc.subject is None


def test_oci_manifest_with_subject() -> None:
    doc = parse_manifest(OCI_SIGNATURE, OCI_MANIFEST)
    assert isinstance(doc, Manifest)
    assert doc.digest == sha256(OCI_SIGNATURE)
    assert doc.artifact_type == "application/vnd.cncf.notary.signature"
    assert doc.config.media_type == OCI_EMPTY_JSON
    assert doc.config.digest == Digest.of(b"{}")
    assert doc.subject == Descriptor(OCI_MANIFEST, Digest.parse(D), 1054)
    assert [k for k, _ in doc.annotations] == [
        "io.cncf.notary.x509chain.thumbprint#S256",
        "org.opencontainers.image.created",
    ]


def test_schema1_signed_digest_is_that_of_the_payload() -> None:
    doc = parse_manifest(SCHEMA1_SIGNED, DOCKER_MANIFEST_V1_SIGNED)
    assert isinstance(doc, SchemaV1Manifest)
    assert doc.raw == SCHEMA1_SIGNED
    assert (doc.name, doc.tag, doc.architecture) == ("library/hello-world", "latest", "amd64")
    assert [str(d) for d in doc.fs_layers] == [
        "sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4",
        "sha256:2804bad6fe94a55f18b2b37e300919a5fd517b95aa81e95db574c0ba069a3740",
    ]
    # What Docker-Content-Digest says for a signed schema1 manifest: the payload's.
    assert doc.digest == sha256(SCHEMA1_PAYLOAD)
    assert doc.digest != sha256(SCHEMA1_SIGNED)
    # Two signatures over the same payload give the same digest.
    assert parse_manifest(sign_schema1(SCHEMA1_PAYLOAD, 2)).digest == sha256(SCHEMA1_PAYLOAD)


def test_schema1_unsigned() -> None:
    doc = parse_manifest(SCHEMA1_PAYLOAD, DOCKER_MANIFEST_V1)
    assert isinstance(doc, SchemaV1Manifest)
    assert doc.media_type == DOCKER_MANIFEST_V1
    assert doc.digest == sha256(SCHEMA1_PAYLOAD)


@pytest.mark.parametrize(
    ("raw", "content_type", "kind", "media_type"),
    [
        (DOCKER_LIST, None, Index, DOCKER_MANIFEST_LIST),
        (DOCKER_LIST, "application/json", Index, DOCKER_MANIFEST_LIST),
        (DOCKER_IMAGE, "application/octet-stream", Manifest, DOCKER_MANIFEST_V2),
        (OCI_SIGNATURE, f"{OCI_MANIFEST}; charset=utf-8", Manifest, OCI_MANIFEST),
        (OCI_SIGNATURE, "Application/Vnd.OCI.Image.Manifest.v1+JSON", Manifest, OCI_MANIFEST),
        (SCHEMA1_SIGNED, None, SchemaV1Manifest, DOCKER_MANIFEST_V1_SIGNED),
        (SCHEMA1_PAYLOAD, "application/json", SchemaV1Manifest, DOCKER_MANIFEST_V1),
        # Content-Type says signed schema1 while the document has no signatures.
        (SCHEMA1_PAYLOAD, DOCKER_MANIFEST_V1_SIGNED, SchemaV1Manifest, DOCKER_MANIFEST_V1_SIGNED),
    ],
)
def test_media_type_fallbacks(
    raw: bytes, content_type: str | None, kind: type, media_type: str
) -> None:
    doc = parse_manifest(raw, content_type)
    assert type(doc) is kind
    assert doc.media_type == media_type


def test_shape_decides_without_any_media_type() -> None:
    index = json.loads(OCI_INDEX_DOC)
    del index["mediaType"]
    doc = parse_manifest(json.dumps(index).encode())
    assert isinstance(doc, Index)
    assert doc.media_type == OCI_INDEX

    manifest = json.loads(OCI_SIGNATURE)
    del manifest["mediaType"]
    doc = parse_manifest(json.dumps(manifest).encode())
    assert isinstance(doc, Manifest)
    assert doc.media_type == OCI_MANIFEST

    with pytest.raises(InvalidManifest, match="neither"):
        parse_manifest(b'{"schemaVersion":2}')


# --- refusals ------------------------------------------------------------------


def _edit(raw: bytes, change: Any) -> bytes:
    obj = json.loads(raw)
    change(obj)
    return json.dumps(obj).encode()


def _set(path: list[Any], value: Any) -> Any:
    def change(obj: Any) -> None:
        for key in path[:-1]:
            obj = obj[key]
        obj[path[-1]] = value

    return change


def _delete(path: list[Any]) -> Any:
    def change(obj: Any) -> None:
        for key in path[:-1]:
            obj = obj[key]
        del obj[path[-1]]

    return change


REFUSED = [
    # ambiguity (CVE-2021-41190)
    ("both", _edit(OCI_INDEX_DOC, _set(["layers"], [])), None, "ambiguous"),
    ("both-typed", _edit(OCI_INDEX_DOC, _set(["config"], {})), OCI_INDEX, "ambiguous"),
    ("index-without-manifests", _edit(OCI_INDEX_DOC, _delete(["manifests"])), None, "manifests"),
    # media type disagreements
    ("contradiction", OCI_SIGNATURE, OCI_INDEX, "contradicts"),
    ("docker-vs-oci", DOCKER_IMAGE, OCI_MANIFEST, "contradicts"),
    (
        "unknown-content-type",
        OCI_SIGNATURE.replace(b'"mediaType":"application/vnd.oci.image.manifest.v1+json",', b"", 1),
        "text/html",
        "unknown media type",
    ),
    (
        "unknown-field",
        _edit(OCI_SIGNATURE, _set(["mediaType"], "application/vnd.example+json")),
        None,
        "unknown media type",
    ),
    ("non-string-field", _edit(OCI_SIGNATURE, _set(["mediaType"], 7)), None, "mediaType"),
    # schema version
    ("v1-in-v2", _edit(OCI_SIGNATURE, _set(["schemaVersion"], 1)), OCI_MANIFEST, "schemaVersion"),
    ("string-version", _edit(DOCKER_LIST, _set(["schemaVersion"], "2")), None, "schemaVersion"),
    ("bool-version", _edit(DOCKER_LIST, _set(["schemaVersion"], True)), None, "schemaVersion"),
    ("float-version", _edit(DOCKER_LIST, _set(["schemaVersion"], 2.0)), None, "schemaVersion"),
    ("no-version", _edit(DOCKER_LIST, _delete(["schemaVersion"])), None, "schemaVersion"),
    (
        "v2-as-v1",
        _edit(SCHEMA1_PAYLOAD, _set(["schemaVersion"], 2)),
        DOCKER_MANIFEST_V1,
        "schemaVersion",
    ),
    # descriptors
    ("no-config", _edit(DOCKER_IMAGE, _delete(["config"])), None, "config"),
    ("no-layers", _edit(DOCKER_IMAGE, _delete(["layers"])), None, "layers"),
    ("layers-object", _edit(DOCKER_IMAGE, _set(["layers"], {})), None, "layers"),
    ("no-manifests", _edit(DOCKER_LIST, _delete(["manifests"])), DOCKER_MANIFEST_LIST, "manifests"),
    ("entry-not-object", _edit(DOCKER_LIST, _set(["manifests", 0], "x")), None, "manifests[0]"),
    (
        "bad-digest",
        _edit(DOCKER_IMAGE, _set(["layers", 1, "digest"], "sha256:../../etc/passwd")),
        None,
        "layers[1]",
    ),
    (
        "upper-digest",
        _edit(DOCKER_IMAGE, _set(["config", "digest"], "sha256:" + "A" * 64)),
        None,
        "config",
    ),
    (
        "md5-digest",
        _edit(DOCKER_IMAGE, _set(["config", "digest"], "md5:d41d8cd98f00b204e9800998ecf8427e")),
        None,
        "config",
    ),
    ("negative-size", _edit(DOCKER_IMAGE, _set(["layers", 0, "size"], -1)), None, "size"),
    ("float-size", _edit(DOCKER_IMAGE, _set(["layers", 0, "size"], 1.5)), None, "size"),
    ("whole-float-size", _edit(DOCKER_IMAGE, _set(["layers", 0, "size"], 3408729.0)), None, "size"),
    ("bool-size", _edit(DOCKER_IMAGE, _set(["layers", 0, "size"], True)), None, "size"),
    ("string-size", _edit(DOCKER_IMAGE, _set(["layers", 0, "size"], "1259")), None, "size"),
    ("huge-size", _edit(DOCKER_IMAGE, _set(["layers", 0, "size"], 2**63)), None, "size"),
    ("missing-size", _edit(DOCKER_IMAGE, _delete(["layers", 0, "size"])), None, "size"),
    (
        "crlf-media-type",
        _edit(DOCKER_IMAGE, _set(["layers", 0, "mediaType"], "a/b\r\nX-Evil: 1")),
        None,
        "media type",
    ),
    (
        "media-type-no-slash",
        _edit(DOCKER_IMAGE, _set(["layers", 0, "mediaType"], "tar")),
        None,
        "media type",
    ),
    (
        "url-with-space",
        _edit(DOCKER_IMAGE, _set(["layers", 0, "urls"], ["https://x/a b"])),
        None,
        "urls",
    ),
    ("urls-not-list", _edit(DOCKER_IMAGE, _set(["layers", 0, "urls"], "https://x/")), None, "urls"),
    # The descriptor schema's "uri" format: a URL needs a scheme.
    ("url-no-scheme", _edit(DOCKER_IMAGE, _set(["layers", 0, "urls"], ["x/a"])), None, "urls"),
    # Embedded data is standard base64 with its padding.
    ("data-unpadded", _edit(DOCKER_IMAGE, _set(["layers", 0, "data"], "aGk")), None, "data"),
    ("data-not-text", _edit(DOCKER_IMAGE, _set(["layers", 0, "data"], 1)), None, "data"),
    ("data-urlsafe", _edit(DOCKER_IMAGE, _set(["layers", 0, "data"], "a-_=")), None, "data"),
    ("annotation-int", _edit(OCI_SIGNATURE, _set(["annotations", "n"], 1)), None, "annotations"),
    ("annotations-list", _edit(OCI_SIGNATURE, _set(["annotations"], ["a"])), None, "annotations"),
    ("artifact-type", _edit(OCI_SIGNATURE, _set(["artifactType"], "not a type")), None, "artifact"),
    ("subject-bad", _edit(OCI_SIGNATURE, _set(["subject", "digest"], "sha256:0")), None, "subject"),
    (
        "platform-no-os",
        _edit(DOCKER_LIST, _delete(["manifests", 0, "platform", "os"])),
        None,
        "platform.os",
    ),
    (
        "platform-slash",
        _edit(DOCKER_LIST, _set(["manifests", 0, "platform", "architecture"], "amd64/v2")),
        None,
        "platform",
    ),
    (
        "platform-features",
        _edit(DOCKER_LIST, _set(["manifests", 0, "platform", "features"], [1])),
        None,
        "features",
    ),
    ("platform-list", _edit(DOCKER_LIST, _set(["manifests", 0, "platform"], [])), None, "platform"),
    # schema1
    ("fslayers-missing", _edit(SCHEMA1_PAYLOAD, _delete(["fsLayers"])), None, "fsLayers"),
    (
        "blobsum-bad",
        _edit(SCHEMA1_PAYLOAD, _set(["fsLayers", 0, "blobSum"], "sha256:x")),
        None,
        "blobSum",
    ),
    ("name-missing", _edit(SCHEMA1_PAYLOAD, _delete(["name"])), None, "name"),
    ("signatures-empty", _edit(SCHEMA1_PAYLOAD, _set(["signatures"], [])), None, "signatures"),
    (
        "protected-not-b64",
        _edit(SCHEMA1_PAYLOAD, _set(["signatures"], [{"protected": "%%%"}])),
        None,
        "protected",
    ),
    (
        "protected-not-json",
        _edit(SCHEMA1_PAYLOAD, _set(["signatures"], [{"protected": _b64url(b"[1]")}])),
        None,
        "protected",
    ),
    (
        "format-length-past-end",
        _edit(
            SCHEMA1_PAYLOAD,
            _set(
                ["signatures"],
                [{"protected": _b64url(b'{"formatLength":99999999,"formatTail":"Cn0"}')}],
            ),
        ),
        None,
        "formatLength",
    ),
    (
        "signatures-disagree",
        sign_schema1(SCHEMA1_PAYLOAD, 2, tail_override=b"\n}\n"),
        None,
        "disagree",
    ),
    # JSON itself
    ("not-json", b"<html>rate limited</html>", OCI_MANIFEST, "invalid JSON"),
    ("array", b"[]", OCI_MANIFEST, "object"),
    (
        "duplicate-key",
        OCI_SIGNATURE[:-1] + b',"artifactType":"application/x-other"}',
        None,
        "duplicate",
    ),
    ("nan", b'{"schemaVersion":NaN}', None, "JSON"),
    ("not-utf8", b'{"schemaVersion":2,"x":"\xff"}', None, "JSON"),
    ("deep", b"[" * 100_000 + b"]" * 100_000, None, "nested"),
    ("empty", b"", None, "JSON"),
]


@pytest.mark.parametrize(
    ("raw", "content_type", "message"),
    [pytest.param(raw, ct, msg, id=name) for name, raw, ct, msg in REFUSED],
)
def test_refused(raw: bytes, content_type: str | None, message: str) -> None:
    with pytest.raises(InvalidManifest) as info:
        parse_manifest(raw, content_type)
    assert message in str(info.value)
    assert isinstance(info.value, ValueError)


def test_each_refused_edit_started_from_a_valid_document() -> None:
    # Guards the table above: every base document parses, so each refusal is due
    # to its edit alone.
    for raw, ct in [
        (OCI_INDEX_DOC, OCI_INDEX),
        (OCI_SIGNATURE, OCI_MANIFEST),
        (DOCKER_IMAGE, None),
        (DOCKER_LIST, None),
        (SCHEMA1_PAYLOAD, None),
        (SCHEMA1_SIGNED, None),
    ]:
        parse_manifest(_edit(raw, lambda obj: None), ct)


def test_index_with_layers_only_is_refused_as_an_index() -> None:
    raw = _edit(OCI_INDEX_DOC, _delete(["manifests"]))
    raw = _edit(raw, _set(["layers"], []))
    with pytest.raises(InvalidManifest):
        parse_manifest(raw, OCI_INDEX)


def test_manifest_with_manifests_only_is_refused_as_a_manifest() -> None:
    raw = _edit(DOCKER_IMAGE, _delete(["config"]))
    raw = _edit(raw, _delete(["layers"]))
    raw = _edit(raw, _set(["manifests"], []))
    with pytest.raises(InvalidManifest):
        parse_manifest(raw, DOCKER_MANIFEST_V2)


def test_limit() -> None:
    padded = OCI_SIGNATURE[:-1] + b"," + b'"x":"' + b"a" * 100 + b'"}'
    parse_manifest(padded, limit=len(padded))
    with pytest.raises(InvalidManifest, match="limit"):
        parse_manifest(padded, limit=len(padded) - 1)
    assert MANIFEST_LIMIT == 4 * 1024 * 1024
    with pytest.raises(InvalidManifest, match="limit"):
        parse_manifest(b" " * (MANIFEST_LIMIT + 1))


def test_null_optional_fields_read_as_absent() -> None:
    # Go clients marshal nil slices and maps as null.
    raw = _edit(OCI_SIGNATURE, _set(["annotations"], None))
    raw = _edit(raw, _set(["layers", 0, "urls"], None))
    raw = _edit(raw, _set(["subject"], None))
    doc = parse_manifest(raw)
    assert isinstance(doc, Manifest)
    assert doc.annotations == ()
    assert doc.subject is None
    assert doc.layers[0].urls == ()


# --- building ------------------------------------------------------------------


def test_build_is_byte_exact() -> None:
    config = Descriptor.of(b"{}", OCI_EMPTY_JSON)
    layer = Descriptor.of(b"hello", OCI_LAYER_TAR_GZIP, annotations={"b": "2", "a": "1"})
    m = Manifest.build(config, [layer], annotations={"k": "v"})
    expected = (
        b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'
        b'"config":{"mediaType":"application/vnd.oci.empty.v1+json",'
        b'"digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},'
        b'"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip",'
        b'"digest":"sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824","size":5,'
        b'"annotations":{"a":"1","b":"2"}}],"annotations":{"k":"v"}}'
    )
    assert m.raw == expected
    assert m.digest == sha256(expected)
    assert parse_manifest(m.raw, OCI_MANIFEST) == m


def test_build_docker_types() -> None:
    config = Descriptor.of(b'{"architecture":"amd64"}', DOCKER_CONFIG)
    layer = Descriptor.of(b"\x1f\x8b", DOCKER_LAYER_TAR_GZIP)
    m = Manifest.build(config, [layer], media_type=DOCKER_MANIFEST_V2)
    assert parse_manifest(m.raw, DOCKER_MANIFEST_V2) == m
    with pytest.raises(InvalidArgument):
        Manifest.build(config, [layer], media_type=DOCKER_MANIFEST_V2, subject=config)
    with pytest.raises(InvalidArgument):
        Manifest.build(config, [layer], media_type=OCI_INDEX)
    with pytest.raises(InvalidArgument):
        Index.build([], media_type=DOCKER_MANIFEST_LIST, annotations={"a": "b"})


def test_index_filtered_to_some_platforms() -> None:
    source = parse_manifest(DOCKER_LIST)
    assert isinstance(source, Index)
    keep = [d for d in source.manifests if d.platform is not None and d.platform.os == "linux"]
    filtered = Index.build(keep, media_type=source.media_type)
    again = parse_manifest(filtered.raw, DOCKER_MANIFEST_LIST)
    assert again == filtered
    assert isinstance(again, Index)
    assert again.manifests == tuple(keep)
    assert len(again.manifests) == 5
    assert again.digest != source.digest


def test_descriptor_validation_is_a_usage_error() -> None:
    digest = Digest.of(b"x")
    bad: list[dict[str, Any]] = [
        {"size": -1},
        {"size": True},
        {"size": 1.0},
        {"media_type": "nope"},
        {"urls": ("a b",)},
        {"urls": ("relative/path",)},
        {"annotations": (("k", 1),)},
        {"annotations": [("k", "a"), ("k", "b")]},
        {"artifact_type": "x"},
        {"platform": "linux/amd64"},
    ]
    for kwargs in bad:
        args: dict[str, Any] = {"media_type": OCI_CONFIG, "digest": digest, "size": 1}
        args.update(kwargs)
        with pytest.raises(InvalidArgument):
            Descriptor(**args)
    with pytest.raises(InvalidArgument):
        Descriptor(OCI_CONFIG, str(digest), 1)  # type: ignore[arg-type]


def test_platform_from_json_errors_are_manifest_errors() -> None:
    with pytest.raises(InvalidManifest):
        Platform.from_json({"os": "linux"})
    with pytest.raises(InvalidPlatform):
        Platform("linux", "")
    p = Platform.from_json({"os": "linux", "architecture": "arm", "variant": ""})
    assert p.variant is None


# --- properties ----------------------------------------------------------------

words = st.from_regex(r"[a-z0-9][a-z0-9_.+-]{0,9}", fullmatch=True)
media_types = st.sampled_from(
    [OCI_CONFIG, OCI_LAYER_TAR_GZIP, DOCKER_LAYER_TAR_GZIP, "application/vnd.example.thing+json"]
)
platforms = st.builds(
    Platform,
    words,
    words,
    st.none() | words,
    st.none() | words,
    st.lists(words, max_size=2).map(tuple),
    st.lists(words, max_size=2).map(tuple),
)
annotation_maps = st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3).map(
    lambda d: tuple(sorted(d.items()))
)
descriptors = st.builds(
    Descriptor,
    media_types,
    st.builds(Digest.of, st.binary(max_size=8)),
    st.integers(0, 2**63 - 1),
    st.lists(
        st.sampled_from(["https://example.com/a.tgz", "https://mirror.example/b"]), max_size=2
    ).map(tuple),
    annotation_maps,
    st.none() | platforms,
    st.none() | media_types,
)


@given(descriptors)
def test_descriptor_json_round_trip(d: Descriptor) -> None:
    assert Descriptor.from_json(json.loads(json.dumps(d.to_json()))) == d


@given(
    descriptors,
    st.lists(descriptors, max_size=4),
    st.none() | descriptors,
    st.none() | media_types,
    annotation_maps,
)
def test_build_then_parse_round_trip(
    config: Descriptor,
    layers: list[Descriptor],
    subject: Descriptor | None,
    artifact_type: str | None,
    annots: tuple[tuple[str, str], ...],
) -> None:
    m = Manifest.build(
        config, layers, subject=subject, artifact_type=artifact_type, annotations=annots
    )
    assert parse_manifest(m.raw, OCI_MANIFEST) == m
    assert parse_manifest(m.raw) == m
    assert m.digest == sha256(m.raw)
    i = Index.build(layers, subject=subject, artifact_type=artifact_type, annotations=annots)
    assert parse_manifest(i.raw, f"{OCI_INDEX};charset=utf-8") == i
    assert parse_manifest(i.raw) == i


content_types = st.sampled_from(
    [
        None,
        "application/json",
        OCI_MANIFEST,
        OCI_INDEX,
        DOCKER_MANIFEST_V2,
        DOCKER_MANIFEST_LIST,
        DOCKER_MANIFEST_V1,
        DOCKER_MANIFEST_V1_SIGNED,
        "text/plain",
    ]
)


def _parses_or_invalid(raw: bytes, content_type: str | None) -> None:
    try:
        doc = parse_manifest(raw, content_type)
    except InvalidManifest:
        return
    assert doc.raw == raw
    assert isinstance(doc, Manifest | Index | SchemaV1Manifest)


@given(st.binary(max_size=400), content_types)
def test_arbitrary_bytes_parse_or_raise_invalid_manifest(raw: bytes, ct: str | None) -> None:
    _parses_or_invalid(raw, ct)


json_keys = st.sampled_from(
    [
        "schemaVersion", "mediaType", "config", "layers", "manifests", "subject",
        "artifactType", "annotations", "digest", "size", "urls", "platform", "os",
        "architecture", "variant", "os.version", "os.features", "features", "fsLayers",
        "blobSum", "name", "tag", "signatures", "protected",
    ]
)  # fmt: skip
json_leaves = (
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([D, OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST_V2, "linux", "", "Cn0", "e30"])
)
json_values = st.recursive(
    json_leaves,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(json_keys, children, max_size=5)
    ),
    max_leaves=25,
)


@given(st.dictionaries(json_keys, json_values, max_size=8), content_types)
def test_arbitrary_documents_parse_or_raise_invalid_manifest(
    obj: dict[str, Any], ct: str | None
) -> None:
    _parses_or_invalid(json.dumps(obj).encode(), ct)


@given(st.data())
def test_mutated_real_documents_parse_or_raise_invalid_manifest(data: st.DataObject) -> None:
    raw = data.draw(
        st.sampled_from([DOCKER_LIST, OCI_INDEX_DOC, DOCKER_IMAGE, OCI_SIGNATURE, SCHEMA1_SIGNED])
    )
    obj = json.loads(raw)
    # Replace one value somewhere in the tree with an arbitrary JSON value.
    node: Any = obj
    for _ in range(data.draw(st.integers(0, 4))):
        keys = list(node.keys()) if isinstance(node, dict) else list(range(len(node)))
        if not keys:
            break
        key = data.draw(st.sampled_from(keys))
        if not isinstance(node[key], dict | list):
            break
        node = node[key]
    if isinstance(node, dict) and node:
        node[data.draw(st.sampled_from(sorted(node)))] = data.draw(json_values)
    elif isinstance(node, list) and node:
        node[data.draw(st.integers(0, len(node) - 1))] = data.draw(json_values)
    _parses_or_invalid(json.dumps(obj).encode(), data.draw(content_types))
