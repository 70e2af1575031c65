"""Docker's config.json / containers' auth.json: credentials, None, or InvalidArgument, never more.

The bytes are the file.  ``PATH`` is one empty directory, so a helper the file
names is never found (InvalidArgument) and nothing runs.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

from _harness import fuzz, instrumented

with instrumented():
    from ocireg._auth import Credentials
    from ocireg._credentials import DockerConfigStore
    from ocireg._errors import InvalidArgument

_ROOT = Path(tempfile.mkdtemp(prefix="ocireg-fuzz-config-"))
atexit.register(shutil.rmtree, _ROOT, True)
(_ROOT / "bin").mkdir()
_CONFIG = _ROOT / "config.json"
_ENV = {"HOME": str(_ROOT), "PATH": str(_ROOT / "bin")}
_DOCKER = DockerConfigStore(docker_config=_ROOT, auth_file=_ROOT / "none.json", env=_ENV)
_CONTAINERS = DockerConfigStore(docker_config=_ROOT / "none", auth_file=_CONFIG, env=_ENV)


def check(data: bytes) -> None:
    _CONFIG.write_bytes(data)
    for store in (_DOCKER, _CONTAINERS):
        for host, repository in (("registry.example", None), ("docker.io", "library/alpine"),
                                 ("127.0.0.1:5000", "org/app")):
            try:
                found = store(host, repository=repository)
            except InvalidArgument as exc:
                assert "\n" not in str(exc)
                continue
            assert found is None or (isinstance(found, Credentials) and not found.is_empty)


if __name__ == "__main__":
    fuzz(check)
