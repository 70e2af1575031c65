"""Command-line jobs beyond one image: ``sync``, ``artifact push|pull``, docker archives.

:mod:`ocireg.cli` registers these through :func:`add_commands` and :data:`COMMANDS`
and calls :func:`pull_archive` / :func:`push_source` from its ``pull`` and ``push``;
the work itself lives in the core modules (:mod:`._sync`, :mod:`._artifact`,
:mod:`._archive`).  Dask is imported only by ``sync --dask-scheduler``.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from . import cli
from ._archive import ArchiveLayout
from ._artifact import ArtifactFile
from ._errors import InvalidArgument
from ._layout import OCILayout
from ._manifest import Platform
from ._media import is_valid_media_type
from ._reference import Reference
from ._semver import VersionRange
from ._sync import (
    DEFAULT_JOBS,
    ConnectionOptions,
    ImageResult,
    RegistrySettings,
    SyncConfig,
    SyncFailed,
    SyncRule,
    TagFilter,
    sync,
)

if TYPE_CHECKING:
    from .cli import _Context

__all__ = ["COMMANDS", "add_commands", "add_pull_format", "pull_archive", "push_source"]

FORMATS = ("oci", "docker-archive")


# --- argument values -------------------------------------------------------------------


def _semver(text: str) -> VersionRange:
    try:
        return VersionRange.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _rate(text: str) -> tuple[str, float]:
    host, sep, value = text.rpartition("=")
    try:
        rate = float(value)
        if not sep or not host or not 0 < rate < float("inf"):
            raise ValueError
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give HOST=REQUESTS_PER_SECOND") from None
    return host, rate


def _annotation(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text!r}: give KEY=VALUE")
    return key, value


def _artifact_file(text: str) -> ArtifactFile:
    """``FILE`` or ``FILE:MEDIATYPE``, as oras reads them (a colon followed by a media type)."""
    path, sep, media_type = text.rpartition(":")
    if sep and path and is_valid_media_type(media_type):
        return ArtifactFile(Path(path), media_type)
    return ArtifactFile(Path(text))


# --- the parser ----------------------------------------------------------------------------


def add_pull_format(pull: argparse.ArgumentParser) -> None:
    pull.add_argument("--format", choices=FORMATS, default="oci",
                      help="oci: an OCI image layout directory (default); docker-archive: a tar "
                           "file as docker save writes it (one platform: --platform, else linux/amd64)")


def add_commands(command: Callable[[str, str], argparse.ArgumentParser]) -> None:
    """Add ``sync`` and ``artifact`` to the parser ``command`` makes subparsers for."""
    sub = command("sync", "mirror repositories between registries (idempotent, resumable, concurrent)")
    sub.add_argument("config", metavar="CONFIG", nargs="?", help="a TOML sync config (see the README)")
    sub.add_argument("--from", dest="source", metavar="SRC", help="source repository (or namespace)")
    sub.add_argument("--to", dest="target", metavar="DST", help="target repository (or namespace prefix)")
    sub.add_argument("--namespace", action="store_true",
                     help="SRC is host[/prefix]: copy every repository the catalog lists under it")
    sub.add_argument("--tag", action="append", default=[], help="an exact tag (repeatable)")
    sub.add_argument("--tag-regex", action="append", default=[], metavar="REGEX",
                     help="tags that fully match REGEX (repeatable)")
    sub.add_argument("--exclude-regex", action="append", default=[], metavar="REGEX",
                     help="leave out tags that fully match REGEX (repeatable)")
    sub.add_argument("--semver", type=_semver, metavar="RANGE", help="tags in a version range: '>=1.2 <2', '^3.1'")
    sub.add_argument("--newest", type=int, metavar="N", help="only the tags of the N highest versions")
    sub.add_argument("--platform", type=cli._platform, action="append", default=[],
                     help="os/arch[/variant] to keep from an index (repeatable)")
    sub.add_argument("--referrers", action="store_true", help="copy signatures, SBOMs and other referrers too")
    sub.add_argument("--rate", type=_rate, action="append", default=[], metavar="HOST=RPS",
                     help="at most RPS requests per second to HOST (repeatable)")
    sub.add_argument("--dry-run", action="store_true", help="print the plan, copy nothing")
    sub.add_argument("--fail-fast", action="store_true", help="stop at the first image that fails")
    sub.add_argument("--dask-scheduler", metavar="ADDRESS",
                     help="run the copies on a Dask cluster (tcp://HOST:PORT; needs ocireg[dask])")

    sub = command("artifact", "push or pull files as an OCI artifact, as oras does")
    actions = sub.add_subparsers(dest="artifact_command", metavar="ACTION", required=True)
    push = actions.add_parser("push", help="push files as an artifact", description="push files as an artifact")
    cli._global_options(push, suppress=True)
    push.add_argument("ref", metavar="REF", type=cli._reference)
    push.add_argument("files", metavar="FILE[:MEDIATYPE]", nargs="+", type=_artifact_file)
    push.add_argument("--artifact-type", help="the artifact's type (default application/vnd.unknown.artifact.v1)")
    push.add_argument("--annotation", type=_annotation, action="append", default=[], metavar="KEY=VALUE",
                      help="a manifest annotation (repeatable)")
    push.add_argument("--subject", type=cli._reference, metavar="REF",
                      help="the image this artifact refers to (same repository)")
    pull = actions.add_parser("pull", help="write an artifact's files by their titles",
                              description="write an artifact's files by their titles")
    cli._global_options(pull, suppress=True)
    pull.add_argument("ref", metavar="REF", type=cli._reference)
    pull.add_argument("-o", "--output", metavar="DIR", default=".", help="directory to write to (default .)")


# --- sync ------------------------------------------------------------------------------------


def _sync_config(ctx: _Context) -> SyncConfig:
    args = ctx.args
    if ctx.credentials is not None:
        raise cli._Usage("sync takes credentials per registry: docker's config, or the config file's "
                         "[registries.HOST] tables, not --username")
    connection = ConnectionOptions(transport=args.transport, timeout=args.timeout, ca_file=args.ca_file)
    if args.config is not None:
        if args.source or args.target:
            raise cli._Usage("give a CONFIG file or --from/--to, not both")
        config = SyncConfig.from_toml(args.config)
        overrides = dict(args.rate)
        registries = tuple(
            dataclasses.replace(r, rate=overrides.pop(r.host, r.rate)) for r in config.registries
        ) + tuple(RegistrySettings(h, rate=rate) for h, rate in overrides.items())
        return SyncConfig(config.rules, registries, args.jobs or config.jobs,
                          connection if args.transport else config.connection)
    if not (args.source and args.target):
        raise cli._Usage("sync needs a CONFIG file, or --from SRC and --to DST")
    tags = TagFilter(tags=tuple(args.tag), regex=tuple(_compile(r) for r in args.tag_regex),
                     semver=args.semver, exclude=tuple(_compile(r) for r in args.exclude_regex), newest=args.newest)
    rule = SyncRule(args.source, args.target, tags=tags, platforms=tuple(args.platform),
                    referrers=args.referrers, namespace=args.namespace)
    rates = dict(args.rate)
    hosts = {_host(args.source, args.namespace), _host(args.target, args.namespace), *rates}
    registries = tuple(RegistrySettings(h, insecure=args.insecure, rate=rates.get(h)) for h in sorted(hosts))
    return SyncConfig((rule,), registries, args.jobs or DEFAULT_JOBS, connection)


def _compile(text: str) -> re.Pattern[str]:
    try:
        return re.compile(text)
    except re.error as exc:
        raise cli._Usage(f"invalid regular expression {text!r}: {exc}") from None


def _host(text: str, namespace: bool) -> str:
    """The registry a --from/--to names (a namespace always starts with its host)."""
    return text.split("/", 1)[0] if namespace else Reference.parse(text).registry


def _sync(ctx: _Context) -> str:
    config = _sync_config(ctx)
    args = ctx.args

    def progress(result: ImageResult) -> None:
        if not args.json:
            fields = [result.status, result.source, result.target, result.digest or "-"]
            ctx.emit("\t".join(fields) + (f"\t{result.error}" if result.error else "") + "\n")
            ctx.stdout.flush()
        elif not args.quiet and sys.stderr.isatty():
            ctx.say(f"{result.status} {result.source} -> {result.target}")

    if args.dask_scheduler:
        try:  # by name: the core (vendored, too) never depends on Dask
            client_class = importlib.import_module("distributed").Client
        except ImportError:
            raise InvalidArgument("--dask-scheduler needs Dask: pip install 'ocireg[dask]'") from None
        # The cluster decides how many images run at once; -j is then each copy's blobs.
        with client_class(args.dask_scheduler) as client:
            report = sync(config, executor=client.get_executor(), copy_jobs=args.jobs, dry_run=args.dry_run,
                          fail_fast=args.fail_fast, progress=progress)
    else:
        report = sync(config, jobs=config.jobs, dry_run=args.dry_run, fail_fast=args.fail_fast, progress=progress)
    if args.json:
        ctx.emit_json(report.to_json())
    elif report.dry_run:
        ctx.lines(f"{r.status}\t{r.source}\t{r.target}" + (f"\t{r.error}" if r.error else "") for r in report.images)
    ctx.say(report.summary())
    if not report.ok:
        raise SyncFailed(report)
    return "sync"


# --- artifacts --------------------------------------------------------------------------------


def _artifact(ctx: _Context) -> str:
    args = ctx.args
    arg: cli.RefArg = args.ref
    if args.artifact_command == "push":
        registry, ref = ctx.push(arg)  # the primary location (registries.conf), never a mirror
        subject = None
        if args.subject is not None:
            subject_ref = args.subject.ref
            if (subject_ref.api_host, subject_ref.repository) != (arg.ref.api_host, arg.ref.repository):
                raise cli._Usage("--subject must name an image in the artifact's repository")
            subject = subject_ref.target
        descriptor = registry.push_artifact(ref.repository, ref.tag if ref.digest is None else None, args.files,
                                            artifact_type=args.artifact_type,
                                            annotations=dict(args.annotation) or None, subject=subject)
        cli._print_descriptor(ctx, arg.ref, descriptor)
        return f"artifact push {arg.familiar}"
    registry, ref = ctx.pull(arg)  # mirrors first, as for images
    pulled = registry.pull_artifact(ref.repository, ref.target, args.output)
    if args.json:
        ctx.emit_json({"reference": str(arg.ref), "digest": str(pulled.descriptor.digest),
                       "artifactType": pulled.artifact_type, "files": [str(p) for p in pulled.files]})
    else:
        ctx.lines(str(p) for p in pulled.files)
    for layer in pulled.untitled:
        ctx.say(f"skipped a layer without a title: {layer.digest}")
    return f"artifact pull {arg.familiar}"


# --- docker archives ------------------------------------------------------------------------


def pull_archive(ctx: _Context) -> str:
    """``pull --format docker-archive REF FILE.tar``."""
    arg: cli.RefArg = ctx.args.ref
    platform: Platform | None = ctx.args.platform
    if ctx.args.all_platforms:
        raise cli._Usage("a docker archive holds one platform: give --platform (default linux/amd64)")
    registry, ref = ctx.pull(arg)
    # docker load names the image as it was asked for, wherever it was read from.
    repo_tags = [arg.familiar] if arg.ref.tag is not None and arg.ref.digest is None else []
    descriptor = registry.pull_archive(ref.repository, ref.target, ctx.args.directory,
                                       platform=platform, repo_tags=repo_tags)
    if ctx.args.json:
        ctx.emit_json({"reference": str(arg.ref), "archive": ctx.args.directory, "descriptor": descriptor.to_json()})
    else:
        ctx.emit(f"{descriptor.digest}\n")
    return f"pull {arg.familiar}"


def push_source(path: str) -> OCILayout:
    """What ``push PATH REF`` reads: an OCI layout directory, or a tar (docker archive or OCI layout)."""
    if Path(path).is_file():
        return ArchiveLayout(path)
    if not Path(path, "oci-layout").is_file():
        raise InvalidArgument(f"{path}: not an OCI image layout (no oci-layout file) nor an archive")
    return OCILayout(path)


COMMANDS: dict[str, Callable[[_Context], str]] = {"sync": _sync, "artifact": _artifact}
