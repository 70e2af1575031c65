"""Flattening layers into one tar (``_export``) and reading layers (``_unpack``), without a network.

The image-level test against the real registry is in test_cli.py; here the rules
of the layer format are checked one by one on layers built in the test.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass

import pytest

from ocireg import Descriptor, Digest, InvalidResponse
from ocireg._export import UnsafeLayer, export_layers
from ocireg._unpack import LayerStream


@dataclass(frozen=True)
class Entry:
    name: str
    kind: str = "file"  # file, dir, symlink, hardlink
    data: bytes = b""
    target: str = ""


def layer_bytes(entries: Sequence[Entry], *, gz: bool = True) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in entries:
            info = tarfile.TarInfo(entry.name)
            info.mtime = 0
            if entry.kind == "dir":
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            elif entry.kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, entry.target
                tar.addfile(info)
            elif entry.kind == "hardlink":
                info.type, info.linkname = tarfile.LNKTYPE, entry.target
                tar.addfile(info)
            else:
                info.size = len(entry.data)
                tar.addfile(info, io.BytesIO(entry.data))
    data = raw.getvalue()
    return gzip.compress(data, mtime=0) if gz else data


def export(*layers: bytes, diff_ids: Sequence[Digest] | None = None) -> dict[str, tarfile.TarInfo | bytes]:
    """Flatten ``layers`` (bottom first); {name: bytes for files, TarInfo otherwise}."""
    descriptors = [Descriptor("application/vnd.oci.image.layer.v1.tar+gzip", Digest.of(data), len(data))
                   for data in layers]
    content = {d.digest: data for d, data in zip(descriptors, layers, strict=True)}
    out = io.BytesIO()

    def open_layer(d: Descriptor) -> list[bytes]:
        data = content[d.digest]
        return [data[i:i + 7] for i in range(0, len(data), 7)]  # small, uneven chunks

    export_layers(descriptors, open_layer, out, diff_ids=diff_ids)
    found: dict[str, tarfile.TarInfo | bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as tar:
        for member in tar:
            assert member.name not in found, f"{member.name} written twice"
            extracted = tar.extractfile(member) if member.isreg() else None
            found[member.name] = extracted.read() if extracted else member
    return found


def test_upper_layers_win_and_directories_merge() -> None:
    lower = layer_bytes([Entry("etc", "dir"), Entry("etc/a", data=b"lower a"), Entry("etc/b", data=b"lower b")])
    upper = layer_bytes([Entry("etc", "dir"), Entry("./etc/a", data=b"upper a"), Entry("etc/c", data=b"upper c")])
    found = export(lower, upper)
    assert found["etc/a"] == b"upper a" and found["etc/b"] == b"lower b" and found["etc/c"] == b"upper c"
    assert set(found) == {"etc", "etc/a", "etc/b", "etc/c"}


def test_whiteouts_hide_files_and_trees_below_only() -> None:
    lower = layer_bytes([Entry("keep", data=b"k"), Entry("gone", data=b"g"), Entry("tree", "dir"),
                         Entry("tree/x", data=b"x"), Entry("tree/sub/y", data=b"y")])
    upper = layer_bytes([Entry(".wh.gone"), Entry(".wh.tree"), Entry("new", data=b"n")])
    found = export(lower, upper)
    assert set(found) == {"keep", "new"}
    # A whiteout does not hide what its own layer puts back above it.
    again = layer_bytes([Entry("gone", data=b"back")])
    assert export(lower, upper, again)["gone"] == b"back"


def test_opaque_directory_hides_the_layers_below_not_its_own() -> None:
    lower = layer_bytes([Entry("d", "dir"), Entry("d/old", data=b"o"), Entry("d/sub/deep", data=b"x"),
                         Entry("other", data=b"z")])
    upper = layer_bytes([Entry("d", "dir"), Entry("d/.wh..wh..opq"), Entry("d/fresh", data=b"f")])
    found = export(lower, upper)
    assert set(found) == {"d", "d/fresh", "other"}


def test_a_file_replacing_a_directory_hides_its_content() -> None:
    lower = layer_bytes([Entry("p", "dir"), Entry("p/inside", data=b"i")])
    upper = layer_bytes([Entry("p", data=b"now a file")])
    assert export(lower, upper) == {"p": b"now a file"}


@pytest.mark.parametrize("entries", [
    [Entry("../escape", data=b"x")],
    [Entry("/etc/passwd", data=b"x")],
    [Entry("a/../../escape", data=b"x")],
    [Entry("link", "hardlink", target="../../etc/shadow")],
    [Entry("l", "symlink", target="/etc"), Entry("l/passwd", data=b"x")],
])
def test_paths_escaping_the_root_are_refused(entries: list[Entry]) -> None:
    with pytest.raises(UnsafeLayer, match="layer 1"):
        export(layer_bytes(entries))


def test_symlinks_are_kept_as_links() -> None:
    found = export(layer_bytes([Entry("bin", "symlink", target="usr/bin"), Entry("usr/bin/sh", data=b"#!")]))
    link = found["bin"]
    assert isinstance(link, tarfile.TarInfo) and link.issym() and link.linkname == "usr/bin"


def test_diff_ids_are_checked() -> None:
    plain = layer_bytes([Entry("f", data=b"data")], gz=False)
    compressed = gzip.compress(plain, mtime=0)
    good = Digest("sha256", hashlib.sha256(plain).hexdigest())
    assert export(compressed, diff_ids=[good])["f"] == b"data"
    with pytest.raises(InvalidResponse, match="uncompressed digest"):
        export(compressed, diff_ids=[Digest.of(b"something else")])
    with pytest.raises(InvalidResponse, match="1 diff_ids for 2 layers"):
        export(compressed, compressed, diff_ids=[good])


def test_layer_stream_reads_gzip_plain_and_concatenated_gzip() -> None:
    data = bytes(range(256)) * 1000
    expected = Digest("sha256", hashlib.sha256(data).hexdigest())
    for compressed in (gzip.compress(data), data, gzip.compress(data[:100]) + gzip.compress(data[100:])):
        stream = LayerStream([compressed[i:i + 1000] for i in range(0, len(compressed), 1000)])
        assert stream.read(10) == data[:10]
        assert stream.finish() == expected and stream.size == len(data)


def test_layer_stream_refuses_a_truncated_or_corrupt_gzip() -> None:
    compressed = gzip.compress(b"x" * 100_000)
    with pytest.raises(InvalidResponse, match="ends early"):
        LayerStream([compressed[: len(compressed) // 2]]).finish()
    with pytest.raises(InvalidResponse, match="cannot decompress"):
        LayerStream([compressed[:20] + b"\x00" * 50 + compressed[70:]]).finish()


def test_layer_stream_bounds_what_one_read_inflates() -> None:
    bomb = gzip.compress(b"\x00" * (64 << 20))  # 64 MiB of zeros in about 64 KiB
    stream = LayerStream([bomb])
    assert len(stream.read(4096)) == 4096  # a read returns what was asked, not the whole
    assert stream.size == 4096
