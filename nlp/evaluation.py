"""Accuracy evaluation of the detector on real third-party data (the ../shared/data folder).

Run it as ``python -m nlp.evaluation [--shared DIR] [--json OUT] [--errors]`` or ``aptwatch eval``;
``evaluate()`` is the function both call. It reports:

* mention precision / recall / F1 on three NER corpora (APTNER dev, DNRTI train and valid, AnnoCTR
  train and dev), once over every gold span and once over gold spans whose text is a known KB name;
* alias-resolution accuracy on AnnoCTR's ``group_mention_links.tsv``;
* document-level mention and attribution P/R/F1, negation stance accuracy and attributed-by /
  sponsor agreement on the CASIE dev articles, and the articles that would raise a false alert.

The NER files are messy (CRLF endings, tags glued to tokens, lines without a token,
``C2 S-TOOL B-TOOL``); the loaders keep the first whitespace-separated field as the token and the
last field that looks like a tag as its tag, so every line yields one token and counts stay aligned.
"""

from __future__ import annotations

import argparse
import bisect
import csv
import json
import os
import re
import sys
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from spacy.language import Language

    from nlp.kb import Group
    from nlp.results import AnalysisResult

MatchRule = Literal["exact", "overlap"]
TokenSpan = tuple[int, int]  # [start, end) token indices within one document

ALERTING_STANCES = frozenset({"asserted", "hedged"})
TARGET_MENTION_PRECISION = 0.95
TARGET_MENTION_RECALL = 0.95
TARGET_ATTRIBUTION_F1 = 0.90
TARGET_FALSE_ALERTS = 0

MATCH_RULE_TEXT: dict[str, str] = {
    "exact": (
        "a gold span is found when a predicted mention covers exactly its tokens (a predicted char "
        "span is widened to the tokens it touches; a leading 'the' is ignored on both sides)"
    ),
    "overlap": (
        "a gold span is found when a predicted mention shares at least one token with it (a "
        "predicted char span is widened to the tokens it touches)"
    ),
}
FALSE_POSITIVE_RULE_TEXT = {
    "all": (
        "all gold spans: a prediction is a false positive unless it matches a gold span by the rule"
    ),
    "known": (
        "known-name gold spans: only those count for recall; a prediction is a false positive only "
        "if it overlaps no gold span at all (known or not)"
    ),
}

_TAG_PATTERN = re.compile(r"^(?:O|[BIESU]-\S+)$")
_DOCSTART = "-DOCSTART-"
_RIGHT_QUOTE = "\u2019"  # typographic apostrophe, folded to ' in names


class EvaluationDataError(ValueError):
    """An evaluation data file or folder is missing or not in the format the loader reads."""


# ---------------------------------------------------------------------------------------------
# Tagged corpora


@dataclass(frozen=True)
class TaggedSentence:
    tokens: tuple[str, ...]
    tags: tuple[str, ...]
    line: int  # 1-based line of the first token: lets an error report point into the file


@dataclass(frozen=True)
class TaggedDocument:
    doc_id: str
    sentences: tuple[TaggedSentence, ...]


@dataclass(frozen=True)
class TaggedCorpus:
    name: str
    label: str
    documents: tuple[TaggedDocument, ...]

    @property
    def sentence_count(self) -> int:
        return sum(len(document.sentences) for document in self.documents)


def read_tagged_file(path: Path, *, tag_column: int | None = None) -> list[TaggedDocument]:
    """Read a CoNLL-like file: one token per line, blank lines between sentences.

    ``tag_column`` None means "token tag" separated by any whitespace (APTNER, DNRTI) and the
    tag is the last field that looks like a tag; an int selects a tab-separated column (AnnoCTR).
    A ``<DOCSTART>`` / ``-DOCSTART-`` line starts a new document; a file without them yields one
    document per sentence, because those corpora carry no document boundaries.
    """
    if not path.is_file():
        raise EvaluationDataError(f"evaluation data file missing: {path}")
    raw = path.read_bytes().decode("utf-8-sig")
    documents: list[list[TaggedSentence]] = [[]]
    has_doc_markers = False
    tokens: list[str] = []
    tags: list[str] = []
    first_line = 0

    def close_sentence() -> None:
        nonlocal tokens, tags
        if tokens:
            documents[-1].append(TaggedSentence(tuple(tokens), tuple(tags), first_line))
        tokens, tags = [], []

    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            close_sentence()
            continue
        token, tag = _parse_token_line(line, tag_column, path, number)
        if token.strip("<>") in ("DOCSTART", _DOCSTART):
            close_sentence()
            has_doc_markers = True
            if documents[-1]:
                documents.append([])
            continue
        if not tokens:
            first_line = number
        tokens.append(token)
        tags.append(tag)
    close_sentence()
    stem = path.stem
    if has_doc_markers:
        return [
            TaggedDocument(f"{stem}#{index}", tuple(sentences))
            for index, sentences in enumerate(documents, start=1)
            if sentences
        ]
    return [
        TaggedDocument(f"{stem}:{sentence.line}", (sentence,))
        for sentences in documents
        for sentence in sentences
    ]


