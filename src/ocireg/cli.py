"""The ``ocireg`` command line, on the blocking :class:`~ocireg.Registry`.

Shaped after crane, skopeo and regctl: ``ocireg [options] COMMAND ARGS``, image
references as docker takes them, data (and only data) on stdout, ``--json`` for
machines, one ``ocireg: error: ...`` line on stderr and exit status 1 when an
operation fails, 2 for a usage error.  Credentials come from ``--username`` /
``--password-stdin``, else from the container tools' files
(:class:`~ocireg.DockerConfigStore`); none is ever printed.

Standard library only: the transport is found when a command runs (see
:mod:`ocireg._discovery`), and progress bars use ``tqdm`` only if it is installed
(see :mod:`ocireg._progress`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from . import __version__, _cli_jobs
from ._auth import CredentialProvider, Credentials
from ._client import Registry
from ._credentials import DockerConfigStore, login, logout
from ._discovery import default_transport
from ._driver import DEFAULT_JOBS
from ._endpoints import ManifestResult
from ._errors import InvalidArgument, RegistryError, TransportError, UsageError
from ._files import atomic_write
from ._http import Request, Response, is_loopback_netloc, redact_url
from ._manifest import Descriptor, Manifest, Platform
from ._progress import NullProgress, Progress, open_progress
from ._reference import Reference, api_host, validate_registry
from ._transport import Transport

__all__ = ["main"]

PROG = "ocireg"
DEFAULT_TIMEOUT = 30.0
CONFIG_PLATFORM = Platform(os="linux", architecture="amd64")
"""The platform ``config`` picks from an index when none is given, as crane does."""
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
# Query parameters of presigned blob URLs (S3, GCS, Azure) that work as credentials.


# --- argument values ------------------------------------------------------------------


def _reference(text: str) -> Reference:
    try:
        return Reference.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _digest_reference(text: str) -> Reference:
    ref = _reference(text)
    if ref.digest is None:
        raise argparse.ArgumentTypeError(f"{text!r} names no blob: give REPO@DIGEST")
    return ref


def _platform(text: str) -> Platform:
    try:
        return Platform.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _registry_host(text: str) -> str:
    """A registry host as ``docker login`` takes it: ``host[:port]``, maybe as a URL."""
    host = text.split("://", 1)[1] if "://" in text else text
    host = host.split("/", 1)[0]
    try:
        return validate_registry(host)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


# --- the parser ---------------------------------------------------------------------


def _global_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """Options valid before or after the command name.

    Added to the main parser and to every subparser; the subparsers' copies default
    to SUPPRESS so that an option given before the command is not reset by them.
    """

    def default(value: Any) -> Any:
        return argparse.SUPPRESS if suppress else value

    group = parser.add_argument_group("global options")
    group.add_argument("--json", action="store_true", default=default(False),
                       help="print data as JSON (manifest, config and blob bytes are printed as served)")
    group.add_argument("-q", "--quiet", action="store_true", default=default(False),
                       help="no progress and no messages, only data and errors")
    group.add_argument("--debug", action="store_true", default=default(False),
                       help="log requests (credentials redacted) and print tracebacks on stderr")
    group.add_argument("--transport", metavar="NAME", default=default(None),
                       help="HTTP transport: urllib3, h11, stdlib or another registered one "
                            "(default: urllib3 if installed, else h11, else stdlib)")
    group.add_argument("--insecure", action="store_true", default=default(False),
                       help="allow plain HTTP or unverified TLS for the named registries")
    group.add_argument("--ca-file", metavar="PEM", default=default(None),
                       help="trust the CA certificates in this file")
    group.add_argument("--timeout", type=float, metavar="SECONDS", default=default(DEFAULT_TIMEOUT),
                       help=f"connect and read timeout (default {DEFAULT_TIMEOUT:g})")
    # None when not given, so that a sync config's own `jobs` holds unless overridden.
    group.add_argument("-j", "--jobs", type=_positive_int, metavar="N", default=default(None),
                       help=f"transfers at once: blobs of pull, push and copy; images and their blobs "
                            f"of sync (default {DEFAULT_JOBS}, or a sync config's jobs)")
    group.add_argument("-u", "--username", default=default(None),
                       help="user name (overrides the stored credentials; needs --password-stdin)")
    group.add_argument("--password-stdin", action="store_true", default=default(False),
                       help="read the password (or token) from standard input")


def _jobs(args: argparse.Namespace) -> int:
    jobs: int = args.jobs or DEFAULT_JOBS
    return jobs


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give at least 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="A client for OCI / Docker registries. REF is an image reference as docker "
                    "takes it: alpine, ghcr.io/o/r:tag, localhost:5000/x@sha256:...",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _global_options(parser, suppress=False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        _global_options(sub, suppress=True)
        return sub

    sub = command("tags", "list the tags of a repository, one per line")
    sub.add_argument("repo", metavar="REPO", type=_reference)
    sub = command("catalog", "list the repositories of a registry, one per line")
    sub.add_argument("registry", metavar="REGISTRY", type=_registry_host)
    sub = command("manifest", "print the manifest exactly as served")
    sub.add_argument("ref", metavar="REF", type=_reference)
    sub.add_argument("--platform", type=_platform, help="os/arch[/variant]: a child of an index")
    sub = command("digest", "print the manifest digest")
    sub.add_argument("ref", metavar="REF", type=_reference)
    sub.add_argument("--platform", type=_platform, help="os/arch[/variant]: a child of an index")
    sub = command("config", "print the image config JSON")
    sub.add_argument("ref", metavar="REF", type=_reference)
    sub.add_argument("--platform", type=_platform,
                     help=f"os/arch[/variant] of an index's child (default {CONFIG_PLATFORM})")
    sub = command("blob", "write a blob, streamed and verified, to a file or stdout")
    sub.add_argument("ref", metavar="REPO@DIGEST", type=_digest_reference)
    sub.add_argument("-o", "--output", metavar="FILE", help="write to FILE (atomically) instead of stdout")
    sub = command("pull", "pull an image into an OCI image layout directory")
    sub.add_argument("ref", metavar="REF", type=_reference)
    sub.add_argument("directory", metavar="DIR")
    which = sub.add_mutually_exclusive_group()
    which.add_argument("--platform", type=_platform, help="os/arch[/variant]: pull one child of an index")
    which.add_argument("--all-platforms", action="store_true", help="pull every child of an index (default)")
    _cli_jobs.add_pull_format(sub)
    sub = command("push", "push an image from an OCI image layout directory")
    sub.add_argument("directory", metavar="DIR")
    sub.add_argument("ref", metavar="REF", type=_reference)
    sub.add_argument("--ref-name", help="the image of the layout to push (default: its only one)")
    sub = command("copy", "copy an image between repositories or registries")
    sub.add_argument("src", metavar="SRC", type=_reference)
    sub.add_argument("dst", metavar="DST", type=_reference)
    which = sub.add_mutually_exclusive_group()
    which.add_argument("--platform", type=_platform, action="append",
                       help="os/arch[/variant]; repeat for several (makes a new index)")
    which.add_argument("--all-platforms", action="store_true", help="copy every child (default)")
    sub = command("tag", "give an image another tag in its repository, moving no bytes")
    sub.add_argument("ref", metavar="REF", type=_reference)
    sub.add_argument("new_tag", metavar="NEWTAG")
    sub = command("delete", "delete a manifest (a tag is resolved to its digest first)")
    sub.add_argument("ref", metavar="REF", type=_reference)
    sub = command("referrers", "list the manifests that refer to an image")
    sub.add_argument("ref", metavar="REF", type=_reference)
    sub.add_argument("--artifact-type", help="only referrers of this artifact type")
    sub = command("login", "check and save credentials for a registry in docker's config file")
    sub.add_argument("registry", metavar="REGISTRY", type=_registry_host)
    sub = command("logout", "remove the saved credentials for a registry")
    sub.add_argument("registry", metavar="REGISTRY", type=_registry_host)
    _cli_jobs.add_commands(command)
    return parser


# --- running a command ------------------------------------------------------------------


@dataclass
class _Context:
    """What every command needs: options, output streams, and the transport to close."""

    args: argparse.Namespace
    stdout: IO[bytes]
    stderr: IO[str]
    credentials: Credentials | None
    progress: Progress = field(default_factory=NullProgress)
    transport: Transport | None = None
    registries: dict[str, Registry] = field(default_factory=dict)

    def emit(self, text: str) -> None:
        self.stdout.write(text.encode("utf-8"))

    def emit_json(self, value: object) -> None:
        self.emit(json.dumps(value, indent=2, ensure_ascii=False) + "\n")

    def lines(self, items: Sequence[str] | Iterator[str]) -> None:
        for item in items:
            self.emit(item + "\n")

    def say(self, text: str) -> None:
        """A message for the person at the terminal (not data): stderr, unless --quiet."""
        if not self.args.quiet:
            self.stderr.write(text + "\n")

    def open_transport(self) -> Transport:
        if self.transport is None:
            inner = _make_transport(self.args)
            self.transport = _LoggingTransport(inner, self.stderr) if self.args.debug else inner
        return self.transport

    def registry(self, host: str) -> Registry:
        """One client per registry host for the whole command, sharing one transport."""
        host = api_host(host)
        if host not in self.registries:
            self.registries[host] = self._open(host)
        return self.registries[host]

    def _open(self, host: str) -> Registry:
        credentials: Credentials | CredentialProvider = self.credentials or DockerConfigStore()
        transport = self.open_transport()

        def client(url: str) -> Registry:
            return Registry(url, credentials=credentials, transport=transport,
                            insecure=self.args.insecure, progress=self.progress, jobs=_jobs(self.args))

        if not self.args.insecure or is_loopback_netloc(host):
            return client(host)  # https, or plain HTTP on loopback (as crane does)
        # --insecure: unverified TLS if the registry speaks it, else plain HTTP.
        secure = client(f"https://{host}")
        try:
            secure.ping()
        except TransportError:
            return client(f"http://{host}")
        except RegistryError:
            pass  # it answered over TLS (maybe refusing us): the command will report it
        return secure

    def close(self) -> None:
        self.progress.close()
        if self.transport is not None:
            self.transport.close()


def _make_transport(args: argparse.Namespace) -> Transport:
    options: dict[str, Any] = {
        "open_timeout": args.timeout, "read_timeout": args.timeout,
        "ca_file": args.ca_file, "insecure": args.insecure,
    }
    try:
        return default_transport(args.transport, pool_size=_jobs(args), **options)
    except UsageError as exc:  # an unknown or uninstalled --transport
        raise _Usage(str(exc)) from None


class _LoggingTransport:
    """``--debug``: each request and answer on stderr, with credentials redacted."""

    def __init__(self, inner: Transport, stream: IO[str]) -> None:
        self.inner = inner
        self.stream = stream

    def send(self, request: Request, /) -> Response:
        self._log(f"> {request.method} {redact_url(request.url)}", request.headers)
        response = self.inner.send(request)
        self._log(f"< {response.status} {request.method} {redact_url(request.url)}", response.headers)
        return response

    def close(self) -> None:
        self.inner.close()

    def _log(self, line: str, headers: Sequence[tuple[str, str]]) -> None:
        shown = [line]
        for name, value in headers:
            if name.lower() in _SECRET_HEADERS:
                value = "<redacted>"
            elif name.lower() == "location":
                value = redact_url(value)
            shown.append(f"    {name}: {value}")
        self.stream.write("\n".join(shown) + "\n")
        self.stream.flush()


def _explicit_credentials(args: argparse.Namespace, stdin: IO[str]) -> Credentials | None:
    if args.username is None and not args.password_stdin:
        return None
    if args.username is None or not args.password_stdin:
        raise _Usage("--username and --password-stdin go together")
    password = stdin.read()
    # As docker does: the newline that ends the line typed or echoed is not part of it.
    password = password.removesuffix("\n").removesuffix("\r")
    if not password:
        raise _Usage("--password-stdin: standard input holds no password")
    try:
        return Credentials(username=args.username, password=password)
    except ValueError as exc:
        raise _Usage(str(exc)) from None


class _Usage(Exception):
    """A usage error found after parsing: reported by argparse, exit status 2."""


# --- the commands ----------------------------------------------------------------------


def _tags(ctx: _Context) -> str:
    ref: Reference = ctx.args.repo
    if ref.tag is not None or ref.digest is not None:
        raise InvalidArgument(f"{ref.familiar}: tags takes a repository, without a tag or digest")
    listing = ctx.registry(ref.api_host).tags(ref.repository, auto_paginate=True)
    if ctx.args.json:
        ctx.emit_json({"name": listing.name or ref.repository, "tags": list(listing.tags)})
    else:
        ctx.lines(listing.tags)
    return f"tags {ref.familiar}"


def _catalog(ctx: _Context) -> str:
    registry = ctx.registry(ctx.args.registry)
    if ctx.args.json:
        ctx.emit_json({"repositories": list(registry.iter_catalog())})
    else:
        ctx.lines(registry.iter_catalog())
    return f"catalog {ctx.args.registry}"


def _resolved(ctx: _Context, ref: Reference, platform: Platform | None) -> tuple[Registry, ManifestResult]:
    """The manifest ``ref`` names, or the child of its index that ``platform`` picks."""
    registry = ctx.registry(ref.api_host)
    return registry, registry.manifest(ref.repository, ref.target, platform=platform)


def _manifest(ctx: _Context) -> str:
    ref: Reference = ctx.args.ref
    _, result = _resolved(ctx, ref, ctx.args.platform)
    ctx.stdout.write(result.body)
    return f"manifest {ref.familiar}"


def _digest_command(ctx: _Context) -> str:
    ref: Reference = ctx.args.ref
    platform: Platform | None = ctx.args.platform
    registry = ctx.registry(ref.api_host)
    target = ref.target
    if platform is None:
        digest = registry.manifest_digest(ref.repository, target)
    else:
        digest = registry.digest(ref.repository, target, architecture=platform.architecture,
                                 os=platform.os, variant=platform.variant)
    if ctx.args.json:
        ctx.emit_json({"reference": str(ref), "digest": str(digest)})
    else:
        ctx.emit(f"{digest}\n")
    return f"digest {ref.familiar}"


def _config(ctx: _Context) -> str:
    ref: Reference = ctx.args.ref
    registry, result = _resolved(ctx, ref, ctx.args.platform or CONFIG_PLATFORM)
    if not isinstance(result.document, Manifest):
        raise InvalidArgument(f"{ref.familiar} is a {result.media_type}, which has no image config")
    config = result.document.config
    data = registry.blob(ref.repository, config.digest, max_memory=registry.session.limits.manifest)
    assert isinstance(data, bytes)  # no outpath: the bytes themselves
    ctx.stdout.write(data)
    return f"config {ref.familiar}"


def _blob(ctx: _Context) -> str:
    ref: Reference = ctx.args.ref
    digest = ref.digest
    assert digest is not None  # _digest_reference demands one
    registry = ctx.registry(ref.api_host)
    # The size makes a bar with an end; asking for it costs a HEAD, so only for a bar.
    size = None if isinstance(ctx.progress, NullProgress) else registry.blob_size(ref.repository, digest)
    chunks = registry.iter_blob(ref.repository, digest, size)
    if ctx.args.output:
        atomic_write(ctx.args.output, chunks)  # iter_blob verifies digest and size already
    else:
        for chunk in chunks:
            ctx.stdout.write(chunk)
    return f"blob {ref.familiar}"


def _pull(ctx: _Context) -> str:
    if ctx.args.format != "oci":
        return _cli_jobs.pull_archive(ctx)
    ref: Reference = ctx.args.ref
    registry = ctx.registry(ref.api_host)
    result = registry.pull(ref.repository, ref.target, ctx.args.directory,
                           platform=ctx.args.platform)
    if ctx.args.json:
        ctx.emit_json({
            "reference": str(ref), "layout": str(result.layout), "descriptor": result.descriptor.to_json(),
            "blobsFetched": result.blobs_fetched, "blobsReused": result.blobs_reused,
        })
    else:
        ctx.emit(f"{result.descriptor.digest}\n")
    return f"pull {ref.familiar}"


def _push(ctx: _Context) -> str:
    ref: Reference = ctx.args.ref
    directory: str = ctx.args.directory
    source = _cli_jobs.push_source(directory)  # a layout directory, or a docker or OCI archive
    registry = ctx.registry(ref.api_host)
    descriptor = registry.push(source, ref.repository, ref.tag, ref_name=ctx.args.ref_name)
    if ref.digest is not None and ref.digest != descriptor.digest:
        raise InvalidArgument(f"the layout's image is {descriptor.digest}, not {ref.digest}")
    _print_descriptor(ctx, ref, descriptor)
    return f"push {directory} to {ref.familiar}"


def _copy(ctx: _Context) -> str:
    src: Reference = ctx.args.src
    dst: Reference = ctx.args.dst
    source = ctx.registry(src.api_host)
    dest = ctx.registry(dst.api_host)
    # As docker reads a destination: no tag and no digest means "latest".
    dest_tag = dst.tag if dst.tag is not None or dst.digest is not None else "latest"
    result = source.copy(src.repository, src.target, dest, dst.repository, dest_tag,
                         platforms=ctx.args.platform)
    if dst.digest is not None and dst.digest != result.descriptor.digest:
        raise InvalidArgument(
            f"the copy's digest is {result.descriptor.digest}, not {dst.digest} as the destination names"
        )
    _print_descriptor(ctx, Reference(dst.registry, dst.repository, dest_tag), result.descriptor)
    return f"copy {src.familiar} to {dst.familiar}"


def _tag(ctx: _Context) -> str:
    ref: Reference = ctx.args.ref
    try:
        new = ref.with_tag(ctx.args.new_tag)
    except ValueError as exc:
        raise _Usage(f"argument NEWTAG: {exc}") from None
    registry = ctx.registry(ref.api_host)
    digest = registry.tag(ref.repository, ref.target, ref.repository, ctx.args.new_tag)
    new = Reference(new.registry, new.repository, new.tag, digest)
    if ctx.args.json:
        ctx.emit_json({"reference": str(new), "digest": str(digest)})
    else:
        ctx.emit(f"{new.familiar}\n")
    return f"tag {ref.familiar} as {ctx.args.new_tag}"


def _delete(ctx: _Context) -> str:
    ref: Reference = ctx.args.ref
    registry = ctx.registry(ref.api_host)
    digest = registry.delete_manifest(ref.repository, ref.target)
    if ctx.args.json:
        ctx.emit_json({"deleted": str(Reference(ref.registry, ref.repository, None, digest)),
                       "digest": str(digest)})
    else:
        ctx.emit(f"{digest}\n")
    return f"delete {ref.familiar}"


def _referrers(ctx: _Context) -> str:
    ref: Reference = ctx.args.ref
    registry = ctx.registry(ref.api_host)
    digest = ref.digest or registry.manifest_digest(ref.repository, ref.target)
    found = registry.referrers(ref.repository, digest, ctx.args.artifact_type)
    if ctx.args.json:
        ctx.emit_json({"subject": str(Reference(ref.registry, ref.repository, None, digest)),
                       "manifests": [d.to_json() for d in found]})
    else:
        ctx.lines(f"{d.digest}\t{d.artifact_type or '-'}\t{d.media_type}" for d in found)
    return f"referrers {ref.familiar}"


def _login(ctx: _Context) -> str:
    host: str = ctx.args.registry
    if ctx.credentials is None:
        raise _Usage("login needs --username and --password-stdin")
    # As docker login does: the credentials must work before they are saved.
    ctx.registry(host).ping()
    assert ctx.credentials.username is not None and ctx.credentials.password is not None
    path = login(host, ctx.credentials.username, ctx.credentials.password)
    ctx.say(f"Login succeeded (credentials saved for {host} via {path})")
    return f"login {host}"


def _logout(ctx: _Context) -> str:
    host: str = ctx.args.registry
    if logout(host):
        ctx.say(f"Removed login credentials for {host}")
    else:
        ctx.say(f"Not logged in to {host}")
    return f"logout {host}"


def _print_descriptor(ctx: _Context, ref: Reference, descriptor: Descriptor) -> None:
    pinned = Reference(ref.registry, ref.repository, ref.tag, descriptor.digest)
    if ctx.args.json:
        ctx.emit_json({"reference": str(pinned), **descriptor.to_json()})
    else:
        ctx.emit(f"{pinned.familiar}\n")


_COMMANDS: dict[str, Callable[[_Context], str]] = {
    "tags": _tags,
    "catalog": _catalog,
    "manifest": _manifest,
    "digest": _digest_command,
    "config": _config,
    "blob": _blob,
    "pull": _pull,
    "push": _push,
    "copy": _copy,
    "tag": _tag,
    "delete": _delete,
    "referrers": _referrers,
    "login": _login,
    "logout": _logout,
    **_cli_jobs.COMMANDS,
}


def _subject(args: argparse.Namespace) -> str:
    """What the command was working on, for an error line that fails before it says."""
    for name in ("ref", "repo", "src", "registry"):
        value = getattr(args, name, None)
        if isinstance(value, Reference):
            return f"{args.command} {value.familiar}"
        if isinstance(value, str):
            return f"{args.command} {value}"
    return str(args.command)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``ocireg`` with ``argv`` (default: the process arguments); return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    stderr = sys.stderr
    try:
        credentials = _explicit_credentials(args, sys.stdin)
    except _Usage as exc:
        parser.error(str(exc))
    stdout = sys.stdout.buffer
    ctx = _Context(args, stdout, stderr, credentials)
    if args.command in ("pull", "push", "copy", "blob"):
        ctx.progress = open_progress(stderr, quiet=args.quiet)
    try:
        _COMMANDS[args.command](ctx)
        stdout.flush()
    except _Usage as exc:
        ctx.close()
        parser.error(str(exc))
    except (RegistryError, OSError) as exc:
        ctx.close()
        if isinstance(exc, BrokenPipeError):
            # The reader went away (ocireg tags x | head): not an error of ours.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            return 1
        if args.debug:
            traceback.print_exception(exc, file=stderr)
        message = str(exc) if isinstance(exc, RegistryError) else _os_error(exc)
        stderr.write(f"{PROG}: error: {_one_line(f'{_subject(args)}: {message}')}\n")
        stderr.flush()
        return 1
    except KeyboardInterrupt:
        ctx.close()
        stderr.write(f"{PROG}: interrupted\n")
        return 130
    ctx.close()
    return 0


def _os_error(exc: OSError) -> str:
    where = f"{exc.filename}: " if exc.filename else ""
    return f"{where}{exc.strerror or exc}"
