"""`groups update` and `groups show`: rebuild the knowledge base from upstream-shaped files served
on 127.0.0.1 (built from ../shared/data/kb in tmp_path, never the network) and describe groups."""

from __future__ import annotations

import json
import re
import shutil
import sys
import tomllib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from aptwatch.cli import app
from aptwatch.localsite import LocalSite, Response, serve
from nlp.describe import UnknownGroupError, describe_group, format_group_description
from nlp.errors import NlpError
from nlp.importer import ATTACK_DOMAINS
from nlp.kb import KnowledgeBase, load_groups
from nlp.updater import (
    MISP_CLUSTERS,
    KbSources,
    KnowledgeBaseUpdateError,
    UpdateReport,
    mirror_paths,
    update_knowledge_base,
)

COMMITTED_KB = Path(__file__).resolve().parents[1] / "nlp" / "data" / "groups.json"
PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
OVERRIDES = COMMITTED_KB.parent / "overrides.tsv"
APT31_NAMES = ["APT31", "ZIRCONIUM", "Violet Typhoon", "Judgment Panda", "BRONZE VINEWOOD"]
THREAT_ACTOR_PATH = "/misp-galaxy/clusters/threat-actor.json"
ENTERPRISE_PATH = "/mitre-attack/enterprise-attack.json"
runner = CliRunner()


def _attack_bundle(domain_dir: Path) -> dict[str, object]:
    """One STIX bundle holding every per-object file of a domain, as attack-stix-data ships it."""
    objects = [
        obj
        for path in sorted(domain_dir.glob("*/*.json"))
        for obj in json.loads(path.read_text(encoding="utf-8"))["objects"]
    ]
    # Bundles also carry techniques, software ... that say nothing about groups.
    objects.append({"type": "attack-pattern", "id": f"attack-pattern--{uuid.uuid4()}", "name": "x"})
    return {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objects}


def _write_mirror(kb_dir: Path, root: Path) -> None:
    paths = mirror_paths()
    for domain in ATTACK_DOMAINS:
        target = root / paths[("attack", domain)]
        target.parent.mkdir(parents=True, exist_ok=True)
        bundle = _attack_bundle(kb_dir / "mitre-attack" / domain)
        target.write_text(json.dumps(bundle), encoding="utf-8")
    for name in MISP_CLUSTERS:
        target = root / paths[("misp", name)]
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(kb_dir / "misp-galaxy" / "clusters" / name, target)
    target = root / paths[("microsoft", "")]
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(kb_dir / "microsoft-naming" / "MicrosoftMapping.json", target)


def _writable_copy(source: Path, target: Path) -> Path:
    """A copy of a folder a test may change, whatever the permissions of the original."""
    shutil.copytree(source, target, copy_function=shutil.copyfile)
    for folder in [target, *(path for path in target.rglob("*") if path.is_dir())]:
        folder.chmod(0o755)
    return target


