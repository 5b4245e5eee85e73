"""String options given something that is not a string: a TypeError naming the argument.

Every option below took a string among a few (``method="ksg"``) and checked it with ``in``
or a dict lookup. Before ``bottlekit._checks.check_choice``, a list or a dict failed deep
inside with ``TypeError: unhashable type: 'list'``, a numpy array of two strings with
``ValueError: The truth value of an array with more than one element is ambiguous``, and
``None`` with whatever came next: messages that name no argument. Each case here fails on
the old code (wrong error type, or a message without the argument's name).
"""

from __future__ import annotations

import numpy as np
import pytest

#: Values that are not strings; the first three broke `in` / dict lookups before.
NOT_STR = {
    "list": ["ksg"],
    "dict": {"a": 1},
    "array": np.array(["ksg", "x"]),
    "none": None,
}

_X = np.random.default_rng(0).standard_normal((40, 2))


def _estimators():
    from bottlekit import estimators as est
    from bottlekit.estimators import cauchy_schwarz as cs
    from bottlekit.estimators import lossy_compression as lc
    from bottlekit.estimators.binning import BinnedEntropy
    from bottlekit.estimators.neural import bound_value

    x = _X
    return [
        ("mutual_information", lambda v: est.mutual_information(x, x, method=v), "method"),
        ("entropy", lambda v: est.entropy(x, method=v), "method"),
        (
            "conditional_mutual_information",
            lambda v: est.conditional_mutual_information(x, x, x, method=v),
            "method",
        ),
        ("NeuralMI.bound", lambda v: est.NeuralMutualInformation(bound=v).fit(x, x), "bound"),
        (
            "NeuralMI.critic",
            lambda v: est.NeuralMutualInformation(critic=v).fit(x, x),
            "critic",
        ),
        ("bound_value", lambda v: bound_value(None, v), "bound"),
        ("make_compressor", lambda v: lc.make_compressor(v, 2), "compressor"),
        (
            "CompressedMI.compressor",
            lambda v: est.CompressedMutualInformation(compressor=v).fit(x, x),
            "compressor",
        ),
        (
            "CompressedInformationPlane.compressor",
            lambda v: est.CompressedInformationPlane(None, ["a"], x, x, compressor=v),
            "compressor",
        ),
        (
            "InformationPlane.estimator",
            lambda v: est.InformationPlane(None, ["a"], x, x, estimator=v),
            "estimator",
        ),
        ("kernel_width", lambda v: est.kernel_width(x, v), "sigma"),
        ("hsic.sigma_x", lambda v: est.hsic(x, x, sigma_x=v), "sigma_x"),
        ("hsic.test", lambda v: est.hsic(x, x, test=v), "test"),
        (
            "cs_divergence.statistic",
            lambda v: cs.cs_divergence(x, x + 1, statistic=v),
            "statistic",
        ),
        (
            "cs_divergence.approximation",
            lambda v: cs.cs_divergence(x, x + 1, approximation=v),
            "approximation",
        ),
        (
            "KozachenkoLeonenko.metric",
            lambda v: est.KozachenkoLeonenkoEntropy(metric=v).fit(x),
            "metric",
        ),
        (
            "KozachenkoLeonenko.tree",
            lambda v: est.KozachenkoLeonenkoEntropy(tree=v).fit(x),
            "tree",
        ),
        (
            "DiscreteContinuousMI.metric",
            lambda v: est.DiscreteContinuousMutualInformation(metric=v).fit(x, np.arange(40) % 2),
            "metric",
        ),
        ("BinnedEntropy.bins", lambda v: BinnedEntropy(bins=v).fit(x), "bins"),
    ]


def _cases(family):
    return [
        pytest.param(call, name, value, id=f"{label}-{kind}")
        for label, call, name in family()
        for kind, value in NOT_STR.items()
    ]


def _expect_type_error(call, name, value, allowed=()):
    if any(value is a for a in allowed):
        return
    with pytest.raises(TypeError, match=rf"^{name}(:| must be)"):
        call(value)


# None is accepted where it means "absent" (approximation=None is the exact mode, a sigma of
# None is checked as a number elsewhere) and skipped for those.
_NONE_OK = {"approximation"}


@pytest.mark.parametrize(("call", "name", "value"), _cases(_estimators))
def test_estimator_options(call, name, value):
    allowed = (None,) if name in _NONE_OK else ()
    _expect_type_error(call, name, value, allowed)


