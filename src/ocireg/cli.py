"""The ``ocireg`` command line, on the blocking :class:`~ocireg.Registry`.

Shaped after crane, skopeo and regctl: ``ocireg [options] COMMAND ARGS``, image
references as docker takes them, data (and only data) on stdout, ``--json`` for
machines, one ``ocireg: error: ...`` line on stderr and exit status 1 when an
operation fails, 2 for a usage error.  Credentials come from ``--username`` /
``--password-stdin``, else from the container tools' files
(:class:`~ocireg.DockerConfigStore`); none is ever printed, except by
``auth get``, whose purpose it is.  containers' ``registries.conf`` applies
(mirrors, location rewrites, insecure and blocked registries, short names), see
:mod:`ocireg._regconf`.

Protocol decisions live in the core; this module parses arguments, opens one
client per registry host, and prints.  Standard library only: the transport is
found when a command runs (see :mod:`ocireg._discovery`), progress bars use
``tqdm`` and completion uses ``argcomplete`` only if they are installed.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import math
import os
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, BinaryIO, NoReturn, cast

from . import __version__, _cli_jobs
from ._auth import CredentialProvider, Credentials
from ._client import Registry
from ._credentials import DockerConfigStore, login, logout
from ._discovery import default_transport
from ._driver import DEFAULT_JOBS, run_flow
from ._endpoints import ManifestResult
from ._errors import InvalidArgument, RegistryError, UsageError
from ._explain import explain
from ._files import atomic_output
from ._flow import Flow, call
from ._http import Request, Response, redact_url
from ._inspect import render_view
from ._manifest import Descriptor, Manifest, Platform
from ._progress import NullProgress, Progress, open_progress
from ._reference import Reference, api_host, validate_registry
from ._regconf import PullSource, RegistryConfig, first_available
from ._transport import Transport

__all__ = ["build_parser", "main"]

PROG = "ocireg"
DEFAULT_TIMEOUT = 30.0
CONFIG_PLATFORM = Platform(os="linux", architecture="amd64")
"""The platform ``config`` picks from an index when none is given, as crane does."""
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
_SHELLS = ("bash", "zsh", "fish")
_PROGRESS_COMMANDS = frozenset({"pull", "push", "copy", "blob", "export", "validate"})


# --- argument values ------------------------------------------------------------------


@dataclass(frozen=True)
class RefArg:
    """A reference as typed (short names are resolved with registries.conf) and parsed."""

    text: str
    ref: Reference

    @property
    def familiar(self) -> str:
        return self.ref.familiar


def _reference(text: str) -> RefArg:
    try:
        return RefArg(text, Reference.parse(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _digest_reference(text: str) -> RefArg:
    arg = _reference(text)
    if arg.ref.digest is None:
        raise argparse.ArgumentTypeError(f"{text!r} names no blob: give REPO@DIGEST")
    return arg


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


def _timeout(text: str) -> float:
    """Seconds: a finite number above zero (0, negative, inf and nan are refused)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: give a number of seconds above zero")
    return value


# --- the parser ---------------------------------------------------------------------

