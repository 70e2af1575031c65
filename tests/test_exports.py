"""The public surface: one re-export point, consistent, and a core free of dependencies."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import ocireg
import ocireg.flows

SRC = Path(ocireg.__file__).parent


def test_all_names_exist_and_are_unique() -> None:
    for module in (ocireg, ocireg.flows):
        assert len(module.__all__) == len(set(module.__all__))
        for name in module.__all__:
            assert hasattr(module, name), f"{module.__name__}.__all__ lists missing {name}"


def test_every_public_class_of_the_private_modules_is_exported() -> None:
    exported = {getattr(ocireg, name) for name in ocireg.__all__}
    for module_name in ("_errors",):
        module = getattr(ocireg, module_name)
        for name in module.__all__:
            assert getattr(module, name) in exported, f"{module_name}.{name} is not re-exported"


def test_every_exception_derives_from_the_root_and_one_side_of_the_split() -> None:
    for name in ocireg._errors.__all__:
        obj = getattr(ocireg, name)
        if isinstance(obj, type) and issubclass(obj, BaseException):
            assert issubclass(obj, ocireg.RegistryError)
            if obj is not ocireg.RegistryError:
                assert issubclass(obj, ocireg.UsageError) != issubclass(obj, ocireg.RemoteError), name


def test_core_imports_only_the_standard_library_and_itself_relatively() -> None:
    """Relative imports of its own modules are what lets a copy live under another name."""
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                # the CLI's optional progress bar and `sync --dask-scheduler` are
                # guarded imports of optional extras, not dependencies of the core
                if top in ("tqdm", "distributed"):
                    continue
                assert top in sys.stdlib_module_names, f"{path.name}:{node.lineno} imports {name}"


BLOCKER = """
import sys
class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"urllib3", "h11", "ocireg_urllib3", "ocireg_h11", "tqdm"}:
            raise ImportError(f"blocked {name}")
        return None
sys.meta_path.insert(0, Blocker())
import ocireg, ocireg.flows
from ocireg import HTTPClientTransport, Registry
# the whole core works without any transport package: the standard library's is the default
assert str(ocireg.Reference.parse("alpine")) == "docker.io/library/alpine"
assert type(Registry("https://example.invalid").transport) is HTTPClientTransport
assert not {"urllib3", "h11", "ocireg_urllib3", "ocireg_h11"} & set(sys.modules)
print("ok")
"""


def test_core_imports_with_urllib3_and_h11_absent() -> None:
    result = subprocess.run([sys.executable, "-c", BLOCKER], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
