"""Deletes that remove what was named and nothing more: flows.

Registries delete manifests, not tags: ``DELETE .../manifests/<digest>`` removes
the image and so every tag on it.  Two flows keep a delete to what the user meant:

* :func:`tags_sharing` lists the other tags on a manifest, so that deleting
  ``repo:tag`` can refuse when it would take other tags with it (regctl refuses
  a delete by tag without ``--force-tag-dereference``);
* :func:`delete_tag` removes one tag only: ``DELETE .../manifests/<tag>`` where
  the registry supports it (distribution spec 1.1), else regctl's way: the tag is
  moved onto a throwaway manifest made for the purpose, which is then deleted by
  digest, taking only that tag with it.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from . import _image as ops
from . import _media as media
from ._auth import Scope
from ._digest import Digest
from ._endpoints import delete_manifest, head_manifest, manifest_digest, put_manifest
from ._errorbody import expect
from ._errors import ResponseError
from ._flow import Flow, close, now
from ._manifest import Descriptor, Manifest
from ._reference import validate_repository, validate_tag
from ._session import Session
from ._upload import push_blob

__all__ = ["TagDeleted", "delete_tag", "tags_sharing"]

EMPTY_CONFIG = b"{}"
"""The OCI empty descriptor's content: the throwaway manifest's config."""
THROWAWAY_ANNOTATION = "io.ocireg.tag-delete"

# Answers meaning "no delete by tag here": distribution 2.x's 400 (a tag is not a
# digest), 405/UNSUPPORTED elsewhere.
_NOT_BY_TAG = frozenset({400, 405})


@dataclass(frozen=True)
class TagDeleted:
    """A tag removed: the manifest it pointed to, and how it was removed."""

    digest: Digest
    method: str
    """``"delete-by-tag"`` or ``"throwaway-manifest"``."""


def tags_sharing(session: Session, repo: str, digest: Digest, *,
                 except_tag: str | None = None) -> Flow[tuple[str, ...]]:
    """The tags of ``repo`` (other than ``except_tag``) whose manifest is ``digest``.

    Every tag with its digest (a HEAD each, asked at once): a repository's tags are
    not indexed by digest.
    """
    listing = yield from ops.tags(session, repo, with_digests=True, auto_paginate=True)
    return tuple(tag for tag in listing.items if tag != except_tag and listing.digests.get(tag) == digest)


def _throwaway(unique: str) -> Manifest:
    config = Descriptor(media.OCI_EMPTY_JSON, Digest.of(EMPTY_CONFIG), len(EMPTY_CONFIG))
    return Manifest.build(config, [], annotations={THROWAWAY_ANNOTATION: unique})


def delete_tag(
    session: Session, repo: str, tag: str, *, token: Callable[[], str] = lambda: secrets.token_hex(16),
) -> Flow[TagDeleted]:
    """Remove ``repo:tag`` and no other tag; the manifest stays under its other tags.

    Raises :class:`~ocireg.ManifestUnknown` when there is no such tag.
    """
    repo = validate_repository(repo)
    validate_tag(tag)
    info = yield from head_manifest(session, repo, tag, now=(yield from now()))
    digest = info.digest if info is not None else (yield from manifest_digest(session, repo, tag,
                                                                              now=(yield from now())))
    request = session.request("DELETE", f"/v2/{repo}/manifests/{tag}")
    response = yield from session.send(request, scopes=(Scope("repository", repo, ("delete",)),),
                                       now=(yield from now()))
    if response.status in (200, 202, 204):
        yield from close(response)
        return TagDeleted(digest, "delete-by-tag")
    try:
        yield from expect(response, 202)
    except ResponseError as exc:
        if exc.status not in _NOT_BY_TAG and "UNSUPPORTED" not in exc.codes:
            raise
    throwaway = _throwaway(json.dumps({"tag": tag, "nonce": token()}))
    config = throwaway.config
    yield from push_blob(session, repo, config, lambda offset, length: [EMPTY_CONFIG[offset:offset + length]],
                         now=(yield from now()))
    yield from put_manifest(session, repo, tag, throwaway.raw, throwaway.media_type, now=(yield from now()))
    yield from delete_manifest(session, repo, throwaway.digest, now=(yield from now()))
    return TagDeleted(digest, "throwaway-manifest")
