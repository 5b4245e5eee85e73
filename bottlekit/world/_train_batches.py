"""The image-caption pairs a training run learns from: the world's images, captions drawn
anew every epoch, and the batches of an epoch (with one-attribute hard negatives where
asked)."""

from __future__ import annotations

import numpy as np
import torch

from bottlekit.world._clip import images_to_tensor


class _TrainingPairs:
    """The training world's images with their captions, batch by batch.

    Parameters
    ----------
    world : World
        The training images (``images``, ``labels``, ``concept_labels``).
    tokenizer : callable
        The model's tokenizer.
    batch_size : int
    captions : {"sampled", "full"}
        The caption recipe (see :func:`~bottlekit.world.train.train`).
    n_pairs : int
        One-attribute neighbour pairs per batch (0: plain shuffled batches).
    context_length : int
        The text tower's context, start and end tokens included.
    device, model_name : str
        Where the batches go, and the model whose preprocessing they take.
    """

    def __init__(
        self,
        world,
        tokenizer,
        *,
        batch_size,
        captions,
        n_pairs,
        context_length,
        device,
        model_name,
    ) -> None:
        self.world, self.tokenizer = world, tokenizer
        self.batch_size, self.n_pairs = batch_size, n_pairs
        self.device, self.model_name = device, model_name
        self.neighbours = None
        if n_pairs > 0:
            from bottlekit.world.hard_negatives import OneAttributeNeighbours

            self.neighbours = OneAttributeNeighbours(world.concept_labels)
        if captions == "full":
            from bottlekit.world.captions import make_full_captions

            budget = int(context_length) - 2  # start and end tokens
            self._make_captions = make_full_captions
            self._caption_args = {
                "count_tokens": lambda s: len(tokenizer.encode(s)),
                "max_tokens": budget,
            }
        else:
            from bottlekit.world.captions import make_captions

            self._make_captions, self._caption_args = make_captions, {}

    def draw_epoch(self, rng: np.random.Generator) -> _Epoch:
        """An epoch's order, captions (and neighbour partners), drawn from ``rng`` now."""
        from bottlekit.world.species import CLASS_NAMES

        world = self.world
        # the order and captions of an epoch come from the generator's state at its start
        rng_state = rng.bit_generator.state
        order = rng.permutation(len(world.labels))
        texts = self._make_captions(
            world.labels, world.concept_labels, CLASS_NAMES, rng, **self._caption_args
        )
        tokens = self.tokenizer(texts)
        partners = None if self.neighbours is None else self.neighbours.draw(order, rng)
        return _Epoch(self, rng_state, order, tokens, partners)


class _Epoch:
    """One epoch's batches: ``len(epoch)`` full batches, the last partial one dropped."""

    def __init__(self, pairs: _TrainingPairs, rng_state: dict, order, tokens, partners) -> None:
        self.pairs, self.rng_state = pairs, rng_state
        self.order, self.tokens, self.partners = order, tokens, partners

    def __len__(self) -> int:
        return len(self.order) // self.pairs.batch_size

    def batch(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The model's input of batch ``i``: the images (n, 3, H, W) and their tokens."""
        p = self.pairs
        b = i * p.batch_size
        if p.neighbours is None:
            idx = np.sort(self.order[b : b + p.batch_size])
        else:
            from bottlekit.world.hard_negatives import compose_batch

            idx = compose_batch(
                self.order[b : b + p.batch_size], self.partners[b : b + p.batch_size], p.n_pairs
            )
        x = images_to_tensor(p.world.images[idx], p.device, p.model_name)
        t = self.tokens[torch.from_numpy(idx)].to(p.device)
        return x, t
