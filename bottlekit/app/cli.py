"""The ``bottlekit`` command line.

Commands
--------
``bottlekit --version``
    Print the version.
``bottlekit backbones [--local]``
    List backbone names and the pretrained tags whose weights are on this machine.
``bottlekit embed --backbone NAME [--pretrained TAG|PATH] IMAGES --out FILE.npz``
    Embed a folder (class-per-subfolder or flat) or image files into an ``.npz`` with
    ``embeddings``, ``files`` and, for a labelled folder, ``labels`` and ``class_names``.
``bottlekit embed --dataset NAME --root DIR [--split S] [--dataset-option K=V] --backbone NAME
--out FILE.npz``
    Embed a dataset of :mod:`bottlekit.datasets` by name (``cub``, ``cifar10``, ...) into
    an ``.npz`` with ``embeddings``, ``labels``, ``class_names`` and, where the dataset has
    them, ``files``, ``concept_names`` and ``concept_labels``.
``bottlekit embed --ray [ADDRESS] --backbone NAME SOURCE --out FOLDER [--bank FILE]``
    Embed a dataset on a Ray cluster (the ``[distributed]`` extra) into Parquet shards:
    SOURCE is a folder, a Parquet/CSV manifest or WebDataset tar shards; without an
    ADDRESS a local Ray instance is started. Resumable: run it again to finish a killed job.
``bottlekit demo [--out FOLDER]``
    The main job on the built-in world: concept banks, bottleneck models, editing, and a
    report folder (see the README).
``bottlekit audit --backbone NAME (--head FILE | --cbm FILE) (--world SPLIT | --images DIR |
--dataset NAME --root DIR) [--bank FILE] --out DIR``
    Audit a trained classifier: what concepts it relies on, with an HTML report.
``bottlekit reproduce RECIPE --root DIR [--backbone NAME --pretrained TAG] [--out FILE]``
    Run a paper recipe (``--list`` lists them): the measured value beside the paper's,
    and a JSON record.
"""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from bottlekit._command_errors import run_reporting_errors
from bottlekit._version import __version__
from bottlekit.app._paths import check_output_outside, check_output_path
from bottlekit.app.ray_options import (
    LOCAL_RAY,
    add_ray_arguments,
    check_ray_address,
    check_ray_only_options,
    check_ray_options,
    require_ray,
)

if TYPE_CHECKING:
    from bottlekit.backbones import Backbone
    from bottlekit.images import ImageSource

__all__ = ["main"]


def _cmd_backbones(args: argparse.Namespace) -> int:
    from bottlekit.backbones import list_backbones

    if args.cache_dir == "":  # (pathlib reads "" as ".", the working directory)
        raise ValueError(
            "--cache-dir: got an empty path; expected the folder of the weights cache"
        )
    if args.cache_dir is not None and not Path(args.cache_dir).is_dir():
        what = "is a file" if Path(args.cache_dir).exists() else "does not exist"
        raise ValueError(
            f"--cache-dir: {args.cache_dir!r} {what}; expected the folder of the weights cache"
        )
    rows = list_backbones(cache_dir=args.cache_dir)
    if args.local:
        rows = [r for r in rows if r["local"]]
    width = max((len(r["name"]) for r in rows), default=10)
    print(f"{'name':<{width}}  local weights          pretrained tags")
    for r in rows:
        local = ", ".join(r["local"]) or "-"
        tags = ", ".join(r["tags"]) or "(none: random init or a local checkpoint)"
        print(f"{r['name']:<{width}}  {local:<22} {tags}")
    return 0


def save_npz_atomic(path: Path, **arrays: np.ndarray) -> None:
    """Write an ``.npz`` atomically (temporary file in the same folder, then rename)."""
    from bottlekit.atomic import atomic_write_bytes

    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def _cmd_embed_ray(args: argparse.Namespace) -> int:
    from bottlekit.distributed import embed_dataset

    if args.no_cache:
        raise ValueError(
            "--no-cache: does not apply with --ray (its cache is --cache-dir, none without)"
        )
    for flag, given in (
        ("--jpeg-draft", args.jpeg_draft),
        ("--model-threads", args.model_threads),
    ):
        if given:
            raise ValueError(f"{flag}: does not apply with --ray")
    check_ray_options(args, args.out)
    for source in args.images:  # the shards must not land among the images they embed
        check_output_outside(args.out, "--out", source, "IMAGES")
    require_ray()
    bank = None
    if args.bank:
        from bottlekit.concepts import ConceptBank

        bank = ConceptBank.load(args.bank)
    inputs = args.images
    summary = embed_dataset(
        (args.backbone, args.pretrained),
        inputs[0] if len(inputs) == 1 else list(inputs),
        args.out,
        bank=bank,
        shard_size=args.shard_size,
        batch_size=args.batch_size,
        num_workers=args.workers,
        device=args.device,
        address=None if args.ray == LOCAL_RAY else args.ray,
        cache_dir=args.cache_dir,
        progress=not args.quiet,
    )
    if not args.quiet:
        print(summary.text())
        print(f"wrote the shards to {args.out}")
    return 0


