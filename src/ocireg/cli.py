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

Protocol decisions live in the core.  This module is the parser and the entry
point; the commands (one client per registry host, and printing) are in
:mod:`ocireg._cli_commands` and :mod:`ocireg._cli_jobs`, imported once the
arguments are parsed, so that ``--help`` and a usage error cost the interpreter's
start-up and argparse, not the client.  Standard library only: the transport is
found when a command runs (see :mod:`ocireg._discovery`), progress bars use
``tqdm`` and completion uses ``argcomplete`` only if they are installed.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
from collections.abc import Sequence

from . import __version__
from ._defaults import DEFAULT_JOBS, DEFAULT_TIMEOUT

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing: a quicker start-up
if TYPE_CHECKING:
    from typing import Any, NoReturn

    from ._artifact import ArtifactFile
    from ._manifest import Platform
    from ._reference import Reference
    from ._semver import VersionRange

__all__ = ["PROG", "RefArg", "build_parser", "entry_point", "main"]

PROG = "ocireg"
_SHELLS = ("bash", "zsh", "fish")
PULL_FORMATS = ("oci", "docker-archive")


# --- argument values ------------------------------------------------------------------


class RefArg:
    """A reference as typed (short names are resolved with registries.conf) and parsed."""

    __slots__ = ("ref", "text")

    def __init__(self, text: str, ref: Reference) -> None:
        self.text = text
        self.ref = ref

    def __repr__(self) -> str:
        return f"RefArg({self.text!r})"

    @property
    def familiar(self) -> str:
        return self.ref.familiar


def _reference(text: str) -> RefArg:
    from ._reference import Reference

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
    from ._manifest import Platform

    try:
        return Platform.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _registry_host(text: str) -> str:
    """A registry host as ``docker login`` takes it: ``host[:port]``, maybe as a URL."""
    host = text.split("://", 1)[1] if "://" in text else text
    host = host.split("/", 1)[0]
    from ._reference import validate_registry

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
    if not value > 0 or value == float("inf"):  # nan compares false
        raise argparse.ArgumentTypeError(f"{text!r}: give a number of seconds above zero")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give at least 1")
    return value


def _semver(text: str) -> VersionRange:
    from ._semver import VersionRange

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
    from pathlib import Path

    from ._artifact import ArtifactFile
    from ._media import is_valid_media_type

    path, sep, media_type = text.rpartition(":")
    if sep and path and is_valid_media_type(media_type):
        return ArtifactFile(Path(path), media_type)
    return ArtifactFile(Path(text))


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
                            "(default: stdlib, the standard library's)")
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
    platform_arg(sub, "the platform's config from an index (default linux/amd64)")
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
    sub.add_argument("--format", choices=PULL_FORMATS, default="oci",
                     help="oci: an OCI image layout directory (default); docker-archive: a tar "
                          "file as docker save writes it (one platform: --platform, else linux/amd64)")
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
    sub.add_argument("--platform", type=_platform, action="append", default=[],
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
    _global_options(push, suppress=True)
    push.add_argument("ref", metavar="REF", type=_reference)
    push.add_argument("files", metavar="FILE[:MEDIATYPE]", nargs="+", type=_artifact_file)
    push.add_argument("--artifact-type", help="the artifact's type (default application/vnd.unknown.artifact.v1)")
    push.add_argument("--annotation", type=_annotation, action="append", default=[], metavar="KEY=VALUE",
                      help="a manifest annotation (repeatable)")
    push.add_argument("--subject", type=_reference, metavar="REF",
                      help="the image this artifact refers to (same repository)")
    pull = actions.add_parser("pull", help="write an artifact's files by their titles",
                              description="write an artifact's files by their titles")
    _global_options(pull, suppress=True)
    pull.add_argument("ref", metavar="REF", type=_reference)
    pull.add_argument("-o", "--output", metavar="DIR", default=".", help="directory to write to (default .)")
    return parser


class _Usage(Exception):
    """A usage error found after parsing: reported by argparse, exit status 2."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``ocireg`` with ``argv`` (default: the process arguments); return the exit status."""
    parser = build_parser()
    if "_ARGCOMPLETE" in os.environ:  # the shell asks for completions: answer and exit
        with contextlib.suppress(ImportError):
            importlib.import_module("argcomplete").autocomplete(parser)
    args = parser.parse_args(argv)
    from ._cli_commands import run  # the client, only once there is a command to run

    return run(parser, args)


def entry_point() -> NoReturn:
    """The ``ocireg`` program: :func:`main`, then an exit without the interpreter's teardown.

    Tearing down the modules of a finished command (the garbage collector walking
    every class and function the client defined) takes 80 ms here, longer than a tag
    listing's own work.  By then the command has closed its files and connections;
    what is left in stdout and stderr is flushed before leaving.  :func:`main` itself
    returns normally, for callers in the same process.
    """
    try:
        status: int | str | None = main()
    except SystemExit as exc:  # --help, --version, usage errors
        status = exc.code
    if not isinstance(status, int | None):  # a message: let the interpreter print it
        raise SystemExit(status)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError, AttributeError):  # closed or gone: nothing to add
            stream.flush()
    os._exit(status or 0)


def _one_line(text: str) -> str:
    return " ".join(text.split())
