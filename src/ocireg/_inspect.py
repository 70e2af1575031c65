"""The inspect view of an image: what it shows, and the flow that fetches it.

``ocireg inspect`` shows what ``skopeo inspect`` shows, with the same JSON field
names where they mean the same (``Name``, ``Digest``, ``RepoTags``, ``Created``,
``DockerVersion``, ``Labels``, ``Architecture``, ``Os``, ``Variant``, ``Layers``,
``LayersData``, ``Env``), and adds ``MediaType``, ``Entrypoint`` and ``Cmd``.
As in skopeo, ``Digest`` is the digest of what the reference names (an index,
when a platform was picked from one); ``ManifestDigest`` is the image
manifest's.  For an index without a platform the view lists its ``Manifests``
with their platforms and digests.

:func:`inspect` and :func:`image_config` are flows (see :mod:`ocireg._flow`);
the views are pure functions of the documents.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from . import _endpoints as ep
from . import _image as ops
from ._digest import Digest
from ._errors import InvalidResponse, UsageError
from ._files import MemorySink
from ._flow import Flow
from ._manifest import Index, Manifest, Platform
from ._progress import size_text
from ._session import Session
from ._strictjson import parse_json_object
from ._transfer import parse_platform_arg

__all__ = ["ImageConfig", "image_config", "image_view", "index_view", "inspect", "render_view"]


def _strings(value: object) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidResponse("image config: expected a list of strings")
    return tuple(value)


def _text(value: object, what: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidResponse(f"image config: {what} is not a string")
    return value


@dataclass(frozen=True)
class ImageConfig:
    """What the inspect view and validation read from an image config JSON."""

    architecture: str = ""
    os: str = ""
    variant: str = ""
    created: str = ""
    author: str = ""
    docker_version: str = ""
    env: tuple[str, ...] | None = None
    entrypoint: tuple[str, ...] | None = None
    cmd: tuple[str, ...] | None = None
    labels: tuple[tuple[str, str], ...] | None = None
    diff_ids: tuple[Digest, ...] | None = None
    """``rootfs.diff_ids``; None when the config has no ``rootfs`` (not an image)."""

    @classmethod
    def parse(cls, data: bytes, *, limit: int) -> ImageConfig:
        """Parse the config blob; malformed JSON or fields raise :class:`InvalidResponse`."""
        doc = parse_json_object(data, limit=limit, what="image config", error=InvalidResponse)
        run = doc.get("config") or {}
        if not isinstance(run, dict):
            raise InvalidResponse("image config: config is not an object")
        labels = run.get("Labels")
        if labels is not None and (not isinstance(labels, dict)
                                   or not all(isinstance(v, str) for v in labels.values())):
            raise InvalidResponse("image config: Labels is not an object of strings")
        rootfs = doc.get("rootfs")
        diff_ids = None
        if rootfs is not None:
            if not isinstance(rootfs, dict):
                raise InvalidResponse("image config: rootfs is not an object")
            try:
                diff_ids = tuple(Digest.parse(d) for d in _strings(rootfs.get("diff_ids")) or ())
            except ValueError as exc:
                raise InvalidResponse(f"image config: rootfs.diff_ids: {exc}") from None
        return cls(
            architecture=_text(doc.get("architecture"), "architecture"),
            os=_text(doc.get("os"), "os"),
            variant=_text(doc.get("variant"), "variant"),
            created=_text(doc.get("created"), "created"),
            author=_text(doc.get("author"), "author"),
            docker_version=_text(doc.get("docker_version"), "docker_version"),
            env=_strings(run.get("Env")),
            entrypoint=_strings(run.get("Entrypoint")),
            cmd=_strings(run.get("Cmd")),
            labels=tuple(sorted(labels.items())) if labels else None,
            diff_ids=diff_ids,
        )


def image_config(session: Session, repo: str, manifest: Manifest) -> Flow[ImageConfig]:
    """The image's config blob, fetched into memory (capped at the manifest limit), verified, parsed."""
    limit = session.limits.manifest
    blob = manifest.config
    data = yield from ops.blob_into(session, repo, blob.digest, MemorySink(limit, what=f"{repo}@{blob.digest}"),
                                    blob.size)
    return ImageConfig.parse(data, limit=limit)