def _bank(k=3, d=4, kind="text"):
    from bottlekit.concepts import ConceptBank

    V = np.random.default_rng(0).normal(size=(k, d))
    return ConceptBank([f"c{j}" for j in range(k)], V, "toy", provenance=[{"kind": kind}] * k)


def _concepts():
    from bottlekit.concepts import ConceptBank, generate, select
    from bottlekit.concepts.sentence_encoder import resolve_encoder

    X = np.random.default_rng(0).normal(size=(20, 4))
    y = np.arange(20) % 2
    V = np.eye(4)[:3]
    return [
        ("generate.style", lambda v: generate(None, ["a", "b"], style=v), "style"),
        (
            "generate.on_malformed",
            lambda v: generate(None, ["a", "b"], on_malformed=v),
            "on_malformed",
        ),
        ("select.method", lambda v: select(_bank(), X, y, 2, method=v), "method"),
        (
            "ConceptBank.provenance",
            lambda v: ConceptBank(["a", "b", "c"], V, "toy", provenance=[{"kind": v}] * 3),
            r"provenance\[0\]\['kind'\]",
        ),
        ("merge.on_duplicate", lambda v: _bank().merge(_bank(), on_duplicate=v), "on_duplicate"),
        ("resolve_encoder", resolve_encoder, "sentence_encoder"),
    ]


# None means "no encoder" for resolve_encoder
_CONCEPT_NONE_OK = {"sentence_encoder"}


@pytest.mark.parametrize(("call", "name", "value"), _cases(_concepts))
def test_concept_options(call, name, value):
    allowed = (None,) if name in _CONCEPT_NONE_OK else ()
    _expect_type_error(call, name, value, allowed)


def _visualize():
    from bottlekit.visualize.activation_maps import concept_activation_map
    from bottlekit.visualize.plots import plot_activation_maps

    images = np.zeros((1, 8, 8, 3))
    maps = np.zeros((1, 1, 8, 8))
    return [
        (
            "concept_activation_map.method",
            lambda v: concept_activation_map(None, images, _bank(), method=v),
            "method",
        ),
        (
            "plot_activation_maps.scale",
            lambda v: plot_activation_maps(images, maps, ["c0"], scale=v),
            "scale",
        ),
    ]


@pytest.mark.parametrize(("call", "name", "value"), _cases(_visualize))
def test_visualize_options(call, name, value):
    _expect_type_error(call, name, value)


def _world():
    from bottlekit.world import make_world
    from bottlekit.world._clip import load_model_config
    from bottlekit.world.captions import concept_phrases
    from bottlekit.world.evaluate import eval_file
    from bottlekit.world.species import true_attributes

    return [
        ("make_world.split", lambda v: make_world(4, split=v), "split"),
        ("concept_phrases", concept_phrases, "concept"),
        ("true_attributes", true_attributes, "name"),
        ("eval_file", eval_file, "model"),
        ("load_model_config", load_model_config, "model"),
    ]


@pytest.mark.parametrize(("call", "name", "value"), _cases(_world))
def test_world_options(call, name, value):
    _expect_type_error(call, name, value)


def _datasets(root):
    from bottlekit.datasets import load_dataset
    from bottlekit.datasets.awa2 import load_awa2
    from bottlekit.datasets.celeba import load_celeba
    from bottlekit.datasets.cifar import load_cifar10, load_cifar100
    from bottlekit.datasets.cub import load_cub
    from bottlekit.datasets.ham10000 import load_ham10000
    from bottlekit.datasets.waterbirds import load_waterbirds

    return [
        ("load_dataset.name", lambda v: load_dataset(v, root), "name"),
        ("load_awa2.split", lambda v: load_awa2(root, v), "split"),
        ("load_celeba.split", lambda v: load_celeba(root, v), "split"),
        ("load_celeba.target", lambda v: load_celeba(root, target=v), "target"),
        ("load_cifar10.split", lambda v: load_cifar10(root, v), "split"),
        ("load_cifar100.label", lambda v: load_cifar100(root, label=v), "label"),
        ("load_cub.split", lambda v: load_cub(root, v), "split"),
        ("load_ham10000.split", lambda v: load_ham10000(root, v), "split"),
        ("load_waterbirds.split", lambda v: load_waterbirds(root, v), "split"),
    ]


