"""
Auditing a model for shortcuts
==============================

In the world's *train* split, each species mostly appears on one background; in the
*shifted* split backgrounds are random. A model trained on *train* may rely on the
background instead of the bird. :func:`bottlekit.diagnostics.audit` asks what a trained
model relies on, in terms of concepts (the concept metrics of Aysel, Cai &
Prügel-Bennett, 2025): fidelity of a concept surrogate, precision of the concepts that
explain each prediction, and the share of reliance on concepts that are not attributes
of the class ("spurious").
"""

import bottlekit
from bottlekit.bottleneck import PosthocCBM
from bottlekit.concepts import from_text
from bottlekit.diagnostics import audit
from bottlekit.visualize import plot_metric_summary

backbone = bottlekit.load_backbone("world-tiny")
train = bottlekit.make_world(480, "train", random_state=0, return_masks=False)
X_train = bottlekit.embed(backbone, train.images, progress=False)
bank = from_text(backbone, train.concept_names, ["a photo of a bird with {}."])
model = PosthocCBM(bank, lam=1e-4, random_state=0).fit(X_train, train.labels)

# %%
# Audit the model on background-shifted images (with part masks for the location metric).
shifted = bottlekit.make_world(160, "shifted", random_state=2)
result = audit(model, shifted, backbone=backbone, n_location_images=8, random_state=0)
print(result)
print("most spurious-looking concepts:", result.top_spurious(5))
print(f"spurious share of the model's reliance: {result.spurious_share:.2f}")

# %%
# The audit's headline figures: the model's accuracy on the shifted images, how often
# the concepts that explain a prediction are really in the image (against chance), and
# the share of the model's reliance on concepts that are not attributes of the class.
existence = result.existence
summary = {
    "CBM trained with the shortcut": {
        "accuracy": result.fidelity["model_accuracy"],
        f"existence@{existence['top_k']}": existence["precision"],
        f"chance@{existence['top_k']}": existence["chance"],
        "spurious share": result.spurious_share,
    }
}
fig = plot_metric_summary(summary, ylabel="fraction", title="audit on background-shifted images")
