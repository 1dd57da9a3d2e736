"""Build the compact group knowledge base (nlp/data/groups.json) from the upstream catalogues.

Usage: ``python -m nlp.importer --kb ../shared/data/kb --out nlp/data/groups.json``

Sources, in order of authority:
1. MITRE ATT&CK intrusion sets (enterprise, ICS, mobile; revoked/deprecated skipped). The ATT&CK id
   (e.g. G0128) is the canonical id.
2. MISP threat-actor galaxy. An actor joins an ATT&CK group only on strong evidence: its refs,
   ``Gxxxx`` synonyms or ``related`` links between it and the mitre-intrusion-set galaxy (or a
   microsoft-activity-group cluster named like the ATT&CK group) name that group, or its
   primary name is that group's name. Otherwise it becomes its own group
   (``misp:<slug>``).
3. Microsoft's naming map (weather names). Linked through MISP's microsoft-activity-group cluster
   and through names that point to exactly one group; conflicting votes never merge two groups.

A name that ends up on several groups stays on all of them: the detector exposes every candidate.
Only facts are written (names, ids, countries, sponsors, who coined a name), never upstream prose.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nlp.errors import KnowledgeBaseError
from nlp.kb import COUNTRY_NAMES
from nlp.names import normalise_name

FORMAT_VERSION = 1
ATTACK_DOMAINS = ("enterprise-attack", "ics-attack", "mobile-attack")
ATTACK_ID = re.compile(r"^G\d{4}$")
ATTACK_GROUP_URL = re.compile(r"attack\.mitre\.org/groups/(G\d{4})")

# Zipf frequency (wordfreq, English) from which a one-word name counts as an ordinary word and
# needs evidence in context. 2.0 is about one occurrence per 10 million words: it catches "lead",
# "silence", "summit", "krypton", "chromium" but not coined names ("Turla", "Kimsuky").
ORDINARY_WORD_ZIPF = 2.0
MIN_ALIAS_LENGTH = 3  # two-letter "names" are acronym noise in running text

# MISP records who coined a name by organisation UUID; these are the organisations whose UUIDs
# recur in the threat-actor galaxy. Unknown UUIDs are left out rather than guessed.
NAME_GIVERS = {
    "d0c33595-b684-45ef-91c3-e2f5ce1a8191": "Microsoft",
    "f9eb432f-2293-48b7-bca4-cc78beb50df0": "CrowdStrike",
    "da5cdcd1-7b15-4371-b7eb-ca32916d2052": "Mandiant",
    "a7119872-bc6b-494b-9f7a-8c50faaf53a9": "Secureworks",
    "a1ad5090-2487-46d2-8237-6151a2dd5063": "MITRE",
    "cae79680-67a6-4411-903c-f824dbcc813f": "Proofpoint",
    "e9491d3b-2174-47d6-8a15-ecec552d16ae": "Palo Alto Networks Unit 42",
    "0d4886f9-97e1-4cb2-8822-580fd09540e5": "Kaspersky",
    "3ac8f6fc-9c04-4ebd-bda2-788cc02fe4ed": "Trend Micro",
    "0adf6f0f-3795-4de1-9763-1bdd1c31a5d7": "Cisco Talos",
    "3a43aca5-6366-4168-b182-a8afec4550b5": "ESET",
    "e583434b-7fb8-42c8-90ce-89aa8ed35f0c": "Symantec",
    "adb3369a-5683-46b2-bceb-4dafa6526b21": "Check Point",
    "21afba9e-cd2a-45c9-b421-b1f14fd181e9": "Group-IB",
    "e4ed3168-7830-490f-9eed-d1b3ef2daccd": "Dragos",
    "b8ca0932-c4cb-45c0-b7b1-88b9685ba24b": "McAfee",
    "9f2ba728-8b29-48f9-badf-4f4cefb929f0": "PwC",
    "d597f230-4f70-43cb-817e-c745efd4fe35": "F-Secure",
}

# Country names as the sources spell them that the MISP country galaxy does not.
COUNTRY_ALIASES = {
    "russian federation": "RU",
    "russia": "RU",
    "iran (islamic republic of)": "IR",
    "iran": "IR",
    "korea (democratic people's republic of)": "KP",
    "north korea": "KP",
    "korea (republic of)": "KR",
    "south korea": "KR",
    "korea": "KP",  # Microsoft's map says "Korea" for its North Korean actors
    "people's republic of china": "CN",
    "china": "CN",
    "vietnam": "VN",
    "türkiye": "TR",
    "turkey": "TR",
    "united states": "US",
    "us": "US",
    "palestine": "PS",
    "united kingdom": "GB",
}

# How news writes the states that the CFR sponsor field spells formally.
COMMON_COUNTRY_NAMES = {code: COUNTRY_NAMES[code] for code in ("RU", "IR", "KP", "KR", "CN", "US")}


@dataclass
class Draft:
    """A group being assembled from several sources."""

    id: str
    name: str
    mitre_id: str | None = None
    names: dict[str, str] = field(default_factory=dict)  # normalised -> first spelling seen
    country: str | None = None
    sponsor: str | None = None
    name_origins: dict[str, str] = field(default_factory=dict)
    sources: set[str] = field(default_factory=set)
    facts_weight: int = -1  # evidence score of the MISP actor whose country/sponsor we kept

    def add_name(self, name: str) -> None:
        name = " ".join(name.split())
        key = normalise_name(name)
        if len(key) < MIN_ALIAS_LENGTH or ATTACK_ID.match(name):
            return
        self.names.setdefault(key, name)


@dataclass(frozen=True)
class Override:
    action: str
    group: str
    name: str
    reason: str
    line: str = ""  # "path:number" of the overrides file, for messages

    def describe(self) -> str:
        where = f"{self.line}: " if self.line else ""
        return f"{where}{self.action} {self.group} {self.name!r}"


def _read_json(path: Path) -> Any:
    try:
        with path.open(encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError as exc:
        raise KnowledgeBaseError(f"knowledge-base source missing: {path}") from exc
    except UnicodeDecodeError as exc:
        raise KnowledgeBaseError(
            f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})"
        ) from exc
    except json.JSONDecodeError as exc:
        raise KnowledgeBaseError(f"knowledge-base source is not valid JSON: {path}: {exc}") from exc
    except OSError as exc:
        raise KnowledgeBaseError(f"{path}: cannot read: {exc.strerror or exc}") from exc


def _is_text_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


# The fields of a MISP entry's "meta" that the importer reads, by the JSON type they must have.
MISP_META_LISTS = ("synonyms", "refs", "name-attribution")
MISP_META_TEXTS = ("country", "cfr-suspected-state-sponsor", "external_id", "ISO")


def _misp_entry_problem(value: Any) -> str | None:
    if not isinstance(value, dict) or not isinstance(value.get("value"), str):
        return "has no 'value' name"
    if not isinstance(value.get("uuid"), str):
        return "has no 'uuid'"
    meta = value.get("meta", {})
    if not isinstance(meta, dict):
        return "'meta' is not an object"
    for key in MISP_META_LISTS:
        if key in meta and not _is_text_list(meta[key]):
            return f"'meta.{key}' is not a list of strings"
    for key in MISP_META_TEXTS:
        if meta.get(key) is not None and not isinstance(meta[key], str):
            return f"'meta.{key}' is not a string"
    related = value.get("related", [])
    if not isinstance(related, list) or not all(isinstance(link, dict) for link in related):
        return "'related' is not a list of objects"
    return None


def check_misp_cluster(document: Any, origin: str) -> list[dict[str, Any]]:
    """The entries of a MISP galaxy cluster file; raises, naming ``origin``, on a wrong shape.

    Checks every field the importer reads, so that a changed or corrupt file is reported as that
    file's fault rather than as a TypeError deep inside the merge.
    """
    values = document.get("values") if isinstance(document, dict) else None
    if not isinstance(values, list):
        raise KnowledgeBaseError(
            f"{origin}: expected a MISP galaxy cluster file (an object with a 'values' list)"
        )
    for index, value in enumerate(values):
        problem = _misp_entry_problem(value)
        if problem is not None:
            name = value.get("value") if isinstance(value, dict) else None
            label = f"entry {index} ({name!r})" if isinstance(name, str) else f"entry {index}"
            raise KnowledgeBaseError(f"{origin}: {label}: {problem}")
    return values


def check_microsoft_mapping(document: Any, origin: str) -> list[dict[str, Any]]:
    """The entries of Microsoft's naming map; raises, naming ``origin``, on a wrong shape."""
    if not isinstance(document, list):
        raise KnowledgeBaseError(
            f"{origin}: expected Microsoft's threat actor naming map (a JSON list of threat actors)"
        )
    for index, entry in enumerate(document):
        if not isinstance(entry, dict) or not isinstance(entry.get("Threat actor name"), str):
            raise KnowledgeBaseError(f"{origin}: entry {index}: has no 'Threat actor name'")
        for key in ("Other names", "Origin/Threat"):
            if key in entry and not isinstance(entry[key], str):
                raise KnowledgeBaseError(f"{origin}: entry {index}: '{key}' is not a string")
    return document


