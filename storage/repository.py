"""Repository functions: a ``Session`` in, dataclasses out. The caller owns the transaction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage import clock, stories
from storage.errors import ShrunkArticleError, StorageError
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
    CandidateGroup,
    DeliveryRecord,
    FetchIn,
    MentionIn,
    PendingAlert,
    StoreResult,
    UrlState,
)
from storage.similarity import TextIdentity, text_identity, words, words_hash
from storage.upsert import upsert_delivery, upsert_insert

STANCES = frozenset({"asserted", "hedged", "negated"})
# Which attribution an alert points at when a text holds several for one group.
_STANCE_STRENGTH = {"asserted": 2, "hedged": 1}
_LOOKUP_CHUNK = 500
# A changed article whose new text is under this share of the stored text's length AND under
# SHRUNK_TEXT_MAX_CHARS characters is taken for an error, login or paywall page served in place of
# the article ("Access denied ... You do not have permission to view this page." is 60 characters)
# and does not replace it. Both must hold: a long article cut to a still substantial length, or a
# short one shortened further, is a real edit. Lengths are of the normalised text (words only).
SHRUNK_TEXT_RATIO = 0.25
SHRUNK_TEXT_MAX_CHARS = 500
_NO_WORDS_HASH = words_hash([])


# --- text identity ----------------------------------------------------------------------------


def normalise_text(text: str) -> str:
    """The words of ``text``, casefolded, without markup or punctuation, single-space separated.

    Two renderings of one story (different whitespace, tags, entities, curly vs straight quotes)
    normalise to the same string.
    """
    return " ".join(words(text))


def content_hash(text: str) -> str:
    """sha256 hex of :func:`normalise_text` — the article identity stored in ``content_hash``."""
    return words_hash(words(text))


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
    article: ArticleIn,
    mentions: Sequence[MentionIn],
    attributions: Sequence[AttributionIn],
    identity: TextIdentity,
) -> None:
    _require_text(article.url, "article URL", URL_MAX_LENGTH)
    _require_text(article.canonical_url, f"canonical URL of {article.url}", URL_MAX_LENGTH)
    if identity.content_hash == _NO_WORDS_HASH:
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


def _add_mentions(session: Session, article_id: int, mentions: Sequence[MentionIn]) -> None:
    session.add_all(
        GroupMention(
            article_id=article_id,
            group_id=m.group_id,
            group_name=m.group_name,
            alias=m.alias,
            start=m.start,
            end=m.end,
            candidates=_candidates_json(m.candidates),
        )
        for m in mentions
    )


def _candidates_json(candidates: Sequence[CandidateGroup]) -> list[dict[str, str]]:
    return [{"group_id": c.group_id, "group_name": c.group_name} for c in candidates]


def _candidates_of(stored: list[dict[str, str]]) -> tuple[CandidateGroup, ...]:
    return tuple(CandidateGroup(c["group_id"], c["group_name"]) for c in stored)


def _add_attributions(
    session: Session, article_id: int, attributions: Sequence[AttributionIn]
) -> list[tuple[Attribution, AttributionIn]]:
    rows = [
        (
            Attribution(
                article_id=article_id,
                group_id=a.group_id,
                group_name=a.group_name,
                mitre_id=a.mitre_id,
                alias=a.alias,
                stance=a.stance,
                attributed_by=a.attributed_by,
                sponsor=a.sponsor,
                evidence=a.evidence,
                confidence=a.confidence,
                candidates=_candidates_json(a.candidates),
            ),
            a,
        )
        for a in attributions
    ]
    session.add_all(row for row, _ in rows)
    session.flush()
    return rows


def _create_alerts(
    session: Session,
    article_id: int,
    story_id: int | None,
    targets: dict[str, Attribution],
    now: datetime,
    fresh_story: bool = False,
) -> tuple[int, tuple[str, ...]]:
    """Outbox rows for the groups with no alert yet in the story; returns (created, skipped).

    ``fresh_story``: the story was started by this very article, so nothing can have alerted yet.
    """
    if not targets:
        return 0, ()
    already = set() if fresh_story else stories.alerted_groups(session, story_id, article_id)
    skipped = tuple(sorted(group_id for group_id in targets if group_id in already))
    new = {group_id: row for group_id, row in targets.items() if group_id not in already}
    session.add_all(
        Alert(
            article_id=article_id,
            attribution_id=row.id,
            group_id=group_id,
            status="pending",
            created_at=now,
        )
        for group_id, row in sorted(new.items())
    )
    session.flush()
    return len(new), skipped


# Built once: SQLAlchemy then skips building the statement and its cache key on every call,
# which cost more than running the query (these two run for every article a crawl stores).
_SOURCE_ID_BY_NAME = select(Source.id).where(Source.name == bindparam("name"))
_ARTICLES_BY_URL_OR_HASH = select(
    Article.id, Article.canonical_url, Article.content_hash, Article.story_id
).where(or_(Article.canonical_url == bindparam("url"), Article.content_hash == bindparam("hash")))


def store_article(
    session: Session,
    article: ArticleIn,
    mentions: Sequence[MentionIn],
    attributions: Sequence[AttributionIn],
    identity: TextIdentity | None = None,
) -> StoreResult:
    """Store ``article`` with its mentions and attributions, put it in its story, and add one
    outbox alert per alertable group that its story has not alerted yet.

    ``identity`` is ``text_identity(article.text)`` when the caller has computed it already.

    - Canonical URL already stored with the same normalised text: nothing changes.
    - Canonical URL already stored, text changed: the article is updated in place (see
      :class:`StoreResult`); only groups new to its story alert, and no alert is removed.
      New text far shorter than the stored text (under ``SHRUNK_TEXT_RATIO`` of its length and
      under ``SHRUNK_TEXT_MAX_CHARS`` characters) is taken for an error page: nothing is written
      and :class:`ShrunkArticleError` is raised.
    - Same normalised text under another canonical URL: nothing is stored except a note that this
      source also reported the story; ``duplicate_of`` names the stored article.

    The source must exist (``ensure_source``). The caller commits.
    """
    identity = identity or text_identity(article.text or "")
    _validate_article(article, mentions, attributions, identity)
    source_id = session.scalars(_SOURCE_ID_BY_NAME, {"name": article.source_name}).one_or_none()
    if source_id is None:
        raise StorageError(
            f"unknown source {article.source_name!r}; register it with ensure_source() first"
        )
    published = _as_utc(article.published, f"published date of {article.url}")
    now = clock.utcnow()
    fetched_at = _as_utc(article.fetched_at, f"fetch time of {article.url}") or now
    text_hash = identity.content_hash

    # One query for both identities: the same URL wins over the same text elsewhere.
    known = session.execute(
        _ARTICLES_BY_URL_OR_HASH, {"url": article.canonical_url, "hash": text_hash}
    ).all()
    same_url = next((row for row in known if row.canonical_url == article.canonical_url), None)
    if same_url is not None:
        if same_url.content_hash == text_hash:
            return _unchanged(same_url.id, same_url.story_id)
        return _update_changed_article(
            session,
            same_url.id,
            article,
            mentions,
            attributions,
            identity,
            published,
            fetched_at,
            now,
        )
    if known:
        return _record_copy(session, known[0], source_id, article.canonical_url, now)

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
    except IntegrityError:
        duplicate_of = _find_duplicate(session, article.canonical_url, text_hash)
        if duplicate_of is None:
            raise
        return StoreResult(article_id=duplicate_of, created=False, duplicate_of=duplicate_of)

    # Taken after the article INSERT: a writer blocked on our unique keys holds no story lock.
    stories.lock_stories(session)
    story_id, new_story = stories.assign_story(session, row, identity.fingerprint, now)
    _add_mentions(session, row.id, mentions)
    attribution_rows = _add_attributions(session, row.id, attributions)
    created, skipped = _create_alerts(
        session, row.id, story_id, _strongest_alertable(attribution_rows), now, new_story
    )
    return StoreResult(
        article_id=row.id,
        created=True,
        alerts_created=created,
        story_id=story_id,
        new_story=new_story,
        also_reported_groups=skipped,
    )


def _unchanged(article_id: int, story_id: int | None) -> StoreResult:
    return StoreResult(
        article_id=article_id, created=False, duplicate_of=article_id, story_id=story_id
    )


def _article_with_hash(session: Session, text_hash: str) -> Any:
    return session.execute(
        select(Article.id, Article.story_id, Article.source_id).where(
            Article.content_hash == text_hash
        )
    ).first()


def _record_copy(
    session: Session, copy: Any, source_id: int, url: str, now: datetime
) -> StoreResult:
    """The same text under another URL: the story gains a reporter, nothing else is stored."""
    if copy.story_id is not None:
        stories.record_report(session, copy.story_id, source_id, url, now)
    return _unchanged(copy.id, copy.story_id)


def _update_changed_article(
    session: Session,
    article_id: int,
    article: ArticleIn,
    mentions: Sequence[MentionIn],
    attributions: Sequence[AttributionIn],
    identity: TextIdentity,
    published: datetime | None,
    fetched_at: datetime,
    now: datetime,
) -> StoreResult:
    """New text under a known canonical URL: re-analysed; only groups new to the story alert."""
    text_hash = identity.content_hash
    stories.lock_stories(session)
    # Re-read under the lock: a concurrent writer may have stored this very update meanwhile.
    row = session.scalars(
        select(Article).where(Article.id == article_id).execution_options(populate_existing=True)
    ).one()
    if row.content_hash == text_hash:
        return _unchanged(row.id, row.story_id)
    _refuse_shrunk_text(row, article)
    copy = _article_with_hash(session, text_hash)
    if copy is not None:
        # The new text is another stored article's; keep ours as it was rather than merge them.
        return _record_copy(session, copy, row.source_id, article.canonical_url, now)

    row.url = article.url
    row.content_hash = text_hash
    row.title = article.title
    row.text = article.text
    row.published = published or row.published
    row.authors = list(article.authors) or row.authors
    row.lang = article.lang or row.lang
    row.fetched_at = fetched_at
    session.flush()

    text_fingerprint = identity.fingerprint
    if row.story_id is None:
        story_id, _ = stories.assign_story(session, row, text_fingerprint, now)
    else:
        story_id = row.story_id
        stories.replace_bands(session, row.id, text_fingerprint)

    old_attribution_ids = set(
        session.scalars(select(Attribution.id).where(Attribution.article_id == row.id))
    )
    session.execute(delete(GroupMention).where(GroupMention.article_id == row.id))
    _add_mentions(session, row.id, mentions)
    targets = _strongest_alertable(_add_attributions(session, row.id, attributions))
    kept_attribution_ids = _carry_alerts_over(session, row, targets)
    stale = old_attribution_ids - kept_attribution_ids
    if stale:
        session.execute(delete(Attribution).where(Attribution.id.in_(stale)))
    session.expire_all()
    created, skipped = _create_alerts(session, article_id, story_id, targets, now)
    alerted_by_this_article = _alerted_here(session, article_id)
    return StoreResult(
        article_id=article_id,
        created=False,
        alerts_created=created,
        duplicate_of=article_id,
        updated=True,
        story_id=story_id,
        also_reported_groups=tuple(g for g in skipped if g not in alerted_by_this_article),
    )


def _refuse_shrunk_text(row: Article, article: ArticleIn) -> None:
    """Refuse new text that looks like an error page rather than the article (see
    ``SHRUNK_TEXT_RATIO``): the stored version, its attributions and alerts stay as they are."""
    new_length = len(normalise_text(article.text))
    stored_length = len(normalise_text(row.text))
    if new_length < SHRUNK_TEXT_MAX_CHARS and new_length < stored_length * SHRUNK_TEXT_RATIO:
        raise ShrunkArticleError(
            f"page now much shorter than the stored article ({new_length} characters of text, "
            f"was {stored_length}); kept the stored version"
        )


def _alerted_here(session: Session, article_id: int) -> set[str]:
    return set(session.scalars(select(Alert.group_id).where(Alert.article_id == article_id)))


def _carry_alerts_over(
    session: Session, article: Article, targets: dict[str, Attribution]
) -> set[int]:
    """Point the article's alerts at its new attributions; never delete one.

    An alert whose group the new text no longer attributes moves to another article of the story
    that does; failing that it stays, pending or done, with the attribution it was created for
    (that row is kept: the alert still needs its evidence). An alert is the SOC's record that a
    group was named; a later version of the page (a correction, or an error page that got past the
    shrink check) must not make an undelivered alert vanish. Returns the attribution ids kept.
    """
    kept: set[int] = set()
    for alert in session.scalars(select(Alert).where(Alert.article_id == article.id)).all():
        target = targets.get(alert.group_id)
        if target is not None:
            alert.attribution_id = target.id
            continue
        elsewhere = _strongest_in_story(session, article.story_id, alert.group_id, article.id)
        if elsewhere is not None and elsewhere.article_id not in _articles_alerting(
            session, alert.group_id
        ):
            alert.article_id, alert.attribution_id = elsewhere.article_id, elsewhere.id
            continue
        kept.add(alert.attribution_id)
    session.flush()
    return kept


def _articles_alerting(session: Session, group_id: str) -> set[int]:
    return set(session.scalars(select(Alert.article_id).where(Alert.group_id == group_id)))


def _strongest_in_story(
    session: Session, story_id: int | None, group_id: str, excluded_article_id: int
) -> Attribution | None:
    if story_id is None:
        return None
    rows = session.scalars(
        select(Attribution)
        .join(Article, Attribution.article_id == Article.id)
        .where(
            Article.story_id == story_id,
            Article.id != excluded_article_id,
            Attribution.group_id == group_id,
            Attribution.stance.in_(ALERTING_STANCES),
        )
        .order_by(Attribution.id)
    ).all()
    best: Attribution | None = None
    for row in rows:
        strength = (_STANCE_STRENGTH.get(row.stance, 0), row.confidence)
        if best is None or strength > (_STANCE_STRENGTH.get(best.stance, 0), best.confidence):
            best = row
    return best


# --- alerts -----------------------------------------------------------------------------------


def _alert_query() -> Any:
    return (
        select(Alert, Attribution, Article, Source.name)
        .join(Attribution, Alert.attribution_id == Attribution.id)
        .join(Article, Alert.article_id == Article.id)
        .join(Source, Article.source_id == Source.id)
    )


def _other_reporters(session: Session, articles: Iterable[Article]) -> dict[int, tuple[str, ...]]:
    """Per article id, the other sources that reported its story, earliest first."""
    articles = list(articles)
    by_story = stories.reporters_by_story(
        session, (a.story_id for a in articles if a.story_id is not None)
    )
    reporters: dict[int, tuple[str, ...]] = {}
    for article in articles:
        if article.story_id is None:
            continue
        others = dict.fromkeys(
            name
            for source_id, name in by_story.get(article.story_id, [])
            if source_id != article.source_id
        )
        reporters[article.id] = tuple(others)
    return reporters


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
            story_id=article.story_id,
            candidates=_candidates_of(attribution.candidates),
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
    row = upsert_delivery(
        session, Delivery, {"alert_id": alert_id}, channel, channel_label, ok, error
    )
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


def _chunks(values: Sequence[str]) -> Iterable[Sequence[str]]:
    # bounded IN lists: SQLite caps bound parameters per statement
    for start in range(0, len(values), _LOOKUP_CHUNK):
        yield values[start : start + _LOOKUP_CHUNK]


def url_states(session: Session, urls: Iterable[str]) -> dict[str, UrlState]:
    """The stored state of each of ``urls`` that has one, in a few queries however many."""
    wanted = sorted(set(urls))
    found: dict[str, UrlState] = {}
    for chunk in _chunks(wanted):
        for row in session.scalars(select(UrlStateRow).where(UrlStateRow.url.in_(chunk))):
            found[row.url] = _url_state(row)
    return found


def known_urls(session: Session, urls: Iterable[str]) -> set[str]:
    """Those of ``urls`` under which an article is stored, as fetched or canonical URL."""
    wanted = sorted(set(urls))
    known: set[str] = set()
    for chunk in _chunks(wanted):
        rows = session.execute(
            select(Article.url, Article.canonical_url).where(
                or_(Article.url.in_(chunk), Article.canonical_url.in_(chunk))
            )
        )
        for url, canonical_url in rows:
            known.update({url, canonical_url})
    return known & set(wanted)


def record_fetches(session: Session, fetches: Sequence[FetchIn]) -> None:
    """Record fetches of URLs in one statement per kind. A 304 keeps the stored validators and
    hash unless new ones are given (servers may omit them); any other status replaces them.
    The last fetch of a URL given twice wins."""
    now = clock.utcnow()
    latest: dict[str, FetchIn] = {}
    for fetch in fetches:
        _require_text(fetch.url, "URL", URL_MAX_LENGTH)
        latest[fetch.url] = fetch
    for not_modified in (True, False):
        rows = [
            {
                "url": fetch.url,
                "etag": fetch.etag,
                "last_modified": fetch.last_modified,
                "content_hash": fetch.content_hash,
                "first_seen": now,
                "last_seen": now,
                "last_status": fetch.status,
                "last_fetched": _as_utc(fetch.fetched_at, f"fetch time of {fetch.url}") or now,
            }
            for fetch in latest.values()
            if (fetch.status == 304) is not_modified
        ]
        if rows:
            session.execute(_url_state_upsert(session, not_modified), rows)


def _url_state_upsert(session: Session, not_modified: bool) -> Any:
    statement = upsert_insert(session)(UrlStateRow)
    excluded = statement.excluded

    def refreshed(column: Any, new: Any) -> Any:
        return func.coalesce(new, column) if not_modified else new

    return statement.on_conflict_do_update(
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
    """Record one fetch of ``url`` (see :func:`record_fetches`) and return the state it leaves."""
    record_fetches(
        session,
        [FetchIn(url, status, etag, last_modified, content_hash, fetched_at)],
    )
    session.expire_all()
    state = get_url_state(session, url)
    assert state is not None  # just upserted in this transaction
    return state
