"""Write the API reference pages from the ``__all__`` of every public module.

``docs/conf.py`` calls :func:`write_api_pages` before Sphinx reads the sources, so a
name added to a public ``__all__`` (or a new public subpackage) gets its reference page
on the next build without editing the docs. ``tests/test_docs.py`` checks the same
functions without building.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from pathlib import Path

# Modules (not packages) whose ``__all__`` is public API.
PUBLIC_MODULES = ("bottlekit.backbones", "bottlekit.cache", "bottlekit.images")
# Subpackages that are not a library API: the command line (documented by ``--help``).
PRIVATE_SUBPACKAGES = frozenset({"bottlekit.app"})


def public_modules() -> list[str]:
    """The public modules: ``bottlekit``, its public modules, every public subpackage."""
    import bottlekit

    packages = [
        f"bottlekit.{info.name}"
        for info in pkgutil.iter_modules(bottlekit.__path__)
        if info.ispkg and not info.name.startswith("_")
    ]
    packages = [p for p in packages if p not in PRIVATE_SUBPACKAGES]
    return ["bottlekit", *sorted([*PUBLIC_MODULES, *packages])]


def public_names(module: str) -> list[str]:
    """Entries of ``module.__all__`` (the module must define it)."""
    mod = importlib.import_module(module)
    if not hasattr(mod, "__all__"):
        raise AttributeError(f"public module {module} defines no __all__")
    return list(mod.__all__)


def _kind(obj: object) -> str:
    if inspect.isclass(obj):
        return "class"
    if callable(obj):
        return "function"
    return "data"


def public_constants() -> list[str]:
    """Full names of the public names that are neither classes nor functions."""
    return [
        f"{module}.{name}"
        for module in public_modules()
        for name in public_names(module)
        if _kind(getattr(importlib.import_module(module), name)) == "data"
    ]


def _canonical(name: str) -> str:
    """``bottlekit.X`` re-exports: the public subpackage that documents ``X``."""
    obj = getattr(importlib.import_module("bottlekit"), name)
    for module in public_modules()[1:]:
        if name in public_names(module) and getattr(importlib.import_module(module), name) is obj:
            return f"{module}.{name}"
    raise LookupError(f"bottlekit.{name} is not documented by any public subpackage")


def top_level_page() -> str:
    """The ``bottlekit`` page: the top-level names point to their subpackage pages."""
    import bottlekit

    lines = [
        "``bottlekit``",
        "=============",
        "",
        ".. automodule:: bottlekit",
        "   :no-members:",
        "   :no-index:",
        "",
        "``bottlekit.__version__`` is the installed version "
        f"(this page: {bottlekit.__version__}).",
        "The other top-level names are shortcuts to their subpackages (imported lazily):",
        "",
        ".. list-table::",
        "   :header-rows: 1",
        "",
        "   * - name",
        "     - defined in",
    ]
    for name in public_names("bottlekit"):
        if name == "__version__":
            continue
        target = _canonical(name)
        lines += [f"   * - ``bottlekit.{name}``", f"     - :obj:`{target}`"]
    return "\n".join(lines) + "\n"


def module_page(module: str) -> str:
    """One page per public module: its docstring, then an autosummary of its ``__all__``."""
    mod = importlib.import_module(module)
    groups: dict[str, list[str]] = {"class": [], "function": [], "data": []}
    for name in public_names(module):
        groups[_kind(getattr(mod, name))].append(name)
    title = f"``{module}``"
    lines = [title, "=" * len(title), "", f".. automodule:: {module}", "   :no-members:", ""]
    lines += [f".. currentmodule:: {module}", ""]
    headings = {"class": "Classes", "function": "Functions", "data": "Constants"}
    templates = {"class": "class.rst", "function": "function.rst", "data": "data.rst"}
    for kind, names in groups.items():
        if not names:
            continue
        lines += [headings[kind], "-" * len(headings[kind]), ""]
        lines += [".. autosummary::", "   :toctree: generated/"]
        lines += [f"   :template: {templates[kind]}", ""]
        lines += [f"   {name}" for name in names]
        lines.append("")
    return "\n".join(lines)


def _summary(module: str) -> str:
    """The first sentence of a module's docstring (its summary line)."""
    doc = inspect.getdoc(importlib.import_module(module)) or ""
    return " ".join(doc.split("\n\n")[0].split())


def index_page(modules: list[str]) -> str:
    lines = [
        "API reference",
        "=============",
        "",
        "Every public name: the entries of ``__all__`` of each public module, one page",
        "each, generated from the numpydoc docstrings. The top-level ``bottlekit`` names are",
        "shortcuts to the subpackages. Anything not listed here (modules or names starting",
        "with ``_``, and ``bottlekit.app``, the command line) is internal and may change.",
        "",
        ".. list-table::",
        "   :widths: 25 75",
        "",
    ]
    for module in modules:
        lines += [f"   * - :doc:`{module} <{module}>`", f"     - {_summary(module)}"]
    lines += ["", ".. toctree::", "   :hidden:", "   :maxdepth: 1", ""]
    lines += [f"   {module}" for module in modules]
    return "\n".join(lines) + "\n"


def api_pages() -> dict[str, str]:
    """File name -> reST text of every API page (``index.rst`` and one per module)."""
    modules = public_modules()
    pages = {"index.rst": index_page(modules), "bottlekit.rst": top_level_page()}
    for module in modules[1:]:
        pages[f"{module}.rst"] = module_page(module)
    return pages


def write_api_pages(folder: Path) -> list[Path]:
    """Write :func:`api_pages` into ``folder``; files are rewritten only when they change."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in api_pages().items():
        path = folder / name
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
        written.append(path)
    return written
