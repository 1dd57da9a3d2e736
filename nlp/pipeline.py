"""Assemble the detector on ``spacy.blank("en")`` (see nlp/config.cfg for the layout)."""

from __future__ import annotations

from pathlib import Path

import spacy
from spacy.language import Language

from nlp import attribution as _attribution  # noqa: F401  (registers the factory)
from nlp import evidence as _evidence  # noqa: F401  (registers the factories)
from nlp.evidence import CANDIDATES_KEY, GROUP_LABEL, AliasFilter
from nlp.kb import KnowledgeBase
from nlp.names import name_variants

GAZETTEER = "aptwatch_gazetteer"


def gazetteer_patterns(kb: KnowledgeBase) -> list[dict[str, str]]:
    """One phrase pattern per (surface variant, group): ambiguous names get one per candidate."""
    seen: set[tuple[str, str]] = set()
    patterns = []
    for group in sorted(kb, key=lambda g: g.id):
        for name in group.names:
            for variant in name_variants(name):
                key = (variant.casefold(), group.id)
                if key in seen:
                    continue
                seen.add(key)
                patterns.append({"label": GROUP_LABEL, "pattern": variant, "id": group.id})
    return patterns


def build_pipeline(kb_path: str | Path | None = None) -> Language:
    """Paragraphs, sentencizer, span_ruler gazetteer, alias filter, attribution on blank "en"."""
    kb = KnowledgeBase.load(kb_path)
    nlp = spacy.blank("en")
    nlp.add_pipe("aptwatch_paragraphs")
    nlp.add_pipe("sentencizer")
    ruler = nlp.add_pipe(
        "span_ruler",
        name=GAZETTEER,
        config={
            "spans_key": CANDIDATES_KEY,
            "phrase_matcher_attr": "LOWER",
            "validate": False,
            "overwrite": True,
        },
    )
    with nlp.select_pipes(enable=[]):
        # Patterns only need tokenising; keeping the other pipes out makes building fast.
        ruler.add_patterns(gazetteer_patterns(kb))  # type: ignore[attr-defined]
    alias_filter: AliasFilter = nlp.add_pipe(
        "aptwatch_alias_filter",
        config={"kb_path": str(kb_path) if kb_path is not None else None},
    )  # type: ignore[assignment]
    alias_filter.set_kb(kb)
    nlp.add_pipe("aptwatch_attribution")
    return nlp
