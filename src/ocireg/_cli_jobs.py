"""Command-line jobs beyond one image: ``sync``, ``artifact push|pull``, docker archives.

:mod:`ocireg.cli` parses their arguments; :mod:`ocireg._cli_commands` runs them
through :data:`COMMANDS` and calls :func:`pull_archive` / :func:`push_source` from
its ``pull`` and ``push``;
the work itself lives in the core modules (:mod:`._sync`, :mod:`._artifact`,
:mod:`._archive`).  Dask is imported only by ``sync --dask-scheduler``.
"""

from __future__ import annotations

import dataclasses
import importlib
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from . import _cli_commands as commands
from . import cli
from ._archive import ArchiveLayout
from ._defaults import DEFAULT_JOBS
from ._errors import InvalidArgument
from ._layout import OCILayout
from ._manifest import Platform
from ._reference import Reference
from ._sync import (
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
    from ._cli_commands import _Context

__all__ = ["COMMANDS", "pull_archive", "push_source"]



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
        commands._print_descriptor(ctx, arg.ref, descriptor)
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
