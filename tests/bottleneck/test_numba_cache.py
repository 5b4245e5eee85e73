"""numba's on-disk cache is keyed on the defining file alone (numba issue #6845).

A compiled kernel that calls jitted helpers of other modules caches their machine code
too, so editing only a helper would leave the stale kernel in the cache. Each such
kernel module records the SHA-256 of the helper modules' sources; these tests make an
edit to a helper fail until the record is updated, which changes the kernel's file and
so invalidates its cache.
"""

from __future__ import annotations

import ast
import hashlib
import importlib
from pathlib import Path

import pytest

PACKAGE = "bottlekit.bottleneck"
KERNELS = ["_ovr_sgd", "_ovr_sgd_shared"]


def _source(name: str) -> Path:
    return Path(importlib.import_module(f"{PACKAGE}.{name}").__file__)


def _sha256(names) -> str:
    h = hashlib.sha256()
    for name in names:
        h.update(_source(name).read_bytes())
    return h.hexdigest()


def _jitted_imports(name: str) -> set[str]:
    """Sibling modules this module imports from that use numba (jitted functions, intrinsics)."""
    tree = ast.parse(_source(name).read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(PACKAGE + "."):
            sibling = node.module.rsplit(".", 1)[1]
            text = _source(sibling).read_text()
            if "import numba" in text or "from numba" in text:
                out.add(sibling)
    return out


@pytest.mark.parametrize("name", KERNELS)
def test_the_recorded_hash_is_that_of_the_inlined_sources(name):
    module = importlib.import_module(f"{PACKAGE}.{name}")
    expected = _sha256(module._INLINED_MODULES)
    assert module._INLINED_SHA256 == expected, (
        f"a module {name} inlines changed: set _INLINED_SHA256 in {name}.py to {expected!r}"
    )


@pytest.mark.parametrize("name", KERNELS)
def test_every_jitted_import_is_recorded(name):
    module = importlib.import_module(f"{PACKAGE}.{name}")
    assert _jitted_imports(name) <= set(module._INLINED_MODULES)


def test_every_cached_kernel_with_jitted_imports_is_checked():
    folder = _source("_ovr_sgd").parent
    cached = [p.stem for p in folder.glob("*.py") if "cache=True" in p.read_text()]
    with_imports = sorted(n for n in cached if _jitted_imports(n))
    assert with_imports == sorted(KERNELS)