@pytest.mark.parametrize(
    ("index", "kind"),
    [(i, kind) for i in range(9) for kind in NOT_STR],
)
def test_dataset_options(tmp_path, index, kind):
    # the folder is empty: each check must come before the files are looked for
    _, call, name = _datasets(tmp_path)[index]
    _expect_type_error(call, name, NOT_STR[kind])


def _problem():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4))
    y = np.arange(60) % 3
    return X, y, _bank(d=4, kind="cav")


def _bottleneck():
    from bottlekit.bottleneck import DiscoveredCBM, KnowledgeCBM, LaBo, PosthocCBM

    X, y, bank = _problem()
    return [
        ("PosthocCBM.sgd_order", lambda v: PosthocCBM(bank, sgd_order=v).fit(X, y), "sgd_order"),
        (
            "LaBo.early_stopping_metric",
            lambda v: LaBo(bank, early_stopping_metric=v).fit(X, y),
            "early_stopping_metric",
        ),
        (
            "KnowledgeCBM.prior_zero",
            lambda v: KnowledgeCBM(bank, prior_zero=v).fit(X, y),
            "prior_zero",
        ),
        (
            "KnowledgeCBM.pseudo_labels",
            lambda v: KnowledgeCBM(bank, pseudo_labels=v).fit(X, y),
            "pseudo_labels",
        ),
        ("DiscoveredCBM.method", lambda v: DiscoveredCBM(None, method=v).fit(X, y), "method"),
        ("prune.fill", lambda v: _fitted().prune(["c0"], fill=v), "fill"),
        ("intervene.scale", lambda v: _fitted().intervene(X, {"c0": 1.0}, scale=v), "scale"),
        ("intervene.output", lambda v: _fitted().intervene(X, {"c0": 1.0}, output=v), "output"),
    ]


_FITTED = []


def _fitted():
    from bottlekit.bottleneck import PosthocCBM

    if not _FITTED:
        X, y, bank = _problem()
        _FITTED.append(PosthocCBM(bank, max_iter=5).fit(X, y))
    return _FITTED[0]


@pytest.mark.parametrize(("call", "name", "value"), _cases(_bottleneck))
def test_bottleneck_options(call, name, value):
    _expect_type_error(call, name, value)


def _diagnostics_and_app():
    # concept_leakage, intervention_curves, audit and model_features check their data
    # first (a dataset with concept labels, a torch model); their option checks are the
    # same check_choice call and are pinned by the string cases of their own tests.
    from bottlekit.app import cbm_study
    from bottlekit.diagnostics.faithfulness.nec import accuracy_at_nec, prune_to_nec

    return [
        ("prune_to_nec.method", lambda v: prune_to_nec(_fitted(), 2, method=v), "method"),
        (
            "accuracy_at_nec.method",
            lambda v: accuracy_at_nec(_fitted(), None, None, {}, method=v),
            "method",
        ),
        (
            "cbm_study.intervention_curve.protocol",
            lambda v: cbm_study.intervention_curve(None, None, protocol=v),
            "protocol",
        ),
    ]


@pytest.mark.parametrize(("call", "name", "value"), _cases(_diagnostics_and_app))
def test_diagnostics_and_app_options(call, name, value):
    _expect_type_error(call, name, value)


def _discovery():
    from bottlekit.bottleneck import DiscoveredCBM
    from bottlekit.concepts.discovery import decompose, discover

    X = np.random.default_rng(0).normal(size=(30, 4)).astype(np.float32)
    y = np.arange(30) % 2
    return [
        ("discover.method", lambda v: discover(X, 4, method=v), "method"),
        ("discover.init", lambda v: discover(X, 4, init=v), "init"),
        ("discover.encoder", lambda v: discover(X, 4, encoder=v), "encoder"),
        ("decompose.solver", lambda v: decompose(X, _bank(d=4), solver=v), "solver"),
        (
            "DiscoveredCBM.encoder",
            lambda v: DiscoveredCBM(_bank(d=4), n_concepts=4, encoder=v).fit(X, y),
            "encoder",
        ),
    ]


@pytest.mark.parametrize(("call", "name", "value"), _cases(_discovery))
def test_discovery_options(call, name, value):
    pytest.importorskip("torch")
    # None is the default of the SAE settings init and encoder ("random", "learned")
    _expect_type_error(call, name, value, (None,) if name in ("init", "encoder") else ())
