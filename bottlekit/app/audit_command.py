"""``bottlekit audit``: audit a trained model from the command line.

Usage::

    bottlekit audit --backbone world-tiny --head head.safetensors --world shifted --out audit/
    bottlekit audit --backbone world-tiny --cbm model.safetensors --world test --out audit/

The audited model is a linear classifier head on a backbone's image embeddings
(``--head``: a safetensors file with ``weight`` (C, d) and ``bias`` (C,), as written by
:func:`bottlekit.bottleneck.save_linear_head`, audited as a
:class:`~bottlekit.bottleneck.BackboneLinearClassifier`), or a saved bottlekit
concept-bottleneck model (``--cbm``). The images come from the built-in world
(``--world SPLIT``, with concept labels and part masks), from a dataset by name
(``--dataset cub --root DIR [--split test] [--dataset-option image_size=224]``, any of
:mod:`bottlekit.datasets`, with its concept labels and part masks where it has them) or
from a labelled folder (``--images DIR``: one sub-folder per class, sorted names = class
indices); concepts are the labelled concepts of the world or the dataset (CAVs), or a
saved concept bank (``--bank FILE``) in the backbone's space. The report is written to
``--out``, a folder outside ``--images`` and ``--root`` (where a rerun would read it as
input).

With ``--ray [ADDRESS]`` (the ``[distributed]`` extra) the audit of a dataset too large
for one machine runs as one pass on a Ray cluster: ``--images`` may then also be a
Parquet/CSV manifest or WebDataset tar shards; ``--head`` needs ``--bank``, ``--cbm`` audits
the model's own concepts (or the ``--bank`` concepts when given); ``--out`` receives the
Parquet shards (``embeddings/``) and ``concept_stats.json``: every concept's mean and
variance per class, its top-activating images, the model's accuracy and confusion matrix
and, for a CBM, its concept importance.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["add_audit_parser", "run_audit_command"]

# Moved to the library (bottlekit.bottleneck.linear_head); the old import path, which
# `bottlekit audit --help` used to print, still works for one release, with a warning.
_MOVED = ("BackboneLinearClassifier", "load_linear_head", "save_linear_head")
#: World images of ``--world``, ``--top-k`` and ``--seed`` when left out (``--lam`` left
#: out is the library's default, and refused where no surrogate is fitted).
_DEFAULT_N, _DEFAULT_TOP_K, _DEFAULT_SEED = 600, 5, 0


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        import warnings

        from bottlekit.bottleneck import linear_head

        warnings.warn(
            f"bottlekit.app.audit_command.{name} has moved to bottlekit.bottleneck.{name}; "
            "import it from there (the old path will be removed)",
            FutureWarning,
            stacklevel=2,
        )
        return getattr(linear_head, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _load_head(path: str) -> tuple[np.ndarray, np.ndarray]:
    """The ``--head`` file's weight and bias (errors name ``--head``)."""
    from bottlekit.bottleneck.linear_head import load_linear_head

    return load_linear_head(path, argument="--head")


#: Example images of the local report; top-activating items per concept with ``--ray``.
_DEFAULT_EXAMPLES = 6


