"""Every public function, class and public method documents each parameter and return value.

numpydoc's own validator, without building the site (the slow docs build checks the
section structure; see docs/user_guide/about_these_docs.md). Checked here:

- PR01: every parameter of the signature is documented;
- PR07: every documented parameter has a description;
- RT01, RT03: a function that returns something says what, with a description;
- PR04: every documented parameter has a type;
- EX01: every public function and class (not methods, not exceptions) has an Examples
  section, except in ``bottlekit.app``: the command line's layer, documented by
  ``--help`` and, like the API reference, not held to library examples.

Public means what a public module (a dotted name without a part starting with ``_``)
exports in its ``__all__``, or, without one, defines under a name without ``_``.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

validate = pytest.importorskip("numpydoc.validate", reason="pip install -e '.[docs]'").validate

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs" / "_ext"))
api_pages = importlib.import_module("api_pages")

CODES = frozenset({"PR01", "PR04", "PR07", "RT01", "RT03", "EX01"})


def _public_methods(cls: type) -> Iterator[tuple[str, object]]:
    """Public methods a class defines itself (inherited ones are checked where defined)."""
    for name, value in vars(cls).items():
        if name.startswith("_") or isinstance(value, property):
            continue
        function = getattr(value, "__func__", value)
        if inspect.isfunction(function):
            yield name, function


def _public_module_names() -> list[str]:
    """The API reference's modules, then every other module whose dotted name has no part
    starting with ``_`` (``bottlekit.world.train``, ``bottlekit.estimators.neural``): the
    names in their ``__all__`` (or, without one, their functions and classes whose names
    do not start with ``_``) are public too, though the reference lists them under their
    subpackage or not at all (``bottlekit.app``, the command line's layer)."""
    import bottlekit

    names = api_pages.public_modules()
    for info in pkgutil.walk_packages(bottlekit.__path__, "bottlekit."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            if info.name not in names:
                names.append(info.name)
    return names


def _public_names(mod: object) -> list[str]:
    """``mod.__all__``; for a module without one, the functions and classes it defines
    whose names do not start with ``_``."""
    if hasattr(mod, "__all__"):
        return list(mod.__all__)
    return [
        name
        for name, obj in vars(mod).items()
        if not name.startswith("_")
        and (inspect.isclass(obj) or inspect.isfunction(obj))
        and obj.__module__ == mod.__name__
    ]


def _documented() -> dict[str, tuple[str, bool]]:
    """Full name -> (subpackage, needs an Examples section) for every checked object."""
    found: dict[str, tuple[str, bool]] = {}
    for module in _public_module_names():
        mod = importlib.import_module(module)
        for name in _public_names(mod):
            obj = getattr(mod, name)
            if not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue
            qualified = f"{obj.__module__}.{obj.__qualname__}"
            if "<locals>" in qualified or not qualified.startswith("bottlekit."):
                continue
            subpackage = qualified.split(".")[1]
            exception = inspect.isclass(obj) and issubclass(obj, BaseException)
            found.setdefault(qualified, (subpackage, not exception and subpackage != "app"))
            if inspect.isclass(obj):
                for method, _ in _public_methods(obj):
                    found.setdefault(f"{qualified}.{method}", (subpackage, False))
    return found


DOCUMENTED = _documented()
SUBPACKAGES = sorted({subpackage for subpackage, _ in DOCUMENTED.values()})


def _problems(subpackage: str) -> list[str]:
    problems = []
    for qualified, (owner, needs_examples) in sorted(DOCUMENTED.items()):
        if owner != subpackage:
            continue
        for code, message in validate(qualified)["errors"]:
            if code in CODES and (code != "EX01" or needs_examples):
                problems.append(f"{qualified}: {code} {message}")
    return problems


def test_the_check_sees_a_missing_description():
    # the test below could pass vacuously if validate found nothing to complain about
    def undocumented(a, b=1):
        """Do something.

        Parameters
        ----------
        a : int
        """
        return a

    undocumented.__module__ = __name__
    sys.modules[__name__].undocumented = undocumented
    try:
        codes = {code for code, _ in validate(f"{__name__}.undocumented")["errors"]}
    finally:
        del sys.modules[__name__].undocumented
    assert {"PR01", "PR07", "RT01", "EX01"} <= codes


def test_every_subpackage_is_found():
    assert {"concepts", "bottleneck", "estimators", "diagnostics", "datasets"} <= set(SUBPACKAGES)
    assert len(DOCUMENTED) > 250
    # names exported by public modules that the API reference does not list
    assert "bottlekit.estimators.neural.ConcatCritic" in DOCUMENTED
    assert "bottlekit.world._train_loop.zero_shot_accuracy" in DOCUMENTED
    assert "app" in SUBPACKAGES and "pretrained" in SUBPACKAGES
    # and the public functions of public modules that define no __all__
    assert "bottlekit.world.species.true_attributes" in DOCUMENTED


@pytest.mark.parametrize("subpackage", SUBPACKAGES)
def test_parameters_returns_and_examples_are_documented(subpackage):
    problems = _problems(subpackage)
    assert not problems, f"{len(problems)} docstring problems:\n" + "\n".join(problems)
