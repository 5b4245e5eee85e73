"""Nearest-neighbour queries under the max-norm (Chebyshev) or Euclidean metric.

Shared by the k-NN estimators (KSG, Ross, Kozachenko–Leonenko). With ``tree="kd"``,
max-norm queries use the compiled tree of :mod:`._maxnorm_tree` (radius counts on one or
two coordinates use the tree-free exact counts of :mod:`._chebyshev_counts`); Euclidean
k-NN uses :class:`scipy.spatial.cKDTree` and Euclidean counts scikit-learn's KDTree;
``"ball"`` uses :class:`sklearn.neighbors.BallTree` (better in high dimension). All give
the same neighbours and counts, except that BallTree prunes with rounded node bounds: a
point at exactly the radius is now and then counted on the wrong side (one row in
20000 for KSG at n=800, whose k-th neighbour lies on every row's radius; the estimate moves by
~1e-5).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from bottlekit._checks import check_bool, check_choice, check_number

from ._chunks import n_workers, run_in_chunks
from ._scaling import safe_centre, safe_std

__all__ = [
    "MAX_JITTER",
    "HeavyTailWarning",
    "check_differences_fit",
    "check_enough_rows",
    "check_jitter",
    "check_metric",
    "check_positive_radii",
    "count_within",
    "kth_neighbor",
    "normal_scores",
    "preprocess_continuous",
    "warn_if_heavy_tailed",
]

_P = {"chebyshev": np.inf, "euclidean": 2.0}

#: Largest accepted ``jitter``: noise as large as the column's own spread. The jitter only
#: breaks ties; beyond 1 the estimate measures the noise, not the data (and from about
#: 1e154 the Euclidean distances of the Kozachenko-Leonenko entropy overflowed: ``inf``,
#: and ``nan`` for the weighted-KL mutual information, at ``jitter=1e300``).
MAX_JITTER = 1.0


#: A column warns when its standard deviation exceeds this many robust spreads
#: (IQR / 1.349, the standard deviation of a Gaussian). Over 20,000 Gaussian samples
#: per n the largest ratio was 2.1 at n=50, 1.8 at 100, 1.1 at 1000 (exponential: 4.1,
#: 2.3, 1.5; uniform 1.5); one outlier of 1e3 among 1000 standard normals gives ~31.
HEAVY_TAIL_RATIO = 10.0
#: Below this many rows the quartiles are too noisy for the check (Gaussian samples of
#: 5 to 10 rows passed the ratio of 10 in up to 0.8% of 200,000 draws; at 20, none).
HEAVY_TAIL_MIN_SAMPLES = 20


class HeavyTailWarning(UserWarning):
    """A column's standard deviation is dominated by outliers or a heavy tail.

    The k-NN estimators scale each column (and the jitter) by its standard deviation; a
    few huge values inflate it and squeeze the bulk of the values together under the
    max-norm, which biases the estimate (mutual information towards 0).
    """


def warn_if_heavy_tailed(X: np.ndarray, name: str) -> None:
    """Warn (:class:`HeavyTailWarning`) if a column's std exceeds 10 robust spreads.

    The robust spread is the interquartile range over 1.349 (the standard deviation for
    Gaussian data). Columns with a zero interquartile range (mostly ties) or in which one
    value fills a quarter of the rows or more (zero-inflated activations: the quartiles
    then measure the ties, not the spread, and a quartile just above the repeated value
    made the ratio 2,000 with no outlier), and samples of fewer than 20 rows, are not
    checked.

    Parameters
    ----------
    X : ndarray of shape (n, d)
        Finite samples, before any scaling.
    name : str
        The argument ``X`` came from, for the message.

    Examples
    --------
    >>> import warnings
    >>> x = np.r_[np.linspace(-1.0, 1.0, 999), 1e5][:, None]
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warn_if_heavy_tailed(x, "X")
    >>> caught[0].category.__name__
    'HeavyTailWarning'
    """
    if X.shape[0] < HEAVY_TAIL_MIN_SAMPLES:
        return
    std = safe_std(X)
    with np.errstate(over="ignore", invalid="ignore"):
        q1, q3 = np.percentile(X, [25.0, 75.0], axis=0)
        robust = (q3 - q1) / 1.349
        heavy = (robust > 0) & np.isfinite(robust) & (std > HEAVY_TAIL_RATIO * robust)
    for j in np.flatnonzero(heavy):  # (sorted only where flagged: most columns are not)
        x = np.sort(X[:, j])
        starts = np.flatnonzero(np.r_[True, x[1:] != x[:-1], True])
        if np.diff(starts).max() * 4 >= len(x):
            heavy[j] = False  # one value fills a quarter: the quartiles measure its ties
    if not np.any(heavy):
        return
    j = int(np.argmax(np.where(heavy, std / np.where(robust > 0, robust, 1.0), 0.0)))
    warnings.warn(
        f"{name}: column {j}'s spread is dominated by outliers or a heavy tail (standard "
        f"deviation {std[j]:.3g}, {std[j] / robust[j]:.3g} times its robust spread IQR/1.349 "
        f"= {robust[j]:.3g}); the k-NN estimators scale columns and their jitter by the "
        "standard deviation, which squeezes the bulk of the values together, so the "
        "estimate is biased (mutual information towards 0). Use copula=True (exactly "
        "rank-invariant) where the estimator has it, or transform the column (e.g. a log).",
        HeavyTailWarning,
        stacklevel=4,
    )


def check_jitter(jitter: Any) -> float:
    """Return ``jitter`` as float if it is a number in ``[0, MAX_JITTER]``, else raise.

    The one check of every k-NN estimator's ``jitter``: the standard deviation of the
    noise against ties, as a fraction of each column's standard deviation.

    Parameters
    ----------
    jitter : object

    Returns
    -------
    float

    Raises
    ------
    ValueError
        If ``jitter`` is not a finite number in ``[0, 1]``.

    Examples
    --------
    >>> check_jitter(1e-10)
    1e-10
    >>> check_jitter(1e300)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: jitter must be a number >= 0 and <= 1 (a fraction of ...), got 1e+300
    """
    return check_number(
        jitter,
        "jitter",
        low=0,
        high=MAX_JITTER,
        expected="a number >= 0 and <= 1 (a fraction of each column's standard deviation)",
        wording="must",
    )


def check_enough_rows(n: int, k: int, estimator: str) -> None:
    """Refuse ``n = k + 1`` rows, where a KSG-type estimate does not depend on the data.

    With ``k + 1`` rows every row's ``k`` nearest neighbours are all the other rows, so
    every neighbour count is ``k`` and the estimate a constant (KSG: 0 for any data).
    Fewer rows are refused earlier, by the ``k + 1`` minimum of the samples' check.

    Parameters
    ----------
    n, k : int
        Rows and neighbours.
    estimator : str
        For the message.

    Raises
    ------
    ValueError
        If ``n == k + 1``, naming ``n`` and ``k``.

    Examples
    --------
    >>> check_enough_rows(5, 3, "KSG")
    >>> check_enough_rows(4, 3, "KSG")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: n=4 rows with k=3: every row's 3 nearest neighbours are all the other ...
    """
    if n == k + 1:
        raise ValueError(
            f"n={n} rows with k={k}: every row's {k} nearest neighbours are all the other "
            f"rows, so the {estimator} estimate is the same whatever the data; give at least "
            f"k + 2 = {k + 2} rows or a smaller k"
        )


def check_metric(metric: str) -> None:
    """Refuse a ``metric`` other than the two the neighbour queries know, by name."""
    check_choice(
        metric, tuple(_P), "metric", expected="'chebyshev' or 'euclidean'", wording="must"
    )


def _check_tree(tree: str) -> None:
    check_choice(tree, ("kd", "ball"), "tree", expected="'kd' or 'ball'", wording="must")


def kth_neighbor(
    Z: np.ndarray,
    k: int,
    *,
    metric: str = "chebyshev",
    tree: str = "kd",
    n_jobs: int | None = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Distances and indices of the ``k`` nearest neighbours of every row (self excluded).

    Returns
    -------
    dist : ndarray of shape (n, k)
    idx : ndarray of shape (n, k)
    """
    _check_tree(tree)
    if tree == "kd" and metric == "chebyshev":
        from ._maxnorm_tree import MaxNormTree  # numba: imported on first use

        return MaxNormTree(Z).knn(k, n_jobs=n_jobs)
    if tree == "kd":
        index = cKDTree(Z)
        # Query the points in the tree's own leaf order: consecutive queries then walk the
        # same nodes, which is 1.5-3x faster than the original order (cache locality).
        order = index.indices
        d_o, i_o = index.query(Z[order], k=k + 1, p=_P[metric], workers=n_workers(n_jobs))
        dist, idx = np.empty_like(d_o), np.empty_like(i_o)
        dist[order], idx[order] = d_o, i_o
    else:
        from sklearn.neighbors import BallTree

        dist, idx = BallTree(Z, metric=metric).query(Z, k=k + 1)
    # Column 0 is the point itself (distance 0) as long as rows are distinct, which the
    # jitter guarantees almost surely; drop it.
    return dist[:, 1:], idx[:, 1:]


