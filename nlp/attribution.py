"""The attribution component: does a sentence tie activity to a group, and how firmly?

For every sentence that names a group (or refers back to one: "the group", "the hackers"), the
component decides between *attribution* (the text ties an attack, campaign, leak, charge or
sanction to the group) and *background* (alias lists, profiles), and for attributions the stance
(asserted / hedged / negated), who makes the claim (``attributed_by``), the sponsor and a
confidence.
Results go to ``doc.spans["aptwatch_attributions"]``: one span per (sentence, group) over the
mention, ``span.id_`` = group id, ``span.label_`` = stance or "background", details in ``span._``.

Only sentences with a group span are examined, so the cost per document is proportional to the
number of mentions, not to the length of the text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from spacy.language import Language
from spacy.tokens import Doc, Span

from nlp.evidence import GROUPS_KEY

ATTRIBUTIONS_KEY = "aptwatch_attributions"
BACKGROUND = "background"

STRONG_TRIGGERS = frozenset(
    [
        "behind",
        "attributed",
        "attribute",
        "attributes",
        "attributing",
        "attributable",
        "blamed",
        "blame",
        "blames",
        "blaming",
        "perpetrated",
        "perpetrator",
        "perpetrators",
        "responsible",
        "responsibility",
        "accused",
        "accuses",
        "accusing",
        "accusation",
        "accusations",
        "charged",
        "indicted",
        "indictment",
        "indictments",
        "sanctioned",
        "sanctions",
        "sanctioning",
        "orchestrated",
        "masterminded",
        "implicated",
        "culprit",
        "culprits",
    ]
)
LINK_TRIGGERS = frozenset(["linked", "tied", "connected", "traced", "link", "links", "ties"])
ACTIVITY_VERBS = frozenset(
    [
        "hacked",
        "hack",
        "hacks",
        "breached",
        "breach",
        "breaches",
        "targeted",
        "targets",
        "targeting",
        "target",
        "compromised",
        "compromise",
        "compromising",
        "attacked",
        "attack",
        "attacks",
        "attacking",
        "stole",
        "steal",
        "steals",
        "stealing",
        "stolen",
        "leaked",
        "leak",
        "leaks",
        "leaking",
        "released",
        "release",
        "releases",
        "dumped",
        "dump",
        "dumps",
        "published",
        "deployed",
        "deploying",
        "deploy",
        "deploys",
        "used",
        "uses",
        "using",
        "exploited",
        "exploit",
        "exploiting",
        "exploits",
        "launched",
        "launch",
        "launching",
        "launches",
        "infiltrated",
        "infected",
        "infecting",
        "infect",
        "spied",
        "spying",
        "hijacked",
        "defaced",
        "encrypted",
        "exfiltrated",
        "broke",
        "penetrated",
        "accessed",
        "distributed",
        "struck",
        "hit",
        "sent",
        "phished",
        "impersonated",
        "registered",
        "conducted",
        "conducting",
        "carried",
        "waged",
        "mounted",
        "began",
        "returned",
        "resurfaced",
        "threatened",
        "extorted",
        "demanded",
        "claimed",
        "posted",
        "spread",
        "spreading",
        "sought",
        "seeks",
        "tried",
        "attempted",
        "abused",
        "abusing",
        "created",
        "developed",
        "operated",
        "ran",
    ]
)
ACTIVITY_NOUNS = frozenset(
    [
        "attack",
        "attacks",
        "campaign",
        "campaigns",
        "operation",
        "operations",
        "hack",
        "hacks",
        "hacking",
        "breach",
        "breaches",
        "intrusion",
        "intrusions",
        "activity",
        "activities",
        "phishing",
        "espionage",
        "leak",
        "leaks",
        "dump",
        "dumps",
    ]
)
TOOL_VERBS = frozenset({"used", "uses", "developed", "created", "operated", "deployed"})
PASSIVE_ACTIVITY = ACTIVITY_VERBS | ACTIVITY_NOUNS | frozenset({"out"})
PROFILE_PHRASES = (
    "also known as",
    "also tracked as",
    "tracked as",
    "a.k.a",
    "also called",
    "known for",
    "active since",
    "has been active",
    "have been active",
    "is one of",
    "first identified",
    "first spotted",
    "has a history",
)
NEGATION_WORDS = frozenset(
    [
        "not",
        "n't",
        "never",
        "denied",
        "denies",
        "deny",
        "denying",
        "unrelated",
        "nothing",
        "neither",
        "nor",
    ]
)
NEGATION_PHRASES = (
    "no evidence",
    "no indication",
    "no sign",
    "no link",
    "no connection",
    "no proof",
    "ruled out",
    "rule out",
    "rules out",
    "no reason to believe",
)
HEDGE_WORDS = frozenset(
    [
        "suspected",
        "suspect",
        "suspects",
        "suspicion",
        "likely",
        "possibly",
        "possible",
        "probably",
        "probable",
        "believed",
        "believe",
        "believes",
        "may",
        "might",
        "could",
        "appears",
        "appear",
        "appeared",
        "seems",
        "seem",
        "seemed",
        "thought",
        "alleged",
        "allegedly",
        "reportedly",
        "purportedly",
        "potentially",
        "presumably",
        "suggests",
        "suggest",
        "suggested",
        "suggesting",
        "apparently",
        "unconfirmed",
        "resembles",
        "resemble",
        "resembling",
        "consistent",
        "similarities",
        "similarity",
        "overlaps",
        "overlap",
        "hallmarks",
    ]
)
HEDGE_PHRASES = ("moderate confidence", "low confidence")
SPONSOR_SCOPE = frozenset(
    [
        "sponsored",
        "backed",
        "linked",
        "tied",
        "affiliated",
        "connected",
        "associated",
        "working",
        "operating",
        "state",
        "government",
        "kremlin",
        "russia",
        "russian",
        "china",
        "chinese",
        "iran",
        "iranian",
        "korea",
        "korean",
        "north",
        "intelligence",
        "military",
        "gru",
        "fsb",
        "svr",
        "mss",
        "pla",
        "beijing",
        "moscow",
        "tehran",
        "pyongyang",
        "nation-state",
        "state-sponsored",
    ]
)
REPORTING_VERBS = (
    "said|says|say|stated|states|claims|claimed|claim|reported|reports|report|assessed|assesses|"
    "assess|believes|believe|found|finds|concluded|concludes|confirmed|confirms|blamed|blames|"
    "blame|attributed|attributes|attribute|accused|accuses|linked|links|identified|warned|warns|"
    "announced|announces|revealed|reveals|observed|spotted|determined|charged|indicted|sanctioned|"
    "condemned|tracks|calls|told|wrote|noted|added|alleged|alleges|suspects|suspected|suspect|"
    "thinks|think|"
    "discovered|uncovered|detected"
)
ATTRIBUTOR_HEADS = (
    "government|researchers|researcher|officials|official|police|agency|agencies|ministry|"
    "authorities|department|experts|firm|company|investigators|analysts|prosecutors|intelligence|"
    "office|council|centre|center|service|services|team|spokesperson|spokesman|report|minister"
)
_NAME_WORD = r"[A-Z][\w.&'\u2019-]*"
_ATTRIBUTOR = (
    rf"(?:(?:[Tt]he|[Aa]n?)\s+)?(?:(?:{_NAME_WORD}|of|and|for|the|U\.S\.|UK|[a-z]+)\s+){{0,6}}?"
    rf"(?:{_NAME_WORD}|(?:{ATTRIBUTOR_HEADS}))"
)
QUOTE_SPEAKER = re.compile(
    rf"[\"\u201d\u2019]\s*,?\s*(?P<who>{_ATTRIBUTOR})\s+(?:has\s+|have\s+)?(?:{REPORTING_VERBS})\b"
)
INVERTED_SPEAKER = re.compile(
    rf"[\"\u201d\u2019]\s*,?\s*(?:said|says|wrote|added|noted|explained)\s+(?P<who>{_ATTRIBUTOR})(?=[,.;]|$)"
)
ACCORDING_TO = re.compile(rf"\b[Aa]ccording to\s+(?P<who>{_ATTRIBUTOR})")
SUBJECT_SPEAKER = re.compile(
    rf"(?:^|[,;:\u201c\"]\s*|\b(?:and|but|as|while|after|when)\s+)(?P<who>{_ATTRIBUTOR})\s+"
    rf"(?:has\s+|have\s+|had\s+|also\s+|now\s+|publicly\s+|formally\s+|officially\s+)?"
    rf"(?:{REPORTING_VERBS})\b"
)
PRONOUNS = frozenset(
    [
        "it",
        "they",
        "he",
        "she",
        "we",
        "i",
        "you",
        "this",
        "that",
        "these",
        "those",
        "there",
        "which",
        "who",
        "some",
        "many",
        "others",
    ]
)

# State agencies named in text, with the state they belong to.
AGENCIES = (
    (re.compile(r"Ministry of State Security|\bMSS\b"), "China's Ministry of State Security"),
    (
        re.compile(r"People['\u2019]s Liberation Army|\bPLA\b|Unit 61398"),
        "China's People's Liberation Army",
    ),
    (
        re.compile(r"\bGRU\b|Main Intelligence Directorate|Russian military intelligence"),
        "Russia's GRU",
    ),
    (re.compile(r"\bFSB\b|Federal Security Service"), "Russia's FSB"),
    (re.compile(r"\bSVR\b|Foreign Intelligence Service"), "Russia's SVR"),
    (
        re.compile(r"Reconnaissance General Bureau|\bRGB\b"),
        "North Korea's Reconnaissance General Bureau",
    ),
    (re.compile(r"\bIRGC\b|Islamic Revolutionary Guard Corps"), "Iran's IRGC"),
    (re.compile(r"\bMOIS\b|Ministry of Intelligence and Security"), "Iran's MOIS"),
    (re.compile(r"National Security Agency|\bNSA\b"), "the United States' NSA"),
)
COUNTRY_WORDS = (
    (r"Chinese|China|Beijing", "China"),
    (r"Russian|Russia|Kremlin|Moscow", "Russia"),
    (r"North Korean|North Korea|DPRK|Pyongyang", "North Korea"),
    (r"Iranian|Iran|Tehran", "Iran"),
    (r"Vietnamese|Vietnam", "Vietnam"),
    (r"Pakistani|Pakistan", "Pakistan"),
    (r"Indian|India", "India"),
)
STATE_LINK = (
    r"(?:-|\s)?(?:backed|sponsored|linked|based|affiliated|aligned|nexus|state-sponsored|"
    r"state-backed|government|state|military|intelligence|hackers|hacking|cyberespionage|"
    r"cyber-espionage|espionage|threat|APT|group)"
)
COUNTRY_SPONSOR = [
    (re.compile(rf"\b(?:{words}){STATE_LINK}\b"), country) for words, country in COUNTRY_WORDS
]
COUNTRY_NAMES = {
    "CN": "China",
    "RU": "Russia",
    "KP": "North Korea",
    "IR": "Iran",
    "VN": "Vietnam",
    "PK": "Pakistan",
    "IN": "India",
    "KR": "South Korea",
    "US": "United States",
    "IL": "Israel",
    "TR": "Turkey",
    "BY": "Belarus",
    "UA": "Ukraine",
    "LB": "Lebanon",
    "PS": "Palestine",
    "AE": "United Arab Emirates",
}
ANAPHORA = re.compile(
    r"\b(?:[Tt]he|[Tt]his|[Tt]hat|[Tt]hese)\s+(?:same\s+)?"
    r"(?:(?:[a-z][\w-]*|Russian|Chinese|Iranian|North Korean)\s+){0,2}?"
    r"(?:group|hackers|gang|crew|threat actor|actors?|APT|collective|outfit)\b"
)
ANAPHORA_LOOKBACK = 4  # sentences


def _install_extensions() -> None:
    for name in (
        "aptwatch_role",
        "aptwatch_stance",
        "aptwatch_attributed_by",
        "aptwatch_sponsor",
        "aptwatch_evidence",
        "aptwatch_alias",
    ):
        if not Span.has_extension(name):
            Span.set_extension(name, default=None)
    if not Span.has_extension("aptwatch_confidence"):
        Span.set_extension("aptwatch_confidence", default=0.0)


_install_extensions()


@dataclass
class Claim:
    group_id: str
    start: int  # token offsets of the mention (or the referring phrase)
    end: int
    alias: str
    role: str  # "attribution" or BACKGROUND
    stance: str | None
    attributed_by: str | None
    sponsor: str | None
    evidence: str
    confidence: float


@Language.factory("aptwatch_attribution")
def make_attribution(nlp: Language, name: str) -> AttributionDetector:
    return AttributionDetector(nlp)


class AttributionDetector:
    def __init__(self, nlp: Language) -> None:
        # The group facts (country, sponsor) live in the alias filter's knowledge base, so the
        # two components can never disagree about them.
        self._nlp = nlp

    def _kb_sponsor(self, group_id: str) -> str | None:
        if "aptwatch_alias_filter" not in self._nlp.pipe_names:
            return None
        group = self._nlp.get_pipe("aptwatch_alias_filter").kb.get(group_id)  # type: ignore[attr-defined]
        if group is None:
            return None
        if group.sponsor:
            return str(group.sponsor)
        if group.country:
            return COUNTRY_NAMES.get(group.country, group.country)
        return None

    def to_disk(self, path: str | Path, *, exclude: Iterable[str] = ()) -> None:
        Path(path).mkdir(parents=True, exist_ok=True)  # all state is in the code and the KB pipe

    def from_disk(self, path: str | Path, *, exclude: Iterable[str] = ()) -> AttributionDetector:
        return self

    def __call__(self, doc: Doc) -> Doc:
        groups = doc.spans.get(GROUPS_KEY, [])
        if not groups:
            doc.spans[ATTRIBUTIONS_KEY] = []
            return doc
        mentions: dict[tuple[int, int], Span] = {}
        for span in groups:
            mentions.setdefault((span.start, span.end), span)
        by_sentence: dict[int, list[Span]] = {}
        sentences: dict[int, Span] = {}
        for span in mentions.values():
            sent = span.sent
            sentences[sent.start] = sent
            by_sentence.setdefault(sent.start, []).append(span)

        claims: list[Claim] = []
        agency_by_group: dict[str, str] = {}
        country_by_group: dict[str, str] = {}
        for sent_start in sorted(by_sentence):
            sent = sentences[sent_start]
            per_group: dict[str, list[Span]] = {}
            for span in by_sentence[sent_start]:
                per_group.setdefault(span._.aptwatch_group_id, []).append(span)
            agency = _agency(sent.text)
            for group_id, spans in per_group.items():
                if agency:
                    agency_by_group.setdefault(group_id, agency)
                country = _country_sponsor(sent.text)
                if country:
                    country_by_group.setdefault(group_id, country)
                claim = self._judge(sent, spans, group_id, len(per_group))
                claims.append(claim)
        claims += self._anaphora_claims(doc, by_sentence, sentences)

        spans_out = []
        for claim in claims:
            if claim.role != BACKGROUND:
                claim.sponsor = (
                    _agency(claim.evidence)
                    or agency_by_group.get(claim.group_id)
                    or _country_sponsor(claim.evidence)
                    or country_by_group.get(claim.group_id)
                    or self._kb_sponsor(claim.group_id)
                )
            span = Span(
                doc,
                claim.start,
                claim.end,
                label=claim.stance or BACKGROUND,
                span_id=claim.group_id,
            )
            span._.aptwatch_role = claim.role
            span._.aptwatch_stance = claim.stance
            span._.aptwatch_attributed_by = claim.attributed_by
            span._.aptwatch_sponsor = claim.sponsor
            span._.aptwatch_evidence = claim.evidence
            span._.aptwatch_confidence = claim.confidence
            span._.aptwatch_alias = claim.alias
            spans_out.append(span)
        doc.spans[ATTRIBUTIONS_KEY] = spans_out
        return doc

    def _judge(
        self, sent: Span, spans: list[Span], group_id: str, groups_in_sentence: int
    ) -> Claim:
        lower = [token.lower_ for token in sent]
        positions = [(span.start - sent.start, span.end - sent.start) for span in spans]
        first = spans[0]
        evidence = sent.text.strip()
        alias = first.text
        trigger = _find_trigger(lower, positions)
        base = Claim(
            group_id=group_id,
            start=first.start,
            end=first.end,
            alias=alias,
            role=BACKGROUND,
            stance=None,
            attributed_by=None,
            sponsor=None,
            evidence=evidence,
            confidence=0.0,
        )
        if trigger is None:
            return base
        trigger_index, strength = trigger
        sentence_lower = " ".join(lower)
        if strength < 2 and any(phrase in sentence_lower for phrase in PROFILE_PHRASES):
            return base
        mention_index = min(positions, key=lambda p: abs(p[0] - trigger_index))[0]
        stance = _stance(lower, mention_index, trigger_index, positions)
        attributed_by = _attributor(sent.text, [span.text for span in spans])
        confidence = 0.55 + 0.25 * (strength >= 2) + 0.1 * (attributed_by is not None)
        if stance == "hedged":
            confidence -= 0.2
        if any(not span._.aptwatch_resolved for span in spans):
            confidence *= 0.8
        if all(span._.aptwatch_needs_evidence for span in spans):
            confidence *= 0.9
        if groups_in_sentence > 2:
            confidence *= 0.9  # lists of groups are often surveys, not claims
        base.role = "attribution"
        base.stance = stance
        base.attributed_by = attributed_by
        base.confidence = round(min(0.99, max(0.05, confidence)), 3)
        return base

    def _anaphora_claims(
        self, doc: Doc, by_sentence: dict[int, list[Span]], sentences: dict[int, Span]
    ) -> list[Claim]:
        """'The group', 'the hackers' in a later sentence, resolved to the only group in view."""
        first_char = min(span.start_char for spans in by_sentence.values() for span in spans)
        claims = []
        named_sentence_starts = sorted(by_sentence)
        seen: set[int] = set()
        for match in ANAPHORA.finditer(doc.text, first_char):
            phrase = doc.char_span(match.start(), match.end(), alignment_mode="expand")
            if phrase is None:
                continue
            sent = phrase.sent
            if sent.start in by_sentence or sent.start in seen:
                continue
            previous = [s for s in named_sentence_starts if s < sent.start]
            if not previous:
                continue
            last = previous[-1]
            recent = [s for s in doc.sents if last <= s.start < sent.start]
            if len(recent) > ANAPHORA_LOOKBACK:
                continue
            antecedents = {span._.aptwatch_group_id for span in by_sentence[last]}
            if len(antecedents) != 1:
                continue
            group_id = next(iter(antecedents))
            seen.add(sent.start)
            claim = self._judge(sent, [phrase], group_id, 1)
            if claim.role == BACKGROUND:
                continue
            claim.confidence = round(claim.confidence * 0.8, 3)
            claims.append(claim)
        return claims


def _find_trigger(lower: list[str], positions: list[tuple[int, int]]) -> tuple[int, int] | None:
    """(token index, strength) of the word tying activity to the group; strength 2 = explicit."""
    best: tuple[int, int] | None = None

    def offer(index: int, strength: int) -> None:
        nonlocal best
        if best is None or strength > best[1]:
            best = (index, strength)

    inside = {i for start, end in positions for i in range(start, end)}
    for index, word in enumerate(lower):
        if index in inside:
            continue
        if word in STRONG_TRIGGERS:
            if _near(index, positions, 14):
                offer(index, 2)
        elif word in LINK_TRIGGERS:
            # "activity linked to APT28" ties activity to the group; "APT31, linked to the MSS"
            # ties the group to a sponsor.
            following = lower[index + 1 : index + 3]
            if ("to" in following or "with" in following) and any(
                index < start <= index + 6 for start, _ in positions
            ):
                offer(index, 2)
        elif word == "by" and any(index < start <= index + 4 for start, _ in positions):
            before = [w for w in lower[max(0, index - 6) : index] if w in PASSIVE_ACTIVITY]
            # "malware developed and used by Fancy Bear" ties a tool to the group, not an attack.
            if before and not all(w in TOOL_VERBS for w in before):
                offer(index, 2 if "out" in lower[max(0, index - 2) : index] else 1)
        elif word in ACTIVITY_VERBS:
            if any(end <= index and index - end <= 12 for _, end in positions):
                offer(index, 1)
        elif word in ACTIVITY_NOUNS and any(0 <= index - end <= 1 for _, end in positions):
            offer(index, 1)  # "APT31 attacks", "Fancy Bear hacks"
    for _, end in positions:  # "APT28's campaign"
        if (
            end + 1 < len(lower)
            and lower[end] in {"'s", "\u2019s"}
            and lower[end + 1] in ACTIVITY_NOUNS
        ):
            offer(end + 1, 1)
    return best


def _near(index: int, positions: list[tuple[int, int]], distance: int) -> bool:
    return any(
        abs(index - start) <= distance or abs(index - end) <= distance for start, end in positions
    )


def _stance(lower: list[str], mention: int, trigger: int, positions: list[tuple[int, int]]) -> str:
    lo = max(0, min(mention, trigger) - 8)
    hi = min(len(lower), max(mention, trigger) + 4)
    window = lower[lo:hi]
    text = " ".join(window)
    if any(phrase in text for phrase in NEGATION_PHRASES):
        return "negated"
    for offset, word in enumerate(window):
        if word in NEGATION_WORDS:
            following = window[offset + 1 : offset + 2]
            if following and following[0] in {"only", "just", "least"}:
                continue
            return "negated"
    if any(phrase in text for phrase in HEDGE_PHRASES):
        return "hedged"
    mention_starts = [start for start, _ in positions]
    for offset, word in enumerate(window):
        if word not in HEDGE_WORDS:
            continue
        index = lo + offset
        after = lower[index + 1 : index + 5]
        # "APT28, believed to be sponsored by Russia" hedges the sponsor, not the attribution.
        group_before = any(start < index for start in mention_starts)
        if group_before and any(w in SPONSOR_SCOPE for w in after) and index > trigger:
            continue
        if (
            group_before
            and any(w in SPONSOR_SCOPE for w in after)
            and not any(w in STRONG_TRIGGERS or w in ACTIVITY_VERBS for w in after)
        ):
            continue
        return "hedged"
    return "asserted"


def _clean_attributor(raw: str, aliases: list[str]) -> str | None:
    who = raw.strip(" ,;:\"\u201c\u201d'\u2019")
    if who.endswith(".") and "." not in who.split()[-1][:-1]:
        who = who[:-1]  # the sentence's period, not an abbreviation such as "U.S."
    who = re.sub(r"^(?:and|but|as|while|after|when)\s+", "", who)
    if not who or who.split()[0].lower() in PRONOUNS:
        return None
    if any(alias.lower() in who.lower() for alias in aliases):
        return None
    if not re.search(r"[A-Z]", who) and not re.search(rf"\b(?:{ATTRIBUTOR_HEADS})\b", who):
        return None
    words = who.split()
    if len(words) > 8:
        who = " ".join(words[-8:])
    return who


def _attributor(sentence: str, aliases: list[str]) -> str | None:
    for pattern in (ACCORDING_TO, QUOTE_SPEAKER, INVERTED_SPEAKER, SUBJECT_SPEAKER):
        for match in pattern.finditer(sentence):
            who = _clean_attributor(match.group("who"), aliases)
            if who:
                return who
    return None


def _agency(text: str) -> str | None:
    for pattern, agency in AGENCIES:
        if pattern.search(text):
            return agency
    return None


def _country_sponsor(text: str) -> str | None:
    for pattern, country in COUNTRY_SPONSOR:
        if pattern.search(text):
            return country
    return None
