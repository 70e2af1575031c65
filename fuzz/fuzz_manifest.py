"""Manifests and indexes: ``parse_manifest`` parses or raises InvalidManifest; what parses rebuilds.

The first byte picks the Content-Type the document is served with.
"""

from __future__ import annotations

from _harness import fuzz, instrumented

with instrumented():
    from ocireg._errors import InvalidManifest, PlatformNotFound
    from ocireg._manifest import Index, Manifest, Platform, SchemaV1Manifest, parse_manifest
    from ocireg._media import (
        DOCKER_MANIFEST_LIST,
        DOCKER_MANIFEST_V1_SIGNED,
        DOCKER_MANIFEST_V2,
        OCI_INDEX,
        OCI_MANIFEST,
    )
    from ocireg._platform import select

_TYPES = (None, OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST_V2, DOCKER_MANIFEST_LIST,
          DOCKER_MANIFEST_V1_SIGNED, "application/json", "text/plain; charset=x")
_HOST = Platform("linux", "amd64")


def check(data: bytes) -> None:
    if not data:
        return
    media_type, raw = _TYPES[data[0] % len(_TYPES)], data[1:]
    try:
        doc = parse_manifest(raw, media_type)
    except InvalidManifest:
        return
    assert doc.raw == raw
    again = parse_manifest(doc.raw, doc.media_type)
    assert again == doc and again.digest == doc.digest
    if isinstance(doc, Manifest):
        rebuilt = Manifest.build(doc.config, doc.layers, media_type=doc.media_type, subject=doc.subject,
                                 artifact_type=doc.artifact_type, annotations=doc.annotations)
        assert parse_manifest(rebuilt.raw).blobs == doc.blobs
    elif isinstance(doc, Index):
        rebuilt_index = Index.build(doc.manifests, media_type=doc.media_type, subject=doc.subject,
                                    artifact_type=doc.artifact_type, annotations=doc.annotations)
        assert parse_manifest(rebuilt_index.raw).manifests == doc.manifests  # type: ignore[union-attr]
        try:
            chosen = select(doc.manifests, _HOST)
        except PlatformNotFound:
            return
        assert chosen in doc.manifests and chosen.platform is not None
    else:
        assert isinstance(doc, SchemaV1Manifest)


if __name__ == "__main__":
    fuzz(check)
