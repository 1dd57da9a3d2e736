"""The group knowledge base: load nlp/data/groups.json and look groups up by any of their names."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from nlp.errors import KnowledgeBaseError
from nlp.names import normalise_name

DEFAULT_KB_PATH = Path(__file__).resolve().parent / "data" / "groups.json"
# The names of the countries the knowledge base gives groups (ISO 3166-1 alpha-2), as news writes
# them; tests/test_nlp.py checks that every code in the packaged knowledge base has one.
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
    "AT": "Austria",
    "BR": "Brazil",
    "DZ": "Algeria",
    "EG": "Egypt",
    "ES": "Spain",
    "FR": "France",
    "ID": "Indonesia",
    "IQ": "Iraq",
    "IT": "Italy",
    "KE": "Kenya",
    "KZ": "Kazakhstan",
    "LY": "Libya",
    "MA": "Morocco",
    "MY": "Malaysia",
    "NG": "Nigeria",
    "RO": "Romania",
    "SG": "Singapore",
    "SY": "Syria",
    "TN": "Tunisia",
    "TW": "Taiwan",
}
# Words the news uses for the state itself rather than the country: "the Kremlin's hackers",
# "Beijing-backed", "blamed Pyongyang's Lazarus".
STATE_SEATS = {
    "CN": ("Beijing",),
    "RU": ("Kremlin", "Moscow"),
    "KP": ("DPRK", "Pyongyang"),
    "IR": ("Tehran",),
}


@dataclass(frozen=True)
class Group:
    id: str  # ATT&CK id such as "G0128" when one exists, else "misp:<slug>"
    name: str
    aliases: tuple[str, ...] = ()
    country: str | None = None  # ISO 3166-1 alpha-2
    sponsor: str | None = None
    mitre_id: str | None = None
    name_origins: tuple[tuple[str, str], ...] = ()  # (name, organisation that coined it)
    needs_evidence: tuple[str, ...] = ()  # names that are ordinary words or other things' names

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)

    def origin_of(self, name: str) -> str | None:
        key = normalise_name(name)
        return next((org for n, org in self.name_origins if normalise_name(n) == key), None)

    def name_needs_evidence(self, name: str) -> bool:
        return normalise_name(name) in {normalise_name(n) for n in self.needs_evidence}

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "mitre_id": self.mitre_id,
            "aliases": list(self.aliases),
            "country": self.country,
            "sponsor": self.sponsor,
            "name_origins": dict(self.name_origins),
            "needs_evidence": list(self.needs_evidence),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Group:
        try:
            return cls(
                id=str(data["id"]),
                name=str(data["name"]),
                aliases=tuple(data.get("aliases", ())),
                country=data.get("country"),
                sponsor=data.get("sponsor"),
                mitre_id=data.get("mitre_id"),
                name_origins=tuple(sorted(dict(data.get("name_origins", {})).items())),
                needs_evidence=tuple(data.get("needs_evidence", ())),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise KnowledgeBaseError(f"malformed group record {data!r}: {exc}") from exc


def groups_from_document(document: Any, source: str = "knowledge base") -> list[Group]:
    if not isinstance(document, dict) or not isinstance(document.get("groups"), list):
        raise KnowledgeBaseError(f"{source}: expected an object with a 'groups' list")
    return [Group.from_json(item) for item in document["groups"]]


def load_groups(path: str | Path | None = None) -> list[Group]:
    """Read the groups of a knowledge-base file (default: the packaged nlp/data/groups.json)."""
    kb_path = Path(path) if path is not None else DEFAULT_KB_PATH
    try:
        document = json.loads(kb_path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise KnowledgeBaseError(f"knowledge base not found: {kb_path}") from exc
    except json.JSONDecodeError as exc:
        raise KnowledgeBaseError(f"knowledge base is not valid JSON: {kb_path}: {exc}") from exc
    return groups_from_document(document, str(kb_path))


class KnowledgeBase:
    """Groups indexed by normalised name ("APT-31", "apt 31" and "APT31" are one key)."""

    def __init__(self, groups: Iterable[Group]) -> None:
        self.groups: dict[str, Group] = {}
        for group in groups:
            if group.id in self.groups:
                raise KnowledgeBaseError(f"duplicate group id {group.id!r} in knowledge base")
            self.groups[group.id] = group

    @classmethod
    def load(cls, path: str | Path | None = None) -> KnowledgeBase:
        return cls(load_groups(path))

    @cached_property
    def _by_name(self) -> dict[str, tuple[Group, ...]]:
        index: dict[str, list[Group]] = {}
        for group in self.groups.values():
            for name in group.names:
                owners = index.setdefault(normalise_name(name), [])
                if group not in owners:
                    owners.append(group)
        return {key: tuple(owners) for key, owners in index.items()}

    @cached_property
    def _needs_evidence(self) -> frozenset[str]:
        # "the Gentlemen" is also matched as "gentlemen": the shorter form needs evidence too.
        return frozenset(
            normalise_name(form)
            for group in self.groups.values()
            for name in group.needs_evidence
            for form in (name, re.sub(r"^the\s+", "", name, flags=re.IGNORECASE))
        )

    def lookup(self, name: str) -> tuple[Group, ...]:
        """Every group a name may mean (empty when unknown, several when ambiguous)."""
        return self._by_name.get(normalise_name(name), ())

    def find(self, name: str) -> Group | None:
        """The one group a name means, or None when it is unknown or ambiguous."""
        owners = self.lookup(name)
        return owners[0] if len(owners) == 1 else None

    def get(self, group_id: str) -> Group | None:
        return self.groups.get(group_id)

    def is_ambiguous(self, name: str) -> bool:
        return len(self.lookup(name)) > 1

    def needs_evidence(self, name: str) -> bool:
        return normalise_name(name) in self._needs_evidence

    def __len__(self) -> int:
        return len(self.groups)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.groups.values())
