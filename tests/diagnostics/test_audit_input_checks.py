"""audit() refuses data and models that do not fit each other, naming the mismatch.

Before (issue 23): labels outside a CBM's classes gave fidelity 1.000 and accuracy 0.000
silently; a classifier with too few outputs was audited (fidelity 0.97), one with too many
failed with an IndexError; images of the wrong size gave torch's raw RuntimeError.
"""

import numpy as np
import pytest
import torch

import bottlekit
from bottlekit.bottleneck import PosthocCBM
from bottlekit.concepts import from_text
from bottlekit.diagnostics import audit
from bottlekit.world import make_world


@pytest.fixture(scope="module")
def world():
    return make_world(96, "test", random_state=0)


class _Net(torch.nn.Module):
    def __init__(self, n_outputs: int, size: int = 64):
        super().__init__()
        self.features = torch.nn.Sequential(
            torch.nn.Flatten(), torch.nn.Linear(3 * size * size, 8), torch.nn.ReLU()
        )
        self.head = torch.nn.Linear(8, n_outputs)

    def forward(self, x):
        return self.head(self.features(x))


def test_labels_outside_the_cbm_classes(world):
    bk = bottlekit.load_backbone("world-tiny")
    X = bottlekit.embed(bk, world.images, progress=False)
    model = PosthocCBM(from_text(bk, list(world.concept_names)), random_state=0).fit(
        X, world.labels
    )
    data = {"images": world.images, "labels": world.labels + 100}
    with pytest.raises(ValueError, match=r"data.labels: 24 label\(s\) \[100, 101.*not classes"):
        audit(model, data, backbone=bk)


@pytest.mark.parametrize("n_outputs", [5, 30])
def test_classifier_outputs_must_match_the_classes(world, n_outputs):
    with pytest.raises(
        ValueError, match=rf"model: it has {n_outputs} outputs but the data has 24"
    ):
        audit(_Net(n_outputs), world)


def test_images_of_the_wrong_size_for_the_classifier(world):
    small = {"images": np.ascontiguousarray(world.images[:, ::2, ::2]), "labels": world.labels}
    with pytest.raises(ValueError, match=r"model: failed on a batch .* images of size 32x32"):
        audit(_Net(24), small)


def test_a_feature_layer_in_logit_space_is_refused_not_ignored(world):
    """space='logits' reads the logits; a feature_layer given with it was ignored."""
    from bottlekit.diagnostics import model_features

    net = _Net(24)
    images = world.images[:4]
    feats, logits = model_features(net, images, space="logits")
    np.testing.assert_array_equal(feats, logits)
    for layer in ("features", lambda x: net.features(x)):
        with pytest.raises(ValueError, match=r"feature_layer: space='logits' reads the logits"):
            model_features(net, images, feature_layer=layer, space="logits")
    with pytest.raises(ValueError, match=r"feature_layer: space='logits' reads the logits"):
        audit(net, world, ["red body"], feature_layer="features", space="logits")


def test_a_backbone_given_with_a_torch_classifier_is_refused_not_ignored(world):
    """A torch classifier is audited on its own features and saliency maps; a backbone
    given with it was ignored (and map_method with it), silently."""
    bk = bottlekit.load_backbone("world-tiny")
    with pytest.raises(ValueError, match=r"backbone: only used for a concept-bottleneck model"):
        audit(_Net(24), world, ["red body"], backbone=bk)
