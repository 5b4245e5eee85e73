"""BottleneckClassifier: images through a backbone into a concept bottleneck."""

from __future__ import annotations

import numpy as np
import pytest

from bottlekit import embed, load_backbone
from bottlekit.bottleneck import BottleneckClassifier, PosthocCBM
from bottlekit.concepts import ConceptBank, from_text
from bottlekit.world import make_world


@pytest.fixture(scope="module")
def world_setup():
    bk = load_backbone("world-tiny")
    train = make_world(480, "train", random_state=3, return_masks=False)
    test = make_world(240, "test", random_state=3, return_masks=False)
    return bk, train, test, from_text(bk, train.concept_names)


def test_same_as_the_model_on_precomputed_embeddings(world_setup):
    bk, train, test, bank = world_setup
    clf = BottleneckClassifier(PosthocCBM(bank, random_state=0), bk).fit(
        train.images, train.labels
    )
    direct = PosthocCBM(bank, random_state=0).fit(
        embed(bk, train.images, progress=False), train.labels
    )
    X_test = embed(bk, test.images, progress=False)
    np.testing.assert_array_equal(clf.predict(test.images), direct.predict(X_test))
    np.testing.assert_allclose(clf.transform(test.images[:5]), direct.transform(X_test[:5]))
    e = clf.explain(test.images[:4], top_k=3)
    np.testing.assert_allclose(e.logits, direct.explain(X_test[:4]).logits)
    # 24 species: chance is 1/24; the text-concept bottleneck on world-tiny is far above it
    assert clf.score(test.images, test.labels) > 0.3


def test_bank_from_another_backbone_is_rejected(world_setup):
    bk, train, _, bank = world_setup
    other = ConceptBank(bank.names, bank.vectors, "some-other-backbone/x/0")
    with pytest.raises(ValueError, match="built for backbone"):
        BottleneckClassifier(PosthocCBM(other), bk).fit(train.images, train.labels)
    with pytest.raises(TypeError, match="concept-bottleneck model"):
        BottleneckClassifier("PosthocCBM", bk).fit(train.images, train.labels)
    with pytest.raises(ValueError, match="labels for"):
        BottleneckClassifier(PosthocCBM(bank), bk).fit(train.images, train.labels[:-1])
