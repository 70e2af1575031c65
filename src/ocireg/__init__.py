"""ocireg: a client for the OCI Distribution API (Docker Registry HTTP API V2).

The public API is re-exported here and only here; the modules behind it are
private.  Layers, from the bottom:

* values and parsers: :class:`Reference`, :class:`Digest`, :class:`Descriptor`,
  :class:`Manifest`, :class:`Index`, :class:`Platform`, header parsers;
* flows (sans-IO, standard library only): generators that yield
  :class:`Request` / :class:`ReadBody` / :class:`Close` effects and return results,
  driven by :func:`run_flow` or any loop of your own (see :mod:`ocireg.flows`);
* the blocking driver :class:`Registry`;
* transports: anything with ``send(request) -> Response`` (:class:`Transport`);
  :class:`HTTPClientTransport` (standard library) is in the core, ``ocireg_urllib3``
  and ``ocireg_h11`` ship beside it and are found through entry points.

Every exception raised derives from :class:`RegistryError`; see ``ocireg._errors``
for the promise of what can escape.
"""

from importlib import import_module as _import_module

__version__ = "0.1.0"

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing: a quicker start-up

if TYPE_CHECKING:  # what the names below are, for type checkers and IDEs
    from . import _media as media
    from ._archive import ArchiveLayout
    from ._artifact import ArtifactFile, PulledArtifact
    from ._async import run_flow_async
    from ._auth import CredentialProvider, Credentials, Scope
    from ._challenge import Challenge, parse_challenges
    from ._client import AsyncRegistry, Registry
    from ._credentials import DockerConfigStore, login, logout
    from ._digest import Digest, DigestVerifier, verify_bytes
    from ._discovery import default_async_transport, default_transport
    from ._driver import run_flow
    from ._endpoints import ManifestInfo, ManifestResult
    from ._errors import (
        AuthenticationError,
        BlobUnknown,
        Cancelled,
        ConnectError,
        Denied,
        DigestMismatch,
        ErrorDetail,
        InsecureRequestError,
        InvalidArgument,
        InvalidConfig,
        InvalidDigest,
        InvalidLayout,
        InvalidManifest,
        InvalidPlatform,
        InvalidReference,
        InvalidResponse,
        LocalFileError,
        MalformedHeader,
        ManifestUnknown,
        NameUnknown,
        NotFound,
        PlatformNotFound,
        ProtocolError,
        RedirectError,
        RegistryBlocked,
        RegistryError,
        RemoteError,
        ResponseError,
        ResponseTooLarge,
        TooManyRequests,
        TransportError,
        TransportTimeout,
        Unauthorized,
        Unsupported,
        UsageError,
        translate_transport_error,
    )
    from ._flow import (
        Acquire,
        BlobBody,
        Call,
        Close,
        Effect,
        Emit,
        Flow,
        Gate,
        Now,
        Parallel,
        ReadBody,
        Release,
        Sink,
        Sleep,
        StreamBody,
    )
    from ._http import Headers, Origin, Request, Response, header_value, redact_url
    from ._layout import OCILayout
    from ._link import Link, parse_link
    from ._manifest import (
        Descriptor,
        Document,
        Index,
        Manifest,
        Platform,
        SchemaV1Manifest,
        parse_manifest,
    )
    from ._ratelimit import RateLimitedTransport, TokenBucket
    from ._reference import Reference
    from ._regconf import RegistryConfig
    from ._results import CopyResult, Listing, PullResult, RawResponse
    from ._retry import RateLimit, RetryPolicy
    from ._semver import Version, VersionRange
    from ._session import Limits, Session
    from ._stdlib_transport import HTTPClientTransport
    from ._sync import (
        ConnectionOptions,
        ImageCopy,
        ImageResult,
        RegistrySettings,
        SyncConfig,
        SyncFailed,
        SyncReport,
        SyncRule,
        TagFilter,
        sync,
    )
    from ._transport import AsyncResponseStream, AsyncTransport, ResponseStream, Transport
    from ._upload import PushedBlob

