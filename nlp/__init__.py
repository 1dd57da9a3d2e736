"""aptwatch's detector: which known APT groups a text names, and whether it attributes activity
to them. ``build_pipeline()`` builds the spaCy pipeline; ``analyze()`` runs it on one text."""

from __future__ import annotations

from dataclasses import replace

from spacy.language import Language
from spacy.tokens import Doc, Span

from nlp.attribution import ATTRIBUTIONS_KEY
from nlp.errors import KnowledgeBaseError, NlpError
from nlp.evidence import GROUPS_KEY, AliasFilter
from nlp.kb import Group, KnowledgeBase, load_groups
from nlp.names import plain_forms
from nlp.pipeline import (
    CONTEXT_PARAGRAPHS_AFTER,
    CONTEXT_PARAGRAPHS_BEFORE,
    build_pipeline,
    candidate_finder,
)
from nlp.prefilter import Excerpt, context_windows
from nlp.results import AnalysisResult, Attribution, Mention

__all__ = [
    "AnalysisResult",
    "Attribution",
    "Group",
    "KnowledgeBase",
    "KnowledgeBaseError",
    "Mention",
    "NlpError",
    "analyze",
    "build_pipeline",
    "load_groups",
]

STANCE_RANK = {"asserted": 3, "hedged": 2, "negated": 1}
TITLE_SEPARATOR = "\n\n"


def _alias_filter(nlp: Language) -> AliasFilter:
    if "aptwatch_alias_filter" not in nlp.pipe_names:
        raise NlpError("pipeline has no 'aptwatch_alias_filter' component; use build_pipeline()")
    component = nlp.get_pipe("aptwatch_alias_filter")
    if not isinstance(component, AliasFilter):
        raise NlpError("'aptwatch_alias_filter' is not aptwatch's alias filter")
    return component


def analyze(
    nlp: Language, text: str, title: str | None = None, *, whole_text: bool = False
) -> AnalysisResult:
    """Mentions (char offsets into ``text``) and one attribution per group: its strongest claim.

    The title is read as the first paragraph: it can carry the claim, but mentions report only
    offsets into ``text``. spaCy runs only on the paragraphs around possible group names (see
    nlp.prefilter); ``whole_text=True`` runs it on everything instead — slower, same result.
    """
    if not isinstance(text, str):
        raise NlpError(f"text must be a string, not {type(text).__name__}")
    if title is not None and not isinstance(title, str):
        raise NlpError(f"title must be a string or None, not {type(title).__name__}")
    alias_filter = _alias_filter(nlp)
    prefix = f"{title.strip()}{TITLE_SEPARATOR}" if title and title.strip() else ""
    plain = plain_forms(text)
    result = _analyze(nlp, alias_filter, plain_forms(prefix) + plain, len(prefix), whole_text)
    if plain == text:
        return result
    # a mention quotes the text as written, "APT\u201131" and not the plain form it was found by
    return replace(
        result, mentions=[replace(m, alias=text[m.start : m.end]) for m in result.mentions]
    )


def _analyze(
    nlp: Language, alias_filter: AliasFilter, full_text: str, title_length: int, whole_text: bool
) -> AnalysisResult:
    if whole_text:
        return _result(nlp(full_text), alias_filter.kb, title_length, None)
    finder = candidate_finder(nlp)
    hits = finder.find(full_text) if finder is not None else None
    if hits == [] or not alias_filter.prefilter.may_mention(full_text):
        return AnalysisResult()
    if hits is None:
        return _result(nlp(full_text), alias_filter.kb, title_length, None)
    windows = context_windows(
        full_text, hits, before=CONTEXT_PARAGRAPHS_BEFORE, after=CONTEXT_PARAGRAPHS_AFTER
    )
    if windows == [(0, len(full_text))]:
        return _result(nlp(full_text), alias_filter.kb, title_length, None)
    excerpt = Excerpt.of(full_text, windows)
    return _result(nlp(excerpt.text), alias_filter.kb, title_length, excerpt)


def _result(doc: Doc, kb: KnowledgeBase, shift: int, excerpt: Excerpt | None) -> AnalysisResult:
    """Read the pipeline's spans; ``shift`` = length of the title prefix, ``excerpt`` = how the
    doc's text maps back to the analysed text when spaCy saw only some paragraphs."""
    mentions: list[Mention] = []
    seen: set[tuple[int, int]] = set()
    for span in doc.spans.get(GROUPS_KEY, []):
        start = span.start_char if excerpt is None else excerpt.original_offset(span.start_char)
        offsets = (start, start + len(span.text))
        if offsets in seen or start < shift:
            continue
        seen.add(offsets)
        group = kb.get(span._.aptwatch_group_id)
        if group is None:
            continue
        candidates = span._.aptwatch_candidates
        mentions.append(
            Mention(
                group_id=group.id,
                group_name=group.name,
                alias=span.text,
                start=offsets[0] - shift,
                end=offsets[1] - shift,
                candidates=tuple(candidates) if len(candidates) > 1 else (),
            )
        )

    best: dict[str, Attribution] = {}
    named = list(doc.spans.get(GROUPS_KEY, []))
    for span in doc.spans.get(ATTRIBUTIONS_KEY, []):
        if span._.aptwatch_role != "attribution":
            continue
        group = kb.get(span.id_)
        if group is None:
            continue
        candidate = Attribution(
            group_id=group.id,
            group_name=group.name,
            alias=span._.aptwatch_alias or span.text,
            stance=span._.aptwatch_stance,
            evidence=span._.aptwatch_evidence,
            mitre_id=group.mitre_id,
            attributed_by=span._.aptwatch_attributed_by,
            sponsor=span._.aptwatch_sponsor,
            confidence=float(span._.aptwatch_confidence),
            candidates=_candidates(named, span),
        )
        current = best.get(group.id)
        if current is None or _strength(candidate) > _strength(current):
            best[group.id] = candidate
    attributions = sorted(best.values(), key=lambda a: (-a.confidence, a.group_id))
    return AnalysisResult(mentions=mentions, attributions=attributions)


def _strength(attribution: Attribution) -> tuple[int, float, int]:
    return (
        STANCE_RANK.get(attribution.stance, 0),
        attribution.confidence,
        attribution.attributed_by is not None,
    )


def _candidates(named: list[Span], claim: Span) -> tuple[str, ...]:
    """Every group id the claim's name may mean, when it may mean several: those of the group
    span at the claim's offsets, or for "the group" those of the names it refers back to (the
    last sentence before it naming its group; one unambiguous name there settles it)."""
    names = [s for s in named if (s.start, s.end) == (claim.start, claim.end)]
    if not names:
        before = [s for s in named if s.end <= claim.start and s._.aptwatch_group_id == claim.id_]
        if before:
            sentence = claim.doc[max(s.start for s in before)].sent.start
            names = [s for s in before if s.sent.start == sentence]
    if not names or any(len(s._.aptwatch_candidates) < 2 for s in names):
        return ()
    return tuple(sorted({gid for s in names for gid in s._.aptwatch_candidates}))