def add_audit_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``audit`` sub-command to ``subparsers`` (from ``add_subparsers``).

    Parameters
    ----------
    subparsers : argparse sub-parsers action
        What ``ArgumentParser.add_subparsers`` returned.

    Returns
    -------
    argparse.ArgumentParser
        The ``audit`` parser.
    """
    from bottlekit.visualize.map_methods import METHODS

    p = subparsers.add_parser(
        "audit",
        help="audit what a trained model relies on; writes report.html + audit.json",
        description=__doc__.split("\n\n")[2] if __doc__ else None,
        epilog="examples:\n"
        "  bottlekit audit --backbone world-tiny --cbm model.safetensors --world test "
        "--out audit/\n"
        "  bottlekit audit --backbone world-tiny --head head.safetensors --world shifted "
        "--out audit/\n"
        "  bottlekit audit --backbone ViT-B-32 --pretrained laion2b_s34b_b79k --head "
        "head.safetensors --images photos/ --bank bank.safetensors --out audit/\n"
        "  bottlekit audit --backbone ViT-B-32 --pretrained laion2b_s34b_b79k --cbm "
        "pcbm.safetensors --dataset cub --root ~/data/CUB_200_2011 --split test "
        "--dataset-option image_size=224 --out audit/\n"
        "\n"
        "a head file from a fitted scikit-learn linear model on the backbone's embeddings:\n"
        "  python -c 'from bottlekit.bottleneck import save_linear_head; "
        'save_linear_head("head.safetensors", clf.coef_, clf.intercept_)\'',
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    model = p.add_mutually_exclusive_group(required=True)
    model.add_argument(
        "--head", help="safetensors file with a linear head: weight (C,d), bias (C,)"
    )
    model.add_argument("--cbm", help="a saved bottlekit concept-bottleneck model (.safetensors)")
    p.add_argument("--backbone", required=True, help="backbone name, e.g. world-tiny or ViT-B-32")
    p.add_argument(
        "--pretrained",
        default=None,
        help="pretrained tag or checkpoint path (default: the shipped weights of bottlekit's "
        "own models, random weights otherwise)",
    )
    data = p.add_mutually_exclusive_group(required=True)
    data.add_argument(
        "--world", choices=("train", "val", "test", "shifted"), help="built-in world split"
    )
    data.add_argument("--images", help="labelled image folder (one sub-folder per class)")
    from bottlekit.app.dataset_options import add_dataset_arguments

    add_dataset_arguments(p, data)
    p.add_argument(
        "--image-size",
        type=int,
        default=None,
        metavar="N",
        help="resize the --images or --dataset images to N x N when loaded: the activation "
        "maps and the report's images need one size, which photos of different sizes do not "
        "have (for cub and waterbirds it is the loader's image_size, which scales the part "
        "masks too; default: the images' own size)",
    )
    p.add_argument("--n", type=int, default=None, help=f"world images (default {_DEFAULT_N})")
    p.add_argument(
        "--seed",
        type=int,
        default=None,
        help=f"world seed and audit random_state (default {_DEFAULT_SEED}; with --ray only "
        "the world's)",
    )
    p.add_argument(
        "--bank",
        default=None,
        help="a saved ConceptBank in the backbone's space (default: CAVs of the labelled "
        "concepts of the world or the --dataset)",
    )
    p.add_argument(
        "--lam",
        type=float,
        default=None,
        help="surrogate elastic-net strength (default 1e-3; not with --cbm without --bank, "
        "which is audited on its own concepts)",
    )
    p.add_argument(
        "--top-k",
        type=int,
        default=None,
        help=f"concepts shown per explanation (default {_DEFAULT_TOP_K})",
    )
    p.add_argument(
        "--examples",
        type=int,
        default=_DEFAULT_EXAMPLES,
        help=f"example images in the report (default {_DEFAULT_EXAMPLES}); with --ray, the "
        "top-activating images kept per concept in concept_stats.json (0: none)",
    )
    p.add_argument(
        "--map-method",
        default=None,
        choices=METHODS,
        help="activation-map method for a CBM (default gradcam)",
    )
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 (default cpu)")
    p.add_argument(
        "--out",
        required=True,
        help="folder for report.html and audit.json (not inside --images or --root)",
    )
    p.add_argument("--quiet", action="store_true", help="print nothing on success")
    from bottlekit.app.ray_options import add_ray_arguments

    add_ray_arguments(p)
    p.set_defaults(func=run_audit_command)
    return p


def _folder_data(folder: str, image_size: int | None = None) -> Any:
    from bottlekit.datasets import ConceptDataset, ResizedImages
    from bottlekit.images import as_image_source

    if not folder:  # (pathlib reads "" as ".", the working directory)
        raise ValueError(
            "--images: got an empty path; expected a folder of one sub-folder per class"
        )
    source = as_image_source(Path(folder))
    if source.labels is None:
        raise ValueError(f"--images: {folder!r} must hold one sub-folder of images per class")
    images: Any = source if image_size is None else ResizedImages(source.paths, image_size)
    return ConceptDataset(images, source.labels, source.class_names)


def _dataset_data(args: argparse.Namespace) -> Any:
    """``--dataset`` with ``--image-size``: the loader's ``image_size`` where it takes one
    (part masks follow), else the dataset's files resized when loaded."""
    import dataclasses
    import inspect

    from bottlekit.app.dataset_options import dataset_from_args
    from bottlekit.datasets import LOADERS, ResizedImages

    size = args.image_size
    loader = LOADERS.get(str(args.dataset).lower())
    if size is None or loader is None:
        return dataset_from_args(args)
    if "image_size" in inspect.signature(loader).parameters:
        args.dataset_option = [*args.dataset_option, f"image_size={size}"]
        return dataset_from_args(args)
    data = dataset_from_args(args)
    if data.image_source.paths is None or data.part_masks is not None:
        raise ValueError(
            f"--image-size: the {args.dataset} dataset's images are not files without part "
            "masks, so they cannot be resized here"
        )
    return dataclasses.replace(data, images=ResizedImages(data.image_source.paths, size))


