"""Bad arguments to the public API are UsageErrors that name the argument, raised before
anything is sent; pinned digests are checked before a tag can move."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import ocireg
from images import oci_image
from registry_bed import RegistryInstance
from test_push_copy import write_layout
from test_registry import seeded


@pytest.mark.parametrize(("kwargs", "named"), [
    ({"url": None}, "url"),
    ({"url": "localhost:5000", "open_timeout": -1}, "open_timeout"),
    ({"url": "localhost:5000", "read_timeout": float("nan")}, "read_timeout"),
    ({"url": "localhost:5000", "read_timeout": "5"}, "read_timeout"),
    ({"url": "localhost:5000", "ca_file": "/nonexistent/ca.pem"}, "ca_file"),
    ({"url": "localhost:5000", "jobs": 0}, "jobs"),
])
def test_bad_constructor_arguments(kwargs: dict[str, Any], named: str) -> None:
    url = kwargs.pop("url")
    for cls in (ocireg.Registry, ocireg.AsyncRegistry):
        with pytest.raises(ocireg.UsageError, match=named):
            cls(url, **kwargs)


def test_bad_method_arguments(registry_none: RegistryInstance, tmp_path: Path) -> None:
    seed = seeded(registry_none)
    with ocireg.Registry(registry_none.url) as reg:
        layer = seed.docker.blobs[1]
        with pytest.raises(ocireg.UsageError, match="outpath"):
            reg.blob(seed.repo, layer.digest, 123)  # type: ignore[arg-type]
        with pytest.raises(ocireg.UsageError, match="dest_registry"):
            reg.copy(seed.repo, "oci", 5, "x/y")  # type: ignore[arg-type]
        with pytest.raises(ocireg.UsageError, match="digest"):
            reg.blob(seed.repo, 42)  # type: ignore[arg-type]
        with pytest.raises(ocireg.UsageError, match="directory"):
            reg.pull(seed.repo, "oci", None)  # type: ignore[arg-type]
        a_file = tmp_path / "file"
        a_file.write_text("not a directory")
        with pytest.raises(ocireg.UsageError):
            reg.pull(seed.repo, "oci", a_file)
        assert a_file.read_text() == "not a directory"


def test_a_pinned_push_or_copy_that_does_not_match_moves_no_tag(registry_none: RegistryInstance,
                                                                tmp_path: Path) -> None:
    seed = seeded(registry_none)
    image = oci_image((1000,))
    write_layout(tmp_path / "l", image, "latest")
    wrong = seed.oci.digest
    with ocireg.Registry(registry_none.url) as reg:
        with pytest.raises(ocireg.UsageError, match="pinned"):
            reg.push(tmp_path / "l", "pins/push", "t", pin=wrong)
        with pytest.raises(ocireg.NotFound):
            reg.manifest("pins/push", "t")
        with pytest.raises(ocireg.UsageError, match="pinned"):
            reg.copy(seed.repo, "docker", None, "pins/copy", "t", pin=wrong)
        with pytest.raises(ocireg.NotFound):
            reg.manifest("pins/copy", "t")
        # The right pin goes through.
        assert str(reg.push(tmp_path / "l", "pins/push", "t", pin=image.digest).digest) == image.digest
        assert str(reg.copy(seed.repo, "oci", None, "pins/copy", "t", pin=seed.oci.digest).descriptor.digest) \
            == seed.oci.digest
