"""Training loop shared by the information-bottleneck estimators (CS-IB, VIB, baselines).

Subclasses say what the loss is (:meth:`BaseIBEstimator._loss`) and how targets are
encoded; this module does input validation, standardisation, the validation split,
mini-batch training with Adam and a step learning-rate decay, early stopping on the
validation error with the best weights restored, reproducible seeding and the
``history_`` of training curves.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from bottlekit._arrays import as_real_array, encode_class_labels, refuse_text
from bottlekit._checks import check_bool, check_layer_sizes, check_number
from bottlekit.bottleneck._ib_network import IBNetwork
from bottlekit.devices import resolve_device
from bottlekit.estimators._scaling import safe_mean_and_std

__all__ = ["BaseIBEstimator"]


def _real_input(X: Any) -> Any:
    """Refuse text (scikit-learn's ``validate_data`` parses ``"1.5"`` as 1.5) and tensors
    without values; tensors become arrays, everything else goes on unchanged (data frames
    keep their feature names, complex data gets scikit-learn's error).
    """
    if hasattr(X, "detach"):  # torch tensor
        return as_real_array(X, "X", wording="must")
    return refuse_text(X, "X", wording="must")


def _check_random_state(random_state: Any) -> np.random.RandomState:
    """scikit-learn's ``check_random_state`` with an error that names the parameter."""
    if isinstance(random_state, bool):  # an int to numpy: True would seed 1
        raise ValueError(
            f"random_state: expected None, an int or a RandomState, got {random_state!r}"
        )
    try:
        return check_random_state(random_state)
    except (TypeError, ValueError):
        raise ValueError(
            "random_state: expected None, an int in [0, 2**32 - 1] or a RandomState, "
            f"got {random_state!r}"
        ) from None


class BaseIBEstimator(TransformerMixin, BaseEstimator):
    """Common fit/predict machinery; see the concrete estimators for the parameters."""

    _task = "regression"  # or "classification"
    # torch's fused Adam (one kernel per parameter instead of a dozen small ops): equal to
    # the default implementation up to float rounding, and faster on small networks. On for
    # CS-IB, whose figures were measured with it; the other models keep the default so that
    # their measured figures stay those of the README.
    _fused_adam = False

    # ----------------------------------------------------------------- hooks
    def _loss(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        out: torch.Tensor,
        t: torch.Tensor,
        mean: torch.Tensor,
        logvar: torch.Tensor,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        raise NotImplementedError

    def _fit_term(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """How far the network's outputs are from the targets (0-dim tensor).

        Cross-entropy of the logits for a classifier, mean squared error on the
        standardised target for a regressor: the fit term of the VIB and baseline losses,
        and every model's validation error.
        """
        if self._task == "regression":
            return torch.mean((out.squeeze(-1) - y) ** 2)
        return torch.nn.functional.cross_entropy(out, y)

    # ----------------------------------------------------------------- checks
    def _check_params(self) -> None:
        check_number(self.learning_rate, "learning_rate", low=0, low_open=True)
        # a "decay" factor above 1 would grow the learning rate without bound
        check_number(self.lr_decay_gamma, "lr_decay_gamma", low=0, low_open=True, high=1)
        for name in ("batch_size", "max_epochs", "patience", "bottleneck_dim", "lr_decay_step"):
            check_number(getattr(self, name), name, integer=True, low=0, low_open=True)
        if self.batch_size == 1:
            # training skips batches of one row (the kernel estimators need pairs): with
            # batch_size=1 every batch was skipped and the network stayed as initialised
            raise ValueError(
                "batch_size: expected an int >= 2 (batches of one row are skipped), got 1"
            )
        if hasattr(self, "beta"):
            check_number(self.beta, "beta", low=0)
        check_number(
            self.validation_fraction,
            "validation_fraction",
            low=0,
            high=1,
            high_open=True,
            expected="a value in [0, 1)",
        )
        check_layer_sizes(self.hidden_sizes, "hidden_sizes")
        for name in ("stochastic_encoder", "verbose"):
            check_bool(getattr(self, name), name)

    # ----------------------------------------------------------------- fitting
    def _encode_targets(self, y: np.ndarray) -> tuple[np.ndarray, int]:
        if self._task == "classification":
            self.classes_, encoded = encode_class_labels(y)
            if len(self.classes_) < 2:
                raise ValueError(
                    f"y has a single class ({self.classes_[0].item()!r}); a classifier needs at "
                    "least 2 classes"
                )
            return encoded.astype(np.int64), len(self.classes_)
        y = as_real_array(y, "y", wording="must")
        self.y_mean_, scale = (float(v[0]) for v in safe_mean_and_std(y[:, None]))
        self.y_scale_ = scale if scale > 0 else 1.0
        return ((y - self.y_mean_) / self.y_scale_).astype(np.float32), 1

    def fit(self, X: Any, y: Any) -> BaseIBEstimator:
        """Train the network.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs; standardised internally with the training mean and std.
        y : array-like of shape (n_samples,)
            Targets (real values for regressors, labels for classifiers).

        Returns
        -------
        self
        """
        self._check_params()
        rs = _check_random_state(self.random_state)
        X, y = validate_data(
            self,
            _real_input(X),
            y,
            dtype=np.float64,
            y_numeric=self._task == "regression",
            ensure_min_samples=2,
        )
        targets, n_outputs = self._encode_targets(y)
        self.device_ = resolve_device(self.device)
        seed = int(rs.randint(2**31 - 1))

        # power-of-two rescaled: finite for inputs near float's limits (1e300 overflowed)
        self.x_mean_, scale = safe_mean_and_std(X)
        self.x_scale_ = np.where(scale > 0, scale, 1.0)
        Xs = ((X - self.x_mean_) / self.x_scale_).astype(np.float32)

        n = len(Xs)
        n_val = round(self.validation_fraction * n)
        order = rs.permutation(n)
        if n_val >= 2 and n - n_val >= 2:
            val_idx, tr_idx = order[:n_val], order[n_val:]
        else:  # too few samples to hold some out: select on the training error
            val_idx, tr_idx = order, order

        dev = self.device_
        as_t = lambda a: torch.as_tensor(a, device=dev)  # noqa: E731
        x_tr, y_tr = as_t(Xs[tr_idx]), as_t(targets[tr_idx])
        x_va, y_va = as_t(Xs[val_idx]), as_t(targets[val_idx])

        with torch.random.fork_rng(devices=[]):  # CPU only: torch.manual_seed reseeds CUDA
            torch.random.default_generator.manual_seed(seed)
            net = IBNetwork(
                X.shape[1],
                tuple(self.hidden_sizes),
                self.bottleneck_dim,
                n_outputs,
                stochastic=self.stochastic_encoder,
            ).to(dev)
        gen = torch.Generator(device=dev)
        gen.manual_seed(seed)
        opt = torch.optim.Adam(
            net.parameters(), lr=self.learning_rate, fused=True if self._fused_adam else None
        )
        sched = torch.optim.lr_scheduler.StepLR(opt, self.lr_decay_step, self.lr_decay_gamma)
        n_tr = len(x_tr)
        batch = min(int(self.batch_size), n_tr)

        history: dict[str, list[float]] = defaultdict(list)
        best = (np.inf, None, 0)
        stale = 0
        epoch = 0
        for epoch in range(1, int(self.max_epochs) + 1):
            net.train()
            perm = torch.randperm(n_tr, generator=gen, device=dev)
            # running sums stay tensors (no host round trip per step); floats once an epoch
            sums: dict[str, Any] = defaultdict(float)
            n_batches = 0
            for start in range(0, n_tr, batch):
                idx = perm[start : start + batch]
                if idx.shape[0] < 2 and n_tr >= 2:
                    continue  # kernel estimators need pairs; drop a lone last sample
                xb, yb = x_tr[idx], y_tr[idx]
                out, t, mean, logvar = net(xb, gen, sample=True)
                loss, parts = self._loss(xb, yb, out, t, mean, logvar)
                opt.zero_grad()
                loss.backward()
                opt.step()
                sums["loss"] += loss.detach()
                for k, v in parts.items():
                    sums[k] += v
                n_batches += 1
            sched.step()
            for k, v in sums.items():
                history[f"train_{k}"].append(float(v) / max(n_batches, 1))
            net.eval()
            with torch.no_grad():
                out_va = net(x_va)[0]
                err = float(self._fit_term(out_va, y_va))
            history["val_error"].append(err)
            if not np.isfinite(err):
                raise FloatingPointError(
                    f"training diverged at epoch {epoch} (validation error {err}); "
                    "lower learning_rate or beta"
                )
            if err < best[0] - 1e-12:
                best = (err, copy.deepcopy(net.state_dict()), epoch)
                stale = 0
            else:
                stale += 1
                if stale >= self.patience:
                    break
            if self.verbose:
                print(f"epoch {epoch}: train loss {history['train_loss'][-1]:.4f}, val {err:.4f}")
        if best[1] is not None:
            net.load_state_dict(best[1])
        net.eval()
        self.network_ = net
        self.history_ = dict(history)
        self.best_epoch_ = best[2]
        self.n_iter_ = epoch
        return self

    # ----------------------------------------------------------------- inference
    def _forward(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        check_is_fitted(self, "network_")
        X = validate_data(self, _real_input(X), dtype=np.float64, reset=False)
        Xs = torch.as_tensor(((X - self.x_mean_) / self.x_scale_).astype(np.float32))
        with torch.no_grad():
            out, t, _, _ = self.network_(Xs.to(self.device_))
        return out.cpu().numpy(), t.cpu().numpy()

    def transform(self, X: Any) -> np.ndarray:
        """The bottleneck representation :math:`t = \\mu(x)` (encoder mean).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, bottleneck_dim)
        """
        return self._forward(X)[1]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = self.random_state is None
        if tags.transformer_tags is not None:
            tags.transformer_tags.preserves_dtype = ["float32"]  # the network runs in float32
        return tags


class IBRegressorMixin:
    """``predict`` for regressors: undo the target standardisation."""

    def predict(self, X: Any) -> np.ndarray:
        """Predicted targets.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        out, _ = self._forward(X)  # type: ignore[attr-defined]
        # float64 before unscaling: a float32 output times a large y_scale_ overflows
        return out[:, 0].astype(np.float64) * self.y_scale_ + self.y_mean_  # type: ignore[attr-defined]


class IBClassifierMixin:
    """``predict``, ``predict_proba`` and ``decision_function`` for classifiers."""

    def _logits(self, X: Any) -> np.ndarray:
        return self._forward(X)[0]  # type: ignore[attr-defined]

    def decision_function(self, X: Any) -> np.ndarray:
        """Logits, shape (n_samples, n_classes); for two classes the logit difference (n,)."""
        logits = self._logits(X)
        return logits[:, 1] - logits[:, 0] if logits.shape[1] == 2 else logits

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities (softmax of the logits), shape (n_samples, n_classes)."""
        logits = self._logits(X)
        logits = logits - logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

    def predict(self, X: Any) -> np.ndarray:
        """Most probable class labels, shape (n_samples,)."""
        logits = self._logits(X)  # checks that the model is fitted
        return self.classes_[logits.argmax(axis=1)]  # type: ignore[attr-defined]
