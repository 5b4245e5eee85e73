"""A recipe with ``--set TABLE.KEY=VALUE`` settings applied: :func:`apply_overrides`
(re-exported by :mod:`bottlekit.app.reproduce`), and the settings a concept file makes
void: :func:`check_overrides_with_concept_file`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import replace

from bottlekit.app.recipe import _SOURCE_KEYS, Recipe, parse_recipe

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def apply_overrides(recipe: Recipe, overrides: Sequence[str]) -> Recipe:
    """A recipe with ``KEY=VALUE`` settings applied (``--set``), validated again.

    Parameters
    ----------
    recipe : Recipe
        The recipe (unchanged; a new one is returned).
    overrides : list of str
        ``table.key=value`` or ``table.subtable.key=value``; ``value`` is read as a TOML
        value (``5``, ``1e-3``, ``true``, ``"text"``), or as a string if it is not one.

    Returns
    -------
    Recipe
        The recipe with the overrides, validated again.

    Examples
    --------
    >>> from bottlekit.app.recipe import load_recipe
    >>> r = apply_overrides(load_recipe("pcbm-cub"), ["model.params.max_iter=50"])
    >>> r.model["params"]["max_iter"]
    50
    >>> apply_overrides(r, ["model.params.epochs=5"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    bottlekit.app.recipe.RecipeError: ...: model.params.epochs is not a parameter of PosthocCBM...
    """
    if isinstance(overrides, (str, bytes)):
        raise TypeError(
            f"overrides: expected a list of TABLE.KEY=VALUE strings, got {overrides!r}"
        )
    if not overrides:
        return recipe
    data = {
        "name": recipe.name,
        "title": recipe.title,
        **{t: json.loads(json.dumps(getattr(recipe, t))) for t in _TABLES},
    }
    given: dict[str, str] = {}  # key -> the setting that gave it
    for item in overrides:
        key, sep, raw = str(item).partition("=")
        parts = key.strip().split(".")
        if not sep or len(parts) < 2 or not all(parts):
            raise ValueError(f"--set: expected TABLE.KEY=VALUE, got {item!r}")
        # the same key twice: one of the values would be dropped without a word
        if key.strip() in given:
            raise ValueError(
                f"--set: {key.strip()!r} is given twice ({given[key.strip()]!r} and "
                f"{item!r}); expected each setting once"
            )
        given[key.strip()] = str(item)
        try:
            value = tomllib.loads(f"v = {raw.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw.strip()
        except RecursionError:  # tomllib recurses once per bracket
            raise ValueError(f"--set: the value of {key.strip()!r} nests too deeply") from None
        node = data
        for p in parts[:-1]:
            child = node.setdefault(p, {})
            if not isinstance(child, dict):
                raise ValueError(f"--set: {'.'.join(parts[:-1])} is not a table in {item!r}")
            node = child
        node[parts[-1]] = value
    where = f"{recipe.path or recipe.name} (with --set {' '.join(overrides)})"
    return replace(parse_recipe(data, where), path=recipe.path)


_TABLES = ("paper", "dataset", "backbone", "concepts", "model", "metric")

#: ``concepts`` keys read only by the recipe's own concept source: a concept file given
#: with ``--concepts`` replaces that source, so they do nothing beside it (the selection,
#: ``select_per_class`` and ``select_method``, applies to any source and stays).
_SOURCE_ONLY_KEYS = frozenset({"source", "description"}.union(*_SOURCE_KEYS.values()))


def check_overrides_with_concept_file(overrides: Sequence[str]) -> None:
    """Refuse a ``--set concepts.KEY=VALUE`` that a concept file (``--concepts``) makes void.

    Only the settings the user gives are checked: a recipe file's own values for its
    concept source are what the recipe says, and stay.

    Parameters
    ----------
    overrides : list of str
        The ``TABLE.KEY=VALUE`` settings, already applied by :func:`apply_overrides`.

    Raises
    ------
    ValueError
        If one sets a key of :data:`_SOURCE_ONLY_KEYS` in the ``concepts`` table.

    Examples
    --------
    >>> check_overrides_with_concept_file(["concepts.select_per_class=4", "model.params.lam=1"])
    >>> check_overrides_with_concept_file(["concepts.cv=5"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: --set: concepts.cv=5 has no effect with --concepts (the concept file replaces...
    """
    for item in overrides:
        parts = [p.strip() for p in str(item).partition("=")[0].split(".")]
        if len(parts) >= 2 and parts[0] == "concepts" and parts[1] in _SOURCE_ONLY_KEYS:
            raise ValueError(
                f"--set: {str(item)[:200]} has no effect with --concepts (the concept file "
                f"replaces the recipe's concept source, and concepts.{parts[1]} is only read "
                "by that source); expected --concepts without it"
            )
