"""The detector end to end: mentions, the needs-evidence filter and attribution stance."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import spacy
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


def test_a_generic_phrase_misp_lists_as_an_actor_is_no_group(nlp: Language) -> None:
    result = analyze(nlp, "An Unnamed Actor group breached the network.")
    assert result.mentions == [] and result.attributions == []


def test_ordinary_word_name_counts_with_a_group_cue(nlp: Language) -> None:
    result = analyze(nlp, "The Silence hackers breached three banks in Russia.")
    assert [m.alias for m in result.mentions] == ["Silence"]
    assert by_group(result) == {"G0091": "asserted"}


def test_alias_list_is_background_not_attribution(nlp: Language) -> None:
    result = analyze(nlp, "APT28, also tracked as Fancy Bear and Sofacy, is a Russian group.")
    assert {m.group_id for m in result.mentions} == {"G0007"} and len(result.mentions) == 3
    assert result.attributions == []


def test_alias_aside_inside_a_sourced_claim_is_still_an_attribution(nlp: Language) -> None:
    text = (
        "Microsoft said Midnight Blizzard, the Russian actor also known as APT29, breached its "
        "corporate email systems."
    )
    (attribution,) = analyze(nlp, text).attributions
    assert (attribution.group_id, attribution.stance) == ("G0016", "asserted")
    assert attribution.attributed_by == "Microsoft"
    history = "APT29, also known as Cozy Bear, has targeted governments since 2008."
    assert analyze(nlp, history).attributions == []


@pytest.mark.parametrize(
    ("text", "group_id"),
    [
        (
            "The FBI said Chinese state-sponsored hackers tracked as Salt Typhoon compromised "
            "several telecommunications providers.",
            None,  # checked below by name: Salt Typhoon has no ATT&CK id in every KB version
        ),
        (
            "Dutch intelligence said it had watched Cozy Bear hackers break into the committee.",
            "G0016",
        ),
    ],
)
def test_naming_the_actor_before_the_deed_is_an_attribution(
    nlp: Language, text: str, group_id: str | None
) -> None:
    (attribution,) = analyze(nlp, text).attributions
    assert attribution.stance == "asserted"
    if group_id:
        assert attribution.group_id == group_id
    else:
        assert attribution.alias == "Salt Typhoon"


def test_military_unit_designations_name_their_group(nlp: Language) -> None:
    text = "The NCSC said the GRU's Unit 74455 carried out the attacks on the Olympic Games."
    (attribution,) = analyze(nlp, text).attributions
    assert (attribution.group_id, attribution.stance) == ("G0034", "asserted")
    assert attribution.attributed_by == "The NCSC"


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
    # the alert names the group as the article did; the evidence shows "The group"
    assert attribution.group_id == "G0094" and attribution.alias == "Kimsuky"
    assert attribution.evidence.startswith("The group breached")


def test_ambiguous_name_exposes_every_candidate(nlp: Language) -> None:
    result = analyze(nlp, "US agencies tied Grizzly Steppe to the election hacks.")
    (mention,) = result.mentions
    assert set(mention.candidates) == {"G0007", "G0016"}
    doc = nlp("US agencies tied Grizzly Steppe to the election hacks.")
    assert {span.id_ for span in doc.spans["aptwatch_groups"]} == {"G0007", "G0016"}


def test_an_attribution_under_an_ambiguous_name_reports_every_candidate(nlp: Language) -> None:
    text = (
        "The DHS report said Grizzly Steppe hackers compromised the Democratic National Committee."
    )
    (attribution,) = analyze(nlp, text).attributions
    assert attribution.group_id in {"G0007", "G0016"}
    assert attribution.candidates == ("G0007", "G0016")
    as_json = attribution.to_json()
    assert as_json["candidates"] == ["G0007", "G0016"]
    assert as_json["mitre_id"] == attribution.group_id


def test_an_attribution_under_an_unambiguous_name_has_no_candidates(nlp: Language) -> None:
    (attribution,) = analyze(nlp, "Trend Micro said APT28 breached the ministry.").attributions
    assert attribution.group_id == "G0007" and attribution.candidates == ()
    as_json = attribution.to_json()
    assert "candidates" not in as_json and as_json["mitre_id"] == "G0007"


def test_the_group_after_an_ambiguous_name_keeps_its_candidates(nlp: Language) -> None:
    ambiguous = "Nobelium is a Russian espionage outfit. The group breached a nuclear operator."
    (attribution,) = analyze(nlp, ambiguous).attributions
    assert attribution.alias == "Nobelium"
    assert attribution.candidates == ("G0016", "misp:unc2452")
    # An unambiguous name beside it in the sentence "the group" refers to settles it.
    settled = (
        "APT28, also known as Grizzly Steppe, is a Russian outfit. "
        "The group breached a nuclear operator."
    )
    (attribution,) = analyze(nlp, settled).attributions
    assert attribution.group_id == "G0007" and attribution.candidates == ()


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


# -- who makes the claim ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "attributor"),
    [
        ("Mandiant said APT41 was behind the intrusion.", "Mandiant"),
        ("Mandiant researchers said APT41 was behind the intrusion.", "Mandiant"),
        ("Researchers at Kaspersky attributed the campaign to Turla.", "Kaspersky"),
        ("Cybersecurity firm ESET said Sandworm hackers were behind the outage.", "ESET"),
        ("The Czech government said APT31 attacked its foreign ministry.", "The Czech government"),
        (
            "The breach was the work of APT29, according to U.S. intelligence agencies.",
            "U.S. intelligence agencies",
        ),
        (
            "The Fancy Bear group was accused by the FBI of breaching the committee.",
            "the FBI",
        ),
        (
            "The e-mail uses a technique that a Trend Micro report linked to Pawn Storm.",
            "Trend Micro",
        ),
        (
            "Google's Threat Analysis Group said hackers from APT28 targeted the ministry.",
            "Google's Threat Analysis Group",
        ),
        (
            "A Kremlin spokesman denied any involvement after the Dutch government blamed APT28 "
            "for the breach.",
            "the Dutch government",
        ),
        ("The attack was attributed to APT31 by the Czech government.", "the Czech government"),
        (
            "Germany summoned the Russian ambassador after concluding that APT28 was behind the "
            "attack on the SPD.",
            "Germany",
        ),
        (
            "Cybersecurity firm Mandiant, owned by Google, said APT31 breached the ministry.",
            "Mandiant",
        ),
        (
            "In a joint advisory, the NSA, FBI and CISA said APT28 breached routers worldwide.",
            "the NSA, FBI and CISA",
        ),
        (
            "Microsoft, which tracks the group as Violet Typhoon, said the hackers breached the "
            "ministry.",
            "Microsoft",
        ),
        (
            "The hackers, whom Microsoft tracks as Violet Typhoon, breached the ministry, the "
            "government said.",
            "the government",
        ),
    ],
)
def test_attributor_is_the_speaker_of_the_claim(nlp: Language, text: str, attributor: str) -> None:
    (attribution,) = analyze(nlp, text).attributions
    assert attribution.attributed_by == attributor


def test_the_company_said_is_resolved_to_the_firm_named_before(nlp: Language) -> None:
    text = (
        "Research published on Thursday by cybersecurity firm F-Secure described the phishing. "
        "The company says the domains were registered by the Callisto Group hackers."
    )
    (attribution,) = analyze(nlp, text).attributions
    assert attribution.attributed_by == "F-Secure"


def test_a_quote_takes_its_speaker_from_the_next_sentence(nlp: Language) -> None:
    text = '"APT29 breached our mail servers last year." said a spokesperson for the AIVD.'
    (attribution,) = analyze(nlp, text).attributions
    assert attribution.attributed_by is not None and "AIVD" in attribution.attributed_by


def test_body_sentence_with_its_source_beats_the_terse_title(nlp: Language) -> None:
    title = "Government blames China-linked APT31 for foreign ministry breach"
    text = (
        "The government of the Republic of Veldmark said on Thursday that the China-linked "
        "hacking group APT31 was behind a two-year intrusion into its foreign ministry."
    )
    (attribution,) = analyze(nlp, text, title=title).attributions
    assert attribution.attributed_by == "The government of the Republic of Veldmark"
    assert attribution.evidence.startswith("The government of the Republic")


def test_unsourced_claim_borrows_the_source_of_another_claim_about_the_group(
    nlp: Language,
) -> None:
    text = (
        "PwC and BAE Systems said APT10 ran the espionage campaign. "
        "The hackers of APT10 were behind breaches at managed IT providers."
    )
    (attribution,) = analyze(nlp, text).attributions
    assert attribution.attributed_by == "PwC and BAE Systems"


# -- who makes the claim: more ways news states it, and look-alikes that must name no one ------


@pytest.mark.parametrize(
    ("text", "attributor"),
    [
        # the claimant discloses activity by the group
        ("Proofpoint detailed a phishing campaign by TA505 against hospitals.", "Proofpoint"),
        (
            "ESET was one of the companies that disclosed new intrusions by Turla this week.",
            "ESET",
        ),
        ("The warning about APT28's new phishing campaign came from Microsoft.", "Microsoft"),
        # newsroom forms of the speaker
        (
            "Kaspersky's researchers said APT28 was behind the intrusion at the port authority.",
            "Kaspersky",
        ),
        ("The intrusion at the port was the work of APT28, adds Secureworks.", "Secureworks"),
        ("APT29 breached the ministry, said Lisa Brown, an analyst at Mandiant.", "Mandiant"),
        # the speaker's post in an organisation, after a quote or a clause
        (
            '"Everything points to APT40," said Ann Reyes, head of the Australian Cyber Security '
            "Centre.",
            "the Australian Cyber Security Centre",
        ),
        ("Kimsuky breached the think tank, said Tom Lee, director of the KISA.", "the KISA"),
        # a sanctions designation
        (
            "OFAC designated a Sichuan company that it said ran servers for Flax Typhoon's "
            "intrusions.",
            "OFAC",
        ),
        # "for" inside an agency's name is not "researchers for X"
        (
            "The Canadian Centre for Cyber Security said APT31 breached a federal ministry.",
            "The Canadian Centre for Cyber Security",
        ),
        # a number in the speaker's name
        ("Unit 42 researchers said Scattered Spider breached two airlines.", "Unit 42"),
        # agencies with their partners, and the legal act as the speaker
        (
            "The FBI, CISA and partners said APT40 breached a Taiwanese chipmaker.",
            "The FBI, CISA and partners",
        ),
        (
            "The indictment alleges that the defendants worked for APT41 and breached game "
            "studios.",
            "The indictment",
        ),
        ("A report by Symantec said APT38 breached the airline.", "Symantec"),
        # the investigator named before, "the researchers" / "the security experts" after
        (
            "Sophos and Secureworks worked together to identify the group. "
            "APT41 breached the utility, the researchers said.",
            "Sophos and Secureworks",
        ),
        (
            "In a report published today, Dragos says that the attackers used stolen "
            "credentials. The experts attributed the intrusion to Sandworm.",
            "Dragos",
        ),
        (
            "Cybersecurity company Dragos investigated the attack on the pipeline. Server logs "
            "allowed the security experts to identify APT28 as the perpetrator.",
            "Dragos",
        ),
        (
            "Mandiant and Microsoft investigated the intrusions. The security organisations "
            "involved in the inquiry say APT29 was behind the breach.",
            "Mandiant and Microsoft",
        ),
        (
            "Mandiant's researchers tracked the group for months. "
            "The researchers said APT41 was behind the breach.",
            "Mandiant",
        ),
    ],
)
def test_claimant_found_in_newsroom_forms(nlp: Language, text: str, attributor: str) -> None:
    (attribution,) = analyze(nlp, text).attributions
    assert attribution.attributed_by == attributor


@pytest.mark.parametrize(
    "text",
    [
        "Killnet claimed responsibility for the attack on the airport websites.",
        "Killnet, a pro-Russian hacktivist group, took credit for the outage of the airport "
        "websites.",
        "Killnet said it was behind the attack on the airport websites.",
        "The attack on the airport websites was claimed by Killnet.",
        "Officials said Killnet claimed responsibility for the attack on the airport websites.",
        "Killnet flooded the airport websites. The group claimed responsibility for the outage.",
        "A hacker known as Killnet leaked the data. "
        "According to Killnet, the airline was targeted because it refused to pay.",
    ],
)
def test_a_group_claiming_the_attack_itself_is_the_claimant(nlp: Language, text: str) -> None:
    (attribution,) = analyze(nlp, text).attributions
    assert attribution.attributed_by == "Killnet (self-claim)"


def test_a_self_claim_is_not_lent_the_source_of_another_groups_claim(nlp: Language) -> None:
    text = (
        "Killnet claimed responsibility for the attack, but researchers at Mandiant linked it "
        "to APT28."
    )
    claimants = {a.group_name: a.attributed_by for a in analyze(nlp, text).attributions}
    assert claimants == {"Killnet": "Killnet (self-claim)", "APT28": "Mandiant"}


@pytest.mark.parametrize(
    ("text", "attributor"),
    [
        # an organisation that is the victim is no claimant
        ("Mandiant was breached by APT29 last year.", None),
        ("APT29 breached the servers of Mandiant.", None),
        (
            "The ransomware hit Acme Corp, which investigated the attack. "
            "The researchers said APT41 was behind the breach.",
            "The researchers",
        ),
        # a vendor quoted about something else does not stand for "the researchers"
        (
            "Microsoft said updates are available. APT29 breached the ministry, the researchers "
            "said.",
            "the researchers",
        ),
        (
            "Mandiant said its products block the malware. APT29 breached the ministry, the "
            "experts said.",
            "the experts",
        ),
        # "the researchers" with no organisation named before stay "the researchers"
        ("The researchers said APT29 was behind the breach.", "The researchers"),
        ("APT29 breached the ministry. The researchers said the malware is new.", None),
        # an adverbial is no speaker
        ("In a statement on Monday, APT29 was blamed for the breach of the ministry.", None),
        # the group talking, without claiming the attack; a denial; a credit card
        ("Killnet members said the airport websites were hit by a DDoS attack.", None),
        ("Killnet did not claim responsibility for the attack on the airport websites.", None),
        ("APT28 stole credit card numbers from the shop.", None),
    ],
)
def test_no_claimant_is_invented(nlp: Language, text: str, attributor: str | None) -> None:
    (attribution,) = analyze(nlp, text).attributions
    assert attribution.attributed_by == attributor


# -- negation -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "group_id"),
    [
        (
            "Cybersecurity firm ESET found no evidence linking Sandworm hackers to the outage.",
            "G0034",
        ),
        ("The attack was not the work of APT28, officials said.", "G0007"),
        ("Microsoft ruled out APT29 involvement in the breach.", "G0016"),
        ("The outage was unrelated to Volt Typhoon, CISA said.", "G1017"),
        ("The hackers were posing as the Lazarus Group to mislead investigators.", "G0032"),
        ("The extortionists, pretending to be the Lazarus Group, demanded bitcoin.", "G0032"),
        ("The intruders impersonated APT33 while they breached the refinery.", "G0064"),
        ("There is no suggestion that APT33 had any involvement in the attacks.", "G0064"),
        (
            "Despite similarities with APT28, the firm said the two were operationally separate.",
            "G0007",
        ),
        # a claim withheld is no claim
        ("Officials stopped short of blaming Fancy Bear for the breach.", "G0007"),
        ("The company declined to publicly attribute the intrusion to APT29.", "G0016"),
        ("Investigators have yet to attribute the breach to Volt Typhoon.", "G1017"),
        ("The ministry disclosed the breach without blaming APT28 for it.", "G0007"),
        # a claim called premature is withheld too
        ("It is too early to blame the Lazarus Group for the bank heist, the bank said.", "G0032"),
        ("Analysts warned it was premature to attribute the wiper to APT28.", "G0007"),
    ],
)
def test_denials_are_negated(nlp: Language, text: str, group_id: str) -> None:
    assert by_group(analyze(nlp, text)) == {group_id: "negated"}


@pytest.mark.parametrize(
    "text",
    [
        "A DDoS extortion gang calling itself Fancy Bear threatened banks unless they paid.",
        # "the group" of the next sentence is the same gang
        "Extortionists calling themselves APT29 emailed the firm. The group then attacked it.",
        # every name of the list is one the senders gave themselves
        "The notes were signed by senders who identified themselves as \u201cFancy Bear\u201d, "
        "\u201cLazarus,\u201d or \u201cArmada Collective\u201d and the gang then hit the banks.",
        "A crew going by the name Midnight Blizzard breached the shop and demanded a ransom.",
    ],
)
def test_a_state_groups_name_that_actors_give_themselves_is_no_attribution(
    nlp: Language, text: str
) -> None:
    result = analyze(nlp, text)
    assert result.mentions  # the name is still reported where it stands
    assert result.attributions == []


@pytest.mark.parametrize(
    ("text", "group_id"),
    [
        # a state group's own front name
        ("Hackers calling themselves the Guardians of Peace breached the studio.", "G0032"),
        # a group of no state, under its own name
        ("A group calling itself Killnet claimed responsibility for the outage.", "misp:killnet"),
        # the researchers' name beside the borrowed one still counts
        (
            "Microsoft said APT28 breached the ministry; a gang calling itself Fancy Bear did not.",
            "G0007",
        ),
    ],
)
def test_a_name_actors_give_themselves_still_counts_when_it_is_theirs(
    nlp: Language, text: str, group_id: str
) -> None:
    assert by_group(analyze(nlp, text)).get(group_id) == "asserted"


@pytest.mark.parametrize(
    "text",
    [
        "APT10 masquerading as Japanese government agencies breached the ministry.",
        "APT28 breached two separate networks at the ministry.",
    ],
)
def test_look_alike_words_do_not_negate(nlp: Language, text: str) -> None:
    assert set(by_group(analyze(nlp, text)).values()) == {"asserted"}


def test_asking_who_was_behind_is_not_a_claim(nlp: Language) -> None:
    text = "It is not possible to say who was behind the so-called APT10 yet."
    assert "asserted" not in by_group(analyze(nlp, text)).values()


def test_a_sentence_without_a_speaker_names_none(nlp: Language) -> None:
    # "The suspected" is an adjective, not "The" suspecting anyone
    text = "The suspected Chinese state-sponsored group APT41 breached the ministry."
    (attribution,) = analyze(nlp, text).attributions
    assert attribution.attributed_by is None


@pytest.mark.parametrize(
    ("text", "sponsor"),
    [
        ("APT31 breached Russian government networks, researchers said.", "China"),
        ("Patchwork hackers breached Pakistani government networks.", "India"),
        (
            "APT28 hackers breached Chinese military computers.",
            "Russia's GRU (Unit 26165)",
        ),
    ],
)
def test_the_victims_country_is_not_the_sponsor(nlp: Language, text: str, sponsor: str) -> None:
    (attribution,) = analyze(nlp, text).attributions
    assert attribution.sponsor == sponsor


def test_a_crime_group_has_no_state_sponsor(nlp: Language) -> None:
    # SilverTerrier operates from Nigeria; no source names Nigeria as any group's sponsor
    text = "Researchers said SilverTerrier hackers stole millions through business email fraud."
    (attribution,) = analyze(nlp, text).attributions
    assert attribution.sponsor is None


def test_every_country_of_the_knowledge_base_has_a_name(nlp: Language) -> None:
    from nlp.attribution import COUNTRY_NAMES
    from nlp.kb import KnowledgeBase

    codes = {group.country for group in KnowledgeBase.load(None) if group.country}
    assert codes <= set(COUNTRY_NAMES)


@pytest.mark.parametrize(
    ("text", "stance"),
    [
        ("The ministry dismissed reports that APT31 was behind the intrusion.", "negated"),
        (
            "The Kremlin rejected accusations that Sandworm hackers carried out the attack.",
            "negated",
        ),
        (
            "Researchers have not attributed the attack to any known group, though some "
            "speculated about APT10.",
            "hedged",
        ),
        (
            "Microsoft did not attribute the attack, but said the techniques resembled those of "
            "Midnight Blizzard.",
            "hedged",
        ),
    ],
)
def test_a_rejected_or_speculative_claim_does_not_assert(
    nlp: Language, text: str, stance: str
) -> None:
    (attribution,) = analyze(nlp, text).attributions
    assert attribution.stance == stance


@pytest.mark.parametrize(
    "text",
    [
        "Lead investigators said the attackers breached the ministry through a phishing email.",
        "White Bear Lake police said hackers breached the city's network.",
        "Staff at the Fancy Bear Lodge said hackers breached its booking system.",
        "The Charming Kitten Cafe in Leeds said its card terminals were hacked.",
        "Tick, a Japanese startup, said hackers breached its app.",
        "The Cobalt Group of companies said hackers breached its payroll system last week.",
        "The hackers used a Lazarus-style attack.",
        "The intruders relied on APT28-like techniques to breach the network.",
    ],
)
def test_a_name_that_only_looks_like_a_claimed_actor_raises_nothing(
    nlp: Language, text: str
) -> None:
    assert analyze(nlp, text).attributions == []


@pytest.mark.parametrize(
    ("text", "group_id"),
    [
        ("Microsoft said LEAD targeted gaming companies.", "G0096"),
        ("APT31 spearphished Finnish lawmakers.", "G0128"),
        ("The Play ransomware gang claimed the attack on the city of Oakland.", "G1040"),
        ("The European Union condemned APT28 for the attack on the German SPD party.", "G0007"),
        (
            "Volt Typhoon hackers have been hiding in US water utilities for five years, CISA "
            "warned.",
            "G1017",
        ),
    ],
)
def test_more_wordings_of_a_claim_are_attributions(nlp: Language, text: str, group_id: str) -> None:
    (attribution,) = analyze(nlp, text).attributions
    assert (attribution.group_id, attribution.stance) == (group_id, "asserted")


DUNE_REVIEW = (
    "Denis Villeneuve's sequel is a triumph.\n\n"
    "In the film's best sequence, Paul Atreides rides a Sandworm for the first time while "
    "Harkonnen soldiers attack the Fremen.\n\n"
    "When the Sandworm breaches the dunes and swallows a spice harvester, the audience gasps."
)


def test_a_film_review_raises_nothing_even_where_its_sentence_names_no_film(
    nlp: Language,
) -> None:
    assert analyze(nlp, DUNE_REVIEW, title="Dune: Part Two review").attributions == []


def test_a_security_story_that_mentions_a_film_still_attributes(nlp: Language) -> None:
    text = (
        "Hackers leaked the studio's unreleased film before its premiere.\n\n"
        "Sandworm breached the studio's network in March, investigators said."
    )
    assert [a.group_id for a in analyze(nlp, text).attributions] == ["G0034"]


@pytest.mark.parametrize("separator", ["\u2011", "\u00a0", "\u200b"])
def test_a_name_written_with_a_look_alike_hyphen_or_space_is_found(
    nlp: Language, separator: str
) -> None:
    text = f"The Czech government said APT{separator}31 breached the ministry."
    (mention,) = analyze(nlp, text).mentions
    assert (mention.group_id, mention.alias) == ("G0128", text[mention.start : mention.end])
    assert mention.alias == f"APT{separator}31"


def test_a_victim_agency_is_not_the_sponsor(nlp: Language) -> None:
    text = (
        "The hacker group Shadow Brokers leaked exploits stolen from the National Security Agency."
    )
    (attribution,) = analyze(nlp, text).attributions
    assert attribution.sponsor is None or "NSA" not in attribution.sponsor


def test_gru_units_name_their_state(nlp: Language) -> None:
    (attribution,) = analyze(nlp, "APT28 hacked the agency.").attributions
    assert attribution.sponsor is not None and attribution.sponsor.startswith("Russia")


# -- mentions: names against the malware, the campaign and the link ----------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Our analysis shows that actors tried to install NetTraveler Trojan on the hosts.",
        "Trojan.Sofacy performs basic reconnaissance on an infected computer.",
        "We found updated versions of KeyBoy on the servers.",
        "The group's Cobalt Strike installation uses a payload named svchost.exe.",
        "Kaspersky published a report on one of their campaigns, named Operation AppleJeus.",
        "See the post ( https : / / unit42.example / ta551 - shathak / ) for details.",
    ],
)
def test_malware_campaign_and_link_senses_are_not_mentions(nlp: Language, text: str) -> None:
    assert analyze(nlp, text).mentions == []


@pytest.mark.parametrize(
    ("text", "alias"),
    [
        (
            "The fields of the organizations attacked by Leviathan belong to naval industry.",
            "Leviathan",
        ),
        ("APT actors, such as Lazarus and Sandworm, used the hosting provider.", "Sandworm"),
        ("Symantec has been monitoring Patchwork, also known as Dropping Elephant.", "Patchwork"),
        ("The OceanLotus group was first revealed in May 2015.", "OceanLotus"),
        ("Patchwork's attack was detected in a spear phishing run in Europe.", "Patchwork"),
    ],
)
def test_names_with_evidence_are_mentions(nlp: Language, text: str, alias: str) -> None:
    assert alias in [m.alias for m in analyze(nlp, text).mentions]


def test_a_link_title_is_prose(nlp: Language) -> None:
    text = 'We saw [FlawedGrace] ( /us/post/x "New malware introduced by TA505" ) in 2017.'
    assert [m.alias for m in analyze(nlp, text).mentions] == ["TA505"]


def test_a_short_form_of_an_ordinary_name_needs_evidence_too(nlp: Language) -> None:
    text = "The hackers tweeted: ladies and gentlemen, the leak is coming."
    assert analyze(nlp, text).mentions == []


def test_the_group_in_a_sentence_naming_its_campaign_is_the_group(nlp: Language) -> None:
    text = (
        "APT10 hit managed IT providers in 2016. "
        "PwC said the group had mounted many attacks in a campaign called Cloud Hopper."
    )
    (attribution,) = analyze(nlp, text).attributions
    assert attribution.group_id == "G0045" and attribution.attributed_by == "PwC"


def test_not_the_only_ones_is_no_denial(nlp: Language) -> None:
    text = "The Silence hackers are not the only ones trying their phishing game on Russian banks."
    assert by_group(analyze(nlp, text)) == {"G0091": "asserted"}


# -- mentions: the thing a name also names, the lower-case word, the acting actor -------------


@pytest.mark.parametrize(
    "text",
    [
        "The attachment will install the trojan known as NetTraveler on the host.",
        "Both groups work in tandem with the PLATINUM backdoors.",
        "The MSS conducted a campaign dubbed Operation Cloud Hopper against service providers.",
        "We believe that the Carbanak campaign marks a new era in cybercrime.",
        "The module steals Electrum wallet data from the infected system.",
        "* Stealing credentials from Foxmail and Outlook",
        "2032749 ET TROJAN Cobalt\u00a0 Strike Malleable C2 Amazon Profile",
        "Analysts saw a phishing campaign imitating UPS branding in May.",
        "A phishing campaign carried the UPS logo and a malicious attachment.",
        "Hackers sent UPS-branded emails with malware.",
        "The campaign put UPS\u00a0 branding on its malicious attachments.",
        "Analysts took apart the alternate NetTraveler configuration found on the server.",
        "The developers of NetTraveler added a string obfuscation routine last year.",
        "A new Sofacy 2.0 malware build reached several ministries.",
        "Its main backdoor is NetTraveler, which has two parts.",
        "The team studied a little-known malware family, NetTraveler, that steals documents.",
        "The NetTraveler (older) malware records keystrokes.",
    ],
)
def test_names_used_for_software_campaigns_or_products_are_not_mentions(
    nlp: Language, text: str
) -> None:
    assert analyze(nlp, text).mentions == []


@pytest.mark.parametrize(
    ("text", "alias"),
    [
        ("The actor goes by several names, including IXESHE, JOY RAT, APT12, and others.", "APT12"),
        ("Components of APT28 operations were reported by several vendors.", "APT28"),
    ],
)
def test_a_group_name_near_a_software_noun_is_still_the_group(
    nlp: Language, text: str, alias: str
) -> None:
    assert alias in [m.alias for m in analyze(nlp, text).mentions]


@pytest.mark.parametrize(
    "text",
    [
        "The write-to-file function used is wirte File ( ), a typographical error.",
        "The code is shared as a link or direct copy-paste on underground forums.",
    ],
)
def test_a_coined_name_in_lower_case_is_the_word(nlp: Language, text: str) -> None:
    assert analyze(nlp, text).mentions == []


def test_a_coined_name_in_lower_case_counts_with_a_cue_or_quotes(nlp: Language) -> None:
    cued = analyze(nlp, "Researchers tracked the wirte group in the Middle East.")
    quoted = analyze(nlp, "So instead of 'fancy bear' we should call it 'old bear'.")
    assert [m.group_id for m in cued.mentions] == ["G0090"]
    assert [m.group_id for m in quoted.mentions] == ["G0007"]


@pytest.mark.parametrize(
    "text",
    [
        "See the report < https : / / www.example.com / blog / apt40 - examining-an-actor.html >",
        "[ 2 ] < https : / / citizenlab.example / 2016 / 08 / group5 - syria / >",
    ],
)
def test_a_name_inside_an_angle_bracketed_link_is_not_a_mention(nlp: Language, text: str) -> None:
    assert analyze(nlp, text).mentions == []


@pytest.mark.parametrize(
    ("text", "alias"),
    [
        ("From 16 October 2018, Silence sent out about 84,000 emails in Russia.", "Silence"),
        ("It is probable that Patchwork uses this package to install its server.", "Patchwork"),
        ("Between August 2 and 4, the Leviathan sent spearphishing emails.", "Leviathan"),
    ],
)
def test_an_ordinary_word_name_acting_inside_a_sentence_is_a_mention(
    nlp: Language, text: str, alias: str
) -> None:
    assert alias in [m.alias for m in analyze(nlp, text).mentions]


@pytest.mark.parametrize(
    "text",
    [
        "Silence sent the room into shock.",
        "The new Google Play used a fresh design.",
        "Players of Lead used the new rules.",
    ],
)
def test_an_acting_word_at_the_sentence_start_or_inside_a_name_is_no_mention(
    nlp: Language, text: str
) -> None:
    assert analyze(nlp, text).mentions == []


def test_a_group_name_before_campaign_still_counts_with_another_cue(nlp: Language) -> None:
    text = "During its recent campaigns, Cloud Atlas used a new polymorphic infection chain."
    assert "Cloud Atlas" in [m.alias for m in analyze(nlp, text).mentions]


# -- mentions: an ordinary-word name as the subject, the owner or the defined actor -----------


@pytest.mark.parametrize(
    ("text", "alias"),
    [
        # first in the sentence: the verb or the sentence must speak of intrusions
        ("Honeybee has repeatedly compromised the networks of aid agencies.", "Honeybee"),
        ("Lotus Blossom targeted the defence ministry and two universities.", "Lotus Blossom"),
        ("Buckeye was previously known to conduct espionage against defence firms.", "Buckeye"),
        ("Patchwork has been seen targeting diplomatic and government agencies.", "Patchwork"),
        ("Silence specializes in attacking banks and their payment systems.", "Silence"),
        # after an opener, with auxiliaries and adverbs between the name and its verb
        ("We believe Lazarus started this phishing campaign in March.", "Lazarus"),
        ("Sometimes Patchwork send a malicious PowerPoint file instead.", "Patchwork"),
        ("The Leviathan also occasionally emailed macro-laden spreadsheets to labs.", "Leviathan"),
    ],
)
def test_an_ordinary_word_name_as_the_subject_of_an_intrusion_is_a_mention(
    nlp: Language, text: str, alias: str
) -> None:
    assert alias in [m.alias for m in analyze(nlp, text).mentions]


@pytest.mark.parametrize(
    ("text", "alias"),
    [
        ("Most victims of Lazarus were banks in Asia.", "Lazarus"),
        ("The loader is one of many weapons in Lazarus' arsenal.", "Lazarus"),
        ("Spring Dragon's infiltration techniques changed in 2017.", "Spring Dragon"),
        ("Silence is one of the most active threat actors in the banking sector.", "Silence"),
        ("Strider, a small and very patient espionage group, kept its tools secret.", "Strider"),
        ("Silence is a group of Russian-speaking hackers.", "Silence"),
    ],
)
def test_an_ordinary_word_name_owning_an_arsenal_or_defined_as_a_group_is_a_mention(
    nlp: Language, text: str, alias: str
) -> None:
    assert alias in [m.alias for m in analyze(nlp, text).mentions]


@pytest.mark.parametrize(
    ("text", "alias"),
    [
        (
            "By late 2015, the focus of Scattered Canary had shifted to phishing.",
            "Scattered Canary",
        ),
        ("Since 2016 the Shadow Brokers have sold stolen exploits.", "the Shadow Brokers"),
    ],
)
def test_a_phrase_name_in_its_catalogue_capitals_about_intrusions_is_a_mention(
    nlp: Language, text: str, alias: str
) -> None:
    assert alias in [m.alias for m in analyze(nlp, text).mentions]


@pytest.mark.parametrize(
    "text",
    [
        # the ordinary word, the creature, the film: no intrusion in the sentence
        "Silence is golden.",
        "Dune's Sandworm attacks the harvester.",
        "Sandworm attacks the harvester in the second act.",
        "The Sandworm attacks the spice harvester.",
        "Sandworm is a group of giant worms in the desert.",
        "In the film, Machete targeted the cartel and stole its cash.",
        "Honeybee colonies attacked by mites collapsed last spring.",
        "The Butterfly effect explains chaos.",
        # a company doing what companies do; a victim in the passive
        "While Summit sent notification letters to customers, the investigation continued.",
        "Cobalt was targeted by export controls in the mining sector.",
        "The Patchwork studio specializes in designing quilts.",
        # a phrase name in a Title Case heading, a novel, a place named by its own name
        "Malware Awareness Week Ends With A Lotus Blossom",
        "The novel Cloud Atlas follows six stories across centuries of exploitation.",
        "The Sands Casino hired new staff after the ransomware outbreak.",
    ],
)
def test_look_alikes_of_an_acting_or_catalogue_name_are_not_mentions(
    nlp: Language, text: str
) -> None:
    assert analyze(nlp, text).mentions == []


@pytest.mark.parametrize(
    ("text", "group_id"),
    [
        (
            "Syrian Electronic Army hackers hijacked the news agency's Twitter account.",
            "misp:deadeye-jackal",
        ),
        (
            'A powerful threat actor known as "Wild Neutron" has been active since 2011.',
            "misp:wildneutron",
        ),
        ("The Pitty Tiger group sent documents exploiting CVE-2014-1761.", "G0011"),
    ],
)
def test_a_joined_name_written_as_separate_words_counts_with_evidence(
    nlp: Language, text: str, group_id: str
) -> None:
    assert [m.group_id for m in analyze(nlp, text).mentions] == [group_id]


@pytest.mark.parametrize(
    "text",
    [
        # the knowledge base writes these joined (PinkPanther, OilRig, RedRiver, LuckyMouse):
        # written apart, with nothing saying a group is meant, they are the film, the rig, the river
        "The Pink Panther returns to cinemas this winter.",
        "Oil Rig Explosion Kills Two Workers",
        "Red River Floods Farms In Texas",
        "Lucky Mouse Wins The Derby",
        "the syrian electronic army of the novel",
    ],
)
def test_a_joined_name_written_apart_without_evidence_is_no_mention(
    nlp: Language, text: str
) -> None:
    assert analyze(nlp, text).mentions == []


@pytest.mark.parametrize(
    "text",
    [
        "APT-C - 36 has targeted Colombian government institutions.",
        "APT - C - 36 has targeted Colombian government institutions.",
    ],
)
def test_a_hyphenated_name_with_spaced_hyphens_is_found(nlp: Language, text: str) -> None:
    # tokenised CTI corpora and text taken from PDFs space out hyphens
    result = analyze(nlp, text)
    assert [(m.group_id, text[m.start : m.end]) for m in result.mentions] == [
        ("G0099", text.split(" has")[0])
    ]


def test_a_false_flag_under_a_joined_name_written_apart_is_negated(nlp: Language) -> None:
    result = analyze(
        nlp,
        "Russian hackers posing as the “Cyber Caliphate” attacked the television channel.",
    )
    assert [(a.group_id, a.stance) for a in result.attributions] == [
        ("misp:cyber-caliphate-army", "negated")
    ]


@pytest.mark.parametrize(
    ("text", "stance", "attributor"),
    [
        # a refusal elsewhere in the sentence withholds nothing
        (
            "The utility declined to comment, but researchers said APT28 was behind the breach.",
            "asserted",
            "researchers",
        ),
        # the investigation's result, between the verb and the group
        ("Investigators traced the ransomware attack to APT41.", "asserted", "Investigators"),
        ("Dragos linked the substation intrusion to Sandworm hackers.", "asserted", "Dragos"),
        # a long object between the verb and the group, and "pinned ... on"
        (
            "Sekoia linked the phishing wave against Moldovan election officials to APT28.",
            "asserted",
            "Sekoia",
        ),
        (
            "Prosecutors pinned the $600 million theft on the Lazarus Group.",
            "asserted",
            "Prosecutors",
        ),
        # a likeness is a hedged claim
        (
            "The attack bears the hallmarks of the Lazarus Group, Kaspersky said.",
            "hedged",
            "Kaspersky",
        ),
        ("Mandiant said the techniques were consistent with those of APT29.", "hedged", "Mandiant"),
        # governments charge and sanction through their officers and institutions
        (
            "The U.S. Department of Justice unsealed an indictment charging seven hackers "
            "associated with APT31.",
            "asserted",
            "The U.S. Department of Justice",
        ),
        (
            "The EU imposed sanctions on six individuals linked to the Sandworm group.",
            "asserted",
            "The EU",
        ),
        (
            "Britain's foreign secretary accused APT40 of targeting the Electoral Commission.",
            "asserted",
            "Britain's foreign secretary",
        ),
    ],
)
def test_claims_in_government_and_investigation_wording(
    nlp: Language, text: str, stance: str, attributor: str
) -> None:
    (attribution,) = analyze(nlp, text).attributions
    assert (attribution.stance, attribution.attributed_by) == (stance, attributor)


@pytest.mark.parametrize(
    "text",
    [
        "APT31, linked to China's Ministry of State Security, has been active since 2010.",
        "The report is consistent in its naming of APT28 and its tools.",
    ],
)
def test_a_sponsor_link_or_a_bare_consistent_is_no_claim(nlp: Language, text: str) -> None:
    assert analyze(nlp, text).attributions == []


@pytest.mark.parametrize(
    ("text", "group_id"),
    [
        ("Ukraine blames Sandworm for power grid attack", "G0034"),
        ("Officials blamed Silence for the theft from the bank's network.", "G0091"),
        ("Officials attributed the spear-phishing emails to Patchwork.", "G0040"),
    ],
)
def test_an_ordinary_word_name_blamed_for_an_intrusion_is_attributed(
    nlp: Language, text: str, group_id: str
) -> None:
    assert by_group(analyze(nlp, text)) == {group_id: "asserted"}


@pytest.mark.parametrize(
    "text",
    [
        # blamed, but not for an intrusion
        "He blamed Silence, his dog, for the mess.",
        "Critics blamed Lotus Blossom's management for the restaurant's closure.",
        "The company tied its losses to Lazarus, the new product line.",
    ],
)
def test_an_ordinary_word_name_blamed_for_anything_else_is_no_mention(
    nlp: Language, text: str
) -> None:
    assert analyze(nlp, text).mentions == []


@pytest.mark.parametrize(
    "text",
    [
        "It is unclear whether APT28 was behind the attack.",
        "Investigators are examining whether APT28 was responsible for the breach.",
        "Officials asked if the APT28 group had breached other ministries.",
    ],
)
def test_a_question_about_the_group_is_no_claim(nlp: Language, text: str) -> None:
    assert analyze(nlp, text).attributions == []


@pytest.mark.parametrize(
    "text",
    [
        "Famous groups such as APT28, APT29 and Lazarus have all used similar techniques.",
        "Groups like APT28 and APT29 have used spear-phishing for years.",
    ],
)
def test_groups_listed_as_examples_of_a_practice_are_background(nlp: Language, text: str) -> None:
    assert analyze(nlp, text).attributions == []


@pytest.mark.parametrize(
    ("text", "groups"),
    [
        # one example, or a list that is blamed, is still a claim
        ("Hackers such as APT28 breached the ministry.", {"G0007": "asserted"}),
        (
            "Attacks by groups including APT28 and APT29 were blamed for the outage.",
            {"G0007": "asserted", "G0016": "asserted"},
        ),
        # what intruders do once inside
        (
            "Microsoft said Storm-0558 obtained a signing key and forged tokens to read email.",
            {"misp:storm-0558": "asserted"},
        ),
        (
            "Sandworm hackers wiped hundreds of servers at the telecom, the SBU said.",
            {"G0034": "asserted"},
        ),
    ],
)
def test_claims_about_listed_groups_and_their_deeds(
    nlp: Language, text: str, groups: dict[str, str]
) -> None:
    assert by_group(analyze(nlp, text)) == groups


def test_a_weather_phrase_that_names_a_group_needs_a_cue(nlp: Language) -> None:
    assert analyze(nlp, "A Dust Storm hit Phoenix on Monday, grounding flights.").mentions == []
    cued = analyze(nlp, "The Dust Storm group targeted energy companies with spear-phishing.")
    assert by_group(cued) == {"misp:dust-storm": "asserted"}


@pytest.mark.parametrize(
    ("text", "groups"),
    [
        # a state's unit, set off as what the name is
        (
            "Sandworm, a unit of Russia's GRU military intelligence agency, was behind the "
            "attacks on Ukraine's power grid.",
            {"G0034": "asserted"},
        ),
        # the quote that names the culprit
        (
            '"This was APT28," said John Hultquist, chief analyst at Mandiant.',
            {"G0007": "asserted"},
        ),
        ("It was APT28 that breached the ministry, officials said.", {"G0007": "asserted"}),
        # the blamed group named further on
        (
            "Google attributed the exploitation to a suspected Chinese espionage group it tracks "
            "as UNC5221.",
            {"misp:uta0178": "hedged"},
        ),
    ],
)
def test_claims_that_name_the_group_indirectly(
    nlp: Language, text: str, groups: dict[str, str]
) -> None:
    assert by_group(analyze(nlp, text)) == groups


@pytest.mark.parametrize(
    "text",
    [
        "Silence, a unit of measurement in music, was discussed at length.",
        "This is APT28's favourite backdoor.",
    ],
)
def test_look_alikes_of_indirect_claims_claim_nothing(nlp: Language, text: str) -> None:
    assert analyze(nlp, text).attributions == []


@pytest.mark.parametrize(
    ("text", "groups"),
    [
        # a denial in the other clause of a contrast does not reach the claim
        (
            "Officials did not comment, but Mandiant said APT28 was behind it.",
            {"G0007": "asserted"},
        ),
        ("The attack was not the work of APT28 but of criminals.", {"G0007": "negated"}),
        ("The evidence points to APT41, according to Mandiant.", {"G0096": "asserted"}),
    ],
)
def test_a_denial_stays_in_its_clause(nlp: Language, text: str, groups: dict[str, str]) -> None:
    assert by_group(analyze(nlp, text)) == groups


@pytest.mark.parametrize(
    ("text", "groups"),
    [
        ("The attack was likely carried out by Sandworm, according to ESET.", {"G0034": "hedged"}),
        (
            "Some experts have speculated that Lazarus could be behind the heist.",
            {"G0032": "hedged"},
        ),
        ("Sandworm was behind the attacks on the power grid.", {"G0034": "asserted"}),
    ],
)
def test_an_ordinary_word_name_carrying_out_or_behind_an_intrusion_is_the_group(
    nlp: Language, text: str, groups: dict[str, str]
) -> None:
    assert by_group(analyze(nlp, text)) == groups


@pytest.mark.parametrize(
    "text",
    [
        "Sandworm was behind the dune in the final scene.",
        "Silence is behind every great speech.",
        "In the film, Sandworm is believed to be behind the attack on the harvester.",
    ],
)
def test_behind_something_that_is_no_intrusion_is_no_mention(nlp: Language, text: str) -> None:
    assert analyze(nlp, text).mentions == []


@pytest.mark.parametrize(
    ("text", "attributor"),
    [
        (
            "Security researchers suspect APT10 of being behind the intrusion.",
            "Security researchers",
        ),
        ("Israeli researchers said APT34 was behind the breach.", "Israeli researchers"),
        ("Mandiant researchers said APT41 was behind the breach.", "Mandiant"),
    ],
)
def test_a_described_speaker_is_not_cut_to_its_adjective(
    nlp: Language, text: str, attributor: str
) -> None:
    (attribution,) = analyze(nlp, text).attributions
    assert attribution.attributed_by == attributor


@pytest.mark.parametrize(
    ("text", "groups"),
    [
        (
            "The investigation identified APT31, a cyber espionage group publicly associated "
            "with the People's Republic of China, as the actor responsible.",
            {"G0128": "asserted"},
        ),
        (
            "The advisory describes how state-sponsored cyber actors, tracked as Salt Typhoon, "
            "have compromised telecommunications providers worldwide.",
            {"G1045": "asserted"},
        ),
    ],
)
def test_an_aside_between_the_group_and_the_claim_keeps_the_claim(
    nlp: Language, text: str, groups: dict[str, str]
) -> None:
    assert by_group(analyze(nlp, text)) == groups


def test_an_alias_aside_in_a_profile_is_still_background(nlp: Language) -> None:
    text = "Salt Typhoon, also tracked as GhostEmperor, has been active since at least 2019."
    assert analyze(nlp, text).attributions == []


def test_a_finding_speaks_for_the_government_that_announced_it(nlp: Language) -> None:
    text = (
        "The Government of the Czech Republic strongly condemns the malicious cyber campaign "
        "against the Ministry of Foreign Affairs. The investigation identified APT31, a cyber "
        "espionage group publicly associated with the People's Republic of China, as the actor "
        "responsible."
    )
    (attribution,) = analyze(nlp, text).attributions
    assert attribution.attributed_by == "The Government of the Czech Republic"


@pytest.mark.parametrize(
    ("text", "stance", "attributor"),
    [
        ("APT28 is suspected of hacking the Bundestag in 2015.", "hedged", None),
        (
            "German prosecutors issued an arrest warrant for a GRU officer they say belongs to "
            "APT28.",
            "asserted",
            "German prosecutors",
        ),
        # a possibility left open is hedged, not denied
        ("Researchers cannot rule out that APT28 was involved.", "hedged", None),
        ("Researchers ruled out APT28 involvement.", "negated", "Researchers"),
    ],
)
def test_suspicion_warrants_and_possibilities_left_open(
    nlp: Language, text: str, stance: str, attributor: str | None
) -> None:
    (attribution,) = analyze(nlp, text).attributions
    assert (attribution.stance, attribution.attributed_by) == (stance, attributor)


@pytest.mark.parametrize(
    "text",
    [
        "The UPS Team launched a new delivery service on Monday.",
        "The Fallout Team released a new patch for the game.",
        "A Red Wolf attacked livestock near the farm, officials said.",
        "Morpho launched a new biometric passport reader on Monday.",
        "DragonForce launched a new album on Friday.",
    ],
)
def test_a_company_team_a_game_studio_and_an_animal_are_no_group(nlp: Language, text: str) -> None:
    assert analyze(nlp, text).mentions == []


def test_a_company_team_name_with_a_cue_is_the_group(nlp: Language) -> None:
    text = "The UPS Team hackers targeted government networks in Asia."
    assert by_group(analyze(nlp, text)) == {"G0022": "asserted"}


def test_attacks_own_name_for_a_group_wins_over_the_larger_group_named_nearby(
    nlp: Language,
) -> None:
    text = (
        "The Lazarus Group has been busy this year. Andariel, a North Korean group, breached "
        "defense contractors in South Korea, officials said."
    )
    andariel = next(m for m in analyze(nlp, text).mentions if m.alias == "Andariel")
    assert andariel.group_id == "G0138"
    assert set(andariel.candidates) == {"G0138", "G0032"}  # still reported as ambiguous


def test_a_sentence_ending_in_a_capital_ends_there(nlp: Language, tmp_path: Path) -> None:
    text = (
        "Mustang Panda is known for using PlugX. In its latest campaign, the threat actor "
        "targeted Myanmar's government with USB-borne malware, according to Check Point."
    )
    (attribution,) = analyze(nlp, text).attributions
    # the profile sentence stays apart: the claim is the campaign, sourced
    assert attribution.evidence.startswith("In its latest campaign")
    assert (attribution.group_id, attribution.attributed_by) == ("G0129", "Check Point")
    nlp.to_disk(tmp_path / "model")
    loaded = spacy.load(tmp_path / "model")
    assert [t.text for t in loaded.tokenizer("said the FBI. The U.S. and John F. Kennedy")] == [
        "said",
        "the",
        "FBI",
        ".",
        "The",
        "U.S.",
        "and",
        "John",
        "F.",
        "Kennedy",
    ]


def test_hackers_inside_a_network_are_an_intrusion(nlp: Language) -> None:
    text = (
        "Russia's Sandworm hackers were inside the network of Ukraine's largest telecom operator "
        "for months, the head of the SBU's cyber department told Reuters."
    )
    (attribution,) = analyze(nlp, text).attributions
    assert (attribution.group_id, attribution.stance) == ("G0034", "asserted")
    assert attribution.attributed_by == "the head of the SBU's cyber department"
    assert analyze(nlp, "The APT28 report is inside the folder.").attributions == []


def test_the_sponsor_named_with_a_possessive_country(nlp: Language) -> None:
    text = "Kimsuky, a unit of North Korea's Reconnaissance General Bureau, targeted think tanks."
    (attribution,) = analyze(nlp, text).attributions
    assert attribution.sponsor == "North Korea's Reconnaissance General Bureau"


@pytest.mark.parametrize(
    "text",
    [
        # a vendor's product news: "release" is a noun here
        "Acme's new platform detects techniques used by APT29, Lazarus and FIN7, the company "
        "said in a press release.",
        # a profile: what the group does, not what it did
        "1. APT41 - a Chinese group that targets healthcare and gaming.",
        "APT41 is a Chinese group which uses ShadowPad.",
    ],
)
def test_product_news_and_profiles_claim_nothing(nlp: Language, text: str) -> None:
    assert analyze(nlp, text).attributions == []


@pytest.mark.parametrize(
    ("text", "group_id"),
    [
        ("APT41, a group that targets healthcare, breached a hospital chain in Ohio.", "G0096"),
        (
            "The group, known as Fancy Bear, has been carrying out the attack with phishing "
            "emails, Trend Micro said.",
            "G0007",
        ),
    ],
)
def test_an_event_next_to_a_profile_still_claims(nlp: Language, text: str, group_id: str) -> None:
    assert by_group(analyze(nlp, text)) == {group_id: "asserted"}


def test_a_claim_about_the_name_outranks_an_unnamed_group_in_its_sentence(nlp: Language) -> None:
    text = (
        "Kaspersky, which first reported the campaign, did not name the group responsible, but "
        "other firms have pointed to APT10."
    )
    assert by_group(analyze(nlp, text)) == {"G0045": "asserted"}


@pytest.mark.parametrize(
    ("text", "group_id", "attributor"),
    [
        # impersonation is a deed unless the group is the one impersonated
        (
            "Volexity said APT29 impersonated European foreign ministries in messages to "
            "human rights groups.",
            "G0016",
            "Volexity",
        ),
        (
            "Silent Push said FIN7 had set up hundreds of fake websites impersonating software "
            "brands.",
            "G0046",
            "Silent Push",
        ),
        # the other forms of intrusion verbs
        (
            "Proofpoint said TA505 resumed large campaigns distributing a remote access tool to "
            "retailers.",
            "G0092",
            "Proofpoint",
        ),
    ],
)
def test_impersonating_and_distributing_are_deeds(
    nlp: Language, text: str, group_id: str, attributor: str
) -> None:
    (attribution,) = analyze(nlp, text).attributions
    assert (attribution.group_id, attribution.stance) == (group_id, "asserted")
    assert attribution.attributed_by == attributor


def test_a_long_aside_between_the_group_and_its_verb_keeps_the_claim(nlp: Language) -> None:
    text = (
        "Mint Sandstorm, which Microsoft links to the intelligence arm of Iran's Islamic "
        "Revolutionary Guard Corps, targeted journalists covering the conflict, the company said."
    )
    (attribution,) = analyze(nlp, text).attributions
    assert (attribution.group_id, attribution.stance) == ("G0059", "asserted")
    assert attribution.sponsor == "Iran's IRGC"
    # the verb after the aside must be the group's own: a passive makes it the victim
    victim = (
        "Cozy Bear, the coffee roaster on Elm Street whose owners are in Ohio, said its "
        "payment terminals were hacked."
    )
    assert analyze(nlp, victim).attributions == []


@pytest.mark.parametrize(
    "text",
    [
        "Salt Typhoon hackers remain inside the networks of two US carriers, the FBI said.",
        "Volt Typhoon had still been inside the water utility's systems in March, the FBI said.",
    ],
)
def test_staying_inside_a_network_is_an_intrusion(nlp: Language, text: str) -> None:
    (attribution,) = analyze(nlp, text).attributions
    assert (attribution.stance, attribution.attributed_by) == ("asserted", "the FBI")


def test_a_participle_after_the_subject_is_no_speaker(nlp: Language) -> None:
    # "Hackers linked to ..." describes the hackers; the claim is the newsroom's
    text = (
        "Hackers linked to APT41 breached six state government networks over a year, the "
        "Washington Post reported on Friday."
    )
    (attribution,) = analyze(nlp, text).attributions
    assert (attribution.stance, attribution.attributed_by) == ("asserted", "the Washington Post")
    unsourced = "Operators tied to Volt Typhoon breached a Massachusetts power utility."
    (attribution,) = analyze(nlp, unsourced).attributions
    assert attribution.attributed_by is None


@pytest.mark.parametrize(
    ("text", "sponsor"),
    [
        # the agency a government blames, links or subordinates the group to is its sponsor
        (
            "Britain accused Russia's FSB of a hacking campaign against lawmakers and named "
            "Callisto as the unit that carried it out.",
            "Russia's FSB",
        ),
        (
            "CERT-UA said Gamaredon, which it links to the FSB, breached military email accounts.",
            "Russia's FSB",
        ),
        (
            "Investigators said APT28, subordinate to the GRU, breached the party's servers.",
            "Russia's GRU",
        ),
    ],
)
def test_the_agency_blamed_or_linked_is_the_sponsor(nlp: Language, text: str, sponsor: str) -> None:
    (attribution,) = analyze(nlp, text).attributions
    assert attribution.stance == "asserted" and attribution.sponsor == sponsor


@pytest.mark.parametrize(
    ("text", "group_id"),
    [
        # a name that needs evidence, blamed for an intrusion through a long object
        (
            "Dragos researchers attribute the intrusion at the Lviv heating utility to Sandworm.",
            "G0034",
        ),
        # ... or owned by a state
        ("Kyiv blamed Russia's Sandworm for the attack on the power grid.", "G0034"),
        (
            "The FBI attributed the theft from the Axie Infinity bridge to North Korea's Lazarus.",
            "G0032",
        ),
    ],
)
def test_a_blamed_name_that_needs_evidence_is_the_group(
    nlp: Language, text: str, group_id: str
) -> None:
    (attribution,) = analyze(nlp, text).attributions
    assert (attribution.group_id, attribution.stance) == (group_id, "asserted")
    # blamed for something that is no intrusion, it stays a word
    assert analyze(nlp, "Critics blamed Beijing's Lead for the collapse in prices.").mentions == []


def test_reconnaissance_of_networks_is_a_deed(nlp: Language) -> None:
    text = "The Cyber Centre said APT31 probed the networks of several Canadian ministries."
    (attribution,) = analyze(nlp, text).attributions
    assert (attribution.group_id, attribution.stance) == ("G0128", "asserted")
    assert attribution.attributed_by == "The Cyber Centre"


def test_look_alikes_of_the_newer_claim_wordings(nlp: Language) -> None:
    # "these points" is a noun: the long-object link is only for a verb that takes an object
    text = (
        "Although these points do not definitively tie the loader to APT12, the campaign was "
        "attributed to APT12 by Mandiant."
    )
    assert by_group(analyze(nlp, text)) == {"G0005": "asserted"}
    # a date after the speaker is not part of its name
    (attribution,) = analyze(nlp, "ESET during 2019 linked the implant to Turla.").attributions
    assert attribution.attributed_by is None or "2019" not in attribution.attributed_by
    # "links" as a noun ties nobody to the NSA
    (attribution,) = analyze(
        nlp, "The Shadow Brokers posted links to a trove of NSA exploits."
    ).attributions
    assert attribution.sponsor != "the United States' NSA"
    # the end of a hyphenated compound is no deed
    assert (
        analyze(nlp, "APT38 relies on a SWIFT transaction-hijacking framework.").attributions == []
    )
    # the speaker of a relative clause
    text = (
        "Mustang Panda, a group that Mandiant researchers have attributed to China, breached a "
        "Philippine ministry."
    )
    (attribution,) = analyze(nlp, text).attributions
    assert attribution.attributed_by == "Mandiant"


@pytest.mark.parametrize(
    "text",
    [
        # the group's record, told in an article about something else
        "Researchers found a new credential-phishing kit for sale. APT29, which breached the "
        "SolarWinds build system in 2020, has used similar kits in the past.",
        "Kimsuky has previously targeted nuclear researchers with fake interview requests.",
        "Historically, Turla has hijacked satellite links to hide its servers.",
    ],
)
def test_a_groups_record_is_background(nlp: Language, text: str) -> None:
    assert analyze(nlp, text).attributions == []


def test_a_record_in_an_aside_leaves_the_claim_after_it(nlp: Language) -> None:
    text = (
        "Google said APT41, which has previously targeted gaming firms, breached a Taiwanese "
        "media company."
    )
    (attribution,) = analyze(nlp, text).attributions
    assert (attribution.group_id, attribution.stance) == ("G0096", "asserted")
    assert attribution.attributed_by == "Google"


@pytest.mark.parametrize(
    ("text", "group_id"),
    [
        # "the past" with a span of time is the news, not the group's record
        (
            "In the past week, Volt Typhoon hackers breached three water utilities in Texas, "
            "the FBI said.",
            "G1017",
        ),
        ("Midnight Blizzard breached a cloud provider over the past 48 hours, CISA said.", "G0016"),
        # the record first, then the news after "but"
        (
            "APT28 has spied on NATO governments in the past, but this month it breached a Polish "
            "ministry, officials said.",
            "G0007",
        ),
    ],
)
def test_news_told_beside_the_past_still_claims(nlp: Language, text: str, group_id: str) -> None:
    (attribution,) = analyze(nlp, text).attributions
    assert (attribution.group_id, attribution.stance) == (group_id, "asserted")


def test_a_record_then_a_contrast_without_news_is_background(nlp: Language) -> None:
    text = (
        "Lazarus has historically targeted cryptocurrency exchanges, but it is unclear who is "
        "behind this heist."
    )
    assert analyze(nlp, text).attributions == []


# Third audit round: wordings of 2024-2026 news, statements and vendor blogs.


@pytest.mark.parametrize(
    ("text", "group_id"),
    [
        (
            "Norway's police service identified APT31 as the actor that breached the "
            "parliament's mail servers.",
            "G0128",
        ),
        ("The Treasury named Evil Corp as the gang that stole the bank credentials.", "G0119"),
    ],
)
def test_a_deed_in_a_relative_clause_after_that_is_a_verb(
    nlp: Language, text: str, group_id: str
) -> None:
    (attribution,) = analyze(nlp, text).attributions
    assert (attribution.group_id, attribution.stance) == (group_id, "asserted")
    # "that" before a noun is still the demonstrative: no deed
    assert analyze(nlp, "APT31 is named in that breached-systems list.").attributions == []


@pytest.mark.parametrize(
    ("text", "attributor"),
    [
        # two adverbs or auxiliaries before the verb
        (
            "The Foreign Office has formally accused APT29 of breaching the embassy.",
            "The Foreign Office",
        ),
        # a conjunction is no part of the speaker
        (
            "The implant was new, although Symantec found that Gamaredon had deployed it.",
            "Symantec",
        ),
        # who names the group is not who claims, when someone else speaks
        (
            "GRU Unit 74455, which Google calls APT44, wiped the servers of a Polish dam, the "
            "Polish government said.",
            "the Polish government",
        ),
        # the organisation of a speaker introduced by an aside with a post
        (
            "Paul Chichester, operations director of the NCSC, said Star Blizzard phished "
            "British MPs.",
            "the NCSC",
        ),
        # "held ... responsible", "connected", and a passive agent after a time adverbial
        (
            "The Dutch cabinet held Laundry Bear responsible for the police breach.",
            "The Dutch cabinet",
        ),
        ("Cisco Talos connected the router intrusions to Velvet Ant.", "Cisco Talos"),
        (
            "A new APT37 campaign was detailed last week by Genians, which found it planting "
            "backdoors.",
            "Genians",
        ),
    ],
)
def test_claimants_in_more_wordings(nlp: Language, text: str, attributor: str) -> None:
    (attribution,) = analyze(nlp, text).attributions
    assert attribution.attributed_by == attributor


@pytest.mark.parametrize(
    "text",
    [
        "If confirmed, the theft would be the first known APT41 intrusion at a Dutch hospital.",
        "Initially pinned on APT41 hackers, the outage at the ministry was later traced to a "
        "contractor.",
    ],
)
def test_an_opening_conjunction_or_adverb_is_no_claimant(nlp: Language, text: str) -> None:
    (attribution,) = analyze(nlp, text).attributions
    assert attribution.attributed_by is None


@pytest.mark.parametrize(
    ("text", "group_id", "stance"),
    [
        # the noun of the claim and a synonym of "attributed"
        (
            "The public attribution of the ransomware attack on the Vienna airport to Scattered "
            "Spider came from Austrian police.",
            "G1015",
            "asserted",
        ),
        ("The sabotage of the rail signalling system was ascribed to APT44.", "G0034", "asserted"),
        ("The phishing kit originated with APT35, researchers said.", "G0059", "asserted"),
        ("The leaked files did not originate with APT35, the ministry said.", "G0059", "negated"),
        # a claim taken back
        (
            "The vendor withdrew its attribution of the phishing wave to Kimsuky.",
            "G0094",
            "negated",
        ),
        (
            "ESET retracted its earlier assessment that APT29 breached the think tank.",
            "G0016",
            "negated",
        ),
        (
            "The agency had wrongly blamed APT33 for the outage, its director admitted.",
            "G0064",
            "negated",
        ),
        ("Analysts warned against attributing the wiper to APT44.", "G0034", "negated"),
        (
            "First linked to APT41, the intrusion at the university proved to be the work of "
            "students.",
            "G0096",
            "negated",
        ),
        # the revision names the group: the earlier claim was about someone else
        (
            "Initially linked to a criminal gang, the breach was later traced to APT41.",
            "G0096",
            "asserted",
        ),
    ],
)
def test_a_nominal_claim_and_a_claim_taken_back(
    nlp: Language, text: str, group_id: str, stance: str
) -> None:
    (attribution,) = analyze(nlp, text).attributions
    assert (attribution.group_id, attribution.stance) == (group_id, stance)


@pytest.mark.parametrize(
    "text",
    [
        "Attribution is hard, and APT28 is known for false flags.",
        # the notion, not a claim someone made
        "The author argues that attribution to APT29 based only on shared tooling is weak.",
    ],
)
def test_the_word_attribution_alone_claims_nothing(nlp: Language, text: str) -> None:
    assert analyze(nlp, text).attributions == []


@pytest.mark.parametrize(
    ("text", "group_id", "stance"),
    [
        # an "and" inside the object of the blame joins nouns, not clauses
        (
            "The SBU linked the DDoS floods against banks and rail companies to Sandworm.",
            "G0034",
            "asserted",
        ),
        (
            "Investigators attributed the intrusions at wind farms and water plants to Lead.",
            "G0096",
            "asserted",
        ),
        # more forms of the link, a noun of blame, a likeness
        ("A new Mandiant report ties the telecom breaches to Sandworm.", "G0034", "asserted"),
        (
            "Officials placed the blame for the ransomware attack firmly on Silence.",
            "G0091",
            "asserted",
        ),
        ("The heist bore the hallmarks of Lazarus, Elliptic said.", "G0032", "hedged"),
    ],
)
def test_an_ordinary_word_name_blamed_through_a_longer_object_is_the_group(
    nlp: Language, text: str, group_id: str, stance: str
) -> None:
    (attribution,) = analyze(nlp, text).attributions
    assert (attribution.group_id, attribution.stance) == (group_id, stance)


@pytest.mark.parametrize(
    "text",
    [
        # "and" opens a clause whose verb is not the blame
        "The firm linked the outage to a vendor and sold its shares to Lazarus.",
        # blamed for something that is no intrusion
        "Critics put the blame for the bad harvest on Sandworm.",
        "Her family ties to Lazarus were the subject of the sermon.",
    ],
)
def test_look_alikes_of_a_longer_blamed_object_are_no_mention(nlp: Language, text: str) -> None:
    assert analyze(nlp, text).mentions == []


def test_the_claimant_who_puts_the_blame(nlp: Language) -> None:
    text = "Kyiv's cyber police put the blame for the outage on APT44."
    (attribution,) = analyze(nlp, text).attributions
    assert attribution.attributed_by == "Kyiv's cyber police"


@pytest.mark.parametrize(
    "text",
    [
        # a record told "over the years"
        "APT10 and APT41 have exploited the same VPN appliances over the years.",
        # a profile phrase with an adverb inside it
        "Turla is known primarily for hijacking satellite links to hide its servers.",
        # the group is what the story's actor is compared with
        "Unlike APT29's cloud intrusions, the new campaign breached only on-premises servers.",
        "Compared with Lazarus Group's attacks on exchanges, the theft was small.",
    ],
)
def test_a_record_a_profile_or_a_comparison_is_background(nlp: Language, text: str) -> None:
    assert [a for a in analyze(nlp, text).attributions if a.stance != "negated"] == []


def test_a_denial_about_the_group_outranks_a_deed_of_its_name(nlp: Language) -> None:
    text = (
        "The backdoor resembles one that Kimsuky deployed last year, but Genians found nothing "
        "tying the group to the new intrusions."
    )
    (attribution,) = analyze(nlp, text).attributions
    assert attribution.stance == "negated"
    # a deed of the name and a claim about "the group" that is not denied
    text = "APT41 used the loader in 2020, and the group was behind the breach."
    (attribution,) = analyze(nlp, text).attributions
    assert attribution.stance == "asserted"


def test_a_claim_whose_object_is_another_group_is_that_groups(nlp: Language) -> None:
    text = (
        "Infrastructure used by APT10 was found on the servers, but Trend Micro attributed the "
        "intrusion to Earth Lusca."
    )
    assert by_group(analyze(nlp, text)) == {"G1006": "asserted"}
    # both groups in the object keep the claim
    text = "Trend Micro attributed the intrusions to Earth Lusca and APT10."
    assert by_group(analyze(nlp, text)) == {"G1006": "asserted", "G0045": "asserted"}


def test_the_group_set_aside_by_rather_than_is_negated(nlp: Language) -> None:
    text = "Google said APT44, rather than APT28, sabotaged the dam's control system."
    assert by_group(analyze(nlp, text)) == {"G0034": "asserted", "G0007": "negated"}


@pytest.mark.parametrize(
    ("text", "group_id", "stance"),
    [
        (
            "It is plausible that APT44 planted the wiper, Ukrainian officials said.",
            "G0034",
            "hedged",
        ),
        ("Volexity tentatively linked the webshells to UNC3886.", "G1048", "hedged"),
        (
            "If verified, the leak would be the largest Lazarus Group intrusion at a defence firm.",
            "G0032",
            "hedged",
        ),
        ("The lure's metadata hints at APT42, Proofpoint said.", "G1044", "hedged"),
        (
            "The C2 servers overlap with known Mustang Panda infrastructure, but Sekoia could not "
            "confirm the link.",
            "G0129",
            "hedged",
        ),
        (
            "Finnish police said APT31 is the prime suspect in the breach of the parliament's "
            "network.",
            "G0128",
            "hedged",
        ),
        (
            "Analysts found no meaningful overlap between the wiper and APT33's earlier tools.",
            "G0064",
            "negated",
        ),
    ],
)
def test_hedges_and_qualified_denials_in_more_wordings(
    nlp: Language, text: str, group_id: str, stance: str
) -> None:
    (attribution,) = analyze(nlp, text).attributions
    assert (attribution.group_id, attribution.stance) == (group_id, stance)
    assert attribution.attributed_by is not None or "said" not in text


def test_an_adverb_between_the_speaker_and_its_verb(nlp: Language) -> None:
    (attribution,) = analyze(nlp, "The FBI quietly tied the wiper to APT44.").attributions
    assert attribution.attributed_by == "The FBI"


@pytest.mark.parametrize(
    ("text", "sponsor"),
    [
        (
            "Operatives from the Ministry of State Security's Guangdong bureau, known as APT27, "
            "breached a Czech ministry.",
            "China's Ministry of State Security",
        ),
        (
            "Sandworm hackers from the GRU wiped the servers of a Danish utility.",
            "Russia's GRU",
        ),
        (
            "The SVR's foreign directorate ran Midnight Blizzard's intrusion at the embassy, "
            "officials said.",
            "Russia's SVR",
        ),
    ],
)
def test_the_agency_its_people_come_from_or_its_unit_is_the_sponsor(
    nlp: Language, text: str, sponsor: str
) -> None:
    (attribution,) = analyze(nlp, text).attributions
    assert attribution.sponsor == sponsor
    # what is taken from an agency is no sponsor
    (attribution,) = analyze(nlp, "APT31 hackers stole files from the FSB's archive.").attributions
    assert attribution.sponsor == "China"


@pytest.mark.parametrize(
    ("text", "group_id", "stance", "attributor"),
    [
        ("Kimsuky hackers siphoned research files from the institute.", "G0094", "asserted", None),
        (
            "The NCSC pointed the finger at APT31 for the breach of the Electoral Commission.",
            "G0128",
            "asserted",
            "The NCSC",
        ),
        ("The phishing domains belong to APT42, Google said.", "G1044", "asserted", "Google"),
        (
            "Palo Alto credited Mustang Panda with the USB-borne intrusions.",
            "G0129",
            "asserted",
            "Palo Alto",
        ),
        (
            "Officials disclosed APT29's spear-phishing of German party staff.",
            "G0016",
            "asserted",
            "Officials",
        ),
        (
            "Analysts spotted Gamaredon's fingerprints in the new USB worm.",
            "G0047",
            "hedged",
            "Analysts",
        ),
        (
            "A Lazarus-linked address received the proceeds of the exchange hack, Elliptic said.",
            "G0032",
            "asserted",
            "Elliptic",
        ),
    ],
)
def test_claims_in_more_verbs_and_phrases(
    nlp: Language, text: str, group_id: str, stance: str, attributor: str | None
) -> None:
    (attribution,) = analyze(nlp, text).attributions
    assert (attribution.group_id, attribution.stance) == (group_id, stance)
    assert attribution.attributed_by == attributor


def test_a_linked_look_alike_is_no_group(nlp: Language) -> None:
    assert (
        analyze(nlp, "Dune-linked merchandise sold out, and Sandworm plushies followed.").mentions
        == []
    )


@pytest.mark.parametrize(
    ("text", "group_id", "stance"),
    [
        (
            "Moscow denied that APT29 had anything to do with the outage at the ministry.",
            "G0016",
            "negated",
        ),
        ("The leak had little to do with Kimsuky, the ministry said.", "G0094", "negated"),
        ("Police said the intruders were members of APT41.", "G0096", "asserted"),
    ],
)
def test_dealings_with_the_group_and_membership_of_it(
    nlp: Language, text: str, group_id: str, stance: str
) -> None:
    (attribution,) = analyze(nlp, text).attributions
    assert (attribution.group_id, attribution.stance) == (group_id, stance)


def test_a_one_word_name_before_a_lower_case_natural_place_is_the_place(nlp: Language) -> None:
    assert analyze(nlp, "Barges on the Turla river carried grain to Odesa.").mentions == []
    (mention,) = analyze(nlp, "Turla hackers breached the river authority.").mentions
    assert mention.group_id == "G0010"