def _parse_token_line(
    line: str, tag_column: int | None, path: Path, number: int
) -> tuple[str, str]:
    if tag_column is not None:
        columns = line.split("\t")
        if len(columns) <= tag_column:
            raise EvaluationDataError(
                f"{path}:{number}: expected at least {tag_column + 1} tab-separated columns, "
                f"found {len(columns)}"
            )
        return columns[0].strip(), columns[tag_column].strip()
    fields = line.split()
    tag_fields = [value for value in fields[1:] if _TAG_PATTERN.match(value)]
    if len(fields) == 1:
        # a lone tag is a token the corpus lost (an invisible character); a lone word lost its tag
        return ("", fields[0]) if _TAG_PATTERN.match(fields[0]) else (fields[0], "O")
    return fields[0], (tag_fields[-1] if tag_fields else "O")


def decode_spans(tags: Sequence[str], label: str) -> list[TokenSpan]:
    """Token spans [start, end) carrying ``label`` under BIO or BIOES tags.

    Lenient like conlleval: an I- or E- tag without an open span of the same label starts one, and
    a B- tag always starts a new span, so the corpora's stray tag sequences still decode.
    """
    spans: list[TokenSpan] = []
    start: int | None = None
    for index, tag in enumerate(tags):
        prefix, _, tag_label = tag.partition("-")
        if tag_label != label:
            if start is not None:
                spans.append((start, index))
                start = None
            continue
        if prefix in ("B", "S", "U") or start is None:
            if start is not None:
                spans.append((start, index))
            start = index
        if prefix in ("E", "S", "U"):
            spans.append((start, index + 1))
            start = None
    if start is not None:
        spans.append((start, len(tags)))
    return spans


def load_aptner(path: Path) -> TaggedCorpus:
    return TaggedCorpus(path.stem, "APT", tuple(read_tagged_file(path)))


def load_dnrti(path: Path) -> TaggedCorpus:
    return TaggedCorpus(f"dnrti-{path.stem}", "HackOrg", tuple(read_tagged_file(path)))


def load_annoctr(path: Path) -> TaggedCorpus:
    # column 7 is the combined annotation layer, the only one holding the GROUP label
    documents = read_tagged_file(path, tag_column=6)
    return TaggedCorpus(f"annoctr-{path.stem}", "GROUP", tuple(documents))


@dataclass(frozen=True)
class LaidOutDocument:
    """A tagged document joined into text with the char offsets of every token."""

    text: str
    tokens: tuple[str, ...]
    token_starts: tuple[int, ...]
    token_ends: tuple[int, ...]
    sentence_starts: tuple[int, ...]  # token index where each sentence begins

    def char_span(self, span: TokenSpan) -> tuple[int, int]:
        return self.token_starts[span[0]], self.token_ends[span[1] - 1]

    def token_span(self, start: int, end: int) -> TokenSpan | None:
        """The tokens a char span touches (None if it touches none)."""
        first = bisect.bisect_right(self.token_ends, start)
        stop = bisect.bisect_left(self.token_starts, end)
        return (first, stop) if first < stop else None

    def without_article(self, span: TokenSpan) -> TokenSpan:
        """The span minus a leading "the": corpora and detectors disagree on including it."""
        if span[1] - span[0] > 1 and self.tokens[span[0]].casefold() == "the":
            return span[0] + 1, span[1]
        return span

    def span_text(self, span: TokenSpan) -> str:
        start, end = self.char_span(span)
        return self.text[start:end]

    def context(self, span: TokenSpan) -> str:
        """The sentence holding the span, with the span in [[...]]."""
        sentence = bisect.bisect_right(self.sentence_starts, span[0]) - 1
        first_token = self.sentence_starts[sentence]
        last_token = (
            self.sentence_starts[sentence + 1] - 1
            if sentence + 1 < len(self.sentence_starts)
            else len(self.tokens) - 1
        )
        start, end = self.char_span(span)
        return _clip_context(
            self.text, start, end, self.token_starts[first_token], self.token_ends[last_token]
        )


def layout_document(document: TaggedDocument) -> LaidOutDocument:
    """Tokens joined by one space, sentences by a newline: offsets are known, tokens unchanged."""
    parts: list[str] = []
    tokens: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    sentence_starts: list[int] = []
    position = 0
    for sentence_index, sentence in enumerate(document.sentences):
        if sentence_index:
            parts.append("\n")
            position += 1
        sentence_starts.append(len(tokens))
        for token_index, token in enumerate(sentence.tokens):
            if token_index:
                parts.append(" ")
                position += 1
            tokens.append(token)
            starts.append(position)
            parts.append(token)
            position += len(token)
            ends.append(position)
    return LaidOutDocument(
        "".join(parts), tuple(tokens), tuple(starts), tuple(ends), tuple(sentence_starts)
    )


def gold_spans(document: TaggedDocument, label: str) -> list[TokenSpan]:
    spans: list[TokenSpan] = []
    offset = 0
    for sentence in document.sentences:
        spans.extend(
            (offset + start, offset + end) for start, end in decode_spans(sentence.tags, label)
        )
        offset += len(sentence.tokens)
    return spans


# ---------------------------------------------------------------------------------------------
# Metrics


@dataclass(frozen=True)
class PRF:
    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def __add__(self, other: PRF) -> PRF:
        return PRF(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)

    def to_json(self) -> dict[str, Any]:
        return {
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
        }


def spans_overlap(a: TokenSpan, b: TokenSpan) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def _found(gold: TokenSpan, predicted: Iterable[TokenSpan], match: MatchRule) -> bool:
    if match == "exact":
        return gold in predicted
    return any(spans_overlap(gold, span) for span in predicted)


