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
class CandidateGroup:
    """One group an ambiguous name may mean ("Grizzly Steppe": APT28 or APT29)."""

    group_id: str
    group_name: str


@dataclass(frozen=True)
class MentionIn:
    group_id: str
    group_name: str
    alias: str
    start: int
    end: int
    # Every group the name may mean (group_id among them), only when it may mean several.
    candidates: tuple[CandidateGroup, ...] = ()


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
    # Every group the name may mean (group_id among them), only when it may mean several: the
    # attribution is to group_id as the detector resolved the name, and the alert says so.
    candidates: tuple[CandidateGroup, ...] = ()


@dataclass(frozen=True)
class StoreResult:
    """What ``store_article`` did.

    - new article: ``created``; ``story_id`` is its story, ``new_story`` when it started one;
    - same canonical URL, changed text: ``updated`` (``duplicate_of`` is the article itself);
    - same canonical URL and text, or the same text under another URL: neither, ``duplicate_of``.

    ``alerts_created`` counts new outbox rows; ``also_reported_groups`` lists the groups this
    article attributes that already had an alert in its story (recorded as "also reported by"
    instead). No alert is ever removed by an update: one whose group the new text no longer
    attributes keeps the attribution (and evidence) it was created for.
    """

    article_id: int
    created: bool
    alerts_created: int = 0
    duplicate_of: int | None = None
    updated: bool = False
    story_id: int | None = None
    new_story: bool = False
    also_reported_groups: tuple[str, ...] = ()


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
    # Other sources that carried the same story, earliest first (the alert's own source excluded).
    also_reported_by: tuple[str, ...] = field(default=())
    story_id: int | None = None
    # Every group the alias may mean, group_id among them; empty when it means one group.
    candidates: tuple[CandidateGroup, ...] = ()

    @property
    def other_candidates(self) -> tuple[CandidateGroup, ...]:
        """The groups other than ``group_id`` that the name used in the article may mean."""
        return tuple(c for c in self.candidates if c.group_id != self.group_id)


@dataclass(frozen=True)
class DeliveryRecord:
    alert_id: int
    channel: str
    channel_label: str
    status: str
    attempts: int
    last_error: str | None


@dataclass(frozen=True)
class FetchIn:
    """One fetch of a URL to record: its status, validators and body hash."""

    url: str
    status: int | None
    etag: str | None = None
    last_modified: str | None = None
    content_hash: str | None = None
    fetched_at: datetime | None = None


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


@dataclass(frozen=True)
class StoryInfo:
    """One story: its articles and every outlet that reported it, earliest first."""

    story_id: int
    title: str | None
    first_article_id: int | None
    first_seen: datetime
    last_seen: datetime
    article_ids: tuple[int, ...]
    reported_by: tuple[str, ...]
    alerted_groups: tuple[str, ...]


@dataclass(frozen=True)
class SourceHealth:
    """How a source's crawls went: ``aptwatch sources status`` prints one per source."""

    name: str
    runs: int
    last_run_at: datetime | None
    last_success_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    entries_seen: int  # in the last run
    new_articles: int  # in the last run
    total_new_articles: int
    consecutive_failures: int
    # When the operator channels were told about the current failure streak (None: not yet, not
    # every channel took it yet, or healthy).
    operator_alerted_at: datetime | None
    operator_alerted_failures: int | None
    # Numbers the source's failure streaks: the current one, or the last one if healthy.
    failure_streak: int

    @property
    def failing(self) -> bool:
        return self.consecutive_failures > 0

    def needs_operator_alert(self, threshold: int) -> bool:
        """Failing ``threshold`` times in a row or more, and nobody told yet in this streak."""
        if threshold < 1:
            raise ValueError(f"operator alert threshold must be at least 1, got {threshold}")
        return self.consecutive_failures >= threshold and self.operator_alerted_at is None


@dataclass(frozen=True)
class OperatorDeliveryRecord:
    """One operator channel's delivery of the message about one failure streak of a source."""

    source_name: str
    failure_streak: int
    channel: str
    channel_label: str
    status: str
    attempts: int
    last_error: str | None


@dataclass(frozen=True)
class SourceRunRecord:
    source_name: str
    started_at: datetime
    finished_at: datetime
    ok: bool
    error: str | None
    entries: int
    new_articles: int
