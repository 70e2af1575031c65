"""Shared pieces of the benchmarks: paths, content, seeding, statistics and output.

Seeding a registry goes through ``http.client`` alone (no ocireg code), streaming
from a file, so the content every benchmark reads was not written by the client
being measured, and a 1 GiB blob never sits in memory.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import random
import statistics
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"

MiB = 1 << 20
GiB = 1 << 30

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
# Random bytes are no tar, but no client here unpacks layers: the digest is what counts.
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"

SEED_USER_AGENT = "ocireg-bench-seed"


def use_checkout() -> None:
    """Import ocireg from this checkout, here and in every child process.

    A shared virtual environment may have another checkout of ocireg installed; this
    checkout's ``src`` and ``transports`` go first on the path (and on PYTHONPATH, which
    child processes inherit), so the code measured is the code checked out here.
    """
    paths = [str(ROOT / "src"), str(ROOT / "transports")]
    for path in reversed(paths):
        if path not in sys.path:
            sys.path.insert(0, path)
    inherited = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p not in paths]
    os.environ["PYTHONPATH"] = os.pathsep.join(paths + inherited)


def use_test_bed() -> None:
    """Make tests/registry_bed.py, tests/images.py and tests/tokenserver.py importable."""
    if str(TESTS) not in sys.path:
        sys.path.append(str(TESTS))  # after benchmarks/: a test module never shadows ours


# --- content -----------------------------------------------------------------------


def random_file(path: Path, size: int, seed: int) -> str:
    """Write ``size`` pseudo-random bytes to ``path`` in 16 MiB blocks; return the digest."""
    rng = random.Random(seed)
    hasher = hashlib.sha256()
    with path.open("wb") as out:
        left = size
        while left:
            block = rng.randbytes(min(left, 16 * MiB))
            hasher.update(block)
            out.write(block)
            left -= len(block)
    return "sha256:" + hasher.hexdigest()


def sha256_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# --- seeding over http.client ------------------------------------------------------------


def _split(url: str) -> tuple[str, str]:
    parts = urllib.parse.urlsplit(url)
    return parts.netloc, parts.path + (f"?{parts.query}" if parts.query else "")


def _call(
    method: str, url: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    netloc, target = _split(url)
    # 1 MiB blocks: http.client's default 8 KiB makes a file body needlessly slow.
    conn = http.client.HTTPConnection(netloc, timeout=120, blocksize=MiB)
    try:
        conn.request(method, target, body=body, headers={"User-Agent": SEED_USER_AGENT, **(headers or {})})
        response = conn.getresponse()
        data = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data
    finally:
        conn.close()


def request_status(method: str, url: str, headers: dict[str, str] | None = None) -> int:
    """The status a registry answers (a HEAD after a push, to check it landed)."""
    return _call(method, url, headers=headers)[0]


def put_blob_file(base_url: str, repo: str, path: Path, digest: str) -> None:
    """Monolithic upload of a file (POST, then one streamed PUT ?digest=); no auth."""
    status, headers, body = _call(
        "POST", f"{base_url}/v2/{repo}/blobs/uploads/", headers={"Content-Length": "0"}
    )
    if status != 202 or "location" not in headers:
        raise RuntimeError(f"upload POST answered {status}: {body[:200]!r}")
    url = urllib.parse.urljoin(base_url + "/", headers["location"])
    url += ("&" if "?" in url else "?") + urllib.parse.urlencode({"digest": digest})
    size = path.stat().st_size
    with path.open("rb") as data:
        status, _, body = _call(
            "PUT", url, body=data,
            headers={"Content-Length": str(size), "Content-Type": "application/octet-stream"},
        )
    if status != 201:
        raise RuntimeError(f"upload PUT answered {status}: {body[:200]!r}")


def put_blob_bytes(base_url: str, repo: str, data: bytes) -> str:
    digest = sha256_of(data)
    status, headers, body = _call(
        "POST", f"{base_url}/v2/{repo}/blobs/uploads/", headers={"Content-Length": "0"}
    )
    if status != 202:
        raise RuntimeError(f"upload POST answered {status}: {body[:200]!r}")
    url = urllib.parse.urljoin(base_url + "/", headers["location"])
    url += ("&" if "?" in url else "?") + urllib.parse.urlencode({"digest": digest})
    status, _, body = _call("PUT", url, body=data, headers={"Content-Type": "application/octet-stream"})
    if status != 201:
        raise RuntimeError(f"upload PUT answered {status}: {body[:200]!r}")
    return digest


@dataclass(frozen=True)
class SeededImage:
    """An image pushed by :func:`seed_image`: its documents as bytes and its layers."""

    repo: str
    tag: str
    manifest: bytes
    config: bytes
    layers: tuple[tuple[str, int], ...]  # (digest, size), in manifest order

    @property
    def manifest_digest(self) -> str:
        return sha256_of(self.manifest)

    @property
    def config_digest(self) -> str:
        return sha256_of(self.config)

    @property
    def layer_digest(self) -> str:
        return self.layers[0][0]

    @property
    def layer_size(self) -> int:
        return self.layers[0][1]

    @property
    def total_size(self) -> int:
        return len(self.manifest) + len(self.config) + sum(size for _, size in self.layers)


def image_documents(layers: Sequence[tuple[str, int]]) -> tuple[bytes, bytes]:
    """The (manifest, config) of an OCI image with these (digest, size) layers, compact JSON."""
    config = json.dumps({
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [digest for digest, _ in layers]},
    }, separators=(",", ":")).encode()
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": sha256_of(config), "size": len(config)},
        "layers": [{"mediaType": OCI_LAYER, "digest": digest, "size": size} for digest, size in layers],
    }, separators=(",", ":")).encode()
    return manifest, config


def put_manifest(base_url: str, repo: str, reference: str, manifest: bytes) -> None:
    status, _, body = _call(
        "PUT", f"{base_url}/v2/{repo}/manifests/{reference}", body=manifest,
        headers={"Content-Type": OCI_MANIFEST},
    )
    if status != 201:
        raise RuntimeError(f"manifest PUT answered {status}: {body[:300]!r}")


def seed_image(base_url: str, repo: str, tag: str, layers: Sequence[tuple[Path, str]]) -> SeededImage:
    """An OCI image whose layers are the files ``layers`` (path, digest), pushed and tagged."""
    described = []
    for path, digest in layers:
        put_blob_file(base_url, repo, path, digest)
        described.append((digest, path.stat().st_size))
    manifest, config = image_documents(described)
    put_blob_bytes(base_url, repo, config)
    put_manifest(base_url, repo, tag, manifest)
    return SeededImage(repo, tag, manifest, config, tuple(described))


def seed_single_layer_image(base_url: str, repo: str, tag: str, layer: Path, layer_digest: str) -> SeededImage:
    return seed_image(base_url, repo, tag, [(layer, layer_digest)])


def seed_tags(base_url: str, repo: str, manifest: bytes, tags: Sequence[str]) -> None:
    """Tag ``manifest`` (already pushed with its blobs) under every name in ``tags``.

    One keep-alive connection: thousands of tags take seconds, not a connection each.
    """
    netloc, prefix = _split(f"{base_url}/v2/{repo}/manifests/")
    conn = http.client.HTTPConnection(netloc, timeout=120)
    try:
        for tag in tags:
            conn.request("PUT", prefix + tag, body=manifest,
                         headers={"User-Agent": SEED_USER_AGENT, "Content-Type": OCI_MANIFEST})
            response = conn.getresponse()
            body = response.read()
            if response.status != 201:
                raise RuntimeError(f"manifest PUT {tag} answered {response.status}: {body[:300]!r}")
    finally:
        conn.close()


# --- measuring ---------------------------------------------------------------------------


@contextmanager
def stopwatch() -> Iterator[Callable[[], float]]:
    """``with stopwatch() as elapsed: ...``; ``elapsed()`` is the seconds the block took."""
    start = time.perf_counter()
    end: list[float] = []
    yield lambda: (end[0] if end else time.perf_counter()) - start
    end.append(time.perf_counter())


@dataclass
class Result:
    """One measured case: its repeated values, summarised by the median and the spread."""

    section: str
    case: str
    unit: str
    values: list[float] = field(default_factory=list)
    note: str = ""
    error: str | None = None
    higher_is_better: bool = True

    @property
    def median(self) -> float | None:
        return statistics.median(self.values) if self.values else None

    @property
    def low(self) -> float | None:
        return min(self.values) if self.values else None

    @property
    def high(self) -> float | None:
        return max(self.values) if self.values else None

    def as_json(self) -> dict[str, Any]:
        return {
            "section": self.section, "case": self.case, "unit": self.unit,
            "values": [round(v, 3) for v in self.values], "median": _round(self.median),
            "min": _round(self.low), "max": _round(self.high), "note": self.note, "error": self.error,
        }


@dataclass
class Check:
    """A pass/fail verdict (memory ceiling, request economy) with what was seen."""

    section: str
    name: str
    passed: bool
    detail: str

    def as_json(self) -> dict[str, Any]:
        return {"section": self.section, "name": self.name, "passed": self.passed, "detail": self.detail}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def mib_per_s(nbytes: int, seconds: float) -> float:
    return nbytes / MiB / seconds


def attempt(result: Result, action: Callable[[], float]) -> None:
    """Run one repetition, recording its value, or the first error (then stop repeating)."""
    if result.error is not None:
        return
    try:
        result.values.append(action())
    except Exception as exc:  # a benchmark reports a broken case and goes on with the others
        result.error = f"{type(exc).__name__}: {exc}"[:300]


def fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.1f}"


def table(results: list[Result]) -> str:
    """A plain-text table: case, median, min-max spread, unit, repetitions."""
    rows = [("case", "median", "min .. max", "unit", "n", "note")]
    for r in results:
        if r.error is not None and not r.values:
            rows.append((r.case, "ERROR", "", r.unit, "0", r.error))
            continue
        spread = f"{fmt(r.low)} .. {fmt(r.high)}"
        note = r.note if r.error is None else f"{r.note} [stopped: {r.error}]".strip()
        rows.append((r.case, fmt(r.median), spread, r.unit, str(len(r.values)), note))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = []
    for i, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [row[j].rjust(widths[j]) for j in (1, 2)]
        cells += [row[3].ljust(widths[3]), row[4].rjust(widths[4]), row[5]]
        lines.append("  ".join(cells).rstrip())
        if i == 0:
            lines.append("-" * len(lines[0]))
    return "\n".join(lines)