_EXPORTS: dict[str, tuple[str, ...]] = {
    "._archive": ("ArchiveLayout",),
    "._artifact": ("ArtifactFile", "PulledArtifact"),
    "._auth": ("CredentialProvider", "Credentials", "Scope"),
    "._challenge": ("Challenge", "parse_challenges"),
    "._client": ("AsyncRegistry", "Registry"),
    "._credentials": ("DockerConfigStore", "login", "logout"),
    "._digest": ("Digest", "DigestVerifier", "verify_bytes"),
    "._discovery": ("default_async_transport", "default_transport"),
    "._driver": ("run_flow",),
    "._endpoints": ("ManifestInfo", "ManifestResult"),
    "._errors": (
        "AuthenticationError", "BlobUnknown", "Cancelled", "ConnectError", "Denied", "DigestMismatch",
        "ErrorDetail", "InsecureRequestError", "InvalidArgument", "InvalidConfig", "InvalidDigest",
        "InvalidLayout", "InvalidManifest", "InvalidPlatform", "InvalidReference", "InvalidResponse",
        "LocalFileError", "MalformedHeader", "ManifestUnknown", "NameUnknown", "NotFound",
        "PlatformNotFound", "ProtocolError", "RedirectError", "RegistryBlocked", "RegistryError",
        "RemoteError", "ResponseError", "ResponseTooLarge", "TooManyRequests", "TransportError",
        "TransportTimeout", "Unauthorized", "Unsupported", "UsageError", "translate_transport_error"
    ),
    "._flow": (
        "Acquire", "BlobBody", "Call", "Close", "Effect", "Emit", "Flow", "Gate", "Now", "Parallel",
        "ReadBody", "Release", "Sink", "Sleep", "StreamBody"
    ),
    "._http": ("Headers", "Origin", "Request", "Response", "header_value", "redact_url"),
    "._layout": ("OCILayout",),
    "._link": ("Link", "parse_link"),
    "._manifest": (
        "Descriptor", "Document", "Index", "Manifest", "Platform", "SchemaV1Manifest", "parse_manifest"
    ),
    "._ratelimit": ("RateLimitedTransport", "TokenBucket"),
    "._reference": ("Reference",),
    "._regconf": ("RegistryConfig",),
    "._results": ("CopyResult", "Listing", "PullResult", "RawResponse"),
    "._retry": ("RateLimit", "RetryPolicy"),
    "._semver": ("Version", "VersionRange"),
    "._session": ("Limits", "Session"),
    "._stdlib_transport": ("HTTPClientTransport",),
    "._sync": (
        "ConnectionOptions", "ImageCopy", "ImageResult", "RegistrySettings", "SyncConfig", "SyncFailed",
        "SyncReport", "SyncRule", "TagFilter", "sync"
    ),
    "._transport": ("AsyncResponseStream", "AsyncTransport", "ResponseStream", "Transport"),
    "._upload": ("PushedBlob",),
    "._async": ("run_flow_async",),
}
"""Where each public name lives.  Nothing is imported until a name is used, so that
``import ocireg`` (and the command line's start-up, ``ocireg --help``) costs nothing
for what it does not touch: the blocking client does not load asyncio, the CLI does
not load tarfile or TOML for a tag listing."""

_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = [
    "Acquire",
    "ArchiveLayout",
    "ArtifactFile",
    "AsyncRegistry",
    "AsyncResponseStream",
    "AsyncTransport",
    "AuthenticationError",
    "BlobBody",
    "BlobUnknown",
    "Call",
    "Cancelled",
    "Challenge",
    "Close",
    "ConnectError",
    "ConnectionOptions",
    "CopyResult",
    "CredentialProvider",
    "Credentials",
    "Denied",
    "Descriptor",
    "Digest",
    "DigestMismatch",
    "DigestVerifier",
    "DockerConfigStore",
    "Document",
    "Effect",
    "Emit",
    "ErrorDetail",
    "Flow",
    "Gate",
    "HTTPClientTransport",
    "Headers",
    "ImageCopy",
    "ImageResult",
    "Index",
    "InsecureRequestError",
    "InvalidArgument",
    "InvalidConfig",
    "InvalidDigest",
    "InvalidLayout",
    "InvalidManifest",
    "InvalidPlatform",
    "InvalidReference",
    "InvalidResponse",
    "Limits",
    "Link",
    "Listing",
    "LocalFileError",
    "MalformedHeader",
    "Manifest",
    "ManifestInfo",
    "ManifestResult",
    "ManifestUnknown",
    "NameUnknown",
    "NotFound",
    "Now",
    "OCILayout",
    "Origin",
    "Parallel",
    "Platform",
    "PlatformNotFound",
    "ProtocolError",
    "PullResult",
    "PulledArtifact",
    "PushedBlob",
    "RateLimit",
    "RateLimitedTransport",
    "RawResponse",
    "ReadBody",
    "RedirectError",
    "Reference",
    "Registry",
    "RegistryBlocked",
    "RegistryConfig",
    "RegistryError",
    "RegistrySettings",
    "Release",
    "RemoteError",
    "Request",
    "Response",
    "ResponseError",
    "ResponseStream",
    "ResponseTooLarge",
    "RetryPolicy",
    "SchemaV1Manifest",
    "Scope",
    "Session",
    "Sink",
    "Sleep",
    "StreamBody",
    "SyncConfig",
    "SyncFailed",
    "SyncReport",
    "SyncRule",
    "TagFilter",
    "TokenBucket",
    "TooManyRequests",
    "Transport",
    "TransportError",
    "TransportTimeout",
    "Unauthorized",
    "Unsupported",
    "UsageError",
    "Version",
    "VersionRange",
    "default_async_transport",
    "default_transport",
    "header_value",
    "login",
    "logout",
    "media",
    "parse_challenges",
    "parse_link",
    "parse_manifest",
    "redact_url",
    "run_flow",
    "run_flow_async",
    "sync",
    "translate_transport_error",
    "verify_bytes",
]


def __getattr__(name: str) -> object:
    if name == "media":
        from . import _media

        return _media
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(_import_module(module, __name__), name)
    globals()[name] = value  # resolved once
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
