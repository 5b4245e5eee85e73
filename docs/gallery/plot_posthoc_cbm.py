"""
A post-hoc concept-bottleneck model, explained
==============================================

Fit a Post-hoc CBM (Yuksekgonul et al., 2023) on the built-in world: embed the images
with the shipped ``world-tiny`` CLIP, project the embeddings onto text concepts (the
world's 31 part attributes), fit a sparse linear head on the concept activations, then
read which concepts decide a prediction.
"""

# %%
# The world and its backbone
# --------------------------
# :func:`~bottlekit.world.make_world` draws labelled images of 24 bird species; every
# species is defined by visible part attributes, so every image has exact concept labels.
import numpy as np

import bottlekit
from bottlekit.bottleneck import PosthocCBM
from bottlekit.concepts import from_text
from bottlekit.visualize import plot_contributions

backbone = bottlekit.load_backbone("world-tiny")
train = bottlekit.make_world(480, "train", random_state=0, return_masks=False)
test = bottlekit.make_world(240, "test", random_state=1, return_masks=False)
X_train = bottlekit.embed(backbone, train.images, progress=False)
X_test = bottlekit.embed(backbone, test.images, progress=False)
print(train)
print("embeddings:", X_train.shape)

# %%
# A concept bank from text, and the model
# ---------------------------------------
# :func:`~bottlekit.concepts.from_text` embeds each concept name through the CLIP text
# encoder (the mean over prompt templates). :class:`~bottlekit.bottleneck.PosthocCBM`
# projects embeddings onto the bank and fits an elastic-net head on the activations.
templates = ["a photo of a bird with {}.", "a bird with {}."]
bank = from_text(backbone, train.concept_names, templates)
model = PosthocCBM(bank, lam=1e-4, random_state=0).fit(X_train, train.labels)
print(
    f"{len(bank)} concepts; test accuracy {model.score(X_test, test.labels):.3f} "
    f"(chance {1 / len(train.class_names):.3f})"
)
print(f"non-zero head weights: {np.mean(model.coef_ != 0):.0%}")

# %%
# Why this prediction?
# --------------------
# ``explain`` gives each concept's contribution (activation × weight) to the predicted
# class; the bars show the largest ones for the first test image.
explanation = model.explain(X_test[:1], top_k=5)
species = test.class_names
predicted = model.predict(X_test[:1])[0]
print(f"true species: {species[test.labels[0]]}, predicted: {species[predicted]}")
for name, value in explanation.top(0):
    print(f"  {name:20s} {value:+.3f}")
fig = plot_contributions(explanation, index=0, top_k=8, class_names=species)
