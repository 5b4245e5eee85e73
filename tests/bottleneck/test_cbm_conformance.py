"""scikit-learn's estimator checks for the five concept-bottleneck models.

Each model is built on ``RandomConcepts``, which sizes a random bank to whatever width of
data a check feeds, with a small training budget so the checks run in seconds. No check is
skipped or expected to fail; scikit-learn itself skips ``check_array_api_input`` unless
``SCIPY_ARRAY_API`` is set.

Budgets: PosthocCBM needs 16 random concepts (with 8, SGD on cosine features of the
two-class blobs reaches 0.79 < the 0.83 that ``check_classifiers_train`` asks);
the torch-trained models run a few epochs with a larger learning rate.
"""

from __future__ import annotations

from sklearn.utils.estimator_checks import parametrize_with_checks

from bottlekit.bottleneck import DiscoveredCBM, KnowledgeCBM, LabelFreeCBM, LaBo, PosthocCBM
from bottlekit.concepts import RandomConcepts

# LF-CBM's interpretability cut-off would drop random concepts, whose activations on the
# checks' unnormalised data are not linear in X; ``None`` turns it off.
LF_BUDGET = {
    "projection_steps": 50,
    "interpretability_cutoff": None,
    "n_lambdas": 5,
    "max_epochs": 30,
}

ESTIMATORS = [
    PosthocCBM(RandomConcepts(16, random_state=0), random_state=0),
    PosthocCBM(
        RandomConcepts(16, random_state=0), residual=True, residual_epochs=2, random_state=0
    ),
    LaBo(
        RandomConcepts(8, random_state=0),
        max_epochs=5,
        batch_size=256,
        learning_rate=0.01,
        random_state=0,
    ),
    KnowledgeCBM(
        RandomConcepts(8, random_state=0), max_epochs=5, learning_rate=0.3, random_state=0
    ),
    LabelFreeCBM(RandomConcepts(8, random_state=0), **LF_BUDGET, random_state=0),
    DiscoveredCBM(
        RandomConcepts(8, random_state=0), n_concepts=8, epochs=5, lam=1e-4, random_state=0
    ),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_conformance(estimator, check):
    check(estimator)