def score_spans(
    gold: Iterable[TokenSpan], predicted: Iterable[TokenSpan], match: MatchRule = "exact"
) -> PRF:
    """Every gold span: a prediction not matching any gold span is a false positive."""
    gold_set, predicted_set = set(gold), set(predicted)
    tp = sum(1 for span in gold_set if _found(span, predicted_set, match))
    fp = sum(1 for span in predicted_set if not _found(span, gold_set, match))
    return PRF(tp, fp, len(gold_set) - tp)


def score_known_spans(
    known_gold: Iterable[TokenSpan],
    all_gold: Iterable[TokenSpan],
    predicted: Iterable[TokenSpan],
    match: MatchRule = "exact",
) -> PRF:
    """Known-name gold spans only: recall over them; a prediction is a false positive only if it
    overlaps no gold span at all, since a generic gold span ("the group") is no error to hit."""
    known_set, all_set, predicted_set = set(known_gold), set(all_gold), set(predicted)
    tp = sum(1 for span in known_set if _found(span, predicted_set, match))
    fp = sum(1 for span in predicted_set if not any(spans_overlap(span, gold) for gold in all_set))
    return PRF(tp, fp, len(known_set) - tp)


def score_sets(
    gold: Mapping[str, set[str]], predicted: Mapping[str, set[str]], documents: Iterable[str]
) -> PRF:
    """Micro P/R/F1 over (document, item) pairs."""
    tp = fp = fn = 0
    for document in documents:
        expected, found = gold.get(document, set()), predicted.get(document, set())
        tp += len(expected & found)
        fp += len(found - expected)
        fn += len(expected - found)
    return PRF(tp, fp, fn)


# words that say how sure or which kind of body, not who: they must not make two phrases agree
_LOOSE_STOPWORDS = frozenset(
    """
    a an and the of s its per by to in on at for from with as or is be been being was were
    believed likely suspected probably possibly allegedly reportedly described linked tied
    based main arm state government governments military intelligence agency agencies service
    services security firm firms company companies researchers researcher experts expert
    officials official report reports authors group groups hackers hacker cyber self claim u
    unit
    """.split()  # noqa: SIM905 - a word list reads better as text
)
_DEMONYMS = {
    "russian": "russia",
    "chinese": "china",
    "iranian": "iran",
    "korean": "korea",
    "israeli": "israel",
    "american": "us",
    "usa": "us",
    "states": "us",
    "united": "us",
    "british": "uk",
    "kingdom": "uk",
    "vietnamese": "vietnam",
    "pakistani": "pakistan",
    "indian": "india",
    "turkish": "turkey",
    "ukrainian": "ukraine",
    "german": "germany",
    "french": "france",
}


def loose_tokens(text: str) -> frozenset[str]:
    """Content words of a name or phrase, qualifiers in parentheses dropped, demonyms folded."""
    without_qualifiers = re.sub(r"\([^)]*\)", " ", text.casefold().replace(_RIGHT_QUOTE, "'"))
    words = re.findall(r"[a-z0-9]+", without_qualifiers)
    return frozenset(_DEMONYMS.get(word, word) for word in words if word not in _LOOSE_STOPWORDS)


_ARTICLES = frozenset({"a", "an", "the", "of", "s", "and", "u"})


def loose_match(expected: str, found: str | None) -> bool:
    """True when both phrases share a content word ("Russia's GRU (believed)" ~ "Russian GRU").

    A label made only of generic words ("intelligence officials", "the report's authors") is
    matched when the found phrase holds all of them; otherwise nothing, not even the same phrase,
    could match it.
    """
    if not found:
        return False
    wanted = loose_tokens(expected)
    if wanted:
        return bool(wanted & loose_tokens(found))
    generic = _generic_tokens(expected)
    return bool(generic) and generic <= _generic_tokens(found)


def _generic_tokens(text: str) -> frozenset[str]:
    without_qualifiers = re.sub(r"\([^)]*\)", " ", text.casefold().replace(_RIGHT_QUOTE, "'"))
    words = re.findall(r"[a-z0-9]+", without_qualifiers)
    return frozenset(word for word in words if word not in _ARTICLES)


# ---------------------------------------------------------------------------------------------
# Knowledge-base names


_NAME_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015\u2212_.]+")


def name_key(name: str) -> str:
    """Case, separators and a leading "the" do not distinguish names: "Fancy Bear", "fancy-bear",
    "FancyBear" are one name, and so are "The Shadow Brokers" and "Shadow Brokers"."""
    folded = unicodedata.normalize("NFKC", name).casefold().replace(_RIGHT_QUOTE, "'").strip()
    folded = re.sub(r"^the\s+", "", folded)
    return _NAME_SEPARATORS.sub("", folded)


