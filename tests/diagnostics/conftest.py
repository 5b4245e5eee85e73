"""Fixtures shared by the diagnostics tests."""

import pytest


@pytest.fixture(scope="session")
def fitted():
    """48 world images, world-tiny, their embeddings, a text bank and a PCBM fitted on
    them: (world, backbone, X, bank, model)."""
    import bottlekit
    from bottlekit.bottleneck import PosthocCBM
    from bottlekit.concepts import from_text
    from bottlekit.world import make_world

    world = make_world(48, "test", random_state=3)
    bk = bottlekit.load_backbone("world-tiny")
    X = bottlekit.embed(bk, world.images, progress=False)
    bank = from_text(bk, list(world.concept_names))
    model = PosthocCBM(bank, random_state=0).fit(X, world.labels)
    return world, bk, X, bank, model
