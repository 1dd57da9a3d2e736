"""Repository functions: a ``Session`` in, dataclasses out. The caller owns the transaction."""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from hashlib import sha256
from typing import Any

from sqlalchemy import ColumnElement, case, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage import clock
from storage.errors import StorageError
from storage.models import (
    SHORT,
    URL_MAX_LENGTH,
    Alert,
    Article,
    Attribution,
    Delivery,
    GroupMention,
    Source,
    UrlStateRow,
)
from storage.records import (
    ALERTING_STANCES,
    ArticleIn,
    AttributionIn,
    DeliveryRecord,
    MentionIn,
    PendingAlert,
    StoreResult,
    UrlState,
)

STANCES = frozenset({"asserted", "hedged", "negated"})
# Which attribution an alert points at when a text holds several for one group.
_STANCE_STRENGTH = {"asserted": 2, "hedged": 1}

_MARKUP_TAG = re.compile(r"</?[A-Za-z][^<>]*>")
# Letters and digits only: quotes, dashes, markdown and underscores differ between renderings.
_WORD = re.compile(r"[^\W_]+")


# --- text identity ----------------------------------------------------------------------------


def normalise_text(text: str) -> str:
    """The words of ``text``, casefolded, without markup or punctuation, single-space separated.

    Two renderings of one story (different whitespace, tags, entities, curly vs straight quotes)
    normalise to the same string.
    """
    without_markup = html.unescape(_MARKUP_TAG.sub(" ", text))
    folded = unicodedata.normalize("NFKC", without_markup).casefold()
    return " ".join(_WORD.findall(folded))


def content_hash(text: str) -> str:
    """sha256 hex of :func:`normalise_text` — the article identity stored in ``content_hash``."""
    return sha256(normalise_text(text).encode("utf-8")).hexdigest()


# --- validation helpers -----------------------------------------------------------------------


def _require_text(value: str | None, what: str, max_length: int | None = None) -> str:
    if value is None or not value.strip():
        raise StorageError(f"{what} is empty")
    if max_length is not None and len(value) > max_length:
        raise StorageError(f"{what} is {len(value)} characters long; the limit is {max_length}")
    return value


def _as_utc(value: datetime | None, what: str) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None or value.utcoffset() is None:
        raise StorageError(f"{what} {value.isoformat()} has no time zone; give a tz-aware datetime")
    return value.astimezone(UTC)