@dataclass
class NameIndex:
    """Known names from the KB, and canonical-name-first resolution of labelled names."""

    by_canonical: dict[str, list[str]] = field(default_factory=dict)
    by_alias: dict[str, list[str]] = field(default_factory=dict)
    mitre_ids: dict[str, str | None] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_groups(cls, groups: Iterable[Group]) -> NameIndex:
        index = cls()
        for group in groups:
            index.mitre_ids[group.id] = group.mitre_id
            index.names[group.id] = group.name
            index.by_canonical.setdefault(name_key(group.name), []).append(group.id)
            for alias in (group.name, *group.aliases):
                ids = index.by_alias.setdefault(name_key(alias), [])
                if group.id not in ids:
                    ids.append(group.id)
        return index

    def is_known(self, text: str) -> bool:
        return name_key(text) in self.by_alias

    def resolve(self, name: str) -> str | None:
        """The group a labelled name means: a canonical name wins, else an unambiguous alias."""
        key = name_key(name)
        canonical = self.by_canonical.get(key, [])
        if len(canonical) == 1:
            return canonical[0]
        aliases = self.by_alias.get(key, [])
        return aliases[0] if len(aliases) == 1 else None

    def mitre_id(self, group_id: str) -> str | None:
        if group_id in self.mitre_ids:
            return self.mitre_ids[group_id]
        return group_id if re.fullmatch(r"G\d{4}", group_id) else None


# ---------------------------------------------------------------------------------------------
# Report


@dataclass(frozen=True)
class ErrorExample:
    section: str  # dataset or check the error comes from
    kind: str  # FP, FN, BOUNDARY, WRONG-GROUP, STANCE, ...
    where: str  # file:line, document id
    detail: str  # the span text, or what was expected and found
    context: str  # the sentence, with the span in [[...]]

    def format(self) -> str:
        return f"[{self.section}] {self.kind} {self.where}: {self.detail}\n    {self.context}"


@dataclass(frozen=True)
class MentionScores:
    dataset: str
    label: str
    documents: int
    sentences: int
    all_spans: PRF
    known_spans: PRF

    @property
    def meets_target(self) -> bool:
        return (
            self.known_spans.precision >= TARGET_MENTION_PRECISION
            and self.known_spans.recall >= TARGET_MENTION_RECALL
        )


@dataclass(frozen=True)
class AliasScores:
    correct: int
    scored: int  # rows with a MITRE id whose marked mention could be located
    without_mitre_id: int  # rows the annotators linked outside ATT&CK: not scored
    unlocatable: int

    @property
    def accuracy(self) -> float:
        return self.correct / self.scored if self.scored else 0.0


@dataclass(frozen=True)
class Agreement:
    agreed: int
    compared: int

    @property
    def rate(self) -> float:
        return self.agreed / self.compared if self.compared else 0.0

    def to_json(self) -> dict[str, Any]:
        return {"agreed": self.agreed, "compared": self.compared, "rate": round(self.rate, 4)}


@dataclass(frozen=True)
class CasieScores:
    articles: int
    labelled_articles: int
    mentions: PRF
    attributions: PRF
    negated_stance: Agreement
    attributed_by: Agreement
    sponsor: Agreement
    false_alert_ids: tuple[str, ...]
    unresolved_labels: tuple[str, ...]
    # False alerts in articles outside the labels file: the naive matcher that chose the
    # articles to label saw no group name in them, so nobody has judged what they say.
    unlabelled_alert_ids: tuple[str, ...] = ()

    @property
    def meets_attribution_target(self) -> bool:
        return self.attributions.f1 >= TARGET_ATTRIBUTION_F1

    @property
    def meets_false_alert_target(self) -> bool:
        return len(self.false_alert_ids) <= TARGET_FALSE_ALERTS