def _check_examples_storable(concepts: Any, examples: int, shard_size: int) -> None:
    """Refuse, naming ``--examples`` (also at its default), a number of top items per
    concept that no shard's statistics could store with these concepts
    (:func:`~bottlekit.distributed.concept_stats.check_storable`, before Ray starts; the
    classes, not known yet, are left out, so the pipeline checks again with them)."""
    from bottlekit.distributed.concept_stats import check_storable

    try:
        check_storable([str(c) for c in concepts], [], examples, shard_size)
    except ValueError as e:
        default = f" (default {_DEFAULT_EXAMPLES})" if examples == _DEFAULT_EXAMPLES else ""
        message = str(e).removeprefix("top:")
        raise ValueError(f"--examples{default}:{message}") from e


def _run_ray_audit(args: argparse.Namespace) -> int:
    """``bottlekit audit --ray``: one distributed pass, then the small reduce."""
    import json

    from bottlekit.app.ray_options import LOCAL_RAY, check_ray_options, require_ray
    from bottlekit.atomic import atomic_write_text
    from bottlekit.concepts import ConceptBank
    from bottlekit.distributed import audit_statistics, embed_dataset
    from bottlekit.safetensors_file import dump_json

    if args.head and not args.bank:
        raise ValueError(
            "--ray: the distributed audit of a linear head needs a concept bank (--bank FILE)"
        )
    check_ray_options(args, args.out)
    require_ray()
    cbm = None
    if args.cbm:
        from bottlekit.bottleneck import BaseConceptBottleneck

        cbm = BaseConceptBottleneck.load(args.cbm)
    bank = ConceptBank.load(args.bank) if args.bank else None
    concepts = bank.names if bank is not None else cbm.concept_names_ if cbm else None
    if concepts is not None:
        _check_examples_storable(concepts, args.examples, args.shard_size)
    if args.world:
        from bottlekit.world import make_world

        source: Any = make_world(args.n, args.world, random_state=args.seed)
    else:
        source = args.images
    out = Path(args.out)
    summary = embed_dataset(
        (args.backbone, args.pretrained),
        source,
        out / "embeddings",
        bank=bank,
        head=_load_head(args.head) if args.head else None,
        cbm=cbm,
        shard_size=args.shard_size,
        num_workers=args.workers,
        device=args.device,
        address=None if args.ray == LOCAL_RAY else args.ray,
        top=args.examples,
        progress=not args.quiet,
    )
    report = audit_statistics(out / "embeddings")
    if cbm is not None:  # the model's own importance, as the local audit reports it
        report["model"] = {
            "kind": "cbm",
            "class": type(cbm).__name__,
            "concept_names": [str(c) for c in cbm.concept_names_],
            "importance": cbm.global_importance().tolist(),
            "concepts": "bank" if args.bank else "own",
        }
    report["summary"] = json.loads(summary.to_json())
    path = out / "concept_stats.json"
    # standard JSON: a concept whose activations were NaN has a null mean, not NaN
    atomic_write_text(path, dump_json(report, name="report", indent=1))
    if not args.quiet:
        print(summary.text())
        if report.get("accuracy") is not None:
            print(f"model accuracy {report['accuracy']:.3f} on {report['n_items']} items")
        print(f"wrote {path}")
    return 0


def _check_ray_audit_options(args: argparse.Namespace) -> None:
    """Refuse the options that do nothing with ``--ray`` (read as given: ``None`` when left
    out)."""
    if args.lam is not None:
        raise ValueError(
            "--lam: does not apply with --ray (the distributed audit fits no surrogate)"
        )
    for flag, given in (("--top-k", args.top_k), ("--map-method", args.map_method)):
        if given is not None:
            raise ValueError(f"{flag}: does not apply with --ray")
    if args.image_size is not None:
        raise ValueError("--image-size: applies to the local audit, not --ray")
    if args.dataset:
        raise ValueError("--ray: the distributed audit takes --images or --world, not --dataset")
    if args.seed is not None and not args.world:
        raise ValueError(
            "--seed: does not apply with --ray and --images (the distributed audit "
            "draws nothing at random; the seed is the --world's)"
        )


