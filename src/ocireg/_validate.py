"""Check an image whole, as ``crane validate`` does: every byte fetched and verified.

For each image manifest (every child of an index, or those picked by platform):
the config and each layer are streamed and checked against their digest and
size; each layer is decompressed and its uncompressed digest compared with the
config's ``rootfs.diff_ids``, whose count must match the layers'.  A problem is
recorded and the check goes on, so one run reports everything wrong; nothing is
stored.  Fetching is the caller's (``fetch_manifest``, ``open_blob``): this
module decides what to fetch and what to conclude.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from ._digest import Digest
from ._endpoints import ManifestResult
from ._errors import RemoteError
from ._inspect import ImageConfig
from ._manifest import Descriptor, Index, Manifest, Platform
from ._platform import matches
from ._unpack import LayerStream

__all__ = ["ImageReport", "ValidationReport", "validate_image"]

Chunks = Iterable[bytes | bytearray | memoryview]


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


def _check_image(
    result: ManifestResult, platform: str | None, open_blob: Callable[[Descriptor], Chunks], config_limit: int,
) -> ImageReport:
    manifest = result.document
    assert isinstance(manifest, Manifest)
    report = ImageReport(result.digest, platform, len(manifest.layers), manifest.layers_size)
    config: ImageConfig | None = None
    try:
        data = bytearray()
        with LayerStream(open_blob(manifest.config), "config") as stream:  # closes the download early too
            while chunk := stream.read(1 << 16):
                data += chunk
                if len(data) > config_limit:
                    raise RemoteError(f"config is larger than {config_limit} bytes")
            stream.finish()
        config = ImageConfig.parse(bytes(data), limit=config_limit)
    except RemoteError as exc:
        report.problems.append(f"config {manifest.config.digest}: {exc}")
    diff_ids = config.diff_ids if config is not None else None
    if config is not None and diff_ids is None:
        report.problems.append("config has no rootfs.diff_ids")
    elif diff_ids is not None and len(diff_ids) != len(manifest.layers):
        report.problems.append(f"config lists {len(diff_ids)} diff_ids for {len(manifest.layers)} layers")
        diff_ids = None
    for i, layer in enumerate(manifest.layers):
        what = f"layer {i + 1} {layer.digest}"
        try:
            with LayerStream(open_blob(layer), what) as stream:
                uncompressed = stream.finish()
        except RemoteError as exc:
            report.problems.append(f"{what}: {exc}")
            continue
        if diff_ids is not None and uncompressed != diff_ids[i]:
            report.problems.append(f"{what}: uncompressed digest {uncompressed}, the config says {diff_ids[i]}")
    return report


def validate_image(
    top: ManifestResult,
    fetch_manifest: Callable[[Digest], ManifestResult],
    open_blob: Callable[[Descriptor], Chunks],
    *,
    platforms: Sequence[Platform] = (),
    config_limit: int = 4 << 20,
) -> ValidationReport:
    """Check ``top`` (an image or an index) and everything it refers to.

    ``open_blob`` streams a blob verified against its descriptor (a mismatch raises
    a :class:`~ocireg.RemoteError` at the end); ``fetch_manifest`` returns a child
    manifest with its digest verified.  ``platforms`` limits an index to its
    matching children (default: all of them).
    """
    report = ValidationReport(top.digest)
    if isinstance(top.document, Manifest):
        report.images.append(_check_image(top, None, open_blob, config_limit))
        return report
    if not isinstance(top.document, Index):
        report.problems.append(f"{top.media_type} cannot be validated (no layer sizes)")
        return report
    children = [c for c in top.document.manifests
                if not platforms or (c.platform is not None and any(matches(p, c.platform) for p in platforms))]
    if not children:
        report.problems.append("no child of the index matches the platforms asked for")
    for child in children:
        shown = child.platform.describe() if child.platform else None
        try:
            result = fetch_manifest(child.digest)
        except RemoteError as exc:
            report.problems.append(f"manifest {child.digest} ({shown or '-'}): {exc}")
            continue
        if isinstance(result.document, Manifest):
            report.images.append(_check_image(result, shown, open_blob, config_limit))
        else:
            nested = validate_image(result, fetch_manifest, open_blob, config_limit=config_limit)
            report.images += nested.images
            report.problems += nested.problems
    return report
