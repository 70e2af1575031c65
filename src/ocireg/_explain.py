"""Errors told in words for the person at the terminal: whose credentials, what access.

A registry says ``401 UNAUTHORIZED: authentication required`` alike for no
credentials, wrong credentials and credentials that may read but not write, and
``403 DENIED`` for a push it refuses.  What it meant depends on what was sent and
how the registry authenticates, which the caller knows: :func:`explain` adds it
to the error's own text, naming the user (never the secret), the host and, for a
refusal, the access that was missing.  TLS and plain-HTTP mismatches are worded
by :func:`ocireg._scheme.explain_transport_error`.
"""

from __future__ import annotations

import re
import urllib.parse

from ._errors import Denied, RegistryError, ResponseError, TransportError, Unauthorized
from ._scheme import explain_transport_error

__all__ = ["explain"]

_WRITES = frozenset({"PUT", "POST", "PATCH", "DELETE"})
_REPOSITORY = re.compile(r"/v2/(?P<repo>.+?)/(?:manifests|blobs|tags|referrers)/")


def _where(url: str) -> tuple[str, str | None]:
    """The host and repository a request URL names."""
    parts = urllib.parse.urlsplit(url)
    match = _REPOSITORY.search(parts.path)
    return parts.netloc, match["repo"] if match else None


def explain(exc: RegistryError, *, user: str | None = None, scheme: str | None = None) -> str:
    """The text of ``exc`` with what it means, for a request made as ``user``.

    ``scheme`` is how the registry asked to authenticate (``basic`` or ``bearer``,
    as :attr:`ocireg._auth.Authenticator.challenge` remembers it).  With Basic, a
    401 to credentials means they were refused; with tokens, a 401 or 403 to
    credentials means the token did not grant the access asked for.
    """
    if isinstance(exc, TransportError):
        return str(explain_transport_error(exc))
    text = str(exc)
    if not isinstance(exc, ResponseError) or not isinstance(exc, Unauthorized | Denied):
        return text
    host, repo = _where(exc.url)
    if user is None:
        if isinstance(exc, Unauthorized):
            return f"{text}: {host} needs credentials (ocireg login {host})"
        return text
    access = "push" if exc.method.upper() in _WRITES else "pull"
    if isinstance(exc, Unauthorized) and scheme == "basic":
        return f"{text}: credentials for {user} were refused by {host}"
    target = f"{repo} on {host}" if repo else host
    return f"{text}: credentials for {user} lack {access} access to {target}"
