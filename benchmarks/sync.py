"""Sync throughput: images and MiB per second, on threads and on a Dask cluster of processes.

    .venv/bin/python benchmarks/sync.py                       # 24 images of 2 x 4 MiB
    .venv/bin/python benchmarks/sync.py --images 48 --layer-size 1MiB --workers 1,2

Two local registries (no auth) of the test bed; the source is seeded with raw uploads
(http.client, tests/images.push_raw).  Each case mirrors every image into a fresh
target repository and reports wall time, images/s and MiB/s; the rate per worker is
what a Dask worker process (one thread) sustains here.  On this 2-core machine the
registries, the client and the workers share two cores, so the numbers are a floor
for real clusters, where a worker's bandwidth and the registry's latency decide.
Everything it starts is stopped when it returns.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "transports"), str(ROOT / "tests")]

from images import oci_image, push_raw  # noqa: E402
from ocireg import RegistrySettings, SyncConfig, SyncRule, TagFilter, sync  # noqa: E402
from registry_bed import start_registry  # noqa: E402

MiB = 1 << 20


def size(text: str) -> int:
    units = {"KiB": 1 << 10, "MiB": MiB, "GiB": 1 << 30}
    for unit, factor in units.items():
        if text.endswith(unit):
            return int(float(text[: -len(unit)]) * factor)
    return int(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--layer-size", type=size, default=4 * MiB)
    parser.add_argument("--threads", default="1,4", help="thread counts to run (comma-separated)")
    parser.add_argument("--workers", default="1,2", help="Dask worker process counts (comma-separated; '' for none)")
    args = parser.parse_args()

    with start_registry("none") as source, start_registry("none") as target:
        repo = f"bench/{uuid.uuid4().hex[:8]}"
        tags = [f"1.{i}.0" for i in range(args.images)]
        total = 0
        for i, tag in enumerate(tags):
            image = oci_image((args.layer_size, args.layer_size), rng=random.Random(i), gzipped=False)
            push_raw(source.url, repo, image, tag=tag)
            total += sum(b.size for b in image.blobs)
        print(f"{args.images} images, {total / MiB:.1f} MiB in all, layers of {args.layer_size / MiB:.2f} MiB")
        print(f"{'case':<24} {'seconds':>8} {'images/s':>9} {'MiB/s':>8}")

        def case(name: str, **options: object) -> None:
            rule = SyncRule(f"{source.host}/{repo}", f"{target.host}/{uuid.uuid4().hex[:8]}",
                            tags=TagFilter(tags=tuple(tags)))
            config = SyncConfig((rule,), (RegistrySettings(source.host, docker_config=False),
                                          RegistrySettings(target.host, docker_config=False)))
            started = time.perf_counter()
            report = sync(config, **options)  # type: ignore[arg-type]
            seconds = time.perf_counter() - started
            assert report.ok and report.copied == args.images, report.summary()
            print(f"{name:<24} {seconds:8.2f} {args.images / seconds:9.1f} {report.bytes / MiB / seconds:8.1f}")

        for n in [int(t) for t in args.threads.split(",") if t]:
            case(f"threads jobs={n}", jobs=n)
        worker_counts = [int(w) for w in args.workers.split(",") if w]
        if worker_counts:
            import distributed

            for n in worker_counts:
                with distributed.LocalCluster(processes=True, n_workers=n, threads_per_worker=1,
                                              dashboard_address=None) as cluster, \
                        distributed.Client(cluster) as client:
                    case(f"dask workers={n}", executor=client.get_executor())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
