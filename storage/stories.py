"""Story clustering: which stored story a new article belongs to, and who reported each story.

An article joins the story of the most similar article published within :data:`STORY_WINDOW` of it
(judged by :mod:`storage.similarity`), or starts a story of its own. Candidates come from one
indexed lookup of the article's LSH band keys in ``article_bands`` -- never a scan of all articles
-- and only the :data:`MAX_CANDIDATES` sharing the most bands are compared on their full text.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, or_, select
from sqlalchemy.orm import Session

from storage.errors import StorageError
from storage.models import Alert, Article, ArticleBand, Source, Story, StoryReport
from storage.records import StoryInfo
from storage.similarity import Fingerprint, Similarity, compare, shingles
from storage.upsert import upsert_insert

STORY_WINDOW = timedelta(days=3)
MAX_CANDIDATES = 20
GOOD_ENOUGH_SCORE = 0.8
# pg_advisory_xact_lock key ("aptwstry"): serialises story assignment across processes/machines.
_STORY_LOCK_KEY = int.from_bytes(b"aptwstry", "big")


# Statements built once (SQLAlchemy then skips building them and their cache keys on each call,
# which cost more than running them): they run for every article a crawl stores.
_CANDIDATES_SHARING_BANDS = (
    select(ArticleBand.article_id)
    .join(Article, Article.id == ArticleBand.article_id)
    .where(
        ArticleBand.band_key.in_(bindparam("band_keys", expanding=True)),
        ArticleBand.article_id != bindparam("article_id"),
        Article.story_id.is_not(None),
        func.coalesce(Article.published, Article.fetched_at).between(
            bindparam("earliest"), bindparam("latest")
        ),
    )
    .group_by(ArticleBand.article_id)
    .order_by(func.count().desc(), ArticleBand.article_id)
    .limit(MAX_CANDIDATES)
)
# per backend: the INSERT ... ON CONFLICT construct differs
_RECORD_REPORT: dict[str, Any] = {}


def lock_stories(session: Session) -> None:
    """Hold the story lock until the transaction ends, so two writers of copies of one story
    cannot both start a story (or both alert its group).

    SQLite needs nothing: every write transaction there already holds the database write lock
    (BEGIN IMMEDIATE, see :mod:`storage.db`).
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(_STORY_LOCK_KEY)))


def event_time(article: Article) -> datetime:
    """When the article's event was reported: its publication date, else when it was fetched."""
    return article.published or article.fetched_at


def find_story(
    session: Session, article: Article, fingerprint: Fingerprint
) -> tuple[int, Similarity] | None:
    """The story of the closest stored article within the window, with the similarity found."""
    if not fingerprint.shingles:
        return None
    when = event_time(article)
    candidate_ids = session.scalars(
        _CANDIDATES_SHARING_BANDS,
        {
            "band_keys": list(fingerprint.band_keys),
            "article_id": article.id,
            "earliest": when - STORY_WINDOW,
            "latest": when + STORY_WINDOW,
        },
    ).all()
    if not candidate_ids:
        return None
    candidates = {
        row.id: row
        for row in session.execute(
            select(Article.id, Article.story_id, Article.title, Article.text).where(
                Article.id.in_(candidate_ids)
            )
        )
    }
    best: tuple[int, Similarity] | None = None
    for candidate_id in candidate_ids:  # most shared bands first: the likeliest match first
        candidate = candidates[candidate_id]
        similarity = compare(
            fingerprint.shingles, shingles(candidate.text), article.title, candidate.title
        )
        if similarity.same_story and (best is None or similarity.score > best[1].score):
            best = (candidate.story_id, similarity)
            if similarity.score >= GOOD_ENOUGH_SCORE:
                break  # a near-copy: no other candidate can be a clearly better story
    return best


def write_bands(session: Session, article_id: int, fingerprint: Fingerprint) -> None:
    keys = sorted(set(fingerprint.band_keys))
    if keys:
        # Core executemany on the session's connection: the ORM bulk path costs several times more.
        session.connection().execute(
            insert(ArticleBand),
            [{"band_key": key, "article_id": article_id} for key in keys],
        )