@dataclass(frozen=True)
class EvalReport:
    match_rule: str
    kb_groups: int
    mentions: tuple[MentionScores, ...]
    aliases: AliasScores
    casie: CasieScores
    errors: tuple[ErrorExample, ...] = ()

    @property
    def all_targets_met(self) -> bool:
        return (
            all(scores.meets_target for scores in self.mentions)
            and self.casie.meets_attribution_target
            and self.casie.meets_false_alert_target
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "match_rule": self.match_rule,
            "match_rule_text": MATCH_RULE_TEXT[self.match_rule],
            "false_positive_rules": FALSE_POSITIVE_RULE_TEXT,
            "kb_groups": self.kb_groups,
            "targets": {
                "mention_precision_known": TARGET_MENTION_PRECISION,
                "mention_recall_known": TARGET_MENTION_RECALL,
                "attribution_f1": TARGET_ATTRIBUTION_F1,
                "false_alerts": TARGET_FALSE_ALERTS,
                "all_met": self.all_targets_met,
            },
            "mentions": [
                {
                    "dataset": scores.dataset,
                    "label": scores.label,
                    "documents": scores.documents,
                    "sentences": scores.sentences,
                    "all_spans": scores.all_spans.to_json(),
                    "known_spans": scores.known_spans.to_json(),
                    "meets_target": scores.meets_target,
                }
                for scores in self.mentions
            ],
            "alias_resolution": {
                "correct": self.aliases.correct,
                "scored": self.aliases.scored,
                "accuracy": round(self.aliases.accuracy, 4),
                "without_mitre_id": self.aliases.without_mitre_id,
                "unlocatable": self.aliases.unlocatable,
            },
            "casie": {
                "articles": self.casie.articles,
                "labelled_articles": self.casie.labelled_articles,
                "mentions": self.casie.mentions.to_json(),
                "attributions": self.casie.attributions.to_json(),
                "meets_attribution_target": self.casie.meets_attribution_target,
                "negated_stance": self.casie.negated_stance.to_json(),
                "attributed_by": self.casie.attributed_by.to_json(),
                "sponsor": self.casie.sponsor.to_json(),
                "false_alerts": len(self.casie.false_alert_ids),
                "false_alert_ids": list(self.casie.false_alert_ids),
                "unlabelled_alert_ids": list(self.casie.unlabelled_alert_ids),
                "unresolved_labels": list(self.casie.unresolved_labels),
            },
            "errors": [
                {
                    "section": error.section,
                    "kind": error.kind,
                    "where": error.where,
                    "detail": error.detail,
                    "context": error.context,
                }
                for error in self.errors
            ],
        }

    def format_table(self) -> str:
        def verdict(ok: bool) -> str:
            return "PASS" if ok else "FAIL"

        lines = [
            f"aptwatch NLP evaluation — KB of {self.kb_groups} groups",
            f"Matching rule ({self.match_rule}): {MATCH_RULE_TEXT[self.match_rule]}.",
            f"Precision, {FALSE_POSITIVE_RULE_TEXT['all']}.",
            f"Precision, {FALSE_POSITIVE_RULE_TEXT['known']}.",
            "",
            f"{'Mentions':<24}{'view':<7}{'gold':>6}{'TP':>6}{'FP':>6}{'FN':>6}"
            f"{'P':>8}{'R':>8}{'F1':>8}  target (known: P≥0.95, R≥0.95)",
        ]
        for scores in self.mentions:
            name = f"{scores.dataset} ({scores.label})"
            for view, prf in (("all", scores.all_spans), ("known", scores.known_spans)):
                target = verdict(scores.meets_target) if view == "known" else ""
                lines.append(
                    f"{name if view == 'all' else '':<24}{view:<7}{prf.tp + prf.fn:>6}{prf.tp:>6}"
                    f"{prf.fp:>6}{prf.fn:>6}{prf.precision:>8.3f}{prf.recall:>8.3f}{prf.f1:>8.3f}"
                    f"  {target}"
                )
        aliases, casie = self.aliases, self.casie
        lines += [
            "",
            f"Alias resolution (AnnoCTR links → ATT&CK id): {aliases.correct}/{aliases.scored} = "
            f"{aliases.accuracy:.3f}  ({aliases.without_mitre_id} rows without an ATT&CK id and "
            f"{aliases.unlocatable} unlocatable rows not scored)",
            "",
            f"CASIE dev, document level ({casie.articles} articles, {casie.labelled_articles} "
            "labelled; unlabelled articles hold no group)",
            f"{'':<24}{'gold':>6}{'TP':>6}{'FP':>6}{'FN':>6}{'P':>8}{'R':>8}{'F1':>8}",
        ]
        for name, prf, target in (
            ("group mentions", casie.mentions, ""),
            (
                "attributions",
                casie.attributions,
                f"  target F1≥0.90 {verdict(casie.meets_attribution_target)}",
            ),
        ):
            lines.append(
                f"{name:<24}{prf.tp + prf.fn:>6}{prf.tp:>6}{prf.fp:>6}{prf.fn:>6}"
                f"{prf.precision:>8.3f}{prf.recall:>8.3f}{prf.f1:>8.3f}{target}"
            )
        for name, agreement in (
            ("negated stance", casie.negated_stance),
            ("attributed_by (loose)", casie.attributed_by),
            ("sponsor (loose)", casie.sponsor),
        ):
            lines.append(
                f"{name:<24}{agreement.agreed}/{agreement.compared} = {agreement.rate:.3f}"
            )
        ids = ", ".join(casie.false_alert_ids) or "none"
        lines.append(
            f"{'false alerts':<24}{len(casie.false_alert_ids)}  target 0 "
            f"{verdict(casie.meets_false_alert_target)}  [{ids}]"
        )
        if casie.unlabelled_alert_ids:
            lines.append(
                f"{'':<24}of which not labelled (no name the labels' matcher knows): "
                + ", ".join(casie.unlabelled_alert_ids)
            )
        if casie.unresolved_labels:
            lines.append(f"labels the KB cannot resolve: {', '.join(casie.unresolved_labels)}")
        lines += ["", f"All targets met: {'yes' if self.all_targets_met else 'no'}"]
        return "\n".join(lines)

    def format_errors(self) -> str:
        return "\n".join(error.format() for error in self.errors)


# ---------------------------------------------------------------------------------------------
# Evaluation runs

Analyzer = Callable[[str, str | None], "AnalysisResult"]


def _clip_context(
    text: str, start: int, end: int, window_start: int, window_end: int, width: int = 110
) -> str:
    left = max(window_start, start - width)
    right = min(window_end, end + width)
    snippet = f"{text[left:start]}[[{text[start:end]}]]{text[end:right]}"
    snippet = ("…" if left > window_start else "") + snippet + ("…" if right < window_end else "")
    return " ".join(snippet.split())


def evaluate_tagged_corpus(
    corpus: TaggedCorpus,
    analyze_text: Analyzer,
    names: NameIndex,
    match: MatchRule = "exact",
    errors: list[ErrorExample] | None = None,
) -> MentionScores:
    all_prf = PRF(0, 0, 0)
    known_prf = PRF(0, 0, 0)
    for document in corpus.documents:
        laid_out = layout_document(document)
        gold = [laid_out.without_article(span) for span in gold_spans(document, corpus.label)]
        known = [span for span in gold if names.is_known(laid_out.span_text(span))]
        predicted: set[TokenSpan] = set()
        for mention in analyze_text(laid_out.text, None).mentions:
            span = laid_out.token_span(mention.start, mention.end)
            if span is not None:
                predicted.add(laid_out.without_article(span))
        all_prf += score_spans(gold, predicted, match)
        known_prf += score_known_spans(known, gold, predicted, match)
        if errors is not None:
            _collect_span_errors(
                corpus.name, laid_out, document, known, gold, predicted, match, errors
            )
    return MentionScores(
        corpus.name,
        corpus.label,
        len(corpus.documents),
        corpus.sentence_count,
        all_prf,
        known_prf,
    )