def count_within(
    X: np.ndarray,
    radius: np.ndarray,
    *,
    strict: bool,
    metric: str = "chebyshev",
    tree: str = "kd",
    n_jobs: int | None = 1,
) -> np.ndarray:
    """Number of *other* rows ``j != i`` with ``dist(X[j], X[i]) < radius[i]`` (or ``<=``).

    ``strict=True`` counts ``<``; it is implemented by shrinking each radius to the next
    float below it, since trees count ``<=``.
    """
    _check_tree(tree)
    radius = np.asarray(radius, dtype=np.float64)
    d = X.shape[1]
    # Trees count `<=`; `<` is `<=` with each radius lowered to the next float below it.
    r = np.nextafter(radius, 0.0) if strict else radius
    max_norm_kd = tree == "kd" and metric == "chebyshev"
    if d == 1 or (d == 2 and max_norm_kd):
        # Tree-free exact counts; on one coordinate both metrics are |x_j - x_i|.
        from ._chebyshev_counts import chebyshev_counts_1d, chebyshev_counts_2d

        counts = chebyshev_counts_1d(X[:, 0], r) if d == 1 else chebyshev_counts_2d(X, r)
    elif max_norm_kd:
        from ._maxnorm_tree import MaxNormTree

        counts = MaxNormTree(X).count_within(r, n_jobs)
    else:
        counts = _sklearn_counts(X, r, metric=metric, tree=tree, n_jobs=n_jobs)
    if strict:
        counts[radius <= 0] = 0  # nextafter(0, 0) is 0, which would count duplicates
    return counts