def _stix_object_problem(obj: dict[str, Any]) -> str | None:
    if obj.get("type") != "intrusion-set":
        return None
    if not isinstance(obj.get("name"), str):
        return "intrusion-set without a 'name'"
    if "aliases" in obj and not _is_text_list(obj["aliases"]):
        return "'aliases' is not a list of strings"
    references = obj.get("external_references", [])
    if not isinstance(references, list) or not all(isinstance(ref, dict) for ref in references):
        return "'external_references' is not a list of objects"
    return None


def _read_stix_objects(path: Path) -> list[dict[str, Any]]:
    """The objects of one per-object ATT&CK file (a STIX bundle, as the mitre/cti repository)."""
    document = _read_json(path)
    objects = document.get("objects") if isinstance(document, dict) else None
    if not isinstance(objects, list) or not all(isinstance(obj, dict) for obj in objects):
        raise KnowledgeBaseError(
            f"{path}: expected a STIX bundle (an object with an 'objects' list)"
        )
    for obj in objects:
        problem = _stix_object_problem(obj)
        if problem is not None:
            raise KnowledgeBaseError(f"{path}: {obj.get('id', 'object')}: {problem}")
    return objects


def _read_cluster(path: Path) -> list[dict[str, Any]]:
    return check_misp_cluster(_read_json(path), str(path))


