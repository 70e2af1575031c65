"""Check an image whole, as ``crane validate`` does: every byte fetched and verified.

For each image manifest (every child of an index, or those picked by platform):
the config and each layer are streamed and checked against their digest and
size; each layer is decompressed as it streams (:class:`~ocireg._unpack.DiffIdSink`)
and its uncompressed digest compared with the config's ``rootfs.diff_ids``,
whose count must match the layers'.  A problem is recorded and the check goes
on, so one run reports everything wrong; nothing is stored.  It is a flow: the
blobs of an image are fetched at once (up to the driver's ``jobs``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from . import _image as ops
from ._digest import Digest
from ._endpoints import ManifestResult
from ._errors import RemoteError
from ._files import MemorySink
from ._flow import Flow, parallel
from ._inspect import ImageConfig
from ._manifest import Descriptor, Index, Manifest, Platform
from ._session import Session
from ._transfer import platform_children
from ._unpack import DiffIdSink

__all__ = ["ImageReport", "ValidationReport", "validate"]


@dataclass
class ImageReport:
    """The verdict on one image manifest."""

    digest: Digest
    platform: str | None
    layers: int = 0
    size: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class ValidationReport:
    """Every image checked, and the problems found (none: the image is sound)."""

    digest: Digest
    images: list[ImageReport] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    """Problems above the images (an index child that could not be fetched)."""

    @property
    def ok(self) -> bool:
        return not self.problems and all(image.ok for image in self.images)

    @property
    def problem_count(self) -> int:
        return len(self.problems) + sum(len(image.problems) for image in self.images)


def _config(session: Session, repo: str, blob: Descriptor, limit: int) -> Flow[ImageConfig | str]:
    """The image config, or the problem that kept it from being read."""
    if blob.size > limit:
        return f"config {blob.digest}: larger than {limit} bytes"
    try:
        data = yield from ops.blob_into(session, repo, blob.digest, MemorySink(limit, what="config"), blob.size)
        return ImageConfig.parse(data, limit=limit)
    except RemoteError as exc:
        return f"config {blob.digest}: {exc}"


def _layer(session: Session, repo: str, what: str, blob: Descriptor) -> Flow[Digest | str]:
    """The layer's uncompressed digest, or the problem found while streaming it."""
    try:
        digest: Digest = yield from ops.blob_into(session, repo, blob.digest, DiffIdSink(what), blob.size)
    except RemoteError as exc:
        return f"{what}: {exc}"
    return digest


def _check_image(session: Session, repo: str, result: ManifestResult, platform: str | None,
                 config_limit: int) -> Flow[ImageReport]:
    manifest = result.document
    assert isinstance(manifest, Manifest)
    report = ImageReport(result.digest, platform, len(manifest.layers), manifest.layers_size)
    names = [f"layer {i + 1} {layer.digest}" for i, layer in enumerate(manifest.layers)]
    found = yield from parallel([_config(session, repo, manifest.config, config_limit),
                                 *(_layer(session, repo, name, layer)
                                   for name, layer in zip(names, manifest.layers, strict=True))])
    config, layers = found[0], found[1:]
    if isinstance(config, str):
        report.problems.append(config)
    diff_ids = config.diff_ids if isinstance(config, ImageConfig) else None
    if isinstance(config, ImageConfig) and diff_ids is None:
        report.problems.append("config has no rootfs.diff_ids")
    elif diff_ids is not None and len(diff_ids) != len(manifest.layers):
        report.problems.append(f"config lists {len(diff_ids)} diff_ids for {len(manifest.layers)} layers")
        diff_ids = None
    for i, (name, layer) in enumerate(zip(names, layers, strict=True)):
        if isinstance(layer, str):
            report.problems.append(layer)
        elif diff_ids is not None and layer != diff_ids[i]:
            report.problems.append(f"{name}: uncompressed digest {layer}, the config says {diff_ids[i]}")
    return report


def validate(session: Session, repo: str, reference: str | Digest, *, platforms: Sequence[Platform] = (),
             config_limit: int | None = None) -> Flow[ValidationReport]:
    """Check ``repo:reference`` (an image or an index) and everything it refers to.

    ``platforms`` limits an index to its matching children (default: all of them);
    ``config_limit`` caps a config read into memory (default: the manifest cap).
    """
    top = yield from ops.manifest(session, repo, reference)
    limit = config_limit if config_limit is not None else session.limits.manifest
    return (yield from _validate(session, repo, top, platforms, limit, 0))


def _validate(session: Session, repo: str, top: ManifestResult, platforms: Sequence[Platform],
              config_limit: int, depth: int) -> Flow[ValidationReport]:
    report = ValidationReport(top.digest)
    if isinstance(top.document, Manifest):
        report.images.append((yield from _check_image(session, repo, top, None, config_limit)))
        return report
    if not isinstance(top.document, Index):
        report.problems.append(f"{top.media_type} cannot be validated (no layer sizes)")
        return report
    if depth >= ops.MAX_DEPTH:
        report.problems.append(f"index {top.digest}: indexes nested more than {ops.MAX_DEPTH} deep")
        return report
    # As a copy or pull for those platforms would take them: one child per platform.
    children = platform_children(top.document, platforms) if platforms else top.document.manifests
    if not children:
        report.problems.append("no child of the index matches the platforms asked for")
    for child in children:
        shown = child.platform.describe() if child.platform else None
        try:
            result = yield from ops.manifest(session, repo, child.digest)
        except RemoteError as exc:
            report.problems.append(f"manifest {child.digest} ({shown or '-'}): {exc}")
            continue
        if isinstance(result.document, Manifest):
            report.images.append((yield from _check_image(session, repo, result, shown, config_limit)))
        else:
            nested = yield from _validate(session, repo, result, (), config_limit, depth + 1)
            report.images += nested.images
            report.problems += nested.problems
    return report
