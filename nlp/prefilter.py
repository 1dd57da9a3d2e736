"""Cheap text scans that let ``analyze`` run spaCy only where a group may be named.

Most crawled articles name no group, and tokenising costs more than everything else, so
``analyze`` works in three steps before spaCy sees a text:

1. ``CandidateFinder`` — one compiled regular expression (a character trie of every gazetteer
   phrase, lower-cased) finds where the ``span_ruler`` gazetteer *could* match. It over-reports
   on purpose: a phrase pattern matches a run of tokens whose lower-cased texts equal the
   pattern's tokens, joined by nothing or one space (spaCy keeps at most one space as a token's
   trailing whitespace), so the expression allows exactly that between pattern tokens. No hit,
   no mention.
2. ``MentionPrefilter`` — every word piece of some alias occurs in the text, with the letter
   case a name that is an ordinary word needs ("lead" cannot be "LEAD").
3. ``context_windows`` — the paragraphs around the hits, with enough paragraphs before and after
   for every component's look-around; spaCy runs on those paragraphs only, concatenated. A
   paragraph starts right after a line break, at a non-space character: there spaCy's tokens and
   the pipeline's sentence starts are the same whether or not the text before it is present.
"""

from __future__ import annotations

import bisect
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import groupby, pairwise

from spacy.attrs import ORTH
from spacy.tokens import Doc

from nlp.kb import KnowledgeBase
from nlp.names import name_variants, split_from_joined_name

_PIECE = re.compile(r"[^\W_]+")
# Where a paragraph may be cut off from the text before it: after a line break, before a
# non-space character (spaCy then starts a token there, and aptwatch_paragraphs a sentence).
_PARAGRAPH_START = re.compile(r"(?<=\n)(?=\S)")


class MentionPrefilter:
    def __init__(self, kb: KnowledgeBase) -> None:
        # first piece -> list of (all pieces, pieces of which one must appear capitalised or None)
        index: dict[str, list[tuple[frozenset[str], bool]]] = defaultdict(list)
        for group in kb:
            for name in group.names:
                needs_capital = kb.needs_evidence(name) and name != name.lower()
                for variant in name_variants(name):
                    pieces = [p.lower() for p in _PIECE.findall(variant)]
                    if not pieces:
                        continue
                    rarest = max(pieces, key=len)
                    # "Power Pool" for PowerPool needs evidence too, and is never lower case
                    split = split_from_joined_name(variant, [name])
                    index[rarest].append((frozenset(pieces), needs_capital or split))
        self._index = dict(index)

    def may_mention(self, text: str) -> bool:
        raw = set(_PIECE.findall(text))
        lower = {piece.lower() for piece in raw}
        capitalised = {piece.lower() for piece in raw if piece[:1].isupper()}
        for piece in lower.intersection(self._index):
            for pieces, needs_capital in self._index[piece]:
                if pieces <= lower and (not needs_capital or pieces & capitalised):
                    return True
        return False


# -- 1. where the gazetteer could match ---------------------------------------------------------

Tokenizer = Callable[[str], Doc]
_TOKEN_GAP = "\x00"  # trie symbol between two pattern tokens: "" or " " in the text


def _searchable(text: str) -> str:
    # Underscores become spaces so that \b also fires at "_apt28" (spaCy splits "_" off as a
    # prefix); lower() and this replacement keep every offset, which find() checks.
    return text.lower().replace("_", " ")


class SplitPoints:
    """Word-internal places where the tokenizer still starts a new token.

    The expression asserts a word boundary (``\\b``) before and after a phrase. spaCy's English
    tokenizer splits between two word characters only in special cases ("cannot" ->
    "can", "not"; read from the tokenizer's rules) and for unit suffixes after digits ("10gb" ->
    "10", "gb"; asked from its suffix rule). Phrases whose first or last token can sit at such a
    place get no assertion on that side. tests/test_nlp_pipeline.py checks that no other affix
    rule splits a gazetteer token off a neighbouring letter or digit.
    """

    def __init__(self, tokenizer: Tokenizer) -> None:
        self._suffix_search = getattr(tokenizer, "suffix_search", None)
        starts: set[str] = set()
        ends: set[str] = set()
        for pieces in (getattr(tokenizer, "rules", None) or {}).values():
            orths = [str(piece.get(ORTH, "")) for piece in pieces]
            for before, after in pairwise(orths):
                if before[-1:].isalnum() and after[:1].isalnum():
                    ends.add(_searchable(before))
                    starts.add(_searchable(after))
        self._starts_inside_word = frozenset(starts)
        self._ends_inside_word = frozenset(ends)

    def _is_unit_suffix(self, token: str) -> bool:
        if self._suffix_search is None:
            return False
        for form in {token, token.upper()}:
            match = self._suffix_search("0" + form)
            if match is not None and match.start() == 1:
                return True
        return False

    def bounded_start(self, token: str) -> bool:
        return (
            token[:1].isalnum()
            and token not in self._starts_inside_word
            and not self._is_unit_suffix(token)
        )

    def bounded_end(self, token: str) -> bool:
        # A token ending in a digit may be followed by any unit suffix ("APT28GB"): no assertion.
        return token[-1:].isalpha() and token not in self._ends_inside_word


_BOUNDED_END = "\x01"  # the phrase ends here, at a word boundary
_OPEN_END = "\x02"  # the phrase ends here, maybe inside a word


