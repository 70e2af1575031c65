"""Test content for registries: layers, configs, manifests and indexes as raw bytes.

Pure data, no network, except ``push_raw`` at the bottom, a test utility that
seeds a registry with ``http.client`` only (no ocireg code), so that tests of
the real client read content it did not write itself.

Digests are computed here with hashlib directly, independently of ocireg's own
manifest code, so the two can check each other.
"""

from __future__ import annotations

import base64
import contextvars
import gzip
import hashlib
import http.client
import io
import json
import os
import random
import re
import ssl
import tarfile
import urllib.parse
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

# Media types, spelled out once.
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"

MANIFEST_MEDIA_TYPES = (DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_MANIFEST, OCI_INDEX)
# An Accept header that lets distribution return any of them unconverted.
ACCEPT_ALL_MANIFESTS = ", ".join(MANIFEST_MEDIA_TYPES)

_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
# A fixed creation time: identical inputs give identical digests.
_CREATED = "2024-01-02T03:04:05Z"


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Blob:
    """A blob with its digest and the media type it is referenced with."""

    data: bytes
    digest: str
    media_type: str

    def __post_init__(self) -> None:
        if not _DIGEST.fullmatch(self.digest):
            raise ValueError(f"not a sha256 digest: {self.digest!r}")
        if sha256_digest(self.data) != self.digest:
            raise ValueError("digest does not match data")

    @classmethod
    def of(cls, data: bytes, media_type: str) -> Blob:
        return cls(data, sha256_digest(data), media_type)

    @property
    def size(self) -> int:
        return len(self.data)

    def descriptor(self, **extra: Any) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size, **extra}


@dataclass(frozen=True)
class ImageContent:
    """A manifest (or index) and everything it references.

    ``blobs`` are the config and layers (for an index: none); ``children`` are
    the manifests an index lists, each with its own blobs; ``platform`` is the
    platform an index entry names for this manifest, when it has one.
    """

    manifest: bytes
    media_type: str
    digest: str
    blobs: tuple[Blob, ...] = ()
    children: tuple[ImageContent, ...] = ()
    platform: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if sha256_digest(self.manifest) != self.digest:
            raise ValueError("digest does not match manifest")
        if self.media_type not in MANIFEST_MEDIA_TYPES:
            raise ValueError(f"not a manifest media type: {self.media_type!r}")
        document = json.loads(self.manifest)
        if document.get("mediaType", self.media_type) != self.media_type:
            raise ValueError("mediaType inside the manifest disagrees")

    @classmethod
    def of(
        cls,
        document: dict[str, Any],
        media_type: str,
        blobs: Iterable[Blob] = (),
        children: Iterable[ImageContent] = (),
        *,
        indent: int | None = None,
    ) -> ImageContent:
        # Docker writes schema2 manifests with a 3-space indent; OCI tools
        # write compact JSON. Either way the bytes, not the JSON, are signed
        # by the digest, so tests must get back exactly these bytes.
        if indent is None:
            data = json.dumps(document, separators=(",", ":")).encode()
        else:
            data = json.dumps(document, indent=indent).encode()
        return cls(data, media_type, sha256_digest(data), tuple(blobs), tuple(children))

    @property
    def size(self) -> int:
        return len(self.manifest)

    def descriptor(self, **extra: Any) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size, **extra}

    def with_platform(self, platform: dict[str, Any]) -> ImageContent:
        return ImageContent(
            self.manifest, self.media_type, self.digest, self.blobs, self.children, platform
        )

    def all_blobs(self) -> tuple[Blob, ...]:
        """Every blob of this manifest and its children, without duplicates."""
        seen: dict[str, Blob] = {}
        for blob in self.blobs:
            seen.setdefault(blob.digest, blob)
        for child in self.children:
            for blob in child.all_blobs():
                seen.setdefault(blob.digest, blob)
        return tuple(seen.values())

    def parsed(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.manifest)
        return result


def _random_bytes(size: int, rng: random.Random | None) -> bytes:
    return os.urandom(size) if rng is None else rng.randbytes(size)


