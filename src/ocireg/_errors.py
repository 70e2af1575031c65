"""The exception hierarchy: the one place that says what the public API can raise.

Everything ocireg raises derives from :class:`RegistryError`, split in two:

* :class:`UsageError` -- the caller asked for something wrong or unsafe: a malformed
  reference or digest, an invalid argument, plain HTTP with credentials to a
  non-loopback host, a layout on disk that is not valid.  Retrying will not help.
* :class:`RemoteError` -- the registry, the token server or the network failed:
  an HTTP error answer (:class:`ResponseError` and its typed subclasses, built from
  the registry's ``{"errors": [...]}`` body), a malformed or oversized answer
  (:class:`InvalidResponse`), bytes that do not match their digest
  (:class:`DigestMismatch`), or a transport failure (:class:`TransportError`).

Parse errors are also :class:`ValueError` so that code treating them as bad values
keeps working.  Nothing else escapes the public API: a transport signals failures
with builtin exceptions (``ConnectionError``, ``TimeoutError``, any other ``OSError``),
which the drivers turn into :class:`TransportError` subclasses with
:func:`translate_transport_error`; JSON or Unicode errors become :class:`InvalidResponse`.

The transport errors are also ``OSError``s (``ConnectError`` a ``ConnectionError``,
``TransportTimeout`` a ``TimeoutError``), so a transport may raise ocireg's own classes
and still keep the builtin contract when the core calling it is another copy of
ocireg (a vendored one): that copy translates them into its own classes.

No exception message or attribute ever carries a credential: URLs are stored with
their userinfo removed and headers are never copied into errors.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from ._http import redact_url

__all__ = [
    "AuthenticationError",
    "BlobUnknown",
    "Cancelled",
    "ConnectError",
    "Denied",
    "DigestMismatch",
    "ErrorDetail",
    "InsecureRequestError",
    "InvalidArgument",
    "InvalidConfig",
    "InvalidDigest",
    "InvalidLayout",
    "InvalidManifest",
    "InvalidPlatform",
    "InvalidReference",
    "InvalidResponse",
    "LocalFileError",
    "MalformedHeader",
    "ManifestUnknown",
    "NameUnknown",
    "NotFound",
    "PlatformNotFound",
    "ProtocolError",
    "RedirectError",
    "RegistryBlocked",
    "RegistryError",
    "RemoteError",
    "ResponseError",
    "ResponseTooLarge",
    "TooManyRequests",
    "TransportError",
    "TransportTimeout",
    "Unauthorized",
    "Unsupported",
    "UsageError",
    "translate_transport_error",
]


class RegistryError(Exception):
    """Root of every exception ocireg raises."""


# --- the caller's mistakes -------------------------------------------------------


class UsageError(RegistryError):
    """The caller asked for something wrong; retrying the same call cannot succeed."""


class InvalidArgument(UsageError, ValueError):
    """An argument is out of range or of the wrong shape."""


class InvalidReference(UsageError, ValueError):
    """An image reference does not follow the distribution reference grammar."""

    def __init__(self, message: str, text: str = "", position: int | None = None) -> None:
        super().__init__(message)
        self.text = text
        self.position = position


class InvalidDigest(UsageError, ValueError):
    """A digest is not ``algorithm:encoded`` with a known algorithm and exact hex length."""


class InvalidPlatform(UsageError, ValueError):
    """A platform string such as ``linux/arm64/v8`` is malformed."""


class InvalidLayout(UsageError, ValueError):
    """An OCI image layout on disk is malformed, incomplete or escapes its directory."""


class InsecureRequestError(UsageError):
    """Refused for safety: credentials over plain HTTP, an https to http redirect, ...

    Raised before anything is sent; allow the registry as insecure to override the
    plain-HTTP rule where that is really wanted.
    """


class PlatformNotFound(UsageError, LookupError):
    """No entry of an index matches the requested platform."""


class InvalidConfig(UsageError, ValueError):
    """A configuration file (containers' ``registries.conf``) is malformed; names the file."""


class RegistryBlocked(UsageError):
    """The registries configuration blocks the registry (``blocked = true``)."""


class LocalFileError(UsageError, OSError):
    """A local file or directory could not be read or written (disk full, permissions).

    Carries the ``errno`` and ``filename`` of the :class:`OSError` behind it.
    """


class Cancelled(UsageError):
    """The operation was abandoned: a sibling transfer failed, or the caller stopped it.

    Thrown into the flows still running beside a failed one, so that they cancel
    their uploads and abort their files; the failure that caused it is what escapes.
    """


# --- the registry's or the network's failures -----------------------------------


class RemoteError(RegistryError):
    """The registry, its token server or the network failed."""


class TransportError(RemoteError, OSError):
    """The request could not be completed at the HTTP level.

    An ``OSError`` too: the transport contract is written in builtin exceptions (see
    ``ocireg._transport``), and these classes are the transports' own ways to keep it.
    """


class ConnectError(TransportError, ConnectionError):
    """The connection could not be established (refused, DNS, TLS handshake)."""


class TransportTimeout(TransportError, TimeoutError):
    """The connect or read timeout fired."""


class ProtocolError(TransportError):
    """The peer broke HTTP framing: truncated body, bad chunked encoding, reset mid-body."""


def translate_transport_error(exc: BaseException, url: str) -> RegistryError:
    """This copy's error for what a transport raised while handling ``url``.

    An error of this copy of ocireg comes back unchanged.  Otherwise the builtin
    contract decides: ``TimeoutError`` is a :class:`TransportTimeout`,
    ``ConnectionError`` a :class:`ConnectError`, any other ``OSError`` (another
    copy's ``ProtocolError`` included) a :class:`ProtocolError`.  The message keeps
    the original text, with ``url`` shown without credentials; the caller chains it.
    """
    if isinstance(exc, RegistryError):
        return exc
    where = redact_url(url)
    text = str(exc).replace(url, where) if url else str(exc)
    message = text if where in text else f"{where}: {text or type(exc).__name__}"
    if isinstance(exc, TimeoutError):
        return TransportTimeout(message)
    if isinstance(exc, ConnectionError):
        return ConnectError(message)
    return ProtocolError(message)


@contextmanager
def transport_errors(url: str) -> Iterator[None]:
    """Around a call into a transport: an ``OSError`` becomes this copy's error.

    Anything else passes unchanged, notably an exception a request body raised (a
    source's own verdict, possibly another copy's ``UsageError``).
    """
    try:
        yield
    except RegistryError:
        raise
    except OSError as exc:
        raise translate_transport_error(exc, url) from exc


class InvalidResponse(RemoteError):
    """The registry answered something malformed (bad JSON, bad header, wrong type)."""


class MalformedHeader(InvalidResponse, ValueError):
    """A header did not follow its RFC grammar; ``position`` is where parsing stopped."""

    def __init__(self, message: str, header: str = "", position: int | None = None) -> None:
        if position is not None:
            message = f"{message} at position {position}"
        super().__init__(message)
        self.header = header
        self.position = position


class InvalidManifest(InvalidResponse, ValueError):
    """A manifest or index document is malformed, ambiguous or too large."""


class ResponseTooLarge(InvalidResponse):
    """A body that is read whole (manifest, token, error) exceeded its cap."""


class DigestMismatch(RemoteError):
    """Bytes fetched by digest did not hash to it, or had the wrong size."""

    def __init__(self, message: str, expected: str = "", actual: str = "") -> None:
        super().__init__(message)
        self.expected = expected
        self.actual = actual


class RedirectError(RemoteError):
    """Too many redirects, a redirect loop, or a redirect without a usable Location."""


class AuthenticationError(RemoteError):
    """The token server refused the credentials or answered without a token."""


@dataclass(frozen=True)
class ErrorDetail:
    """One entry of a registry error body: ``{"code", "message", "detail"}``."""

    code: str
    message: str
    detail: object = None


class ResponseError(RemoteError):
    """The registry answered with an HTTP error status.

    Carries the status, the request method and URL (without credentials) and the
    entries of the registry's error body.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        method: str,
        url: str,
        errors: Sequence[ErrorDetail] = (),
    ) -> None:
        super().__init__(message)
        self.status = status
        self.method = method
        self.url = url
        self.errors = tuple(errors)

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(e.code for e in self.errors)


class NotFound(ResponseError, LookupError):
    """404: the repository, manifest or blob does not exist."""


class NameUnknown(NotFound):
    """``NAME_UNKNOWN``: the repository is not known to the registry."""


class ManifestUnknown(NotFound):
    """``MANIFEST_UNKNOWN``: no manifest under that tag or digest."""


class BlobUnknown(NotFound):
    """``BLOB_UNKNOWN``: no blob with that digest in the repository."""


class Unauthorized(ResponseError):
    """401 that authentication could not resolve (no or wrong credentials, scope)."""


class Denied(ResponseError):
    """403 / ``DENIED``: authenticated, but not allowed."""


class Unsupported(ResponseError):
    """405 / ``UNSUPPORTED``: the registry does not offer this operation (e.g. deletes)."""


class TooManyRequests(ResponseError):
    """429 / ``TOOMANYREQUESTS``: rate limited; ``retry_after`` in seconds if given."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        method: str,
        url: str,
        errors: Sequence[ErrorDetail] = (),
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status=status, method=method, url=url, errors=errors)
        self.retry_after = retry_after

