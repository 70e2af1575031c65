"""The sans-IO flows, for embedding ocireg under another HTTP stack or event loop.

Each function takes a :class:`~ocireg.Session` and returns a generator that yields
:class:`~ocireg.Request`, :class:`~ocireg.ReadBody` and :class:`~ocireg.Close`
effects and returns its result; :func:`~ocireg.run_flow` is the reference loop.
"""

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
from ._paginate import Page, Pagination, collect_pages
from ._upload import cancel_upload, finish_upload, push_blob, start_upload, upload_chunk

__all__ = [
    "Page",
    "Pagination",
    "add_referrer_to_tag_schema",
    "cancel_upload",
    "catalog_page",
    "catalog_url",
    "collect_pages",
    "delete_blob",
    "delete_manifest",
    "finish_upload",
    "get_manifest",
    "head_blob",
    "head_manifest",
    "manifest_digest",
    "open_blob",
    "ping",
    "push_blob",
    "put_manifest",
    "referrers",
    "start_upload",
    "tags_page",
    "tags_url",
    "upload_chunk",
]
