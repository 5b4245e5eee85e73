"""The package's import graph: layers import only downwards, and no import cycle.

Every module under ``bottlekit/`` is parsed with :mod:`ast` (nothing is imported), and its
``import`` statements are collected: absolute and relative, at module level and inside
functions (deferring an import into a function delays a dependency, it does not remove
it). The layer order is the one table :data:`LAYERS` below (``docs/architecture.md``
describes it); a new module must fall into one of its rows.

- No module imports a layer above its own.
- The library never imports the application layer nor the built-in world.
- The world imports none of the library layers that build on it.
- No import cycle between modules. Imports under ``if TYPE_CHECKING:`` do not count, nor
  does a module's import of a package that contains it (a sub-module always runs inside
  its package; looking a name up in the package's namespace at call time is no cycle
  between two modules).
"""

from __future__ import annotations

import ast
import itertools
from dataclasses import dataclass, field
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "bottlekit"
ROOT = "bottlekit"

#: Layers from the top (may import everything below) to the bottom (imports no other
#: bottlekit layer). Each row: a layer name and the packages / modules in it. A package
#: entry covers its sub-modules; the root package ``bottlekit`` (lazy re-exports only)
#: matches itself alone.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("app", ("bottlekit.app", "bottlekit.__main__")),
    ("diagnostics", ("bottlekit.diagnostics",)),
    ("distributed", ("bottlekit.distributed",)),  # the optional Ray extra (issue 22)
    ("visualize", ("bottlekit.visualize",)),
    ("bottleneck", ("bottlekit.bottleneck",)),
    ("concepts", ("bottlekit.concepts",)),
    ("world", ("bottlekit.world",)),
    # below the world: the world is one implementation of the concept-dataset contract,
    # and the library (datasets included) never imports the world
    ("datasets", ("bottlekit.datasets",)),
    (
        "media",
        (
            "bottlekit.backbones",
            "bottlekit._backbone_weights",  # where a backbone's weights come from
            "bottlekit._preprocessing",  # a backbone's image preprocessing
            "bottlekit._vit_tokens",  # a ViT's patch tokens in the embedding space
            "bottlekit.cache",
            "bottlekit.images",
            "bottlekit._image_folders",  # the one rule for folders of images
        ),
    ),
    ("estimators", ("bottlekit.estimators",)),
    (
        "base",
        (
            "bottlekit",
            "bottlekit._version",
            "bottlekit._checks",  # parameter checks (issue 15, item 6)
            "bottlekit._arrays",  # arrays of real numbers
            "bottlekit._deprecation",
            "bottlekit.atomic",
            "bottlekit.devices",
            "bottlekit.pretrained",
            "bottlekit.safetensors_file",
            "bottlekit._quiet",
            "bottlekit._deadline",  # a total deadline for an HTTP exchange
            "bottlekit._command_errors",  # how a command line reports a user error or Ctrl-C
            "bottlekit._lazy",  # packages' names imported on first use
        ),
    ),
)

#: The library: what may never import the application layer nor the world.
LIBRARY_LAYERS = ("diagnostics", "visualize", "bottleneck", "concepts", "datasets", "media")
LIBRARY_LAYERS += ("estimators", "base", "distributed")
#: What the world (a data generator below the library) may not import.
ABOVE_WORLD = ("concepts", "bottleneck", "diagnostics", "visualize", "app")


@dataclass
class ImportEdge:
    target: str
    line: int
    when: str  # "import" (module level, class body), "call" (in a function), "typing"


@dataclass
class ModuleImports:
    name: str
    path: Path  # relative to the folder that holds the package
    edges: list[ImportEdge] = field(default_factory=list)


