"""Measure a world CLIP: linear probe, zero-shot species and concept detection.

``python -m bottlekit.world.evaluate [--model world-small]`` prints, for the ``test`` and
``shifted`` splits (of the shipped ``world-tiny`` by default):

- linear-probe species accuracy: multinomial logistic regression on the L2-normalised
  image embeddings of ``n_train`` train images (inverse regularisation ``C`` chosen
  on ``n_val`` val images from a fixed grid, the protocol of Radford et al. 2021);
- zero-shot species accuracy: :math:`\\hat y = \\arg\\max_c \\cos(x, t_c)`, with
  :math:`t_c` the ensembled text embedding of ``"a photo of a {species}."`` and
  ``"a {species}."``;
- concept detection AUROC: for each concept :math:`k`, the AUROC of the score
  :math:`\\cos(x, t_k)` (prompts ``"a photo of a bird with {concept}."``, ``"a bird
  with {concept}."``) against the drawn concept labels, averaged over all concepts.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from bottlekit._arrays import as_binary_array, as_index_array, as_real_array
from bottlekit._checks import check_choice, check_number
from bottlekit.atomic import atomic_write_text
from bottlekit.world.dataset import make_world

if TYPE_CHECKING:
    from bottlekit.backbones import Backbone

SPECIES_TEMPLATES = ["a photo of a {}.", "a {}."]
CONCEPT_TEMPLATES = ["a photo of a bird with {}.", "a bird with {}."]
C_GRID = (0.1, 1.0, 10.0, 100.0)
EVAL_FILE = Path(__file__).resolve().parent / "weights" / "world-tiny-eval.json"
"""The recorded figures of the shipped world-tiny (see :func:`eval_file`)."""


def eval_file(model: str = "world-tiny") -> Path:
    """The file of the recorded figures of a shipped world model (``<model>-eval.json``).

    Parameters
    ----------
    model : str, default "world-tiny"
        A world model that ships with bottlekit: ``"world-tiny"`` or ``"world-small"``.

    Returns
    -------
    pathlib.Path
        ``bottlekit/world/weights/<model>-eval.json`` (it exists for the shipped models).

    Raises
    ------
    ValueError
        ``model`` has no weights shipped with bottlekit (no ``bottlekit`` tag in
        :mod:`bottlekit.pretrained`'s table).

    Examples
    --------
    >>> eval_file("world-small").name
    'world-small-eval.json'
    >>> eval_file() == EVAL_FILE
    True
    """
    from bottlekit.pretrained import SHIPPED_TAG, list_pretrained

    shipped = [m for m, tag in list_pretrained() if tag == SHIPPED_TAG]
    model = check_choice(
        model, shipped, "model", expected=f"a model whose weights ship, one of {shipped}"
    )
    return EVAL_FILE.with_name(f"{model}-eval.json")


def _embeddings(x, name: str, dim: int | None = None) -> np.ndarray:
    """``x`` as a finite (n, d) float array with n >= 1 (and d == ``dim`` when given)."""
    arr = as_real_array(x, name, dtype=None)  # float32 embeddings stay float32
    if arr.ndim != 2 or len(arr) == 0 or (dim is not None and arr.shape[1] != dim):
        width = "d" if dim is None else str(dim)
        raise ValueError(f"{name}: expected an array of shape (n >= 1, {width}), got {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name}: contains NaN or inf; expected finite embeddings")
    return arr


def _class_indices(y, name: str, n: int, n_classes: int | None = None) -> np.ndarray:
    """``y`` as ``n`` class indices (in ``0..n_classes - 1`` when given)."""
    out = as_index_array(y, name, high=n_classes)
    if len(out) != n:
        raise ValueError(f"{name}: expected {n} class indices (one per embedding), got {len(out)}")
    return out


def fit_linear_probe(
    x_train: np.ndarray, y_train: np.ndarray, c: float, seed: int = 0
) -> LogisticRegression:
    """Multinomial logistic regression on embeddings (lbfgs, up to 2000 iterations).

    Parameters
    ----------
    x_train : ndarray of shape (n, d)
        Finite embeddings.
    y_train : ndarray of int, shape (n,)
        Class indices.
    c : float
        Inverse regularisation strength ``C`` (> 0).
    seed : int, default 0
        ``random_state`` of the solver.

    Returns
    -------
    sklearn.linear_model.LogisticRegression
        The fitted probe.

    Examples
    --------
    >>> x = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    >>> fit_linear_probe(x, np.array([0, 0, 1, 1]), c=10.0).predict(x).tolist()
    [0, 0, 1, 1]
    """
    x_train = _embeddings(x_train, "x_train")
    y_train = _class_indices(y_train, "y_train", len(x_train))
    c = check_number(c, "c", low=0, low_open=True)
    seed = check_number(seed, "seed", integer=True, low=0, high=2**32 - 1)
    return LogisticRegression(C=c, max_iter=2000, random_state=seed).fit(x_train, y_train)


def zero_shot_accuracy(x: np.ndarray, y: np.ndarray, class_text: np.ndarray) -> float:
    """Accuracy of :math:`\\arg\\max_c x \\cdot t_c` (rows of ``x`` and ``t`` unit-norm).

    Parameters
    ----------
    x : ndarray of shape (n, d)
        Image embeddings.
    y : ndarray of int, shape (n,)
        Their class indices into ``class_text``.
    class_text : ndarray of shape (C, d)
        One text embedding :math:`t_c` per class.

    Returns
    -------
    float
        The fraction of images whose best-scoring class is their class.

    Examples
    --------
    >>> x = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    >>> zero_shot_accuracy(x, np.array([0, 1, 0]), np.eye(2))
    0.6666666666666666
    """
    x = _embeddings(x, "x")
    class_text = _embeddings(class_text, "class_text", x.shape[1])
    y = _class_indices(y, "y", len(x), len(class_text))
    return float(np.mean((x @ class_text.T).argmax(1) == y))


def concept_aurocs(x: np.ndarray, labels: np.ndarray, concept_text: np.ndarray) -> np.ndarray:
    """AUROC of the score :math:`x \\cdot t_k` for each concept ``k`` (NaN if one class).

    Parameters
    ----------
    x : ndarray of shape (n, d)
        Image embeddings.
    labels : ndarray of {0, 1} or bool, shape (n, k)
        Concept labels of the images.
    concept_text : ndarray of shape (k, d)
        One text embedding :math:`t_k` per concept.

    Returns
    -------
    ndarray of float64, shape (k,)
        Each concept's AUROC; NaN where its labels are all 0 or all 1.

    Examples
    --------
    >>> x = np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]])
    >>> concept_aurocs(x, np.array([[1, 1], [1, 1], [0, 1]]), np.eye(2)).tolist()
    [1.0, nan]
    """
    x = _embeddings(x, "x")
    concept_text = _embeddings(concept_text, "concept_text", x.shape[1])
    labels = as_real_array(labels, "labels", dtype=None)
    expected = (len(x), len(concept_text))
    if labels.shape != expected:
        raise ValueError(
            f"labels: expected shape {expected} (one row per embedding, one column per "
            f"concept), got {labels.shape}"
        )
    labels = as_binary_array(labels, "labels", hint=" (NaN and soft labels have no AUROC)")
    scores = x @ concept_text.T
    out = np.full(labels.shape[1], np.nan)
    for k in range(labels.shape[1]):
        if 0 < labels[:, k].sum() < len(labels):
            out[k] = roc_auc_score(labels[:, k], scores[:, k])
    return out


def _check_evaluate_arguments(n_train, n_val, n_test, seed, splits, c) -> None:
    """Refuse bad sizes, seed, splits or ``C`` before any world is drawn or embedded."""
    from bottlekit.world.dataset import SPLITS
    from bottlekit.world.render import check_image_memory

    for name, value in (("n_train", n_train), ("n_val", n_val), ("n_test", n_test)):
        check_number(value, name, integer=True, low=1)
        check_image_memory(  # each world is drawn whole (64 px, no masks) before embedding
            int(value),
            64,
            masks=False,
            call="evaluate",
            arguments=f"{name}={value!r}",
            advice=f"evaluate on fewer images ({name})",
        )
    check_number(seed, "seed", integer=True, low=0)
    if c is not None:
        check_number(c, "c", low=0, low_open=True, expected="None or a finite number > 0")
    if (
        not isinstance(splits, (tuple, list))
        or not splits
        or not all(isinstance(s, str) and s in SPLITS for s in splits)
    ):
        raise ValueError(f"splits: expected a tuple of names from {SPLITS}, got {splits!r}")


def evaluate(
    backbone: Backbone | None = None,
    n_train: int = 2400,
    n_val: int = 1200,
    n_test: int = 2400,
    seed: int = 0,
    splits: tuple[str, ...] = ("test", "shifted"),
    c: float | None = None,
) -> dict:
    """Compute the figures for each split.

    Parameters
    ----------
    backbone : bottlekit.Backbone, optional
        Default: ``bottlekit.load_backbone("world-tiny")`` (the shipped weights).
    n_train, n_val, n_test : int
        Images of the train (probe fitting), val (choice of ``C``) and evaluation splits.
    seed : int
        World seed.
    splits : tuple of str
        Evaluation splits.
    c : float, optional
        Use this ``C`` instead of choosing it on val.

    Returns
    -------
    dict
        ``{"backbone_id", "C", split: {"linear_probe_accuracy", "zero_shot_accuracy",
        "concept_auroc_mean", "concept_auroc": {concept: auroc}}}``.

    Examples
    --------
    >>> res = evaluate(n_train=48, n_val=24, n_test=48, splits=("test",))
    >>> sorted(res["test"])
    ['concept_auroc', 'concept_auroc_mean', 'linear_probe_accuracy', 'zero_shot_accuracy']
    >>> 0.5 < res["test"]["concept_auroc_mean"] <= 1.0
    True
    """
    if backbone is not None and not callable(getattr(backbone, "encode_images", None)):
        raise TypeError(
            "backbone: expected a bottlekit Backbone (bottlekit.load_backbone) or None, got "
            f"{type(backbone).__name__}"
        )
    _check_evaluate_arguments(n_train, n_val, n_test, seed, splits, c)
    if backbone is None:
        from bottlekit.backbones import load_backbone

        backbone = load_backbone("world-tiny", device="cpu")

    def embed(world):
        # the default batch (64): on the CPU, batches of 256 took 1.3-1.6x the time for both
        # shipped models (their activations overflow the CPU cache); same embeddings to 1e-7
        return backbone.encode_images(world.images, progress=False)

    train = make_world(n_train, "train", seed, return_masks=False)
    x_train = embed(train)
    species_text = backbone.encode_texts(train.class_names, templates=SPECIES_TEMPLATES)
    concept_text = backbone.encode_texts(train.concept_names, templates=CONCEPT_TEMPLATES)
    if c is None:
        val = make_world(n_val, "val", seed, return_masks=False)
        x_val = embed(val)
        scores = [
            fit_linear_probe(x_train, train.labels, ci).score(x_val, val.labels) for ci in C_GRID
        ]
        c = C_GRID[int(np.argmax(scores))]
    probe = fit_linear_probe(x_train, train.labels, c)
    out: dict = {
        "backbone_id": backbone.id,
        "C": c,
        "n_train": n_train,
        "n_test": n_test,
        "seed": seed,
    }
    for split in splits:
        w = make_world(n_test, split, seed, return_masks=False)
        x = embed(w)
        auroc = concept_aurocs(x, w.concept_labels, concept_text)
        out[split] = {
            "linear_probe_accuracy": float(probe.score(x, w.labels)),
            "zero_shot_accuracy": zero_shot_accuracy(x, w.labels, species_text),
            "concept_auroc_mean": float(np.nanmean(auroc)),
            "concept_auroc": {n: float(a) for n, a in zip(w.concept_names, auroc, strict=True)},
        }
    return out


def format_report(res: dict) -> str:
    """Markdown table of the headline figures.

    Parameters
    ----------
    res : dict
        What :func:`evaluate` returns.

    Returns
    -------
    str
        One row per split: linear-probe and zero-shot accuracy, mean concept AUROC.

    Examples
    --------
    >>> res = {"C": 1.0, "test": {"linear_probe_accuracy": 0.9, "zero_shot_accuracy": 0.7,
    ...                           "concept_auroc_mean": 0.85}}
    >>> print(format_report(res))  # doctest: +NORMALIZE_WHITESPACE
    | split | linear probe acc. | zero-shot species acc. | mean concept AUROC |
    |---|---|---|---|
    | test | 0.900 | 0.700 | 0.850 |
    """
    if not isinstance(res, dict):
        raise TypeError(f"res: expected the dict evaluate() returns, got {type(res).__name__}")
    splits = [k for k in res if isinstance(res[k], dict)]
    keys = ("linear_probe_accuracy", "zero_shot_accuracy", "concept_auroc_mean")
    for split in splits:
        for key in keys:
            value = res[split].get(key)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
                raise ValueError(
                    f"res[{split!r}][{key!r}]: expected a number (as evaluate() returns), got "
                    f"{value!r:.60}"
                )
    lines = [
        "| split | linear probe acc. | zero-shot species acc. | mean concept AUROC |",
        "|---|---|---|---|",
    ]
    for s in splits:
        r = res[s]
        lines.append(
            f"| {s} | {r['linear_probe_accuracy']:.3f} | {r['zero_shot_accuracy']:.3f} "
            f"| {r['concept_auroc_mean']:.3f} |"
        )
    return "\n".join(lines)


def _check_shipped_weights(model: str, weights: str) -> None:
    """Refuse ``--write`` with a ``--weights`` file other than the shipped one: the eval
    file records the figures of the weights that ship (the tests reproduce them)."""
    from bottlekit.pretrained import SHIPPED_TAG, _sha256_of, get_pretrained_cfg

    path = Path(weights)
    if not path.is_file():
        raise FileNotFoundError(f"--weights: no file at {weights!r}")
    shipped = get_pretrained_cfg(model, SHIPPED_TAG)["sha256"]
    digest = _sha256_of(path)
    if digest != shipped:
        raise ValueError(
            f"--write: {weights!r} (sha256 {digest[:12]}...) are not the shipped {model} "
            f"weights (sha256 {shipped[:12]}...), whose figures {eval_file(model).name} "
            "records; drop --write to evaluate other weights, or ship them first (replace "
            "the weights file and its entry in bottlekit/pretrained.py)"
        )


def main(argv: list[str] | None = None) -> None:
    """Command line entry point: ``python -m bottlekit.world.evaluate [options]``.

    Parameters
    ----------
    argv : list of str, optional
        The arguments (default: the command line's); ``--help`` lists them.

    Examples
    --------
    >>> main(["--n-train", "48", "--n-val", "24", "--n-test", "24"])  # doctest: +ELLIPSIS
    backbone world-tiny/bottlekit/... (probe C = ...)
    | split | linear probe acc. | zero-shot species acc. | mean concept AUROC |
    ...
    """
    from bottlekit.world._clip import _model_name  # the shipped world configs only

    p = argparse.ArgumentParser(
        prog="python -m bottlekit.world.evaluate",
        description="Evaluate a world CLIP on the world.",
    )
    p.add_argument(
        "--model",
        type=_model_name,
        default="world-tiny",
        help="world-tiny (default) or world-small",
    )
    p.add_argument(
        "--n-train", type=int, default=2400, help="images the probe is fitted on (default 2400)"
    )
    p.add_argument(
        "--n-val", type=int, default=1200, help="images the probe's C is chosen on (default 1200)"
    )
    p.add_argument(
        "--n-test", type=int, default=2400, help="images of each evaluation split (default 2400)"
    )
    p.add_argument("--seed", type=int, default=0, help="world seed of every split (default 0)")
    p.add_argument("--weights", default=None, help="checkpoint file (default: shipped)")
    p.add_argument(
        "--write", action="store_true", help="record the figures in weights/<model>-eval.json"
    )
    p.add_argument("--per-concept", action="store_true", help="print every concept's AUROC")
    a = p.parse_args(argv)
    path = eval_file(a.model) if a.write else None  # before minutes of evaluation
    if path is not None and a.weights is not None:
        _check_shipped_weights(a.model, a.weights)
    from bottlekit.backbones import load_backbone

    bk = load_backbone(a.model, a.weights, device="cpu")
    res = evaluate(bk, a.n_train, a.n_val, a.n_test, a.seed)
    print(f"backbone {res['backbone_id']}  (probe C = {res['C']})")
    print(format_report(res))
    if a.per_concept:
        names = list(res["test"]["concept_auroc"])
        print("\n| concept | AUROC test | AUROC shifted |\n|---|---|---|")
        for n in names:
            a_test, a_shift = res["test"]["concept_auroc"][n], res["shifted"]["concept_auroc"][n]
            print(f"| {n} | {a_test:.3f} | {a_shift:.3f} |")
    if path is not None:
        atomic_write_text(path, json.dumps(res, indent=2) + "\n")
        print(f"wrote {path}")


def _command(argv: list[str] | None = None) -> int:
    """``python -m bottlekit.world.evaluate``': :func:`main`, a user error reported as one line
    and exit status 2 (:func:`bottlekit._command_errors.run_reporting_errors`)."""
    from bottlekit._command_errors import run_reporting_errors

    return run_reporting_errors(lambda: main(argv), "python -m bottlekit.world.evaluate")


if __name__ == "__main__":
    sys.exit(_command())
