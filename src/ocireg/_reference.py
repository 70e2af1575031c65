"""Image references: ``[registry/]repository[:tag][@digest]``.

The grammar and the Docker Hub normalisation follow docker/distribution's
``reference`` package (``regexp.go``, ``normalize.go``), so a string means here
what it means to ``docker pull``, crane or skopeo::

    reference        := name [ ":" tag ] [ "@" digest ]
    name             := [ domain "/" ] path-component *( "/" path-component )
    domain           := host [ ":" port ]
    host             := domain-name | "[" IPv6 "]"
    domain-name      := label *( "." label )      label := alnum [ *( alnum | "-" ) alnum ]
    path-component   := alnum+ *( separator alnum+ )   alnum := [a-z0-9]
    separator        := "." | "_" | "__" | "-"+
    tag              := [A-Za-z0-9_] [A-Za-z0-9_.-]{0,127}

The first component names a registry only if it contains ``.`` or ``:``, is
``localhost``, or has an upper-case letter (repository paths cannot); otherwise
the registry is Docker Hub, ``docker.io``, where one-component names live under
``library/``.  The repository path (after ``library/`` is added) is at most 255
characters; the registry does not count, as in distribution/reference.

Digests are restricted to what :class:`~ocireg._digest.Digest` accepts (sha256,
sha512), since anything else could not be verified.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from ._digest import Digest
from ._errors import InvalidDigest, InvalidReference

__all__ = [
    "DOCKER_HUB",
    "DOCKER_HUB_API_HOST",
    "NAME_TOTAL_LENGTH_MAX",
    "Reference",
    "api_host",
    "validate_registry",
    "validate_repository",
    "validate_tag",
]

DOCKER_HUB = "docker.io"
"""The registry name references use for Docker Hub."""
DOCKER_HUB_API_HOST = "registry-1.docker.io"
"""Where Docker Hub's registry API actually answers."""
_LEGACY_DOCKER_HUB = "index.docker.io"
_OFFICIAL_PREFIX = "library/"
NAME_TOTAL_LENGTH_MAX = 255
# name + ":" + tag + "@" + a sha512 digest fits with room to spare; longer input is
# refused before any scanning.
_TEXT_MAX = 1024

_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", re.ASCII)
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_DOMAIN = re.compile(rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[A-Fa-f0-9:]+\])(?::[0-9]+)?", re.ASCII)
# A bare 64-hex string is an image ID, not a reference: docker refuses to read it
# as one so that the two can never be confused, and so do we.
_IMAGE_ID = re.compile(r"[a-f0-9]{64}")


def api_host(registry: str) -> str:
    """Where a registry name's API answers: Docker Hub's names map to its API host."""
    return DOCKER_HUB_API_HOST if registry in (DOCKER_HUB, _LEGACY_DOCKER_HUB) else registry


def _fail(message: str, text: str, position: int) -> InvalidReference:
    return InvalidReference(f"{message} at position {position} in {text[:300]!r}", text, position)


def _check_path(text: str, start: int, end: int) -> None:
    """Check ``text[start:end]`` is a repository path; errors carry the position."""
    if start == end:
        raise _fail("empty repository name", text, start)
    i = start
    while True:  # one path-component per iteration
        if i >= end or text[i] not in _ALNUM:
            raise _fail(_expected_alnum(text, i, end), text, i)
        while True:  # alnum+ (separator alnum+)*
            while i < end and text[i] in _ALNUM:
                i += 1
            if i == end or text[i] == "/":
                break
            c = text[i]
            if c == ".":
                i += 1
            elif c == "_":
                i += 2 if i + 1 < end and text[i + 1] == "_" else 1
            elif c == "-":
                while i < end and text[i] == "-":
                    i += 1
            else:
                raise _fail(_unexpected(c), text, i)
            if i >= end or text[i] not in _ALNUM:
                raise _fail(_expected_alnum(text, i, end), text, i)
        if i == end:
            return
        i += 1  # the "/"


def _expected_alnum(text: str, i: int, end: int) -> str:
    if i >= end:
        return "repository component ends without a letter or digit"
    c = text[i]
    if c.isupper():
        return "repository name must be lower-case"
    return f"expected a lower-case letter or digit, got {c!r}"


def _unexpected(c: str) -> str:
    if c.isupper():
        return "repository name must be lower-case"
    return f"unexpected character {c!r} in repository name"


def validate_repository(name: str) -> str:
    """Return ``name`` if it is a valid repository path, else raise InvalidReference."""
    if not isinstance(name, str):
        raise InvalidReference(f"repository must be a string, got {type(name).__name__}")
    _check_path(name, 0, len(name))
    if len(name) > NAME_TOTAL_LENGTH_MAX:
        raise InvalidReference(
            f"repository name is {len(name)} characters, over {NAME_TOTAL_LENGTH_MAX}", name
        )
    return name


def validate_tag(tag: str) -> str:
    """Return ``tag`` if it is a valid tag, else raise InvalidReference."""
    if not isinstance(tag, str):
        raise InvalidReference(f"tag must be a string, got {type(tag).__name__}")
    _check_tag(tag, 0, len(tag))
    return tag


def _check_tag(text: str, start: int, end: int) -> None:
    m = _TAG.match(text, start, end)
    if m is None:
        raise _fail("empty tag" if start == end else "invalid tag", text, start)
    if m.end() != end:
        long = m.end() - start == 128
        raise _fail("tag is longer than 128 characters" if long else "invalid tag", text, m.end())