def random_layer(
    size: int,
    *,
    rng: random.Random | None = None,
    media_type: str = OCI_LAYER,
) -> Blob:
    """``size`` random bytes labelled as a layer (registries never look inside)."""
    return Blob.of(_random_bytes(size, rng), media_type)


def targz_layer(
    size: int,
    *,
    rng: random.Random | None = None,
    media_type: str = OCI_LAYER_GZIP,
    filename: str = "data.bin",
) -> Blob:
    """A real gzip'd tar holding one file of ``size`` random bytes.

    Deterministic for a seeded ``rng`` (tar and gzip mtimes are zero).
    """
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(filename)
        info.size = size
        info.mtime = 0
        info.mode = 0o644
        tar.addfile(info, io.BytesIO(_random_bytes(size, rng)))
    return Blob.of(gzip.compress(raw.getvalue(), compresslevel=1, mtime=0), media_type)


def diff_id(layer: Blob) -> str:
    """The uncompressed digest a config's ``rootfs.diff_ids`` lists."""
    if not (layer.media_type.endswith("gzip")):
        return layer.digest
    hasher = hashlib.sha256()
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    view = memoryview(layer.data)
    for start in range(0, len(view), 1 << 20):
        hasher.update(decompressor.decompress(view[start : start + (1 << 20)]))
    hasher.update(decompressor.flush())
    return "sha256:" + hasher.hexdigest()


def config_blob(
    layers: Sequence[Blob],
    *,
    architecture: str = "amd64",
    os_name: str = "linux",
    variant: str | None = None,
    os_version: str | None = None,
    media_type: str = OCI_CONFIG,
) -> Blob:
    """An image configuration JSON, shaped like what docker and buildkit write."""
    document: dict[str, Any] = {
        "architecture": architecture,
        "os": os_name,
        "created": _CREATED,
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["/bin/sh"],
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id(layer) for layer in layers]},
        "history": [{"created": _CREATED, "created_by": "ocireg test layer"} for _ in layers],
    }
    if variant is not None:
        document["variant"] = variant
    if os_version is not None:
        document["os.version"] = os_version
    return Blob.of(json.dumps(document, separators=(",", ":")).encode(), media_type)


def _layers(
    layer_sizes: Sequence[int], rng: random.Random | None, media_type: str, gzipped: bool
) -> list[Blob]:
    if gzipped:
        return [targz_layer(size, rng=rng, media_type=media_type) for size in layer_sizes]
    return [random_layer(size, rng=rng, media_type=media_type) for size in layer_sizes]


def docker_image(
    layer_sizes: Sequence[int] = (1024, 2048),
    *,
    rng: random.Random | None = None,
    gzipped: bool = True,
    platform: dict[str, Any] | None = None,
) -> ImageContent:
    """A Docker schema2 image (manifest, config, layers)."""
    platform = platform or {"architecture": "amd64", "os": "linux"}
    layers = _layers(layer_sizes, rng, DOCKER_LAYER, gzipped)
    config = config_blob(
        layers,
        architecture=platform["architecture"],
        os_name=platform["os"],
        variant=platform.get("variant"),
        os_version=platform.get("os.version"),
        media_type=DOCKER_CONFIG,
    )
    document = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": config.descriptor(),
        "layers": [layer.descriptor() for layer in layers],
    }
    return ImageContent.of(document, DOCKER_MANIFEST, [config, *layers], indent=3)


