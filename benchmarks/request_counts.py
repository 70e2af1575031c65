"""Benchmark 3: requests spent on a token-auth registry (counts, not seconds).

The gem pays 401 + token request + retry on every call.  ocireg caches tokens per
scope set, so on the token set-up of the test bed:

- listing tags 20 times costs one token request and one 401 (the first call);
- pulling an image with 5 layers costs one token request and one 401.

Each phase uses a fresh ``Registry`` (an empty token cache).  The token server counts
its requests by scope set; the registry's access log gives every registry request
and its status.  PASS when every scope set was asked for exactly once and the only
401 is the first request of the phase; the request count is reported against
the minimum (the 401, then one request per call or blob).
"""

from __future__ import annotations

import random
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import Check, Result, use_test_bed

from ocireg import Registry
from ocireg._transport import Transport

SECTION = "requests"
LISTINGS = 20
LAYERS = 5


def run(transports: dict[str, Callable[[], Transport]], workdir: Path) -> tuple[list[Result], list[Check]]:
    use_test_bed()
    from images import oci_image, push_raw
    from registry_bed import start_registry

    results: list[Result] = []
    checks: list[Check] = []
    reg = start_registry("token")
    try:
        assert reg.token_server is not None
        tokens = reg.token_server
        image = oci_image([64 * 1024] * LAYERS, rng=random.Random(3), gzipped=False)
        repo, tag = "bench/requests", "v1"
        push_raw(reg.url, repo, image, tag=tag, auth=reg.writer.creds)

        def phase(name: str, action: Callable[[Registry], Any], minimum: int, transport: str,
                  make: Callable[[], Transport]) -> None:
            tokens.reset_counts()
            before = len(reg.access_log_lines())
            client = Registry(reg.url, username=reg.writer.name, password=reg.writer.password,
                              transport=make())
            label = f"{name} ({transport})"
            try:
                action(client)
            except Exception as exc:  # reported as a failed check; the other phases still run
                checks.append(Check(SECTION, f"{label}: one token per scope set, one 401", False,
                                    f"error: {type(exc).__name__}: {exc}"[:300]))
                return
            finally:
                client.transport.close()
            entries = reg.access_log_lines()[before:]
            counts = tokens.counts()
            statuses = [e.status for e in entries]
            unauthorized = [i for i, s in enumerate(statuses) if s == 401]
            results.append(Result(SECTION, f"{label}: token requests", "requests",
                                  [float(tokens.total_requests)], higher_is_better=False,
                                  note=f"{len(counts)} scope set(s)"))
            results.append(Result(SECTION, f"{label}: registry requests", "requests",
                                  [float(len(entries))], higher_is_better=False,
                                  note=f"{len(unauthorized)} x 401; minimum {minimum}"))
            once = bool(counts) and all(n == 1 for n in counts.values())
            first_only = unauthorized == [0]
            scope_text = "; ".join(f"{m} {' '.join(s)} x{n}" for (m, s), n in sorted(counts.items()))
            checks.append(Check(
                SECTION, f"{label}: one token per scope set, one 401",
                once and first_only,
                f"tokens: {scope_text or 'none'}; registry: {len(entries)} requests "
                f"(minimum {minimum}), 401 at positions {unauthorized}",
            ))

        def list_tags(client: Registry) -> None:
            for _ in range(LISTINGS):
                if tag not in client.tags(repo).tags:
                    raise RuntimeError("tag missing from the listing")

        def pull(client: Registry) -> None:
            with tempfile.TemporaryDirectory(dir=workdir) as layout:
                result = client.pull(repo, tag, layout)
                if result.blobs_fetched != LAYERS + 1:
                    raise RuntimeError(f"fetched {result.blobs_fetched} blobs")

        for transport, make in transports.items():
            # The minimum: the first request answered 401, then the call again with the token.
            phase(f"tags x{LISTINGS}", list_tags, LISTINGS + 1, transport, make)
            # 401, manifest, config, 5 layers.
            phase(f"pull {LAYERS} layers", pull, 1 + 1 + 1 + LAYERS, transport, make)
    finally:
        reg.stop()
    return results, checks
