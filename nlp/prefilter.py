"""A cheap necessary condition for a group mention, checked before spaCy tokenises a text.

Most crawled articles name no group. Tokenising them costs more than everything else, so
``analyze`` first asks whether every word piece of some alias occurs in the text (letter case
included for names that are ordinary words: "lead" cannot be "LEAD"). If not, no gazetteer
pattern can match and the text is skipped; the pipeline itself is unchanged.
"""

from __future__ import annotations

import re
from collections import defaultdict

from nlp.kb import KnowledgeBase
from nlp.names import name_variants

_PIECE = re.compile(r"[^\W_]+")


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
                    index[rarest].append((frozenset(pieces), needs_capital))
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
