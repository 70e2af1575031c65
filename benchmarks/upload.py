"""Benchmark 4: blob upload throughput (MiB/s) from a file to a local registry.

Every repetition pushes to a fresh repository, so the registry never answers
"already there" to the HEAD that precedes an upload.  The digest is computed once
beforehand and passed in: the numbers measure the transfer, not hashing the file.

- chunked: the public ``Registry.push_blob(repo, path, digest)``; a blob above
  ``MONOLITHIC_LIMIT`` (128 MiB) goes as ``CHUNK_SIZE`` (128 MiB) PATCHes and a final PUT;
- monolithic: the same ``push_blob`` flow run with ``monolithic_limit`` above the
  blob size, one streamed PUT.  It reads the file through the driver's own source
  helpers, which verify the sha256 while the bytes stream (a chunk of a chunked upload
  is not checked client-side: the registry checks the whole on commit);
- baseline: ``http.client`` streaming the file in one PUT with 1 MiB blocks.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

from common import Result, attempt, mib_per_s, put_blob_file, stopwatch

from ocireg import Registry
from ocireg._transport import Transport
from ocireg._upload import CHUNK_SIZE

SECTION = "upload"


def run(
    base_url: str,
    blob: Path,
    digest: str,
    transports: dict[str, Callable[[], Transport]],
    repeat: int,
) -> list[Result]:
    size = blob.stat().st_size
    counter = itertools.count()
    cases: list[tuple[Result, Callable[[], float]]] = []
    registries: list[Registry] = []

    def fresh_repo(kind: str) -> str:
        return f"bench/upload-{kind}-{next(counter)}"

    for name, make in transports.items():
        reg = Registry(base_url, transport=make())
        registries.append(reg)

        def monolithic(reg: Registry = reg, name: str = name) -> float:
            repo = fresh_repo(f"mono-{name}")
            with stopwatch() as elapsed:
                pushed = reg.push_blob(repo, blob, digest, monolithic_limit=size)
            if pushed.how != "uploaded":
                raise RuntimeError(f"blob was {pushed.how}, not uploaded")
            return mib_per_s(size, elapsed())

        def chunked(reg: Registry = reg, name: str = name) -> float:
            repo = fresh_repo(f"chunked-{name}")
            with stopwatch() as elapsed:
                pushed = reg.push_blob(repo, blob, digest)
            if pushed.how != "uploaded":
                raise RuntimeError(f"blob was {pushed.how}, not uploaded")
            return mib_per_s(size, elapsed())

        cases.append((Result(SECTION, f"ocireg {name} monolithic (1 PUT)", "MiB/s",
                             note="sha256 checked while streaming"), monolithic))
        chunks = -(-size // CHUNK_SIZE)
        cases.append((Result(SECTION, f"ocireg {name} chunked (push_blob)", "MiB/s",
                             note=f"{chunks} PATCH x {CHUNK_SIZE >> 20} MiB + PUT"), chunked))

    def baseline() -> float:
        with stopwatch() as elapsed:
            put_blob_file(base_url, fresh_repo("httpclient"), blob, digest)
        return mib_per_s(size, elapsed())

    cases.append((Result(SECTION, "http.client 1 PUT, 1 MiB blocks (baseline)", "MiB/s"), baseline))
    try:
        for _ in range(repeat):
            for result, action in cases:
                attempt(result, action)
    finally:
        for reg in registries:
            reg.transport.close()
    return [result for result, _ in cases]