def _trie_expression(phrases: Sequence[str], depth: int = 0) -> str:
    """One alternation for sorted, end-marked phrases sharing their first ``depth`` characters:
    a character trie, longest alternatives first, so a hit covers the longest phrase there."""
    first, last = phrases[0], phrases[-1]
    shared = depth  # sorted: what the first and the last phrase share, all of them share
    while shared < len(first) and shared < len(last) and first[shared] == last[shared]:
        shared += 1
    if shared == len(first):  # one phrase left
        return _literal(first[depth:])
    alternatives = []
    ends = ""
    for key, group in groupby(phrases, key=lambda phrase: phrase[shared]):
        if key in (_BOUNDED_END, _OPEN_END):
            ends += key
        else:
            alternatives.append(_trie_expression(list(group), shared))
    if ends:
        # Two phrases ending on one node: an open end makes the node open for both.
        alternatives.append("" if _OPEN_END in ends else r"\b")
    branches = alternatives[0] if len(alternatives) == 1 else "(?:" + "|".join(alternatives) + ")"
    return _literal(first[depth:shared]) + branches


def _literal(chars: str) -> str:
    parts = []
    for char in chars:
        if char == _TOKEN_GAP:
            parts.append(" ?")
        elif char == _BOUNDED_END:
            parts.append(r"\b")
        elif char != _OPEN_END:
            parts.append(re.escape(char))
    return "".join(parts)


class CandidateFinder:
    """Where a gazetteer phrase may match: a superset of the ``span_ruler`` matches' offsets."""

    def __init__(
        self, expressions: Sequence[re.Pattern[str]], phrases: int, split_points: SplitPoints
    ) -> None:
        self._expressions = tuple(expressions)
        self.phrases = phrases  # how many distinct phrases it covers
        self.split_points = split_points

    @classmethod
    def from_phrases(cls, phrases: Iterable[str], tokenizer: Tokenizer) -> CandidateFinder:
        """Build from the gazetteer's phrase patterns, tokenised by the pipeline's tokenizer."""
        unique = sorted(set(phrases))
        token_sequences = {
            tuple(_searchable(token.text) for token in tokenizer(phrase)) for phrase in unique
        }
        token_sequences.discard(())
        splits = SplitPoints(tokenizer)
        bounded: list[str] = []
        open_start: list[str] = []
        for tokens in token_sequences:
            end = _BOUNDED_END if splits.bounded_end(tokens[-1]) else _OPEN_END
            phrase = _TOKEN_GAP.join(tokens) + end
            (bounded if splits.bounded_start(tokens[0]) else open_start).append(phrase)
        # Two scans: the few phrases that may start inside a word ("t" after "10") would
        # otherwise be tried at every character of the bounded scan.
        expressions = []
        if bounded:
            expressions.append(re.compile(r"\b" + _trie_expression(sorted(bounded))))
        if open_start:
            expressions.append(re.compile(_trie_expression(sorted(open_start))))
        return cls(expressions, len(unique), splits)

    def find(self, text: str) -> list[tuple[int, int]] | None:
        """Offsets of possible gazetteer matches, or None when the text cannot be scanned
        (lower-casing changed its length): then treat every paragraph as a candidate.

        Every gazetteer match starts inside one of the returned ranges (overlapping phrases
        are reported once, as the leftmost, longest range).
        """
        searchable = _searchable(text)
        if len(searchable) != len(text):
            return None
        hits = [
            m.span() for expression in self._expressions for m in expression.finditer(searchable)
        ]
        if len(self._expressions) > 1:
            hits.sort()
        return hits


# -- 3. the paragraphs spaCy has to see -----------------------------------------------------------


def paragraph_starts(text: str) -> list[int]:
    """0 and every offset where a paragraph can be cut off from the text before it."""
    return [0, *(match.start() for match in _PARAGRAPH_START.finditer(text) if match.start())]


def context_windows(
    text: str, hits: Sequence[tuple[int, int]], before: int, after: int
) -> list[tuple[int, int]]:
    """Merged (start, end) ranges of whole paragraphs: each paragraph with a hit, ``before``
    paragraphs before it and ``after`` paragraphs after it. Every range but one ending at
    ``len(text)`` ends with a line break and is followed by a non-space character."""
    if not hits:
        return []
    starts = paragraph_starts(text)
    count = len(starts)
    bounds = [*starts, len(text)]
    wanted: list[tuple[int, int]] = []
    for hit_start, _ in hits:
        paragraph = bisect.bisect_right(starts, hit_start) - 1
        first = max(0, paragraph - before)
        last = min(count - 1, paragraph + after)
        wanted.append((first, last))
    wanted.sort()
    windows: list[tuple[int, int]] = []
    current_first, current_last = wanted[0]
    for first, last in wanted[1:]:
        if first <= current_last + 1:
            current_last = max(current_last, last)
        else:
            windows.append((bounds[current_first], bounds[current_last + 1]))
            current_first, current_last = first, last
    windows.append((bounds[current_first], bounds[current_last + 1]))
    return windows


@dataclass(frozen=True)
class Excerpt:
    """Some paragraphs of a text joined into one string, with the way back to the text."""

    text: str
    # (offset in the excerpt, offset in the original text) where each window starts
    _window_starts: tuple[int, ...]
    _original_starts: tuple[int, ...]

    @classmethod
    def of(cls, text: str, windows: Sequence[tuple[int, int]]) -> Excerpt:
        parts, excerpt_starts, original_starts = [], [], []
        length = 0
        for start, end in windows:
            excerpt_starts.append(length)
            original_starts.append(start)
            parts.append(text[start:end])
            length += end - start
        return cls("".join(parts), tuple(excerpt_starts), tuple(original_starts))

    def original_offset(self, offset: int) -> int:
        """The offset in the original text of a character at ``offset`` in the excerpt."""
        window = bisect.bisect_right(self._window_starts, offset) - 1
        return self._original_starts[window] + offset - self._window_starts[window]
