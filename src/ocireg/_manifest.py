"""Manifests, indexes, descriptors and platforms: parsed, validated and built.

A manifest arrives as bytes whose digest names it, so every document keeps its
exact ``raw`` bytes next to the parsed fields; :meth:`Manifest.build` and
:meth:`Index.build` render ``raw`` once, deterministically, and keep it.

Parsing treats the document as hostile.  :func:`parse_manifest` refuses, as
:class:`~ocireg.InvalidManifest`:

* more than ``limit`` bytes, invalid or duplicate-key JSON (:mod:`._strictjson`);
* a document that is both a manifest and an index (``manifests`` next to
  ``config`` / ``layers``): two clients could disagree about what was signed or
  pulled (CVE-2021-41190), so neither shape is guessed;
* a ``mediaType`` field that contradicts the Content-Type;
* a wrong ``schemaVersion``, an unknown media type, or a descriptor whose digest,
  size or media type is malformed.

Values built directly (``Descriptor(...)``) raise :class:`~ocireg.InvalidArgument`
(or :class:`~ocireg.InvalidDigest` / :class:`~ocireg.InvalidPlatform`): there the
mistake is the caller's.  The same checks on a network document raise
:class:`~ocireg.InvalidManifest` with the path of the offending field.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeGuard

from ._digest import Digest
from ._errors import InvalidArgument, InvalidDigest, InvalidManifest, InvalidPlatform
from ._media import (
    DOCKER_MANIFEST_LIST,
    DOCKER_MANIFEST_V1,
    DOCKER_MANIFEST_V1_SIGNED,
    DOCKER_MANIFEST_V2,
    GENERIC_TYPES,
    INDEX_TYPES,
    OCI_INDEX,
    OCI_MANIFEST,
    SCHEMA1_TYPES,
    base_media_type,
    is_valid_media_type,
)
from ._strictjson import parse_json_object

__all__ = [
    "MANIFEST_LIMIT",
    "Annotations",
    "Descriptor",
    "Document",
    "Index",
    "Manifest",
    "Platform",
    "SchemaV1Manifest",
    "parse_manifest",
]

MANIFEST_LIMIT = 4 * 1024 * 1024
"""Largest manifest read: the limit CNCF distribution itself puts on a manifest PUT."""

MAX_SIZE = 2**63 - 1
"""Sizes are int64 in every registry implementation; larger is not a real blob."""

Annotations = tuple[tuple[str, str], ...]
"""Annotations as ``(key, value)`` pairs sorted by key: a map, hashable and canonical."""

# Platform words (os, architecture, variant) seen in real indexes are all of this
# shape: "linux", "ppc64le", "v7", "unknown".  No "/" or parentheses, so
# Platform.parse can read str().
_PLATFORM_WORD = re.compile(r"[A-Za-z0-9_.+-]{1,128}")
# os.version and os.features values are freer ("10.0.17763+build.42", "100%gpu"):
# any visible ASCII, percent-encoded by describe() where the text syntax needs it.
_PLATFORM_OPTION = re.compile(r"[\x21-\x7e]{1,128}")
# containerd's specifier: os[(os.version[+feature]*)]/arch[/variant], where version
# and features are percent-encoded (%2B is a "+" inside a value).
_PLATFORM_TEXT = re.compile(
    r"(?P<os>[A-Za-z0-9_.+-]+)"
    r"(?:\((?P<os_version>[A-Za-z0-9_.%-]*)(?P<os_features>(?:\+[A-Za-z0-9_.%-]+)*)\))?"
    r"/(?P<arch>[A-Za-z0-9_.+-]+)(?:/(?P<variant>[A-Za-z0-9_.+-]+))?",
    re.ASCII,
)
_PERCENT_ENCODED = re.compile(r"(?:[^%]|%[0-9A-Fa-f]{2})*")
_OPTION_PLAIN = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")
# URLs of foreign layers: absolute URIs (a scheme, as the descriptor schema's "uri"
# format requires) of visible ASCII, so none can smuggle a CR/LF or space.
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[\x21-\x7e]*")
# A descriptor's embedded "data": standard base64 with its padding (RFC 4648 section 4).
_BASE64 = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _normalise_annotations(value: object) -> Annotations:
    """Sorted, duplicate-free ``(str, str)`` pairs from a mapping or pairs."""
    items: Sequence[Any]
    if isinstance(value, Mapping):
        items = list(value.items())
    elif isinstance(value, list | tuple):
        items = value
    else:
        raise InvalidArgument(f"annotations must be a mapping or pairs, not {type(value).__name__}")
    out: dict[str, str] = {}
    for item in items:
        if not (isinstance(item, tuple | list) and len(item) == 2):
            raise InvalidArgument("annotations must be (key, value) pairs")
        key, val = item
        if not isinstance(key, str) or not isinstance(val, str):
            raise InvalidArgument("annotation keys and values must be strings")
        if key in out:
            raise InvalidArgument(f"duplicate annotation {key[:100]!r}")
        out[key] = val
    return tuple(sorted(out.items()))


def _check_words(values: object, what: str, shape: re.Pattern[str]) -> tuple[str, ...]:
    if not isinstance(values, list | tuple):
        raise InvalidPlatform(f"{what} must be a sequence of strings")
    for v in values:
        if not isinstance(v, str) or not shape.fullmatch(v):
            raise InvalidPlatform(f"{what}: invalid value {v!r:.100}")
    return tuple(values)


def _decode_option(text: str, whole: str) -> str:
    """A percent-decoded os.version or os.features value of a platform specifier."""
    if not _PERCENT_ENCODED.fullmatch(text):
        raise InvalidPlatform(f"platform {whole[:200]!r} has a bad %-escape in {text[:100]!r}")
    try:
        return urllib.parse.unquote_to_bytes(text).decode("ascii")
    except UnicodeDecodeError:
        raise InvalidPlatform(f"platform {whole[:200]!r}: {text[:100]!r} is not ASCII") from None


def _encode_option(value: str) -> str:
    # Everything the specifier grammar would not read back verbatim is escaped;
    # for "+", "%", "(", ")" and "/" this is exactly containerd's FormatAll.
    return "".join(c if c in _OPTION_PLAIN else f"%{ord(c):02X}" for c in value)


# --- platform ------------------------------------------------------------------


@dataclass(frozen=True)
class Platform:
    """The platform an image runs on: ``linux/arm64/v8``, ``windows/amd64`` ...

    Stored as given; :func:`ocireg._platform.normalize` maps aliases (``x86_64``,
    ``aarch64`` ...) for matching.
    """

    os: str
    architecture: str
    variant: str | None = None
    os_version: str | None = None
    os_features: tuple[str, ...] = ()
    features: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("os", "architecture"):
            value = getattr(self, name)
            if not isinstance(value, str) or not _PLATFORM_WORD.fullmatch(value):
                raise InvalidPlatform(f"platform {name} {value!r:.100} is invalid")
        for name, shape in (("variant", _PLATFORM_WORD), ("os_version", _PLATFORM_OPTION)):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not shape.fullmatch(value)):
                raise InvalidPlatform(f"platform {name} {value!r:.100} is invalid")
        # Lists are accepted for convenience; stored as tuples so the value hashes.
        object.__setattr__(
            self, "os_features", _check_words(self.os_features, "os_features", _PLATFORM_OPTION)
        )
        object.__setattr__(self, "features", _check_words(self.features, "features", _PLATFORM_WORD))

    @classmethod
    def parse(cls, text: str) -> Platform:
        """Parse containerd's specifier ``os[(os_version[+feature]*)]/arch[/variant]``.

        ``windows(10.0.17763+win32k)/amd64`` has OS version ``10.0.17763`` and the
        feature ``win32k``; a ``+`` inside a value is written ``%2B`` (and ``%`` as
        ``%25``).  Unlike containerd, the architecture is never guessed from the
        machine running this code: it is required.
        """
        if not isinstance(text, str):
            raise InvalidPlatform(f"platform must be a string, got {type(text).__name__}")
        m = _PLATFORM_TEXT.fullmatch(text)
        if m is None:
            raise InvalidPlatform(
                f"platform {text[:200]!r} is not os[(version[+feature]*)]/arch[/variant] "
                "(e.g. linux/arm64/v8)"
            )
        os_version = _decode_option(m["os_version"] or "", text) or None
        raw_features = m["os_features"] or ""
        features = tuple(_decode_option(f, text) for f in raw_features.split("+")[1:])
        return cls(m["os"], m["arch"], m["variant"], os_version, tuple(f for f in features if f))

    def __str__(self) -> str:
        text = f"{self.os}/{self.architecture}"
        return f"{text}/{self.variant}" if self.variant else text

    def describe(self) -> str:
        """Like ``str()``, with OS version and features: ``windows(10.0.20348.2340+win32k)/amd64``.

        containerd's ``FormatAll``: features sorted, values percent-encoded where
        the syntax needs it, so :meth:`parse` reads the text back.
        """
        if self.os_version is None and not self.os_features:
            return str(self)
        options = _encode_option(self.os_version or "")
        options += "".join(f"+{_encode_option(f)}" for f in sorted(set(self.os_features)))
        text = f"{self.os}({options})/{self.architecture}"
        return f"{text}/{self.variant}" if self.variant else text

    @classmethod
    def from_json(cls, obj: object, *, path: str = "platform") -> Platform:
        """From the ``platform`` object of an index entry; raises InvalidManifest."""
        obj = _object(obj, path)
        with _as_manifest_error(path):
            return cls(
                os=_str(obj, "os", path),
                architecture=_str(obj, "architecture", path),
                # Go writes these with omitempty: an empty string means absent.
                variant=_opt_str(obj, "variant", path) or None,
                os_version=_opt_str(obj, "os.version", path) or None,
                os_features=_str_list(obj, "os.features", path),
                features=_str_list(obj, "features", path),
            )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"architecture": self.architecture, "os": self.os}
        if self.os_version is not None:
            out["os.version"] = self.os_version
        if self.os_features:
            out["os.features"] = list(self.os_features)
        if self.variant is not None:
            out["variant"] = self.variant
        if self.features:
            out["features"] = list(self.features)
        return out


# --- descriptor ----------------------------------------------------------------


@dataclass(frozen=True)
class Descriptor:
    """A typed pointer to content: media type, digest and size (and extras)."""

    media_type: str
    digest: Digest
    size: int
    urls: tuple[str, ...] = ()
    annotations: Annotations = ()
    platform: Platform | None = None
    artifact_type: str | None = None

    def __post_init__(self) -> None:
        if not is_valid_media_type(self.media_type):
            raise InvalidArgument(f"invalid media type {self.media_type!r:.200}")
        if not isinstance(self.digest, Digest):
            raise InvalidArgument(f"digest must be a Digest, got {type(self.digest).__name__}")
        if not _is_int(self.size) or not 0 <= self.size <= MAX_SIZE:
            raise InvalidArgument(
                f"size must be an integer from 0 to 2**63-1, got {self.size!r:.50}"
            )
        if not isinstance(self.urls, list | tuple) or not all(
            isinstance(u, str) and _URL.fullmatch(u) for u in self.urls
        ):
            raise InvalidArgument("urls must be absolute URIs of visible ASCII characters")
        object.__setattr__(self, "urls", tuple(self.urls))
        object.__setattr__(self, "annotations", _normalise_annotations(self.annotations))
        if self.platform is not None and not isinstance(self.platform, Platform):
            raise InvalidArgument("platform must be a Platform")
        if self.artifact_type is not None and not is_valid_media_type(self.artifact_type):
            raise InvalidArgument(f"invalid artifact type {self.artifact_type!r:.200}")

    @classmethod
    def of(cls, data: bytes, media_type: str, **extras: Any) -> Descriptor:
        """The descriptor of ``data`` (sha256 digest and length)."""
        return cls(media_type, Digest.of(data), len(data), **extras)

    @classmethod
    def from_json(cls, obj: object, *, path: str = "descriptor") -> Descriptor:
        """From a descriptor object of a manifest or index; raises InvalidManifest."""
        obj = _object(obj, path)
        media_type = _str(obj, "mediaType", path)
        digest_text = _str(obj, "digest", path)
        size = obj.get("size")
        if not _is_int(size):
            raise InvalidManifest(f"{path}.size: expected an integer, got {_kind(size)}")
        data = obj.get("data")
        # ocireg never uses embedded data, but a document carrying garbage there is
        # malformed, and another client may well decode it.
        if data is not None and not (isinstance(data, str) and _BASE64.fullmatch(data)):
            raise InvalidManifest(f"{path}.data: expected base64 text")
        platform_obj = obj.get("platform")
        platform = (
            None
            if platform_obj is None
            else Platform.from_json(platform_obj, path=f"{path}.platform")
        )
        with _as_manifest_error(path):
            return cls(
                media_type=media_type,
                digest=Digest.parse(digest_text),
                size=size,
                urls=_str_list(obj, "urls", path),
                annotations=_annotations_json(obj, path),
                platform=platform,
                artifact_type=_opt_str(obj, "artifactType", path),
            )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": str(self.digest),
            "size": self.size,
        }
        if self.urls:
            out["urls"] = list(self.urls)
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        if self.platform is not None:
            out["platform"] = self.platform.to_json()
        if self.artifact_type is not None:
            out["artifactType"] = self.artifact_type
        return out


# --- documents -------------------------------------------------------------------


def _check_type(media_type: object, allowed: frozenset[str], what: str) -> None:
    if media_type not in allowed:
        raise InvalidArgument(f"{media_type!r:.200} is not a {what} media type")


def _check_descriptors(values: object, what: str) -> tuple[Descriptor, ...]:
    if not isinstance(values, list | tuple) or not all(isinstance(d, Descriptor) for d in values):
        raise InvalidArgument(f"{what} must be a sequence of Descriptor")
    return tuple(values)


def _check_common(doc: Manifest | Index) -> None:
    if not isinstance(doc.raw, bytes):
        raise InvalidArgument("raw must be bytes")
    if doc.subject is not None and not isinstance(doc.subject, Descriptor):
        raise InvalidArgument("subject must be a Descriptor")
    if doc.artifact_type is not None and not is_valid_media_type(doc.artifact_type):
        raise InvalidArgument(f"invalid artifact type {doc.artifact_type!r:.200}")
    object.__setattr__(doc, "annotations", _normalise_annotations(doc.annotations))


@dataclass(frozen=True)
class Manifest:
    """An image manifest (OCI or Docker schema2): a config and layers.

    ``raw`` is the exact document; ``digest`` is its sha256, computed once.
    """

    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]
    raw: bytes = field(repr=False)
    subject: Descriptor | None = None
    artifact_type: str | None = None
    annotations: Annotations = ()
    digest: Digest = field(init=False, compare=False)

    def __post_init__(self) -> None:
        _check_type(self.media_type, _IMAGE_V2_TYPES, "image manifest")
        if not isinstance(self.config, Descriptor):
            raise InvalidArgument("config must be a Descriptor")
        object.__setattr__(self, "layers", _check_descriptors(self.layers, "layers"))
        _check_common(self)
        object.__setattr__(self, "digest", Digest.of(self.raw))

    @property
    def blobs(self) -> tuple[Descriptor, ...]:
        """Config then layers: every blob the manifest needs."""
        return (self.config, *self.layers)

    @property
    def layers_size(self) -> int:
        return sum(d.size for d in self.layers)

    @classmethod
    def build(
        cls,
        config: Descriptor,
        layers: Sequence[Descriptor],
        *,
        media_type: str = OCI_MANIFEST,
        subject: Descriptor | None = None,
        artifact_type: str | None = None,
        annotations: Mapping[str, str] | Annotations | None = None,
    ) -> Manifest:
        """Render a manifest to compact JSON and return it with those bytes."""
        _check_type(media_type, _IMAGE_V2_TYPES, "image manifest")
        annots = _normalise_annotations(annotations or ())
        _refuse_oci_fields(media_type, subject, artifact_type, annots)
        layers = _check_descriptors(layers, "layers")
        if not isinstance(config, Descriptor):
            raise InvalidArgument("config must be a Descriptor")
        doc: dict[str, Any] = {"schemaVersion": 2, "mediaType": media_type}
        if artifact_type is not None:
            doc["artifactType"] = artifact_type
        doc["config"] = config.to_json()
        doc["layers"] = [d.to_json() for d in layers]
        _add_tail(doc, subject, annots)
        return cls(media_type, config, layers, _render(doc), subject, artifact_type, annots)


@dataclass(frozen=True)
class Index:
    """An index (OCI image index or Docker manifest list): manifests, one per platform."""

    media_type: str
    manifests: tuple[Descriptor, ...]
    raw: bytes = field(repr=False)
    subject: Descriptor | None = None
    artifact_type: str | None = None
    annotations: Annotations = ()
    digest: Digest = field(init=False, compare=False)

    def __post_init__(self) -> None:
        _check_type(self.media_type, INDEX_TYPES, "index")
        object.__setattr__(self, "manifests", _check_descriptors(self.manifests, "manifests"))
        _check_common(self)
        object.__setattr__(self, "digest", Digest.of(self.raw))

    @property
    def platforms(self) -> tuple[Platform, ...]:
        """The platforms of the entries that declare one, in order."""
        return tuple(d.platform for d in self.manifests if d.platform is not None)

    @classmethod
    def build(
        cls,
        manifests: Sequence[Descriptor],
        *,
        media_type: str = OCI_INDEX,
        subject: Descriptor | None = None,
        artifact_type: str | None = None,
        annotations: Mapping[str, str] | Annotations | None = None,
    ) -> Index:
        """Render an index to compact JSON and return it with those bytes."""
        _check_type(media_type, INDEX_TYPES, "index")
        annots = _normalise_annotations(annotations or ())
        _refuse_oci_fields(media_type, subject, artifact_type, annots)
        manifests = _check_descriptors(manifests, "manifests")
        doc: dict[str, Any] = {"schemaVersion": 2, "mediaType": media_type}
        if artifact_type is not None:
            doc["artifactType"] = artifact_type
        doc["manifests"] = [d.to_json() for d in manifests]
        _add_tail(doc, subject, annots)
        return cls(media_type, manifests, _render(doc), subject, artifact_type, annots)


@dataclass(frozen=True)
class SchemaV1Manifest:
    """A Docker schema1 manifest, read-only: enough to pull it (``fsLayers``).

    ``fs_layers`` is in the document's order, which is the reverse of layer order
    (top layer first).  ``digest`` is what registries report for it: for a signed
    (``prettyjws``) document that is the sha256 of the signed payload, i.e. ``raw``
    without its ``signatures``, rebuilt from ``formatLength`` and ``formatTail``
    as libtrust does; for an unsigned one, the sha256 of ``raw``.  A registry's
    ``Docker-Content-Digest`` remains the authority if they ever disagree.
    """

    media_type: str
    name: str
    tag: str
    fs_layers: tuple[Digest, ...]
    raw: bytes = field(repr=False)
    architecture: str = ""
    digest: Digest = field(init=False, compare=False)

    def __post_init__(self) -> None:
        _check_type(self.media_type, SCHEMA1_TYPES, "schema1 manifest")
        for name in ("name", "tag", "architecture"):
            if not isinstance(getattr(self, name), str):
                raise InvalidArgument(f"{name} must be a string")
        if not isinstance(self.fs_layers, list | tuple) or not all(
            isinstance(d, Digest) for d in self.fs_layers
        ):
            raise InvalidArgument("fs_layers must be a sequence of Digest")
        object.__setattr__(self, "fs_layers", tuple(self.fs_layers))
        if not isinstance(self.raw, bytes):
            raise InvalidArgument("raw must be bytes")
        object.__setattr__(self, "digest", Digest.of(_schema1_payload(self.raw)))


Document = Manifest | Index | SchemaV1Manifest

_IMAGE_V2_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST_V2})


def _refuse_oci_fields(
    media_type: str, subject: Descriptor | None, artifact_type: str | None, annots: Annotations
) -> None:
    # Docker's schema2 formats have no such fields; a Docker client would drop them.
    if media_type in (DOCKER_MANIFEST_V2, DOCKER_MANIFEST_LIST) and (
        subject is not None or artifact_type is not None or annots
    ):
        raise InvalidArgument(
            f"{media_type} has no subject, artifactType or annotations: use the OCI type"
        )


def _add_tail(doc: dict[str, Any], subject: Descriptor | None, annots: Annotations) -> None:
    if subject is not None:
        if not isinstance(subject, Descriptor):
            raise InvalidArgument("subject must be a Descriptor")
        doc["subject"] = subject.to_json()
    if annots:
        doc["annotations"] = dict(annots)


def _render(doc: dict[str, Any]) -> bytes:
    # Compact and ASCII-only: the same value always renders to the same bytes, and
    # any string (even one holding a lone surrogate) can be encoded.
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=True).encode("ascii")


# --- parsing -------------------------------------------------------------------


def parse_manifest(
    raw: bytes, media_type: str | None = None, *, limit: int = MANIFEST_LIMIT
) -> Document:
    """Parse a manifest or index served with Content-Type ``media_type``.

    With no Content-Type, or a generic one (``application/json``,
    ``application/octet-stream``), the document's ``mediaType`` decides, then its
    shape.  Everything wrong raises :class:`~ocireg.InvalidManifest`.
    """
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise InvalidManifest(f"manifest must be bytes, got {type(raw).__name__}")
    if len(raw) > limit:  # before copying or decoding anything
        raise InvalidManifest(f"manifest: {len(raw)} bytes is over the {limit}-byte limit")
    raw = bytes(raw)
    obj = parse_json_object(raw, limit=limit, what="manifest", error=InvalidManifest)

    if "manifests" in obj and ("config" in obj or "layers" in obj):
        raise InvalidManifest(
            "manifest: has both 'manifests' and 'config'/'layers', so it is ambiguous"
        )
    declared = base_media_type(media_type)
    if declared in GENERIC_TYPES:
        declared = None
    inner = obj.get("mediaType")
    if inner is not None and not isinstance(inner, str):
        raise InvalidManifest(f"manifest.mediaType: expected a string, got {_kind(inner)}")
    if declared is not None:
        if inner is not None and inner != declared:
            raise InvalidManifest(
                f"manifest: mediaType {inner!r:.200} contradicts Content-Type {declared!r:.200}"
            )
        kind = declared
    elif inner is not None:
        kind = inner
    else:
        kind = _kind_from_shape(obj)
    if kind in INDEX_TYPES:
        return _parse_index(obj, raw, kind)
    if kind in _IMAGE_V2_TYPES:
        return _parse_image(obj, raw, kind)
    if kind in SCHEMA1_TYPES:
        return _parse_schema1(obj, raw, kind)
    raise InvalidManifest(f"manifest: unknown media type {kind!r:.200}")


def _kind_from_shape(obj: dict[str, Any]) -> str:
    version = obj.get("schemaVersion")
    if version == 1 and _is_int(version):
        return DOCKER_MANIFEST_V1_SIGNED if "signatures" in obj else DOCKER_MANIFEST_V1
    # Docker schema2 documents always carry mediaType, so a bare v2 shape is OCI.
    if "manifests" in obj:
        return OCI_INDEX
    if "config" in obj or "layers" in obj:
        return OCI_MANIFEST
    raise InvalidManifest("manifest: no media type, and the shape is neither manifest nor index")


def _schema_version(obj: dict[str, Any], want: int) -> None:
    version = obj.get("schemaVersion")
    if not _is_int(version) or version != want:
        raise InvalidManifest(f"manifest.schemaVersion: expected {want}, got {version!r:.50}")


def _parse_image(obj: dict[str, Any], raw: bytes, kind: str) -> Manifest:
    _schema_version(obj, 2)
    if "config" not in obj:
        raise InvalidManifest("manifest.config: missing")
    config = Descriptor.from_json(obj["config"], path="manifest.config")
    layers = _descriptor_list(obj, "layers", required=True)
    subject = _opt_descriptor(obj, "subject")
    with _as_manifest_error("manifest"):
        return Manifest(
            kind,
            config,
            layers,
            raw,
            subject=subject,
            artifact_type=_opt_str(obj, "artifactType", "manifest"),
            annotations=_annotations_json(obj, "manifest"),
        )


def _parse_index(obj: dict[str, Any], raw: bytes, kind: str) -> Index:
    _schema_version(obj, 2)
    manifests = _descriptor_list(obj, "manifests", required=True)
    subject = _opt_descriptor(obj, "subject")
    with _as_manifest_error("manifest"):
        return Index(
            kind,
            manifests,
            raw,
            subject=subject,
            artifact_type=_opt_str(obj, "artifactType", "manifest"),
            annotations=_annotations_json(obj, "manifest"),
        )


def _parse_schema1(obj: dict[str, Any], raw: bytes, kind: str) -> SchemaV1Manifest:
    _schema_version(obj, 1)
    fs_layers = obj.get("fsLayers")
    if not isinstance(fs_layers, list):
        raise InvalidManifest(f"manifest.fsLayers: expected a list, got {_kind(fs_layers)}")
    digests = []
    for i, entry in enumerate(fs_layers):
        path = f"manifest.fsLayers[{i}]"
        blob_sum = _str(_object(entry, path), "blobSum", path)
        with _as_manifest_error(f"{path}.blobSum"):
            digests.append(Digest.parse(blob_sum))
    with _as_manifest_error("manifest"):
        return SchemaV1Manifest(
            kind,
            name=_str(obj, "name", "manifest"),
            tag=_str(obj, "tag", "manifest"),
            fs_layers=tuple(digests),
            raw=raw,
            architecture=_opt_str(obj, "architecture", "manifest") or "",
        )


_PROTECTED_LIMIT = 64 * 1024


def _b64url(text: str, what: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise InvalidManifest(f"{what}: not base64url") from None


def _schema1_payload(raw: bytes) -> bytes:
    """The bytes a signed schema1 manifest's digest covers (libtrust's JWS payload).

    Each signature's protected header says how many leading bytes of ``raw`` are
    the payload (``formatLength``) and what closes it (``formatTail``).  Without
    signatures the payload is ``raw`` itself.
    """
    obj = parse_json_object(raw, limit=len(raw), what="manifest", error=InvalidManifest)
    signatures = obj.get("signatures")
    if signatures is None:
        return raw
    if not isinstance(signatures, list) or not signatures:
        raise InvalidManifest("manifest.signatures: expected a non-empty list")
    formats = set()
    for i, sig in enumerate(signatures):
        path = f"manifest.signatures[{i}]"
        protected_text = _str(_object(sig, path), "protected", path)
        if len(protected_text) > _PROTECTED_LIMIT:
            raise InvalidManifest(f"{path}.protected: too long")
        protected = parse_json_object(
            _b64url(protected_text, f"{path}.protected"),
            limit=_PROTECTED_LIMIT,
            what=f"{path}.protected",
            error=InvalidManifest,
        )
        length = protected.get("formatLength")
        tail = protected.get("formatTail")
        if not _is_int(length) or not 0 <= length <= len(raw) or not isinstance(tail, str):
            raise InvalidManifest(f"{path}.protected: bad formatLength or formatTail")
        formats.add((length, tail))
    if len(formats) != 1:
        raise InvalidManifest("manifest.signatures: signatures disagree on the payload")
    ((length, tail),) = formats
    return raw[:length] + _b64url(tail, "manifest.signatures formatTail")


# --- JSON field access, errors naming the field ----------------------------------


@contextmanager
def _as_manifest_error(path: str) -> Iterator[None]:
    """Value errors of a network document are the registry's fault: InvalidManifest."""
    try:
        yield
    except (InvalidArgument, InvalidDigest, InvalidPlatform) as exc:
        raise InvalidManifest(f"{path}: {exc}") from None


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _object(value: object, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidManifest(f"{path}: expected an object, got {_kind(value)}")
    return value


def _str(obj: dict[str, Any], key: str, path: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        raise InvalidManifest(f"{path}.{key}: expected a string, got {_kind(value)}")
    return value


def _opt_str(obj: dict[str, Any], key: str, path: str) -> str | None:
    value = obj.get(key)
    if value is None:  # absent, or null as Go writes a nil field
        return None
    if not isinstance(value, str):
        raise InvalidManifest(f"{path}.{key}: expected a string, got {_kind(value)}")
    return value


def _str_list(obj: dict[str, Any], key: str, path: str) -> tuple[str, ...]:
    value = obj.get(key)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidManifest(f"{path}.{key}: expected a list of strings")
    return tuple(value)


def _annotations_json(obj: dict[str, Any], path: str) -> Annotations:
    value = obj.get("annotations")
    if value is None:
        return ()
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise InvalidManifest(f"{path}.annotations: expected an object of strings")
    return tuple(sorted(value.items()))


def _descriptor_list(obj: dict[str, Any], key: str, *, required: bool) -> tuple[Descriptor, ...]:
    value = obj.get(key)
    if value is None and not required:
        return ()
    if not isinstance(value, list):
        raise InvalidManifest(f"manifest.{key}: expected a list, got {_kind(value)}")
    return tuple(
        Descriptor.from_json(item, path=f"manifest.{key}[{i}]") for i, item in enumerate(value)
    )


def _opt_descriptor(obj: dict[str, Any], key: str) -> Descriptor | None:
    value = obj.get(key)
    return None if value is None else Descriptor.from_json(value, path=f"manifest.{key}")
