"""A recipe's concepts when they are not learned from the dataset's labels: a concept
file given with ``--concepts`` (:func:`load_concept_file`) or a language model's
answers (``concepts.source = 'llm'``). Re-exported by :mod:`bottlekit.app.reproduce`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bottlekit.app.recipe import Recipe
from bottlekit.safetensors_file import parse_json

if TYPE_CHECKING:
    from bottlekit.concepts import ConceptBank

_LLM_HELP = (
    "set OPENAI_BASE_URL (and OPENAI_API_KEY) to an OpenAI-compatible endpoint to ask "
    "for them, or pass --concepts FILE with a saved bank (.safetensors), a concept list "
    "(.txt, one per line, e.g. Label-free CBM's data/concept_sets/*_filtered.txt) or a "
    "class -> concepts map (.json, e.g. LaBo's datasets/*/concepts/class2concepts.json); "
    "the papers' own models (text-davinci-002, gpt-4) are shut down: pass --llm-model with "
    "a model your endpoint serves"
)


def _readable(class_name: str) -> str:
    """``"001.Black_footed_Albatross"`` -> ``"Black footed Albatross"`` (for prompts)."""
    name = re.sub(r"^\d+\.", "", str(class_name)).replace("_", " ")
    return re.sub(r"\s+", " ", name).strip()


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", _readable(name).lower())


def check_concept_path(path: Any) -> Path:
    """``--concepts``: an existing file of a kind :func:`load_concept_file` reads (checked
    before the dataset is read and the backbone loaded).

    Parameters
    ----------
    path : path

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> check_concept_path("concepts.csv")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: --concepts: expected a .safetensors bank, a .txt list or a .json class map...
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"--concepts: expected the path of a concept file, got {path!r}"[:300])
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".pkl", ".pickle", ".pt", ".pth"):
        raise ValueError(
            f"--concepts: {str(path)!r} is a pickle, which bottlekit never loads (it can run "
            "code); save the bank with ConceptBank.save (.safetensors) or pass its concept "
            "names as a .txt file"
        )
    if suffix not in (".safetensors", ".txt", ".json"):
        raise ValueError(
            f"--concepts: expected a .safetensors bank, a .txt list or a .json class map, "
            f"got {str(path)!r}"
        )
    if path.is_dir():
        raise ValueError(f"--concepts: {str(path)!r} is a folder; expected a concept file")
    if not path.is_file():
        raise ValueError(f"--concepts: file {str(path)!r} does not exist")
    return path


def load_concept_file(
    path: str | os.PathLike, backbone: Any, class_names: Sequence[str]
) -> ConceptBank:
    """A concept bank from a file given with ``--concepts``.

    Parameters
    ----------
    path : path
        ``.safetensors``: a saved :class:`~bottlekit.concepts.ConceptBank` (its backbone
        must be ``backbone``). ``.txt``: concept names, one per line (``#`` comments and
        blank lines skipped), embedded with the backbone's text tower. ``.json``: an
        object ``{class name: [concepts]}`` (LaBo's ``class2concepts.json``), embedded,
        with a class prior marking the class(es) that proposed each concept; class names
        are matched to the dataset's ignoring case, punctuation and CUB's number prefix.
    backbone : Backbone
        Embeds the names (and must be the bank's backbone for a ``.safetensors`` bank).
    class_names : list of str
        The dataset's classes, in label order.

    Returns
    -------
    ConceptBank
        The concepts, with a class prior for a ``.json`` file.

    Examples
    --------
    >>> load_concept_file("bank.pkl", None, ["a"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: --concepts: 'bank.pkl' is a pickle, which bottlekit never loads (it can run...
    """
    from bottlekit.concepts import ConceptBank, from_text

    path = check_concept_path(path)
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        return ConceptBank.load(path, backbone=backbone)
    try:
        text = path.read_text(encoding="utf-8-sig")  # (a BOM, as Notepad writes, dropped)
    except UnicodeDecodeError as e:
        raise ValueError(f"--concepts: {str(path)!r} is not UTF-8 text ({e})") from None
    if suffix == ".txt":
        names = [s.strip() for s in text.splitlines()]
        names = list(dict.fromkeys(s for s in names if s and not s.startswith("#")))
        if not names:
            raise ValueError(f"--concepts: {str(path)!r} lists no concept")
        return from_text(backbone, names)
    try:
        mapping = parse_json(text, unique_keys=True)
    except ValueError as e:  # bad syntax, integers of too many digits, nesting too deep
        raise ValueError(f"--concepts: {str(path)!r} is not valid JSON: {e}") from None
    if not isinstance(mapping, dict) or not all(
        isinstance(v, list) and all(isinstance(s, str) for s in v) for v in mapping.values()
    ):
        raise ValueError(
            f"--concepts: {str(path)!r} must map each class name to a list of concept strings"
        )
    index = {_key(c): i for i, c in enumerate(class_names)}
    unknown = [c for c in mapping if _key(c) not in index]
    if unknown:
        raise ValueError(
            f"--concepts: {str(path)!r} names classes that are not the dataset's: "
            f"{unknown[:5]}; the dataset's are {list(class_names)[:5]}..."
        )
    names: list[str] = []
    rows: dict[str, set[int]] = {}
    for cls, concepts in mapping.items():
        for concept in concepts:
            concept = concept.strip()
            if concept and concept not in rows:
                names.append(concept)
                rows[concept] = set()
            if concept:
                rows[concept].add(index[_key(cls)])
    if not names:
        raise ValueError(f"--concepts: {str(path)!r} lists no concept")
    prior = np.zeros((len(class_names), len(names)), np.float32)
    for j, concept in enumerate(names):
        prior[sorted(rows[concept]), j] = 1.0
    return from_text(backbone, names, class_prior=prior, class_names=list(class_names))


def _llm_concepts(recipe: Recipe, backbone: Any, class_names: Sequence[str], llm_model):
    from bottlekit.concepts import ChatClient, LLMError, generate

    model = llm_model or recipe.concepts.get("llm_model") or os.environ.get("OPENAI_MODEL")
    online = bool(os.environ.get("OPENAI_BASE_URL") or os.environ.get("OPENAI_API_KEY"))
    client = ChatClient(model, offline=not online)
    where = "no endpoint is configured and" if not online else "the endpoint failed and"
    try:
        return generate(
            backbone,
            [_readable(c) for c in class_names],
            client,
            style=recipe.concepts.get("style", "labo"),
            n_per_prompt=recipe.concepts.get("n_per_prompt", 10),
            progress=False,
        )
    except LLMError as e:
        paper = recipe.concepts.get("description")
        paper_model = recipe.concepts.get("llm_model")
        which = (
            f"{model}, the paper's model"
            if model == paper_model
            else f"{model}; {paper_model} in the paper"
        )
        raise ValueError(
            f"recipe {recipe.name}: its concepts come from a language model ({which}), but "
            f"{where} the answers are not all cached under "
            f"{client.cache_dir} ({e}); {_LLM_HELP}"
            + (f"; the paper's own concepts: {paper}" if paper else "")
        ) from None
