"""`make demo`: a throwaway registry on loopback, an image pushed, then read back with ocireg.

Starts CNCF distribution on 127.0.0.1 (a free port, temporary storage), seeds a
small generated multi-platform image with raw uploads, then uses the `ocireg`
command line to list tags, print the manifest, resolve a platform digest, pull it
into an OCI layout, copy it to another repository and list the copy.  Everything
is stopped and removed at the end.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from images import oci_index, push_raw  # noqa: E402
from registry_bed import start_registry  # noqa: E402


def ocireg(*args: str) -> str:
    command = [sys.executable, "-m", "ocireg", *args]
    print(f"\n$ ocireg {shlex.join(args)}", flush=True)
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    sys.stderr.write(result.stderr)
    if result.returncode != 0:
        raise SystemExit(f"ocireg {args[0]} failed with exit code {result.returncode}")
    out = result.stdout
    print(out if len(out) < 1500 else out[:1500] + "\n[...]", end="" if out.endswith("\n") else "\n")
    return out


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="ocireg-demo-") as workdir, start_registry("none") as registry:
        print(f"registry: {registry.url} (CNCF distribution, no auth, storage in a temporary directory)")
        image = oci_index((4096,))
        push_raw(registry.url, "demo/app", image, tag="1.0")
        print(f"seeded demo/app:1.0, an OCI index over {len(image.children)} platforms")
        ref = f"{registry.host}/demo/app:1.0"
        ocireg("tags", f"{registry.host}/demo/app")
        ocireg("manifest", ref)
        ocireg("digest", ref)
        ocireg("digest", "--platform", "linux/arm64", ref)
        ocireg("config", "--platform", "linux/arm64", ref)
        layout = Path(workdir) / "layout"
        ocireg("pull", "--platform", "linux/arm64", ref, str(layout))
        print("layout:", ", ".join(sorted(p.name for p in layout.iterdir())))
        ocireg("copy", ref, f"{registry.host}/demo/copy:1.0")
        ocireg("push", str(layout), f"{registry.host}/demo/from-layout:arm64")
        ocireg("catalog", registry.host)
        ocireg("--json", "tags", f"{registry.host}/demo/copy")
    print("\ndemo done: registry stopped, temporary files removed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