def _collect_span_errors(
    section: str,
    laid_out: LaidOutDocument,
    document: TaggedDocument,
    known: Sequence[TokenSpan],
    gold: Sequence[TokenSpan],
    predicted: set[TokenSpan],
    match: MatchRule,
    errors: list[ErrorExample],
) -> None:
    def where(span: TokenSpan) -> str:
        if len(document.sentences) == 1:
            return document.doc_id  # already "<file>:<line>"
        sentence = bisect.bisect_right(laid_out.sentence_starts, span[0]) - 1
        return f"{document.doc_id} line {document.sentences[sentence].line}"

    for span in known:
        if _found(span, predicted, match):
            continue
        overlapping = [laid_out.span_text(p) for p in predicted if spans_overlap(p, span)]
        kind, detail = (
            ("BOUNDARY", f"{laid_out.span_text(span)!r} predicted as {overlapping}")
            if (overlapping)
            else ("FN", repr(laid_out.span_text(span)))
        )
        errors.append(ErrorExample(section, kind, where(span), detail, laid_out.context(span)))
    for span in sorted(predicted):
        if not any(spans_overlap(span, g) for g in gold):
            text = laid_out.span_text(span)
            errors.append(
                ErrorExample(section, "FP", where(span), repr(text), laid_out.context(span))
            )


def _marked_mention(context: str, mention: str) -> tuple[str, int, int] | None:
    """The context without the [[...]] around the linked mention, and the mention's offsets."""
    pattern = re.compile(r"\[\[\s*" + re.escape(mention.strip()) + r"\s*\]\]")
    marked = pattern.search(context)
    if marked is not None:
        inner = marked.group(0)[2:-2]
        text = context[: marked.start()] + inner + context[marked.end() :]
        start = marked.start() + (len(inner) - len(inner.lstrip()))
        return text, start, start + len(mention.strip())
    plain = re.search(r"(?<!\w)" + re.escape(mention.strip()) + r"(?!\w)", context)
    if plain is not None:
        return context, plain.start(), plain.end()
    return None


def evaluate_alias_links(
    path: Path,
    analyze_text: Analyzer,
    names: NameIndex,
    errors: list[ErrorExample] | None = None,
) -> AliasScores:
    """Each linked mention must be detected and resolved to a group with the linked ATT&CK id."""
    if not path.is_file():
        raise EvaluationDataError(f"evaluation data file missing: {path}")
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    required = {"split", "doc", "mention", "mitre_group_id_current", "context"}
    if rows and not required <= set(rows[0]):
        raise EvaluationDataError(f"{path}: missing columns {sorted(required - set(rows[0]))}")
    correct = scored = without_mitre_id = unlocatable = 0
    for row_number, row in enumerate(rows, start=2):
        expected = (row["mitre_group_id_current"] or "").strip()
        if not expected:
            without_mitre_id += 1
            continue
        located = _marked_mention(row["context"], row["mention"])
        if located is None:
            unlocatable += 1
            continue
        text, start, end = located
        scored += 1
        overlapping = [
            mention
            for mention in analyze_text(text, None).mentions
            if mention.start < end and start < mention.end
        ]
        best = max(
            overlapping,
            key=lambda m: min(end, m.end) - max(start, m.start),
            default=None,
        )
        found_id = names.mitre_id(best.group_id) if best is not None else None
        if found_id == expected:
            correct += 1
        elif errors is not None:
            detail = f"{row['mention']!r} expected {expected} ({row['linked_title']}), found " + (
                f"{best.group_id} ({best.group_name}) via {best.alias!r}" if best else "nothing"
            )
            kind = "WRONG-GROUP" if best is not None else "FN"
            errors.append(
                ErrorExample(
                    "annoctr-links",
                    kind,
                    f"{row['split']}/{row['doc']} (tsv line {row_number})",
                    detail,
                    _clip_context(text, start, end, 0, len(text)),
                )
            )
    return AliasScores(correct, scored, without_mitre_id, unlocatable)


@dataclass(frozen=True)
class CasieArticle:
    article_id: str
    title: str | None
    text: str


_CASIE_TITLE = re.compile(r"<title>(.*?)(?:</title>|\n)", re.S)
_CASIE_TEXT = re.compile(r"<text>\n?(.*?)(?:</text>|\Z)", re.S)


def read_casie_article(path: Path) -> CasieArticle:
    """A CASIE source file: pseudo-XML with <title>, <source>, <date> and <text> elements."""
    raw = path.read_text(encoding="utf-8").replace("\r\n", "\n")
    body = _CASIE_TEXT.search(raw)
    if body is None:
        raise EvaluationDataError(f"{path}: no <text> element")
    title_match = _CASIE_TITLE.search(raw)
    title = " ".join(title_match.group(1).split()) if title_match else ""
    return CasieArticle(path.stem, title or None, body.group(1).strip("\n"))