def oci_image(
    layer_sizes: Sequence[int] = (1024, 2048),
    *,
    rng: random.Random | None = None,
    gzipped: bool = True,
    platform: dict[str, Any] | None = None,
    subject: ImageContent | None = None,
    artifact_type: str | None = None,
    annotations: dict[str, str] | None = None,
) -> ImageContent:
    """An OCI image manifest; with ``subject`` it is a referrer of that manifest."""
    platform = platform or {"architecture": "amd64", "os": "linux"}
    layers = _layers(layer_sizes, rng, OCI_LAYER_GZIP if gzipped else OCI_LAYER, gzipped)
    config = config_blob(
        layers,
        architecture=platform["architecture"],
        os_name=platform["os"],
        variant=platform.get("variant"),
        os_version=platform.get("os.version"),
    )
    document: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config.descriptor(),
        "layers": [layer.descriptor() for layer in layers],
    }
    if artifact_type is not None:
        document["artifactType"] = artifact_type
    if subject is not None:
        document["subject"] = subject.descriptor()
    if annotations:
        document["annotations"] = dict(annotations)
    return ImageContent.of(document, OCI_MANIFEST, [config, *layers])


# The platforms of the multi-arch test images, in index order.
PLATFORMS: tuple[dict[str, Any], ...] = (
    {"architecture": "amd64", "os": "linux"},
    {"architecture": "arm64", "os": "linux", "variant": "v8"},
    {"architecture": "arm", "os": "linux", "variant": "v7"},
    {"architecture": "amd64", "os": "windows", "os.version": "10.0.17763.1234"},
)


def oci_index(
    layer_sizes: Sequence[int] = (512,),
    *,
    rng: random.Random | None = None,
    platforms: Sequence[dict[str, Any]] = PLATFORMS,
    annotations: dict[str, str] | None = None,
) -> ImageContent:
    """An OCI image index over one OCI image per platform."""
    children = [
        oci_image(layer_sizes, rng=rng, platform=p).with_platform(dict(p)) for p in platforms
    ]
    document: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [c.descriptor(platform=c.platform) for c in children],
    }
    if annotations:
        document["annotations"] = dict(annotations)
    return ImageContent.of(document, OCI_INDEX, (), children)


def docker_manifest_list(
    layer_sizes: Sequence[int] = (512,),
    *,
    rng: random.Random | None = None,
    platforms: Sequence[dict[str, Any]] = PLATFORMS,
) -> ImageContent:
    """A Docker manifest list over one schema2 image per platform."""
    children = [
        docker_image(layer_sizes, rng=rng, platform=p).with_platform(dict(p)) for p in platforms
    ]
    document = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST_LIST,
        "manifests": [c.descriptor(platform=c.platform) for c in children],
    }
    return ImageContent.of(document, DOCKER_MANIFEST_LIST, (), children, indent=3)


# ---------------------------------------------------------------------------
# push_raw: a test utility that seeds a registry. Not the client under test.
# ---------------------------------------------------------------------------

_USER_AGENT = "ocireg-test-push-raw"
_AUTH_PARAM = re.compile(r'([A-Za-z_]+)="([^"]*)"')


class PushError(RuntimeError):
    """push_raw got an answer it did not expect."""


# The CA push_raw trusts for an https registry (the tests' own, see tlsbed.py).
_CA_FILE: contextvars.ContextVar[str | None] = contextvars.ContextVar("push_raw_ca", default=None)


def _send(
    method: str,
    url: str,
    *,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, list[tuple[str, str]], bytes]:
    parts = urllib.parse.urlsplit(url)
    ca_file = _CA_FILE.get()
    scheme = "https" if ca_file else "http"
    if parts.scheme != scheme or parts.hostname not in ("127.0.0.1", "localhost"):
        raise PushError(f"push_raw only talks to loopback over {scheme}, not {url!r}")
    conn: http.client.HTTPConnection
    if ca_file:
        context = ssl.create_default_context(cafile=ca_file)
        conn = http.client.HTTPSConnection(parts.netloc, timeout=60, context=context)
    else:
        conn = http.client.HTTPConnection(parts.netloc, timeout=60)
    try:
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        all_headers = {"User-Agent": _USER_AGENT, **(headers or {})}
        if body is not None:
            all_headers.setdefault("Content-Length", str(len(body)))
        elif method in ("POST", "PUT"):
            all_headers.setdefault("Content-Length", "0")
        conn.request(method, target, body=body, headers=all_headers)
        response = conn.getresponse()
        data = response.read()
        return response.status, response.getheaders(), data
    finally:
        conn.close()


