"""Plain dataclasses that cross the storage boundary; ORM objects never leave this package."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

ALERTING_STANCES = frozenset({"asserted", "hedged"})


@dataclass(frozen=True)
class ArticleIn:
    url: str
    canonical_url: str
    source_name: str
    title: str | None
    text: str
    published: datetime | None
    authors: tuple[str, ...] = ()
    lang: str | None = None
    fetched_at: datetime | None = None


@dataclass(frozen=True)
class MentionIn:
    group_id: str
    group_name: str
    alias: str
    start: int
    end: int


@dataclass(frozen=True)
class AttributionIn:
    group_id: str
    group_name: str
    alias: str
    stance: str
    evidence: str
    mitre_id: str | None = None
    attributed_by: str | None = None
    sponsor: str | None = None
    confidence: float = 0.0


@dataclass(frozen=True)
class StoreResult:
    article_id: int
    created: bool
    alerts_created: int = 0
    duplicate_of: int | None = None


@dataclass(frozen=True)
class PendingAlert:
    alert_id: int
    article_id: int
    article_url: str
    article_title: str | None
    source_name: str
    published: datetime | None
    group_id: str
    group_name: str
    mitre_id: str | None
    alias: str
    stance: str
    attributed_by: str | None
    sponsor: str | None
    evidence: str
    confidence: float
    created_at: datetime
    also_reported_by: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class DeliveryRecord:
    alert_id: int
    channel: str
    channel_label: str
    status: str
    attempts: int
    last_error: str | None


@dataclass(frozen=True)
class UrlState:
    """What the crawler last learnt about one URL (for conditional GETs and change detection)."""

    url: str
    etag: str | None
    last_modified: str | None
    content_hash: str | None
    first_seen: datetime
    last_seen: datetime
    last_status: int | None
    last_fetched: datetime | None