def _npz_output_path(args: argparse.Namespace) -> Path:
    """``--out`` of ``embed``, checked: a writable ``.npz`` path."""
    out = check_output_path(args.out, "--out", is_file=True)
    if out.suffix != ".npz":
        raise ValueError(f"--out: expected a .npz file name, got {str(out)!r}")
    return out


def _embed_images(args: argparse.Namespace, source: ImageSource) -> tuple[Backbone, np.ndarray]:
    """Load ``--backbone`` and embed ``source`` with the ``embed`` command's options."""
    from bottlekit._backbone_weights import check_model_name
    from bottlekit.backbones import load_backbone
    from bottlekit.cache import embed

    check_model_name(args.backbone, "backbone")  # named by its option, not load_backbone's
    backbone = load_backbone(args.backbone, args.pretrained, device=args.device)
    X = embed(
        backbone,
        source,
        cache=not args.no_cache,
        cache_dir=args.cache_dir,
        batch_size=args.batch_size,
        progress=not args.quiet,
        jpeg_draft=args.jpeg_draft,
        model_threads=args.model_threads,
    )
    return backbone, X


def _cmd_embed_dataset(args: argparse.Namespace) -> int:
    """``bottlekit embed --dataset NAME --root DIR``: the dataset's images, in its order."""
    from bottlekit.app.dataset_options import dataset_from_args

    out = _npz_output_path(args)
    ds = dataset_from_args(args)
    backbone, X = _embed_images(args, ds.image_source)
    arrays: dict[str, np.ndarray] = {
        "embeddings": X,
        "labels": ds.labels,
        "class_names": np.asarray(ds.class_names, dtype=str),
        "backbone_id": np.asarray(backbone.id),
        "dataset": np.asarray(str(args.dataset).lower()),
        "split": np.asarray("" if ds.split is None else ds.split),
    }
    if ds.image_source.paths is not None:
        arrays["files"] = np.asarray(ds.image_source.paths, dtype=str)
    if ds.concept_labels is not None:
        arrays["concept_names"] = np.asarray(ds.concept_names, dtype=str)
        arrays["concept_labels"] = np.asarray(ds.concept_labels)
    save_npz_atomic(out, **arrays)
    if not args.quiet:
        print(
            f"wrote {X.shape[0]} embeddings of dimension {X.shape[1]} ({args.dataset}, split "
            f"{ds.split}) to {out}"
        )
    return 0


