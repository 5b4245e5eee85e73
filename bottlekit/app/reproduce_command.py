"""The ``bottlekit reproduce`` sub-command: list the paper recipes, or run one.

Runs a recipe (:mod:`bottlekit.app.recipe`) on a dataset folder, prints the measured value
beside the paper's and writes the JSON record (:mod:`bottlekit.app.reproduce`).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bottlekit.app._paths import check_output_path

__all__ = ["add_reproduce_parser", "format_recipe_list"]


def format_recipe_list() -> str:
    """One line per shipped recipe: name, dataset, model, metric, the paper's number.

    Returns
    -------
    str
        A table, one recipe a line after a header.

    Examples
    --------
    >>> print(format_recipe_list().splitlines()[0])  # doctest: +NORMALIZE_WHITESPACE
    recipe  dataset  model  metric  paper
    """
    from bottlekit.app.recipe import list_recipes, load_recipe

    rows = [("recipe", "dataset", "model", "metric", "paper")]
    for name in list_recipes():
        r = load_recipe(name)
        value = "-" if r.paper_value is None else f"{r.paper_value:.4f}"
        rows.append((name, r.dataset["name"], r.model["class"], r.metric["name"], value))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths, strict=True)) + "  " + row[4]
        for row in rows
    )


#: ``--batch-size`` when not given.
_BATCH_SIZE = 64
#: The options of ``reproduce`` other than ``--list``, with their defaults: each does
#: nothing beside ``--list``, which lists the recipes and exits.
_RUN_OPTIONS = {
    "recipe": ("RECIPE", None),
    "root": ("--root", None),
    "backbone": ("--backbone", None),
    "pretrained": ("--pretrained", None),
    "concepts": ("--concepts", None),
    "llm_model": ("--llm-model", None),
    "set": ("--set", []),
    "out": ("--out", None),
    "device": ("--device", None),
    "cache_dir": ("--cache-dir", None),
    "batch_size": ("--batch-size", _BATCH_SIZE),
    "quiet": ("--quiet", False),
}


def _check_nothing_beside_list(args: argparse.Namespace) -> None:
    """Refuse a recipe or a run's option given with ``--list`` (it was ignored)."""
    for dest, (flag, default) in _RUN_OPTIONS.items():
        if getattr(args, dest) != default:
            raise ValueError(
                f"{flag}: does nothing with --list (it lists the recipes and exits); "
                "expected --list alone"
            )


def _same_file(out: Path, other: str) -> bool:
    """Whether the output path ``out`` names the input file ``other`` (links resolved)."""
    try:
        return out.resolve() == Path(other).resolve()
    except (OSError, RuntimeError):  # (a link loop: no file to overwrite)
        return False


def _cmd_reproduce(args: argparse.Namespace) -> int:
    from bottlekit.app.reproduce import format_comparison, run_recipe, write_record

    if args.list:
        _check_nothing_beside_list(args)
        print(format_recipe_list())
        return 0
    if not args.recipe:
        raise ValueError("RECIPE: expected a recipe name (see --list) or a .toml file")
    if not args.root:
        raise ValueError("--root: expected the dataset's folder")
    out = args.out or f"reproduce-{Path(args.recipe).stem}.json"
    out = check_output_path(out, "--out", is_file=True)
    if out.suffix != ".json":
        raise ValueError(f"--out: expected a .json file name, got {str(out)!r}")
    if args.concepts and _same_file(out, args.concepts):
        # the record would replace the concept file it was made with, after the whole run
        raise ValueError(
            f"--out: {str(out)!r} is the --concepts file {args.concepts!r}; expected another "
            "path (the record would overwrite it)"
        )
    record = run_recipe(
        args.recipe,
        args.root,
        backbone=args.backbone,
        pretrained=args.pretrained,
        concepts=args.concepts,
        llm_model=args.llm_model,
        overrides=args.set,
        device=args.device,
        cache_dir=args.cache_dir,
        batch_size=args.batch_size,
        progress=not args.quiet,
    )
    write_record(record, out)
    print(format_comparison(record))
    print(f"wrote the record to {out}")
    return 0


def add_reproduce_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``reproduce`` sub-command to ``subparsers`` (from ``add_subparsers``).

    Parameters
    ----------
    subparsers : argparse sub-parsers action
        What ``ArgumentParser.add_subparsers`` returned.

    Returns
    -------
    argparse.ArgumentParser
        The ``reproduce`` parser.

    Examples
    --------
    >>> import argparse
    >>> p = argparse.ArgumentParser(); sub = p.add_subparsers(dest="command")
    >>> _ = add_reproduce_parser(sub)
    >>> p.parse_args(["reproduce", "pcbm-cub", "--root", "data"]).recipe
    'pcbm-cub'
    """
    p = subparsers.add_parser(
        "reproduce",
        help="run a paper recipe and compare with the paper's number",
        description="Run a paper recipe (dataset, backbone, concepts, model and "
        "hyper-parameters of one table row) on the dataset under --root; print the measured "
        "value beside the paper's and write a JSON record. docs/recipes.md lists them.",
        epilog="examples:\n"
        "  bottlekit reproduce --list\n"
        "  bottlekit reproduce pcbm-cub --root ~/data/CUB_200_2011 --out pcbm-cub.json\n"
        "  bottlekit reproduce lfcbm-cifar10 --root ~/data/cifar-10-batches-bin "
        "--concepts cifar10_filtered.txt\n"
        "  bottlekit reproduce pcbm-cub --root ~/data/CUB_200_2011 "
        "--set model.params.lam=1e-3",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("recipe", nargs="?", help="a recipe name (see --list) or a .toml file")
    p.add_argument("--list", action="store_true", help="list the recipes and exit")
    p.add_argument("--root", help="the dataset's folder")
    p.add_argument(
        "--backbone",
        default=None,
        help="replace the recipe's backbone, with its own default weights unless "
        "--pretrained (default: the recipe's)",
    )
    p.add_argument(
        "--pretrained",
        default=None,
        help="replace the recipe's weights: a tag or a checkpoint (default: the recipe's)",
    )
    p.add_argument(
        "--concepts",
        default=None,
        help="concept file instead of the recipe's source: a ConceptBank .safetensors, a "
        ".txt list or a .json class -> concepts map (default: the recipe's source)",
    )
    p.add_argument(
        "--llm-model", default=None, help="chat model for LLM concepts (default: the recipe's)"
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="TABLE.KEY=VALUE",
        help="change one recipe setting (repeatable), e.g. model.params.max_epochs=100",
    )
    p.add_argument("--out", default=None, help="JSON record (default reproduce-RECIPE.json)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: CUDA if present)")
    p.add_argument(
        "--cache-dir", default=None, help="embedding cache folder (default $BOTTLEKIT_CACHE)"
    )
    p.add_argument(
        "--batch-size",
        type=int,
        default=_BATCH_SIZE,
        help=f"images per batch (default {_BATCH_SIZE})",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_reproduce)
    return p
