"""Write the hand-made LLM answers of ``02_llm_and_retrieved_concepts.ipynb`` into this folder.

The files here are NOT answers of a language model. They were written by this script from
the species definitions of the built-in world (``bottlekit.world.species``), phrased the way
a chat model tends to answer Label-free CBM's three prompts, so that the notebook runs
offline and gives the same result every time. They use exactly the cache format of
:class:`bottlekit.concepts.ChatClient` (one JSON file per request, keyed by
``sha256(model, messages, params)``), under the model name :data:`MODEL`, which no endpoint
serves. To ask a real model instead, set ``OPENAI_BASE_URL`` (and ``OPENAI_MODEL``) before
running the notebook.

Run from the repository root to regenerate::

    python examples/llm_cache/write_cache.py
"""

from __future__ import annotations

import json
from pathlib import Path

from bottlekit.atomic import atomic_write_text
from bottlekit.concepts.generation import LABEL_FREE_PROMPTS, build_messages
from bottlekit.concepts.llm import request_key
from bottlekit.world.species import CLASS_NAMES, GROUPS, dominant_options

MODEL = "bottlekit-handwritten-answers"
N_PER_PROMPT = 10
HERE = Path(__file__).resolve().parent

# how an answer phrases each option of each attribute group (None: not mentioned)
_PHRASES = {
    "body": "{} body",
    "pattern": {"spotted": "spotted body", "striped": "striped body", "plain": "plain body"},
    "size": {"large": "large size", "small": "small size"},
    "wings": "{} wings",
    "wing_pattern": {"striped": "striped wings", "plain": None},
    "head": "{} head",
    "crest": {"crested": "crested head", "plain": None},
    "eye": {"eye stripe": "dark eye stripe", "none": None},
    "tail": {"long": "long tail", "short": "short tail"},
    "tail_shape": {"forked": "forked tail", "square": "square tail"},
    "tail_pattern": {"banded": "banded tail", "plain": None},
    "beak": {"long": "long beak", "short": "short beak"},
    "beak_colour": "{} beak",
}
# the order in which a field guide would list them (most conspicuous first)
_ORDER = (
    "body", "wings", "head", "pattern", "crest", "eye", "tail", "tail_shape",
    "tail_pattern", "beak_colour", "beak", "wing_pattern", "size",
)  # fmt: skip
_AROUND = {
    "water": ["open water", "reeds", "a lake shore"],
    "forest": ["trees", "mossy branches", "forest undergrowth"],
    "sand": ["sandy beaches", "dunes", "dry grass"],
    "sky": ["open sky", "clouds", "cliff tops"],
    "snow": ["snow", "ice", "pine trees"],
}
_NON_VISUAL = ["a loud whistling call", "fast, darting flight", "a melodious song"]


def _phrase(group: str, option: str) -> str | None:
    rule = _PHRASES[group]
    return rule.format(option) if isinstance(rule, str) else rule[option]


def answers(species: int) -> dict[str, list[str]]:
    """The hand-written answer of each Label-free CBM prompt for one species."""
    dom = dominant_options()[species]
    option = {g.key: g.options[dom[j]] for j, g in enumerate(GROUPS)}
    features = [p for p in (_phrase(k, option[k]) for k in _ORDER) if p]
    if species % 3 == 0:  # chat models mix in some things a photo cannot show
        features.insert(3, _NON_VISUAL[(species // 3) % len(_NON_VISUAL)])
    superclass = ["bird", "animal", "songbird" if option["size"] == "small" else "vertebrate"]
    around = _AROUND[option["background"]]
    return {"important": features[:N_PER_PROMPT], "superclass": superclass, "around": around}


def main() -> None:
    n = 0
    for c, name in enumerate(CLASS_NAMES):
        for key, items in answers(c).items():
            messages = build_messages("label-free", key, name, N_PER_PROMPT)
            cache_key = request_key(MODEL, messages, {})
            record = {
                "key": cache_key,
                "request": {"model": MODEL, "messages": messages, "params": {}},
                "response": {
                    "id": f"handwritten-{name}-{key}",
                    "model": MODEL,
                    "text": "\n".join(f"- {item}" for item in items),
                },
                "base_url": None,
                "note": "written by examples/llm_cache/write_cache.py, not by a language model",
            }
            path = HERE / cache_key[:2] / f"{cache_key}.json"
            path.parent.mkdir(exist_ok=True)
            atomic_write_text(path, json.dumps(record, ensure_ascii=False, indent=1) + "\n")
            n += 1
    assert n == len(CLASS_NAMES) * len(LABEL_FREE_PROMPTS)
    print(f"wrote {n} answers under {HERE}")


if __name__ == "__main__":
    main()