def load_casie_articles(folder: Path) -> list[CasieArticle]:
    if not folder.is_dir():
        raise EvaluationDataError(f"CASIE source folder missing: {folder}")
    paths = sorted(folder.glob("*.txt"), key=lambda p: (len(p.stem), p.stem))
    if not paths:
        raise EvaluationDataError(f"CASIE source folder holds no .txt articles: {folder}")
    return [read_casie_article(path) for path in paths]


def load_casie_labels(path: Path) -> dict[str, dict[str, Any]]:
    if not path.is_file():
        raise EvaluationDataError(f"evaluation data file missing: {path}")
    labels: dict[str, dict[str, Any]] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise EvaluationDataError(f"{path}:{number}: not JSON ({error.msg})") from None
        if not isinstance(record, dict) or "id" not in record:
            raise EvaluationDataError(f"{path}:{number}: a label record needs an 'id'")
        labels[str(record["id"])] = record
    return labels


def evaluate_casie(
    news_dir: Path,
    analyze_text: Analyzer,
    names: NameIndex,
    errors: list[ErrorExample] | None = None,
) -> CasieScores:
    labels = load_casie_labels(news_dir / "casie-groups-dev.jsonl")
    articles = load_casie_articles(news_dir / "casie-dev" / "source")
    unresolved: set[str] = set()

    def resolve(name: str) -> str:
        group_id = names.resolve(name)
        if group_id is None:
            unresolved.add(name)
            return f"unresolved:{name}"  # stays a gold item nothing can predict: a false negative
        return group_id

    gold_mentions: dict[str, set[str]] = {}
    gold_attributions: dict[str, set[str]] = {}
    gold_negated: dict[str, set[str]] = {}
    gold_details: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for article_id, record in labels.items():
        gold_mentions[article_id] = {resolve(name) for name in record.get("mentions", [])}
        gold_negated[article_id] = {resolve(name) for name in record.get("negated", [])}
        gold_attributions[article_id] = set()
        for attribution in record.get("attributions", []):
            group_id = resolve(attribution["group"])
            gold_attributions[article_id].add(group_id)
            gold_details[(article_id, group_id)].append(attribution)

    predicted_mentions: dict[str, set[str]] = {}
    predicted_attributions: dict[str, set[str]] = {}
    negated_stance = [0, 0]
    attributed_by = [0, 0]
    sponsor = [0, 0]
    false_alerts: list[str] = []
    contexts: dict[tuple[str, str], str] = {}  # (article, group) -> where the group shows
    for article in articles:
        result = analyze_text(article.text, article.title)
        predicted_mentions[article.article_id] = {m.group_id for m in result.mentions}
        for mention in reversed(result.mentions):
            contexts[(article.article_id, mention.group_id)] = _clip_context(
                article.text, mention.start, mention.end, 0, len(article.text)
            )
        for gold_id in gold_mentions.get(article.article_id, set()) - set(
            predicted_mentions[article.article_id]
        ):
            labelled_aliases = [
                d.get("alias_in_text") or ""
                for d in gold_details.get((article.article_id, gold_id), [])
            ]
            contexts[(article.article_id, gold_id)] = _first_use(
                article.text, [*labelled_aliases, names.names.get(gold_id, gold_id.split(":")[-1])]
            )
        stances = {a.group_id: a for a in result.attributions}
        alerting = {gid for gid, a in stances.items() if a.stance in ALERTING_STANCES}
        predicted_attributions[article.article_id] = alerting
        if alerting and not gold_attributions.get(article.article_id):
            false_alerts.append(article.article_id)
        for group_id in gold_negated.get(article.article_id, set()):
            # a group also labelled as attributed keeps its strongest (positive) claim, so only
            # purely negated groups can be checked for a "negated" stance
            if group_id in gold_attributions.get(article.article_id, set()):
                continue
            negated_stance[1] += 1
            found = stances.get(group_id)
            if found is not None and found.stance == "negated":
                negated_stance[0] += 1
            elif errors is not None:
                errors.append(
                    ErrorExample(
                        "casie",
                        "STANCE",
                        article.article_id,
                        f"{names.names.get(group_id, group_id)} labelled negated, found "
                        + (found.stance if found else "no attribution"),
                        found.evidence if found else "",
                    )
                )
        for group_id in alerting:
            details = gold_details.get((article.article_id, group_id), [])
            found = stances[group_id]
            for key, tally in (("attributed_by", attributed_by), ("sponsor", sponsor)):
                labelled = [d[key] for d in details if d.get(key)]
                if not labelled:
                    continue
                tally[1] += 1
                value = getattr(found, key)
                if any(loose_match(expected, value) for expected in labelled):
                    tally[0] += 1
                elif errors is not None:
                    errors.append(
                        ErrorExample(
                            "casie",
                            key.upper(),
                            article.article_id,
                            f"{found.group_name}: labelled {labelled!r}, found {value!r}",
                            found.evidence,
                        )
                    )

    article_ids = [article.article_id for article in articles]
    missing = sorted(set(labels) - set(article_ids))
    if missing:
        raise EvaluationDataError(f"labelled CASIE articles without a source file: {missing}")
    if errors is not None:
        _collect_document_errors(
            "casie-mentions",
            gold_mentions,
            predicted_mentions,
            article_ids,
            names,
            contexts,
            errors,
        )
        _collect_document_errors(
            "casie-attributions",
            gold_attributions,
            predicted_attributions,
            article_ids,
            names,
            contexts,
            errors,
        )
    return CasieScores(
        articles=len(articles),
        labelled_articles=len(labels),
        mentions=score_sets(gold_mentions, predicted_mentions, article_ids),
        attributions=score_sets(gold_attributions, predicted_attributions, article_ids),
        negated_stance=Agreement(*negated_stance),
        attributed_by=Agreement(*attributed_by),
        sponsor=Agreement(*sponsor),
        false_alert_ids=tuple(false_alerts),
        unresolved_labels=tuple(sorted(unresolved)),
        unlabelled_alert_ids=tuple(a for a in false_alerts if a not in labels),
    )