def _sklearn_counts(X, r, *, metric: str, tree: str, n_jobs) -> np.ndarray:
    """``count_within`` through scikit-learn's trees (Euclidean, or ``tree="ball"``)."""
    from sklearn.neighbors import BallTree, KDTree

    n = X.shape[0]
    index = (KDTree if tree == "kd" else BallTree)(X, leaf_size=8, metric=metric)
    order = np.asarray(index.get_arrays()[1])  # tree order, for cache locality
    Xo, ro = X[order], r[order]
    counts_o = np.empty(n, dtype=np.int64)

    def query(first, last):
        counts_o[first:last] = index.query_radius(Xo[first:last], ro[first:last], count_only=True)

    run_in_chunks(query, n, n_jobs, min_rows=2000)
    counts = np.empty(n, dtype=np.int64)
    counts[order] = counts_o
    return counts - 1  # remove the point itself


def normal_scores(X: np.ndarray, tie_break: np.ndarray | None = None) -> np.ndarray:
    """Replace each column by the normal scores of its ranks, Phi^-1(rank / (n + 1)).

    Ties get their average rank, or, with ``tie_break`` (an array of X's shape, e.g.
    seeded noise), distinct ranks in the order of ``tie_break`` among the tied values.
    Either way the result depends on the data only through the ranks, so any strictly
    increasing map of a column leaves it unchanged.
    """
    from scipy.special import ndtri
    from scipy.stats import rankdata

    n = X.shape[0]
    if tie_break is None:
        ranks = rankdata(X, axis=0)
    else:
        ranks = np.empty(X.shape, dtype=np.float64)
        for j in range(X.shape[1]):
            # sort by value, then by tie_break among equal values
            order = np.lexsort((tie_break[:, j], X[:, j]))
            ranks[order, j] = np.arange(1.0, n + 1.0)
    return ndtri(ranks / (n + 1.0))


def preprocess_continuous(
    X: np.ndarray,
    *,
    name: str,
    standardize: bool,
    jitter: float,
    rng: np.random.Generator,
    copula: bool = False,
    metric: str = "chebyshev",
) -> np.ndarray:
    """Optionally rank-transform, scale columns to unit standard deviation, add tiny noise.

    The noise has standard deviation ``jitter`` times the column's standard deviation, so
    it is scale-free; ``jitter=0`` disables it. With ``copula=True`` the columns are first
    replaced by their normal scores (:func:`normal_scores`) and no noise is added: with
    ``jitter > 0`` tied values get distinct ranks in a random order drawn from ``rng``
    (the size of ``jitter`` does not matter), so the result depends only on the ranks.
    Unstandardized samples are then checked by :func:`check_differences_fit` (the one
    such check of every k-NN estimator).

    Parameters
    ----------
    X : ndarray of shape (n, d)
        Finite samples.
    name : str
        The argument ``X`` came from, for the error messages.
    standardize : bool
    jitter : float
    rng : numpy.random.Generator
    copula : bool, default=False
    metric : {"chebyshev", "euclidean"}, default="chebyshev"
        The metric of the neighbour queries that will follow.

    Returns
    -------
    ndarray of shape (n, d)

    Warns
    -----
    HeavyTailWarning
        Without ``copula``, if a column's standard deviation exceeds 10 times its robust
        spread (:func:`warn_if_heavy_tailed`).

    Raises
    ------
    ValueError
        If ``jitter`` is outside ``[0, 1]`` (:func:`check_jitter`), if the noisy samples
        overflow float64 (unstandardized columns near float's limits), or if their
        differences under ``metric`` do (:func:`check_differences_fit`).
    """
    standardize = check_bool(standardize, "standardize")
    copula = check_bool(copula, "copula")
    jitter = check_jitter(jitter)
    X = np.array(X, dtype=np.float64, copy=True)
    if copula:
        # Ties only are broken, in a seeded random order: noise added in raw units (as
        # before) reordered distinct values whenever the standard deviation dwarfed their
        # gaps (sinh(100 a): 0.015 nats instead of 0.254), breaking rank invariance.
        # The same draws as the jitter's, so distinct values give the same scores.
        tie_break = rng.standard_normal(X.shape) if jitter > 0 else None
        return normal_scores(X, tie_break)
    warn_if_heavy_tailed(X, name)
    std = safe_std(X)
    if standardize:
        X = safe_centre(X, std)  # X.mean() overflowed at 1e307 x 300 rows
        std = np.ones_like(std)
    _add_jitter(X, jitter, std, rng, hint="" if standardize else ", or standardize=True")
    if not standardize:  # standardized columns lie within sqrt(n) of 0
        check_differences_fit(X, name, metric)
    return X