def _header(headers: list[tuple[str, str]], name: str) -> str | None:
    for key, value in headers:
        if key.lower() == name.lower():
            return value
    return None


def _basic(auth: tuple[str, str]) -> str:
    return "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode("ascii")


def _authorization(base_url: str, repo: str, auth: tuple[str, str] | None) -> dict[str, str]:
    """The Authorization header for a push, found from the /v2/ challenge."""
    status, headers, _ = _send("GET", f"{base_url}/v2/")
    if status == 200:
        return {}
    challenge = _header(headers, "WWW-Authenticate") or ""
    if status != 401:
        raise PushError(f"GET /v2/ answered {status}")
    scheme = challenge.split(" ", 1)[0].lower()
    if scheme == "basic":
        if auth is None:
            raise PushError("registry wants Basic credentials")
        return {"Authorization": _basic(auth)}
    if scheme != "bearer":
        raise PushError(f"unknown challenge {challenge!r}")
    params = dict(_AUTH_PARAM.findall(challenge))
    query = urllib.parse.urlencode(
        {"service": params.get("service", ""), "scope": f"repository:{repo}:pull,push"}
    )
    token_status, _, body = _send(
        "GET",
        f"{params['realm']}?{query}",
        headers={"Authorization": _basic(auth)} if auth else {},
    )
    if token_status != 200:
        raise PushError(f"token server answered {token_status}")
    document = json.loads(body)
    return {"Authorization": "Bearer " + (document.get("token") or document["access_token"])}


def _push_blob(base_url: str, repo: str, blob: Blob, auth_header: dict[str, str]) -> None:
    status, headers, body = _send(
        "POST", f"{base_url}/v2/{repo}/blobs/uploads/", headers=auth_header
    )
    location = _header(headers, "Location")
    if status != 202 or location is None:
        raise PushError(f"upload POST answered {status}: {body[:200]!r}")
    url = urllib.parse.urljoin(base_url + "/", location)
    url += ("&" if "?" in url else "?") + urllib.parse.urlencode({"digest": blob.digest})
    status, _, body = _send(
        "PUT",
        url,
        body=blob.data,
        headers={**auth_header, "Content-Type": "application/octet-stream"},
    )
    if status != 201:
        raise PushError(f"upload PUT answered {status}: {body[:200]!r}")


def _push_manifest(
    base_url: str, repo: str, content: ImageContent, reference: str, auth_header: dict[str, str]
) -> str:
    for child in content.children:
        _push_manifest(base_url, repo, child, child.digest, auth_header)
    for blob in content.blobs:
        _push_blob(base_url, repo, blob, auth_header)
    status, headers, body = _send(
        "PUT",
        f"{base_url}/v2/{repo}/manifests/{reference}",
        body=content.manifest,
        headers={**auth_header, "Content-Type": content.media_type},
    )
    if status != 201:
        raise PushError(f"manifest PUT answered {status}: {body[:300]!r}")
    digest = _header(headers, "Docker-Content-Digest")
    if digest != content.digest:
        raise PushError(f"registry says {digest!r}, expected {content.digest}")
    return digest


def push_raw(
    base_url: str,
    repo: str,
    content: ImageContent,
    *,
    tag: str | None = None,
    auth: tuple[str, str] | None = None,
    ca_file: str | None = None,
) -> str:
    """Push ``content`` (children and blobs first) with http.client only.

    Monolithic uploads (POST, then PUT ?digest=), then the manifest under
    ``tag`` (or its digest). Works with no auth, Basic auth and token auth:
    for a Bearer challenge it fetches one pull,push token for ``repo`` from
    the realm with ``auth`` as Basic credentials. Returns the manifest digest.
    An https registry is reached with ``ca_file`` as its only trusted CA.
    """
    base_url = base_url.rstrip("/")
    token = _CA_FILE.set(ca_file)
    try:
        auth_header = _authorization(base_url, repo, auth)
        return _push_manifest(base_url, repo, content, tag or content.digest, auth_header)
    finally:
        _CA_FILE.reset(token)
