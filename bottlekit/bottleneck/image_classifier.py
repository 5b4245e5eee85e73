"""``BottleneckClassifier``: a concept-bottleneck model that takes images, through a backbone."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils.validation import check_is_fitted

from bottlekit.bottleneck._cbm_base import BaseConceptBottleneck
from bottlekit.bottleneck.explanation import ConceptExplanation

__all__ = ["BottleneckClassifier"]


class BottleneckClassifier(ClassifierMixin, BaseEstimator):
    """Images in, classes out: embed with a CLIP backbone (cached), then a concept bottleneck.

    Parameters
    ----------
    model : BaseConceptBottleneck
        An unfitted concept-bottleneck model (e.g. ``PosthocCBM(bank)``); it is cloned.
    backbone : str or Backbone, default "world-tiny"
        A :class:`bottlekit.Backbone` or a name for :func:`bottlekit.load_backbone`
        (loaded at ``fit``). The concept bank must have been built with it.
    cache : bool, default True
        Reuse and fill the on-disk embedding cache (:func:`bottlekit.embed`).
    cache_dir : str or PathLike, optional
        Cache root (default ``$BOTTLEKIT_CACHE`` or ``~/.cache/bottlekit``).
    batch_size : int, default 64
        Images per forward pass of the backbone.
    progress : bool, default False
        Progress bars while embedding.

    Attributes
    ----------
    model_ : BaseConceptBottleneck
        The fitted bottleneck (on embeddings; use it directly for precomputed ones).
    backbone_ : Backbone
    classes_ : ndarray

    Examples
    --------
    >>> from bottlekit.world import make_world
    >>> from bottlekit.concepts import from_text
    >>> from bottlekit.bottleneck import PosthocCBM
    >>> from bottlekit import load_backbone
    >>> bk = load_backbone("world-tiny")
    >>> w = make_world(240, "train", return_masks=False)
    >>> clf = BottleneckClassifier(PosthocCBM(from_text(bk, w.concept_names)), bk)
    >>> clf.fit(w.images, w.labels).predict(w.images[:3]).shape  # doctest: +SKIP
    (3,)
    """

    def __init__(
        self,
        model: BaseConceptBottleneck,
        backbone: Any = "world-tiny",
        *,
        cache: bool = True,
        cache_dir: str | os.PathLike | None = None,
        batch_size: int = 64,
        progress: bool = False,
    ) -> None:
        self.model = model
        self.backbone = backbone
        self.cache = cache
        self.cache_dir = cache_dir
        self.batch_size = batch_size
        self.progress = progress

    def _backbone(self):
        if isinstance(self.backbone, str):
            from bottlekit.backbones import load_backbone

            return load_backbone(self.backbone)
        if not hasattr(self.backbone, "encode_images"):
            raise TypeError(
                "backbone: expected a model name or a bottlekit Backbone, got "
                f"{type(self.backbone).__name__}"
            )
        return self.backbone

    def _embed_with(self, backbone: Any, images: Any) -> np.ndarray:
        from bottlekit.cache import embed

        return embed(
            backbone,
            images,
            cache=self.cache,
            cache_dir=self.cache_dir,
            batch_size=self.batch_size,
            progress=self.progress,
        )

    def embed(self, images: Any) -> np.ndarray:
        """Embeddings of ``images`` by the fitted backbone (through the cache).

        Parameters
        ----------
        images : images accepted by :func:`bottlekit.embed`
            uint8 arrays (n, H, W, 3), PIL images, file paths or a folder.

        Returns
        -------
        ndarray of shape (n, d)
            The backbone's image embeddings, what ``model_`` takes.
        """
        check_is_fitted(self, "model_")
        return self._embed_with(self.backbone_, images)

    def fit(self, images: Any, y: Any, **fit_params: Any) -> BottleneckClassifier:
        """Embed ``images`` and fit a clone of ``model`` on the embeddings.

        Parameters
        ----------
        images : images accepted by :func:`bottlekit.embed`
            uint8 arrays (n, H, W, 3), PIL images, file paths or a folder.
        y : array-like of shape (n,)
            Class labels of the images (at least two classes).
        **fit_params
            Passed to the model's ``fit``.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        if not isinstance(self.model, BaseConceptBottleneck):
            raise TypeError(
                f"model: expected a bottlekit concept-bottleneck model, got {type(self.model)}"
            )
        backbone = self._backbone()
        concepts = self.model.concepts
        if getattr(concepts, "backbone_id", "random") != "random":
            concepts.check_backbone(backbone)
        X = self._embed_with(backbone, images)
        y = np.asarray(y)
        if len(y) != len(X):
            raise ValueError(f"y has {len(y)} labels for {len(X)} images")
        self.model_ = clone(self.model).fit(X, y, **fit_params)
        self.backbone_ = backbone
        self.classes_ = self.model_.classes_
        return self

    def predict(self, images: Any) -> np.ndarray:
        """Predicted classes of ``images``.

        Parameters
        ----------
        images : images accepted by :func:`bottlekit.embed`
            uint8 arrays (n, H, W, 3), PIL images, file paths or a folder.

        Returns
        -------
        ndarray of shape (n,)
            Predicted labels, values of ``classes_``.
        """
        return self.model_.predict(self.embed(images))

    def predict_proba(self, images: Any) -> np.ndarray:
        """Class probabilities of ``images``.

        Parameters
        ----------
        images : images accepted by :func:`bottlekit.embed`
            uint8 arrays (n, H, W, 3), PIL images, file paths or a folder.

        Returns
        -------
        ndarray of shape (n, n_classes)
            Probabilities of the classes ``classes_``; each row sums to 1.
        """
        return self.model_.predict_proba(self.embed(images))

    def decision_function(self, images: Any) -> np.ndarray:
        """Logits of ``images`` (see the model's ``decision_function``).

        Parameters
        ----------
        images : images accepted by :func:`bottlekit.embed`
            uint8 arrays (n, H, W, 3), PIL images, file paths or a folder.

        Returns
        -------
        ndarray of shape (n,) or (n, n_classes)
            For two classes the logit of ``classes_[1]`` minus that of ``classes_[0]``;
            otherwise one logit per class.
        """
        return self.model_.decision_function(self.embed(images))

    def transform(self, images: Any) -> np.ndarray:
        """Concept activations of ``images``.

        Parameters
        ----------
        images : images accepted by :func:`bottlekit.embed`
            uint8 arrays (n, H, W, 3), PIL images, file paths or a folder.

        Returns
        -------
        ndarray of shape (n, k)
            Activations of the model's concepts ``model_.concept_names_``.
        """
        return self.model_.transform(self.embed(images))

    def explain(self, images: Any, top_k: int = 5, target: Any = None) -> ConceptExplanation:
        """Concept contributions for ``images`` (see ``BaseConceptBottleneck.explain``).

        Parameters
        ----------
        images : images accepted by :func:`bottlekit.embed`
            uint8 arrays (n, H, W, 3), PIL images, file paths or a folder.
        top_k : int, default 5
            Concepts listed per image in ``top_indices`` (capped at the number of concepts).
        target : label or array of labels, optional
            Class explained for each image; default the predicted class.

        Returns
        -------
        ConceptExplanation
            ``contributions.sum(1) + intercept + residual == logits``.
        """
        return self.model_.explain(self.embed(images), top_k=top_k, target=target)