def replace_bands(session: Session, article_id: int, fingerprint: Fingerprint) -> None:
    session.execute(delete(ArticleBand).where(ArticleBand.article_id == article_id))
    write_bands(session, article_id, fingerprint)


def record_report(
    session: Session, story_id: int, source_id: int, url: str, reported_at: datetime
) -> None:
    """Note that ``source_id`` carried story ``story_id`` at ``url`` (once per story and URL)."""
    dialect = session.get_bind().dialect.name
    statement = _RECORD_REPORT.get(dialect)
    if statement is None:
        statement = _RECORD_REPORT[dialect] = (
            upsert_insert(session)(StoryReport)
            .values(
                story_id=bindparam("story_id"),
                source_id=bindparam("source_id"),
                url=bindparam("url"),
                reported_at=bindparam("reported_at"),
            )
            .on_conflict_do_nothing(index_elements=[StoryReport.story_id, StoryReport.url])
        )
    session.execute(
        statement,
        {"story_id": story_id, "source_id": source_id, "url": url, "reported_at": reported_at},
    )


def assign_story(
    session: Session, article: Article, fingerprint: Fingerprint, reported_at: datetime
) -> tuple[int, bool]:
    """Put ``article`` (flushed, no story yet) in its story; returns (story id, new story?)."""
    when = event_time(article)
    match = find_story(session, article, fingerprint)
    if match is not None:
        story = session.get(Story, match[0])
        if story is None:  # a candidate's story_id that points nowhere: storage corruption
            raise StorageError(f"article story {match[0]} does not exist")
        story.first_seen = min(story.first_seen, when)
        story.last_seen = max(story.last_seen, when)
        new_story = False
    else:
        story = Story(
            first_article_id=article.id, title=article.title, first_seen=when, last_seen=when
        )
        session.add(story)
        new_story = True
    session.flush()
    article.story_id = story.id
    write_bands(session, article.id, fingerprint)
    record_report(session, story.id, article.source_id, article.canonical_url, reported_at)
    session.flush()
    return story.id, new_story


def alerted_groups(session: Session, story_id: int | None, article_id: int) -> set[str]:
    """Groups with an outbox alert (sent or not) for this article or any article of its story."""
    articles = select(Article.id).where(Article.story_id == story_id)
    # Two index lookups (articles by story, alerts by article); an OR across the join would not
    # use either index.
    query = select(Alert.group_id).where(
        or_(Alert.article_id == article_id, Alert.article_id.in_(articles))
        if story_id is not None
        else Alert.article_id == article_id
    )
    return set(session.scalars(query))


def reporters_by_story(
    session: Session, story_ids: Iterable[int]
) -> dict[int, list[tuple[int, str]]]:
    """Per story, (source id, source name) of each report, earliest first."""
    wanted = sorted(set(story_ids))
    if not wanted:
        return {}
    rows = session.execute(
        select(StoryReport.story_id, Source.id, Source.name)
        .join(Source, StoryReport.source_id == Source.id)
        .where(StoryReport.story_id.in_(wanted))
        .order_by(StoryReport.reported_at, StoryReport.id)
    ).all()
    by_story: dict[int, list[tuple[int, str]]] = {}
    for story_id, source_id, name in rows:
        by_story.setdefault(story_id, []).append((source_id, name))
    return by_story


def get_story(session: Session, story_id: int) -> StoryInfo:
    story = session.get(Story, story_id)
    if story is None:
        raise StorageError(f"no story with id {story_id}")
    article_ids = tuple(
        session.scalars(
            select(Article.id)
            .where(Article.story_id == story_id)
            .order_by(func.coalesce(Article.published, Article.fetched_at), Article.id)
        )
    )
    reports = reporters_by_story(session, [story_id]).get(story_id, [])
    groups = session.scalars(
        select(Alert.group_id)
        .join(Article, Alert.article_id == Article.id)
        .where(Article.story_id == story_id)
        .order_by(Alert.created_at, Alert.id)
    )
    return StoryInfo(
        story_id=story.id,
        title=story.title,
        first_article_id=story.first_article_id,
        first_seen=story.first_seen,
        last_seen=story.last_seen,
        article_ids=article_ids,
        reported_by=tuple(dict.fromkeys(name for _, name in reports)),
        alerted_groups=tuple(dict.fromkeys(groups)),
    )
