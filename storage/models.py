"""SQLAlchemy declarative models. ORM objects stay inside ``storage``; callers get dataclasses."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from storage import clock

# One convention for every constraint and index so that Alembic (and SQLite batch mode, which
# must drop constraints by name) sees the same names on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

URL_MAX_LENGTH = 2048  # PostgreSQL btree entries cap near 2.7 kB; longer URLs are rejected upfront
SHORT = 255
EMPTY_JSON_LIST = "[]"  # a server default both SQLite and PostgreSQL read as an empty list


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in, timezone-aware UTC out, on every backend.

    SQLite has no timezone type and hands back naive values; PostgreSQL hands back values in the
    session time zone. Naive values are refused on the way in: guessing their zone hides bugs.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} given; storage needs tz-aware")
        value = value.astimezone(UTC)
        # SQLite stores the literal string; dropping tzinfo keeps one sortable text format.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _now() -> datetime:
    return clock.utcnow()


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime}


class Source(Base):
    __tablename__ = "sources"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(SHORT), unique=True)
    kind: Mapped[str] = mapped_column(String(64))
    url: Mapped[str | None] = mapped_column(String(URL_MAX_LENGTH))
    created_at: Mapped[datetime] = mapped_column(default=_now)


class Article(Base):
    __tablename__ = "articles"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id"), index=True)
    url: Mapped[str] = mapped_column(String(URL_MAX_LENGTH), index=True)
    canonical_url: Mapped[str] = mapped_column(String(URL_MAX_LENGTH), unique=True)
    content_hash: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    published: Mapped[datetime | None]
    authors: Mapped[list[str]] = mapped_column(JSON, default=list)
    lang: Mapped[str | None] = mapped_column(String(16))
    fetched_at: Mapped[datetime] = mapped_column(default=_now)
    created_at: Mapped[datetime] = mapped_column(default=_now)
    # Articles of one story share it (see Story). No foreign key: stories point back at their first
    # article, and a reference cycle would complicate every delete and SQLite table rebuild.
    story_id: Mapped[int | None] = mapped_column(Integer, index=True)


class GroupMention(Base):
    __tablename__ = "group_mentions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), index=True
    )
    group_id: Mapped[str] = mapped_column(String(SHORT), index=True)
    group_name: Mapped[str] = mapped_column(Text)
    alias: Mapped[str] = mapped_column(Text)
    start: Mapped[int] = mapped_column(Integer)
    end: Mapped[int] = mapped_column(Integer)
    # An ambiguous name: every group it may mean, [{"group_id": ..., "group_name": ...}, ...]
    # (group_id among them); [] when the name means one group.
    candidates: Mapped[list[dict[str, str]]] = mapped_column(
        JSON, default=list, server_default=EMPTY_JSON_LIST
    )

    __table_args__ = (CheckConstraint('start >= 0 AND start <= "end"', name="span"),)


class Attribution(Base):
    __tablename__ = "attributions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), index=True
    )
    group_id: Mapped[str] = mapped_column(String(SHORT), index=True)
    group_name: Mapped[str] = mapped_column(Text)
    mitre_id: Mapped[str | None] = mapped_column(String(32))
    alias: Mapped[str] = mapped_column(Text)
    stance: Mapped[str] = mapped_column(String(16))
    attributed_by: Mapped[str | None] = mapped_column(Text)
    sponsor: Mapped[str | None] = mapped_column(Text)
    evidence: Mapped[str] = mapped_column(Text)
    confidence: Mapped[float] = mapped_column(Float)
    # As GroupMention.candidates: the alias may mean any of these groups, not only group_id.
    candidates: Mapped[list[dict[str, str]]] = mapped_column(
        JSON, default=list, server_default=EMPTY_JSON_LIST
    )

    __table_args__ = (
        CheckConstraint("stance IN ('asserted', 'hedged', 'negated')", name="stance"),
    )


class Alert(Base):
    """The outbox: one row per (article, group) that deserves a SOC alert."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))
    attribution_id: Mapped[int] = mapped_column(
        ForeignKey("attributions.id", ondelete="CASCADE"), index=True
    )
    group_id: Mapped[str] = mapped_column(String(SHORT))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    created_at: Mapped[datetime] = mapped_column(default=_now)
    done_at: Mapped[datetime | None]

    __table_args__ = (
        UniqueConstraint("article_id", "group_id"),
        CheckConstraint("status IN ('pending', 'done')", name="status"),
        Index("ix_alerts_status_created_at", "status", "created_at"),
    )


class DeliveryColumns:
    """What is recorded of sending one message to one channel, for alerts and operator messages
    alike (``storage.upsert.upsert_delivery`` writes both the same way)."""

    channel: Mapped[str] = mapped_column(String(SHORT))
    channel_label: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    first_attempt_at: Mapped[datetime] = mapped_column(default=_now)
    last_attempt_at: Mapped[datetime] = mapped_column(default=_now)
    delivered_at: Mapped[datetime | None]


