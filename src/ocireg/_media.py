"""Media types of manifests, indexes, configs and layers, and ``Accept`` values.

What goes in ``Accept`` decides what a registry returns: CNCF distribution answers
404 for an OCI document unless its OCI type is accepted, converts a Docker schema2
manifest to schema1 unless schema2 is accepted, and resolves a manifest list to
its linux/amd64 child unless the list type is accepted.  So every manifest read
sends :data:`ACCEPT_MANIFESTS`.
"""

from __future__ import annotations

import re

__all__ = [
    "ACCEPT_IMAGE_MANIFESTS",
    "ACCEPT_MANIFESTS",
    "DOCKER_CONFIG",
    "DOCKER_FOREIGN_LAYER",
    "DOCKER_LAYER_TAR_GZIP",
    "DOCKER_MANIFEST_LIST",
    "DOCKER_MANIFEST_V1",
    "DOCKER_MANIFEST_V1_SIGNED",
    "DOCKER_MANIFEST_V2",
    "DOCKER_PLUGIN_CONFIG",
    "DOCKER_TYPES",
    "GENERIC_TYPES",
    "INDEX_TYPES",
    "MANIFEST_TYPES",
    "OCI_CONFIG",
    "OCI_EMPTY_JSON",
    "OCI_INDEX",
    "OCI_LAYER_TAR",
    "OCI_LAYER_TAR_GZIP",
    "OCI_LAYER_TAR_ZSTD",
    "OCI_MANIFEST",
    "SCHEMA1_TYPES",
    "accept",
    "base_media_type",
    "is_valid_media_type",
]

# Docker image manifest formats.
DOCKER_MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST_V1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_MANIFEST_V1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"

# Docker blobs.
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_PLUGIN_CONFIG = "application/vnd.docker.plugin.v1+json"
DOCKER_LAYER_TAR_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_FOREIGN_LAYER = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"

# OCI image-spec formats.
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_EMPTY_JSON = "application/vnd.oci.empty.v1+json"
OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_TAR_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_TAR_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"

SCHEMA1_TYPES = frozenset({DOCKER_MANIFEST_V1, DOCKER_MANIFEST_V1_SIGNED})
MANIFEST_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST_V2}) | SCHEMA1_TYPES
"""Image manifests (one image), schema1 included."""
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
"""Indexes (a list of manifests, usually one per platform)."""
DOCKER_TYPES = frozenset({DOCKER_MANIFEST_V2, DOCKER_MANIFEST_LIST}) | SCHEMA1_TYPES

GENERIC_TYPES = frozenset({"application/json", "application/octet-stream"})
"""Content-Types that say nothing about the document: look inside it instead."""


def accept(*types: str) -> str:
    """An ``Accept`` value listing ``types`` in order of preference, duplicates dropped.

    One comma-separated header rather than several lines: distribution splits on
    commas, and some proxies keep only the last of repeated headers.
    """
    return ", ".join(dict.fromkeys(types))


ACCEPT_MANIFESTS = accept(
    OCI_MANIFEST,
    OCI_INDEX,
    DOCKER_MANIFEST_V2,
    DOCKER_MANIFEST_LIST,
    # Last: only registries that hold nothing newer should ever pick schema1.
    DOCKER_MANIFEST_V1_SIGNED,
    DOCKER_MANIFEST_V1,
)
"""Every manifest and index type: the registry returns what it stores, unconverted."""

ACCEPT_IMAGE_MANIFESTS = accept(
    OCI_MANIFEST, DOCKER_MANIFEST_V2, DOCKER_MANIFEST_V1_SIGNED, DOCKER_MANIFEST_V1
)
"""Image manifests only: a registry that can resolve an index for us will."""

# RFC 6838 section 4.2 restricted names, as the OCI descriptor spec requires.  A
# media type from a manifest may later become a Content-Type header, so this also
# keeps CR, LF and other header-breaking characters out.
_RESTRICTED_NAME = r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
_MEDIA_TYPE = re.compile(rf"{_RESTRICTED_NAME}/{_RESTRICTED_NAME}")


def is_valid_media_type(value: str) -> bool:
    """True if ``value`` is ``type/subtype`` per RFC 6838 (no parameters)."""
    return isinstance(value, str) and _MEDIA_TYPE.fullmatch(value) is not None


def base_media_type(content_type: str | None) -> str | None:
    """``content_type`` without parameters, trimmed and lower-cased; None if empty.

    ``application/vnd.oci.image.manifest.v1+json; charset=utf-8`` becomes
    ``application/vnd.oci.image.manifest.v1+json``.
    """
    if content_type is None:
        return None
    value = content_type.split(";", 1)[0].strip().lower()
    return value or None
