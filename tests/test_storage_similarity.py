"""storage.similarity: deterministic fingerprints, and story thresholds checked on real news.

The real-data checks use the 406 CASIE dev articles (2017-2019 security news). Among them a few
pairs really are one event told by two outlets (identical reposts, rewrites quoting the same
statements); they were read and are listed in SAME_EVENT. Every other pair must stay apart,
while a copy with other boilerplate and whitespace, a copy with a fifth of its sentences
rewritten, and a truncated syndicated copy of each article must cluster with it.
"""

from __future__ import annotations

import random
import re
from collections import Counter, defaultdict
from itertools import combinations
from pathlib import Path

import pytest

from storage import similarity
from storage.repository import normalise_text
from storage.similarity import (
    MIN_SHARED_SHINGLES,
    compare,
    fingerprint,
    same_story,
    shingles,
    sketch,
    title_similarity,
    words,
)

# Pairs of CASIE dev articles that report one event (checked by reading them): an identical
# repost, and reports from different outlets quoting the same statements.
SAME_EVENT = {
    frozenset({"1530", "1554"}),  # FAFSA tool offline, reposted
    frozenset({"10039", "10040"}),  # iOS 10.3 Safari ransom pop-up fix (MacTrast, MacRumors)
    frozenset({"10275", "10287"}),  # WhatsApp call-answer flaw (9to5Mac, The Register)
    frozenset({"10345", "10346"}),  # ONWASA / Onslow County utility ransomware (two TV stations)
}
BOILERPLATE_HEAD = (
    "Home | News | Security | Subscribe to our newsletter. Share this article on Facebook, "
    "Twitter, LinkedIn or by email."
)
BOILERPLATE_TAIL = (
    "Copyright 2019 Example Media Group. All rights reserved. Related stories: ten tips for safer "
    "passwords; why patching matters. Sign up for our daily briefing. Comments are closed."
)


# --- pure functions -------------------------------------------------------------------------------


def test_words_match_the_article_identity_normalisation() -> None:
    text = "<p>APT31  targeted the <b>ministry\u2019s</b> network,\n officials said.</p>&nbsp;"
    assert words(text) == [
        "apt31",
        "targeted",
        "the",
        "ministry",
        "s",
        "network",
        "officials",
        "said",
    ]
    assert " ".join(words(text)) == normalise_text(text)


def test_fingerprints_are_the_same_in_every_process() -> None:
    # Pinned values: band keys are stored and must be found again by later processes, so they
    # may not depend on Python's per-process salted hash() (or change silently).
    keys = fingerprint("The quick brown fox jumps over the lazy dog").band_keys
    assert keys[:2] == (-7131403823537009731, 2435464970927296372)
    assert len(keys) == similarity.BANDS
    assert all(-(2**63) <= key < 2**63 for key in keys)


def test_empty_and_tiny_texts_are_handled() -> None:
    assert shingles("") == frozenset()
    assert len(shingles("two words")) == 1
    assert len(sketch(frozenset())) == similarity.SKETCH_BINS
    with pytest.raises(ValueError, match="shingle size must be at least 1, got 0"):
        shingles("some text", size=0)
    with pytest.raises(ValueError, match="a sketch has 128 values, got 3"):
        similarity.band_keys((1, 2, 3))


def test_short_texts_never_cluster_however_alike() -> None:
    # Two one-line notices about different events share almost all their words.
    first = "APT31 breached the ministry of foreign affairs network, officials said on Monday."
    second = "APT31 breached the ministry of finance network, officials said on Monday."
    assert compare(shingles(first), shingles(second)).jaccard > 0.3
    assert not same_story(first, second, "APT31 breach", "APT31 breach")


def test_title_similarity_ignores_filler_words() -> None:
    assert title_similarity("Czechia blames APT31 for ministry hack", "APT31 ministry hack") == 0.6
    assert title_similarity("The hack of the year", "The end of the year") == pytest.approx(1 / 3)
    assert title_similarity(None, "anything") == 0.0


# --- real news ----------------------------------------------------------------------------------


