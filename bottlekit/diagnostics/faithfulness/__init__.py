"""Information-theoretic and behavioural faithfulness metrics of concept bottlenecks.

Each metric takes a fitted bottlekit CBM (or the concept surrogate an audit builds), the
embeddings of a dataset's images and the :class:`~bottlekit.datasets.ConceptDataset`:

concept_leakage        I(Ĉ; Y | C): label information beyond the true concepts
concept_information    per concept, I(activation; concept label) and I(activation; Y)
concept_completeness   Yeh et al. (2020) completeness, against random directions
prune_to_nec           a head with a controlled number of effective concepts (VLG-CBM)
accuracy_at_nec        accuracy of such heads, for a sweep of NEC values
intervention_curves    accuracy vs intervened concepts: random, uncertainty, CooP
"""

from bottlekit.diagnostics.faithfulness.completeness import (
    CompletenessResult,
    concept_completeness,
)
from bottlekit.diagnostics.faithfulness.concept_information import (
    ConceptInformation,
    concept_information,
)
from bottlekit.diagnostics.faithfulness.interventions import (
    POLICIES,
    InterventionCurves,
    intervention_curves,
)
from bottlekit.diagnostics.faithfulness.leakage import LeakageResult, concept_leakage
from bottlekit.diagnostics.faithfulness.nec import NECResult, accuracy_at_nec, prune_to_nec

__all__ = [
    "POLICIES",
    "CompletenessResult",
    "ConceptInformation",
    "InterventionCurves",
    "LeakageResult",
    "NECResult",
    "accuracy_at_nec",
    "concept_completeness",
    "concept_information",
    "concept_leakage",
    "intervention_curves",
    "prune_to_nec",
]
