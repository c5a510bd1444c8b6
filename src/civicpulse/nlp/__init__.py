"""Offline NLP layer of civicpulse (Thai, Vietnamese, English).

Everything here runs without network access: models are trained in this repository
(see :mod:`civicpulse.nlp.train`) and shipped as numpy ``.npz`` + JSON files.

Public API (lazy imports keep ``import civicpulse.nlp`` cheap)::

    from civicpulse.nlp import normalize, detect, words, index_tokens
    from civicpulse.nlp import get_classifier, EntityFinder, embed, enrich_texts
"""

from __future__ import annotations

import os

# Must be set before pythainlp is imported anywhere: never touch the network.
os.environ.setdefault("PYTHAINLP_OFFLINE", "1")

from typing import Any

from civicpulse.nlp.errors import ModelFileError, NLPError

__all__ = [
    "ModelFileError",
    "NLPError",
    "normalize",
    "detect",
    "detect_batch",
    "words",
    "index_tokens",
    "get_classifier",
    "EntityFinder",
    "find_entities",
    "embed",
    "keyphrases",
    "enrich_texts",
    "Enrichment",
]

_LAZY = {
    "normalize": ("civicpulse.nlp.normalize", "normalize"),
    "detect": ("civicpulse.nlp.langid", "detect"),
    "detect_batch": ("civicpulse.nlp.langid", "detect_batch"),
    "words": ("civicpulse.nlp.segment", "words"),
    "index_tokens": ("civicpulse.nlp.segment", "index_tokens"),
    "get_classifier": ("civicpulse.nlp.classify", "get_classifier"),
    "EntityFinder": ("civicpulse.nlp.entities", "EntityFinder"),
    "find_entities": ("civicpulse.nlp.entities", "find_entities"),
    "embed": ("civicpulse.nlp.embed", "embed"),
    "keyphrases": ("civicpulse.nlp.keyphrases", "keyphrases"),
    "enrich_texts": ("civicpulse.nlp.pipeline", "enrich_texts"),
    "Enrichment": ("civicpulse.nlp.pipeline", "Enrichment"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        mod, attr = _LAZY[name]
        return getattr(importlib.import_module(mod), attr)
    raise AttributeError(name)
