"""Assemble the detector on ``spacy.blank("en")`` (see nlp/config.cfg for the layout)."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from pathlib import Path

import spacy
from spacy.attrs import LOWER, ORTH
from spacy.language import Language
from spacy.language import create_tokenizer as create_default_tokenizer
from spacy.tokenizer import Tokenizer
from spacy.util import compile_suffix_regex

from nlp import attribution as _attribution  # noqa: F401  (registers the factory)
from nlp import evidence as _evidence  # noqa: F401  (registers the factories)
from nlp.attribution import ANAPHORA_LOOKBACK
from nlp.evidence import CANDIDATES_KEY, GROUP_LABEL, AliasFilter
from nlp.kb import KnowledgeBase
from nlp.names import name_variants
from nlp.prefilter import CandidateFinder

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


# spaCy's English rules keep a period after a capital letter with the word, for initials and
# abbreviations ("John F. Kennedy", "U.S."): "... used PlugX. The group ..." and "..., said the
# FBI. The group ..." then end no sentence, and two claims merge into one. A period after a
# word of three or more letters or digits ending in a capital is the sentence's.
FINAL_PERIOD_SUFFIX = r"(?<=[A-Za-z0-9]{2}[A-Z])\."


TOKENIZER = "aptwatch.english_tokenizer.v1"
PATTERNS = "aptwatch.gazetteer_patterns.v1"


@spacy.registry.tokenizers(TOKENIZER)
def english_tokenizer() -> Callable[[Language], Tokenizer]:
    """spaCy's tokenizer with the language's rules, plus FINAL_PERIOD_SUFFIX."""

    def create_tokenizer(nlp: Language) -> Tokenizer:
        tokenizer = create_default_tokenizer()(nlp)
        suffixes = [*nlp.Defaults.suffixes, FINAL_PERIOD_SUFFIX]  # type: ignore[misc]
        tokenizer.suffix_search = compile_suffix_regex(suffixes).search
        return tokenizer

    return create_tokenizer


@spacy.registry.misc(PATTERNS)
def load_gazetteer_patterns(kb_path: str | None = None) -> list[dict[str, str]]:
    """The gazetteer's patterns for ``[initialize]``: nlp/config.cfg builds a working pipeline."""
    return gazetteer_patterns(KnowledgeBase.load(kb_path))


GAZETTEER_CONFIG = {
    "spans_key": CANDIDATES_KEY,
    "phrase_matcher_attr": "LOWER",
    "validate": False,
    "overwrite": True,
    # scored on the key it writes, not span_ruler's default "ruler"
    "scorer": {
        "@scorers": "spacy.overlapping_labeled_spans_scorer.v1",
        "spans_key": CANDIDATES_KEY,
    },
}


def build_pipeline(kb_path: str | Path | None = None) -> Language:
    """Paragraphs, sentencizer, span_ruler gazetteer, alias filter, attribution on blank "en"."""
    kb = KnowledgeBase.load(kb_path)
    nlp = spacy.blank("en", config={"nlp": {"tokenizer": {"@tokenizers": TOKENIZER}}})
    nlp.meta["name"] = "aptwatch_detector"
    nlp.meta["requirements"] = ["aptwatch"]  # its components and tokenizer live in the package
    nlp.add_pipe("aptwatch_paragraphs")
    nlp.add_pipe("sentencizer")
    ruler = nlp.add_pipe("span_ruler", name=GAZETTEER, config=GAZETTEER_CONFIG)
    with nlp.select_pipes(enable=[]):
        # Patterns only need tokenising; keeping the other pipes out makes building fast.
        ruler.add_patterns(gazetteer_patterns(kb))  # type: ignore[attr-defined]
    alias_filter: AliasFilter = nlp.add_pipe(
        "aptwatch_alias_filter",
        config={"kb_path": str(kb_path) if kb_path is not None else None},
    )  # type: ignore[assignment]
    alias_filter.set_kb(kb)
    nlp.add_pipe("aptwatch_attribution")
    candidate_finder(nlp)  # built here so the first analyze() call does not pay for it
    return nlp


# -- the fast path analyze() takes: spaCy on the paragraphs around candidate names only --------

# Paragraphs of context kept around each paragraph with a candidate name. The components look
# beyond a mention's sentence: the attribution component resolves "the group" up to
# ANAPHORA_LOOKBACK sentences after a named one and looks for the speaker of a claim a few
# sentences before it and in the sentence after; the alias filter reads a few tokens past a name.
# A paragraph holds at least one sentence, so N paragraphs reach at least N sentences away.
# A component that looks farther must raise these (tests/test_nlp_pipeline.py compares the fast
# path with whole-text processing on real articles).
CONTEXT_PARAGRAPHS_BEFORE = 4
CONTEXT_PARAGRAPHS_AFTER = max(6, ANAPHORA_LOOKBACK + 2)

_finders: weakref.WeakKeyDictionary[Language, tuple[int, CandidateFinder | None]] = (
    weakref.WeakKeyDictionary()
)


def candidate_finder(nlp: Language) -> CandidateFinder | None:
    """The gazetteer's candidate finder, built once per pipeline (also for one spacy.load() read
    from disk); None when the gazetteer matches in a way it cannot cover (token patterns, or
    phrase patterns on an attribute other than the text or its lower case)."""
    if GAZETTEER not in nlp.pipe_names:
        return None
    ruler = nlp.get_pipe(GAZETTEER)
    if getattr(ruler, "phrase_matcher_attr", None) not in (None, "LOWER", "ORTH", LOWER, ORTH):
        return None
    size = len(ruler)  # type: ignore[arg-type]
    cached = _finders.get(nlp)
    if cached is not None and cached[0] == size:
        return cached[1]
    patterns = [pattern["pattern"] for pattern in ruler.patterns]  # type: ignore[attr-defined]
    finder = None
    if all(isinstance(pattern, str) for pattern in patterns):
        finder = CandidateFinder.from_phrases(patterns, nlp.tokenizer)
    _finders[nlp] = (size, finder)
    return finder
