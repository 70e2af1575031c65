"""The sans-IO flows, for embedding ocireg under another HTTP stack or event loop.

Each function takes a :class:`~ocireg.Session` (``copy`` two) and returns a generator
that yields effects (see :mod:`ocireg._flow`) and returns its result: single requests,
and the image operations above them (pull, push, copy, listings, artifacts, docker
archives).
:func:`~ocireg.run_flow` and :func:`~ocireg.run_flow_async` are the reference loops.
"""

from ._archive import pull_archive
from ._artifact import pull_artifact, push_artifact
from ._endpoints import (
    add_referrer_to_tag_schema,
    catalog_page,
    catalog_url,
    delete_blob,
    delete_manifest,
    get_manifest,
    head_blob,
    head_manifest,
    manifest_digest,
    open_blob,
    ping,
    put_manifest,
    referrers,
    tags_page,
    tags_url,
)
from ._image import (
    blob_into,
    catalog,
    copy,
    iter_catalog,
    iter_tags,
    manifest,
    platform_digest,
    pull,
    push,
    rmtag,
    send_tree,
    tag,
    tags,
    upload,
)
from ._paginate import Page, Pagination, collect_pages, paginate
from ._upload import (
    cancel_upload,
    finish_upload,
    push_blob,
    start_upload,
    upload_chunk,
    upload_status,
)

__all__ = [
    "Page",
    "Pagination",
    "add_referrer_to_tag_schema",
    "blob_into",
    "cancel_upload",
    "catalog",
    "catalog_page",
    "catalog_url",
    "collect_pages",
    "copy",
    "delete_blob",
    "delete_manifest",
    "finish_upload",
    "get_manifest",
    "head_blob",
    "head_manifest",
    "iter_catalog",
    "iter_tags",
    "manifest",
    "manifest_digest",
    "open_blob",
    "paginate",
    "ping",
    "platform_digest",
    "pull",
    "pull_archive",
    "pull_artifact",
    "push",
    "push_artifact",
    "push_blob",
    "put_manifest",
    "referrers",
    "rmtag",
    "send_tree",
    "start_upload",
    "tag",
    "tags",
    "tags_page",
    "tags_url",
    "upload",
    "upload_chunk",
    "upload_status",
]
