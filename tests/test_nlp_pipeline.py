"""The fast path of ``analyze``: spaCy on the paragraphs around candidate names only.

It must give exactly what spaCy on the whole text gives (``whole_text=True``) — on real articles
and on the layouts where cutting a text into paragraphs could go wrong.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import spacy
from spacy.language import Language

from nlp import analyze, build_pipeline
from nlp.evaluation import load_casie_articles
from nlp.evidence import CANDIDATES_KEY
from nlp.pipeline import GAZETTEER, candidate_finder
from nlp.prefilter import CandidateFinder, Excerpt, context_windows, paragraph_starts
from nlp.results import AnalysisResult

FILLER = "Officials met on Tuesday to discuss the budget. Nothing else happened."


@pytest.fixture(scope="module")
def nlp() -> Language:
    return build_pipeline()


@pytest.fixture(scope="module")
def finder(nlp: Language) -> CandidateFinder:
    found = candidate_finder(nlp)
    assert found is not None
    return found


def with_title(text: str, title: str | None) -> str:
    return f"{title.strip()}\n\n{text}" if title and title.strip() else text


def assert_same_as_whole_text(nlp: Language, text: str, title: str | None = None) -> None:
    assert analyze(nlp, text, title=title) == analyze(nlp, text, title=title, whole_text=True)


def test_fast_path_equals_whole_text_on_real_articles(nlp: Language, shared_data: Path) -> None:
    articles = load_casie_articles(shared_data / "news" / "casie-dev" / "source")
    seed = (shared_data / "news" / "seed-article.md").read_text(encoding="utf-8")
    cases = [(article.text, article.title) for article in articles] + [(seed, None)]
    differing, attributed = [], 0
    for text, title in cases:
        fast = analyze(nlp, text, title=title)
        if fast != analyze(nlp, text, title=title, whole_text=True):
            differing.append(title or text[:60])
        attributed += bool(fast.attributions)
    assert differing == []
    assert attributed >= 5  # not vacuous: the corpus holds attributions


def test_every_gazetteer_match_starts_inside_a_candidate(
    nlp: Language, finder: CandidateFinder, shared_data: Path
) -> None:
    articles = load_casie_articles(shared_data / "news" / "casie-dev" / "source")
    texts = [with_title(a.text, a.title) for a in articles]
    missed, matches, texts_without_hits = [], 0, 0
    with nlp.select_pipes(enable=[GAZETTEER]):
        docs = list(nlp.pipe(texts))
    for text, doc in zip(texts, docs, strict=True):
        hits = finder.find(text)
        assert hits is not None
        texts_without_hits += not hits
        for span in doc.spans[CANDIDATES_KEY]:
            matches += 1
            if not any(start <= span.start_char < end for start, end in hits):
                missed.append(span.text)
    assert missed == []
    assert matches > 50 and texts_without_hits > len(texts) // 2


def test_title_mention_and_late_paragraphs_keep_offsets(nlp: Language) -> None:
    paragraphs = [FILLER] * 12 + [
        "Mandiant said APT29 was behind the intrusion at the ministry.",
        *[FILLER] * 3,
        "The group also targeted a think tank in Brussels.",
    ]
    text = "\n\n".join(paragraphs)
    result = analyze(nlp, text, title="APT29 strikes again")
    assert [text[m.start : m.end] for m in result.mentions] == ["APT29"]
    assert result.mentions[0].start == text.index("APT29")
    assert_same_as_whole_text(nlp, text, title="APT29 strikes again")


@pytest.mark.parametrize(
    "text",
    [
        # "the group" far after the last name: outside the look-back in both paths
        "APT28 is a Russian group.\n" + "\n".join([FILLER] * 9) + "\nThe group breached a bank.",
        "APT28 is a Russian group.\n" + FILLER + "\nThe group breached a bank.",
        # Windows CRLF, indented continuation lines, several blank lines
        "Researchers said\r\n  Lazarus Group hackers stole $81 million.\r\n\r\n\r\n" + FILLER,
        # a name at the very end without a final line break, and one glued to an underscore
        f"{FILLER}\n{FILLER}\nThe breach was the work of _APT28",
        # lower-casing changes the length of "İ": the whole text is read
        "İstanbul police said APT33 hackers breached the airport.\n" + FILLER,
        # two hits far apart: two windows joined into one excerpt
        "Kimsuky hackers targeted the ministry.\n"
        + "\n".join([FILLER] * 15)
        + "\nKimsuky denied nothing; the group breached a nuclear operator.",
        # the speaker of a claim is named in the paragraph before it
        "Microsoft published a report on Monday.\nIt says Fancy Bear breached the agency.",
    ],
)
def test_fast_path_equals_whole_text_on_awkward_layouts(nlp: Language, text: str) -> None:
    assert_same_as_whole_text(nlp, text)


def test_text_without_candidates_never_reaches_spacy(nlp: Language) -> None:
    # Nothing in the text can match the gazetteer, so the early exit must leave no trace.
    assert analyze(nlp, FILLER * 20) == AnalysisResult()


@pytest.fixture
def small_nlp(tmp_path: Path) -> Language:
    """A pipeline over a two-group knowledge base: quick to build, save and load."""
    kb = tmp_path / "groups.json"
    groups = [
        {"id": "G0007", "name": "APT28", "aliases": ["Fancy Bear", "Sofacy"], "country": "RU"},
        {"id": "G0034", "name": "Sandworm Team", "aliases": ["Sandworm"], "country": "RU"},
    ]
    kb.write_text(json.dumps({"groups": groups}), encoding="utf-8")
    return build_pipeline(kb)


def test_loaded_pipeline_gets_its_own_finder(small_nlp: Language, tmp_path: Path) -> None:
    small_nlp.to_disk(tmp_path / "model")
    loaded = spacy.load(tmp_path / "model")
    finder = candidate_finder(loaded)
    assert finder is not None and finder is not candidate_finder(small_nlp)
    text = FILLER + "\nOfficials said Sandworm hackers breached the grid operator."
    assert analyze(loaded, text) == analyze(small_nlp, text)
    assert [a.group_id for a in analyze(loaded, text).attributions] == ["G0034"]


def test_finder_follows_new_gazetteer_patterns(small_nlp: Language) -> None:
    before = candidate_finder(small_nlp)
    assert before is not None and before.find("Acme Spiders were here") == []
    ruler = small_nlp.get_pipe(GAZETTEER)
    ruler.add_patterns([{"label": "APT_GROUP", "pattern": "Acme Spiders", "id": "G0007"}])  # type: ignore[attr-defined]
    after = candidate_finder(small_nlp)
    assert after is not None and after.find("Acme Spiders were here") == [(0, 12)]


def test_no_finder_for_a_gazetteer_it_cannot_cover() -> None:
    normalised = spacy.blank("en")
    normalised.add_pipe("span_ruler", name=GAZETTEER, config={"phrase_matcher_attr": "NORM"})
    assert candidate_finder(normalised) is None
    token_patterns = spacy.blank("en")
    ruler = token_patterns.add_pipe("span_ruler", name=GAZETTEER)
    ruler.add_patterns([{"label": "APT_GROUP", "pattern": [{"LOWER": "apt28"}]}])  # type: ignore[attr-defined]
    assert candidate_finder(token_patterns) is None


# -- the building blocks -------------------------------------------------------------------------


def test_finder_allows_one_space_or_none_between_pattern_tokens() -> None:
    finder = CandidateFinder.from_phrases(["Fancy Bear", "APT-28"], spacy.blank("en").tokenizer)
    text = "FancyBear, fancy bear, Fancy  Bear, APT - 28, apt-28, APT28x, xAPT-28."
    found = [text[start:end] for start, end in finder.find(text) or []]
    assert found == ["FancyBear", "fancy bear", "apt-28"]  # spaCy keeps "APT-28" whole


def test_finder_reports_tokens_spacy_splits_inside_a_word() -> None:
    tokenizer = spacy.blank("en").tokenizer
    # "cannot" is "can" + "not", "10gb" is "10" + "gb": a phrase may start inside those words.
    finder = CandidateFinder.from_phrases(["not", "GB"], tokenizer)
    text = "We cannot store 10gb."
    assert [start for start, _ in finder.find(text) or []] == [text.index("not"), text.index("gb")]


def test_finder_gives_up_when_lower_casing_changes_length() -> None:
    finder = CandidateFinder.from_phrases(["APT28"], spacy.blank("en").tokenizer)
    assert finder.find("İstanbul") is None


def test_gazetteer_tokens_split_from_letters_and_digits_only_where_the_finder_knows(
    nlp: Language,
) -> None:
    """The finder asserts a word boundary around most phrases; that is right only if spaCy's
    tokenizer never starts a token inside a word elsewhere. Ask the tokenizer itself."""
    tokenizer = nlp.tokenizer
    ruler = nlp.get_pipe(GAZETTEER)
    sequences = {
        tuple(t.lower_ for t in tokenizer(p["pattern"]))
        for p in ruler.patterns  # type: ignore[attr-defined]
    }
    finder = candidate_finder(nlp)
    assert finder is not None
    splits = finder.split_points
    wrong = []
    for token in sorted({s[0] for s in sequences if splits.bounded_start(s[0])}):
        for neighbour in ("a", "A", "0"):
            if any(t.idx == 1 for t in tokenizer(neighbour + token)):
                wrong.append(neighbour + token)
    for token in sorted({s[-1] for s in sequences if splits.bounded_end(s[-1])}):
        for neighbour in ("a", "A", "0"):
            if any(t.idx + len(t) == len(token) for t in tokenizer(token + neighbour)):
                wrong.append(token + neighbour)
    assert wrong == []


def test_windows_are_whole_paragraphs_with_context() -> None:
    text = "".join(f"p{i}\n" for i in range(20)) + "last"
    starts = paragraph_starts(text)
    assert len(starts) == 21 and text[starts[5] :].startswith("p5\n")
    hit = (starts[10], starts[10] + 3)
    windows = context_windows(text, [hit], before=2, after=3)
    assert windows == [(starts[8], starts[14])]
    far = (starts[19], starts[19] + 3)
    assert context_windows(text, [hit, far], before=2, after=3) == [
        (starts[8], starts[14]),
        (starts[17], len(text)),
    ]
    assert context_windows(text, [hit, (starts[15], starts[15] + 1)], 2, 3) == [
        (starts[8], starts[19])
    ]


def test_paragraph_cuts_only_before_non_space() -> None:
    text = "a\n  b\n\nc\r\nd"
    assert [text[i] for i in paragraph_starts(text)] == ["a", "c", "d"]


def test_excerpt_maps_offsets_back() -> None:
    text = "zero\none\ntwo\nthree\n"
    excerpt = Excerpt.of(text, [(0, 5), (9, 13)])
    assert excerpt.text == "zero\ntwo\n"
    assert text[excerpt.original_offset(excerpt.text.index("two"))] == "t"
    assert excerpt.original_offset(5) == 9


def test_the_documented_config_builds_the_same_detector(nlp: Language) -> None:
    from spacy.util import load_config, load_model_from_config

    config = load_config(Path(__file__).resolve().parents[1] / "nlp" / "config.cfg")
    from_config = load_model_from_config(config, auto_fill=True)
    from_config.initialize()
    assert from_config.pipe_names == nlp.pipe_names
    text = (
        "The Czech government said APT31 used PlugX. The group breached the ministry.\n\n"
        "Microsoft tracks the actor as Violet Typhoon; Sandworm hackers hit Ukraine."
    )
    # the config's tokenizer ends a sentence at "PlugX." as the built pipeline's does
    assert "PlugX" in [token.text for token in from_config(text)]
    assert analyze(from_config, text) == analyze(nlp, text)
    assert analyze(from_config, text).attributions


def test_the_gazetteer_is_scored_on_the_spans_it_writes(nlp: Language) -> None:
    scorer = nlp.config["components"][GAZETTEER]["scorer"]
    assert scorer["spans_key"] == CANDIDATES_KEY
    assert "aptwatch" in " ".join(nlp.meta["requirements"])
