"""Files kept in a registry as OCI artifacts, the way ORAS does (image-spec 1.1 guidance).

An artifact is an image manifest with ``artifactType`` set, the empty config
(``application/vnd.oci.empty.v1+json``, the two bytes ``{}``) and one layer per
file, each named by its ``org.opencontainers.image.title`` annotation.  A
``subject`` makes it a referrer of another manifest (a signature, an SBOM).

Pulling writes each titled layer to ``DIRECTORY/TITLE``.  A title comes from the
registry and is hostile: every title is checked before anything is written, and
one that is absolute, holds ``..`` or an empty or ``.`` part, a backslash or a NUL,
names the same file as another, or would pass through a symbolic link (or a
non-directory) inside ``DIRECTORY``, is refused with
:class:`~ocireg.InvalidManifest` and nothing is written.  Each file is verified
while it streams and written atomically.  Layers without a title are left out,
as oras does.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from . import _media as media
from ._digest import Digest
from ._errors import InvalidArgument, InvalidManifest
from ._files import atomic_write
from ._manifest import Descriptor, Manifest

if TYPE_CHECKING:
    from ._registry import Registry

__all__ = [
    "DEFAULT_ARTIFACT_TYPE",
    "DEFAULT_FILE_TYPE",
    "EMPTY_CONFIG",
    "TITLE",
    "ArtifactFile",
    "PulledArtifact",
    "artifact_manifest",
    "check_titles",
    "pull_artifact",
    "push_artifact",
]

TITLE = "org.opencontainers.image.title"
DEFAULT_ARTIFACT_TYPE = "application/vnd.unknown.artifact.v1"
"""What oras puts in ``artifactType`` when none is given (the spec wants one with the empty config)."""
DEFAULT_FILE_TYPE = "application/vnd.oci.image.layer.v1.tar"
"""oras's media type for a file given without one."""
EMPTY_JSON = b"{}"
EMPTY_CONFIG = Descriptor(media.OCI_EMPTY_JSON, Digest.of(EMPTY_JSON), len(EMPTY_JSON))
_TITLE_MAX = 4096


@dataclass(frozen=True)
class ArtifactFile:
    """A file to push: its ``path``, ``media_type``, and ``title`` (default: the file's name)."""

    path: Path
    media_type: str = DEFAULT_FILE_TYPE
    title: str | None = None

    @classmethod
    def of(cls, value: str | os.PathLike[str] | ArtifactFile | tuple[str | os.PathLike[str], str]) -> ArtifactFile:
        """From a path, a ``(path, media_type)`` pair, or an :class:`ArtifactFile`."""
        if isinstance(value, ArtifactFile):
            return value
        if isinstance(value, tuple):
            path, media_type = value
            return cls(Path(path), media_type)
        return cls(Path(value))

    @property
    def name(self) -> str:
        return self.title if self.title is not None else self.path.name


@dataclass(frozen=True)
class PulledArtifact:
    """What :meth:`Registry.pull_artifact` wrote: the manifest, the files, the layers left out."""

    descriptor: Descriptor
    artifact_type: str | None
    files: tuple[Path, ...]
    untitled: tuple[Descriptor, ...] = ()


def _title_parts(title: object) -> tuple[str, ...]:
    """The path components of a title, or :class:`InvalidManifest` saying why it is unsafe."""
    if not isinstance(title, str) or not title:
        raise InvalidManifest("an artifact file title is empty")
    shown = repr(title[:200])
    if len(title) > _TITLE_MAX:
        raise InvalidManifest(f"artifact file title {shown} is over {_TITLE_MAX} characters")
    if "\x00" in title or "\\" in title:
        raise InvalidManifest(f"artifact file title {shown} holds a NUL or a backslash")
    if title.startswith("/"):
        raise InvalidManifest(f"artifact file title {shown} is an absolute path")
    parts = tuple(title.split("/"))
    if any(part in ("", ".", "..") for part in parts):
        raise InvalidManifest(f"artifact file title {shown} has an empty, '.' or '..' component")
    return parts


def check_titles(titles: Iterable[str]) -> list[tuple[str, ...]]:
    """Every title's parts, refusing unsafe ones and titles that collide (``a`` and ``a/b``)."""
    all_parts = [_title_parts(t) for t in titles]
    files = set(all_parts)
    if len(files) != len(all_parts):
        raise InvalidManifest("two artifact files have the same title")
    for parts in all_parts:
        for i in range(1, len(parts)):
            if parts[:i] in files:
                raise InvalidManifest(f"artifact file title {'/'.join(parts)!r} lies inside another file")
    return all_parts


