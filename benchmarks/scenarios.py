"""Whole-process scenarios: the ``ocireg`` command next to curl, skopeo and python-dxf.

Each scenario runs every one of its commands ``runs`` times, round-robin (so a drift
of the shared machine spreads over all of them), each a fresh process timed from
outside with its peak RSS (``procs.run_measured``), and reports medians.  ocireg's
figure is set next to the baselines measured in the same run, as a ratio, against the
targets of issue 9.  The ocireg measured is this checkout's (``procs.ocireg_env``).

Scenarios (``SCENARIOS``; ``run.py --only NAME``):

- ``blob``: a 1 GiB blob to a file, verified (``ocireg blob REF@DIGEST -o FILE``) vs
  ``curl -o FILE``, and both to /dev/null;
- ``pull``: a 20 x 20 MiB image to an OCI layout (``ocireg pull``) vs one keep-alive
  curl fetching the same URLs (manifest, config, layers) and ``skopeo copy docker:// oci:``;
- ``latency``: a 20 x 1 MiB image through ``latency_proxy`` (25 ms each way, a 50 ms
  round trip): ocireg pull vs skopeo vs a serial keep-alive curl;
- ``copy``: the 20 x 20 MiB image to another registry vs ``skopeo copy docker:// docker://``;
- ``push``: a 1 GiB image from a layout vs ``curl -T`` of its blob as one monolithic PUT
  (the upload's POST is done before the clock starts);
- ``tags``: list 5,000 tags (CLI) vs python-dxf (else curl + a JSON parse), and
  ``ocireg --help`` start-up;
- ``transports``: the 1 GiB blob to a file over each transport the CLI offers (and the
  standard-library one through the library, if ``ocireg.HTTPClientTransport`` exists);
- ``rss``: peak RSS of ``ocireg pull`` of a 1 GiB image vs a 10 MiB one.

Every registry is CNCF distribution from the test bed (no auth), its storage under the
scratch directory (a tmpfs by default, see run.py), as are all outputs; fresh registries
take each push and copy, so no run finds its blobs already there.
"""

from __future__ import annotations

import contextlib
import http.client
import importlib.util
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import (
    OCI_MANIFEST,
    MiB,
    SeededImage,
    image_documents,
    put_blob_bytes,
    put_manifest,
    random_file,
    request_status,
    seed_image,
    seed_tags,
)
from latency_proxy import LatencyProxy
from procs import Sample, compile_checkout, ocireg_command, ocireg_env, run_measured

SCENARIOS = ("blob", "pull", "latency", "copy", "push", "tags", "transports", "rss")

BIG = 1 << 30
LAYERS = 20
TAGS = 5000
LATENCY_ONE_WAY = 0.025


# --- cases: one command, measured run after run ----------------------------------------------


def _nothing(run: int) -> dict[str, int] | None:
    return None


@dataclass
class Case:
    """One command of a scenario.  ``prepare(i)`` (untimed) returns run i's argv;
    ``finish(i)`` (untimed) checks what it produced, removes it, and may return counts
    of the run to keep (the requests a destination registry answered)."""

    name: str
    prepare: Callable[[int], list[str]]
    finish: Callable[[int], dict[str, int] | None] = _nothing
    env: dict[str, str] | None = None
    stdout: Path | None = None
    note: str = ""
    samples: list[Sample] = field(default_factory=list)
    counts: dict[str, list[int]] = field(default_factory=dict)  # e.g. requests the registry saw, per run
    error: str | None = None
    warm: tuple[Path, int] | None = None  # (directory, bytes): warm_pages before each run

    @property
    def seconds(self) -> float | None:
        return statistics.median(s.seconds for s in self.samples) if self.samples else None

    @property
    def rss(self) -> float | None:
        values = [s.rss_mib for s in self.samples if s.rss_mib is not None]
        return statistics.median(values) if values else None

    @property
    def cpu(self) -> float | None:
        values = [s.cpu_seconds for s in self.samples if s.cpu_seconds is not None]
        return statistics.median(values) if values else None

    def as_json(self) -> dict[str, Any]:
        return {
            "case": self.name, "note": self.note, "error": self.error,
            "seconds": [round(s.seconds, 4) for s in self.samples],
            "rss_mib": [None if s.rss_mib is None else round(s.rss_mib, 1) for s in self.samples],
            "cpu_seconds": [None if s.cpu_seconds is None else round(s.cpu_seconds, 3) for s in self.samples],
            "median_seconds": _round(self.seconds, 4), "median_rss_mib": _round(self.rss, 1),
            "median_cpu_seconds": _round(self.cpu, 3),
            "counts": self.counts,
        }

    def counted(self) -> str:
        """Median of each count that is not zero, e.g. ``requests 23, connections 1``."""
        medians = {name: statistics.median(values) for name, values in self.counts.items() if values}
        return ", ".join(f"{name} {value:g}" for name, value in medians.items() if value)


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


