"""Concept discovery: dictionaries learned from embeddings, named afterwards.

discover              TopK / BatchTopK sparse autoencoders and NMF on embeddings
ConceptDictionary     what discover learns: atoms, encoder, codes, dead/duplicate counts
dictionary_stability  Hungarian-matched mean cosine of two dictionaries
name_concepts         atoms named by their nearest vocabulary text (Discover-then-Name)
decompose             SpLiCE sparse non-negative decomposition on a text vocabulary

``import bottlekit.concepts.discovery`` is light (numpy); torch, scipy and scikit-learn
are imported by the functions that need them.
"""

from __future__ import annotations

from bottlekit.concepts.discovery._sae import ENCODERS
from bottlekit.concepts.discovery.discover import discover
from bottlekit.concepts.discovery.naming import name_concepts, name_scores
from bottlekit.concepts.discovery.result import METHODS, ConceptDictionary, duplicate_atoms
from bottlekit.concepts.discovery.splice import SparseDecomposition, decompose
from bottlekit.concepts.discovery.stability import dictionary_stability

__all__ = [
    "ENCODERS",
    "METHODS",
    "ConceptDictionary",
    "SparseDecomposition",
    "decompose",
    "dictionary_stability",
    "discover",
    "duplicate_atoms",
    "name_concepts",
    "name_scores",
]