def _target(directory: Path, parts: tuple[str, ...]) -> Path:
    """``directory/parts``, refusing a symlink or a non-directory on the way, or a symlink at the end."""
    path = directory
    for part in parts[:-1]:
        path = path / part
        if path.is_symlink() or (path.exists() and not path.is_dir()):
            raise InvalidManifest(f"{path}: a symbolic link or a file is in the way of an artifact file")
    path = path / parts[-1]
    if path.is_symlink() or path.is_dir():
        raise InvalidManifest(f"{path}: a symbolic link or a directory is where an artifact file goes")
    return path


def artifact_manifest(
    layers: Sequence[Descriptor],
    *,
    artifact_type: str | None = None,
    annotations: Mapping[str, str] | None = None,
    subject: Descriptor | None = None,
) -> Manifest:
    """The manifest of an artifact: the empty config, ``layers``, and ``artifactType``."""
    return Manifest.build(
        EMPTY_CONFIG, layers, artifact_type=artifact_type or DEFAULT_ARTIFACT_TYPE,
        annotations=annotations, subject=subject,
    )


def push_artifact(
    registry: Registry,
    repo: str,
    tag: str | None,
    files: Sequence[str | os.PathLike[str] | ArtifactFile | tuple[str | os.PathLike[str], str]],
    *,
    artifact_type: str | None = None,
    annotations: Mapping[str, str] | None = None,
    subject: str | Digest | Descriptor | None = None,
) -> Descriptor:
    """Push ``files`` as one artifact to ``repo`` (tagged ``tag``, or by digest alone)."""
    entries = [ArtifactFile.of(f) for f in files]
    try:
        check_titles(e.name for e in entries)
    except InvalidManifest as exc:
        raise InvalidArgument(str(exc)) from None
    for entry in entries:
        if not entry.path.is_file():
            raise InvalidArgument(f"{entry.path}: not a regular file (directories are not supported)")
    subject_descriptor = _subject(registry, repo, subject)
    layers = []
    for entry in entries:
        pushed = registry.push_blob(repo, entry.path, media_type=entry.media_type)
        layers.append(Descriptor(entry.media_type, pushed.descriptor.digest, pushed.descriptor.size,
                                 annotations=((TITLE, entry.name),)))
    registry.push_blob(repo, EMPTY_JSON, media_type=media.OCI_EMPTY_JSON)
    manifest = artifact_manifest(layers, artifact_type=artifact_type, annotations=annotations,
                                 subject=subject_descriptor)
    digest = registry.push_manifest(repo, tag or manifest.digest, manifest.raw, manifest.media_type)
    return Descriptor(manifest.media_type, digest, len(manifest.raw), artifact_type=manifest.artifact_type)


def _subject(registry: Registry, repo: str, subject: str | Digest | Descriptor | None) -> Descriptor | None:
    if subject is None or isinstance(subject, Descriptor):
        return subject
    found = registry.manifest(repo, subject)
    return Descriptor(found.media_type, found.digest, len(found.body))


def pull_artifact(
    registry: Registry, repo: str, reference: str | Digest, directory: str | os.PathLike[str]
) -> PulledArtifact:
    """Write the titled files of the artifact ``repo:reference`` into ``directory``."""
    result = registry.manifest(repo, reference)
    document = result.document
    if not isinstance(document, Manifest):
        raise InvalidArgument(f"{repo}:{reference} is a {result.media_type}, not an artifact manifest")
    titled = [d for d in document.layers if TITLE in dict(d.annotations)]
    untitled = tuple(d for d in document.layers if TITLE not in dict(d.annotations))
    all_parts = check_titles(dict(d.annotations)[TITLE] for d in titled)
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    targets = [_target(root, parts) for parts in all_parts]  # all checked before any is written
    written: list[Path] = []
    for layer, target in zip(titled, targets, strict=True):
        target.parent.mkdir(parents=True, exist_ok=True)
        _target(root, all_parts[len(written)])  # again, now that parents exist
        atomic_write(target, registry.iter_blob(repo, layer.digest, layer.size))
        written.append(target)
    return PulledArtifact(result.descriptor, document.artifact_type or document.config.media_type,
                          tuple(written), untitled)