def _upsert_insert(session: Session) -> Any:
    """The dialect's INSERT that knows ON CONFLICT (SQLite and PostgreSQL share the API)."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert
    if dialect == "sqlite":
        return sqlite.insert
    raise StorageError(f"unsupported database backend {dialect!r}; use SQLite or PostgreSQL")


# --- sources ----------------------------------------------------------------------------------


def ensure_source(session: Session, name: str, kind: str, url: str | None) -> int:
    """The id of the source called ``name``, creating it (or refreshing kind/url) as needed."""
    _require_text(name, "source name", SHORT)
    _require_text(kind, f"kind of source {name!r}", 64)
    if url is not None:
        _require_text(url, f"URL of source {name!r}", URL_MAX_LENGTH)
    existing = session.scalars(select(Source).where(Source.name == name)).one_or_none()
    if existing is None:
        try:
            with session.begin_nested():
                source = Source(name=name, kind=kind, url=url, created_at=clock.utcnow())
                session.add(source)
            return source.id
        except IntegrityError:
            # Another writer registered the same name between our SELECT and INSERT.
            existing = session.scalars(select(Source).where(Source.name == name)).one()
    if existing.kind != kind or existing.url != url:
        existing.kind, existing.url = kind, url
        session.flush()
    return existing.id


# --- articles ---------------------------------------------------------------------------------


def is_known_url(session: Session, url: str) -> bool:
    """Whether an article was stored under ``url`` as its fetched or its canonical URL."""
    query = select(Article.id).where(or_(Article.url == url, Article.canonical_url == url))
    return session.scalars(query.limit(1)).first() is not None


def _find_duplicate(session: Session, canonical_url: str, text_hash: str) -> int | None:
    query = (
        select(Article.id)
        .where(or_(Article.canonical_url == canonical_url, Article.content_hash == text_hash))
        .order_by(Article.id)
        .limit(1)
    )
    return session.scalars(query).first()


def _validate_article(
    article: ArticleIn, mentions: Sequence[MentionIn], attributions: Sequence[AttributionIn]
) -> None:
    _require_text(article.url, "article URL", URL_MAX_LENGTH)
    _require_text(article.canonical_url, f"canonical URL of {article.url}", URL_MAX_LENGTH)
    if not normalise_text(article.text or ""):
        raise StorageError(f"article {article.url} has no text")
    for mention in mentions:
        _require_text(mention.group_id, f"group id of a mention in {article.url}", SHORT)
        if not 0 <= mention.start <= mention.end <= len(article.text):
            raise StorageError(
                f"mention {mention.alias!r} in {article.url} has offsets "
                f"{mention.start}..{mention.end} outside the text (length {len(article.text)})"
            )
    for attribution in attributions:
        _require_text(attribution.group_id, f"group id of an attribution in {article.url}", SHORT)
        if attribution.stance not in STANCES:
            raise StorageError(
                f"attribution of {attribution.group_id} in {article.url} has stance "
                f"{attribution.stance!r}; expected one of {', '.join(sorted(STANCES))}"
            )


def _strongest_alertable(
    attributions: Iterable[tuple[Attribution, AttributionIn]],
) -> dict[str, Attribution]:
    best: dict[str, tuple[tuple[int, float], Attribution]] = {}
    for row, given in attributions:
        if given.stance not in ALERTING_STANCES:
            continue
        strength = (_STANCE_STRENGTH.get(given.stance, 0), given.confidence)
        current = best.get(given.group_id)
        if current is None or strength > current[0]:
            best[given.group_id] = (strength, row)
    return {group_id: row for group_id, (_, row) in best.items()}


def store_article(
    session: Session,
    article: ArticleIn,
    mentions: Sequence[MentionIn],
    attributions: Sequence[AttributionIn],
) -> StoreResult:
    """Store ``article`` with its mentions, attributions and one outbox alert per alertable group.

    An article whose canonical URL or normalised text is already stored is a duplicate: nothing is
    written and ``duplicate_of`` names the stored one. The source must exist (``ensure_source``).
    """
    _validate_article(article, mentions, attributions)
    source_id = session.scalars(
        select(Source.id).where(Source.name == article.source_name)
    ).one_or_none()
    if source_id is None:
        raise StorageError(
            f"unknown source {article.source_name!r}; register it with ensure_source() first"
        )
    published = _as_utc(article.published, f"published date of {article.url}")
    now = clock.utcnow()
    fetched_at = _as_utc(article.fetched_at, f"fetch time of {article.url}") or now
    text_hash = content_hash(article.text)

    duplicate_of = _find_duplicate(session, article.canonical_url, text_hash)
    if duplicate_of is not None:
        return StoreResult(article_id=duplicate_of, created=False, duplicate_of=duplicate_of)

    try:
        # The SAVEPOINT keeps the caller's transaction usable when a concurrent writer wins.
        with session.begin_nested():
            row = Article(
                source_id=source_id,
                url=article.url,
                canonical_url=article.canonical_url,
                content_hash=text_hash,
                title=article.title,
                text=article.text,
                published=published,
                authors=list(article.authors),
                lang=article.lang,
                fetched_at=fetched_at,
                created_at=now,
            )
            session.add(row)
            session.flush()
            session.add_all(
                GroupMention(
                    article_id=row.id,
                    group_id=m.group_id,
                    group_name=m.group_name,
                    alias=m.alias,
                    start=m.start,
                    end=m.end,
                )
                for m in mentions
            )
            attribution_rows = [
                (
                    Attribution(
                        article_id=row.id,
                        group_id=a.group_id,
                        group_name=a.group_name,
                        mitre_id=a.mitre_id,
                        alias=a.alias,
                        stance=a.stance,
                        attributed_by=a.attributed_by,
                        sponsor=a.sponsor,
                        evidence=a.evidence,
                        confidence=a.confidence,
                    ),
                    a,
                )
                for a in attributions
            ]
            session.add_all(attribution_row for attribution_row, _ in attribution_rows)
            session.flush()
            alert_targets = _strongest_alertable(attribution_rows)
            session.add_all(
                Alert(
                    article_id=row.id,
                    attribution_id=target.id,
                    group_id=group_id,
                    status="pending",
                    created_at=now,
                )
                for group_id, target in alert_targets.items()
            )
            session.flush()
    except IntegrityError:
        duplicate_of = _find_duplicate(session, article.canonical_url, text_hash)
        if duplicate_of is None:
            raise
        return StoreResult(article_id=duplicate_of, created=False, duplicate_of=duplicate_of)
    return StoreResult(article_id=row.id, created=True, alerts_created=len(alert_targets))


# --- alerts -----------------------------------------------------------------------------------


def _alert_query() -> Any:
    return (
        select(Alert, Attribution, Article, Source.name)
        .join(Attribution, Alert.attribution_id == Attribution.id)
        .join(Article, Alert.article_id == Article.id)
        .join(Source, Article.source_id == Source.id)
    )


def _other_reporters(session: Session, articles: Iterable[Article]) -> dict[int, tuple[str, ...]]:
    """Per article id, the other sources that carried the same story (once stories exist)."""
    story_ids = {article.story_id for article in articles if article.story_id is not None}
    if not story_ids:
        return {}
    rows = session.execute(
        select(Article.id, Article.story_id, Source.name)
        .join(Source, Article.source_id == Source.id)
        .where(Article.story_id.in_(story_ids))
        .order_by(Article.published, Article.id)
    ).all()
    by_article: dict[int, tuple[str, ...]] = {}
    for article in articles:
        if article.story_id is None:
            continue
        own_source = next(name for art_id, _, name in rows if art_id == article.id)
        others = dict.fromkeys(
            name
            for art_id, story_id, name in rows
            if story_id == article.story_id and art_id != article.id and name != own_source
        )
        by_article[article.id] = tuple(others)
    return by_article


def _pending_alerts(session: Session, query: Any) -> list[PendingAlert]:
    rows = session.execute(query).all()
    reporters = _other_reporters(session, [article for _, _, article, _ in rows])
    return [
        PendingAlert(
            alert_id=alert.id,
            article_id=article.id,
            article_url=article.canonical_url,
            article_title=article.title,
            source_name=source_name,
            published=article.published,
            group_id=attribution.group_id,
            group_name=attribution.group_name,
            mitre_id=attribution.mitre_id,
            alias=attribution.alias,
            stance=attribution.stance,
            attributed_by=attribution.attributed_by,
            sponsor=attribution.sponsor,
            evidence=attribution.evidence,
            confidence=attribution.confidence,
            created_at=alert.created_at,
            also_reported_by=reporters.get(article.id, ()),
        )
        for alert, attribution, article, source_name in rows
    ]


def undelivered_alerts(session: Session, limit: int | None = None) -> list[PendingAlert]:
    """Alerts still pending, oldest first."""
    if limit is not None and limit < 0:
        raise StorageError(f"limit must be zero or more, got {limit}")
    query = _alert_query().where(Alert.status == "pending").order_by(Alert.created_at, Alert.id)
    if limit is not None:
        query = query.limit(limit)
    return _pending_alerts(session, query)


def recent_alerts(session: Session, limit: int) -> list[PendingAlert]:
    """The newest ``limit`` alerts, delivered or not, newest first."""
    if limit < 0:
        raise StorageError(f"limit must be zero or more, got {limit}")
    query = _alert_query().order_by(Alert.created_at.desc(), Alert.id.desc()).limit(limit)
    return _pending_alerts(session, query)


def _require_alert(session: Session, alert_id: int) -> None:
    if session.get(Alert, alert_id) is None:
        raise StorageError(f"no alert with id {alert_id}")


def successful_channels(session: Session, alert_id: int) -> set[str]:
    """Channels that already received ``alert_id``; the dispatcher must not send to them again."""
    query = select(Delivery.channel).where(Delivery.alert_id == alert_id, Delivery.status == "sent")
    return set(session.scalars(query))


def record_delivery(
    session: Session,
    alert_id: int,
    channel: str,
    channel_label: str,
    ok: bool,
    error: str | None,
) -> DeliveryRecord:
    """Record one delivery attempt of ``alert_id`` to ``channel`` (upsert; attempts counts up).

    A channel that once succeeded stays 'sent' even if a later attempt fails; the failure is still
    counted and its error kept in ``last_error``.
    """
    _require_text(channel, "delivery channel", SHORT)
    _require_alert(session, alert_id)
    now = clock.utcnow()
    status = "sent" if ok else "failed"
    last_error = None if ok else (error or "delivery failed without an error message")
    insert = _upsert_insert(session)
    statement = insert(Delivery).values(
        alert_id=alert_id,
        channel=channel,
        channel_label=channel_label,
        status=status,
        attempts=1,
        last_error=last_error,
        first_attempt_at=now,
        last_attempt_at=now,
        delivered_at=now if ok else None,
    )
    excluded = statement.excluded
    keep_sent: ColumnElement[str] = case((Delivery.status == "sent", "sent"), else_=excluded.status)
    statement = statement.on_conflict_do_update(
        index_elements=[Delivery.alert_id, Delivery.channel],
        set_={
            "channel_label": excluded.channel_label,
            "status": keep_sent,
            "attempts": Delivery.attempts + 1,
            "last_error": excluded.last_error,
            "last_attempt_at": excluded.last_attempt_at,
            "delivered_at": func.coalesce(Delivery.delivered_at, excluded.delivered_at),
        },
    ).returning(
        Delivery.alert_id,
        Delivery.channel,
        Delivery.channel_label,
        Delivery.status,
        Delivery.attempts,
        Delivery.last_error,
    )
    row = session.execute(statement).one()
    # The ORM identity map may hold a stale Delivery after a raw upsert.
    session.expire_all()
    return DeliveryRecord(
        alert_id=row.alert_id,
        channel=row.channel,
        channel_label=row.channel_label,
        status=row.status,
        attempts=row.attempts,
        last_error=row.last_error,
    )


def mark_alert_done(session: Session, alert_id: int) -> None:
    """Close the outbox row; repeating it keeps the first ``done_at``."""
    _require_alert(session, alert_id)
    session.execute(
        update(Alert)
        .where(Alert.id == alert_id, Alert.status != "done")
        .values(status="done", done_at=clock.utcnow())
        .execution_options(synchronize_session="fetch")
    )


# --- incremental crawling ---------------------------------------------------------------------


def _url_state(row: UrlStateRow) -> UrlState:
    return UrlState(
        url=row.url,
        etag=row.etag,
        last_modified=row.last_modified,
        content_hash=row.content_hash,
        first_seen=row.first_seen,
        last_seen=row.last_seen,
        last_status=row.last_status,
        last_fetched=row.last_fetched,
    )


def get_url_state(session: Session, url: str) -> UrlState | None:
    row = session.scalars(select(UrlStateRow).where(UrlStateRow.url == url)).one_or_none()
    return None if row is None else _url_state(row)


def put_url_state(
    session: Session,
    url: str,
    *,
    status: int | None,
    etag: str | None = None,
    last_modified: str | None = None,
    content_hash: str | None = None,
    fetched_at: datetime | None = None,
) -> UrlState:
    """Record a fetch of ``url``. A 304 keeps the stored validators and hash unless new ones are
    given (servers may omit them); any other status replaces them."""
    _require_text(url, "URL", URL_MAX_LENGTH)
    now = clock.utcnow()
    fetched = _as_utc(fetched_at, f"fetch time of {url}") or now
    insert = _upsert_insert(session)
    statement = insert(UrlStateRow).values(
        url=url,
        etag=etag,
        last_modified=last_modified,
        content_hash=content_hash,
        first_seen=now,
        last_seen=now,
        last_status=status,
        last_fetched=fetched,
    )
    excluded = statement.excluded

    def refreshed(column: Any, new: Any) -> Any:
        return func.coalesce(new, column) if status == 304 else new

    statement = statement.on_conflict_do_update(
        index_elements=[UrlStateRow.url],
        set_={
            "etag": refreshed(UrlStateRow.etag, excluded.etag),
            "last_modified": refreshed(UrlStateRow.last_modified, excluded.last_modified),
            "content_hash": refreshed(UrlStateRow.content_hash, excluded.content_hash),
            "last_seen": excluded.last_seen,
            "last_status": excluded.last_status,
            "last_fetched": excluded.last_fetched,
        },
    )
    session.execute(statement)
    session.expire_all()
    state = get_url_state(session, url)
    assert state is not None  # just upserted in this transaction
    return state