def validate_registry(host: str) -> str:
    """Return ``host`` (``name[:port]``) if it is a valid registry, else raise."""
    if not isinstance(host, str):
        raise InvalidReference(f"registry must be a string, got {type(host).__name__}")
    _check_domain(host, 0, len(host))
    return host


def _check_domain(text: str, start: int, end: int) -> None:
    if _DOMAIN.fullmatch(text, start, end) is None:
        raise _fail("invalid registry host", text, start)


@dataclass(frozen=True)
class Reference:
    """A parsed image reference, normalised as Docker does; validated when built.

    Built directly, the fields are normalised too: ``index.docker.io`` becomes
    ``docker.io`` and ``docker.io`` one-component names gain ``library/``, so equal
    images compare equal however they were written.
    """

    registry: str
    repository: str
    tag: str | None = None
    digest: Digest | None = None

    def __post_init__(self) -> None:
        validate_registry(self.registry)
        if not _reads_as_registry(self.registry):
            # "myhost/app" would read back as docker.io/myhost/app: refuse a value
            # whose string form means something else.
            raise InvalidReference(
                f"{self.registry!r} would be read as a repository component: a registry "
                "needs a '.' or a ':port', or must be 'localhost'",
                self.registry,
            )
        validate_repository(self.repository)
        if self.tag is not None:
            validate_tag(self.tag)
        if self.digest is not None and not isinstance(self.digest, Digest):
            raise InvalidReference(f"digest must be a Digest, got {type(self.digest).__name__}")
        registry, repository = _normalise(self.registry, self.repository)
        # library/ may have made the path too long: measured after normalisation.
        validate_repository(repository)
        # Frozen: normalising in place is the only way to keep construction canonical.
        object.__setattr__(self, "registry", registry)
        object.__setattr__(self, "repository", repository)

    @classmethod
    def parse(cls, text: str) -> Reference:
        """Parse a reference such as ``alpine``, ``ghcr.io/o/r:v1`` or ``r@sha256:...``."""
        if not isinstance(text, str):
            raise InvalidReference(f"reference must be a string, got {type(text).__name__}")
        if len(text) > _TEXT_MAX:
            raise InvalidReference(
                f"reference is {len(text)} characters, over {_TEXT_MAX}", text[:300]
            )
        end = len(text)
        digest: Digest | None = None
        at = text.find("@")
        if at != -1:
            try:
                digest = Digest.parse(text[at + 1 :])
            except InvalidDigest as exc:
                raise _fail(f"invalid digest ({exc})", text, at + 1) from None
            end = at
        # The tag follows the last ":" after the last "/": an earlier ":" is a port.
        tag: str | None = None
        colon = text.rfind(":", 0, end)
        if colon > text.rfind("/", 0, end):
            _check_tag(text, colon + 1, end)
            tag = text[colon + 1 : end]
            end = colon
        if end == 0:
            raise _fail("empty repository name", text, 0)
        slash = text.find("/", 0, end)
        first = text[:slash] if slash != -1 else ""
        if slash != -1 and _reads_as_registry(first):
            _check_domain(text, 0, slash)
            registry, path_start = first, slash + 1
        else:
            registry, path_start = DOCKER_HUB, 0
        _check_path(text, path_start, end)
        if _IMAGE_ID.fullmatch(text):
            raise _fail("a 64-character hex string is an image ID, not a reference", text, 0)
        return cls(registry, text[path_start:end], tag, digest)

    @property
    def name(self) -> str:
        """``registry/repository``."""
        return f"{self.registry}/{self.repository}"

    @property
    def api_host(self) -> str:
        """The host (and port) that serves the registry API for this reference."""
        return api_host(self.registry)

    @property
    def target(self) -> str:
        """What to put after ``/manifests/``: the digest if pinned, else the tag."""
        if self.digest is not None:
            return str(self.digest)
        return self.tag if self.tag is not None else "latest"

    def __str__(self) -> str:
        out = self.name
        if self.tag is not None:
            out += f":{self.tag}"
        if self.digest is not None:
            out += f"@{self.digest}"
        return out

    @property
    def familiar(self) -> str:
        """The short form Docker prints: ``alpine:3.19``, ``user/app``, ``ghcr.io/o/r:v1``."""
        first = self.repository.split("/", 1)[0]
        # docker.io/localhost/app or docker.io/a.b/c must keep the registry: the
        # short form would name a different registry.
        if self.registry == DOCKER_HUB and not _reads_as_registry(first):
            name = self.repository
            if name.startswith(_OFFICIAL_PREFIX) and name.count("/") == 1:
                name = name[len(_OFFICIAL_PREFIX) :]
        else:
            name = self.name
        if self.tag is not None:
            name += f":{self.tag}"
        if self.digest is not None:
            name += f"@{self.digest}"
        return name

    def with_tag(self, tag: str) -> Reference:
        """The same repository with ``tag``; a digest, if any, is kept (as Docker does)."""
        return replace(self, tag=tag)

    def with_digest(self, digest: Digest) -> Reference:
        """The same repository pinned to ``digest``; a tag, if any, is kept."""
        return replace(self, digest=digest)


def _reads_as_registry(first: str) -> bool:
    """Docker's rule for whether the first component of a name is a registry."""
    return "." in first or ":" in first or first == "localhost" or first.lower() != first


def _normalise(registry: str, repository: str) -> tuple[str, str]:
    if registry == _LEGACY_DOCKER_HUB:
        registry = DOCKER_HUB
    if registry == DOCKER_HUB and "/" not in repository:
        repository = _OFFICIAL_PREFIX + repository
    return registry, repository