def inspect(session: Session, repo: str, reference: str | Digest, *, platform: str | Platform | None = None,
            tags: bool = True, name: str | None = None) -> Flow[dict[str, Any]]:
    """skopeo's inspect view of ``repo:reference``; an index lists its platforms unless
    ``platform`` picks one.  ``tags`` lists the repository's tags (one more request)."""
    top = yield from ops.manifest(session, repo, reference)  # the index is fetched once
    result = top
    wanted = parse_platform_arg(platform)
    if wanted is not None and isinstance(top.document, Index):
        result = yield from ops.manifest(session, repo, ep.resolve_platform(top, wanted))
    listed = sorted((yield from ops.tags(session, repo, auto_paginate=True)).items) if tags else None
    shown = name or f"{session.host}/{repo}"
    if isinstance(result.document, Index):
        return index_view(shown, top.digest, result.document, listed)
    if not isinstance(result.document, Manifest):
        raise UsageError(f"{repo}: a {result.media_type} has no config to inspect")
    config = yield from image_config(session, repo, result.document)
    return image_view(shown, top.digest, result.document, config, listed)


def image_view(
    name: str,
    digest: Digest,
    manifest: Manifest,
    config: ImageConfig,
    tags: Sequence[str] | None,
) -> dict[str, Any]:
    """The view of an image manifest; ``digest`` is what the reference named (maybe an index)."""
    view: dict[str, Any] = {
        "Name": name,
        "Digest": str(digest),
        "RepoTags": list(tags) if tags is not None else [],
        "Created": config.created or None,
        "DockerVersion": config.docker_version,
        "Labels": dict(config.labels) if config.labels else None,
        "Architecture": config.architecture,
        "Os": config.os,
    }
    if config.variant:
        view["Variant"] = config.variant
    view["Layers"] = [str(layer.digest) for layer in manifest.layers]
    view["LayersData"] = [
        {"MIMEType": layer.media_type, "Digest": str(layer.digest), "Size": layer.size,
         "Annotations": dict(layer.annotations) if layer.annotations else None}
        for layer in manifest.layers
    ]
    view["Env"] = list(config.env) if config.env is not None else None
    view["MediaType"] = manifest.media_type
    view["ManifestDigest"] = str(manifest.digest)
    view["Entrypoint"] = list(config.entrypoint) if config.entrypoint is not None else None
    view["Cmd"] = list(config.cmd) if config.cmd is not None else None
    if config.author:
        view["Author"] = config.author
    return view


def index_view(name: str, digest: Digest, index: Index, tags: Sequence[str] | None) -> dict[str, Any]:
    """The view of an index: its children with their platforms and digests."""
    return {
        "Name": name,
        "Digest": str(digest),
        "RepoTags": list(tags) if tags is not None else [],
        "MediaType": index.media_type,
        "Manifests": [
            {"Digest": str(child.digest), "MediaType": child.media_type, "Size": child.size,
             "Platform": child.platform.describe() if child.platform else None,
             **({"ArtifactType": child.artifact_type} if child.artifact_type else {})}
            for child in index.manifests
        ],
    }


def _words(values: Sequence[str] | None) -> str:
    return " ".join(values) if values else "-"


def render_view(view: dict[str, Any]) -> str:
    """A readable summary of a view, for a terminal."""
    rows: list[tuple[str, str]] = [("Name", view["Name"]), ("Digest", view["Digest"])]
    if view.get("ManifestDigest") not in (None, view["Digest"]):
        rows.append(("Manifest", view["ManifestDigest"]))
    rows.append(("Media type", view["MediaType"]))
    if view["RepoTags"]:
        rows.append(("Tags", ", ".join(view["RepoTags"])))
    lines = [f"{label + ':':<12}{value}" for label, value in rows]
    if "Manifests" in view:
        lines.append(f"Platforms:  {len(view['Manifests'])}")
        lines += [f"  {m['Platform'] or '-':<24} {m['Digest']}" for m in view["Manifests"]]
        return "\n".join(lines) + "\n"
    platform = "/".join(p for p in (view["Os"], view["Architecture"], view.get("Variant")) if p)
    rows = [("Created", view["Created"] or "-"), ("Platform", platform or "-"),
            ("Entrypoint", _words(view["Entrypoint"])), ("Cmd", _words(view["Cmd"]))]
    lines += [f"{label + ':':<12}{value}" for label, value in rows]
    lines.append("Env:" + ("" if view["Env"] else "        -"))
    lines += [f"  {entry}" for entry in view["Env"] or ()]
    labels = view["Labels"] or {}
    lines.append("Labels:" + ("" if labels else "     -"))
    lines += [f"  {key}={value}" for key, value in labels.items()]
    total = sum(layer["Size"] for layer in view["LayersData"])
    lines.append(f"Layers:     {len(view['LayersData'])} ({size_text(total)})")
    lines += [f"  {layer['Digest']}  {size_text(layer['Size']):>10}  {layer['MIMEType']}"
              for layer in view["LayersData"]]
    return "\n".join(lines) + "\n"