def check_differences_fit(X: np.ndarray, name: str, metric: str = "chebyshev") -> None:
    """Raise if the distances between rows of ``X`` under ``metric`` overflow float64.

    Unstandardized samples near float's limits (``|x|`` up to 1.7e308 of both signs) have
    differences beyond float64's largest number: the max-norm distances became ``inf``
    and KSG went on, silently wrong (0.75 nats for a truth of 0.55, -0.09 with
    ``algorithm=2``). The trees' Euclidean distances sum squared differences, which
    overflow from about 1.3e154 (Ross's estimator then gave -4.1 nats). One pass over the
    column ranges: ``max - min`` of every column bounds every difference.

    Parameters
    ----------
    X : ndarray of shape (n, d)
        Finite samples, as the neighbour queries will see them.
    name : str
        The argument ``X`` came from, for the message.
    metric : {"chebyshev", "euclidean"}, default="chebyshev"

    Raises
    ------
    ValueError
        Naming ``name`` and the widest column's range, suggesting ``standardize=True``.

    Examples
    --------
    >>> import numpy as np
    >>> check_differences_fit(np.array([[1e308], [-1e308]]), "X")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: X: the differences between rows overflow float64 (column 0 spans -1e+308 ...
    """
    lo, hi = np.min(X, axis=0), np.max(X, axis=0)
    with np.errstate(over="ignore"):
        span = hi - lo
        total = np.max(span) if metric == "chebyshev" else np.sum(np.square(span))
    if np.isfinite(total):
        return
    j = int(np.argmax(span))
    if metric == "chebyshev":
        what, why = "the differences between rows", "a range"
    else:
        what, why = "the squared Euclidean distances between rows", "the squared ranges sum"
    raise ValueError(
        f"{name}: {what} overflow float64 (column {j} spans {lo[j]:.3g} to {hi[j]:.3g}; "
        f"{why} beyond float64's largest number, {np.finfo(np.float64).max:.3g}); rescale "
        "the samples or use standardize=True"
    )


def _add_jitter(
    X: np.ndarray, jitter: float, std: np.ndarray, rng: np.random.Generator, *, hint: str
) -> None:
    """Add ``N(0, (jitter * std)^2)`` noise to ``X`` in place; raise if it overflows.

    Columns of unstandardized samples near float's limits (a standard deviation of 5e307)
    overflowed to ``inf`` with ``jitter=1``, and the estimate went on silently.
    """
    if jitter == 0:
        return
    with np.errstate(over="ignore", invalid="ignore"):
        X += jitter * std * rng.standard_normal(X.shape)
    if not np.all(np.isfinite(X)):
        raise ValueError(
            f"jitter={jitter:g}: the noise (jitter times each column's standard deviation, "
            f"up to {float(np.max(std)):.3g}) overflows float64 on these samples; use a "
            f"smaller jitter{hint}"
        )


def check_positive_radii(
    radii: np.ndarray, what: str, quantity: str, k: int | None = None
) -> None:
    """Raise if a k-th neighbour distance is 0: more than k rows coincide (``k``: the
    smallest neighbour rank among the radii, for the message; None says "k").

    The k-NN estimators take logarithms or neighbour counts within these radii; a radius of
    0 (ties, possible only with ``jitter=0``) makes them meaningless, e.g. KSG then returned
    6.2 nats for a variable with 6 distinct values.
    """
    if np.any(radii <= 0):
        raise ValueError(
            f"{what} has {'more than k' if k is None else f'{k + 1} or more'} identical rows; "
            f"the k-NN {quantity} is undefined "
            "(set jitter > 0 or remove duplicates)"
        )
