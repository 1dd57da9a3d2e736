"""The accuracy harness: loaders on the real shared files, metrics on hand-made cases, and a full
evaluation run against the real detector."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from nlp.evaluation import (
    PRF,
    EvalReport,
    EvaluationDataError,
    NameIndex,
    TaggedCorpus,
    TaggedDocument,
    TaggedSentence,
    decode_spans,
    evaluate,
    evaluate_casie,
    evaluate_tagged_corpus,
    gold_spans,
    layout_document,
    load_annoctr,
    load_aptner,
    load_casie_articles,
    load_casie_labels,
    load_dnrti,
    loose_match,
    main,
    read_tagged_file,
    score_known_spans,
    score_sets,
    score_spans,
)
from nlp.kb import Group

# ------------------------------------------------------------------------------------ loaders


def test_aptner_dev_parses_crlf_file_into_sentences_and_apt_spans(shared_data: Path) -> None:
    corpus = load_aptner(shared_data / "ner" / "aptner" / "APTNERdev.txt")
    assert corpus.sentence_count == 1752
    assert sum(len(gold_spans(doc, "APT")) for doc in corpus.documents) == 349
    tokens = [t for doc in corpus.documents for s in doc.sentences for t in s.tokens]
    assert not any("\r" in token for token in tokens)
    magic_hound = next(doc for doc in corpus.documents if doc.doc_id == "APTNERdev:7883")
    laid_out = layout_document(magic_hound)
    assert [laid_out.span_text(span) for span in gold_spans(magic_hound, "APT")] == ["Magic Hound"]


def test_aptner_line_with_two_tags_keeps_token_and_last_tag(shared_data: Path) -> None:
    # line 1867 reads "C2 S-TOOL B-TOOL": one token, and B-TOOL opens "C2 server"
    corpus = load_aptner(shared_data / "ner" / "aptner" / "APTNERdev.txt")
    sentence = next(
        s
        for doc in corpus.documents
        for s in doc.sentences
        if s.line <= 1867 < s.line + len(s.tokens)
    )
    index = 1867 - sentence.line
    assert sentence.tokens[index : index + 2] == ("C2", "server")
    assert decode_spans(sentence.tags, "TOOL") == [(index, index + 2)]


def test_dnrti_train_and_valid_counts(shared_data: Path) -> None:
    train = load_dnrti(shared_data / "ner" / "dnrti" / "train.txt")
    valid = load_dnrti(shared_data / "ner" / "dnrti" / "valid.txt")
    assert (train.sentence_count, valid.sentence_count) == (5251, 662)
    assert sum(len(gold_spans(doc, "HackOrg")) for doc in valid.documents) == 426
    first = train.documents[0]
    assert first.sentences[0].tokens[:3] == ("The", "admin@338", "has")
    assert gold_spans(first, "HackOrg") == [(1, 2)]


def test_annoctr_documents_use_column_seven(shared_data: Path) -> None:
    train = load_annoctr(shared_data / "ner" / "annoctr" / "train.bio")
    dev = load_annoctr(shared_data / "ner" / "annoctr" / "dev.bio")
    assert (len(train.documents), len(dev.documents)) == (70, 16)
    assert (train.sentence_count, dev.sentence_count) == (7570, 1550)
    assert sum(len(gold_spans(doc, "GROUP")) for doc in dev.documents) == 99
    laid_out = layout_document(dev.documents[0])
    found = [laid_out.span_text(span) for span in gold_spans(dev.documents[0], "GROUP")]
    assert found == ["APT40", "Winnti"]


def test_casie_articles_and_labels(shared_data: Path) -> None:
    articles = load_casie_articles(shared_data / "news" / "casie-dev" / "source")
    labels = load_casie_labels(shared_data / "news" / "casie-groups-dev.jsonl")
    assert len(articles) == 406
    assert len(labels) == 84
    by_id = {article.article_id: article for article in articles}
    fancy_bear = by_id["10050"]
    assert fancy_bear.title == "Russia's Fancy Bear Hackers Are Stealing Athlete Drug Data Again"
    assert fancy_bear.text.startswith("The Fancy Bear hackers, believed to be sponsored")
    assert "</text>" not in fancy_bear.text
    assert labels["10050"]["mentions"] == ["APT28"]


def test_missing_file_is_a_named_data_error(tmp_path: Path) -> None:
    with pytest.raises(EvaluationDataError, match=r"missing: .*nothing\.txt"):
        read_tagged_file(tmp_path / "nothing.txt")
    with pytest.raises(EvaluationDataError, match="no shared evaluation data"):
        evaluate(tmp_path)


def test_broken_label_line_names_file_and_line(tmp_path: Path) -> None:
    labels = tmp_path / "labels.jsonl"
    labels.write_text('{"id": "1"}\n{"id": \n', encoding="utf-8")
    with pytest.raises(EvaluationDataError, match=r"labels\.jsonl:2: not JSON"):
        load_casie_labels(labels)


def test_missing_tab_column_names_line(tmp_path: Path) -> None:
    bio = tmp_path / "short.bio"
    bio.write_text("APT28\tB-GROUP\n", encoding="utf-8")
    with pytest.raises(EvaluationDataError, match=r"short\.bio:1: expected at least 7"):
        read_tagged_file(bio, tag_column=6)


# ------------------------------------------------------------------------------------ metrics


def test_decode_spans_bioes_bio_and_stray_tags() -> None:
    assert decode_spans(["B-APT", "I-APT", "E-APT", "O", "S-APT"], "APT") == [(0, 3), (4, 5)]
    assert decode_spans(["B-HackOrg", "I-HackOrg", "B-HackOrg", "O"], "HackOrg") == [
        (0, 2),
        (2, 3),
    ]
    # an I- without a B- still opens a span; another label closes it
    assert decode_spans(["O", "I-GROUP", "I-GROUP", "B-ORG"], "GROUP") == [(1, 3)]


def test_prf_numbers_and_empty_denominators() -> None:
    prf = PRF(tp=3, fp=1, fn=2)
    assert prf.precision == 0.75
    assert prf.recall == 0.6
    assert prf.f1 == pytest.approx(2 * 0.75 * 0.6 / 1.35)
    assert PRF(0, 0, 0).precision == 0.0
    assert PRF(0, 0, 0).f1 == 0.0
    assert PRF(1, 0, 0) + PRF(0, 2, 3) == PRF(1, 2, 3)


def test_score_spans_exact_and_overlap() -> None:
    gold = [(0, 2), (5, 6)]
    predicted = [(0, 2), (3, 4), (5, 7)]
    assert score_spans(gold, predicted, "exact") == PRF(tp=1, fp=2, fn=1)
    assert score_spans(gold, predicted, "overlap") == PRF(tp=2, fp=1, fn=0)


def test_known_view_counts_only_predictions_touching_no_gold_as_false_positives() -> None:
    known = [(0, 2)]
    all_gold = [(0, 2), (4, 6)]  # (4, 6) is a generic span like "the group"
    predicted = [(0, 2), (4, 5), (8, 9)]
    assert score_known_spans(known, all_gold, predicted, "exact") == PRF(tp=1, fp=1, fn=0)
    # a boundary miss on a known span is a false negative, never a false positive
    assert score_known_spans(known, all_gold, [(1, 2)], "exact") == PRF(tp=0, fp=0, fn=1)
    assert score_known_spans(known, all_gold, [(1, 2)], "overlap") == PRF(tp=1, fp=0, fn=0)


def test_score_sets_is_micro_over_documents() -> None:
    gold = {"a": {"G0007"}, "b": {"G0045", "G0016"}}
    predicted = {"a": {"G0007", "G0010"}, "c": {"G0032"}}
    assert score_sets(gold, predicted, ["a", "b", "c"]) == PRF(tp=1, fp=2, fn=2)


def test_loose_match() -> None:
    assert loose_match("Russia's main intelligence arm, the GRU (believed)", "GRU")
    assert loose_match("Russian state", "Russia")
    assert loose_match("Trend Micro", "researchers at Trend Micro")
    assert not loose_match("China (suspected)", "Russia")
    assert not loose_match("security firms", "security researchers")
    assert loose_match("the report's authors", "the report's authors")
    assert not loose_match("intelligence officials", "computer security experts")
    assert not loose_match("Trend Micro", None)


def test_name_index_known_names_and_resolution() -> None:
    index = NameIndex.from_groups(
        [
            Group("G0007", "APT28", ("Fancy Bear", "Sofacy"), mitre_id="G0007"),
            Group("misp:the-shadow-brokers", "The Shadow Brokers"),
            Group("G0016", "APT29", ("Cozy Bear", "Grizzly Steppe"), mitre_id="G0016"),
            Group("misp:unc2452", "UNC2452", ("Grizzly Steppe",)),
        ]
    )
    assert index.is_known("fancy  bear")
    assert index.is_known("Fancy-Bear")
    assert index.is_known("Shadow Brokers")
    assert not index.is_known("the group")
    assert index.resolve("Sofacy") == "G0007"
    assert index.resolve("the Shadow Brokers") == "misp:the-shadow-brokers"
    assert index.resolve("Grizzly Steppe") is None  # two groups: not guessed
    assert index.mitre_id("G0016") == "G0016"
    assert index.mitre_id("misp:unc2452") is None


def test_layout_maps_char_spans_back_to_tokens() -> None:
    document = TaggedDocument(
        "d",
        (
            TaggedSentence(("the", "Fancy", "Bear", "group", "."), ("O",) * 5, 1),
            TaggedSentence(("APT28", "struck"), ("S-APT", "O"), 7),
        ),
    )
    laid_out = layout_document(document)
    assert laid_out.text == "the Fancy Bear group .\nAPT28 struck"
    assert laid_out.token_span(4, 14) == (1, 3)
    assert laid_out.token_span(5, 9) == (1, 2)  # part of a token widens to the token
    assert laid_out.token_span(14, 15) is None  # only whitespace
    assert laid_out.char_span((5, 6)) == (23, 28)
    assert laid_out.without_article((0, 3)) == (1, 3)
    assert gold_spans(document, "APT") == [(5, 6)]
    assert laid_out.context((5, 6)) == "[[APT28]] struck"


# ------------------------------------------------------------------------------------ real runs


@pytest.fixture(scope="module")
def pipeline() -> Any:
    from nlp import build_pipeline

    return build_pipeline()


@pytest.fixture(scope="module")
def report(shared_data: Path, pipeline: Any) -> EvalReport:
    return evaluate(shared_data, pipeline, collect_errors=True)


def test_hand_made_corpus_scores_a_detected_known_name(pipeline: Any) -> None:
    from nlp import analyze
    from nlp.kb import load_groups

    sentence = TaggedSentence(
        ("Researchers", "said", "APT28", "and", "the", "attackers", "hit", "the", "ministry", "."),
        ("O", "O", "S-APT", "O", "B-APT", "E-APT", "O", "O", "O", "O"),
        1,
    )
    corpus = TaggedCorpus("hand", "APT", (TaggedDocument("hand:1", (sentence,)),))
    scores = evaluate_tagged_corpus(
        corpus,
        lambda text, title: analyze(pipeline, text, title=title),
        NameIndex.from_groups(load_groups()),
    )
    assert scores.known_spans == PRF(tp=1, fp=0, fn=0)
    assert scores.all_spans == PRF(tp=1, fp=0, fn=1)  # "the attackers" is no known name


def test_alerts_from_articles_outside_the_labels_are_counted_and_named(
    pipeline: Any, tmp_path: Path
) -> None:
    from nlp import analyze
    from nlp.kb import load_groups

    source = tmp_path / "casie-dev" / "source"
    source.mkdir(parents=True)
    claim = "<title>Leak</title>\n<text>\nAPT28 hackers breached the ministry.\n</text>\n"
    (source / "1.txt").write_text(claim, encoding="utf-8")
    (source / "2.txt").write_text(claim, encoding="utf-8")
    (tmp_path / "casie-groups-dev.jsonl").write_text(
        '{"id": "1", "mentions": ["APT28"], "attributions": [], "negated": []}\n', encoding="utf-8"
    )
    scores = evaluate_casie(
        tmp_path,
        lambda text, title: analyze(pipeline, text, title=title),
        NameIndex.from_groups(load_groups()),
    )
    assert scores.false_alert_ids == ("1", "2")
    assert scores.unlabelled_alert_ids == ("2",)


def test_evaluation_reports_every_dataset(report: EvalReport) -> None:
    by_name = {scores.dataset: scores for scores in report.mentions}
    assert list(by_name) == [
        "APTNERdev",
        "dnrti-train",
        "dnrti-valid",
        "annoctr-train",
        "annoctr-dev",
    ]
    gold = {name: s.all_spans.tp + s.all_spans.fn for name, s in by_name.items()}
    assert gold == {
        "APTNERdev": 349,
        "dnrti-train": 3424,
        "dnrti-valid": 426,
        "annoctr-train": 387,
        "annoctr-dev": 99,
    }
    for scores in report.mentions:
        known_gold = scores.known_spans.tp + scores.known_spans.fn
        assert 0 < known_gold < scores.all_spans.tp + scores.all_spans.fn
        # the detector finds some known names in every corpus
        assert scores.known_spans.tp > 0
    assert report.aliases.without_mitre_id == 143
    assert report.aliases.scored + report.aliases.unlocatable == 360
    assert report.aliases.correct > 0
    assert report.casie.articles == 406
    assert report.casie.labelled_articles == 84
    # every labelled attribution group is gold: TP + FN is fixed by the labels, not the detector
    assert report.casie.attributions.tp + report.casie.attributions.fn == 26


def test_report_table_and_json_agree(report: EvalReport, tmp_path: Path) -> None:
    table = report.format_table()
    assert "Matching rule (exact)" in table
    for scores in report.mentions:
        assert scores.dataset in table
    assert f"{len(report.casie.false_alert_ids)}  target 0" in table
    # a labelled group the KB cannot name is shown, since it caps recall whatever the detector does
    for name in report.casie.unresolved_labels:
        assert name in table
    data = json.loads(json.dumps(report.to_json()))
    assert data["casie"]["false_alert_ids"] == list(report.casie.false_alert_ids)
    assert data["mentions"][0]["known_spans"]["tp"] == report.mentions[0].known_spans.tp
    # every error points at a place and shows what was found or missed
    assert all(error.where and error.detail for error in report.errors)


def test_main_writes_json_and_exits_2_on_bad_folder(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--shared", str(tmp_path)]) == 2
    assert "no shared evaluation data" in capsys.readouterr().err
    out = tmp_path / "report.json"
    assert main(["--shared", str(shared_data), "--json", str(out)]) == 0
    written = json.loads(out.read_text(encoding="utf-8"))
    assert written["casie"]["articles"] == 406
    assert "Alias resolution" in capsys.readouterr().out
