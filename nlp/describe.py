"""Describe one group for a person (``aptwatch groups show NAME``): every name, who coined it,
country and sponsor, the ATT&CK page; every candidate when the name is ambiguous."""

from __future__ import annotations

from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Any

from nlp.errors import NlpError
from nlp.kb import Group, KnowledgeBase
from nlp.names import normalise_name

ATTACK_GROUP_URL = "https://attack.mitre.org/groups/{}/"
MAX_SUGGESTIONS = 5
# difflib's own default: below 0.6 similar-looking names are mostly noise ("APT1" for "Turla").
SUGGESTION_CUTOFF = 0.6


class UnknownGroupError(NlpError):
    """No group carries the name asked for; the message lists close matches."""

    def __init__(self, name: str, suggestions: tuple[str, ...]) -> None:
        self.name = name
        self.suggestions = suggestions
        hint = f"; did you mean: {', '.join(suggestions)}?" if suggestions else ""
        super().__init__(f"unknown group {name!r}{hint}")


@dataclass(frozen=True)
class NameInfo:
    name: str
    coined_by: str | None  # the organisation that coined the name, when a source says so
    needs_evidence: bool  # an ordinary word or another thing's name: counted only with context
    also_used_by: tuple[str, ...] = ()  # ids of the other groups the sources give this name


@dataclass(frozen=True)
class GroupProfile:
    id: str
    name: str
    mitre_id: str | None
    attack_url: str | None
    country: str | None  # ISO 3166-1 alpha-2
    sponsor: str | None
    names: tuple[NameInfo, ...]  # the primary name first

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "mitre_id": self.mitre_id,
            "attack_url": self.attack_url,
            "country": self.country,
            "sponsor": self.sponsor,
            "names": [
                {
                    "name": info.name,
                    "coined_by": info.coined_by,
                    "needs_evidence": info.needs_evidence,
                    "also_used_by": list(info.also_used_by),
                }
                for info in self.names
            ],
        }


@dataclass(frozen=True)
class GroupDescription:
    query: str
    candidates: tuple[GroupProfile, ...]  # one group, or every group an ambiguous name may mean

    @property
    def ambiguous(self) -> bool:
        return len(self.candidates) > 1

    def to_json(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "ambiguous": self.ambiguous,
            "candidates": [profile.to_json() for profile in self.candidates],
        }


def _profile(group: Group, kb: KnowledgeBase) -> GroupProfile:
    names = []
    for name in group.names:
        others = tuple(g.id for g in kb.lookup(name) if g.id != group.id)
        names.append(
            NameInfo(
                name=name,
                coined_by=group.origin_of(name),
                needs_evidence=group.name_needs_evidence(name),
                also_used_by=others,
            )
        )
    return GroupProfile(
        id=group.id,
        name=group.name,
        mitre_id=group.mitre_id,
        attack_url=ATTACK_GROUP_URL.format(group.mitre_id) if group.mitre_id else None,
        country=group.country,
        sponsor=group.sponsor,
        names=tuple(names),
    )


def _by_id(name: str, kb: KnowledgeBase) -> Group | None:
    """Group ids are not names in text ("G0128", "misp:apt31") but people look them up."""
    stripped = name.strip()
    return kb.get(stripped) or kb.get(stripped.upper()) or kb.get(stripped.casefold())


def _common_prefix_length(first: str, second: str) -> int:
    length = 0
    for a, b in zip(first, second, strict=False):
        if a != b:
            break
        length += 1
    return length


def suggest_names(name: str, kb: KnowledgeBase, limit: int = MAX_SUGGESTIONS) -> tuple[str, ...]:
    """Known names closest to ``name`` after normalisation, one per group (or set of groups)."""
    query = normalise_name(name)
    if not query:
        return ()
    spellings: dict[str, str] = {}
    owners: dict[str, frozenset[str]] = {}
    for group in kb:
        for known in group.names:
            key = normalise_name(known)
            # The group's own spelling of its primary name beats an alias's spelling.
            if key not in spellings or known == group.name:
                spellings[key] = known
            owners[key] = owners.get(key, frozenset()) | {group.id}
    matcher = SequenceMatcher(autojunk=False)
    matcher.set_seq2(query)
    scored = []
    for key in spellings:
        matcher.set_seq1(key)
        if (
            matcher.real_quick_ratio() < SUGGESTION_CUTOFF
            or matcher.quick_ratio() < SUGGESTION_CUTOFF
        ):
            continue
        ratio = matcher.ratio()
        if ratio >= SUGGESTION_CUTOFF:
            prefix = _common_prefix_length(key, query)
            scored.append((-ratio, -prefix, spellings[key].casefold(), key))
    suggestions: list[str] = []
    seen_owners: set[frozenset[str]] = set()
    for *_, key in sorted(scored):
        if owners[key] in seen_owners:
            continue  # "Lazarus" and "Lazarus Group" would waste a slot on one group
        seen_owners.add(owners[key])
        suggestions.append(spellings[key])
        if len(suggestions) == limit:
            break
    return tuple(suggestions)


def describe_group(name: str, kb: KnowledgeBase | None = None) -> GroupDescription:
    """Every group ``name`` (any alias, or a group id) may mean, with all their names.

    Raises ``UnknownGroupError`` with close matches when no group carries the name.
    """
    if not isinstance(name, str) or not normalise_name(name):
        raise NlpError(f"a group name is required, not {name!r}")
    kb = kb if kb is not None else KnowledgeBase.load()
    groups = kb.lookup(name)
    if not groups:
        by_id = _by_id(name, kb)
        groups = (by_id,) if by_id is not None else ()
    if not groups:
        raise UnknownGroupError(name, suggest_names(name, kb))
    # ATT&CK groups first: they are the ones with a public page to read.
    ordered = sorted(groups, key=lambda g: (g.mitre_id is None, g.id))
    return GroupDescription(query=name, candidates=tuple(_profile(g, kb) for g in ordered))


def _format_profile(profile: GroupProfile) -> list[str]:
    heading = profile.name
    heading += f" ({profile.mitre_id})" if profile.mitre_id else f" [{profile.id}]"
    lines = [heading]
    if profile.attack_url:
        lines.append(f"  ATT&CK:  {profile.attack_url}")
    lines.append(f"  country: {profile.country or 'unknown'}")
    lines.append(f"  sponsor: {profile.sponsor or 'unknown'}")
    lines.append(f"  names ({len(profile.names)}):")
    width = max(len(info.name) for info in profile.names)
    for info in profile.names:
        notes = []
        if info.coined_by:
            notes.append(f"coined by {info.coined_by}")
        if info.needs_evidence:
            notes.append("needs context (ordinary word or another thing's name)")
        if info.also_used_by:
            notes.append(f"also used for {', '.join(info.also_used_by)}")
        lines.append(f"    {info.name:<{width}}  {'; '.join(notes)}".rstrip())
    return lines


def format_group_description(description: GroupDescription) -> str:
    """Plain text for the terminal."""
    if not description.ambiguous:
        return "\n".join(_format_profile(description.candidates[0]))
    count = len(description.candidates)
    lines = [f"{description.query!r} is ambiguous: the sources give it to {count} groups."]
    for number, profile in enumerate(description.candidates, start=1):
        lines.append("")
        block = _format_profile(profile)
        lines.append(f"[{number}] {block[0]}")
        lines.extend(block[1:])
    return "\n".join(lines)
