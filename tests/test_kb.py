"""The knowledge base: one group per real actor, ambiguous names keep every candidate."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from nlp.errors import KnowledgeBaseError
from nlp.importer import build_groups, main, read_overrides
from nlp.kb import Group, KnowledgeBase, load_groups

OVERRIDES = Path(__file__).resolve().parents[1] / "nlp" / "data" / "overrides.tsv"


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.load()


def test_apt31_names_from_every_vendor_resolve_to_one_attack_group(kb: KnowledgeBase) -> None:
    names = ["APT31", "ZIRCONIUM", "Judgment Panda", "Violet Typhoon", "BRONZE VINEWOOD", "TA412"]
    assert {tuple(g.id for g in kb.lookup(name)) for name in names} == {("G0128",)}
    group = kb.get("G0128")
    assert group is not None and group.mitre_id == "G0128" and group.country == "CN"
    assert group.origin_of("Violet Typhoon") == "Microsoft"


@pytest.mark.parametrize("spelling", ["APT-31", "apt 31", "apt31", "Apt31"])
def test_lookup_ignores_case_spaces_and_hyphens(kb: KnowledgeBase, spelling: str) -> None:
    assert kb.find(spelling) is not None and kb.find(spelling).id == "G0128"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("name", "expected"),
    [("Grizzly Steppe", {"G0007", "G0016"}), ("Nobelium", {"G0016"}), ("Andariel", {"G0138"})],
)
def test_names_claimed_by_several_groups_keep_every_candidate(
    kb: KnowledgeBase, name: str, expected: set[str]
) -> None:
    owners = {g.id for g in kb.lookup(name)}
    assert expected <= owners and len(owners) > 1
    assert kb.find(name) is None


@pytest.mark.parametrize(
    ("name", "group_id"),
    # the primary name of one ATT&CK group, listed as an alias elsewhere; and a Microsoft name
    # whose other names all belong to a MISP actor, where ATT&CK has a group of that name too
    # (one group since overrides.tsv merges the two: see the merge_group test below)
    [("Moonstone Sleet", "G1036"), ("Storm-1789", "G1036"), ("Salt Typhoon", "G1045")],
)
def test_a_microsoft_name_joins_the_group_the_evidence_points_to(
    kb: KnowledgeBase, name: str, group_id: str
) -> None:
    owners = {g.id for g in kb.lookup(name)}
    assert group_id in owners
    assert not any(owner.startswith("misp:") for owner in owners)


@pytest.mark.parametrize(
    "name",
    [
        "Silence",
        "Lead",
        "Mask",
        "Cobalt",
        "Play",
        "Equation",
        "Sandworm",
        "Patchwork",
        "Tick",
        "Snake",
        "Carbanak",
        "CozyDuke",
        "Shadow Brokers",
    ],
)
def test_ordinary_words_and_malware_names_need_evidence(kb: KnowledgeBase, name: str) -> None:
    assert kb.lookup(name), f"{name} should be a known alias"
    assert kb.needs_evidence(name)


@pytest.mark.parametrize("name", ["APT28", "Fancy Bear", "Turla", "Kimsuky", "Violet Typhoon"])
def test_coined_names_need_no_evidence(kb: KnowledgeBase, name: str) -> None:
    assert not kb.needs_evidence(name)


def test_committed_data_file_is_what_the_importer_writes(shared_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "groups.json"
    assert main(["--kb", str(shared_data / "kb"), "--out", str(out)]) == 0
    committed = Path(__file__).resolve().parents[1] / "nlp" / "data" / "groups.json"
    assert out.read_text(encoding="utf-8") == committed.read_text(encoding="utf-8")


def test_data_file_holds_facts_only() -> None:
    groups = json.loads((OVERRIDES.parent / "groups.json").read_text(encoding="utf-8"))["groups"]
    assert not any("description" in group for group in groups)
    assert [g["id"] for g in groups] == sorted(g["id"] for g in groups)


def test_every_override_line_gives_a_reason() -> None:
    overrides = read_overrides(OVERRIDES)
    assert overrides and all(o.reason for o in overrides)


def test_override_without_reason_is_rejected(tmp_path: Path) -> None:
    bad = tmp_path / "overrides.tsv"
    bad.write_text("needs_evidence\t*\tTurla\n", encoding="utf-8")
    with pytest.raises(KnowledgeBaseError, match="4 tab-separated fields"):
        read_overrides(bad)


def _overrides(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "overrides.tsv"
    path.write_text("# a comment\n" + "".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


def test_drop_group_removes_a_group_and_every_name_of_it(shared_data: Path, tmp_path: Path) -> None:
    path = _overrides(tmp_path, "drop_group\tmisp:unnamed-actor\tUnnamed Actor\ta generic phrase")
    groups = build_groups(shared_data / "kb", read_overrides(path))
    kb = KnowledgeBase(Group.from_json(group) for group in groups)
    assert kb.get("misp:unnamed-actor") is None and kb.lookup("Unnamed Actor") == ()
    assert kb.get("G0128") is not None


def test_a_mark_with_a_group_id_marks_that_group_only(shared_data: Path, tmp_path: Path) -> None:
    path = _overrides(tmp_path, "needs_evidence\tG0007\tGrizzly Steppe\tonly as APT28")
    groups = build_groups(shared_data / "kb", read_overrides(path))
    kb = KnowledgeBase(Group.from_json(group) for group in groups)
    apt28, apt29 = kb.get("G0007"), kb.get("G0016")
    assert apt28 is not None and apt28.name_needs_evidence("Grizzly Steppe")
    assert apt29 is not None and not apt29.name_needs_evidence("Grizzly Steppe")


def test_merge_group_makes_one_actor_the_catalogues_keep_apart_one_group(
    shared_data: Path, tmp_path: Path
) -> None:
    """ATT&CK's Salt Typhoon has no alias and no country; MISP's GhostEmperor lists Salt Typhoon
    among its names: the name was ambiguous and an alert for it had no sponsor."""
    path = _overrides(tmp_path, "merge_group\tG1045\tGhostEmperor\tMicrosoft's naming map")
    groups = build_groups(shared_data / "kb", read_overrides(path))
    kb = KnowledgeBase(Group.from_json(group) for group in groups)

    salt = kb.get("G1045")
    assert salt is not None and kb.get("misp:ghostemperor") is None
    assert [group.id for group in kb.lookup("Salt Typhoon")] == ["G1045"]
    assert [group.id for group in kb.lookup("FamousSparrow")] == ["G1045"]
    assert salt.country == "CN"
    assert salt.origin_of("GhostEmperor") == "Kaspersky"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            "needs_evidence\t*\tNo Such Actor\tnot a name",
            "needs_evidence * 'No Such Actor' matches nothing: no group has that name",
        ),
        (
            "drop_alias\t*\tUnnamed Actor\tgeneric",
            "drop_alias * 'Unnamed Actor' matches nothing: it is the primary name of "
            "misp:unnamed-actor, which drop_alias cannot remove (use drop_group)",
        ),
        (
            "drop_group\tmisp:unnamed-actor\tUnnamed Group\tgeneric",
            "drop_group misp:unnamed-actor 'Unnamed Group' matches nothing: "
            "the group is named 'Unnamed Actor'",
        ),
        (
            "add_alias\tG0128\tZIRCONIUM\talready there",
            "add_alias G0128 'ZIRCONIUM' matches nothing: the group already has that name",
        ),
        (
            "trusted\tG9999\tAPT31\tno such group",
            "trusted G9999 'APT31' matches nothing: the catalogues give no group G9999",
        ),
        (
            "merge_group\tG1045\tNo Such Actor\tnot a group",
            "merge_group G1045 'No Such Actor' matches nothing: no group has that primary name",
        ),
        (
            "merge_group\tG0128\tAPT30\ttwo ATT&CK groups",
            "merge_group G0128 'APT30' matches nothing: G0013 is an ATT&CK group of its own",
        ),
    ],
    ids=[
        "unknown-name",
        "primary-name",
        "wrong-group-name",
        "known-alias",
        "unknown-group",
        "merge-unknown",
        "merge-attack-group",
    ],
)
def test_an_override_that_matches_nothing_is_refused_with_its_line(
    shared_data: Path, tmp_path: Path, line: str, message: str
) -> None:
    path = _overrides(tmp_path, "needs_evidence\t*\tSandworm\tDune", line)
    with pytest.raises(KnowledgeBaseError) as failure:
        build_groups(shared_data / "kb", read_overrides(path))
    assert str(failure.value) == f"{path}:3: {message}"


@pytest.mark.parametrize("action", ["add_alias", "drop_group", "merge_group"])
def test_overrides_that_need_one_group_refuse_the_wildcard(tmp_path: Path, action: str) -> None:
    path = _overrides(tmp_path, f"{action}\t*\tAPT31\tevery group")
    with pytest.raises(KnowledgeBaseError, match=rf"^{path}:2: {action} needs a group id, not \*$"):
        read_overrides(path)


def test_missing_catalogue_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(KnowledgeBaseError, match="no ATT&CK intrusion sets"):
        build_groups(tmp_path, [])


def test_importer_names_a_file_that_is_not_utf8(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kb_dir = tmp_path / "kb"
    shutil.copytree(shared_data / "kb", kb_dir, copy_function=shutil.copyfile)
    country = kb_dir / "misp-galaxy" / "clusters" / "country.json"
    country.parent.chmod(0o755)
    country.unlink()
    country.write_bytes(bytes(range(128, 256)) * 8)

    assert main(["--kb", str(kb_dir), "--out", str(tmp_path / "groups.json")]) == 2

    assert (
        capsys.readouterr().err
        == f"error: {country}: not UTF-8 text (invalid start byte at byte 0)\n"
    )
    assert not (tmp_path / "groups.json").exists()


def test_missing_kb_file_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(KnowledgeBaseError, match="knowledge base not found"):
        load_groups(tmp_path / "nope.json")


@pytest.mark.parametrize(
    ("name", "group_id"),
    [
        ("Silence group", "G0091"),  # MISP's "Silence group" is ATT&CK's "Silence"
        ("Charming Kitten", "G0059"),  # an ATT&CK alias MISP also links to the group
        ("Mythic Leopard", "G0134"),  # MISP's "Operation C-Major" names only Transparent Tribe
    ],
)
def test_misp_duplicates_of_an_attack_group_merge_into_it(
    kb: KnowledgeBase, name: str, group_id: str
) -> None:
    assert [g.id for g in kb.lookup(name)] == [group_id]


def test_no_misp_only_copy_of_an_attack_group_remains(kb: KnowledgeBase) -> None:
    ids = {group.id for group in kb}
    assert not {"misp:silence-group", "misp:charming-kitten", "misp:operation-c-major"} & ids


def test_campaign_names_need_evidence(kb: KnowledgeBase) -> None:
    assert kb.needs_evidence("Operation AppleJeus") and not kb.needs_evidence("Lazarus Group")


def test_gru_sponsor_names_the_state(kb: KnowledgeBase) -> None:
    group = kb.get("G0007")
    assert group is not None and group.sponsor == "Russia's GRU (Unit 26165)"


def test_names_in_a_vendor_numbering_scheme_name_their_vendor(kb: KnowledgeBase) -> None:
    group = kb.get("G0007")
    assert group is not None
    assert group.origin_of("ITG05") == "IBM X-Force"
    assert group.origin_of("TG-4127") == "Secureworks"
    assert group.origin_of("UAC-0028") == "CERT-UA"
    # a catalogue's own statement wins; animal names follow no vendor's scheme alone
    assert group.origin_of("APT-C-20") == "QiAnXin"
    assert kb.get("G0027") is not None and kb.get("G0027").origin_of("Iron Tiger") != "CrowdStrike"  # type: ignore[union-attr]