def run_audit_command(args: argparse.Namespace) -> int:
    """Run ``bottlekit audit`` with parsed ``args``; returns the exit status.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed options of ``bottlekit audit``.

    Returns
    -------
    int
        0 on success.
    """
    from bottlekit._backbone_weights import check_model_name
    from bottlekit.app._paths import check_output_outside, check_output_path
    from bottlekit.app.dataset_options import check_dataset_only_options, parse_dataset_options
    from bottlekit.app.ray_options import check_ray_only_options
    from bottlekit.backbones import load_backbone
    from bottlekit.images import ImageInputError

    check_dataset_only_options(args)
    check_ray_only_options(args)
    if args.images is not None:  # the report must not land among the images it audits
        check_output_outside(args.out, "--out", args.images, "--images")
    if args.dataset and args.root:  # nor in the dataset's folder (imagefolder: a class)
        check_output_outside(args.out, "--out", args.root, "--root")
    # options left out are None, so that one given where it does nothing is refused
    if args.n is not None and not args.world:
        raise ValueError("--n: only applies with --world (the number of world images)")
    if args.map_method is not None and args.head:
        raise ValueError(
            "--map-method: only applies with --cbm (a linear head's maps are input-gradient "
            "saliency)"
        )
    ray = getattr(args, "ray", None) is not None
    if args.lam is not None and args.cbm and not args.bank and not ray:
        raise ValueError(
            "--lam: does not apply with --cbm without --bank (the model is audited on its "
            "own concepts; no surrogate is fitted)"
        )
    args.n = _DEFAULT_N if args.n is None else args.n
    if ray:  # its refusals read the options as given (None: left out)
        _check_ray_audit_options(args)
    args.seed = _DEFAULT_SEED if args.seed is None else args.seed
    if ray:
        return _run_ray_audit(args)
    args.top_k = _DEFAULT_TOP_K if args.top_k is None else args.top_k
    args.map_method = args.map_method or "gradcam"
    import torch

    torch.set_num_threads(max(1, min(torch.get_num_threads(), os.cpu_count() or 1)))
    if args.n < 4:
        raise ValueError(f"--n: expected at least 4 images, got {args.n}")
    if args.image_size is not None:
        if args.image_size < 1:
            raise ValueError(f"--image-size: expected a positive int, got {args.image_size}")
        if args.world:
            raise ValueError("--image-size: applies to --images or --dataset, not --world")
        if args.dataset and "image_size" in parse_dataset_options(args.dataset_option):
            raise ValueError(
                "--image-size: give either --image-size or --dataset-option image_size=..., "
                "not both"
            )
    from bottlekit.diagnostics.audit_result import REPORT_FILES

    check_output_path(args.out, "--out", is_dir=True, files=REPORT_FILES)
    check_model_name(args.backbone, "backbone")  # named by its option, not load_backbone's
    backbone = load_backbone(args.backbone, args.pretrained, device=args.device)
    if args.world:
        from bottlekit.world import make_world

        data: Any = make_world(args.n, args.world, random_state=args.seed)
    elif args.dataset:
        data = _dataset_data(args)
    else:
        data = _folder_data(args.images, args.image_size)
    size = getattr(getattr(backbone.model, "visual", None), "image_size", None)
    size = int(size[0] if isinstance(size, (tuple, list)) else size or 224)
    try:
        result = _audit(args, backbone, data)
    except ImageInputError as e:  # real photos differ in size: say which option fixes it
        if args.image_size is not None or "different sizes" not in str(e):
            raise
        raise ValueError(
            f"{e}. The audit's activation maps and report images need one size: add "
            f"--image-size {size} (the backbone's input size)"
        ) from None
    except ValueError as e:  # --head: the image tower takes its own input size only
        if not (args.head and str(e).startswith("model: failed on a batch")):
            raise
        raise ValueError(
            f"{e} (with --head, the images must have the backbone's input size: "
            f"--image-size {size})"
        ) from None
    paths = result.save(args.out)
    if not args.quiet:
        f = result.fidelity
        print(
            f"fidelity {f['agreement']:.3f}, model accuracy {f['model_accuracy']:.3f}, "
            f"spurious share {result.spurious_share:.3f}"
        )
        from bottlekit.visualize._text import shown_text

        # (names from a bank or model file: a control character is printed as its escape,
        # never sent to the terminal as an escape sequence)
        top = ", ".join(shown_text(c) for c in result.top_spurious(5))
        print("most spurious-looking concepts: " + (top or "none"))
        print(f"wrote {paths['report']} and {paths['json']}")
    return 0


def _audit(args: argparse.Namespace, backbone: Any, data: Any) -> Any:
    """The audit of ``data`` with the model and options of ``args``."""
    from bottlekit.diagnostics.audit import audit

    concepts = None
    if args.bank:
        from bottlekit.concepts import ConceptBank

        concepts = ConceptBank.load(args.bank)
    if args.head:
        from bottlekit.bottleneck.linear_head import BackboneLinearClassifier

        weight, bias = _load_head(args.head)
        model: Any = BackboneLinearClassifier(backbone, weight, bias).to(backbone.device)
        result = audit(
            model,
            data,
            concepts,
            lam=args.lam,
            top_k=args.top_k,
            n_examples=args.examples,
            device=args.device,
            random_state=args.seed,
        )
    else:
        from bottlekit.bottleneck import BaseConceptBottleneck

        model = BaseConceptBottleneck.load(args.cbm)
        result = audit(
            model,
            data,
            concepts,
            backbone=backbone,
            lam=args.lam,
            top_k=args.top_k,
            n_examples=args.examples,
            map_method=args.map_method,
            device=args.device,
            random_state=args.seed,
        )
    return result
