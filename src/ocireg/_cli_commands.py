"""The commands of the ``ocireg`` command line: one client per registry host, and printing.

:mod:`ocireg.cli` parses the arguments and hands them to :func:`run`; this module
is imported only then, so that ``ocireg --help`` never loads the client.  Protocol
decisions live in the core; the jobs beyond one image (sync, artifacts, archives)
are in :mod:`ocireg._cli_jobs`.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, BinaryIO, cast

from ._auth import CredentialProvider, Credentials
from ._client import Registry
from ._credentials import DockerConfigStore, login, logout
from ._defaults import DEFAULT_JOBS
from ._discovery import default_transport
from ._driver import run_flow
from ._endpoints import ManifestResult
from ._errors import InvalidArgument, RegistryError, UsageError
from ._explain import explain
from ._files import atomic_output
from ._flow import Flow, call
from ._http import Request, Response, redact_url
from ._inspect import render_view
from ._manifest import Descriptor, Manifest, Platform
from ._progress import NullProgress, Progress, open_progress
from ._reference import Reference, api_host
from ._regconf import PullSource, RegistryConfig, first_available
from ._transport import Transport
from .cli import PROG, RefArg, _one_line, _reference, _registry_host, _Usage

__all__ = ["run"]

CONFIG_PLATFORM = Platform(os="linux", architecture="amd64")
"""The platform ``config`` picks from an index when none is given, as crane does."""
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
_PROGRESS_COMMANDS = frozenset({"pull", "push", "copy", "blob", "export", "validate"})


def _jobs(args: argparse.Namespace) -> int:
    jobs: int = args.jobs or DEFAULT_JOBS
    return jobs


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
        self.end_progress()
        write = self.stdout.write
        for item in items:  # as they come: a long catalog streams
            write(f"{item}\n".encode())

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
        from ._cli_jobs import pull_archive

        pull_archive(ctx)
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
    from ._cli_jobs import push_source

    source = push_source(directory)  # a layout directory, or a docker or OCI archive
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
}


def run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """Run the command ``args`` names; return the exit status (usage errors through ``parser``)."""
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
            _command(args.command)(ctx)
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
            import traceback  # only here: 3 ms of every command's start-up otherwise

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


def _command(name: str) -> Callable[[_Context], object]:
    if name in _COMMANDS:
        return _COMMANDS[name]
    from ._cli_jobs import COMMANDS  # sync and artifact: Dask, TOML and archives only for them

    return COMMANDS[name]


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


def _not_utf8(args: argparse.Namespace) -> str | None:
    """A text argument that JSON output could not carry (a file name of undecodable bytes)."""
    for name, value in vars(args).items():
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return name.replace("_", "-")
    return None


def _fail(args: argparse.Namespace, stderr: IO[str], message: str) -> int:
    stderr.write(f"{PROG}: error: {_one_line(f'{_subject(args)}: {message}')}\n")
    stderr.flush()
    return 1


def _is_terminal(stream: IO[Any]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _error_host(exc: RegistryError) -> str | None:
    url = getattr(exc, "url", None)
    if not isinstance(url, str):
        return None
    from urllib.parse import urlsplit

    return urlsplit(url).netloc or None


def _os_error(exc: OSError) -> str:
    where = f"{exc.filename}: " if exc.filename else ""
    return f"{where}{exc.strerror or exc}"