def _module_name(path: Path, package_dir: Path) -> str:
    parts = list(path.relative_to(package_dir.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _lazy_exports(init: Path) -> dict[str, str]:
    """``name -> module`` of the root package's lazy ``_LAZY`` table, if it has one."""
    for node in ast.parse(init.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == "_LAZY" for t in targets):
                return dict(ast.literal_eval(node.value))
    return {}


class _ImportCollector(ast.NodeVisitor):
    """Collects ``(dotted target, imported names, line, when)``, targets not yet resolved."""

    def __init__(self, module: str, is_package: bool) -> None:
        self.module = module
        self.is_package = is_package
        self.found: list[tuple[str, tuple[str, ...], int, str]] = []
        self._when = "import"

    def _function(self, node: ast.AST) -> None:
        outer, self._when = self._when, "typing" if self._when == "typing" else "call"
        self.generic_visit(node)
        self._when = outer

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _function

    def visit_If(self, node: ast.If) -> None:
        test = node.test
        name = test.id if isinstance(test, ast.Name) else getattr(test, "attr", None)
        if name == "TYPE_CHECKING":
            outer, self._when = self._when, "typing"
            for child in node.body:
                self.visit(child)
            self._when = outer
            for child in node.orelse:
                self.visit(child)
        else:
            self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.found.append((alias.name, (), node.lineno, self._when))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            base = self.module.split(".")
            # level 1 is the package of this module (a package's own name for __init__)
            drop = node.level - 1 if self.is_package else node.level
            base = base[: len(base) - drop] if drop else base
            target = ".".join([*base, node.module] if node.module else base)
        else:
            target = node.module or ""
        names = tuple(a.name for a in node.names)
        self.found.append((target, names, node.lineno, self._when))


def collect_imports(package_dir: Path = PACKAGE_DIR) -> dict[str, ModuleImports]:
    """Every module of the package with its imports of other modules of the package."""
    files = sorted(package_dir.rglob("*.py"))
    modules = {_module_name(p, package_dir): p for p in files}
    root = package_dir.name
    lazy = _lazy_exports(package_dir / "__init__.py")

    def resolve(dotted: str) -> str | None:
        """The longest module of the package that ``dotted`` names (or lies inside)."""
        parts = dotted.split(".")
        for n in range(len(parts), 0, -1):
            candidate = ".".join(parts[:n])
            if candidate in modules:
                return candidate
        return None

    result = {}
    for name, path in modules.items():
        collector = _ImportCollector(name, path.name == "__init__.py")
        collector.visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
        entry = ModuleImports(name, path.relative_to(package_dir.parent))
        for target, names, line, when in collector.found:
            if target != root and not target.startswith(root + "."):
                continue
            resolved: set[str] = set()
            for imported in names or ("",):
                sub = f"{target}.{imported}" if imported else target
                if sub in modules:  # ``from pkg import submodule``
                    resolved.add(sub)
                elif target == root and imported in lazy:  # a lazy top-level re-export
                    resolved.add(lazy[imported])
                elif (found := resolve(target)) is not None:
                    resolved.add(found)
            for mod in sorted(resolved - {name}):
                entry.edges.append(ImportEdge(mod, line, when))
        result[name] = entry
    return result


def layer_of(module: str) -> str | None:
    """The layer (a row name of :data:`LAYERS`) a module belongs to, or None."""
    best: tuple[int, str] | None = None
    for layer, members in LAYERS:
        for member in members:
            inside = member != ROOT and module.startswith(member + ".")
            if (module == member or inside) and (best is None or len(member) > best[0]):
                best = (len(member), layer)
    return None if best is None else best[1]


LAYER_RANK = {layer: rank for rank, (layer, _) in enumerate(LAYERS)}  # 0 = top


def layering_violations(graph: dict[str, ModuleImports]) -> list[str]:
    """One line per import that goes up a layer, or from the library into app/world."""
    problems = []
    for name, mod in sorted(graph.items()):
        own = layer_of(name)
        for edge in mod.edges:
            other = layer_of(edge.target)
            if own is None or other is None:  # test_every_module_has_a_layer says so
                continue
            where = f"{mod.path}:{edge.line}"
            if own in LIBRARY_LAYERS and other in ("app", "world"):
                problems.append(f"{where}: library module {name} imports {edge.target} ({other})")
            elif own == "world" and other in ABOVE_WORLD:
                problems.append(f"{where}: world module {name} imports {edge.target} ({other})")
            elif LAYER_RANK[other] < LAYER_RANK[own]:
                problems.append(
                    f"{where}: {name} ({own}) imports {edge.target} from a higher layer ({other})"
                )
    return problems


def import_cycles(graph: dict[str, ModuleImports]) -> list[str]:
    """Import cycles: for each strongly connected component of more than one module, one
    cycle through it, as ``a -> b (line 3) -> a (line 70, in a function)``."""
    first_edge: dict[tuple[str, str], ImportEdge] = {}
    succ: dict[str, list[str]] = {}
    for name, mod in graph.items():
        for e in mod.edges:
            if e.when == "typing" or name.startswith(e.target + "."):  # see the docstring
                continue
            key = (name, e.target)
            if key not in first_edge or (e.when == "import" != first_edge[key].when):
                first_edge[key] = e
        succ[name] = sorted({t for (s, t) in first_edge if s == name})
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def strongconnect(v: str) -> None:  # Tarjan's algorithm
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in succ[v]:
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                components.append(sorted(comp))

    for v in sorted(succ):
        if v not in index:
            strongconnect(v)

    cycles = []
    for comp in components:  # one shortest cycle through the component's first module
        members, start = set(comp), comp[0]
        parent: dict[str, str] = {}
        queue, seen = [start], {start}
        while queue:
            v = queue.pop(0)
            if start in succ[v]:
                path = [v]
                while path[-1] != start:
                    path.append(parent[path[-1]])
                path = [*reversed(path), start]
                text = path[0]
                for a, b in itertools.pairwise(path):
                    e = first_edge[(a, b)]
                    text += (
                        f" -> {b} (line {e.line}{'' if e.when == 'import' else ', in a function'})"
                    )
                cycles.append(text)
                break
            for w in succ[v]:
                if w in members and w not in seen:
                    seen.add(w)
                    parent[w] = v
                    queue.append(w)
    return cycles


@pytest.fixture(scope="module")
def graph() -> dict[str, ModuleImports]:
    return collect_imports()


def test_every_module_has_a_layer(graph):
    missing = [name for name in graph if layer_of(name) is None]
    assert not missing, f"modules outside every row of LAYERS (add them): {missing}"


def test_no_import_goes_up_a_layer(graph):
    problems = layering_violations(graph)
    assert not problems, "imports against the layer order:\n" + "\n".join(problems)


def test_no_import_cycle(graph):
    cycles = import_cycles(graph)
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


# ----------------------------------------------------------- the checker on known graphs
def _write_package(tmp_path: Path, files: dict[str, str]) -> Path:
    pkg = tmp_path / ROOT
    for rel, text in {"__init__.py": "", **files}.items():
        path = pkg / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return pkg


def test_checker_sees_relative_function_level_typing_and_lazy_imports(tmp_path):
    pkg = _write_package(
        tmp_path,
        {
            "__init__.py": "_LAZY = {'make_world': 'bottlekit.world'}\n",
            "world/__init__.py": "",
            "concepts/__init__.py": "from .bank import Bank\n",
            "concepts/bank.py": (
                "def f():\n    from ..world import make\n"
                "def g():\n    from bottlekit import make_world\n"
            ),
            "estimators/__init__.py": "from .b import api\n",
            "estimators/a.py": "from . import b\n",
            "estimators/b.py": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n    from bottlekit.estimators import a\n"
                "def api():\n    from . import api as again\n"
            ),
        },
    )
    g = collect_imports(pkg)
    edges = {n: [(e.target, e.line, e.when) for e in m.edges] for n, m in g.items()}
    assert edges["bottlekit.concepts"] == [("bottlekit.concepts.bank", 1, "import")]
    assert edges["bottlekit.concepts.bank"] == [
        ("bottlekit.world", 2, "call"),
        ("bottlekit.world", 4, "call"),  # through the root package's lazy table
    ]
    assert edges["bottlekit.estimators.a"] == [("bottlekit.estimators.b", 1, "import")]
    assert edges["bottlekit.estimators.b"] == [
        ("bottlekit.estimators.a", 3, "typing"),
        ("bottlekit.estimators", 5, "call"),
    ]
    # neither the TYPE_CHECKING import nor b's look-up in its own package is a cycle
    assert import_cycles(g) == []
    problems = layering_violations(g)
    assert len(problems) == 2
    assert all(
        "library module bottlekit.concepts.bank imports bottlekit.world" in p for p in problems
    )


def test_checker_reports_a_cycle_and_upward_imports(tmp_path):
    pkg = _write_package(
        tmp_path,
        {
            "estimators/__init__.py": "",
            "estimators/_tree.py": "from bottlekit.estimators._neighbors import count\n",
            "estimators/_neighbors.py": "def count():\n    from ._tree import Tree\n",
            "world/__init__.py": "from bottlekit.concepts import bank\n",
            "concepts/__init__.py": "",
            "concepts/bank.py": "import numpy\n",
            "cache.py": "import bottlekit.concepts.bank\n",
        },
    )
    g = collect_imports(pkg)
    assert import_cycles(g) == [
        "bottlekit.estimators._neighbors -> bottlekit.estimators._tree (line 2, in a function)"
        " -> bottlekit.estimators._neighbors (line 1)"
    ]
    problems = layering_violations(g)
    assert problems == [
        "bottlekit/cache.py:1: bottlekit.cache (media) imports bottlekit.concepts.bank from a "
        "higher layer (concepts)",
        "bottlekit/world/__init__.py:1: world module bottlekit.world imports "
        "bottlekit.concepts.bank (concepts)",
    ]