def _collect_document_errors(
    section: str,
    gold: Mapping[str, set[str]],
    predicted: Mapping[str, set[str]],
    documents: Iterable[str],
    names: NameIndex,
    contexts: Mapping[tuple[str, str], str],
    errors: list[ErrorExample],
) -> None:
    for document in documents:
        expected, found = gold.get(document, set()), predicted.get(document, set())
        for kind, group_ids in (("FP", found - expected), ("FN", expected - found)):
            for group_id in sorted(group_ids):
                detail = f"{group_id} ({names.names.get(group_id, group_id)})"
                context = contexts.get((document, group_id), "")
                errors.append(ErrorExample(section, kind, document, detail, context))


def _first_use(text: str, candidates: Iterable[str]) -> str:
    for name in candidates:
        found = re.search(re.escape(name), text, re.IGNORECASE) if name else None
        if found is not None:
            return _clip_context(text, found.start(), found.end(), 0, len(text))
    return ""


# ---------------------------------------------------------------------------------------------
# Entry points


def default_shared_dir() -> Path:
    """../shared beside the repository, unless APTWATCH_SHARED_DIR says otherwise."""
    configured = os.environ.get("APTWATCH_SHARED_DIR")
    return Path(configured) if configured else Path(__file__).resolve().parents[1].parent / "shared"


def data_dir(shared_dir: Path) -> Path:
    """Accept the shared folder or its data/ subfolder."""
    if (shared_dir / "ner").is_dir():
        return shared_dir
    if (shared_dir / "data" / "ner").is_dir():
        return shared_dir / "data"
    raise EvaluationDataError(f"no shared evaluation data (ner/ and news/) under {shared_dir}")


def tagged_corpora(data: Path) -> Iterator[TaggedCorpus]:
    yield load_aptner(data / "ner" / "aptner" / "APTNERdev.txt")
    for split in ("train", "valid"):
        yield load_dnrti(data / "ner" / "dnrti" / f"{split}.txt")
    for split in ("train", "dev"):
        yield load_annoctr(data / "ner" / "annoctr" / f"{split}.bio")


def evaluate(
    shared_data_dir: Path,
    nlp: Language | None = None,
    *,
    kb_path: Path | None = None,
    match: MatchRule = "exact",
    collect_errors: bool = False,
) -> EvalReport:
    """Score the detector on every shared dataset; build the default pipeline when none is given."""
    if match not in MATCH_RULE_TEXT:
        raise EvaluationDataError(f"unknown matching rule {match!r}: use 'exact' or 'overlap'")
    data = data_dir(Path(shared_data_dir))
    # imported late: the detector is the thing under test, the data checks above need none of it
    from nlp import analyze, build_pipeline
    from nlp.kb import load_groups

    pipeline = nlp if nlp is not None else build_pipeline(kb_path)
    groups = load_groups(kb_path)
    names = NameIndex.from_groups(groups)

    def analyze_text(text: str, title: str | None) -> AnalysisResult:
        return analyze(pipeline, text, title=title)

    errors: list[ErrorExample] | None = [] if collect_errors else None
    mentions = tuple(
        evaluate_tagged_corpus(corpus, analyze_text, names, match, errors)
        for corpus in tagged_corpora(data)
    )
    aliases = evaluate_alias_links(
        data / "ner" / "annoctr" / "group_mention_links.tsv", analyze_text, names, errors
    )
    casie = evaluate_casie(data / "news", analyze_text, names, errors)
    return EvalReport(match, len(groups), mentions, aliases, casie, tuple(errors or ()))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m nlp.evaluation", description="Score the APT detector on the shared data."
    )
    parser.add_argument(
        "--shared",
        type=Path,
        default=None,
        help="the shared folder or its data/ subfolder (default ../shared, $APTWATCH_SHARED_DIR)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the report as JSON")
    parser.add_argument("--kb", type=Path, default=None, help="knowledge base file to evaluate")
    parser.add_argument(
        "--match", choices=sorted(MATCH_RULE_TEXT), default="exact", help="span matching rule"
    )
    parser.add_argument(
        "--errors", action="store_true", help="print false positives / negatives with context"
    )
    arguments = parser.parse_args(argv)
    try:
        report = evaluate(
            arguments.shared or default_shared_dir(),
            kb_path=arguments.kb,
            match=arguments.match,
            collect_errors=arguments.errors,
        )
    except EvaluationDataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(report.format_table())
    if arguments.errors:
        print(f"\nErrors ({len(report.errors)}):")
        print(report.format_errors())
    if arguments.json is not None:
        arguments.json.write_text(
            json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
