"""Type hints on every public function: the project's standard, checked without importing.

Every module under ``bottlekit/`` whose path has no part starting with ``_`` is public (a
package's ``__init__.py`` is public when its folder is: ``bottlekit.estimators`` defines
``mutual_information`` there). In a public module, each module-level function not
starting with ``_``, and each method of a public class that does not start with ``_``
(plus ``__init__``), must annotate every parameter (``self`` and ``cls`` aside, ``*args``
and ``**kwargs`` included) and its return value (``__init__`` aside). A name in a public
module's ``__all__`` that it imports from a private module (``bottlekit.world.train``
exports ``zero_shot_accuracy`` of ``bottlekit/world/_train_loop.py``) is public too and
checked where it is defined. The modules are parsed with :mod:`ast`, so the check takes
well under a second.

Before this test, 70 public functions and methods failed it (most in
``bottlekit.estimators``): the 65 of a first listing that skipped every ``__init__.py``
and ``**kwargs``, plus the three functions of ``bottlekit/estimators/__init__.py``
(``mutual_information``, ``entropy``, ``conditional_mutual_information``) and the
``**options`` of ``fit_topk_sae`` and ``fit_batchtopk_sae``.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "bottlekit"

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef


def _is_public_module(path: Path) -> bool:
    parts = path.relative_to(PACKAGE_DIR.parent).parts
    folders, name = parts[:-1], parts[-1]
    return not any(p.startswith("_") for p in folders) and (
        name == "__init__.py" or not name.startswith("_")
    )


def _public_functions(tree: ast.Module) -> list[tuple[str, FunctionNode]]:
    found = []
    for node in tree.body:
        if isinstance(node, FunctionNode) and not node.name.startswith("_"):
            found.append((node.name, node))
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            for item in node.body:
                if isinstance(item, FunctionNode) and (
                    not item.name.startswith("_") or item.name == "__init__"
                ):
                    found.append((f"{node.name}.{item.name}", item))
    return found


def _gaps(fn: FunctionNode) -> list[str]:
    args = fn.args
    named = [*args.posonlyargs, *args.args, *args.kwonlyargs]
    missing = [a.arg for a in named if a.annotation is None and a.arg not in ("self", "cls")]
    for star, a in (("*", args.vararg), ("**", args.kwarg)):
        if a is not None and a.annotation is None:
            missing.append(star + a.arg)
    gaps = [f"parameter {name}" for name in missing]
    if fn.returns is None and fn.name != "__init__":
        gaps.append("return")
    return gaps


def _parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _module_path(module: str) -> Path | None:
    """The file of a ``bottlekit`` module named by its dotted name (None: not ours)."""
    parts = module.split(".")
    if parts[0] != "bottlekit":
        return None
    base = PACKAGE_DIR.parent.joinpath(*parts)
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _exported_from_private(tree: ast.Module) -> list[tuple[str, Path]]:
    """``(name, file)`` for each name in the module's ``__all__`` that it takes from a
    private ``bottlekit`` module: ``from bottlekit.x._y import name``, or an entry
    ``"name": "bottlekit.x._y"`` of the table of lazy attributes that ``__all__ =
    sorted(TABLE)`` lists (``bottlekit/datasets/__init__.py``)."""
    assigned = {
        t.id: node.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        for t in node.targets
        if isinstance(t, ast.Name)
    }
    listed = assigned.get("__all__")
    sources: list[tuple[str, str]] = []  # (name, module)
    if isinstance(listed, ast.Call) and listed.args and isinstance(listed.args[0], ast.Name):
        table = assigned.get(listed.args[0].id)  # __all__ = sorted(_LAZY)
        if isinstance(table, ast.Dict):
            sources = [
                (ast.literal_eval(k), ast.literal_eval(v))
                for k, v in zip(table.keys, table.values, strict=True)
            ]
        exported = {name for name, _ in sources}
    elif isinstance(listed, ast.List | ast.Tuple):
        exported = {e.value for e in listed.elts if isinstance(e, ast.Constant)}
    else:
        exported = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            sources += [
                (a.name, node.module) for a in node.names if (a.asname or a.name) in exported
            ]
    found = []
    for name, module in sources:
        path = _module_path(module)
        if path is not None and not _is_public_module(path):
            found.append((name, path))
    return found


def unannotated() -> list[str]:
    """``path:line name: what is missing`` for every public function with a gap."""
    checked: dict[tuple[Path, str], FunctionNode] = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        if not _is_public_module(path):
            continue
        tree = _parse(path)
        for name, fn in _public_functions(tree):
            checked[path, name] = fn
        for name, source in _exported_from_private(tree):
            for qualified, fn in _public_functions(_parse(source)):
                if qualified == name or qualified.startswith(name + "."):
                    checked[source, qualified] = fn
    report = []
    for (path, name), fn in sorted(checked.items(), key=lambda item: str(item[0])):
        gaps = _gaps(fn)
        if gaps:
            where = path.relative_to(PACKAGE_DIR.parent).as_posix()
            report.append(f"{where}:{fn.lineno} {name}: {', '.join(gaps)}")
    return report


def test_the_walk_finds_the_public_api():
    # A walk that found nothing (a moved package, a wrong root) would pass vacuously.
    modules = [p for p in PACKAGE_DIR.rglob("*.py") if _is_public_module(p)]
    paths = {p.relative_to(PACKAGE_DIR.parent).as_posix() for p in modules}
    assert "bottlekit/estimators/__init__.py" in paths
    assert "bottlekit/estimators/ksg.py" in paths
    assert "bottlekit/_checks.py" not in paths
    assert "bottlekit/estimators/_validation.py" not in paths
    tree = ast.parse((PACKAGE_DIR / "estimators" / "ksg.py").read_text(encoding="utf-8"))
    names = {name for name, _ in _public_functions(tree)}
    assert {"KSGMutualInformation.__init__", "KSGMutualInformation.fit"} <= names


def test_names_exported_from_private_modules_are_checked():
    # bottlekit.world.train exports functions of its private modules; so does
    # bottlekit.app.reproduce (load_concept_file of _recipe_concepts.py)
    tree = _parse(PACKAGE_DIR / "world" / "train.py")
    exported = {(name, path.name) for name, path in _exported_from_private(tree)}
    assert ("zero_shot_accuracy", "_train_loop.py") in exported
    assert ("create_model", "_clip.py") in exported
    tree = _parse(PACKAGE_DIR / "app" / "reproduce.py")
    exported = {(name, path.name) for name, path in _exported_from_private(tree)}
    assert ("load_concept_file", "_recipe_concepts.py") in exported
    tree = _parse(PACKAGE_DIR / "datasets" / "__init__.py")  # a table of lazy attributes
    exported = {(name, path.name) for name, path in _exported_from_private(tree)}
    assert ("DatasetFormatError", "_parsing.py") in exported
    # an exported name's gaps are reported where it is defined
    assert not any("_recipe_concepts.py" in gap for gap in unannotated())


def test_gaps_are_found():
    # The checker itself: each kind of gap is reported, self/cls and __init__'s return not.
    source = (
        "def f(a, b: int, /, c=1, *args, d, **kw): ...\n"
        "class C:\n"
        "    def __init__(self, x: int): ...\n"
        "    @classmethod\n"
        "    def make(cls) -> C: ...\n"
        "    async def run(self, y) -> None: ...\n"
        "    def _private(self, z): ...\n"
    )
    found = {name: _gaps(fn) for name, fn in _public_functions(ast.parse(source))}
    assert found == {
        "f": [
            "parameter a",
            "parameter c",
            "parameter d",
            "parameter *args",
            "parameter **kw",
            "return",
        ],
        "C.__init__": [],
        "C.make": [],
        "C.run": ["parameter y"],
    }


def test_every_public_function_is_annotated():
    gaps = unannotated()
    assert not gaps, f"{len(gaps)} public functions lack type hints:\n" + "\n".join(gaps)
