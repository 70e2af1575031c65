"""Files kept in a registry as OCI artifacts, the way ORAS does (image-spec 1.1 guidance).

An artifact is an image manifest with ``artifactType`` set, the empty config
(``application/vnd.oci.empty.v1+json``, the two bytes ``{}``) and one layer per
file, each named by its ``org.opencontainers.image.title`` annotation.  A
``subject`` makes it a referrer of another manifest (a signature, an SBOM).

Pushing and pulling are flows (:func:`push_artifact`, :func:`pull_artifact`)
that :class:`~ocireg.Registry` and :class:`~ocireg.AsyncRegistry` run; local
files are read and written by the driver.  Pulling writes each titled layer to
``DIRECTORY/TITLE``.  A title comes from the registry and is hostile: every
title is checked before anything is written, and one that is absolute, holds ``..`` or an empty or ``.`` part, a backslash or a NUL,
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

from . import _endpoints as ep
from . import _media as media
from ._digest import Digest
from ._errors import InvalidArgument, InvalidManifest
from ._files import AtomicFile
from ._flow import Flow, call, now, parallel
from ._image import blob_into, manifest, upload
from ._manifest import Descriptor, Manifest
from ._session import Session

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
        if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str | os.PathLike) \
                and isinstance(value[1], str):
            return cls(Path(value[0]), value[1])
        if isinstance(value, str | os.PathLike):
            return cls(Path(value))
        raise InvalidArgument(f"files must hold paths, (path, media_type) pairs or ArtifactFiles, "
                              f"not {type(value).__name__}")

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


def _regular_files(entries: Sequence[ArtifactFile]) -> None:
    for entry in entries:
        if not entry.path.is_file():
            raise InvalidArgument(f"{entry.path}: not a regular file (directories are not supported)")


def push_artifact(
    session: Session,
    repo: str,
    tag: str | None,
    files: Sequence[str | os.PathLike[str] | ArtifactFile | tuple[str | os.PathLike[str], str]],
    *,
    artifact_type: str | None = None,
    annotations: Mapping[str, str] | None = None,
    subject: str | Digest | Descriptor | None = None,
) -> Flow[Descriptor]:
    """Push ``files`` as one artifact to ``repo`` (tagged ``tag``, or by digest alone).

    The files go up at once (up to the driver's ``jobs``), streamed from disk; the
    manifest last, so the registry never holds one naming a blob it lacks.
    """
    if isinstance(files, str | os.PathLike) or not isinstance(files, Sequence):
        raise InvalidArgument(f"files must be a list of files, not {type(files).__name__}")
    entries = [ArtifactFile.of(f) for f in files]
    try:
        check_titles(e.name for e in entries)
    except InvalidManifest as exc:
        raise InvalidArgument(str(exc)) from None
    yield from call(_regular_files, entries)
    subject_descriptor = yield from _subject(session, repo, subject)
    uploads = [upload(session, repo, entry.path, media_type=entry.media_type) for entry in entries]
    uploads.append(upload(session, repo, EMPTY_JSON, media_type=media.OCI_EMPTY_JSON))
    pushed = yield from parallel(uploads)
    layers = [Descriptor(entry.media_type, blob.descriptor.digest, blob.descriptor.size,
                         annotations=((TITLE, entry.name),))
              for entry, blob in zip(entries, pushed[:len(entries)], strict=True)]
    manifest = artifact_manifest(layers, artifact_type=artifact_type, annotations=annotations,
                                 subject=subject_descriptor)
    put = yield from ep.put_manifest(session, repo, tag or manifest.digest, manifest.raw, manifest.media_type,
                                     now=(yield from now()))
    return Descriptor(manifest.media_type, put.digest, len(manifest.raw), artifact_type=manifest.artifact_type)


def _subject(session: Session, repo: str, subject: str | Digest | Descriptor | None) -> Flow[Descriptor | None]:
    if subject is None or isinstance(subject, Descriptor):
        return subject
    found = yield from manifest(session, repo, subject)
    return Descriptor(found.media_type, found.digest, len(found.body))


def _prepare(root: Path, all_parts: Sequence[tuple[str, ...]]) -> list[Path]:
    """The target of every title, all checked before any directory is made, then again after."""
    root.mkdir(parents=True, exist_ok=True)
    targets = [_target(root, parts) for parts in all_parts]
    for parts, target in zip(all_parts, targets, strict=True):
        target.parent.mkdir(parents=True, exist_ok=True)
        _target(root, parts)  # again, now that its parents exist
    return targets


def pull_artifact(
    session: Session, repo: str, reference: str | Digest, directory: str | os.PathLike[str]
) -> Flow[PulledArtifact]:
    """Write the titled files of the artifact ``repo:reference`` into ``directory``.

    Every title is checked before anything is written; the files then stream at
    once (up to the driver's ``jobs``), each verified into a temporary file renamed
    into place only when whole.
    """
    result = yield from manifest(session, repo, reference)
    document = result.document
    if not isinstance(document, Manifest):
        raise InvalidArgument(f"{repo}:{reference} is a {result.media_type}, not an artifact manifest")
    titled = [d for d in document.layers if TITLE in dict(d.annotations)]
    untitled = tuple(d for d in document.layers if TITLE not in dict(d.annotations))
    all_parts = check_titles(dict(d.annotations)[TITLE] for d in titled)
    targets = yield from call(_prepare, Path(directory), all_parts)
    yield from parallel([blob_into(session, repo, layer.digest, AtomicFile(target), layer.size)
                         for layer, target in zip(titled, targets, strict=True)])
    return PulledArtifact(result.descriptor, document.artifact_type or document.config.media_type,
                          tuple(targets), untitled)
