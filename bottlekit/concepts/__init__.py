"""Concept banks and the builders that make them.

``import bottlekit.concepts`` is light (numpy only): the optional dependencies (``openai``,
``bm25s``, ``sentence-transformers``) are imported only when the functions that need them
run.

Builders
--------
``from_text``
    concept names through a CLIP text encoder (prompt ensembling)
``from_examples``
    concept activation vectors from labelled examples (Post-hoc CBM)
``generate``
    LLM-generated concepts (LaBo / Label-free CBM prompting), module generation
``retrieve``
    knowledge-retrieved concepts grounded in a corpus (KnoBo-style), module retrieval
``filter_concepts``
    Label-free CBM filters, each reporting what it removed and why
``select``
    LaBo submodular selection (lazy greedy) and baselines, module selection
``RandomConcepts``
    random-concept baseline bank, sized to the data at fit time

Every builder takes the backbone first (None where it is optional). ``ConceptBank.project``
is the one concept-activation rule (module projection), for numpy arrays and torch
tensors; an unknown concept name raises :class:`UnknownConceptError`.

Discovery (module discovery: concepts found in the embeddings, named afterwards):

``discover``
    TopK / BatchTopK sparse autoencoders, NMF, giving a ConceptDictionary
``name_concepts``
    atoms named by their nearest vocabulary text, giving a ConceptBank ("discovered")
``decompose``
    SpLiCE sparse non-negative decomposition on a text vocabulary
``dictionary_stability``
    Hungarian-matched mean cosine of two dictionaries
"""

from __future__ import annotations

from bottlekit.concepts.bank import ConceptBank
from bottlekit.concepts.candidates import ConceptCandidates
from bottlekit.concepts.corpus import Document, Passage, chunk_documents, load_corpus
from bottlekit.concepts.dataset_examples import (
    PCBM_N_EXAMPLES,
    PCBM_N_EXAMPLES_CUB,
    ConceptExamples,
    draw_concept_examples,
    pcbm_n_examples,
)
from bottlekit.concepts.discovery import (
    ConceptDictionary,
    SparseDecomposition,
    decompose,
    dictionary_stability,
    discover,
    name_concepts,
)
from bottlekit.concepts.errors import UnknownConceptError
from bottlekit.concepts.filters import FilterReport, Removal, filter_concepts
from bottlekit.concepts.from_examples import (
    PCBM_C_GRID,
    ChanceLevelWarning,
    chance_level_concepts,
    from_examples,
)
from bottlekit.concepts.from_text import from_text
from bottlekit.concepts.generation import PROMPT_STYLES, generate
from bottlekit.concepts.llm import ChatClient, LLMError, LLMParseError, parse_concept_list
from bottlekit.concepts.random_concepts import RandomConcepts, random_bank
from bottlekit.concepts.retrieval import HybridRetriever, retrieve
from bottlekit.concepts.selection import (
    class_concept_association_scores,
    greedy_maximize,
    mutual_information_scores,
    select,
)

__all__ = [
    "PCBM_C_GRID",
    "PCBM_N_EXAMPLES",
    "PCBM_N_EXAMPLES_CUB",
    "PROMPT_STYLES",
    "ChanceLevelWarning",
    "ChatClient",
    "ConceptBank",
    "ConceptCandidates",
    "ConceptDictionary",
    "ConceptExamples",
    "Document",
    "FilterReport",
    "HybridRetriever",
    "LLMError",
    "LLMParseError",
    "Passage",
    "RandomConcepts",
    "Removal",
    "SparseDecomposition",
    "UnknownConceptError",
    "chance_level_concepts",
    "chunk_documents",
    "class_concept_association_scores",
    "decompose",
    "dictionary_stability",
    "discover",
    "draw_concept_examples",
    "filter_concepts",
    "from_examples",
    "from_text",
    "generate",
    "greedy_maximize",
    "load_corpus",
    "mutual_information_scores",
    "name_concepts",
    "parse_concept_list",
    "pcbm_n_examples",
    "random_bank",
    "retrieve",
    "select",
]
