"""docs/recipes.md lists every recipe with the paper's number and the command to run it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bottlekit.app.recipe import list_recipes, load_recipe

PAGE = (Path(__file__).parents[2] / "docs" / "recipes.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", list_recipes())
def test_recipe_row_and_command(name):
    recipe = load_recipe(name)
    (row,) = [line for line in PAGE.splitlines() if line.startswith(f"| `{name}` |")]
    cells = [c.strip() for c in row.strip("|").split("|")]
    value = "–" if recipe.paper_value is None else f"{recipe.paper_value:.4f}"
    assert cells[1] == recipe.paper["table"] and cells[2] == value
    commands = re.findall(rf"^bottlekit reproduce {re.escape(name)} --root \S+.*$", PAGE, re.M)
    assert len(commands) == 1
    if recipe.concepts["source"] == "file":  # the command names the concept file it needs
        assert "--concepts" in commands[0]
