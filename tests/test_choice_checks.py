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