Counter = Callable[[], int]


def run_round_robin(cases: Sequence[Case], runs: int, counters: dict[str, Counter] | None = None) -> None:
    """Run i of every case, then run i+1 of every case...; a case that fails stops repeating.

    ``counters`` are running totals (requests in a registry's access log, connections a
    proxy accepted), read before and after each run: a case records what its run added.
    """
    counters = counters or {}
    for i in range(runs):
        for case in cases:
            if case.error is not None:
                continue
            try:
                argv = case.prepare(i)
                if case.warm is not None:
                    warm_pages(*case.warm)
                before = {name: count() for name, count in counters.items()}
                sample = run_measured(argv, env=case.env, stdout_path=case.stdout)
                for name, count in counters.items():
                    case.counts.setdefault(name, []).append(count() - before[name])
                for name, value in (case.finish(i) or {}).items():
                    case.counts.setdefault(name, []).append(value)
                case.samples.append(sample)
            except Exception as exc:  # reported in the table; the other cases go on
                case.error = f"{type(exc).__name__}: {exc}"[:400]


def warm_pages(directory: Path, size: int) -> None:
    """Write ``size`` bytes into ``directory``'s file system and delete them, just before a timed run.

    This VM hands free memory back to the host (virtio-balloon free page reporting), and
    the next writer that touches those pages pays a host fault for each: writing 1 GiB
    into tmpfs after an idle moment took 1.8-2.1 s of system time, right after another
    GiB was freed 0.8-1.1 s.  Without this, the case that ran just after another case's
    output was removed wrote into pages still backed and the one after a pause did not:
    a round-robin order that gave curl the cheap pages and ocireg the dear ones made a
    1 GiB download look 2.1 x curl.  After it, every writer starts from pages freed a
    moment ago (the spread stays wide: benchmarks/README.md).
    """
    path = directory / ".warm-pages"
    block = bytes(MiB)
    with path.open("wb") as sink:
        for _ in range(-(-size // MiB)):
            sink.write(block)
    path.unlink()


# --- verdicts: ratios and limits against the targets -----------------------------------------------


@dataclass
class Verdict:
    """One row of the results table."""

    scenario: str
    ocireg: str
    baseline: str = ""
    ratio: str = ""
    target: str = ""
    met: bool | None = None  # None: shown for information, no target

    def as_json(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def note_error(self, case: Case) -> Verdict:
        """Name the case that kept this row from being measured."""
        why = f"{case.name}: {case.error}" if case.error else f"{case.name}: no run"
        self.baseline = f"{self.baseline} [{why}]".strip()
        return self


def secs(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def mib(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} MiB"


def ratio_verdict(scenario: str, ours: Case, theirs: Case, limit: float | None) -> Verdict:
    """Time of ``ours`` over time of ``theirs``; met when at most ``limit`` (None: information)."""
    target = "" if limit is None else f"≤ {limit:g} x"
    if ours.seconds is None or theirs.seconds is None:
        broken = ours if ours.seconds is None else theirs
        return Verdict(scenario, f"{ours.name} {secs(ours.seconds)}",
                       f"{theirs.name} {secs(theirs.seconds)}", "-", target,
                       False if limit is not None else None).note_error(broken)
    ratio = ours.seconds / theirs.seconds
    return Verdict(scenario, f"{ours.name} {secs(ours.seconds)}", f"{theirs.name} {secs(theirs.seconds)}",
                   f"{ratio:.2f} x", target, None if limit is None else ratio <= limit)


def rss_verdict(scenario: str, case: Case, limit: float | None) -> Verdict:
    target = "" if limit is None else f"peak RSS ≤ {limit:g} MiB"
    if case.rss is None:
        return Verdict(scenario, f"{case.name} peak RSS -", target=target,
                       met=False if limit is not None else None).note_error(case)
    return Verdict(scenario, f"{case.name} peak RSS {mib(case.rss)}", target=target,
                   met=None if limit is None else case.rss <= limit)




# --- the test bed: a source registry and the seeded content, made on first use ---------------------


@dataclass
class Bed:
    """Registries on ``scratch`` and the content the scenarios read, each made once."""

    scratch: Path
    stack: contextlib.ExitStack
    _source: Any = None
    _images: dict[str, tuple[SeededImage, list[tuple[Path, str]]]] = field(default_factory=dict)
    _counter: int = 0

    def __post_init__(self) -> None:
        compile_checkout()
        self.docker_config = self.scratch / "docker-config"  # empty: no stored credentials
        self.docker_config.mkdir(parents=True, exist_ok=True)
        self.files = self.scratch / "files"
        self.files.mkdir(exist_ok=True)

    def env(self) -> dict[str, str]:
        return ocireg_env({"DOCKER_CONFIG": str(self.docker_config)})

    def start_registry(self, label: str) -> Any:
        """A new no-auth registry with its storage under scratch; stopped and removed at the end."""
        from registry_bed import start_registry

        self._counter += 1
        where = self.scratch / f"registry-{label}-{self._counter}"
        instance = start_registry("none", workdir=where)
        self.stack.callback(shutil.rmtree, where, ignore_errors=True)
        self.stack.callback(instance.stop)
        return instance

    @staticmethod
    def discard(instance: Any) -> None:
        """Stop a registry now and free its storage (a tmpfs holds it in memory)."""
        instance.stop()
        shutil.rmtree(instance.workdir, ignore_errors=True)

    @property
    def source(self) -> Any:
        if self._source is None:
            self._source = self.start_registry("source")
        return self._source

    def source_requests(self) -> int:
        """Requests the source registry has answered so far (its access log, the bed's own left out)."""
        return len(self.source.access_log_lines())

    def counters(self) -> dict[str, Counter]:
        return {"requests": self.source_requests}

    def image(self, key: str, layer_sizes: Sequence[int], *, keep_files: bool = False) -> SeededImage:
        """An image ``bench/KEY:latest`` on the source registry with layers of random bytes."""
        if key not in self._images:
            layers = []
            for n, size in enumerate(layer_sizes):
                path = self.files / f"{key}-{n}.blob"
                seed = sum(key.encode()) * 1000 + n  # distinct content for every image
                layers.append((path, random_file(path, size, seed=seed)))
            image = seed_image(self.source.url, f"bench/{key}", "latest", layers)
            if not keep_files:
                for path, _ in layers:
                    path.unlink()
            self._images[key] = (image, layers)
        return self._images[key][0]

    def layer_files(self, key: str) -> list[tuple[Path, str]]:
        return self._images[key][1]

    def ref(self, image: SeededImage, host: str | None = None) -> str:
        return f"{host or self.source.host}/{image.repo}:{image.tag}"

    def blob_url(self, image: SeededImage, digest: str, base: str | None = None) -> str:
        return f"{base or self.source.url}/v2/{image.repo}/blobs/{digest}"

    def big(self) -> SeededImage:
        return self.image("big", [BIG], keep_files=True)


def fresh_path(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    return path


def _file_size_is(path: Path, size: int) -> None:
    try:
        got = path.stat().st_size
    except FileNotFoundError:
        raise RuntimeError(f"{path.name} was not written") from None
    if got != size:
        raise RuntimeError(f"{path.name} has {got} bytes, expected {size}")


def _tree_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def check_layout(directory: Path, image: SeededImage, *, exact: bool = True) -> None:
    """An OCI layout holding the image: index.json, and (``exact``) exactly its blobs' bytes."""
    if not (directory / "index.json").is_file():
        raise RuntimeError(f"{directory.name}: no index.json")
    blobs = _tree_bytes(directory / "blobs")
    if exact and blobs != image.total_size:
        raise RuntimeError(f"{directory.name}: {blobs} bytes of blobs, expected {image.total_size}")
    if blobs < sum(size for _, size in image.layers):
        raise RuntimeError(f"{directory.name}: only {blobs} bytes of blobs")


def _then_remove(check: Callable[[], None], *paths: Path) -> None:
    try:
        check()
    finally:
        for path in paths:
            fresh_path(path)


def _to_file(name: str, argv_head: list[str], path: Path, size: int, env: dict[str, str] | None,
             note: str = "") -> Case:
    """``argv_head PATH``: a command that writes a ``size``-byte file, checked and removed after each run."""
    return Case(name, lambda i: [*argv_head, str(fresh_path(path))],
                lambda i: _then_remove(lambda: _file_size_is(path, size), path), env=env, note=note,
                warm=(path.parent, size))


def _pull_to_layout(name: str, bed: Bed, ref: str, image: SeededImage, path: Path) -> Case:
    """``ocireg pull REF PATH``, the layout checked and removed after each run."""
    return Case(name, lambda i: ocireg_command("pull", ref, str(fresh_path(path))),
                lambda i: _then_remove(lambda: check_layout(path, image), path), env=bed.env(),
                note="verified, OCI layout", warm=(path.parent, image.total_size))


def _curl_fetch_all(image: SeededImage, base: str, out: Path) -> list[str]:
    """One curl, one connection: manifest, config and layers, each to its own file."""
    argv = ["curl", "-sS", "--fail", "-H", f"Accept: {OCI_MANIFEST}",
            f"{base}/v2/{image.repo}/manifests/{image.tag}", "-o", str(out / "manifest")]
    for n, digest in enumerate([image.config_digest] + [d for d, _ in image.layers]):
        argv += [f"{base}/v2/{image.repo}/blobs/{digest}", "-o", str(out / f"blob-{n}")]
    return argv


def _skopeo(*args: str) -> list[str]:
    return ["skopeo", "--insecure-policy", "copy", "-q", *args]


def _missing(*tools: str) -> list[str]:
    return [t for t in tools if shutil.which(t) is None]


def _unavailable(name: str, why: str) -> Case:
    case = Case(name, lambda i: [])
    case.error = why
    return case


# --- the scenarios ----------------------------------------------------------------------------------


@dataclass
class Outcome:
    name: str
    title: str
    cases: list[Case]
    verdicts: list[Verdict]

    def as_json(self) -> dict[str, Any]:
        return {"scenario": self.name, "title": self.title,
                "cases": [c.as_json() for c in self.cases],
                "verdicts": [v.as_json() for v in self.verdicts]}


def scenario_blob(bed: Bed, runs: int) -> Outcome:
    image = bed.big()
    digest, size = image.layers[0]
    ref = f"{bed.source.host}/{image.repo}@{digest}"
    url = bed.blob_url(image, digest)
    out = bed.scratch / "blob-out"
    out.mkdir(exist_ok=True)
    ours = _to_file("ocireg blob -o", ocireg_command("blob", ref, "-o"), out / "o.blob", size, bed.env(),
                    note="sha256 verified, atomic write")
    # curl takes the URL first so that the output path can come last, as _to_file adds it.
    curl = _to_file("curl -o", ["curl", "-sS", "--fail", url, "-o"], out / "c.blob", size, None,
                    note="verifies nothing")
    ours_null = Case("ocireg blob > /dev/null", lambda i: ocireg_command("blob", ref), env=bed.env())
    curl_null = Case("curl -o /dev/null", lambda i: ["curl", "-sS", "--fail", "-o", "/dev/null", url])
    cases = [ours, curl, ours_null, curl_null]
    if _missing("curl"):
        cases = [ours, _unavailable("curl -o", "curl not installed"), ours_null]
    run_round_robin(cases, runs, bed.counters())
    title = "1 GiB blob to a file, verified"
    verdicts = [ratio_verdict(title, ours, cases[1], 1.0), rss_verdict(title, ours, 40)]
    if len(cases) == 4:
        verdicts.append(ratio_verdict("1 GiB blob to /dev/null", ours_null, curl_null, None))
    return Outcome("blob", title, cases, verdicts)


def _pull_cases(bed: Bed, image: SeededImage, host: str, base: str, tag: str) -> list[Case]:
    out = bed.scratch / f"pull-{tag}"
    out.mkdir(exist_ok=True)
    ref = f"{host}/{image.repo}:{image.tag}"
    ours = _pull_to_layout("ocireg pull", bed, ref, image, out / "ocireg")

    def curl_prepare(i: int) -> list[str]:
        fresh_path(out / "curl").mkdir()
        return _curl_fetch_all(image, base, out / "curl")

    curl = Case("curl keep-alive", curl_prepare,
                lambda i: _then_remove(lambda: _check_total(out / "curl", image), out / "curl"),
                note=f"one process, one connection, {len(image.layers) + 2} URLs, verifies nothing",
                warm=(out, image.total_size))
    skopeo = Case("skopeo", lambda i: _skopeo("--src-tls-verify=false", f"docker://{ref}",
                                              f"oci:{fresh_path(out / 'skopeo')}:{image.tag}"),
                  lambda i: _then_remove(lambda: check_layout(out / "skopeo", image, exact=False),
                                         out / "skopeo"),
                  note="copy docker:// oci:", warm=(out, image.total_size))
    cases = [ours]
    cases.append(curl if not _missing("curl") else _unavailable(curl.name, "curl not installed"))
    cases.append(skopeo if not _missing("skopeo") else _unavailable(skopeo.name, "skopeo not installed"))
    return cases


def _check_total(directory: Path, image: SeededImage) -> None:
    got = _tree_bytes(directory)
    if got != image.total_size:
        raise RuntimeError(f"curl wrote {got} bytes, expected {image.total_size}")


def scenario_pull(bed: Bed, runs: int) -> Outcome:
    image = bed.image("layers20", [20 * MiB] * LAYERS)
    cases = _pull_cases(bed, image, bed.source.host, bed.source.url, "local")
    run_round_robin(cases, runs, bed.counters())
    ours, curl, skopeo = cases
    title = f"{LAYERS} x 20 MiB image to an OCI layout"
    verdicts = [ratio_verdict(title, ours, curl, 1.3), ratio_verdict(title, ours, skopeo, 0.5),
                rss_verdict(title, ours, 60), rss_verdict(title, skopeo, None)]
    return Outcome("pull", title, cases, verdicts)


def scenario_latency(bed: Bed, runs: int) -> Outcome:
    image = bed.image("layers20x1", [MiB] * LAYERS)
    with LatencyProxy(("127.0.0.1", bed.source.port), LATENCY_ONE_WAY) as proxy:
        host = f"127.0.0.1:{proxy.port}"
        first, again = round_trips(host)
        if again < 2 * LATENCY_ONE_WAY or first < 4 * LATENCY_ONE_WAY:
            raise RuntimeError(f"the latency proxy adds too little: {secs(first)} for a request on a new "
                               f"connection, {secs(again)} on the same connection")
        cases = _pull_cases(bed, image, host, f"http://{host}", "far")
        cases[1].name = "serial keep-alive curl"
        run_round_robin(cases, runs, {**bed.counters(), "connections": lambda: proxy.accepted})
    ours, curl, skopeo = cases
    title = f"{LAYERS} x 1 MiB image, {2 * LATENCY_ONE_WAY * 1000:.0f} ms round trip"
    verdicts = [ratio_verdict(title, ours, curl, 0.5), ratio_verdict(title, ours, skopeo, 0.7)]
    measured = f" (measured: {secs(first)} for /v2/ on a new connection, {secs(again)} on the same one)"
    return Outcome("latency", title + measured, cases, verdicts)


def round_trips(host: str) -> tuple[float, float]:
    """Seconds for ``GET /v2/`` on a new connection, then again on the same connection."""
    conn = http.client.HTTPConnection(host, timeout=30)
    try:
        times = []
        for _ in range(2):
            start = time.perf_counter()
            conn.request("GET", "/v2/")
            conn.getresponse().read()
            times.append(time.perf_counter() - start)
        return times[0], times[1]
    finally:
        conn.close()


def scenario_copy(bed: Bed, runs: int) -> Outcome:
    image = bed.image("layers20", [20 * MiB] * LAYERS)
    src = bed.ref(image)
    dests: dict[str, Any] = {}

    def prepare(label: str, make: Callable[[str], list[str]]) -> Callable[[int], list[str]]:
        def run(i: int) -> list[str]:
            dests[label] = bed.start_registry(f"copy-{label}")
            return make(dests[label].host)
        return run

    ours = Case("ocireg copy", prepare("ocireg", lambda host: ocireg_command("copy", src, f"{host}/bench/copy:latest")),
                _landed(bed, dests, "ocireg", "bench/copy/manifests/latest"), env=bed.env(),
                note="fresh destination registry each run", warm=(bed.scratch, image.total_size))
    skopeo = Case("skopeo copy", prepare("skopeo", lambda host: _skopeo(
        "--src-tls-verify=false", "--dest-tls-verify=false", f"docker://{src}", f"docker://{host}/bench/copy:latest")),
        _landed(bed, dests, "skopeo", "bench/copy/manifests/latest"),
        note="docker:// docker://, fresh destination registry each run", warm=(bed.scratch, image.total_size))
    cases = [ours, skopeo if not _missing("skopeo") else _unavailable(skopeo.name, "skopeo not installed")]
    run_round_robin(cases, runs, bed.counters())
    title = f"copy the {LAYERS} x 20 MiB image between two registries"
    return Outcome("copy", title, cases, [ratio_verdict(title, ours, cases[1], 0.7)])


def _landed(bed: Bed, dests: dict[str, Any], label: str, path: str) -> Callable[[int], dict[str, int]]:
    """After a push or copy to the fresh registry ``dests[label]``: check that ``/v2/PATH``
    answers 200, count the requests the registry answered, and stop and remove it."""

    def finish(i: int) -> dict[str, int]:
        dest = dests.pop(label)
        try:
            answered = len(dest.access_log_lines())
            status = request_status("HEAD", f"{dest.url}/v2/{path}", {"Accept": OCI_MANIFEST})
            if status != 200:
                raise RuntimeError(f"{path} answers {status} after the run")
            return {"destination requests": answered}
        finally:
            bed.discard(dest)

    return finish


def write_layout(directory: Path, image: SeededImage, layers: list[tuple[Path, str]]) -> None:
    """An OCI image layout of ``image`` written by hand (independent of ocireg's layout code);
    layer files are hard-linked when they can be, so a 1 GiB layer costs no copy."""
    blobs = directory / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    (directory / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (blobs / image.manifest_digest.split(":")[1]).write_bytes(image.manifest)
    (blobs / image.config_digest.split(":")[1]).write_bytes(image.config)
    for path, digest in layers:
        target = blobs / digest.split(":")[1]
        try:
            os.link(path, target)
        except OSError:
            shutil.copyfile(path, target)
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": [{"mediaType": OCI_MANIFEST, "digest": image.manifest_digest,
                            "size": len(image.manifest),
                            "annotations": {"org.opencontainers.image.ref.name": image.tag}}]}
    (directory / "index.json").write_text(json.dumps(index))


def scenario_push(bed: Bed, runs: int) -> Outcome:
    image = bed.big()
    layers = bed.layer_files("big")
    layout = fresh_path(bed.scratch / "push-layout")
    write_layout(layout, image, layers)
    bed.stack.callback(shutil.rmtree, layout, ignore_errors=True)
    blob_path, digest = layers[0]
    dests: dict[str, Any] = {}

    def ours_prepare(i: int) -> list[str]:
        dests["ocireg"] = bed.start_registry("push-ocireg")
        return ocireg_command("push", str(layout), f"{dests['ocireg'].host}/bench/push:latest")

    def curl_prepare(i: int) -> list[str]:
        dest = dests["curl"] = bed.start_registry("push-curl")
        # The POST that opens the upload, with curl too, before the clock starts.
        done = subprocess.run(["curl", "-sS", "--fail", "-X", "POST", "-D", "-", "-o", "/dev/null",
                               f"{dest.url}/v2/bench/push/blobs/uploads/"],
                              capture_output=True, text=True, timeout=60, check=True)
        match = re.search(r"^location:\s*(\S+)", done.stdout, re.IGNORECASE | re.MULTILINE)
        if match is None:
            raise RuntimeError("the upload POST gave no Location")
        location = urllib.parse.urljoin(dest.url + "/", match[1])
        location += ("&" if "?" in location else "?") + urllib.parse.urlencode({"digest": digest})
        return ["curl", "-sS", "--fail", "-T", str(blob_path), "-H", "Content-Type: application/octet-stream",
                "-o", "/dev/null", location]

    ours = Case("ocireg push", ours_prepare, _landed(bed, dests, "ocireg", "bench/push/manifests/latest"),
                env=bed.env(), note="layer, config, manifest; fresh registry each run",
                warm=(bed.scratch, image.total_size))
    curl = Case("curl -T", curl_prepare, _landed(bed, dests, "curl", f"bench/push/blobs/{digest}"),
                note="the layer as one PUT (the POST before it is counted, not timed); fresh registry each run",
                warm=(bed.scratch, image.total_size))
    cases = [ours, curl if not _missing("curl") else _unavailable(curl.name, "curl not installed")]
    run_round_robin(cases, runs)
    title = "push a 1 GiB image from a layout"
    return Outcome("push", title, cases, [ratio_verdict(title, ours, cases[1], 1.05)])


_DXF_LIST = ("import sys\nfrom dxf import DXF\n"
             "sys.stdout.write(''.join(t + '\\n' for t in DXF(sys.argv[1], sys.argv[2], insecure=True).list_aliases()))\n")
_JSON_LIST = ("import json, sys\n"
              "sys.stdout.write(''.join(t + '\\n' for t in json.load(sys.stdin)['tags']))\n")


def _count_lines(path: Path, expected: int) -> None:
    with path.open("rb") as lines:
        got = sum(1 for _ in lines)
    if got != expected:
        raise RuntimeError(f"{got} tags listed, expected {expected}")


def scenario_tags(bed: Bed, runs: int) -> Outcome:
    repo = "bench/tags"
    config = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
    put_blob_bytes(bed.source.url, repo, config)
    manifest, _ = image_documents([])
    put_manifest(bed.source.url, repo, "t0", manifest)
    seed_tags(bed.source.url, repo, manifest, [f"t{n}" for n in range(1, TAGS)])
    out = bed.scratch / "tags"
    out.mkdir(exist_ok=True)
    ours = Case("ocireg tags", lambda i: ocireg_command("tags", f"{bed.source.host}/{repo}"),
                lambda i: _count_lines(out / "ocireg.txt", TAGS), env=bed.env(), stdout=out / "ocireg.txt")
    if importlib.util.find_spec("dxf") is not None:
        peer = Case("python-dxf", lambda i: [sys.executable, "-c", _DXF_LIST, bed.source.host, repo],
                    lambda i: _count_lines(out / "peer.txt", TAGS), stdout=out / "peer.txt",
                    note="DXF(...).list_aliases(), a fresh process")
    else:
        url = f"{bed.source.url}/v2/{repo}/tags/list"
        script = f"curl -sS --fail {url} | {sys.executable} -c \"$0\""
        peer = Case("curl + json", lambda i: ["sh", "-c", script, _JSON_LIST],
                    lambda i: _count_lines(out / "peer.txt", TAGS), stdout=out / "peer.txt",
                    note="python-dxf is not installed")
    help_case = Case("ocireg --help", lambda i: [sys.executable, "-m", "ocireg", "--help"], env=bed.env())
    floor = Case("python -c pass", lambda i: [sys.executable, "-c", "pass"], note="the interpreter alone")
    cases = [ours, peer, help_case, floor]
    run_round_robin(cases, runs, bed.counters())
    title = f"list {TAGS:,} tags with the CLI"
    verdicts = [ratio_verdict(title, ours, peer, 1.0)]
    if help_case.seconds is None:
        verdicts.append(Verdict("`ocireg --help`", "-", target="< 100 ms", met=False).note_error(help_case))
    else:
        verdicts.append(Verdict("`ocireg --help`", f"ocireg --help {secs(help_case.seconds)}",
                                f"python -c pass {secs(floor.seconds)}", target="< 100 ms",
                                met=help_case.seconds < 0.1))
    return Outcome("tags", title, cases, verdicts)


def cli_transports(bed: Bed) -> list[str]:
    """The names the CLI's --transport accepts, asked of the library itself (its help text is
    prose, not a list of choices): the registered transports that import, and stdlib."""
    code = "from ocireg._discovery import available_transports\nprint(' '.join(available_transports()))\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=bed.env(), timeout=60, check=False)
    return done.stdout.split() if done.returncode == 0 else []


def _library_has(bed: Bed, name: str) -> bool:
    done = subprocess.run([sys.executable, "-c", f"import ocireg; ocireg.{name}"], capture_output=True,
                          env=bed.env(), timeout=60, check=False)
    return done.returncode == 0


_STDLIB_BLOB = ("import sys\nfrom pathlib import Path\nimport ocireg\n"
                "with ocireg.Registry(sys.argv[1], transport=ocireg.HTTPClientTransport()) as reg:\n"
                "    reg.blob(sys.argv[2], sys.argv[3], Path(sys.argv[4]))\n")


def scenario_transports(bed: Bed, runs: int) -> Outcome:
    image = bed.big()
    digest, size = image.layers[0]
    ref = f"{bed.source.host}/{image.repo}@{digest}"
    out = bed.scratch / "transports"
    out.mkdir(exist_ok=True)
    cases = []
    choices = cli_transports(bed)
    for name in choices:
        cases.append(_to_file(name, ocireg_command("--transport", name, "blob", ref, "-o"), out / f"{name}.blob",
                              size, bed.env(), note="ocireg --transport NAME blob -o"))
    if not any(c in ("stdlib", "http.client", "httpclient") for c in choices) and _library_has(bed, "HTTPClientTransport"):
        cases.append(_to_file("stdlib (library)",
                              [sys.executable, "-c", _STDLIB_BLOB, bed.source.url, image.repo, digest],
                              out / "stdlib.blob", size, bed.env(),
                              note="Registry(transport=ocireg.HTTPClientTransport()).blob(); "
                                   "the CLI has no choice for it"))
    run_round_robin(cases, runs, bed.counters())
    title = "transports, 1 GiB blob to a file"
    by_name = {c.name: c for c in cases}
    verdicts = []
    if "urllib3" in by_name and "h11" in by_name:
        verdicts.append(ratio_verdict("h11 transport / urllib3 transport, 1 GiB", by_name["h11"],
                                      by_name["urllib3"], 1.2))
    for case in cases:
        if case.name not in ("urllib3", "h11") and "urllib3" in by_name:
            verdicts.append(ratio_verdict(f"{case.name} transport / urllib3 transport, 1 GiB", case,
                                          by_name["urllib3"], None))
    if not verdicts:
        verdicts.append(Verdict(title, f"CLI transports: {', '.join(choices) or 'none found'}",
                                target="h11 ≤ 1.2 x urllib3", met=False))
    return Outcome("transports", title, cases, verdicts)


def scenario_rss(bed: Bed, runs: int) -> Outcome:
    big = bed.big()
    small = bed.image("ten", [10 * MiB])
    out = bed.scratch / "rss"
    out.mkdir(exist_ok=True)
    cases = []
    for label, image, path in (("ocireg pull 1 GiB", big, out / "big"), ("ocireg pull 10 MiB", small, out / "ten")):
        cases.append(_pull_to_layout(label, bed, bed.ref(image), image, path))
    run_round_robin(cases, runs, bed.counters())
    big_case, small_case = cases
    title = "memory against size: peak RSS, pull 1 GiB vs 10 MiB"
    if big_case.rss is None or small_case.rss is None:
        verdict = Verdict(title, "-", target="within 10 MiB", met=False)
        verdict.note_error(big_case if big_case.rss is None else small_case)
    else:
        grown = big_case.rss - small_case.rss
        verdict = Verdict(title, f"1 GiB {mib(big_case.rss)}", f"10 MiB {mib(small_case.rss)}",
                          f"{grown:+.1f} MiB", "within 10 MiB", grown <= 10)
    return Outcome("rss", title, cases, [verdict])


RUNNERS: dict[str, Callable[[Bed, int], Outcome]] = {
    "blob": scenario_blob,
    "pull": scenario_pull,
    "latency": scenario_latency,
    "copy": scenario_copy,
    "push": scenario_push,
    "tags": scenario_tags,
    "transports": scenario_transports,
    "rss": scenario_rss,
}


# --- output ----------------------------------------------------------------------------------------


def cases_table(outcome: Outcome) -> str:
    rows = [("case", "median", "min .. max", "CPU", "peak RSS", "n", "note")]
    # Requests (and connections) the registry saw per run go in the note.
    for case in outcome.cases:
        if case.samples:
            times = [s.seconds for s in case.samples]
            spread = f"{secs(min(times))} .. {secs(max(times))}"
        else:
            spread = ""
        note = "; ".join(part for part in (case.counted(), case.note) if part)
        if case.error is not None:
            note = f"{note} [error: {case.error}]".strip()
        rows.append((case.name, secs(case.seconds), spread, secs(case.cpu), mib(case.rss),
                     str(len(case.samples)), note))
    widths = [max(len(r[i]) for r in rows) for i in range(6)]
    lines = []
    for n, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [row[i].rjust(widths[i]) for i in (1, 2, 3, 4, 5)] + [row[6]]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("-" * len(lines[0]))
    return "\n".join(lines)


def verdicts_markdown(verdicts: Sequence[Verdict]) -> str:
    lines = ["| scenario | ocireg (median) | baseline (median) | ratio | target | met |",
             "| --- | --- | --- | ---: | --- | --- |"]
    for v in verdicts:
        met = "-" if v.met is None else ("yes" if v.met else "**no**")
        lines.append(f"| {v.scenario} | {v.ocireg} | {v.baseline} | {v.ratio} | {v.target} | {met} |")
    return "\n".join(lines)