def _cmd_embed(args: argparse.Namespace) -> int:
    from bottlekit.app.dataset_options import check_dataset_only_options
    from bottlekit.images import as_image_source

    check_dataset_only_options(args)
    check_ray_only_options(args, "--bank")
    check_ray_address(args)
    if args.no_cache and args.cache_dir is not None and args.ray is None:
        raise ValueError("--cache-dir: does nothing with --no-cache")
    if args.dataset:
        if args.images:
            raise ValueError("IMAGES: give either IMAGES or --dataset NAME, not both")
        if args.ray is not None:
            raise ValueError("--ray: takes IMAGES (a folder, manifest or shards), not --dataset")
        return _cmd_embed_dataset(args)
    if args.ray and not args.images:  # `--ray IMAGES`: IMAGES is no address
        args.images, args.ray = [args.ray], LOCAL_RAY
    if not args.images:
        raise ValueError("IMAGES: expected a folder or image files (or --dataset NAME)")
    if args.ray is not None:
        return _cmd_embed_ray(args)
    out = _npz_output_path(args)
    inputs = args.images
    source = as_image_source(inputs[0] if len(inputs) == 1 else list(inputs))
    if source.kind != "files":
        raise ValueError("IMAGES: expected a folder or image files")
    backbone, X = _embed_images(args, source)
    arrays: dict[str, np.ndarray] = {
        "embeddings": X,
        "files": np.asarray(source.paths, dtype=str),
        "backbone_id": np.asarray(backbone.id),
    }
    if source.labels is not None:
        arrays["labels"] = source.labels
        arrays["class_names"] = np.asarray(source.class_names, dtype=str)
    save_npz_atomic(out, **arrays)
    if not args.quiet:
        print(f"wrote {X.shape[0]} embeddings of dimension {X.shape[1]} to {out}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from bottlekit.app.demo import report_files, run_demo

    if args.out is not None:
        check_output_path(args.out, "--out", is_dir=True, files=report_files(args.n_test))
    return run_demo(n_train=args.n_train, n_test=args.n_test, out=args.out, quiet=args.quiet)


def _model_threads_option(value: str) -> str | int:
    """``--model-threads``: ``auto`` or a positive int (argparse prints the error of
    anything else after the option's name)."""
    if value == "auto":
        return value
    try:
        threads = int(value)
    except ValueError:
        threads = 0
    if threads < 1:
        raise argparse.ArgumentTypeError(f"expected 'auto' or an int >= 1, got {value!r}")
    return threads


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``bottlekit`` command."""
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="bottlekit",
        description="Interpretable models and information bottlenecks.",
        epilog="examples:\n"
        "  bottlekit demo\n"
        "  bottlekit backbones --local\n"
        "  bottlekit embed photos/ --backbone world-tiny --out emb.npz\n"
        "  bottlekit audit --backbone world-tiny --cbm model.safetensors --world test "
        "--out audit/\n"
        "  bottlekit reproduce pcbm-cub --root ~/data/CUB_200_2011",
        formatter_class=raw,
    )
    parser.add_argument("--version", action="version", version=f"bottlekit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser(
        "backbones",
        help="list backbone names and locally available weights",
        description="List backbone names, the pretrained tags of each, and which weights are "
        "already on this machine.",
        epilog="examples:\n  bottlekit backbones\n  bottlekit backbones --local",
        formatter_class=raw,
    )
    p.add_argument("--local", action="store_true", help="only names with weights on disk")
    p.add_argument(
        "--cache-dir",
        default=None,
        help="open_clip / Hugging Face hub cache folder (default: their own, e.g. "
        "~/.cache/huggingface/hub)",
    )
    p.set_defaults(func=_cmd_backbones)

    p = sub.add_parser(
        "embed",
        help="embed images into an .npz file",
        description="Embed a folder (class-per-subfolder or flat) or image files into an .npz "
        "with embeddings, files, backbone_id and, for a labelled folder, labels and "
        "class_names, or a dataset by name (--dataset NAME --root DIR, adding its "
        "concept labels where it has them). Embeddings are cached, so a rerun only computes "
        "new images.",
        epilog="examples:\n"
        "  bottlekit embed photos/ --backbone world-tiny --out emb.npz\n"
        "  bottlekit embed photos/ --backbone ViT-B-32 --pretrained laion2b_s34b_b79k "
        "--out emb.npz\n"
        "  bottlekit embed --dataset cifar10 --root ~/data/cifar-10-batches-bin --split test "
        "--backbone ViT-B-32 --pretrained laion2b_s34b_b79k --out cifar10_test.npz\n"
        "  bottlekit embed a.jpg b.jpg --backbone ViT-B-32 --pretrained ckpt.safetensors "
        "--out emb.npz",
        formatter_class=raw,
    )
    p.add_argument(
        "images",
        nargs="*",
        help="a folder (class-per-subfolder or flat) or files; with --ray also a "
        ".parquet/.csv manifest or .tar shards",
    )
    p.add_argument("--backbone", required=True, help="backbone name, e.g. world-tiny or ViT-B-32")
    p.add_argument(
        "--pretrained",
        default=None,
        help="an open_clip pretrained tag, or a .safetensors / weights-only .pt checkpoint "
        "(default: the shipped weights of bottlekit's own models, random weights otherwise)",
    )
    p.add_argument("--out", required=True, help="output .npz file")
    p.add_argument("--batch-size", type=int, default=64, help="images per batch (default 64)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: CUDA if present)")
    p.add_argument(
        "--cache-dir",
        default=None,
        help="embedding cache folder (default $BOTTLEKIT_CACHE; with --ray: none)",
    )
    p.add_argument(
        "--no-cache", action="store_true", help="do not read or write the cache (not with --ray)"
    )
    p.add_argument(
        "--model-threads",
        default=None,
        type=_model_threads_option,
        help="the model's intra-op threads: 'auto' leaves the decoding workers their cores "
        "(faster on the CPU; may change the last bits of a convolutional tower's "
        "embeddings); default torch's setting",
    )
    p.add_argument(
        "--jpeg-draft",
        action="store_true",
        help="decode JPEGs at a reduced scale (faster; slightly different embeddings, "
        "cached apart)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    add_ray_arguments(p)
    p.add_argument("--bank", default=None, help="with --ray: a ConceptBank to score")
    from bottlekit.app.dataset_options import add_dataset_arguments

    add_dataset_arguments(p)
    p.set_defaults(func=_cmd_embed)

    p = sub.add_parser(
        "demo",
        help="run the demo on the built-in world",
        description="The main job on the built-in world: concept banks, five bottleneck "
        "models, their top concepts, model editing, and a report folder.",
        epilog="examples:\n  bottlekit demo\n  bottlekit demo --n-train 600 --out report/",
        formatter_class=raw,
    )
    p.add_argument(
        "--n-train", type=int, default=1200, help="training images, at least 24 (default 1200)"
    )
    p.add_argument(
        "--n-test", type=int, default=1200, help="images per evaluation split (default 1200)"
    )
    p.add_argument(
        "--out",
        default="bottlekit-demo-report",
        help="report folder: index.html, plots, results.json (default ./bottlekit-demo-report)",
    )
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    p.set_defaults(func=_cmd_demo)

    from bottlekit.app.audit_command import add_audit_parser

    add_audit_parser(sub)

    from bottlekit.app.reproduce_command import add_reproduce_parser

    add_reproduce_parser(sub)
    return parser


#: Options whose library arguments have other names than the option's ``dest``:
#: ``--examples`` is the local audit's ``n_examples`` and the distributed audit's ``top``
#: (:func:`bottlekit.distributed.embed_dataset`).
LIBRARY_NAMES: dict[str, tuple[str, ...]] = {
    "seed": ("random_state",),
    "examples": ("n_examples", "top"),
    "workers": ("num_workers",),
}


def _given_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> dict[str, str]:
    """The options of ``args.command`` the user gave (a value other than the default), as
    ``{dest: flag}``, e.g. ``{"batch_size": "--batch-size"}``, plus the library's name of
    those in :data:`LIBRARY_NAMES` (``{"random_state": "--seed"}``)."""
    command = None
    for action in parser._actions:  # (argparse keeps the sub-parsers there only)
        if isinstance(action, argparse._SubParsersAction):
            command = action.choices.get(args.command)
    if command is None:
        return {}
    given: dict[str, str] = {}
    for action in command._actions:
        if not action.option_strings or action.default == argparse.SUPPRESS:  # positional, -h
            continue
        if getattr(args, action.dest, action.default) != action.default:
            longs = [s for s in action.option_strings if s.startswith("--")]
            given[action.dest] = (longs or action.option_strings)[0]
    for dest, library_names in LIBRARY_NAMES.items():
        if dest in given:
            for library_name in library_names:
                given.setdefault(library_name, given[dest])
    return given


def _name_the_option(message: str, given: dict[str, str]) -> str:
    """``message`` with its first word, when it is the argument name of an option in
    ``given`` followed by ``:`` or a space, replaced by the option's flag.

    A library error names the library's argument (``batch_size: expected a positive int,
    got -3``); the command-line user typed ``--batch-size``. Any other text, and names of
    options the user did not give (the library's own use of the name), are left as they
    are.
    """
    for i, char in enumerate(message):
        if char in ": ":
            flag = given.get(message[:i])
            return message if flag is None else flag + message[i:]
    return message


def _run_naming_options(args: argparse.Namespace, given: dict[str, str]) -> int:
    """Run ``args.func(args)``; a ``ValueError`` or ``TypeError`` from it names the given
    option its message starts with by its flag (:func:`_name_the_option`)."""
    try:
        return int(args.func(args))
    except (ValueError, TypeError) as e:
        shown = _name_the_option(str(e), given)
        if shown == str(e):
            raise
        raise (ValueError if isinstance(e, ValueError) else TypeError)(shown) from e


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments (default: the command line's).

    Returns
    -------
    int
        0 on success, 2 for a usage error, 130 when interrupted.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    # before the command, which may fill in the defaults of options left out
    given = _given_options(parser, args)
    # user errors: one line, status 2; Ctrl-C: one line, status 130
    return run_reporting_errors(
        lambda: _run_naming_options(args, given), f"bottlekit {args.command}"
    )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