@pytest.fixture(scope="module")
def mirror(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("upstream")
    _write_mirror(shared_data / "kb", root)
    return root


@pytest.fixture(scope="module")
def _upstream_server(mirror: Path) -> Iterator[LocalSite]:
    with serve(mirror) as site:
        yield site


@pytest.fixture
def upstream(_upstream_server: LocalSite) -> LocalSite:
    """The mirror on one server for the module (a shutdown costs 0.5 s); routes reset per test."""
    _upstream_server.routes.clear()
    _upstream_server.requests.clear()
    return _upstream_server


def _sources(site: LocalSite) -> KbSources:
    return KbSources.mirror(site.base_url, allow_http=True)


@dataclass
class Downloaded:
    out: Path
    report: UpdateReport
    requests: list[str]
    user_agents: list[str]


@pytest.fixture(scope="module")
def downloaded(mirror: Path, tmp_path_factory: pytest.TempPathFactory) -> Downloaded:
    """One full update over HTTP into a path where no knowledge base exists yet."""
    out = tmp_path_factory.mktemp("kb") / "data" / "groups.json"
    user_agents: list[str] = []
    mapping = mirror / mirror_paths()[("microsoft", "")]

    def recording_route(handler: BaseHTTPRequestHandler) -> Response:
        user_agents.append(handler.headers.get("User-Agent", ""))
        return Response(200, mapping.read_bytes(), {"Content-Type": "application/json"})

    with serve(mirror) as site:
        site.routes["/" + mirror_paths()[("microsoft", "")]] = recording_route
        report = update_knowledge_base(out, sources=_sources(site), timeout=10)
        return Downloaded(out, report, list(site.requests), user_agents)


@pytest.fixture
def old_kb(tmp_path: Path) -> Path:
    out = tmp_path / "groups.json"
    shutil.copyfile(COMMITTED_KB, out)
    return out


def test_download_merges_every_vendor_name_of_apt31_into_one_group(downloaded: Downloaded) -> None:
    kb = KnowledgeBase.load(downloaded.out)
    assert {tuple(g.id for g in kb.lookup(name)) for name in APT31_NAMES} == {("G0128",)}
    assert {g.id for g in kb.lookup("Grizzly Steppe")} >= {"G0007", "G0016"}
    report = downloaded.report
    assert report.groups_before is None and report.groups_after == len(kb) > 1000
    assert len(report.sources) == len(downloaded.requests) == 8
    assert report.downloaded_bytes > 1_000_000
    assert "groups: none ->" in report.summary()


def test_download_reads_each_file_once_with_an_honest_user_agent(downloaded: Downloaded) -> None:
    expected = sorted("/" + path for path in mirror_paths().values())
    assert sorted(downloaded.requests) == expected
    assert len(downloaded.user_agents) == 1 and downloaded.user_agents[0].startswith("aptwatch/")


def test_local_folder_in_importer_layout_gives_the_same_file_and_a_diff_report(
    downloaded: Downloaded, shared_data: Path, tmp_path: Path
) -> None:
    # The previous file lacks ZIRCONIUM and has a group the sources no longer know.
    document = json.loads(downloaded.out.read_text(encoding="utf-8"))
    document["groups"] = [g for g in document["groups"] if g["id"] != "G0128"]
    document["groups"].append({"id": "misp:gone-group", "name": "Gone Group", "aliases": ["Gonzo"]})
    out = tmp_path / "groups.json"
    out.write_text(json.dumps(document), encoding="utf-8")

    report = update_knowledge_base(out, fetch_root=shared_data / "kb")

    assert out.read_bytes() == downloaded.out.read_bytes()
    assert report.sources == (str(shared_data / "kb"),) and report.downloaded_bytes == 0
    assert report.groups_before == report.groups_after == downloaded.report.groups_after
    assert report.groups_added == ("G0128 ZIRCONIUM",)
    assert report.groups_removed == ("misp:gone-group Gone Group",)
    assert {"Gone Group", "Gonzo"} == set(report.names_removed)
    assert {"Violet Typhoon", "ZIRCONIUM"} <= set(report.names_added)


def test_update_reports_an_override_the_new_data_no_longer_needs(
    shared_data: Path, old_kb: Path, tmp_path: Path
) -> None:
    # Upstream may fix what a packaged correction was for; users cannot edit overrides.tsv.
    overrides = tmp_path / "overrides.tsv"
    overrides.write_text(
        OVERRIDES.read_text(encoding="utf-8") + "drop_alias\t*\tNo Such Alias\tgone upstream\n",
        encoding="utf-8",
    )
    number = len(overrides.read_text(encoding="utf-8").splitlines())

    report = update_knowledge_base(old_kb, fetch_root=shared_data / "kb", overrides_path=overrides)

    assert old_kb.read_bytes() == COMMITTED_KB.read_bytes()
    line = f"{overrides}:{number}: drop_alias * 'No Such Alias' matches nothing: "
    line += "no group has that alias"
    assert report.overrides_unmatched == (line,)
    assert f"override not applied: {line}" in report.summary().splitlines()


def _not_found(handler: BaseHTTPRequestHandler) -> Response:
    return Response(404, b"not found", {"Content-Type": "text/plain"})


def _invalid_json(handler: BaseHTTPRequestHandler) -> Response:
    return Response(200, b'{"type": "bundle", "objects": [{"type": "intr', {})


def _cut_off_transfer(handler: BaseHTTPRequestHandler) -> Response:
    # Announces more bytes than it sends, as a connection dropped mid-download does.
    return Response(200, b'{"values": [', {"Content-Length": "5000"})


def _not_a_bundle(handler: BaseHTTPRequestHandler) -> Response:
    return Response(200, json.dumps({"values": []}).encode(), {})


BAD_SYNONYMS = {"values": [{"value": "APT99", "uuid": str(uuid.uuid4()), "meta": {"synonyms": 7}}]}


def _bad_synonyms(handler: BaseHTTPRequestHandler) -> Response:
    return Response(200, json.dumps(BAD_SYNONYMS).encode(), {})


@pytest.mark.parametrize(
    ("path", "route", "message"),
    [
        (THREAT_ACTOR_PATH, _not_found, "HTTP 404"),
        (ENTERPRISE_PATH, _invalid_json, "not valid JSON"),
        (THREAT_ACTOR_PATH, _cut_off_transfer, "truncated: got 12 of 5000 bytes"),
        (ENTERPRISE_PATH, _not_a_bundle, "not a STIX bundle"),
        (THREAT_ACTOR_PATH, _bad_synonyms, r"entry 0 \('APT99'\): 'meta.synonyms' is not a list"),
    ],
    ids=["404", "invalid-json", "cut-off", "not-a-bundle", "bad-synonyms"],
)
def test_failed_download_names_the_url_and_leaves_the_old_file_untouched(
    upstream: LocalSite, old_kb: Path, path: str, route: object, message: str
) -> None:
    before = old_kb.read_bytes()
    upstream.routes[path] = route  # type: ignore[assignment]
    with pytest.raises(KnowledgeBaseUpdateError, match=message) as failure:
        update_knowledge_base(old_kb, sources=_sources(upstream), timeout=10)
    assert upstream.url(path) in str(failure.value)
    assert old_kb.read_bytes() == before
    assert [p.name for p in old_kb.parent.iterdir()] == [old_kb.name]  # no temp file left


def test_plain_http_is_refused_unless_allowed(upstream: LocalSite, old_kb: Path) -> None:
    before = old_kb.read_bytes()
    sources = KbSources.mirror(upstream.base_url)
    with pytest.raises(KnowledgeBaseUpdateError, match="only https URLs are allowed"):
        update_knowledge_base(old_kb, sources=sources)
    assert upstream.requests == [] and old_kb.read_bytes() == before


def test_oversized_file_is_refused(upstream: LocalSite, old_kb: Path) -> None:
    before = old_kb.read_bytes()
    with pytest.raises(KnowledgeBaseUpdateError, match="over the 1000-byte limit"):
        update_knowledge_base(old_kb, sources=_sources(upstream), max_bytes=1000)
    assert old_kb.read_bytes() == before


def test_result_with_less_than_half_the_misp_groups_is_refused(
    mirror: Path, old_kb: Path, tmp_path: Path
) -> None:
    # A local mirror of the unsplit files where MISP and Microsoft came back empty.
    small = tmp_path / "mirror"
    shutil.copytree(mirror, small)
    for name in MISP_CLUSTERS:
        (small / mirror_paths()[("misp", name)]).write_text('{"values": []}', encoding="utf-8")
    (small / mirror_paths()[("microsoft", "")]).write_text("[]", encoding="utf-8")
    before = old_kb.read_bytes()
    with pytest.raises(
        KnowledgeBaseUpdateError,
        match=r"^MISP threat-actor galaxy: 0 groups .* fewer than 50% of the 1\d{3} in the current",
    ):
        update_knowledge_base(old_kb, fetch_root=small)
    assert old_kb.read_bytes() == before


def _attack_ids(obj: dict[str, Any]) -> set[str]:
    return {ref.get("external_id") for ref in obj.get("external_references", [])}


def test_attack_download_that_lost_its_groups_is_refused_though_misp_keeps_the_total(
    upstream: LocalSite, mirror: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # MISP alone still gives ~1070 groups, but APT31 would lose its ATT&CK id (and alert ids).
    bundle = json.loads((mirror / ENTERPRISE_PATH.lstrip("/")).read_text(encoding="utf-8"))
    bundle["objects"] = [
        obj
        for obj in bundle["objects"]
        if obj["type"] != "intrusion-set" or _attack_ids(obj) & {"G0006", "G0007", "G0034"}
    ]
    body = json.dumps(bundle).encode()
    upstream.routes[ENTERPRISE_PATH] = lambda handler: Response(200, body, {})
    data_dir = tmp_path / "var"
    data_dir.mkdir()
    shutil.copyfile(COMMITTED_KB, data_dir / "groups.json")
    before = (data_dir / "groups.json").read_bytes()
    monkeypatch.setenv("APTWATCH_DATA_DIR", str(data_dir))

    result = runner.invoke(app, ["groups", "update", "--from", upstream.base_url])

    assert result.exit_code == 2, result.output
    (line,) = result.stderr.splitlines()
    assert line.startswith("aptwatch: error: MITRE ATT&CK: ")
    committed_attack = sum(1 for g in load_groups(COMMITTED_KB) if g.mitre_id)
    assert f"fewer than 50% of the {committed_attack} in the current knowledge base" in line
    assert (data_dir / "groups.json").read_bytes() == before
    assert [p.name for p in data_dir.iterdir()] == ["groups.json"]


@pytest.mark.parametrize("source", ["", "  "])
def test_empty_from_is_an_error_not_the_current_folder(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str
) -> None:
    # Run from a folder in the importer layout: read as ".", it would be a valid source.
    monkeypatch.chdir(shared_data / "kb")
    monkeypatch.setenv("APTWATCH_DATA_DIR", str(tmp_path / "var"))

    result = runner.invoke(app, ["groups", "update", "--from", source])

    assert result.exit_code == 2, result.output
    assert result.stderr == (
        "aptwatch: error: --from is empty; give a mirror URL or a local folder, "
        "or leave it out for the official files\n"
    )
    assert not (tmp_path / "var" / "groups.json").exists()


def test_first_update_is_checked_against_the_packaged_knowledge_base(
    upstream: LocalSite, mirror: Path, tmp_path: Path
) -> None:
    # threat-actor.json is really MISP's intrusion-set galaxy: a valid cluster, a fifth the size.
    intrusion_sets = mirror / mirror_paths()[("misp", "mitre-intrusion-set.json")]
    upstream.routes[THREAT_ACTOR_PATH] = lambda handler: Response(
        200, intrusion_sets.read_bytes(), {}
    )
    out = tmp_path / "new" / "groups.json"
    with pytest.raises(KnowledgeBaseUpdateError) as failure:
        update_knowledge_base(out, sources=_sources(upstream), timeout=10)
    message = str(failure.value)
    committed_misp = sum(
        "misp-actor" in g["sources"]
        for g in json.loads(COMMITTED_KB.read_text(encoding="utf-8"))["groups"]
    )
    assert message.startswith("MISP threat-actor galaxy: ")
    assert f"of the {committed_misp} in the packaged knowledge base" in message
    assert "\n" not in message
    assert not out.exists()


def test_local_folder_without_the_groups_of_one_attack_domain_is_refused(
    shared_data: Path, old_kb: Path, tmp_path: Path
) -> None:
    folder = _writable_copy(shared_data / "kb", tmp_path / "kb")
    mobile = folder / "mitre-attack" / "mobile-attack" / "intrusion-set"
    shutil.rmtree(mobile)
    mobile.mkdir()
    before = old_kb.read_bytes()
    with pytest.raises(KnowledgeBaseUpdateError, match="no ATT&CK intrusion-set") as failure:
        update_knowledge_base(old_kb, fetch_root=folder)
    assert str(mobile) in str(failure.value)
    assert old_kb.read_bytes() == before


@pytest.mark.parametrize(
    ("path", "content", "message"),
    [
        (
            "misp-galaxy/clusters/threat-actor.json",
            b'{"values": 1}',
            "expected a MISP galaxy cluster file (an object with a 'values' list)",
        ),
        (
            "misp-galaxy/clusters/threat-actor.json",
            json.dumps(BAD_SYNONYMS).encode(),
            "entry 0 ('APT99'): 'meta.synonyms' is not a list of strings",
        ),
        ("misp-galaxy/clusters/country.json", bytes(range(128, 256)) * 8, "not UTF-8 text"),
        (
            "microsoft-naming/MicrosoftMapping.json",
            b'{"Threat actor name": "Violet Typhoon"}',
            "expected Microsoft's threat actor naming map (a JSON list of threat actors)",
        ),
        (
            "mitre-attack/enterprise-attack/intrusion-set/"
            "intrusion-set--00f67a77-86a4-4adf-be26-1a54fc713340.json",
            b"[]",
            "expected a STIX bundle (an object with an 'objects' list)",
        ),
    ],
    ids=["values-not-a-list", "bad-synonyms", "binary-country", "map-not-a-list", "stix-list"],
)
def test_corrupt_file_in_a_local_folder_is_named_with_what_is_wrong(
    shared_data: Path, old_kb: Path, tmp_path: Path, path: str, content: bytes, message: str
) -> None:
    folder = _writable_copy(shared_data / "kb", tmp_path / "kb")
    (folder / path).write_bytes(content)
    before = old_kb.read_bytes()
    with pytest.raises(KnowledgeBaseUpdateError, match=re.escape(message)) as failure:
        update_knowledge_base(old_kb, fetch_root=folder)
    assert f"{folder / path}: " in str(failure.value)
    assert "\n" not in str(failure.value)
    assert old_kb.read_bytes() == before


def test_unreadable_local_mirror_file_is_named(mirror: Path, old_kb: Path, tmp_path: Path) -> None:
    partial = tmp_path / "mirror"
    shutil.copytree(mirror, partial)
    missing = partial / mirror_paths()[("attack", "enterprise-attack")]
    missing.unlink()
    with pytest.raises(KnowledgeBaseUpdateError, match="file not found") as failure:
        update_knowledge_base(old_kb, fetch_root=partial)
    assert str(missing) in str(failure.value)


def test_missing_wordfreq_hint_is_what_pyproject_declares(
    old_kb: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    assert any(re.match(r"wordfreq\b", dep) for dep in project["dependencies"])
    monkeypatch.setitem(sys.modules, "wordfreq", None)  # what an environment without it gives
    with pytest.raises(KnowledgeBaseUpdateError, match="'wordfreq' package") as failure:
        update_knowledge_base(old_kb, fetch_root=old_kb.parent)
    message = str(failure.value)
    assert "pip install wordfreq" in message and "aptwatch depends on" in message
    extras = set(project["optional-dependencies"])
    assert set(re.findall(r"aptwatch\[(\w+)\]", message)) <= extras


def test_sources_are_checked_when_built() -> None:
    with pytest.raises(KnowledgeBaseUpdateError, match="unknown ATT&CK domain 'pre-attack'"):
        KbSources(
            attack_bundles=(("pre-attack", "https://example.org/a.json"),),
            misp_clusters=(("threat-actor.json", "https://example.org/t.json"),),
            microsoft_mapping="https://example.org/m.json",
        )
    with pytest.raises(KnowledgeBaseUpdateError, match=r"threat-actor\.json is required"):
        KbSources(
            attack_bundles=(("enterprise-attack", "https://example.org/a.json"),),
            misp_clusters=(),
            microsoft_mapping="https://example.org/m.json",
        )


def test_show_violet_typhoon_lists_apt31_and_the_attack_page(downloaded: Downloaded) -> None:
    kb = KnowledgeBase.load(downloaded.out)
    description = describe_group("Violet Typhoon", kb)
    assert not description.ambiguous
    (profile,) = description.candidates
    assert profile.mitre_id == "G0128"
    assert profile.attack_url == "https://attack.mitre.org/groups/G0128/"
    names = {info.name: info for info in profile.names}
    assert "APT31" in names and names["Violet Typhoon"].coined_by == "Microsoft"
    text = format_group_description(description)
    assert "G0128" in text and "APT31" in text and "https://attack.mitre.org/groups/G0128/" in text
    assert "coined by Microsoft" in text


def test_show_accepts_group_ids_and_any_spelling(downloaded: Downloaded) -> None:
    kb = KnowledgeBase.load(downloaded.out)
    for query in ["g0128", "apt-31", "violet typhoon"]:
        assert [p.id for p in describe_group(query, kb).candidates] == ["G0128"]


def test_show_ambiguous_name_lists_every_candidate(downloaded: Downloaded) -> None:
    kb = KnowledgeBase.load(downloaded.out)
    description = describe_group("Grizzly Steppe", kb)
    ids = [profile.id for profile in description.candidates]
    assert description.ambiguous and {"G0007", "G0016"} <= set(ids)
    text = format_group_description(description)
    assert "ambiguous" in text and "G0007" in text and "G0016" in text


def test_unknown_name_suggests_close_matches() -> None:
    kb = KnowledgeBase(load_groups(COMMITTED_KB))
    with pytest.raises(UnknownGroupError) as failure:
        describe_group("APT-13", kb)
    assert isinstance(failure.value, ValueError)
    assert str(failure.value).startswith("unknown group 'APT-13'; did you mean: ")
    assert {"APT1", "APT3"} <= set(failure.value.suggestions)
    with pytest.raises(UnknownGroupError, match=r"did you mean: ZIRCONIUM\b"):
        describe_group("Zirconum", kb)
    with pytest.raises(UnknownGroupError, match=r"^unknown group 'qqqq zzzz'$"):
        describe_group("qqqq zzzz", kb)


def test_empty_name_is_rejected() -> None:
    with pytest.raises(NlpError, match="a group name is required"):
        describe_group(" - ", KnowledgeBase([]))
