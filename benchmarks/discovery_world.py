"""Concept discovery on the built-in world (issue 19), checked against its exact concepts.

Prints, for ``world-tiny`` embeddings of 2,400 training images (seed 0; another backbone
with ``--model``/``--pretrained``, e.g. ``--model world-small`` for the shipped world-small
or ``--pretrained path/to/run.safetensors`` for a training run's weights):

1. recovery: for each of the world's 31 concepts, the AUROC of the best-matching atom
   against the concept labels; the fraction of concepts recovered at AUROC >= 0.8, for
   each method and two dictionary sizes, scored on the sparse codes and on the encoder's
   pre-activations (the concept layer of ``DiscoveredCBM`` and of a named bank), with
   dead/duplicate atoms, the stability over three seeds (mean Hungarian-matched cosine
   over the three pairs) and the fit time; beside PCA with as many components (sign
   free: max(AUROC, 1 - AUROC), which favours the baseline), and the same recovery
   score for the 24 species (one-vs-rest) as a check of what the atoms align to;
2. naming: the world's 31 concept names plus >= 500 distractor phrases (colour, shape
   and pattern words on parts that are not world concepts) as the vocabulary; the
   fraction of recovered atoms whose top name is the concept they recover (chance:
   1 / vocabulary size);
3. DN-CBM (``DiscoveredCBM``) test and shifted accuracy beside the linear probe and PCBM
   on text concepts;
4. SpLiCE: reconstruction cosine vs concepts per image over ``l1``; three test images
   decomposed, with their true concepts;
5. (``--speed``) SAE training samples/s on n x 512 float32 embeddings beside a plain
   torch loop of the same model, and SpLiCE images/s beside scikit-learn's
   ``Lasso(positive=True)`` on the same problem.

    python benchmarks/discovery_world.py [--model world-tiny] [--pretrained PATH]
        [--epochs 50] [--seeds 0 1 2] [--init random|data] [--encoder learned|decoder]
        [--probe-ceiling]
        [--speed] [--speed-n 100000] [--threads 2]
"""

from __future__ import annotations

import argparse
import itertools
import time

import numpy as np
from scipy.stats import rankdata

COLOURS = "purple pink teal violet magenta cyan maroon olive navy beige turquoise gold "
COLOURS += "silver lavender crimson amber indigo ivory khaki coral"
SHAPES = "round square triangular oval pointed curved jagged wavy narrow hooked"
PATTERNS = "dotted checkered zigzag mottled speckled"
PARTS = "legs feet claws neck chest belly throat crown nape back eyes talons feathers "
PARTS += "breast rump"


def distractors(world_names: list[str]) -> list[str]:
    """>= 500 phrases on parts the world does not have (so none is a world concept)."""
    words = COLOURS.split() + SHAPES.split() + PATTERNS.split()
    out = [f"{w} {p}" for w, p in itertools.product(words, PARTS.split())]
    assert not set(out) & set(world_names)
    return out


def auroc(S: np.ndarray, L: np.ndarray) -> np.ndarray:
    """AUROC of every score column against every label column, shape (concepts, atoms)."""
    R = rankdata(S, axis=0)
    pos = L.sum(0)[:, None]
    return (L.T @ R - pos * (pos + 1) / 2) / (pos * (len(L) - pos))