def _slug(value: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", value.casefold()).strip("-")


def load_attack(kb_dir: Path) -> dict[str, Draft]:
    drafts: dict[str, Draft] = {}
    found_any = False
    for domain in ATTACK_DOMAINS:
        folder = kb_dir / "mitre-attack" / domain / "intrusion-set"
        for path in sorted(folder.glob("*.json")):
            found_any = True
            for obj in _read_stix_objects(path):
                if obj.get("type") != "intrusion-set":
                    continue
                if obj.get("revoked") or obj.get("x_mitre_deprecated"):
                    continue
                attack_ids = [
                    ref["external_id"]
                    for ref in obj.get("external_references", [])
                    if ref.get("source_name") == "mitre-attack" and ref.get("external_id")
                ]
                if not attack_ids:
                    continue
                gid = attack_ids[0]
                draft = drafts.setdefault(gid, Draft(id=gid, name=obj["name"], mitre_id=gid))
                draft.sources.add("attack")
                draft.add_name(obj["name"])
                for alias in obj.get("aliases", []):
                    draft.add_name(alias)
    if not found_any:
        raise KnowledgeBaseError(f"no ATT&CK intrusion sets under {kb_dir / 'mitre-attack'}")
    return drafts


def _country_codes(kb_dir: Path) -> dict[str, str]:
    codes = dict(COUNTRY_ALIASES)
    path = kb_dir / "misp-galaxy" / "clusters" / "country.json"
    if path.exists():
        for value in _read_cluster(path):
            iso = value.get("meta", {}).get("ISO")
            if iso:
                codes.setdefault(value["value"].casefold(), iso.upper())
    return codes


def _country_code(text: str | None, codes: dict[str, str]) -> str | None:
    if not text:
        return None
    text = text.strip()
    if re.fullmatch(r"[A-Za-z]{2}", text):
        return text.upper()
    return codes.get(text.casefold())


def _reverse_links(kb_dir: Path, attack: dict[str, Draft]) -> dict[str, set[str]]:
    """MISP actor UUID -> ATT&CK ids that other MISP clusters link to that actor.

    The mitre-intrusion-set cluster carries the ATT&CK id; a microsoft-activity-group cluster
    whose name is an ATT&CK group's primary name ("ZIRCONIUM") stands for that group.
    """
    clusters = kb_dir / "misp-galaxy" / "clusters"
    primary = {normalise_name(draft.name): gid for gid, draft in attack.items()}
    links: dict[str, set[str]] = defaultdict(set)
    for cluster in ("mitre-intrusion-set.json", "microsoft-activity-group.json"):
        path = clusters / cluster
        if not path.exists():
            continue
        for value in _read_cluster(path):
            gid = value.get("meta", {}).get("external_id") or primary.get(
                normalise_name(value["value"])
            )
            if not gid:
                continue
            for related in value.get("related", []):
                links[related.get("dest-uuid", "")].add(gid)
    return links


def _misp_attack_votes(
    actor: dict[str, Any],
    intrusion_set_ids: dict[str, str],
    attack: dict[str, Draft],
    reverse_links: dict[str, set[str]],
) -> dict[str, int]:
    """Evidence points per ATT&CK group for one MISP actor."""
    meta = actor.get("meta", {})
    votes: dict[str, int] = defaultdict(int)
    for gid in reverse_links.get(actor["uuid"], ()):
        votes[gid] += 1
    for ref in meta.get("refs", []):
        for gid in set(ATTACK_GROUP_URL.findall(ref)):
            votes[gid] += 1
    for synonym in meta.get("synonyms", []):
        if ATTACK_ID.match(synonym):
            votes[synonym] += 1
    for related in actor.get("related", []):
        linked = intrusion_set_ids.get(related.get("dest-uuid", ""))
        if linked:
            votes[linked] += 1
    # Identical primary names are strong evidence; a MISP name that is merely one of an ATT&CK
    # group's aliases is not (MISP's "UNC2452" or "Charming Kitten" stay their own groups, so
    # names such as "Nobelium" keep every candidate).
    value_key = normalise_name(actor["value"])
    for gid, draft in attack.items():
        if normalise_name(draft.name) == value_key:
            votes[gid] += 3
    return {gid: points for gid, points in votes.items() if gid in attack}


# Words that follow a name without changing it: MISP's "Silence group" is ATT&CK's "Silence".
GENERIC_NAME_SUFFIX = re.compile(r"(?:group|team|gang|crew|hackers|apt)$")


def _core_name(name: str) -> str:
    key = normalise_name(name)
    core = GENERIC_NAME_SUFFIX.sub("", key)
    return core if len(core) >= MIN_ALIAS_LENGTH else key


def _actor_names(actor: dict[str, Any]) -> list[str]:
    return [actor["value"], *actor.get("meta", {}).get("synonyms", [])]


def _duplicate_votes(
    actors: list[dict[str, Any]],
    attack: dict[str, Draft],
    first_votes: dict[str, dict[str, int]],
) -> dict[str, dict[str, int]]:
    """Extra votes for MISP actors that duplicate one ATT&CK group.

    A MISP actor is the ATT&CK group when its primary name is the group's primary name up to a
    generic word ("Silence group"), or when every name of it that ATT&CK knows belongs to that one
    group and either its primary name is one of the group's aliases that MISP also links to the
    group ("Charming Kitten") or several of its names are ("Operation C-Major": Transparent
    Tribe, APT36, ...). An actor MISP relates to a separate actor of the same group with which it
    shares a name ("UNC2452" and "APT29", both "NOBELIUM") stays separate: MISP tells the two
    apart, so the shared name stays ambiguous.
    """
    owners: dict[str, set[str]] = defaultdict(set)
    core_primary: dict[str, set[str]] = defaultdict(set)
    for gid, draft in attack.items():
        core_primary[_core_name(draft.name)].add(gid)
        for key in draft.names:
            owners[key].add(gid)
    by_uuid = {actor["uuid"]: actor for actor in actors}
    actors_by_name: dict[str, set[str]] = defaultdict(set)
    for actor in actors:
        for name in _actor_names(actor):
            actors_by_name[normalise_name(name)].add(actor["uuid"])

    def related(a: str, b: str) -> bool:
        links = {r.get("dest-uuid") for r in by_uuid[a].get("related", [])}
        back = {r.get("dest-uuid") for r in by_uuid[b].get("related", [])}
        return b in links or a in back

    extra: dict[str, dict[str, int]] = {}
    for actor in actors:
        uuid = actor["uuid"]
        value_core = _core_name(actor["value"])
        same_primary = core_primary.get(value_core, set())
        if len(same_primary) == 1:
            extra[uuid] = {next(iter(same_primary)): 3}
            continue
        keys = {normalise_name(name) for name in _actor_names(actor)}
        known = [owners[key] for key in keys if owners.get(key)]
        targets = set().union(*known) if known else set()
        if len(targets) != 1:
            continue
        target = next(iter(targets))
        value_is_alias = normalise_name(actor["value"]) in attack[target].names
        linked = first_votes[uuid].get(target, 0) > 0
        if not ((value_is_alias and linked) or len(known) >= 2):
            continue
        siblings = {
            other
            for key in keys
            for other in actors_by_name[key]
            if other != uuid and _pick(first_votes[other]) == target and related(uuid, other)
        }
        if not siblings:
            extra[uuid] = {target: 3}
    return extra


def _pick(votes: dict[str, int]) -> str | None:
    """The single best-supported target, or None when the evidence is split."""
    if not votes:
        return None
    ranked = sorted(votes.items(), key=lambda item: (-item[1], item[0]))
    if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
        return None
    return ranked[0][0]


def merge_misp(kb_dir: Path, drafts: dict[str, Draft], codes: dict[str, str]) -> dict[str, str]:
    """Fold the MISP threat-actor galaxy into ``drafts``; returns MISP actor UUID -> group id."""
    clusters = kb_dir / "misp-galaxy" / "clusters"
    intrusion_set_ids: dict[str, str] = {}
    intrusion_path = clusters / "mitre-intrusion-set.json"
    if intrusion_path.exists():
        for value in _read_cluster(intrusion_path):
            gid = value.get("meta", {}).get("external_id")
            if gid:
                intrusion_set_ids[value["uuid"]] = gid
    attack = dict(drafts)
    reverse_links = _reverse_links(kb_dir, attack)
    actor_group: dict[str, str] = {}
    actors = sorted(_read_cluster(clusters / "threat-actor.json"), key=lambda a: a["uuid"])
    first_votes = {
        actor["uuid"]: _misp_attack_votes(actor, intrusion_set_ids, attack, reverse_links)
        for actor in actors
    }
    duplicates = _duplicate_votes(actors, attack, first_votes)
    for actor in actors:
        meta = actor.get("meta", {})
        votes = dict(first_votes[actor["uuid"]])
        for gid, points in duplicates.get(actor["uuid"], {}).items():
            votes[gid] = votes.get(gid, 0) + points
        target = _pick(votes)
        if target is None:
            gid = f"misp:{_slug(actor['value'])}"
            while gid in drafts and "misp-actor" in drafts[gid].sources:
                gid += "-2"  # two MISP actors with one slug stay two groups
            draft = drafts.setdefault(gid, Draft(id=gid, name=actor["value"]))
        else:
            draft = drafts[target]
        actor_group[actor["uuid"]] = draft.id
        draft.sources.add("misp-actor")
        draft.add_name(actor["value"])
        for synonym in meta.get("synonyms", []):
            draft.add_name(synonym)
        country = _country_code(meta.get("country"), codes)
        sponsor = meta.get("cfr-suspected-state-sponsor")
        if sponsor in (None, "Unknown"):
            sponsor = None
        elif _country_code(sponsor, codes) in COMMON_COUNTRY_NAMES:
            sponsor = COMMON_COUNTRY_NAMES[_country_code(sponsor, codes) or ""]
        if meta.get("GRU"):
            # News names the state with the agency: "Russia's GRU (Unit 26165)".
            unit = re.sub(r"^[Mm]ilitary\s+unit\s+", "Unit ", str(meta["GRU"]))
            sponsor = f"Russia's GRU ({unit})"
        # Several MISP actors may fold into one ATT&CK group; the best-linked one states its facts.
        weight = votes.get(draft.id, 0) if target else 100
        if (country or sponsor) and weight > draft.facts_weight:
            draft.facts_weight = weight
            draft.country = country or _country_code(sponsor, codes) or draft.country
            draft.sponsor = sponsor or draft.sponsor
        for entry in meta.get("name-attribution", []):
            name, _, org_uuid = entry.rpartition(":")
            giver = NAME_GIVERS.get(org_uuid)
            if name and giver and not ATTACK_ID.match(name):
                draft.add_name(name)
                draft.name_origins.setdefault(name, giver)
        for key, giver in sorted(meta.items()):
            if key.startswith("origin:") and isinstance(giver, str):
                name = key.removeprefix("origin:")
                name = re.sub(r"\s*\(.*\)$", "", name)
                draft.add_name(name)
                draft.name_origins.setdefault(name, giver)
    return actor_group


def _unique_owners(drafts: dict[str, Draft]) -> dict[str, set[str]]:
    owners: dict[str, set[str]] = defaultdict(set)
    for draft in drafts.values():
        for key in draft.names:
            owners[key].add(draft.id)
    return owners


def merge_microsoft(
    kb_dir: Path, drafts: dict[str, Draft], actor_group: dict[str, str], codes: dict[str, str]
) -> None:
    mapping_path = kb_dir / "microsoft-naming" / "MicrosoftMapping.json"
    cluster_path = kb_dir / "misp-galaxy" / "clusters" / "microsoft-activity-group.json"
    related_groups: dict[str, set[str]] = defaultdict(set)
    if cluster_path.exists():
        for value in _read_cluster(cluster_path):
            for related in value.get("related", []):
                gid = actor_group.get(related.get("dest-uuid", ""))
                if gid:
                    related_groups[normalise_name(value["value"])].add(gid)
    owners = _unique_owners(drafts)
    entries = sorted(
        check_microsoft_mapping(_read_json(mapping_path), str(mapping_path)),
        key=lambda e: e["Threat actor name"],
    )
    for entry in entries:
        weather = entry["Threat actor name"].strip()
        others = [n.strip() for n in entry.get("Other names", "").split(",") if n.strip()]
        votes: dict[str, int] = defaultdict(int)
        for gid in related_groups.get(normalise_name(weather), ()):
            votes[gid] += 2
        weather_owners = owners.get(normalise_name(weather), set())
        if len(weather_owners) == 1:
            votes[next(iter(weather_owners))] += 3
        else:
            # A group that carries the name as its own primary name is that group, even where
            # others list it as an alias (ATT&CK's "Moonstone Sleet" and Lazarus' alias of it);
            # less than the Microsoft entry's other names agreeing on one group, as for ATT&CK's
            # "Salt Typhoon" next to MISP's GhostEmperor, FamousSparrow, OPERATOR PANDA.
            for gid in weather_owners:
                if normalise_name(drafts[gid].name) == normalise_name(weather):
                    votes[gid] += 2
        for name in others:
            name_owners = owners.get(normalise_name(name), set())
            if len(name_owners) == 1:  # names several groups claim never vote
                votes[next(iter(name_owners))] += 1
        target = _pick(votes)
        if target is None:
            gid = f"misp:{_slug(weather)}"
            draft = drafts.setdefault(gid, Draft(id=gid, name=weather))
        else:
            draft = drafts[target]
        draft.sources.add("microsoft")
        draft.add_name(weather)
        draft.name_origins.setdefault(weather, "Microsoft")
        for name in others:
            draft.add_name(name)
        origin = entry.get("Origin/Threat", "").split(",")[0]
        if draft.country is None:
            draft.country = _country_code(origin, codes)


OVERRIDE_ACTIONS = frozenset(
    {"needs_evidence", "trusted", "drop_alias", "add_alias", "drop_group", "merge_group"}
)
# Actions about one group: "*" (every group carrying the name) makes no sense for them.
SINGLE_GROUP_ACTIONS = frozenset({"add_alias", "drop_group", "merge_group"})
# Actions that mark a name rather than change the names or groups.
MARK_ACTIONS = frozenset({"needs_evidence", "trusted"})


def read_overrides(path: Path) -> list[Override]:
    """Tab-separated ``action  group  name  reason`` lines; '#' starts a comment."""
    if not path.exists():
        return []
    overrides = []
    with path.open(encoding="utf-8") as handle:
        for number, row in enumerate(csv.reader(handle, delimiter="\t"), start=1):
            if not row or not row[0].strip() or row[0].startswith("#"):
                continue
            if len(row) != 4 or not row[3].strip():
                raise KnowledgeBaseError(
                    f"{path}:{number}: expected 4 tab-separated fields "
                    "(action, group id or *, name, reason)"
                )
            action, group, name, reason = (cell.strip() for cell in row)
            if action not in OVERRIDE_ACTIONS:
                raise KnowledgeBaseError(f"{path}:{number}: unknown action {action!r}")
            if action in SINGLE_GROUP_ACTIONS and group == "*":
                raise KnowledgeBaseError(f"{path}:{number}: {action} needs a group id, not *")
            overrides.append(Override(action, group, name, reason, f"{path}:{number}"))
    return overrides


def _apply_override(override: Override, drafts: dict[str, Draft]) -> str | None:
    """Apply an alias or group override; returns why it matched nothing, or None."""
    key = normalise_name(override.name)
    targets = list(drafts.values()) if override.group == "*" else [drafts[override.group]]
    if override.action == "drop_group":
        (draft,) = targets
        if normalise_name(draft.name) != key:
            return f"the group is named {draft.name!r}"
        del drafts[draft.id]
    elif override.action == "add_alias":
        (draft,) = targets
        if key in draft.names:
            return "the group already has that name"
        draft.add_name(override.name)
        if key not in draft.names:
            return "the importer keeps no such name (too short, or an ATT&CK id)"
    elif override.action == "merge_group":
        (draft,) = targets
        return _merge_group(draft, key, drafts)
    elif override.action == "drop_alias":
        # A group keeps its primary name whatever its aliases: dropping it needs drop_group.
        primary = [d.id for d in targets if normalise_name(d.name) == key]
        holders = [d for d in targets if key in d.names and d.id not in primary]
        for draft in holders:
            del draft.names[key]
            draft.name_origins.pop(override.name, None)
        if primary:
            return (
                f"it is the primary name of {', '.join(primary)}, "
                "which drop_alias cannot remove (use drop_group)"
            )
        if not holders:
            return "no group has that alias"
    return None


def _merge_group(draft: Draft, primary_key: str, drafts: dict[str, Draft]) -> str | None:
    """Fold the group whose primary name is ``primary_key`` into ``draft``: one actor the
    catalogues keep apart (no link between their records), so its names were ambiguous between
    two groups and the one without a country gave alerts no sponsor."""
    folded = [d for d in drafts.values() if normalise_name(d.name) == primary_key]
    if not folded:
        return "no group has that primary name"
    if len(folded) > 1:
        return f"several groups have that primary name: {', '.join(d.id for d in folded)}"
    (other,) = folded
    if other.id == draft.id:
        return "it is the group's own name"
    if other.mitre_id is not None:
        return f"{other.id} is an ATT&CK group of its own"
    for key, name in other.names.items():
        draft.names.setdefault(key, name)
    draft.add_name(other.name)
    for name, giver in other.name_origins.items():
        draft.name_origins.setdefault(name, giver)
    draft.sources |= other.sources
    draft.country = draft.country or other.country
    draft.sponsor = draft.sponsor or other.sponsor
    del drafts[other.id]
    return None


def apply_overrides(drafts: dict[str, Draft], overrides: Iterable[Override]) -> list[str]:
    """Apply the alias and group overrides to ``drafts`` in file order.

    Returns one line for each override that matched nothing (a group the catalogues do not give, a
    name no targeted group has, an alias already there ...): a no-op correction hides that the
    data it was written for has changed. ``needs_evidence`` and ``trusted`` are checked against
    the names left once the others are applied; they take effect when the records are written.
    """
    problems: list[str] = []
    # Alias and group changes first (stable sort: in file order), then the marks they leave.
    for override in sorted(overrides, key=lambda o: o.action in MARK_ACTIONS):
        problem: str | None
        if override.group == "*" and override.action in SINGLE_GROUP_ACTIONS:
            problem = "it needs a group id, not *"
        elif override.group != "*" and override.group not in drafts:
            problem = f"the catalogues give no group {override.group}"
        elif override.action in MARK_ACTIONS:
            key = normalise_name(override.name)
            targets = drafts.values() if override.group == "*" else [drafts[override.group]]
            problem = None if any(key in d.names for d in targets) else "no group has that name"
        else:
            problem = _apply_override(override, drafts)
        if problem is not None:
            problems.append(f"{override.describe()} matches nothing: {problem}")
    return problems


def _marked(overrides: list[Override], action: str) -> set[tuple[str, str]]:
    """(group id or "*", normalised name) of every override with ``action``."""
    return {(o.group, normalise_name(o.name)) for o in overrides if o.action == action}


def _is_marked(marks: set[tuple[str, str]], group_id: str, name: str) -> bool:
    key = normalise_name(name)
    return ("*", key) in marks or (group_id, key) in marks


# Last (or first) words of the vendors' naming schemes: a phrase built on them is a group name even
# when every word is ordinary ("Fancy Bear", "Violet Typhoon", "BRONZE BUTLER").
SCHEME_LAST_WORDS = frozenset(
    [
        "panda",
        "bear",
        "kitten",
        "chollima",
        "spider",
        "tiger",
        "leopard",
        "buffalo",
        "jackal",
        "crane",
        "ocelot",
        "wolf",
        "typhoon",
        "sandstorm",
        "sleet",
        "blizzard",
        "tempest",
        "cyclone",
        "tsunami",
        "rain",
        "dust",
        "hail",
        "flood",
        "ursa",
        "taurus",
        "serpens",
        "libra",
        "scorpius",
        "lynx",
        "pisces",
        "storm",
        "castle",
        "relic",
        "ion",
        "comet",
        "neptune",
        "werewolf",
        "group",
        "team",
        "crew",
        "gang",
        "hackers",
        "apt",
        "army",
    ]
)
SCHEME_FIRST_WORDS = frozenset(
    [
        "bronze",
        "gold",
        "iron",
        "nickel",
        "cobalt",
        "zinc",
        "platinum",
        "tungsten",
        "operation",
        "op",
    ]
)
ORDINARY_PHRASE_WORD_ZIPF = 3.0
# "Operation AppleJeus", "Op Parliament": MISP lists campaigns among a group's synonyms, but
# text uses them for the campaign, so they count as the group only with a cue ("the Operation
# Parliament group") or another name of the group nearby.
CAMPAIGN_NAME = re.compile(r"(?:operation|op)\s", re.IGNORECASE)


def _zipf(word: str) -> float:
    try:
        from wordfreq import zipf_frequency
    except ImportError as exc:  # the importer runs at development time only
        raise KnowledgeBaseError(
            "the importer needs the 'wordfreq' package to flag ordinary-word names "
            "(pip install wordfreq)"
        ) from exc
    return float(zipf_frequency(word.casefold(), "en"))


def is_ordinary_word(name: str) -> bool:
    """A name made of ordinary English: "Lead", "Summit", "Shadow Brokers", "Sea Turtle".

    One word counts when it is at least rare English; a phrase when every word is common and it
    does not follow a vendor naming scheme.
    """
    words = name.split()
    if len(words) > 1:
        if not all(re.fullmatch(r"[A-Za-z]+", word) for word in words):
            return False
        lowered = [word.casefold() for word in words]
        if lowered[-1] in SCHEME_LAST_WORDS or lowered[0] in SCHEME_FIRST_WORDS:
            return False
        return all(_zipf(word) >= ORDINARY_PHRASE_WORD_ZIPF for word in lowered)
    if not re.fullmatch(r"[A-Za-z]+", name):
        return False
    return _zipf(name) >= ORDINARY_WORD_ZIPF


# Vendors' numbering schemes: a name of one of these forms was coined by that vendor. Only
# schemes no other vendor uses; animal names are not unique enough ("Iron Tiger" is Trend
# Micro's, not CrowdStrike's) nor is "APT-C-" (Qihoo 360 and QiAnXin), so those come only from
# the catalogues, whose statement always wins.
NAMING_SCHEMES = (
    (re.compile(r"(?:APT ?\d{1,3}|UNC\d{3,5}|FIN\d{1,3}|TEMP\.[A-Z][A-Za-z]+)"), "Mandiant"),
    (re.compile(r"TA\d{3,4}"), "Proofpoint"),
    (
        re.compile(
            r"(?:BRONZE|IRON|COBALT|NICKEL|GOLD|TUNGSTEN|ALUMINUM|COPPER|PLATINUM|ZINC|CARBON)"
            r" [A-Z]{3,}|TG-\d{3,4}"
        ),
        "Secureworks",
    ),
    (re.compile(r"ITG\d{2}|Hive\d{4}"), "IBM X-Force"),
    (re.compile(r"UAC-\d{4}"), "CERT-UA"),
    (re.compile(r"TAG-\d{2,3}"), "Recorded Future"),
    (re.compile(r"ATK ?\d{1,3}"), "Thales"),
    (re.compile(r"(?:Storm|DEV)-\d{4}|[A-Z]{3,}IUM"), "Microsoft"),
)


def naming_scheme_giver(name: str) -> str | None:
    """The vendor whose numbering scheme ``name`` follows, if any."""
    return next((giver for scheme, giver in NAMING_SCHEMES if scheme.fullmatch(name)), None)


def build_groups(
    kb_dir: Path, overrides: Iterable[Override], *, unmatched: list[str] | None = None
) -> list[dict[str, Any]]:
    """The group records of the catalogues in ``kb_dir``, corrected by ``overrides``.

    An override that matches nothing raises ``KnowledgeBaseError`` naming its line, unless
    ``unmatched`` is given: the lines are then appended to it and the build goes on (the updater
    does so, as upstream data may outgrow a correction shipped with the package).
    """
    codes = _country_codes(kb_dir)
    drafts = load_attack(kb_dir)
    actor_group = merge_misp(kb_dir, drafts, codes)
    merge_microsoft(kb_dir, drafts, actor_group, codes)

    overrides = list(overrides)
    problems = apply_overrides(drafts, overrides)
    if problems and unmatched is None:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise KnowledgeBaseError(problems[0] + more)
    if unmatched is not None:
        unmatched.extend(problems)

    flagged = _marked(overrides, "needs_evidence")
    trusted = _marked(overrides, "trusted")
    groups = []
    for gid in sorted(drafts):
        draft = drafts[gid]
        draft.add_name(draft.name)
        aliases = sorted(
            (name for key, name in draft.names.items() if key != normalise_name(draft.name)),
            key=lambda n: (n.casefold(), n),
        )
        needs_evidence = sorted(
            name
            for name in [draft.name, *aliases]
            if not _is_marked(trusted, gid, name)
            and (
                _is_marked(flagged, gid, name)
                or is_ordinary_word(name)
                or CAMPAIGN_NAME.match(name) is not None
            )
        )
        known = {normalise_name(n) for n in [draft.name, *aliases]}
        origins = {
            name: giver
            for name, giver in sorted(draft.name_origins.items())
            if normalise_name(name) in known
        }
        stated = {normalise_name(name) for name in origins}
        for name in [draft.name, *aliases]:
            scheme_giver = naming_scheme_giver(name)
            if scheme_giver and normalise_name(name) not in stated:
                origins[name] = scheme_giver
        origins = dict(sorted(origins.items()))
        groups.append(
            {
                "id": draft.id,
                "name": draft.name,
                "mitre_id": draft.mitre_id,
                "aliases": aliases,
                "country": draft.country,
                "sponsor": draft.sponsor,
                "name_origins": origins,
                "needs_evidence": needs_evidence,
                "sources": sorted(draft.sources),
            }
        )
    return groups


def write_groups(groups: list[dict[str, Any]], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "format": FORMAT_VERSION,
        "notice": (
            "Facts derived from MITRE ATT&CK (© The MITRE Corporation, reproduced under the ATT&CK "
            "terms of use), the MISP galaxy (CC0-1.0 / BSD-2-Clause) and Microsoft's threat actor "
            "naming map (CC-BY-4.0)."
        ),
        "groups": groups,
    }
    # One group per line: diffs of the committed file stay readable.
    lines = [json.dumps(group, ensure_ascii=False, sort_keys=True) for group in groups]
    header = json.dumps({k: v for k, v in document.items() if k != "groups"}, ensure_ascii=False)
    text = header[:-1] + ', "groups": [\n' + ",\n".join(lines) + "\n]}\n"
    out.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--kb", type=Path, required=True, help="folder of the upstream catalogues")
    parser.add_argument("--out", type=Path, required=True, help="groups.json to write")
    parser.add_argument(
        "--overrides",
        type=Path,
        default=Path(__file__).parent / "data" / "overrides.tsv",
        help="hand corrections (default: nlp/data/overrides.tsv)",
    )
    args = parser.parse_args(argv)
    try:
        groups = build_groups(args.kb, read_overrides(args.overrides))
        write_groups(groups, args.out)
    except KnowledgeBaseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    ambiguous = sum(1 for _ in _ambiguous_names(groups))
    print(f"wrote {len(groups)} groups ({ambiguous} ambiguous names) to {args.out}")
    return 0


def _ambiguous_names(groups: list[dict[str, Any]]) -> Iterable[str]:
    owners: dict[str, set[str]] = defaultdict(set)
    for group in groups:
        for name in [group["name"], *group["aliases"]]:
            owners[normalise_name(name)].add(group["id"])
    return (key for key, ids in owners.items() if len(ids) > 1)


if __name__ == "__main__":
    raise SystemExit(main())