def _casie_articles(shared_data: Path) -> list[tuple[str, str | None, str]]:
    articles = []
    for path in sorted((shared_data / "news" / "casie-dev" / "source").glob("*.txt")):
        raw = path.read_text(encoding="utf-8", errors="replace")
        title = re.search(r"<title>(.*?)</title>", raw, re.S)
        text = re.search(r"<text>(.*?)(?:</text>|$)", raw, re.S)
        articles.append(
            (
                path.stem,
                title.group(1).strip() if title else None,
                text.group(1).strip() if text else raw,
            )
        )
    assert len(articles) >= 400, "expected the 406 CASIE dev articles"
    return articles


@pytest.fixture(scope="module")
def casie(shared_data: Path) -> list[tuple[str, str | None, str, frozenset[int]]]:
    return [(doc, title, text, shingles(text)) for doc, title, text in _casie_articles(shared_data)]


def test_no_two_unrelated_real_articles_form_a_story(
    casie: list[tuple[str, str | None, str, frozenset[int]]],
) -> None:
    # Exact shared-shingle counts for every pair through an inverted index (a pair sharing fewer
    # than MIN_SHARED_SHINGLES cannot cluster, whatever its other scores).
    postings: defaultdict[int, list[int]] = defaultdict(list)
    for index, (_, _, _, shingle_set) in enumerate(casie):
        for value in shingle_set:
            postings[value].append(index)
    shared: Counter[tuple[int, int]] = Counter()
    for documents in postings.values():
        if 1 < len(documents) < 50:  # a shingle in 50+ articles is a stock phrase
            shared.update(combinations(documents, 2))

    clustered = set()
    for (first, second), count in shared.items():
        if count < MIN_SHARED_SHINGLES:
            continue
        a, b = casie[first], casie[second]
        if compare(a[3], b[3], a[1], b[1]).same_story:
            clustered.add(frozenset({a[0], b[0]}))
    assert clustered == SAME_EVENT


def _boilerplate_copy(text: str) -> str:
    spaced = re.sub(r"\s+", lambda match: "  \n " if len(match.group()) > 1 else " ", text)
    return f"{BOILERPLATE_HEAD}\n\n  {spaced}\n\n{BOILERPLATE_TAIL}"


def _rewrite_a_fifth(text: str, rng: random.Random, vocabulary: list[str]) -> str:
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", text) if s]
    rewritten = set(rng.sample(range(len(sentences)), max(1, round(len(sentences) * 0.2))))
    out = []
    for index, sentence in enumerate(sentences):
        if index in rewritten:  # reordered, and half its words replaced
            tokens = sentence.split()
            rng.shuffle(tokens)
            sentence = " ".join(t if rng.random() < 0.5 else rng.choice(vocabulary) for t in tokens)
        out.append(sentence)
    return " ".join(out)


def _truncated(text: str) -> str:
    tokens = text.split()
    return " ".join(tokens[: int(len(tokens) * 0.4)]) + " Read the full story on our partner site."


def test_copies_rewrites_and_truncations_of_real_articles_cluster(
    casie: list[tuple[str, str | None, str, frozenset[int]]],
) -> None:
    rng = random.Random(2017)
    vocabulary = [token for _, _, text, _ in casie for token in text.split()]
    # Every third article of at least 150 words (a 40% teaser still has 60 words).
    sample = [doc for doc in casie[::3] if len(doc[2].split()) >= 150]
    assert len(sample) > 100
    original_keys = {doc_id: set(similarity.band_keys(sketch(s))) for doc_id, _, _, s in sample}
    variants = {
        "boilerplate copy": _boilerplate_copy,
        "a fifth rewritten": lambda text: _rewrite_a_fifth(text, rng, vocabulary),
        "truncated to 40%": _truncated,
    }
    for name, make in variants.items():
        missed = []
        for doc_id, title, text, shingle_set in sample:
            variant = make(text)
            variant_fingerprint = fingerprint(variant)
            found_by_lookup = original_keys[doc_id] & set(variant_fingerprint.band_keys)
            judged = compare(shingle_set, variant_fingerprint.shingles, title, None).same_story
            if not (found_by_lookup and judged):
                missed.append(doc_id)
        assert missed == [], f"{name}: {len(missed)} of {len(sample)} not clustered"
