"""``discover``: learn a dictionary of concept directions from embeddings."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import numpy as np

from bottlekit._checks import check_bool, check_choice, check_number, check_unused
from bottlekit.concepts.discovery._checks import at_mean, check_embeddings, check_int, seed_of
from bottlekit.concepts.discovery._sae import ENCODERS, INITS
from bottlekit.concepts.discovery.result import METHODS, ConceptDictionary

__all__ = ["MAX_ATOMS_PER_SAMPLE", "discover"]

#: ``n_concepts`` may be at most this many times the number of embeddings (an atom needs
#: embeddings to be learned from; beyond that, most atoms are dead by construction).
MAX_ATOMS_PER_SAMPLE = 1


#: What the SAE settings of None mean (the SAE methods only: NMF reads none of them).
SAE_DEFAULTS: dict[str, Any] = {
    "batch_size": 256,
    "learning_rate": 1e-3,
    "init": "random",
    "encoder": "learned",
    "checkpoint_every": 10,
}


#: The most epochs (int64's largest value): more passes than any run can make.
_MAX_EPOCHS = int(np.iinfo(np.int64).max)


def _default_k(n_concepts: int) -> int:
    return int(min(32, max(1, n_concepts // 8)))


def _chunks(n: int, first: int = 64, most: int = 16384) -> Iterator[slice]:
    """Slices over ``range(n)`` that double from ``first`` rows to ``most``: a scan that
    stops at its first hit reads little of ``X`` when the hit comes early (as it does for
    the embeddings of different images), and large chunks otherwise."""
    s, size = 0, first
    while s < n:
        yield slice(s, s + size)
        s, size = s + size, min(2 * size, most)


def _all_at_mean(X: np.ndarray, mu: np.ndarray | None = None) -> bool:
    """Whether every row of ``X`` is at the rows' mean ``mu`` (float64; computed when
    None) up to float32's rounding
    (:func:`~bottlekit.concepts.discovery._checks.at_mean`, the rule of
    :func:`decompose`), in float64 a chunk of rows at a time; stops at the first chunk
    that holds a row off the mean (the first, of 64 rows, for embeddings of different
    images: before, the first chunk of 16384 rows, 45 ms of the 0.32 s (CPU time) of a
    one-epoch ``discover`` on 20,000 x 512 with 64 atoms)."""
    if mu is None:
        mu = X.mean(0, dtype=np.float64)
    for rows in _chunks(len(X)):
        rows = X[rows].astype(np.float64)
        if not at_mean(rows - mu, rows, mu).all():
            return False
    return True


def _check_not_constant(X: np.ndarray, mu: np.ndarray | None = None) -> None:
    """Refuse embeddings whose rows are all equal (all zero, or a single row), or all at
    their mean ``mu`` (float64; computed when None) up to float32's rounding
    (:func:`_all_at_mean`).

    Every method centres ``X`` on its mean before it learns; identical rows are then all 0
    and leave no direction to learn. Before: the SAEs returned their random starting atoms
    with every code 0, NMF atoms of norm 0, without a word; and rows equal but for
    float32's rounding (``x (1 + 1e-7 r)``) were centred to rounding error and learned
    from, as atoms of noise.
    """
    n = len(X)
    differ = any((X[rows] != X[0]).any() for rows in _chunks(n))
    if n > 1 and differ and not _all_at_mean(X, mu):
        return
    rounding = ""
    if n == 1:
        what = "has a single row"
    elif not X.any():
        what = f"has {n} rows, all zero"
    elif not differ:
        what = f"has {n} rows, all equal"
    else:
        what = f"has {n} rows, all equal up to float32 rounding"
        rounding = (
            " (each within 2**-23 (||row|| + ||mean||) of their mean, the rule of decompose)"
        )
    zero = "0 up to rounding" if rounding else "0"
    raise ValueError(
        f"X {what}{rounding}: every method centres X on its mean, which leaves these rows "
        f"{zero} and no direction to learn; expected the embeddings of different images"
    )


def _check_spread(X: np.ndarray, mu: np.ndarray | None = None) -> float:
    """Refuse embeddings that vary about their mean ``mu`` (float64; computed when None)
    by less than float32's smallest normal number (root mean square distance, the
    methods' input scale ``s``); return that distance.

    The encoder divides its weights by ``s`` and is float32 (``encode``, the named concept
    bank): below that, they overflowed to inf and the codes were inf or wrong, silently.
    """
    from bottlekit.concepts.discovery._sae import _rms_distance

    tiny = float(np.finfo(np.float32).tiny)
    spread = _rms_distance(X, X.mean(0, dtype=np.float64) if mu is None else mu)
    if spread < tiny:
        raise ValueError(
            f"X: the embeddings vary about their mean by {spread:.3g} (root mean square), "
            f"below float32's smallest normal number ({tiny:.3g}), so the encoder (its "
            "weights over that spread) would overflow float32; expected embeddings on a "
            "moderate scale (multiply them by a constant)"
        )
    return spread


def discover(
    X: Any,
    n_concepts: int = 64,
    method: str = "topk_sae",
    *,
    k: int | None = None,
    epochs: int = 200,
    batch_size: int | None = None,
    learning_rate: float | None = None,
    dead_after: int | None = None,
    init: str | None = None,
    encoder: str | None = None,
    backbone_id: str | None = None,
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int | None = None,
    device: Any = "cpu",
    progress: bool = False,
    random_state: Any = None,
) -> ConceptDictionary:
    r"""Learn ``n_concepts`` concept directions from embeddings ``X``.

    Parameters
    ----------
    X : array-like of shape (n, d)
        Image embeddings (e.g. from :func:`bottlekit.embed`); finite, and not all equal:
        every method centres them on their mean, so identical rows (all-zero ones, or a
        single row), or rows all at their mean up to float32's rounding (as for
        :func:`decompose`: centred, each of norm at most :math:`2^{-23}(\lVert x\rVert +
        \lVert\mu\rVert)`), leave nothing to learn; nor may they vary about it by less than
        float32's smallest normal number (about 1.2e-38, root mean square). A zero row
        among others is a point like any other (no method normalises rows;
        :func:`decompose` takes zero rows too).
    n_concepts : int, default 64
        Atoms of the dictionary, at most ``n`` (and, for ``"nmf"``, at most ``2d``).
    method : {"topk_sae", "batchtopk_sae", "nmf"}, default "topk_sae"
        TopK sparse autoencoder (Gao et al. 2024), BatchTopK (Bussmann et al. 2024) or
        non-negative matrix factorisation of the split embedding (CRAFT).
    k : int, optional
        Active atoms per embedding (BatchTopK: on average); default
        ``min(32, max(1, n_concepts // 8))``. SAE methods only: refused by NMF, as are
        the other SAE settings below (``batch_size``, ``learning_rate``, ``dead_after``,
        ``init``, ``encoder``, ``checkpoint_every``); NMF used to ignore them, silently.
    epochs : int, default 200
        Passes over ``X`` (NMF: iterations at most); at most ``2**63 - 1``.
    batch_size : int or None, default None
        None means 256. SAE methods only.
    learning_rate : float or None, default None
        Adam's step size; None means 1e-3. SAE methods only.
    dead_after : int, optional
        An atom that has not fired on this many consecutive samples is dead and gets the
        AuxK gradient; default ``n`` (one epoch). SAE methods only.
    init : {"random", "data"} or None, default None
        How the SAE's atoms start: random unit directions (OpenAI's reference code), or
        ``n_concepts`` distinct training embeddings drawn with ``random_state``, centred
        and normalised (more stable across seeds on the built-in world, same recovery:
        docs/concepts.md); None means ``"random"``. SAE methods only (NMF has a
        deterministic ``nndsvda`` start).
    encoder : {"learned", "decoder"} or None, default None
        The encoder the trained SAE keeps: its own, or the decoder atoms themselves
        (encoder rows equal to the atoms, zero bias, as in a tied SAE), so that an atom's
        pre-activation is the projection of the centred embedding on the atom. Training
        for sparsity often (not always: 36 of 40 seeds on a toy hierarchy,
        docs/concepts.md) makes the learned encoder of a feature subtract the features
        that co-occur with it (feature absorption, Chanin et al. 2024) while its decoder
        atom keeps the feature's direction; on the built-in world, the atoms' projections
        recover more of the world's concepts than the learned encoder (docs/concepts.md).
        Training is the same; only the encoder kept differs. The codes are then the
        ``k`` largest projections (BatchTopK: every projection above a threshold
        re-estimated so that the training embeddings keep ``k`` active atoms on
        average) and reconstruct ``X`` less well than the learned encoder's. None means
        ``"learned"``. SAE methods only (NMF's encoder already projects on its atoms).
    backbone_id : str, optional
        Backbone that produced ``X``; :func:`name_concepts` refuses a vocabulary of
        another one.
    checkpoint : path-like, optional
        SAE checkpoint file, written atomically every ``checkpoint_every`` epochs and at the
        end; if it exists, training resumes from it (same data and arguments required).
    checkpoint_every : int or None, default None
        None means 10. SAE methods only.
    device : str or torch.device, default "cpu"
        Where the SAE trains (``None``: CUDA when available).
    progress : bool, default False
        A progress bar over epochs.
    random_state : None, int in [0, 2**32 - 1] or a numpy random generator (RandomState, ...)
        Seeds the initialisation and the batch order; the result is deterministic given
        it (on one device).

    Returns
    -------
    ConceptDictionary
        Atoms, encoder, training codes, ``n_dead`` and ``n_duplicate``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> atoms = np.linalg.qr(rng.normal(size=(16, 4)))[0].T   # 4 orthonormal directions
    >>> X = (rng.random((500, 4)) < 0.3) * rng.uniform(1, 2, (500, 4)) @ atoms
    >>> d = discover(X, n_concepts=8, k=2, epochs=30, learning_rate=1e-2, random_state=0)
    >>> d.dictionary.shape, d.codes.shape
    ((8, 16), (500, 8))
    >>> bool(np.abs(d.dictionary @ atoms.T).max(axis=0).min() > 0.9)   # every atom found
    True
    """
    method = check_choice(method, METHODS, "method")
    sae_settings = {
        "k": k,
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "dead_after": dead_after,
        "init": init,
        "encoder": encoder,
        "checkpoint_every": checkpoint_every,
    }
    if method == "nmf":  # they were ignored, silently
        for name, value in sae_settings.items():
            check_unused(
                value, name, "with method='nmf' (a setting of the sparse autoencoders)",
                " or use method='topk_sae' or 'batchtopk_sae'",
            )  # fmt: skip
    batch_size = SAE_DEFAULTS["batch_size"] if batch_size is None else batch_size
    learning_rate = SAE_DEFAULTS["learning_rate"] if learning_rate is None else learning_rate
    init = SAE_DEFAULTS["init"] if init is None else init
    encoder = SAE_DEFAULTS["encoder"] if encoder is None else encoder
    if checkpoint_every is None:
        checkpoint_every = SAE_DEFAULTS["checkpoint_every"]
    X = check_embeddings(X)
    # the mean and spread are the SAEs' centre and input scale too (taken once: before,
    # three means and two spreads of X, a fifth of a one-epoch run on 20,000 embeddings)
    mu = X.mean(0, dtype=np.float64)
    _check_not_constant(X, mu)
    spread = _check_spread(X, mu)
    n, d = X.shape
    high = MAX_ATOMS_PER_SAMPLE * n if method != "nmf" else min(n, 2 * d)
    try:
        n_concepts = check_int(n_concepts, "n_concepts", 1, high)
    except ValueError as exc:
        raise ValueError(
            f"{exc} (with {n} embeddings of dimension {d}, {method} can learn at most {high} "
            "atoms; embed more images or ask for fewer concepts)"
        ) from None
    k = _default_k(n_concepts) if k is None else check_int(k, "k", 1, n_concepts)
    # a count of passes has to fit C (tqdm took the range's length: OverflowError)
    epochs = check_int(epochs, "epochs", 1, _MAX_EPOCHS)
    batch_size = check_int(batch_size, "batch_size", 1)
    checkpoint_every = check_int(checkpoint_every, "checkpoint_every", 1)
    if dead_after is not None:
        dead_after = check_int(dead_after, "dead_after", 1)
    learning_rate = check_number(learning_rate, "learning_rate", low=0, low_open=True)
    progress = check_bool(progress, "progress")
    if backbone_id is not None and (not isinstance(backbone_id, str) or not backbone_id):
        raise ValueError(f"backbone_id: expected a non-empty string or None, got {backbone_id!r}")
    init = check_choice(init, INITS, "init")
    encoder = check_choice(encoder, ENCODERS, "encoder")
    from bottlekit.devices import resolve_device

    device = resolve_device(device)  # a bad device is refused for every method, NMF too
    if checkpoint is not None:
        from bottlekit.atomic import check_output_path

        check_output_path(checkpoint, "checkpoint", is_file=True)
    if checkpoint is not None and method == "nmf":
        raise ValueError("checkpoint: NMF is not resumable; use an SAE method or no checkpoint")
    seed = seed_of(random_state)
    params = {
        "n_concepts": n_concepts,
        "method": method,
        "k": k,
        "epochs": epochs,
        "batch_size": batch_size,
        "learning_rate": float(learning_rate),
        "dead_after": dead_after,
        "seed": seed,
    }
    if init != "random":
        params["init"] = init
    if encoder != "learned":
        params["encoder"] = encoder
    if method == "nmf":
        from bottlekit.concepts.discovery.nmf import fit_nmf

        fields = fit_nmf(X, n_concepts=n_concepts, seed=seed, epochs=epochs)
        return ConceptDictionary(method=method, backbone_id=backbone_id, params=params, **fields)

    if method == "topk_sae":
        from bottlekit.concepts.discovery.topk_sae import fit_topk_sae as fit
    else:
        from bottlekit.concepts.discovery.batchtopk_sae import fit_batchtopk_sae as fit
    fields = fit(
        X,
        n_concepts=n_concepts,
        k=k,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=float(learning_rate),
        seed=seed,
        device=device,
        progress=progress,
        checkpoint=checkpoint,
        checkpoint_every=checkpoint_every,
        dead_after=dead_after,
        init=init,
        stats=(mu, spread),
    )
    if encoder == "decoder":
        from bottlekit.concepts.discovery._sae import decoder_as_encoder

        fields = decoder_as_encoder(fields, X, batch_topk=method == "batchtopk_sae")
    result = ConceptDictionary(method=method, backbone_id=backbone_id, params=params, **fields)
    from bottlekit.concepts.discovery._sae import codes_of

    result.codes = codes_of(result, X)
    return result