_EXAMPLES: dict[str, str] = {
    "tags": "ocireg tags ghcr.io/owner/app\nocireg --json tags localhost:5000/team/app",
    "catalog": "ocireg catalog localhost:5000",
    "manifest": "ocireg manifest alpine:3.19\nocireg manifest --platform linux/arm64 alpine:3.19",
    "digest": "ocireg digest alpine:3.19\nocireg digest --platform linux/arm64 alpine:3.19",
    "config": "ocireg config --platform linux/amd64 alpine:3.19 | jq .config",
    "blob": "ocireg blob localhost:5000/app@sha256:... -o layer.tar.gz",
    "inspect": "ocireg inspect alpine:3.19\nocireg --json inspect --platform linux/arm64 alpine:3.19\n"
               "ocireg inspect --raw localhost:5000/app:1.0",
    "pull": "ocireg pull alpine:3.19 ./alpine\nocireg pull --platform linux/arm64 alpine:3.19 ./alpine-arm64\n"
            "ocireg pull --format docker-archive alpine:3.19 alpine.tar",
    "push": "ocireg push ./alpine localhost:5000/alpine:3.19\nocireg push alpine.tar localhost:5000/alpine:3.19",
    "copy": "ocireg copy alpine:3.19 localhost:5000/mirror/alpine:3.19\n"
            "ocireg copy --platform linux/amd64 alpine:3.19 localhost:5000/alpine:amd64",
    "tag": "ocireg tag localhost:5000/app:1.0 stable\nocireg tag delete localhost:5000/app:old",
    "delete": "ocireg delete localhost:5000/app:old\nocireg delete --force localhost:5000/app@sha256:...",
    "referrers": "ocireg referrers localhost:5000/app:1.0 --artifact-type application/spdx+json",
    "export": "ocireg export alpine:3.19 -o rootfs.tar\nocireg export --platform linux/arm64 alpine:3.19 | tar -t",
    "validate": "ocireg validate alpine:3.19\nocireg validate --platform linux/amd64 localhost:5000/app:1.0",
    "login": 'echo "$TOKEN" | ocireg login ghcr.io -u me --password-stdin',
    "logout": "ocireg logout ghcr.io",
    "auth": "ocireg auth get ghcr.io\necho ghcr.io | ocireg auth get   # as a docker credential helper",
    "sync": "ocireg sync mirror.toml --dry-run\n"
            "ocireg -j 8 sync --from ghcr.io/org/app --to localhost:5000/app --semver '^1'",
    "artifact": "ocireg artifact push localhost:5000/app/sbom:1.0 sbom.json:application/spdx+json\n"
                "ocireg artifact pull localhost:5000/app/sbom:1.0 -o out/",
    "completion": "ocireg completion bash > /etc/bash_completion.d/ocireg\n"
                  "ocireg completion zsh > ~/.zfunc/_ocireg\n"
                  "ocireg completion fish > ~/.config/fish/completions/ocireg.fish",
}


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
                       help="allow plain HTTP and unverified TLS for every registry")
    group.add_argument("--ca-file", metavar="PEM", default=default(None),
                       help="trust the CA certificates in this file (https, localhost included)")
    group.add_argument("--timeout", type=_timeout, metavar="SECONDS", default=default(DEFAULT_TIMEOUT),
                       help=f"connect and read timeout, above zero (default {DEFAULT_TIMEOUT:g})")
    # None when not given, so that a sync config's own `jobs` holds unless overridden.
    group.add_argument("-j", "--jobs", type=_positive_int, metavar="N", default=default(None),
                       help=f"transfers at once: blobs of pull, push, copy and validate; images and their "
                            f"blobs of sync (default {DEFAULT_JOBS}, or a sync config's jobs)")
    group.add_argument("--registries-conf", metavar="FILE", default=default(None),
                       help="containers registries.conf to use (default: $CONTAINERS_REGISTRIES_CONF, "
                            "~/.config/containers/registries.conf, /etc/containers/registries.conf)")
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


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error in one line (exit 2) like every other failure."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{PROG}: error: {_one_line(message)} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="A client for OCI / Docker registries. REF is an image reference as docker "
                    "takes it: alpine, ghcr.io/o/r:tag, localhost:5000/x@sha256:...",
        epilog="Run 'ocireg COMMAND --help' for a command's arguments and examples.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _global_options(parser, suppress=False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, help_text: str, description: str = "") -> argparse.ArgumentParser:
        sub = commands.add_parser(
            name, help=help_text, description=f"{help_text}.{' ' + description if description else ''}",
            epilog="examples:\n" + "\n".join(f"  {line}" for line in _EXAMPLES[name].splitlines()),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        _global_options(sub, suppress=True)
        return sub

    def ref_arg(sub: argparse.ArgumentParser, help_text: str = "the image: REPO[:TAG][@DIGEST]") -> None:
        sub.add_argument("ref", metavar="REF", type=_reference, help=help_text)

    def platform_arg(sub: argparse.ArgumentParser, help_text: str) -> None:
        sub.add_argument("--platform", type=_platform, metavar="OS/ARCH[/VARIANT]", help=help_text)

    sub = command("tags", "list the tags of a repository, one per line")
    sub.add_argument("repo", metavar="REPO", type=_reference, help="the repository, without tag or digest")
    sub = command("catalog", "list the repositories of a registry, one per line")
    sub.add_argument("registry", metavar="REGISTRY", type=_registry_host, help="host[:port]")
    sub = command("manifest", "print the manifest exactly as served")
    ref_arg(sub)
    platform_arg(sub, "print this platform's manifest from an index")
    sub = command("digest", "print the manifest digest")
    ref_arg(sub)
    platform_arg(sub, "the digest of this platform's manifest in an index")
    sub = command("config", "print the image config JSON")
    ref_arg(sub)
    platform_arg(sub, f"the platform's config from an index (default {CONFIG_PLATFORM})")
    sub = command("blob", "write a blob, streamed and verified, to a file or stdout")
    sub.add_argument("ref", metavar="REPO@DIGEST", type=_digest_reference, help="the repository and blob digest")
    sub.add_argument("-o", "--output", metavar="FILE", help="write to FILE (atomically) instead of stdout")
    sub = command("inspect", "show an image: digest, tags, platform, config, layers",
                  "An index lists its platforms unless --platform picks one. --json uses skopeo's field names.")
    ref_arg(sub)
    platform_arg(sub, "inspect this platform's image in an index")
    shown = sub.add_mutually_exclusive_group()
    shown.add_argument("--raw", action="store_true", help="print the manifest as served")
    shown.add_argument("--config", action="store_true", help="print the image config as stored")
    sub.add_argument("--no-tags", action="store_true", help="do not list the repository's tags")
    sub = command("pull", "pull an image into an OCI image layout directory")
    ref_arg(sub)
    sub.add_argument("directory", metavar="DIR", help="the layout directory (created if missing)")
    which = sub.add_mutually_exclusive_group()
    which.add_argument("--platform", type=_platform, metavar="OS/ARCH[/VARIANT]",
                       help="pull one child of an index")
    which.add_argument("--all-platforms", action="store_true", help="pull every child of an index (default)")
    _cli_jobs.add_pull_format(sub)
    sub = command("push", "push an image from an OCI image layout directory or an archive")
    sub.add_argument("directory", metavar="DIR|FILE.tar",
                     help="an OCI image layout directory, or a docker or OCI archive")
    ref_arg(sub, "where to push: REPO[:TAG]")
    sub.add_argument("--ref-name", help="the image of the layout to push (default: its only one)")
    sub = command("copy", "copy an image between repositories or registries",
                  "With one --platform the platform's own manifest is copied, its digest kept; with "
                  "several, a new index of those platforms is made (a new digest).")
    sub.add_argument("src", metavar="SRC", type=_reference, help="the image to copy")
    sub.add_argument("dst", metavar="DST", type=_reference, help="where to copy it (tag default: latest)")
    which = sub.add_mutually_exclusive_group()
    which.add_argument("--platform", type=_platform, action="append", metavar="OS/ARCH[/VARIANT]",
                       help="copy only this platform of an index; repeat for several")
    which.add_argument("--all-platforms", action="store_true", help="copy every child (default)")
    sub = command("tag", "give an image another tag, moving no bytes; or delete one tag",
                  "'ocireg tag delete REF:TAG' removes that tag only, and leaves the image under "
                  "its other tags (DELETE by tag where the registry supports it, else a throwaway "
                  "manifest is put under the tag and deleted).")
    sub.add_argument("ref", metavar="REF|delete", help="the image to tag, or 'delete'")
    sub.add_argument("new_tag", metavar="NEWTAG|REF:TAG", help="the new tag, or the tag to delete")
    sub = command("delete", "delete a manifest",
                  "A tag is resolved to its manifest, which is deleted with every tag on it: "
                  "refused when other tags point to it, unless --force. To remove one tag, "
                  "use 'ocireg tag delete'.")
    ref_arg(sub, "REPO:TAG or REPO@DIGEST")
    sub.add_argument("--force", action="store_true", help="delete even when other tags point to the manifest")
    sub = command("referrers", "list the manifests that refer to an image")
    ref_arg(sub)
    sub.add_argument("--artifact-type", help="only referrers of this artifact type")
    sub = command("export", "write the image's flattened filesystem as a tar",
                  "Layers are applied in order with their whiteouts and opaque directories; paths "
                  "escaping the root are refused. Streamed: memory stays flat.")
    ref_arg(sub)
    platform_arg(sub, "the platform to export from an index (needed for an index)")
    sub.add_argument("-o", "--output", metavar="FILE", help="write to FILE (atomically) instead of stdout")
    sub = command("validate", "fetch an image whole and check every digest, size and diff_id")
    ref_arg(sub)
    platform_arg(sub, "check only this platform of an index (default: all)")
    sub = command("login", "check and save credentials for a registry in docker's config file")
    sub.add_argument("registry", metavar="REGISTRY", type=_registry_host, help="host[:port]")
    sub = command("logout", "remove the saved credentials for a registry")
    sub.add_argument("registry", metavar="REGISTRY", type=_registry_host, help="host[:port]")
    sub = command("auth", "print the credentials a registry would get, as a docker credential helper does",
                  "Prints {\"Username\": ..., \"Secret\": ...}: the secret itself, for other tools.")
    sub.add_argument("action", choices=("get",), help="get")
    sub.add_argument("registry", metavar="REGISTRY", type=_registry_host, nargs="?",
                     help="host[:port] (default: read from stdin, as the helper protocol does)")
    sub = command("completion", "print the shell completion script (needs argcomplete)")
    sub.add_argument("shell", choices=_SHELLS, help="bash, zsh or fish")
    _cli_jobs.add_commands(command)
    return parser


# --- running a command ------------------------------------------------------------------


@dataclass
class _Context:
    """What every command needs: options, streams, configuration, one client per registry."""

    args: argparse.Namespace
    stdout: IO[bytes]
    stderr: IO[str]
    credentials: Credentials | None
    progress: Progress = field(default_factory=NullProgress)
    transports: dict[bool, Transport] = field(default_factory=dict)
    registries: dict[tuple[str, bool, bool], Registry] = field(default_factory=dict)
    _config: RegistryConfig | None = None

    # --- output ---

    def emit(self, data: str | bytes) -> None:
        """Data on stdout, on its own lines below a finished progress display."""
        self.end_progress()
        self.stdout.write(data.encode("utf-8") if isinstance(data, str) else data)

    def emit_json(self, value: object) -> None:
        self.emit(json.dumps(value, indent=2, ensure_ascii=False) + "\n")

    def lines(self, items: Sequence[str] | Iterator[str]) -> None:
        for item in items:
            self.emit(item + "\n")

    def say(self, text: str) -> None:
        """A message for the person at the terminal (not data): stderr, unless --quiet."""
        self.end_progress()
        if not self.args.quiet:
            self.stderr.write(text + "\n")
            self.stderr.flush()

    def end_progress(self) -> None:
        """Clear the bars and leave the cursor on a fresh line (results never share it)."""
        progress, self.progress = self.progress, NullProgress()
        progress.close()
        if not isinstance(progress, NullProgress):
            self.stderr.flush()

    # --- configuration and clients ---

    @property
    def config(self) -> RegistryConfig:
        if self._config is None:
            self._config = RegistryConfig.load(self.args.registries_conf)
        return self._config

    def transport(self, insecure: bool) -> Transport:
        """One transport per TLS policy: verified, or not (for insecure registries)."""
        insecure = insecure or self.args.insecure
        if insecure not in self.transports:
            inner = _make_transport(self.args, insecure)
            self.transports[insecure] = _LoggingTransport(inner, self.stderr) if self.args.debug else inner
        return self.transports[insecure]

    def registry(self, host: str, insecure: bool = False, *, mirror: bool = False) -> Registry:
        """One client per registry host for the whole command (https first; see _scheme).

        A mirror gets the credentials stored for it, never those given on the command
        line: they belong to the registry the user named.
        """
        host = api_host(host)
        insecure = insecure or self.args.insecure or self.config.is_insecure(host)
        key = (host, insecure, mirror)
        if key not in self.registries:
            credentials: Credentials | CredentialProvider = (
                self.credentials if self.credentials is not None and not mirror else DockerConfigStore())
            self.registries[key] = Registry(host, credentials=credentials, transport=self.transport(insecure),
                                            insecure=insecure, progress=self.progress, config=self.config,
                                            jobs=_jobs(self.args))
        return self.registries[key]

    def open_source(self, source: PullSource) -> Registry:
        return self.registry(source.reference.api_host, source.insecure, mirror=source.mirror)

    def pull(self, arg: RefArg) -> tuple[Registry, Reference]:
        """Where to read ``arg``: short names on the search registries, then mirrors, in order."""
        candidates = self.config.candidates(arg.text)

        def resolve(candidate: Reference) -> tuple[Registry, Reference]:
            home = self.registry(candidate.api_host, self.config.push_target(candidate).insecure)
            registry, repo, target = home.pull_source(candidate.repository, candidate.target,
                                                      open_mirror=self.open_source)
            name = candidate.registry if registry is home else registry.host
            tag, digest = (None, target) if ":" in target else (target, None)
            return registry, Reference.parse(f"{name}/{repo}" + (f":{tag}" if tag else f"@{digest}"))

        if len(candidates) == 1:
            return resolve(candidates[0])
        found: dict[Reference, tuple[Registry, Reference]] = {}

        def check(candidate: Reference) -> None:
            registry, ref = found[candidate] = resolve(candidate)
            registry.manifest_digest(ref.repository, ref.target)

        def probe(candidate: Reference) -> Flow[None]:
            # Each candidate is another registry, with its own client: the flow only orders
            # the tries, and the blocking work is one effect for the driver to perform.
            return call(check, candidate)

        return found[run_flow(first_available(candidates, probe), self.transport(False))]

    def push(self, arg: RefArg, purpose: str = "a write") -> tuple[Registry, Reference]:
        """Where a write to ``arg`` goes: the primary location, never a mirror."""
        candidates = self.config.candidates(arg.text)
        if len(candidates) > 1:
            raise InvalidArgument(f"{arg.text}: a short name is ambiguous for {purpose}; give the registry "
                                  f"(one of {', '.join(c.registry for c in candidates)})")
        target = self.config.push_target(candidates[0])
        return self.registry(target.reference.api_host, target.insecure), target.reference

    def close(self) -> None:
        self.end_progress()
        for transport in self.transports.values():
            transport.close()

    def user_for(self, host: str) -> str | None:
        """Whose credentials go to ``host`` (for messages; never the secret)."""
        if self.credentials is not None:
            return self.credentials.username
        with contextlib.suppress(RegistryError, OSError):
            found = DockerConfigStore()(host)
            if found is not None:
                return found.username or ("<token>" if found.identity_token or found.registry_token else None)
        return None

    def challenge_scheme(self, host: str) -> str | None:
        for (name, _, _), registry in self.registries.items():
            challenge = registry.session.auth.challenge
            if host in (name, registry.host) and challenge is not None:
                return challenge.scheme
        return None


def _make_transport(args: argparse.Namespace, insecure: bool) -> Transport:
    options: dict[str, Any] = {
        "open_timeout": args.timeout, "read_timeout": args.timeout,
        "ca_file": args.ca_file, "insecure": insecure,
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


def _tags(ctx: _Context) -> None:
    arg: RefArg = ctx.args.repo
    if arg.ref.tag is not None or arg.ref.digest is not None:
        raise InvalidArgument(f"{arg.familiar}: tags takes a repository, without a tag or digest")
    registry, ref = ctx.push(arg, "listing tags")  # the registry itself, not a mirror (as skopeo)
    listing = registry.tags(ref.repository, auto_paginate=True)
    if ctx.args.json:
        ctx.emit_json({"name": listing.name or ref.repository, "tags": list(listing.tags)})
    else:
        ctx.lines(listing.tags)


def _catalog(ctx: _Context) -> None:
    registry = ctx.registry(ctx.args.registry)
    if ctx.args.json:
        ctx.emit_json({"repositories": list(registry.iter_catalog())})
    else:
        ctx.lines(registry.iter_catalog())


def _resolved(ctx: _Context, arg: RefArg, platform: Platform | None) -> tuple[Registry, Reference, ManifestResult]:
    """The manifest ``arg`` names (from a mirror maybe), or the child ``platform`` picks."""
    registry, ref = ctx.pull(arg)
    return registry, ref, registry.manifest(ref.repository, ref.target, platform=platform)


def _manifest(ctx: _Context) -> None:
    _, _, result = _resolved(ctx, ctx.args.ref, ctx.args.platform)
    ctx.emit(result.body)


def _digest_command(ctx: _Context) -> None:
    platform: Platform | None = ctx.args.platform
    registry, ref = ctx.pull(ctx.args.ref)
    if platform is None:
        digest = registry.manifest_digest(ref.repository, ref.target)
    else:
        digest = registry.digest(ref.repository, ref.target, architecture=platform.architecture,
                                 os=platform.os, variant=platform.variant)
    if ctx.args.json:
        ctx.emit_json({"reference": str(ctx.args.ref.ref), "digest": str(digest)})
    else:
        ctx.emit(f"{digest}\n")


def _config_bytes(registry: Registry, ref: Reference, result: ManifestResult) -> bytes:
    if not isinstance(result.document, Manifest):
        raise InvalidArgument(f"{ref.familiar} is a {result.media_type}, which has no image config")
    data = registry.blob(ref.repository, result.document.config.digest, max_memory=registry.session.limits.manifest)
    assert isinstance(data, bytes)  # no outpath: the bytes themselves
    return data


def _config(ctx: _Context) -> None:
    registry, ref, result = _resolved(ctx, ctx.args.ref, ctx.args.platform or CONFIG_PLATFORM)
    ctx.emit(_config_bytes(registry, ref, result))


def _inspect(ctx: _Context) -> None:
    arg: RefArg = ctx.args.ref
    if ctx.args.raw or ctx.args.config:
        registry, ref, result = _resolved(ctx, arg, ctx.args.platform)
        ctx.emit(result.body if ctx.args.raw else _config_bytes(registry, ref, result))
        return
    registry, ref = ctx.pull(arg)
    view = registry.inspect(ref.repository, ref.target, platform=ctx.args.platform,
                            tags=not ctx.args.no_tags, name=arg.ref.name)
    if ctx.args.json:
        ctx.emit_json(view)
    else:
        ctx.emit(render_view(view))


def _blob(ctx: _Context) -> None:
    registry, ref = ctx.pull(ctx.args.ref)
    digest = ref.digest
    assert digest is not None  # _digest_reference demands one
    # The size makes a bar with an end; asking for it costs a HEAD, so only for a bar.
    size = None if isinstance(ctx.progress, NullProgress) else registry.blob_size(ref.repository, digest)
    # Through the driver's pipeline: read, hashed and written at once, resumed if cut.
    registry.blob(ref.repository, digest, ctx.args.output or cast(BinaryIO, ctx.stdout), size=size)


def _pull(ctx: _Context) -> None:
    if ctx.args.format != "oci":
        _cli_jobs.pull_archive(ctx)
        return
    arg: RefArg = ctx.args.ref
    registry, ref = ctx.pull(arg)
    name = arg.ref.tag or (None if arg.ref.digest else "latest")
    result = registry.pull(ref.repository, ref.target, ctx.args.directory, platform=ctx.args.platform,
                           ref_name=name)
    if ctx.args.json:
        ctx.emit_json({
            "reference": str(arg.ref), "layout": str(result.layout), "descriptor": result.descriptor.to_json(),
            "blobsFetched": result.blobs_fetched, "blobsReused": result.blobs_reused,
        })
    else:
        ctx.emit(f"{result.descriptor.digest}\n")


def _push(ctx: _Context) -> None:
    arg: RefArg = ctx.args.ref
    directory: str = ctx.args.directory
    source = _cli_jobs.push_source(directory)  # a layout directory, or a docker or OCI archive
    registry, ref = ctx.push(arg)
    descriptor = registry.push(source, ref.repository, ref.tag, ref_name=ctx.args.ref_name)
    if ref.digest is not None and ref.digest != descriptor.digest:
        raise InvalidArgument(f"the layout's image is {descriptor.digest}, not {ref.digest}")
    _print_descriptor(ctx, arg.ref, descriptor)


def _copy(ctx: _Context) -> None:
    src: RefArg = ctx.args.src
    dst: RefArg = ctx.args.dst
    source, src_ref = ctx.pull(src)
    dest, dst_ref = ctx.push(dst)
    # As docker reads a destination: no tag and no digest means "latest".
    dest_tag = dst_ref.tag if dst_ref.tag is not None or dst_ref.digest is not None else "latest"
    platforms: list[Platform] | None = ctx.args.platform
    result = source.copy(src_ref.repository, src_ref.target, dest, dst_ref.repository, dest_tag,
                         platforms=platforms)
    if dst_ref.digest is not None and dst_ref.digest != result.descriptor.digest:
        raise InvalidArgument(
            f"the copy's digest is {result.descriptor.digest}, not {dst_ref.digest} as the destination names"
        )
    shown = Reference(dst.ref.registry, dst.ref.repository, dest_tag, result.descriptor.digest)
    if result.digest_changed:
        ctx.say(f"made a new index of {len(platforms or ())} platforms: its digest differs from the source's")
    elif result.platform_child:
        ctx.say(f"copied the {platforms[0] if platforms else ''} manifest itself (digest kept)")
    if ctx.args.json:
        ctx.emit_json({"reference": str(shown), **result.descriptor.to_json(),
                       "filteredIndex": result.digest_changed, "platformManifest": result.platform_child})
    else:
        ctx.emit(f"{shown.familiar}\n")


def _tag(ctx: _Context) -> None:
    if ctx.args.ref == "delete":
        _tag_delete(ctx)
        return
    arg = _parsed(ctx.args.ref, "REF")
    try:
        new = arg.ref.with_tag(ctx.args.new_tag)
    except ValueError as exc:
        raise _Usage(f"argument NEWTAG: {exc}") from None
    registry, ref = ctx.push(arg)
    digest = registry.tag(ref.repository, ref.target, ref.repository, ctx.args.new_tag)
    new = Reference(new.registry, new.repository, new.tag, digest)
    if ctx.args.json:
        ctx.emit_json({"reference": str(new), "digest": str(digest)})
    else:
        ctx.emit(f"{new.familiar}\n")


def _parsed(text: str, what: str) -> RefArg:
    try:
        return _reference(text)
    except argparse.ArgumentTypeError as exc:
        raise _Usage(f"argument {what}: {exc}") from None


def _tag_delete(ctx: _Context) -> None:
    arg = _parsed(ctx.args.new_tag, "REF:TAG")
    if arg.ref.tag is None or arg.ref.digest is not None:
        raise _Usage(f"tag delete takes REPO:TAG, not {arg.text!r}")
    registry, ref = ctx.push(arg)
    assert ref.tag is not None
    deleted = registry.delete_tag(ref.repository, ref.tag)
    ctx.say(f"Deleted tag {arg.familiar} (the manifest {deleted.digest} stays under its other tags)")
    if ctx.args.json:
        ctx.emit_json({"deleted": str(arg.ref), "digest": str(deleted.digest), "method": deleted.method})
    else:
        ctx.emit(f"{arg.familiar}\n")


def _delete(ctx: _Context) -> None:
    arg: RefArg = ctx.args.ref
    registry, ref = ctx.push(arg)
    digest = ref.digest or registry.manifest_digest(ref.repository, ref.target)
    others = registry.tags_sharing(ref.repository, digest, except_tag=ref.tag)
    if others and not ctx.args.force:
        shown = ", ".join(others[:10]) + (f" and {len(others) - 10} more" if len(others) > 10 else "")
        raise InvalidArgument(
            f"other tags point to manifest {digest} ({shown}); deleting it removes them too: "
            f"give --force, or remove only this tag with 'ocireg tag delete'"
        )
    registry.delete_manifest(ref.repository, digest)
    removed = ([ref.tag] if ref.tag else []) + list(others)
    ctx.say(f"Deleted manifest {digest}" + (f" (tags: {', '.join(removed)})" if removed else ""))
    if ctx.args.json:
        ctx.emit_json({"deleted": str(Reference(ref.registry, ref.repository, None, digest)),
                       "digest": str(digest), "tags": removed})
    else:
        ctx.emit(f"{digest}\n")


def _referrers(ctx: _Context) -> None:
    arg: RefArg = ctx.args.ref
    registry, ref = ctx.pull(arg)
    digest = ref.digest or registry.manifest_digest(ref.repository, ref.target)
    found = registry.referrers(ref.repository, digest, ctx.args.artifact_type)
    if ctx.args.json:
        ctx.emit_json({"subject": str(Reference(arg.ref.registry, arg.ref.repository, None, digest)),
                       "manifests": [d.to_json() for d in found]})
    else:
        ctx.lines(f"{d.digest}\t{d.artifact_type or '-'}\t{d.media_type}" for d in found)


def _export(ctx: _Context) -> None:
    registry, ref = ctx.pull(ctx.args.ref)
    if ctx.args.output:
        with atomic_output(ctx.args.output) as out:
            entries = registry.export(ref.repository, ref.target, out, platform=ctx.args.platform)
    else:
        if _is_terminal(ctx.stdout):
            raise InvalidArgument("refusing to write a tar to a terminal: give -o FILE or redirect stdout")
        entries = registry.export(ref.repository, ref.target, ctx.stdout, platform=ctx.args.platform)
    ctx.say(f"Exported {entries} entries of {ctx.args.ref.familiar}")


def _validate(ctx: _Context) -> None:
    arg: RefArg = ctx.args.ref
    registry, ref = ctx.pull(arg)
    platforms = [ctx.args.platform] if ctx.args.platform else []
    report = registry.validate(ref.repository, ref.target, platforms=platforms)
    if ctx.args.json:
        ctx.emit_json({
            "reference": str(arg.ref), "digest": str(report.digest), "ok": report.ok, "problems": report.problems,
            "images": [{"digest": str(i.digest), "platform": i.platform, "layers": i.layers, "size": i.size,
                        "ok": i.ok, "problems": i.problems} for i in report.images],
        })
    else:
        for problem in report.problems:
            ctx.emit(f"FAIL {report.digest}: {problem}\n")
        for image in report.images:
            where = f"{image.digest} {image.platform or ''}".rstrip()
            if image.ok:
                ctx.emit(f"PASS {where}: {image.layers} layer(s), {image.size} bytes\n")
            for problem in image.problems:
                ctx.emit(f"FAIL {where}: {problem}\n")
    if not report.ok:
        raise _Failed(f"{report.problem_count} problem(s) found")


def _login(ctx: _Context) -> None:
    host: str = ctx.args.registry
    if ctx.credentials is None:
        raise _Usage("login needs --username and --password-stdin")
    # As docker login does: the credentials must work before they are saved.
    ctx.registry(host).ping()
    assert ctx.credentials.username is not None and ctx.credentials.password is not None
    path = login(host, ctx.credentials.username, ctx.credentials.password)
    ctx.say(f"Login succeeded (credentials saved for {host} via {path})")


def _logout(ctx: _Context) -> None:
    host: str = ctx.args.registry
    if logout(host):
        ctx.say(f"Removed login credentials for {host}")
    else:
        ctx.say(f"Not logged in to {host}")


def _auth(ctx: _Context, stdin: IO[str]) -> None:
    host: str | None = ctx.args.registry
    if host is None:  # the credential-helper protocol: the server URL on stdin
        try:
            host = _registry_host(stdin.read(4096).strip())
        except argparse.ArgumentTypeError as exc:
            raise _Usage(f"standard input: {exc}") from None
    found = ctx.credentials or DockerConfigStore()(host)
    if found is None or found.is_empty:
        raise _Failed(f"no credentials stored for {host}")
    if found.identity_token:
        pair = {"Username": "<token>", "Secret": found.identity_token}
    else:
        pair = {"Username": found.username or "", "Secret": found.password or found.registry_token or ""}
    ctx.emit(json.dumps(pair) + "\n")


def _completion(ctx: _Context) -> None:
    try:
        argcomplete = importlib.import_module("argcomplete")
    except ImportError:
        raise _Failed("shell completion needs argcomplete: pip install 'ocireg[cli]' "
                      "(or pip install argcomplete)") from None
    ctx.emit(argcomplete.shellcode([PROG], shell=ctx.args.shell))


def _print_descriptor(ctx: _Context, ref: Reference, descriptor: Descriptor) -> None:
    pinned = Reference(ref.registry, ref.repository, ref.tag, descriptor.digest)
    if ctx.args.json:
        ctx.emit_json({"reference": str(pinned), **descriptor.to_json()})
    else:
        ctx.emit(f"{pinned.familiar}\n")


class _Failed(RegistryError):
    """The command ran and found a failure of its own (a validation problem, no credentials)."""


_COMMANDS: dict[str, Callable[[_Context], object]] = {
    "tags": _tags,
    "catalog": _catalog,
    "manifest": _manifest,
    "digest": _digest_command,
    "config": _config,
    "blob": _blob,
    "inspect": _inspect,
    "pull": _pull,
    "push": _push,
    "copy": _copy,
    "tag": _tag,
    "delete": _delete,
    "referrers": _referrers,
    "export": _export,
    "validate": _validate,
    "login": _login,
    "logout": _logout,
    "completion": _completion,
    **_cli_jobs.COMMANDS,
}


def _subject(args: argparse.Namespace) -> str:
    """What the command was working on, for an error line."""
    name = "tag delete" if args.command == "tag" and getattr(args, "ref", None) == "delete" else args.command
    if name == "tag delete":
        return f"{name} {args.new_tag}"
    for key in ("ref", "repo", "src", "registry"):
        value = getattr(args, key, None)
        if isinstance(value, RefArg):
            return f"{name} {value.familiar}"
        if isinstance(value, str):
            return f"{name} {value}"
    return str(name)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _is_terminal(stream: IO[Any]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _not_utf8(args: argparse.Namespace) -> str | None:
    """A text argument that JSON output could not carry (a file name of undecodable bytes)."""
    for name, value in vars(args).items():
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return name.replace("_", "-")
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``ocireg`` with ``argv`` (default: the process arguments); return the exit status."""
    parser = build_parser()
    with contextlib.suppress(ImportError):  # completion: answers and exits when the shell asks
        importlib.import_module("argcomplete").autocomplete(parser)
    args = parser.parse_args(argv)
    stderr = sys.stderr
    stdin = sys.stdin if sys.stdin is not None else open(os.devnull)  # noqa: SIM115 - closed stdin
    try:
        credentials = _explicit_credentials(args, stdin)
    except _Usage as exc:
        parser.error(str(exc))
    if sys.stdout is None:  # started with stdout closed (>&-)
        return _fail(args, stderr, "standard output is closed")
    if args.json and (bad := _not_utf8(args)) is not None:
        return _fail(args, stderr, f"the {bad} argument is not valid UTF-8, which JSON output cannot carry")
    stdout = sys.stdout.buffer
    ctx = _Context(args, stdout, stderr, credentials)
    if args.command in _PROGRESS_COMMANDS:
        ctx.progress = open_progress(stderr, quiet=args.quiet)
    try:
        if args.command == "auth":
            _auth(ctx, stdin)
        else:
            _COMMANDS[args.command](ctx)
        stdout.flush()
    except _Usage as exc:
        ctx.close()
        parser.error(str(exc))
    except BrokenPipeError:
        ctx.close()
        # The reader went away (ocireg tags x | head): later writes, and the flush at
        # exit, go nowhere instead of raising again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return _fail(args, stderr, "standard output was closed before everything was written")
    except (RegistryError, OSError) as exc:
        ctx.close()
        if args.debug:
            traceback.print_exception(exc, file=stderr)
        if isinstance(exc, RegistryError):
            host = _error_host(exc)
            message = explain(exc, user=ctx.user_for(host) if host else None,
                              scheme=ctx.challenge_scheme(host) if host else None)
        else:
            message = _os_error(exc)
        return _fail(args, stderr, message)
    except KeyboardInterrupt:
        ctx.close()
        stderr.write(f"{PROG}: interrupted\n")
        return 130
    ctx.close()
    return 0


def _error_host(exc: RegistryError) -> str | None:
    url = getattr(exc, "url", None)
    if not isinstance(url, str):
        return None
    from urllib.parse import urlsplit

    return urlsplit(url).netloc or None


def _fail(args: argparse.Namespace, stderr: IO[str], message: str) -> int:
    stderr.write(f"{PROG}: error: {_one_line(f'{_subject(args)}: {message}')}\n")
    stderr.flush()
    return 1


def _os_error(exc: OSError) -> str:
    where = f"{exc.filename}: " if exc.filename else ""
    return f"{where}{exc.strerror or exc}"


