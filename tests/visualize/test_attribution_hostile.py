"""Hostile inputs to the concept attribution classes, ``concept_activation_map`` and the
plots (the cases ``test_visualize_hostile.py`` does not cover).

Each case states what happened before the fix. The attribution checks live in the shared
base (``visualize/attribution/_base.py``) and the image intake (``_images.py``), so every
method refuses the same inputs the same way; cases run on saliency (the cheapest) unless
the method matters.
"""

from __future__ import annotations

from types import SimpleNamespace

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from bottlekit.bottleneck.explanation import ConceptExplanation
from bottlekit.visualize import (
    ConceptActivationMapping,
    ConceptGradCAM,
    ConceptIntegratedGradients,
    ConceptSaliency,
    concept_activation_map,
    plot_activation_maps,
    plot_concept_weights,
    plot_contributions,
    plot_information_plane,
    plot_metric_summary,
)

CLASSES = [ConceptSaliency, ConceptGradCAM, ConceptIntegratedGradients, ConceptActivationMapping]
OWN = {ConceptIntegratedGradients: {"n_steps": 3}}


@pytest.fixture(scope="module")
def image():
    return np.zeros((1, 64, 64, 3), np.uint8)


def _meta(*shape):
    return torch.zeros(*shape, device="meta")


# (constructor kwargs, attribute args) -> error, message
CASES = {
    # before: Tensor.item() cannot be called on meta tensors (a RuntimeError from torch)
    "images a meta tensor": (
        {},
        lambda: (_meta(1, 3, 64, 64), [0]),
        ValueError,
        "images is a tensor on the 'meta' device",
    ),
    # before: accepted, then 'index 114 out of range' (the bytes' first letter as an index);
    # with a bank of >= 122 concepts it mapped concepts 114, 101, 100, ... without a word
    "concepts as bytes": (
        {},
        lambda: (np.zeros((1, 64, 64, 3), np.uint8), b"red body"),
        TypeError,
        r"concepts: expected names \(str\) or integer indices, got bytes b'red body'",
    ),
    # before: maps of NaN returned without a word (the tower overflowed on raw values)
    "images that overflow the model": (
        {},
        lambda: (torch.full((1, 3, 64, 64), 1e38), [0]),
        ValueError,
        r"images: the maps of image\(s\) \[0\] hold NaN or inf: the model's activations "
        "overflowed",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_attribute_inputs_are_named(case, world_tiny, world_bank):
    kwargs, args, error, message = CASES[case]
    with pytest.raises(error, match=message):
        ConceptSaliency(world_tiny, world_bank, **kwargs).attribute(*args())


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_every_method_refuses_non_finite_maps(cls, world_tiny, world_bank):
    """The finiteness check is the base class's: each method returned NaN maps before."""
    attribution = cls(world_tiny, world_bank, **OWN.get(cls, {}))
    with pytest.raises(ValueError, match=r"images: the maps of image\(s\) \[1\] hold NaN"):
        attribution.attribute(
            torch.cat([torch.zeros(1, 3, 64, 64), torch.full((1, 3, 64, 64), 1e38)]), [0]
        )


# ------------------------------------------------------------- integrated gradients
N_STEPS_CASES = {
    # before: tried to allocate 8 GB of step indices (DefaultCPUAllocator error) or ran out
    # of memory before the first forward pass
    "a billion steps": (10**9, ValueError, "n_steps: expected at most 10000 integration points"),
}


@pytest.mark.parametrize("case", list(N_STEPS_CASES))
def test_integrated_gradients_bounds_n_steps_before_allocating(case, world_tiny, world_bank):
    value, error, message = N_STEPS_CASES[case]
    with pytest.raises(error, match=message):
        ConceptIntegratedGradients(world_tiny, world_bank, n_steps=value)


def test_convenience_applies_the_same_n_steps_rule_for_every_method(world_tiny, world_bank, image):
    """Before: ``n_steps=10**9`` passed ``concept_activation_map``'s own check (>= 1) and was
    dropped for Grad-CAM without a word, while integrated gradients tried to allocate it.
    Grad-CAM refuses any n_steps now (it has none)."""
    with pytest.raises(ValueError, match="n_steps: expected at most 10000"):
        concept_activation_map(
            world_tiny, image, world_bank, [0], "integrated_gradients", n_steps=10**9
        )
    with pytest.raises(
        ValueError, match="n_steps: 1000000000 has no effect with method='gradcam'"
    ):
        concept_activation_map(world_tiny, image, world_bank, [0], "gradcam", n_steps=10**9)


def test_a_meta_tensor_baseline_is_named(world_tiny, world_bank, image):
    """Before: accepted by the constructor, then ``Tensor.item() cannot be called on meta
    tensors`` from torch inside ``attribute``."""
    with pytest.raises(ValueError, match="baseline is a tensor on the 'meta' device"):
        ConceptIntegratedGradients(world_tiny, world_bank, baseline=_meta(3, 1, 1))


# ----------------------------------------------------------- feature-function saliency
def _feature_function(kind: str, d: int):
    weight = torch.randn(3 * 8 * 8, d, generator=torch.Generator().manual_seed(0))

    def features(x):
        out = x.flatten(1) @ weight
        if kind == "detached":
            return out.detach()
        if kind == "numpy":
            return out.detach().numpy()
        if kind == "wide":
            return torch.cat([out, out], dim=1)
        return out

    return features


FEATURE_CASES = {
    # before: 'element 0 of tensors does not require grad and does not have a grad_fn'
    # (a RuntimeError from torch.autograd)
    "output detached": (
        "detached",
        ValueError,
        "backbone: the feature function's output does not depend on its input through autograd",
    ),
    # before: "'numpy.float32' object is not iterable" from torch.autograd
    "output a numpy array": (
        "numpy",
        TypeError,
        r"backbone: the feature function must return a float tensor \(n=1, 64\) computed "
        "from its input, got ndarray",
    ),
    # before: 'X must have shape (n, 64), got (1, 128)', naming an argument of ConceptBank
    "output of another width": (
        "wide",
        ValueError,
        r"backbone: the feature function must return .*got shape \(1, 128\)",
    ),
}


@pytest.mark.parametrize("case", list(FEATURE_CASES))
def test_feature_function_outputs_are_checked(case, world_bank):
    kind, error, message = FEATURE_CASES[case]
    saliency = ConceptSaliency(_feature_function(kind, world_bank.dim), world_bank)
    with pytest.raises(error, match=message):
        saliency.attribute(torch.zeros(1, 3, 8, 8), [0])


def test_a_good_feature_function_still_maps(world_bank):
    """What the new checks leave alone: a differentiable feature function of the bank's width."""
    x = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    features = _feature_function("ok", world_bank.dim)
    maps = ConceptSaliency(features, world_bank).attribute(x, [0, 1])
    assert maps.shape == (2, 2, 8, 8)
    # reference: the largest |d cos(features(x), v_j) / dx| over the colour channels, by
    # autograd on the bank's cosine score (a dot product, a sum over channels or a wrong
    # concept column would not match)
    assert world_bank.cosine[:2].all()
    xg = x.clone().requires_grad_(True)
    vectors = torch.nn.functional.normalize(torch.as_tensor(world_bank.vectors[:2]).float(), dim=1)
    scores = torch.nn.functional.normalize(features(xg), dim=1) @ vectors.T
    for j in range(2):
        (grad,) = torch.autograd.grad(scores[:, j].sum(), xg, retain_graph=True)
        want = grad.abs().amax(dim=1).numpy()
        np.testing.assert_allclose(maps[:, j], want, rtol=1e-4, atol=1e-6 * want.max())


# ---------------------------------------------------------------------------- plots
NAMES = ["red body", "long tail", "crest"]
IMAGES = np.zeros((2, 8, 8, 3), np.uint8)
MAPS = np.random.default_rng(0).random((2, 3, 8, 8))


@pytest.fixture
def _close_figures():
    yield
    plt.close("all")


def _maps(**kw):
    args = {"images": IMAGES, "maps": MAPS, "concept_names": NAMES, **kw}
    return plot_activation_maps(**args)


def _explanation(**fields):
    rng = np.random.default_rng(0)
    act, coef, target = rng.normal(size=(2, 3)), rng.normal(size=(2, 3)), np.array([0, 1])
    contrib, zeros = act * coef[target], np.zeros(2)
    parts = {
        "intercept": zeros,
        "residual": zeros,
        "logits": contrib.sum(1),
        "target": target,
        **fields,
    }
    top = np.argsort(-contrib, axis=1)[:, :2]
    return ConceptExplanation(
        NAMES, np.array([0, 1]), parts["target"], act, contrib, parts["intercept"],
        parts["residual"], parts["logits"], top,
    )  # fmt: skip


def _plane(**kw):
    fields = {
        "epochs": [0, 1],
        "layers": ["fc"],
        "i_xt": {"fc": [1.0, 2.0]},
        "i_ty": {"fc": [0.5, 0.6]},
        "estimator": "ksg",
        **kw,
    }
    return SimpleNamespace(**fields)


PLOT_CASES = {
    # before: "could not convert string to float" from numpy
    "images of text": (
        lambda: _maps(images=np.full((2, 8, 8, 3), "a")),
        TypeError,
        "images must be a numeric array, got text values",
    ),
    # before: drawn, the imaginary part dropped with only a ComplexWarning
    "complex images": (
        lambda: _maps(images=np.zeros((2, 8, 8, 3), complex)),
        TypeError,
        "images must hold real numbers",
    ),
    # before: "zero-size array to reduction operation minimum" from numpy
    "images of 0x0 pixels": (
        lambda: _maps(images=np.zeros((2, 0, 0, 3), np.uint8), maps=np.zeros((2, 3, 1, 1))),
        ValueError,
        r"images is empty \(shape \(2, 0, 0, 3\)\)",
    ),
    "maps of 0x0 pixels": (
        lambda: _maps(maps=np.zeros((2, 3, 0, 0))),
        ValueError,
        r"maps is empty \(shape \(2, 3, 0, 0\)\)",
    ),
    # before: a float mask of 0.3 drew no outline (its 0.5 level set is empty), a 0/255
    # mask none either, NaN masks were drawn, text failed inside numpy
    "masks of fractions": (
        lambda: _maps(masks=np.full((2, 3, 8, 8), 0.3)),
        ValueError,
        r"masks must hold 0/1 or boolean values, got 0\.3",
    ),
    "masks of 0/255": (
        lambda: _maps(masks=np.full((2, 8, 8), 255)),
        ValueError,
        r"masks must hold 0/1 or boolean values, got 255",
    ),
    "masks of text": (
        lambda: _maps(masks=np.full((2, 3, 8, 8), "x")),
        TypeError,
        "masks must be a numeric array",
    ),
    # before: True was taken as alpha 1.0 (and a numpy float32 0.5 was refused)
    "alpha a bool": (lambda: _maps(alpha=True), ValueError, r"alpha must be a float in \(0, 1\]"),
    # before: matplotlib's "'notacmap' is not a valid value for cmap" from a draw call
    "cmap unknown": (
        lambda: _maps(cmap="infern"),
        ValueError,
        r"cmap must be a matplotlib colour map name .*got 'infern'; did you mean \['inferno'",
    ),
    # before: a 4e8 x 2e8 pixel figure, which no savefig can write
    "cell_size huge": (
        lambda: _maps(cell_size=1e6),
        ValueError,
        "cell_size must be a number > 0 and <= 20",
    ),
    # before: 12,000 axes, running for minutes
    "thousands of images": (
        lambda: _maps(images=np.zeros((3000, 2, 2, 3), np.uint8), maps=np.zeros((3000, 3, 2, 2))),
        ValueError,
        r"images, maps: 3000 images x 4 columns = 12000 cells are too many .*at most 1000",
    ),
    # before: drawn with a NaN bar and "logit inf" in the title
    "contributions NaN intercept": (
        lambda: plot_contributions(_explanation(intercept=np.array([np.nan, 0.0]))),
        ValueError,
        r"explanation.intercept\[0\] is NaN or inf",
    ),
    # before: the text "1" parsed as 1.0
    "contributions text intercept": (
        lambda: plot_contributions(_explanation(intercept=np.array(["1", "2"]))),
        TypeError,
        "explanation.intercept: expected a numeric array, got text values",
    ),
    # before: IndexError from numpy
    "contributions short logits": (
        lambda: plot_contributions(_explanation(logits=np.array([1.0])), index=1),
        ValueError,
        "explanation.logits has 1 values; expected 2",
    ),
    # before: target 0.7 truncated to class 0; target 7 with class_names an IndexError;
    # target -1 with class_names showed the last class's name
    "contributions fractional target": (
        lambda: plot_contributions(_explanation(target=np.array([0.7, 1.0]))),
        ValueError,
        r"explanation.target\[0\] must be an index into explanation.classes \(0..1\), got 0.7",
    ),
    "contributions negative target": (
        lambda: plot_contributions(_explanation(target=np.array([-1, 1])), class_names=["a", "b"]),
        ValueError,
        r"explanation.target\[0\] must be an index .*got -1",
    ),
    # before: True == 1 picked class 1
    "weights class True": (
        lambda: plot_concept_weights(
            SimpleNamespace(
                coef_=np.ones((2, 3)), concept_names_=NAMES, classes_=np.array([0, 1])
            ),
            classes=[True],
        ),
        TypeError,
        "classes: expected labels of model.classes_, got True",
    ),
    # before: np.complex128 passed the number check and lost its imaginary part
    "summary complex value": (
        lambda: plot_metric_summary({"a": {"acc": np.complex128(1 + 2j)}}),
        TypeError,
        r"table\['a'\]\['acc'\] must be a number",
    ),
    # before: the error bar of a metric not shown was dropped without a word
    "summary errors of an unknown metric": (
        lambda: plot_metric_summary({"a": {"acc": 0.9}}, errors={"a": {"acc ": 0.1}}),
        ValueError,
        r"errors: metrics \['acc '\] are not among the metrics shown \['acc'\]",
    ),
    # before: the axis was labelled "None"
    "summary ylabel None": (
        lambda: plot_metric_summary({"a": {"acc": 0.9}}, ylabel=None),
        TypeError,
        "ylabel must be a str, got None",
    ),
    # before: AttributeError "'str' object has no attribute 'figure'"
    "plane ax a string": (
        lambda: plot_information_plane(_plane(), ax="left"),
        TypeError,
        "ax must be a matplotlib Axes or None, got str",
    ),
    # before: the strings were drawn as categorical axis labels
    "plane values of text": (
        lambda: plot_information_plane(_plane(i_xt={"fc": ["1", "2"]})),
        TypeError,
        r"plane.i_xt\['fc'\] must be a numeric array",
    ),
    # before: matplotlib's "x and y must have same first dimension"
    "plane records of another length": (
        lambda: plot_information_plane(_plane(i_ty={"fc": [0.5]})),
        ValueError,
        r"plane.i_ty\['fc'\] has shape \(1,\); expected one value per record \(2,\)",
    ),
    # before: KeyError 'fc'
    "plane layer without records": (
        lambda: plot_information_plane(_plane(i_xt={})),
        ValueError,
        "plane.i_xt: has no record of layer 'fc'",
    ),
    # before: matplotlib's error from inside colorbar
    "plane cmap unknown": (
        lambda: plot_information_plane(_plane(), cmap=3),
        ValueError,
        "cmap must be a matplotlib colour map name",
    ),
}


@pytest.mark.usefixtures("_close_figures")
@pytest.mark.parametrize("case", list(PLOT_CASES))
def test_hostile_plot_inputs_are_named(case):
    call, error, message = PLOT_CASES[case]
    with pytest.raises(error, match=message):
        call()


@pytest.mark.usefixtures("_close_figures")
def test_valid_plot_inputs_still_draw():
    """What the new checks leave alone: 0/1 integer masks, a numpy float alpha (refused
    before), a Colormap object, a plane given an Axes."""
    fig = _maps(masks=np.eye(8, dtype=int)[None].repeat(2, 0), alpha=np.float32(0.5))
    assert len(fig.axes) == 8 and fig.axes[1].images[1].get_alpha() == 0.5
    fig = _maps(cmap=plt.get_cmap("viridis"))
    assert fig.axes[1].images[1].get_cmap().name == "viridis"
    _, ax = plt.subplots()
    assert plot_information_plane(_plane(), ax=ax) is ax.figure
