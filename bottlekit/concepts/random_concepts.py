"""Random concepts: a baseline bank of random directions, sized when the data is seen."""

from __future__ import annotations

import numbers

import numpy as np

from bottlekit._checks import check_seed
from bottlekit.concepts.bank import ConceptBank

__all__ = ["RandomConcepts", "random_bank"]


def random_bank(n_concepts: int, dim: int, random_state: int | None = 0) -> ConceptBank:
    r"""A bank of ``n_concepts`` random unit vectors in :math:`\mathbb{R}^{dim}`.

    Vectors are :math:`v_j = g_j / \lVert g_j\rVert` with :math:`g_j \sim N(0, I_d)`, i.e.
    uniform on the sphere, and of kind ``"text"`` (cosine projection). A CBM on random
    concepts is the usual control for how much of a bottleneck's accuracy comes from its
    concepts rather than from the capacity of a ``k``-dimensional linear layer.

    Parameters
    ----------
    n_concepts : int
        Number of concepts, >= 1.
    dim : int
        Embedding dimension, >= 1.
    random_state : int, numpy random generator or None
        Seed (recorded in the provenance as ``"seed"``; a generator by its type name).

    Returns
    -------
    ConceptBank
        Concepts named ``random_0``, ``random_1``, ...; backbone id ``"random"``.

    Examples
    --------
    >>> bank = random_bank(3, 5, random_state=0)
    >>> bank.vectors.shape, bool(np.allclose(np.linalg.norm(bank.vectors, axis=1), 1))
    ((3, 5), True)
    """
    for value, name in ((n_concepts, "n_concepts"), (dim, "dim")):
        if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name}: expected an int >= 1, got {value!r}")
    check_seed(random_state, "random_state")
    rng = np.random.default_rng(random_state)
    g = rng.standard_normal((int(n_concepts), int(dim)))
    g /= np.linalg.norm(g, axis=1, keepdims=True)
    names = [f"random_{j}" for j in range(int(n_concepts))]
    # the provenance is JSON: a numpy integer seed is stored as an int, a generator by name
    # (before, both made the bank refuse its own provenance as not JSON-serialisable)
    if random_state is None or isinstance(random_state, numbers.Integral):
        seed = None if random_state is None else int(random_state)
    else:
        seed = f"<{type(random_state).__name__}>"
    prov = [{"kind": "text", "source": "random", "seed": seed}] * int(n_concepts)
    return ConceptBank(names, g, "random", provenance=prov)


class RandomConcepts:
    """Specification of a random concept bank whose dimension is set by the data.

    A concept-bottleneck model given ``RandomConcepts`` as its ``concepts`` resolves it
    with :meth:`resolve` at ``fit`` time to :func:`random_bank` of the embedding
    dimension. It is the random-concept baseline, and what scikit-learn's conformance
    checks use (they feed data of many widths).

    Parameters
    ----------
    n_concepts : int, default 8
        Number of random concepts, >= 1 (checked by :meth:`resolve`).
    random_state : int or None, default 0
        Seed of :func:`random_bank`; an int gives the same bank at every :meth:`resolve`,
        None a new one each time.

    Examples
    --------
    >>> RandomConcepts(4, random_state=1).resolve(10).vectors.shape
    (4, 10)
    """

    def __init__(self, n_concepts: int = 8, random_state: int | None = 0) -> None:
        self.n_concepts = n_concepts
        self.random_state = random_state

    def __repr__(self) -> str:
        return f"RandomConcepts(n_concepts={self.n_concepts}, random_state={self.random_state})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, RandomConcepts)
            and other.n_concepts == self.n_concepts
            and other.random_state == self.random_state
        )

    def __hash__(self) -> int:
        return hash((self.n_concepts, self.random_state))

    def resolve(self, dim: int) -> ConceptBank:
        """The bank for embeddings of dimension ``dim``.

        Parameters
        ----------
        dim : int
            Embedding dimension, >= 1.

        Returns
        -------
        ConceptBank
            :func:`random_bank` of ``n_concepts`` unit vectors of dimension ``dim``.
        """
        return random_bank(self.n_concepts, dim, self.random_state)

    def to_dict(self) -> dict:
        """JSON form (used when a model is saved).

        Returns
        -------
        dict
            ``{"n_concepts": ..., "random_state": ...}``, the constructor's arguments.

        Raises
        ------
        TypeError
            If ``random_state`` is a numpy random generator, whose state JSON cannot hold.
        """
        seed = self.random_state
        if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
            seed = int(seed)  # a numpy integer made the model file's JSON fail
        elif seed is not None and not isinstance(seed, bool):
            raise TypeError(
                f"RandomConcepts: cannot save random_state of type {type(seed).__name__}; "
                "give an int seed (or None) to save the model"
            )
        n = self.n_concepts
        n = int(n) if isinstance(n, numbers.Integral) and not isinstance(n, bool) else n
        return {"n_concepts": n, "random_state": seed}