class Delivery(DeliveryColumns, Base):
    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"))

    __table_args__ = (
        UniqueConstraint("alert_id", "channel"),
        CheckConstraint("status IN ('sent', 'failed')", name="status"),
        CheckConstraint("attempts >= 0", name="attempts"),
    )


class UrlStateRow(Base):
    """What the last fetch of a URL returned, for conditional GETs and change detection."""

    __tablename__ = "url_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(URL_MAX_LENGTH), unique=True)
    etag: Mapped[str | None] = mapped_column(Text)
    # Kept as the raw header so it can be echoed back verbatim in If-Modified-Since.
    last_modified: Mapped[str | None] = mapped_column(String(SHORT))
    content_hash: Mapped[str | None] = mapped_column(String(64))
    first_seen: Mapped[datetime] = mapped_column(default=_now)
    last_seen: Mapped[datetime] = mapped_column(default=_now)
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_fetched: Mapped[datetime | None]


class Story(Base):
    """One event as reported by one or more articles (copies, rewrites, truncated syndication)."""

    __tablename__ = "stories"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    first_article_id: Mapped[int | None] = mapped_column(
        ForeignKey("articles.id", ondelete="SET NULL"), index=True
    )
    title: Mapped[str | None] = mapped_column(Text)
    # Publication (or, without one, fetch) times of the story's earliest and latest articles.
    first_seen: Mapped[datetime] = mapped_column(default=_now)
    last_seen: Mapped[datetime] = mapped_column(default=_now)


class ArticleBand(Base):
    """The LSH band keys of an article's text: articles sharing a key are story candidates."""

    __tablename__ = "article_bands"

    # band_key first: the primary key index is what the candidate lookup (band_key IN ...) uses.
    band_key: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class StoryReport(Base):
    """One outlet's report of a story: each article of the story, and exact copies elsewhere."""

    __tablename__ = "story_reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    story_id: Mapped[int] = mapped_column(ForeignKey("stories.id", ondelete="CASCADE"), index=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(String(URL_MAX_LENGTH))
    reported_at: Mapped[datetime] = mapped_column(default=_now)

    __table_args__ = (UniqueConstraint("story_id", "url"),)


class SourceHealthRow(Base):
    """Per source, the outcome of its crawls: what ``aptwatch sources status`` shows."""

    __tablename__ = "source_health"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # By name, not a foreign key: a source whose feed never loads has no ``sources`` row.
    name: Mapped[str] = mapped_column(String(SHORT), unique=True)
    runs: Mapped[int] = mapped_column(Integer, default=0)
    last_run_at: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None]
    entries_seen: Mapped[int] = mapped_column(Integer, default=0)
    new_articles: Mapped[int] = mapped_column(Integer, default=0)
    total_new_articles: Mapped[int] = mapped_column(Integer, default=0)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    # Which failure streak the source is in (or was in last): one more each time a failure follows
    # a success. Operator deliveries are kept per streak, so that a delivery recorded late for an
    # old streak can never count for a new one.
    failure_streak: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Set when every operator channel has the message about the current failure streak (or while
    # one recorder is sending it, so that no other sends it too); cleared by a success.
    operator_alerted_at: Mapped[datetime | None]
    operator_alerted_failures: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (
        CheckConstraint(
            "runs >= 0 AND entries_seen >= 0 AND new_articles >= 0 AND total_new_articles >= 0 "
            "AND consecutive_failures >= 0",
            name="counts",
        ),
    )


class OperatorDelivery(DeliveryColumns, Base):
    """The ``deliveries`` of operator messages: one row per (source, failure streak, channel).

    A channel that failed gets the streak's message again at the next recording of source health;
    one that took it ("sent") never gets it again in that streak.
    """

    __tablename__ = "operator_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # By name, as in source_health.
    source_name: Mapped[str] = mapped_column(String(SHORT))
    failure_streak: Mapped[int] = mapped_column(Integer)

    __table_args__ = (
        UniqueConstraint("source_name", "failure_streak", "channel"),
        CheckConstraint("status IN ('sent', 'failed')", name="status"),
        CheckConstraint("attempts >= 0", name="attempts"),
    )


class SourceRun(Base):
    """One crawl of one source (a bounded history; the newest runs per source are kept)."""

    __tablename__ = "source_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_name: Mapped[str] = mapped_column(String(SHORT))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime]
    ok: Mapped[bool] = mapped_column(Boolean)
    error: Mapped[str | None] = mapped_column(Text)
    entries: Mapped[int] = mapped_column(Integer)
    new_articles: Mapped[int] = mapped_column(Integer)

    __table_args__ = (Index("ix_source_runs_source_name_started_at", "source_name", "started_at"),)


class CrawlLease(Base):
    """Who crawls a source right now: one row per source, taken over once it expires."""

    __tablename__ = "crawl_leases"

    source_name: Mapped[str] = mapped_column(String(SHORT), primary_key=True)
    holder: Mapped[str] = mapped_column(String(SHORT))
    acquired_at: Mapped[datetime]
    expires_at: Mapped[datetime]
