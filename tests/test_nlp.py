"""The detector end to end: mentions, the needs-evidence filter and attribution stance."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from spacy.language import Language

from nlp import NlpError, analyze, build_pipeline
from nlp.results import AnalysisResult

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def nlp() -> Language:
    return build_pipeline()


@pytest.fixture(scope="module")
def seed(nlp: Language, shared_data: Path) -> AnalysisResult:
    text = (shared_data / "news" / "seed-article.md").read_text(encoding="utf-8")
    return analyze(nlp, text)


def by_group(result: AnalysisResult) -> dict[str, str]:
    return {a.group_id: a.stance for a in result.attributions}


def test_seed_article_attributes_apt31_per_the_czech_government(seed: AnalysisResult) -> None:
    apt31 = next(a for a in seed.attributions if a.group_id == "G0128")
    assert apt31.stance == "asserted"
    assert apt31.attributed_by is not None and "Czech" in apt31.attributed_by
    assert apt31.sponsor is not None
    assert "China" in apt31.sponsor or "Ministry of State Security" in apt31.sponsor
    assert "APT31" in apt31.evidence


def test_seed_article_aliases_resolve_to_the_apt31_group(seed: AnalysisResult) -> None:
    ids = {m.alias: m.group_id for m in seed.mentions}
    assert ids["APT31"] == ids["Zirconium"] == ids["Judgment Panda"] == "G0128"


def test_seed_article_reports_apt40(seed: AnalysisResult) -> None:
    assert "G0065" in by_group(seed)


def test_mention_offsets_point_into_the_text(nlp: Language) -> None:
    text = "Analysts said Fancy Bear hackers breached the agency."
    result = analyze(nlp, text, title="Breach at the agency")
    (mention,) = result.mentions
    assert text[mention.start : mention.end] == "Fancy Bear" and mention.group_id == "G0007"


@pytest.mark.parametrize(
    "text",
    [
        "Sandworm is the best part of Dune. The sandworm swallowed the spice harvester whole.",
        "Lead poisoning harms children; old lead pipes could lead to exposure.",
        "The update is on Google Play and the Play Store.",
        "She spoke at the Security Analyst Summit in Cancun.",
    ],
)
def test_ordinary_words_raise_nothing(nlp: Language, text: str) -> None:
    result = analyze(nlp, text)
    assert result.mentions == [] and result.attributions == []


def test_ordinary_word_name_counts_with_a_group_cue(nlp: Language) -> None:
    result = analyze(nlp, "The Silence hackers breached three banks in Russia.")
    assert [m.alias for m in result.mentions] == ["Silence"]
    assert by_group(result) == {"G0091": "asserted"}


def test_alias_list_is_background_not_attribution(nlp: Language) -> None:
    result = analyze(nlp, "APT28, also tracked as Fancy Bear and Sofacy, is a Russian group.")
    assert {m.group_id for m in result.mentions} == {"G0007"} and len(result.mentions) == 3
    assert result.attributions == []


def test_no_evidence_linking_is_negated(nlp: Language) -> None:
    result = analyze(nlp, "There is no evidence linking APT28 to the attack.")
    assert by_group(result) == {"G0007": "negated"}


def test_suspicion_is_hedged(nlp: Language) -> None:
    result = analyze(nlp, "Researchers suspect Lazarus Group was behind the bank heist.")
    assert by_group(result) == {"G0032": "hedged"}


def test_sponsor_hedge_does_not_hedge_the_attribution(nlp: Language) -> None:
    text = (
        "The Fancy Bear hackers, believed to be sponsored by Russia's GRU, have breached the IAAF."
    )
    (attribution,) = analyze(nlp, text).attributions
    assert attribution.stance == "asserted" and attribution.sponsor == "Russia's GRU"


def test_attributor_named_by_according_to(nlp: Language) -> None:
    text = "The intrusion was carried out by APT29, according to Mandiant."
    (attribution,) = analyze(nlp, text).attributions
    assert attribution.attributed_by == "Mandiant" and attribution.stance == "asserted"


def test_strongest_claim_wins_per_group(nlp: Language) -> None:
    text = (
        "Experts said Tuesday's phishing probably wasn't from APT28. "
        "Trend Micro said APT28 was behind the earlier campaign against NATO."
    )
    assert by_group(analyze(nlp, text)) == {"G0007": "asserted"}


def test_the_group_refers_back_to_the_named_group(nlp: Language) -> None:
    text = "Kimsuky is a North Korean espionage outfit. The group breached a nuclear operator."
    (attribution,) = analyze(nlp, text).attributions
    assert attribution.group_id == "G0094" and attribution.alias.lower() == "the group"


def test_ambiguous_name_exposes_every_candidate(nlp: Language) -> None:
    result = analyze(nlp, "US agencies tied Grizzly Steppe to the election hacks.")
    (mention,) = result.mentions
    assert set(mention.candidates) == {"G0007", "G0016"}
    doc = nlp("US agencies tied Grizzly Steppe to the election hacks.")
    assert {span.id_ for span in doc.spans["aptwatch_groups"]} == {"G0007", "G0016"}


def test_name_inside_a_link_is_not_a_mention(nlp: Language) -> None:
    text = "Read more at https://example.com/news/apt31-hackers-charged today."
    assert analyze(nlp, text).mentions == []


def test_bad_input_is_one_clear_error(nlp: Language) -> None:
    with pytest.raises(NlpError, match="text must be a string"):
        analyze(nlp, None)  # type: ignore[arg-type]


def test_round_trip_through_disk_in_a_fresh_process(
    nlp: Language, shared_data: Path, tmp_path: Path
) -> None:
    model = tmp_path / "model"
    nlp.to_disk(model)
    text_path = shared_data / "news" / "seed-article.md"
    script = (
        "import json, sys, spacy, nlp\n"
        "from nlp import analyze\n"
        "pipe = spacy.load(sys.argv[1])\n"
        "r = analyze(pipe, open(sys.argv[2], encoding='utf-8').read())\n"
        "print(json.dumps([m.to_json() for m in r.mentions] + "
        "[a.to_json() for a in r.attributions]))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    completed = subprocess.run(
        [sys.executable, "-c", script, str(model), str(text_path)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    here = analyze(nlp, text_path.read_text(encoding="utf-8"))
    expected = [m.to_json() for m in here.mentions] + [a.to_json() for a in here.attributions]
    assert json.loads(completed.stdout) == expected