def recovery(S: np.ndarray, L: np.ndarray, sign_free: bool = False):
    A = auroc(S, L)
    if sign_free:
        A = np.maximum(A, 1 - A)
    best = A.max(1)
    return float((best >= 0.8).mean()), float(best.mean()), A.argmax(1), best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="world-tiny", help="backbone name")
    parser.add_argument(
        "--pretrained",
        default=None,
        help="weights file (default: the weights bottlekit ships for --model, world-tiny's "
        "or world-small's)",
    )
    parser.add_argument(
        "--probe-ceiling",
        action="store_true",
        help="also a supervised logistic probe per concept (the recovery ceiling)",
    )
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--k", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--init", choices=["random", "data"], default="random")
    parser.add_argument(
        "--encoder",
        choices=["learned", "decoder"],
        default="learned",
        help="the SAEs' encoder after training: their own, or the decoder atoms "
        "(discover's encoder=)",
    )
    parser.add_argument("--recovery-only", action="store_true")
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--methods", nargs="+", default=["topk_sae", "batchtopk_sae", "nmf"])
    parser.add_argument("--speed", action="store_true")
    parser.add_argument("--speed-n", type=int, default=100_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--skip-world", action="store_true")
    parser.add_argument("--speed-parts", nargs="+", default=["sae", "splice"])
    parser.add_argument(
        "--fit-images",
        type=int,
        default=0,
        help="fit PCA and the dictionaries on this many unlabelled images of another draw "
        "(the val split of seed 0) and score recovery on the 2,400 labelled training images; "
        "0 (default): fit on the labelled images themselves",
    )
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    if not args.skip_world:
        world(args)
    if args.speed:
        speed(args)


def world(args) -> None:
    from sklearn.decomposition import PCA

    from bottlekit.app.cbm_study import build_banks, fit_models, load_world_data
    from bottlekit.bottleneck import DiscoveredCBM
    from bottlekit.concepts import from_text
    from bottlekit.concepts.discovery import (
        decompose,
        dictionary_stability,
        discover,
        name_concepts,
    )
    from bottlekit.world.evaluate import CONCEPT_TEMPLATES

    if args.pretrained is None:
        backbone = args.model
    else:
        from bottlekit import load_backbone

        backbone = load_backbone(args.model, args.pretrained, device="cpu")
    data = load_world_data(backbone, 2400, 2400, 0)
    X, L = data.X["train"], data.train.concept_labels.astype(np.float64)
    names = list(data.concept_names)
    vocab_names = names + distractors(names)
    vocab = from_text(data.backbone, vocab_names, CONCEPT_TEMPLATES)
    print(
        f"{args.model}: {X.shape[0]} training embeddings, d={X.shape[1]}, {len(names)} concepts; "
        f"vocabulary {len(vocab)} names ({len(vocab) - len(names)} distractors); "
        f"epochs {args.epochs}, k {args.k}, lr {args.learning_rate}, init {args.init}, "
        f"encoder {args.encoder}, "
        f"{args.threads} threads"
    )

    print("\n1. Recovery (fraction of concepts with best-atom AUROC >= 0.8; mean best AUROC)")
    print(
        f"{'method':<15}{'atoms':>6}{'codes':>8}{'pre-act':>9}{'mean AUC':>10}{'dead':>6}"
        f"{'dup':>5}{'stability':>11}{'fit s':>8}{'naming':>8}{'species':>9}{'decoder':>9}"
        f"{'pre, seeds':>14}"
    )
    X_fit = X
    if args.fit_images:
        from bottlekit.cache import embed
        from bottlekit.world import make_world

        pool = make_world(args.fit_images, "val", 0, return_masks=False)
        X_fit = embed(data.backbone, pool.images)
        print(f"dictionaries and PCA fitted on {len(X_fit)} unlabelled images (val split)")
    n_pca = min(X.shape[1], max(args.sizes))
    pca = PCA(n_pca, random_state=0).fit(X_fit)
    Y = (data.y["train"][:, None] == np.unique(data.y["train"])[None]).astype(np.float64)
    for c in sorted({min(m, n_pca) for m in args.sizes}):
        S = pca.transform(X)[:, :c]
        frac, mean, _, _ = recovery(S, L, sign_free=True)
        species = recovery(S, Y, sign_free=True)[0]
        print(f"{'PCA':<15}{c:>6}{'':>8}{frac:>9.3f}{mean:>10.3f}{'':>43}{species:>9.3f}")
    if args.probe_ceiling:
        probe_ceiling(data, L, names)
    naming_rows = {}
    for method, m in itertools.product(args.methods, args.sizes):
        if method == "nmf":
            m = min(m, 2 * X_fit.shape[1])  # NMF of the split embedding: at most 2d atoms
        runs, fits = [], []
        # the SAEs' settings; NMF reads none of them (and refuses them)
        sae = {
            "k": min(args.k, m),
            "learning_rate": args.learning_rate,
            "batch_size": args.batch_size,
            "init": args.init,
            "encoder": args.encoder,
        }
        if method == "nmf":
            sae = {}
        for seed in args.seeds:
            t0 = time.perf_counter()
            runs.append(
                discover(
                    X_fit,
                    m,
                    method,
                    epochs=args.epochs if method != "nmf" else 400,
                    backbone_id=data.backbone.id,
                    random_state=seed,
                    **sae,
                )
            )
            fits.append(time.perf_counter() - t0)
        r = runs[0]
        W, b = r.linear_encoder()
        f_codes, _, _, _ = recovery(r.encode(X), L)  # r.codes when fitted on X
        f_pre, mean_pre, atom_of, best = recovery(X @ W.T + b, L)
        species = recovery(X @ W.T + b, Y)[0]
        f_dec = np.mean([recovery(X @ run.dictionary.T, L)[0] for run in runs])
        pre_seeds = [recovery(X @ v.T + c, L)[0] for v, c in map(_enc, runs)]
        f_pre_seeds = np.mean(pre_seeds)
        pairs = list(itertools.combinations(runs, 2))
        stab = np.mean([dictionary_stability(a, b_) for a, b_ in pairs]) if pairs else np.nan
        bank = name_concepts(r, vocab, drop_dead=False)
        hits = [
            bank.provenance[atom_of[c]]["name"] == names[c] for c in np.flatnonzero(best >= 0.8)
        ]
        naming = float(np.mean(hits)) if hits else float("nan")
        naming_rows[(method, m)] = (len(hits), naming)
        print(
            f"{method:<15}{m:>6}{f_codes:>8.3f}{f_pre:>9.3f}{mean_pre:>10.3f}{r.n_dead:>6}"
            f"{r.n_duplicate:>5}{stab:>11.3f}{np.mean(fits):>8.1f}{naming:>8.3f}{species:>9.3f}"
            f"{f_dec:>9.3f}{f_pre_seeds:>14.3f}"
        )
        if len(runs) > 1:
            per_seed = " ".join(f"{f:.3f}" for f in pre_seeds)
            print(f"{'':<15}pre-act. per seed ({' '.join(map(str, args.seeds))}): {per_seed}")
    print(
        f"naming: share of recovered concepts (pre-activation AUROC >= 0.8) whose atom's top "
        f"name is the concept; chance {1 / len(vocab):.4f} (1/{len(vocab)}); species: "
        "fraction of the 24 species whose best atom (pre-activation) has AUROC >= 0.8; "
        "decoder: recovery with atoms scored by X @ atom (mean over seeds); pre, seeds: "
        "the pre-activation recovery averaged over the seeds"
    )

    if args.recovery_only:
        return
    print("\n3. DN-CBM beside the other CBMs (accuracy; chance 0.042)")
    banks = build_banks(data, kinds=("text",), seed=0)
    for res in fit_models(data, banks, ["PCBM"], {"PCBM": ("text",)}, 0):
        print(
            f"{res.name:<22}{res.bank:<6} test {res.accuracy['test']:.3f} "
            f"shifted {res.accuracy['shifted']:.3f}"
        )
    for m in args.sizes:
        t0 = time.perf_counter()
        model = DiscoveredCBM(
            vocab,
            n_concepts=m,
            k=min(args.k, m),
            epochs=args.epochs,
            learning_rate=args.learning_rate,
            encoder=args.encoder,
            random_state=0,
        ).fit(X, data.y["train"])
        acc = {
            s: float(np.mean(model.predict(data.X[s]) == data.y[s])) for s in ("test", "shifted")
        }
        print(
            f"{'DN-CBM (' + str(m) + ' atoms)':<22}{'disc':<6} test {acc['test']:.3f} "
            f"shifted {acc['shifted']:.3f}  ({len(model.concept_names_)} concepts, "
            f"{int(np.count_nonzero(model.coef_))} non-zero weights, "
            f"{time.perf_counter() - t0:.1f} s)"
        )

    print("\n4. SpLiCE on the vocabulary (test images; image mean from the training split)")
    Xt = data.X["test"]
    mean = X.mean(0)
    print(f"{'l1':>8}{'concepts/image':>16}{'cosine':>9}{'iters':>7}")
    for l1 in (0.06, 0.12, 0.2, 0.3, 0.5, 0.8):
        dec = decompose(Xt[:500], vocab, l1=l1, image_mean=mean, solver="admm")
        print(f"{l1:>8}{dec.l0.mean():>16.1f}{dec.cosine.mean():>9.3f}{dec.n_iter:>7}")
    dec = decompose(Xt[:3], vocab, l1=0.2, image_mean=mean, solver="admm")
    for i in range(3):
        true = [names[j] for j in np.flatnonzero(data.worlds["test"].concept_labels[i])]
        top = ", ".join(f"{n} {w:.2f}" for n, w in dec.top(i, 6))
        print(f"image {i} (cosine {dec.cosine[i]:.2f}): {top}\n   true: {', '.join(true)}")


def probe_ceiling(data, L: np.ndarray, names: list[str]) -> None:
    """A supervised logistic probe per concept: how well the embeddings carry each concept.

    Fitted on the training embeddings (``LogisticRegression(C=10)``), scored on the same
    images (as the recovery score is) and on the test split.
    """
    from sklearn.linear_model import LogisticRegression

    X, Xt = data.X["train"], data.X["test"]
    Lt = data.worlds["test"].concept_labels.astype(np.float64)
    train, test = np.zeros(len(names)), np.zeros(len(names))
    for c in range(len(names)):
        probe = LogisticRegression(C=10, max_iter=5000).fit(X, L[:, c])
        train[c] = auroc(probe.decision_function(X)[:, None], L[:, [c]])[0, 0]
        test[c] = auroc(probe.decision_function(Xt)[:, None], Lt[:, [c]])[0, 0]
    for split, a in (("train", train), ("test", test)):
        print(
            f"{'probe (' + split + ')':<29}{(a >= 0.8).mean():>9.3f}{a.mean():>10.3f}"
            f"   supervised ceiling: {int((a >= 0.8).sum())} concepts >= 0.8, "
            f"{int((a >= 0.93).sum())} >= 0.93"
        )
    weak = ", ".join(f"{names[c]} {train[c]:.3f}" for c in np.argsort(train) if train[c] < 0.93)
    print(f"{'':<15}below 0.93 (train): {weak}")


def _enc(run):
    return run.linear_encoder()


def plain_loop(X, m, k, epochs, batch_size, lr, seed):
    """The same TopK SAE, trained with nothing else (no AuxK, dead tracking, checkpoints)."""
    import torch

    torch.manual_seed(seed)
    n, d = X.shape
    Xt = torch.as_tensor(X)
    W_dec = torch.nn.functional.normalize(torch.randn(m, d), dim=1)
    P = [torch.nn.Parameter(t) for t in (W_dec.clone(), torch.zeros(m), W_dec, Xt.mean(0))]
    W_enc, b_enc, W_dec, pre = P
    opt = torch.optim.Adam(P, lr=lr)
    for _ in range(epochs):
        for idx in torch.randperm(n).split(batch_size):
            x = Xt[idx]
            z = torch.relu((x - pre) @ W_enc.T + b_enc)
            v, i = z.topk(k, dim=1)
            z = torch.zeros_like(z).scatter(1, i, v)
            loss = ((z @ W_dec + pre - x) ** 2).sum(1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()


def speed(args) -> None:
    from sklearn.linear_model import Lasso

    from bottlekit.concepts import ConceptBank
    from bottlekit.concepts.discovery import decompose, discover

    rng = np.random.default_rng(0)
    n, d = args.speed_n, 512
    X = rng.normal(size=(n, d)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    print(f"\n5. Speed ({args.threads} CPU threads)")
    for m in (64, 256) if "sae" in args.speed_parts else ():
        kw = dict(k=16, epochs=1, batch_size=1024, learning_rate=1e-3)
        ours, plain = [], []
        for _ in range(args.repeats):  # interleaved; the best of each (shared machine)
            t0 = time.perf_counter()
            discover(X, m, "topk_sae", random_state=0, **kw)
            ours.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            plain_loop(X, m, 16, 1, 1024, 1e-3, 0)
            plain.append(time.perf_counter() - t0)
        print(
            f"TopK SAE {n} x {d}, {m} atoms, 1 epoch, batch 1024: discover "
            f"{n / min(ours):,.0f} samples/s (incl. checks and the final encoding pass), plain "
            f"torch loop {n / min(plain):,.0f} samples/s, ratio {min(plain) / min(ours):.2f}"
        )
    if "splice" not in args.speed_parts:
        return
    # images made of 8 of the 1000 vocabulary concepts each, plus noise (SpLiCE's regime)
    V = rng.normal(size=(1000, d))
    V /= np.linalg.norm(V, axis=1, keepdims=True)
    vocab = ConceptBank([f"c{i}" for i in range(1000)], V, "toy")
    W = np.zeros((200, 1000))
    for row in W:
        row[rng.choice(1000, 8, replace=False)] = rng.uniform(0.5, 1.0, 8)
    Xs = (W @ (V - V.mean(0)) + 0.02 * rng.normal(size=(200, d))).astype(np.float32)
    X = Xs  # the image mean below is the mean of these images
    t0 = time.perf_counter()
    dec = decompose(Xs, vocab, l1=0.1, image_mean=X.mean(0), solver="admm")
    t_ours = time.perf_counter() - t0
    T = vocab.vectors / np.linalg.norm(vocab.vectors, axis=1, keepdims=True)
    C = T - T.mean(0)
    C /= np.linalg.norm(C, axis=1, keepdims=True)
    Y = Xs / np.linalg.norm(Xs, axis=1, keepdims=True) - X.mean(0)
    Y /= np.linalg.norm(Y, axis=1, keepdims=True)
    n_lasso = 50
    t0 = time.perf_counter()
    for i in range(n_lasso):
        Lasso(alpha=0.1 / (2 * d), positive=True, fit_intercept=False).fit(C.T, Y[i])
    t_lasso = time.perf_counter() - t0
    print(
        f"SpLiCE, 200 images, 1000-concept vocabulary, d={d}: decompose (ADMM, {dec.n_iter} "
        "iterations) "
        f"{len(Xs) / t_ours:,.0f} images/s ({dec.l0.mean():.1f} concepts/image); "
        f"scikit-learn Lasso(positive=True) {n_lasso / t_lasso:,.0f} images/s"
    )


if __name__ == "__main__":
    main()
