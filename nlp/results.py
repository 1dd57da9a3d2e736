"""What the detector reports, as plain dataclasses (the `aptwatch analyze` contract)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

STANCES = ("asserted", "hedged", "negated")


@dataclass(frozen=True)
class Mention:
    group_id: str
    group_name: str
    alias: str
    start: int
    end: int
    candidates: tuple[str, ...] = ()  # every group id an ambiguous name may mean

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "candidates"} | (
            {"candidates": list(self.candidates)} if self.candidates else {}
        )


@dataclass(frozen=True)
class Attribution:
    group_id: str
    group_name: str
    alias: str
    stance: str
    evidence: str
    mitre_id: str | None = None
    attributed_by: str | None = None
    sponsor: str | None = None
    confidence: float = 0.0
    # Every group id the name may mean (``group_id`` among them), only when it may mean several:
    # the attribution is then to ``group_id`` as the detector resolved it, not a certainty.
    candidates: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "group_id": self.group_id,
            "group_name": self.group_name,
            "mitre_id": self.mitre_id,
            "alias": self.alias,
            "stance": self.stance,
            "attributed_by": self.attributed_by,
            "sponsor": self.sponsor,
            "evidence": self.evidence,
            "confidence": round(self.confidence, 3),
        } | ({"candidates": list(self.candidates)} if self.candidates else {})


@dataclass(frozen=True)
class AnalysisResult:
    mentions: list[Mention] = field(default_factory=list)
    attributions: list[Attribution] = field(default_factory=list)
