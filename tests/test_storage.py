"""storage/ against real databases: a SQLite file and a throwaway PostgreSQL database."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, event, func, inspect, select, text
from sqlalchemy.orm import Session, sessionmaker

from storage import (
    ArticleIn,
    AttributionIn,
    CandidateGroup,
    DatabaseError,
    FetchIn,
    MentionIn,
    StorageError,
    check_database,
    ensure_source,
    get_url_state,
    is_known_url,
    known_urls,
    make_engine,
    make_session_factory,
    mark_alert_done,
    put_url_state,
    recent_alerts,
    record_delivery,
    record_fetches,
    store_article,
    successful_channels,
    undelivered_alerts,
    upgrade_database,
    url_states,
)
from storage import clock as storage_clock
from storage.db import SCHEMA_HEAD, alembic_config
from storage.models import Alert, Article, Attribution, Base, GroupMention

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)

SEED_TEXT = (
    "The Czech Republic has formally accused the Chinese state-sponsored group APT31 of "
    "targeting the country's Ministry of Foreign Affairs. Officials said the campaign ran for "
    "years. Some vendors think Turla may have been involved, but the ministry said it was not "
    "APT28."
)


# --- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    if request.param == "sqlite":
        # A folder that does not exist yet: make_engine must create it.
        return f"sqlite:///{tmp_path}/state/aptwatch.db"
    # Requested here, not as a parameter, so that only the PostgreSQL runs create a database.
    postgres_url: str = request.getfixturevalue("postgres_url")
    return postgres_url


@dataclass
class Db:
    url: str
    engine: Engine
    sessions: sessionmaker[Session]


@pytest.fixture
def db(database_url: str) -> Iterator[Db]:
    upgrade_database(database_url)
    engine = make_engine(database_url)
    try:
        yield Db(database_url, engine, make_session_factory(engine))
    finally:
        engine.dispose()


class FrozenClock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> FrozenClock:
    fake = FrozenClock(T0)
    monkeypatch.setattr(storage_clock, "utcnow", fake)
    return fake


def run_concurrently(start: threading.Barrier, *workers: Callable[[], None]) -> None:
    """Runs each worker in its own thread, waits for all, then re-raises the first error."""
    errors: list[Exception] = []

    def guarded(worker: Callable[[], None]) -> None:
        try:
            worker()
        except Exception as exc:  # handed to the main thread so pytest reports it
            errors.append(exc)
            start.abort()  # the other workers would otherwise wait at the barrier forever

    threads = [threading.Thread(target=guarded, args=(worker,)) for worker in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def make_article(n: int = 1, **changes: Any) -> ArticleIn:
    article = ArticleIn(
        url=f"https://news.example/feed/item-{n}?utm_source=rss",
        canonical_url=f"https://news.example/story-{n}",
        source_name="Example News",
        title=f"Story {n}",
        text=f"Story number {n}. " + SEED_TEXT,
        published=datetime(2025, 2, 28, 9, 30, tzinfo=UTC),
        authors=("Jane Doe",),
        lang="en",
    )
    return replace(article, **changes)


def attribution(group_id: str, stance: str, confidence: float, **changes: Any) -> AttributionIn:
    made = AttributionIn(
        group_id=group_id,
        group_name=f"Group {group_id}",
        alias=f"alias-{group_id}",
        stance=stance,
        evidence=f"evidence for {group_id} ({stance})",
        mitre_id=group_id if group_id.startswith("G") else None,
        attributed_by="Czech government",
        sponsor="China",
        confidence=confidence,
    )
    return replace(made, **changes)


def count(session: Session, model: Any) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def store_one(db: Db, article: ArticleIn, attributions: list[AttributionIn] | None = None) -> Any:
    with db.sessions() as session:
        ensure_source(session, article.source_name, "news", "https://news.example/feed")
        result = store_article(session, article, [], attributions or [])
        session.commit()
    return result


# --- schema -------------------------------------------------------------------------------------


def test_upgrade_creates_every_table_and_matches_the_models(db: Db) -> None:
    tables = set(inspect(db.engine).get_table_names())
    assert tables == set(Base.metadata.tables) | {"alembic_version"}
    assert {
        "sources",
        "articles",
        "group_mentions",
        "attributions",
        "alerts",
        "deliveries",
        "url_state",
    } <= tables
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_the_schema_head_shortcut_names_the_newest_migration(db: Db) -> None:
    from alembic.script import ScriptDirectory

    assert ScriptDirectory.from_config(alembic_config(db.url)).get_current_head() == SCHEMA_HEAD
    with db.engine.connect() as connection:
        assert connection.scalar(text("SELECT version_num FROM alembic_version")) == SCHEMA_HEAD


def test_upgrading_twice_keeps_data_and_revision(db: Db) -> None:
    with db.sessions() as session:
        ensure_source(session, "Example News", "news", "https://news.example/feed")
        session.commit()
    with db.engine.connect() as connection:
        revision_before = connection.scalar(text("SELECT version_num FROM alembic_version"))

    upgrade_database(db.url)

    with db.engine.connect() as connection:
        assert connection.scalar(text("SELECT version_num FROM alembic_version")) == (
            revision_before
        )
        assert connection.scalar(text("SELECT count(*) FROM alembic_version")) == 1
        assert connection.scalar(text("SELECT name FROM sources")) == "Example News"


OLD_TIME = "'2025-02-01 08:00:00.000000'"  # as SQLite and PostgreSQL both read it


def test_upgrading_from_0002_keeps_every_row_and_adds_no_candidates(
    database_url: str,
) -> None:
    engine = make_engine(database_url)
    config = alembic_config(database_url)
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0002_stories_health_leases")
        with engine.begin() as connection:
            for statement in (
                "INSERT INTO sources (id, name, kind, created_at) "
                f"VALUES (7, 'Example News', 'news', {OLD_TIME})",
                "INSERT INTO articles (id, source_id, url, canonical_url, content_hash, title, "
                "text, authors, fetched_at, created_at) VALUES (41, 7, 'https://old.example/a', "
                f"'https://old.example/a', 'h41', 'Old', 'APT31 did it.', '[]', {OLD_TIME}, "
                f"{OLD_TIME})",
                "INSERT INTO group_mentions (id, article_id, group_id, group_name, alias, start, "
                "\"end\") VALUES (5, 41, 'G0128', 'ZIRCONIUM', 'APT31', 0, 5)",
                "INSERT INTO attributions (id, article_id, group_id, group_name, mitre_id, alias, "
                "stance, evidence, confidence) VALUES (6, 41, 'G0128', 'ZIRCONIUM', 'G0128', "
                "'APT31', 'asserted', 'APT31 did it.', 0.9)",
                "INSERT INTO alerts (id, article_id, attribution_id, group_id, status, created_at) "
                f"VALUES (8, 41, 6, 'G0128', 'pending', {OLD_TIME})",
            ):
                connection.execute(text(statement))

        upgrade_database(database_url)

        with engine.connect() as connection:
            assert connection.scalar(text("SELECT version_num FROM alembic_version")) == (
                SCHEMA_HEAD
            )
        with make_session_factory(engine)() as session:
            (alert,) = undelivered_alerts(session)
            assert (alert.alert_id, alert.group_id, alert.evidence) == (8, "G0128", "APT31 did it.")
            assert alert.candidates == ()
            mention = session.get(GroupMention, 5)
            assert mention is not None and (mention.alias, mention.candidates) == ("APT31", [])
            assert [count(session, m) for m in (Article, Attribution, Alert)] == [1, 1, 1]
    finally:
        engine.dispose()


# --- articles -----------------------------------------------------------------------------------


def test_same_canonical_url_is_stored_once(db: Db) -> None:
    first = store_one(db, make_article(1), [attribution("G0128", "asserted", 0.9)])
    again = store_one(
        db,
        make_article(
            1, url="https://news.example/amp/story-1", text="An updated text. " + SEED_TEXT
        ),
        [attribution("G0128", "asserted", 0.9)],
    )

    assert first.created and first.alerts_created == 1
    assert (again.created, again.duplicate_of, again.article_id, again.alerts_created) == (
        False,
        first.article_id,
        first.article_id,
        0,
    )
    with db.sessions() as session:
        assert count(session, Article) == 1
        assert count(session, Alert) == 1


def test_same_story_text_reserved_with_other_markup_is_stored_once(db: Db) -> None:
    original = make_article(
        1, text="APT31 targeted the ministry's network, officials said.\n\nMore."
    )
    reserved = make_article(
        2,  # different URL and canonical URL: a syndicated copy
        text="<p>APT31  targeted the <b>ministry\u2019s</b> network,\n officials said.</p>"
        "<p>MORE&nbsp;</p>",
    )
    other_story = make_article(3, text="APT31 targeted the ministry's mail server, officials said.")

    first = store_one(db, original, [attribution("G0128", "asserted", 0.9)])
    copy = store_one(db, reserved, [attribution("G0128", "asserted", 0.9)])
    different = store_one(db, other_story)

    assert copy.created is False and copy.duplicate_of == first.article_id
    assert different.created is True and different.article_id != first.article_id
    with db.sessions() as session:
        assert count(session, Article) == 2
        assert count(session, Alert) == 1


def test_is_known_url_matches_fetched_and_canonical_urls(db: Db) -> None:
    article = make_article(1)
    store_one(db, article)
    with db.sessions() as session:
        assert is_known_url(session, article.url)
        assert is_known_url(session, article.canonical_url)
        assert not is_known_url(session, "https://news.example/story-2")


def test_one_alert_per_group_pointing_at_the_strongest_claim_and_none_when_negated(
    db: Db,
) -> None:
    article = make_article(1)
    mentions = [
        MentionIn("G0128", "ZIRCONIUM", "APT31", 74, 79),
        MentionIn("G0010", "Turla", "Turla", 200, 205),
    ]
    attributions = [
        attribution("G0128", "hedged", 0.95),
        attribution("G0128", "asserted", 0.6),
        attribution("G0010", "hedged", 0.4),
        attribution("G0010", "hedged", 0.7, evidence="stronger hedged evidence"),
        attribution("G0007", "negated", 0.9),
    ]
    with db.sessions() as session:
        ensure_source(session, article.source_name, "news", None)
        result = store_article(session, article, mentions, attributions)
        session.commit()

    assert result.created and result.alerts_created == 2
    with db.sessions() as session:
        alerts = {alert.group_id: alert for alert in undelivered_alerts(session)}
        assert count(session, GroupMention) == 2
        assert count(session, Attribution) == 5
    assert set(alerts) == {"G0128", "G0010"}
    assert alerts["G0128"].stance == "asserted"  # asserted beats a more confident hedge
    assert alerts["G0128"].evidence == "evidence for G0128 (asserted)"
    assert alerts["G0010"].evidence == "stronger hedged evidence"
    assert alerts["G0128"].source_name == "Example News"
    assert alerts["G0128"].article_url == article.canonical_url
    assert alerts["G0128"].mitre_id == "G0128"


def test_every_candidate_of_an_ambiguous_name_is_stored_and_reaches_the_alert(db: Db) -> None:
    candidates = (CandidateGroup("G0007", "APT28"), CandidateGroup("G0016", "APT29"))
    ambiguous = attribution(
        "G0007", "asserted", 0.6, group_name="APT28", alias="Grizzly Steppe", candidates=candidates
    )
    plain = attribution("G0128", "asserted", 0.9)
    with db.sessions() as session:
        ensure_source(session, "Example News", "news", None)
        store_article(
            session,
            make_article(1),
            [MentionIn("G0007", "APT28", "Grizzly Steppe", 0, 14, candidates)],
            [ambiguous, plain],
        )
        session.commit()

    with db.sessions() as session:
        alerts = {alert.group_id: alert for alert in undelivered_alerts(session)}
        (mention,) = session.scalars(select(GroupMention)).all()
    assert alerts["G0007"].candidates == candidates
    assert alerts["G0007"].other_candidates == (CandidateGroup("G0016", "APT29"),)
    assert alerts["G0128"].candidates == alerts["G0128"].other_candidates == ()
    assert mention.candidates == [
        {"group_id": "G0007", "group_name": "APT28"},
        {"group_id": "G0016", "group_name": "APT29"},
    ]


def test_bad_input_is_refused_with_a_clear_message_and_nothing_stored(db: Db) -> None:
    with db.sessions() as session:
        ensure_source(session, "Example News", "news", None)
        with pytest.raises(StorageError, match="stance 'certain'"):
            store_article(session, make_article(1), [], [attribution("G0128", "certain", 1.0)])
        with pytest.raises(StorageError, match="unknown source 'Nowhere'"):
            store_article(session, make_article(2, source_name="Nowhere"), [], [])
        with pytest.raises(StorageError, match="has no time zone"):
            store_article(session, make_article(3, published=datetime(2025, 1, 1)), [], [])
        with pytest.raises(StorageError, match="has no text"):
            store_article(session, make_article(4, text=" <p>\u2014</p> "), [], [])
        with pytest.raises(StorageError, match="outside the text"):
            store_article(session, make_article(5), [MentionIn("G1", "G", "G", 5, 99999)], [])
        session.commit()
        assert count(session, Article) == 0


def test_concurrent_writers_of_one_story_keep_one_article(db: Db) -> None:
    article = make_article(1)
    with db.sessions() as session:
        ensure_source(session, article.source_name, "news", None)
        session.commit()

    competitor_engine = make_engine(db.url)
    competitor_results: list[Any] = []

    def competitor() -> None:
        try:
            with make_session_factory(competitor_engine)() as session:
                competitor_results.append(
                    store_article(session, article, [], [attribution("G0128", "asserted", 0.9)])
                )
                session.commit()
        except Exception as exc:  # handed to the main thread so pytest reports it
            competitor_results.append(exc)

    fired: list[threading.Thread] = []

    def before_insert(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        # Run the competitor after our duplicate check but before our INSERT: the race window.
        if statement.startswith("INSERT INTO articles") and not fired:
            thread = threading.Thread(target=competitor)
            fired.append(thread)
            thread.start()
            if db.engine.dialect.name == "postgresql":
                thread.join()  # it commits first; our INSERT must then hit the unique constraint
            # SQLite: we hold the write lock (BEGIN IMMEDIATE), so it waits for our commit.

    event.listen(db.engine, "before_cursor_execute", before_insert)
    try:
        with db.sessions() as session:
            ours = store_article(session, article, [], [attribution("G0128", "asserted", 0.9)])
            # The savepoint leaves our transaction usable after losing the race.
            ensure_source(session, "Second Source", "blog", None)
            session.commit()
        fired[0].join()
    finally:
        event.remove(db.engine, "before_cursor_execute", before_insert)
        competitor_engine.dispose()

    (theirs,) = competitor_results
    if isinstance(theirs, Exception):
        raise theirs
    winner, loser = (theirs, ours) if theirs.created else (ours, theirs)
    assert winner.created and not loser.created
    assert loser.duplicate_of == winner.article_id
    with db.sessions() as session:
        assert count(session, Article) == 1
        assert count(session, Alert) == 1
        assert ensure_source(session, "Second Source", "blog", None) > 0


def test_deleting_an_article_removes_its_mentions_attributions_and_alerts(db: Db) -> None:
    # Proves foreign keys are enforced: SQLite ignores them unless the engine turns them on.
    article = make_article(1)
    with db.sessions() as session:
        ensure_source(session, article.source_name, "news", None)
        stored = store_article(
            session,
            article,
            [MentionIn("G0128", "ZIRCONIUM", "APT31", 74, 79)],
            [attribution("G0128", "asserted", 0.9)],
        )
        session.commit()
    with db.engine.begin() as connection:
        connection.execute(text("DELETE FROM articles WHERE id = :id"), {"id": stored.article_id})
    with db.sessions() as session:
        assert [count(session, m) for m in (GroupMention, Attribution, Alert)] == [0, 0, 0]


# --- alerts and deliveries ----------------------------------------------------------------------


def test_undelivered_alerts_are_oldest_first_and_done_ones_leave(
    db: Db, frozen_clock: FrozenClock
) -> None:
    frozen_clock.now = T0 + timedelta(hours=2)
    newer = store_one(db, make_article(1), [attribution("G0128", "asserted", 0.9)])
    frozen_clock.now = T0
    older = store_one(db, make_article(2), [attribution("G0016", "hedged", 0.5)])

    with db.sessions() as session:
        pending = undelivered_alerts(session)
        assert [a.article_id for a in pending] == [older.article_id, newer.article_id]
        assert [a.article_id for a in undelivered_alerts(session, limit=1)] == [older.article_id]
        mark_alert_done(session, pending[0].alert_id)
        mark_alert_done(session, pending[0].alert_id)  # repeating is harmless
        session.commit()
        assert [a.article_id for a in undelivered_alerts(session)] == [newer.article_id]
        assert [a.article_id for a in recent_alerts(session, 5)] == [
            newer.article_id,
            older.article_id,
        ]
        with pytest.raises(StorageError, match="no alert with id 999999"):
            mark_alert_done(session, 999999)


def test_delivery_upsert_counts_attempts_and_never_downgrades_sent(
    db: Db, frozen_clock: FrozenClock
) -> None:
    store_one(db, make_article(1), [attribution("G0128", "asserted", 0.9)])
    with db.sessions() as session:
        (alert,) = undelivered_alerts(session)

        failed = record_delivery(session, alert.alert_id, "mailto-1a2b", "email", False, "timeout")
        assert (failed.status, failed.attempts, failed.last_error) == ("failed", 1, "timeout")
        assert successful_channels(session, alert.alert_id) == set()

        frozen_clock.now = T0 + timedelta(minutes=5)
        sent = record_delivery(session, alert.alert_id, "mailto-1a2b", "email (soc)", True, None)
        assert (sent.status, sent.attempts, sent.last_error) == ("sent", 2, None)
        assert sent.channel_label == "email (soc)"

        later_failure = record_delivery(
            session, alert.alert_id, "mailto-1a2b", "email (soc)", False, "refused"
        )
        assert (later_failure.status, later_failure.attempts) == ("sent", 3)
        assert later_failure.last_error == "refused"

        record_delivery(session, alert.alert_id, "slack-9f", "slack", False, "HTTP 500")
        session.commit()
        assert successful_channels(session, alert.alert_id) == {"mailto-1a2b"}

        with pytest.raises(StorageError, match="no alert with id 424242"):
            record_delivery(session, 424242, "slack-9f", "slack", True, None)


def test_datetimes_come_back_tz_aware_utc(db: Db, frozen_clock: FrozenClock) -> None:
    prague = timezone(timedelta(hours=2))
    published = datetime(2025, 5, 28, 14, 30, tzinfo=prague)
    store_one(db, make_article(1, published=published), [attribution("G0128", "asserted", 0.9)])
    with db.sessions() as session:
        (alert,) = undelivered_alerts(session)
        fetched_at = session.scalar(select(Article.fetched_at))
    assert alert.published == published
    assert alert.published is not None and alert.published.utcoffset() == timedelta(0)
    assert alert.created_at == T0 and alert.created_at.tzinfo is not None
    assert fetched_at == T0 and fetched_at.utcoffset() == timedelta(0)


# --- sources and url_state ----------------------------------------------------------------------


def test_ensure_source_is_idempotent_and_refreshes_its_url(db: Db) -> None:
    with db.sessions() as session:
        first = ensure_source(session, "Gov CZ", "government", "https://gov.example/old.rss")
        again = ensure_source(session, "Gov CZ", "government", "https://gov.example/new.rss")
        session.commit()
        url = session.scalar(text("SELECT url FROM sources WHERE name = 'Gov CZ'"))
    assert first == again
    assert url == "https://gov.example/new.rss"


def test_url_state_keeps_validators_across_not_modified(db: Db, frozen_clock: FrozenClock) -> None:
    url = "https://news.example/story-1"
    with db.sessions() as session:
        assert get_url_state(session, url) is None
        first = put_url_state(
            session,
            url,
            status=200,
            etag='"v1"',
            last_modified="Sat, 01 Mar 2025 12:00:00 GMT",
            content_hash="abc",
        )
        frozen_clock.now = T0 + timedelta(days=1)
        unchanged = put_url_state(session, url, status=304)
        frozen_clock.now = T0 + timedelta(days=2)
        changed = put_url_state(session, url, status=200, etag='"v2"', content_hash="def")
        session.commit()
        stored = get_url_state(session, url)

    assert first.first_seen == T0 and first.etag == '"v1"'
    assert (unchanged.etag, unchanged.content_hash, unchanged.last_status) == ('"v1"', "abc", 304)
    assert unchanged.last_fetched == T0 + timedelta(days=1)
    assert (changed.etag, changed.last_modified, changed.content_hash) == ('"v2"', None, "def")
    assert stored == changed
    assert stored is not None and stored.first_seen == T0


def test_fetches_recorded_in_one_batch_read_back_in_one_batch(
    db: Db, frozen_clock: FrozenClock
) -> None:
    # a feed's worth of article URLs: more than one lookup chunk, so chunking is exercised too
    urls = [f"https://news.example/a/{n}" for n in range(1200)]
    with db.sessions() as session:
        record_fetches(
            session,
            [FetchIn(url, 200, etag=f'"{n}"', content_hash=f"h{n}") for n, url in enumerate(urls)],
        )
        session.commit()
    frozen_clock.now = T0 + timedelta(hours=1)
    with db.sessions() as session:
        # a 304 keeps what the 200 stored; a URL given twice keeps its last fetch
        record_fetches(
            session,
            [
                FetchIn(urls[0], 304),
                FetchIn(urls[1], 200, etag='"old"'),
                FetchIn(urls[1], 200, etag='"new"', content_hash="changed"),
            ],
        )
        session.commit()
        states = url_states(session, [*urls, "https://news.example/never"])

    assert len(states) == 1200 and "https://news.example/never" not in states
    assert (states[urls[0]].etag, states[urls[0]].content_hash) == ('"0"', "h0")
    assert states[urls[0]].last_status == 304
    assert states[urls[0]].last_fetched == T0 + timedelta(hours=1)
    assert (states[urls[1]].etag, states[urls[1]].content_hash) == ('"new"', "changed")
    assert (states[urls[1199]].etag, states[urls[1199]].first_seen) == ('"1199"', T0)


def test_known_urls_matches_fetched_and_canonical_urls_in_bulk(db: Db) -> None:
    first, second = make_article(1), make_article(2)
    store_one(db, first)
    store_one(db, second)
    asked = [first.url, second.canonical_url, "https://news.example/story-99"]
    with db.sessions() as session:
        assert known_urls(session, asked) == {first.url, second.canonical_url}
        assert known_urls(session, []) == set()


# --- connection errors (no database needed) -------------------------------------------------------


def test_unreachable_database_gives_one_line_without_the_password() -> None:
    url = "postgresql+psycopg://aptwatch:s3cr%40t-pw@127.0.0.1:1/aptwatch"
    with pytest.raises(DatabaseError) as caught:
        check_database(url)
    message = str(caught.value)
    assert message.startswith(
        "cannot connect to database postgresql+psycopg://aptwatch:***@127.0.0.1:1/aptwatch: "
    )
    assert "\n" not in message
    assert "s3cr" not in message
    assert isinstance(caught.value, ValueError)

    with pytest.raises(DatabaseError, match="cannot connect") as upgrade_caught:
        upgrade_database(url)
    assert "s3cr" not in str(upgrade_caught.value)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("", "database URL is empty"),
        ("not a url", "malformed database URL not a url"),
        ("nosuchdb://user:pw@host/db", "cannot use database nosuchdb://user:***@host/db"),
    ],
)
def test_malformed_database_url_is_named_in_one_line(url: str, expected: str) -> None:
    with pytest.raises(DatabaseError) as caught:
        check_database(url)
    assert str(caught.value).startswith(expected)
    assert "\n" not in str(caught.value)
    assert ":pw@" not in str(caught.value)


def test_package_names_resolve_and_records_load_without_sqlalchemy() -> None:
    # the analysis workers import the records and the text identity only; SQLAlchemy's import
    # would add to every worker's start-up
    script = (
        "import sys, storage.records, storage.similarity\n"
        "assert 'sqlalchemy' not in sys.modules, 'records pulled in SQLAlchemy'\n"
        "import storage\n"
        "missing = [name for name in storage.__all__ if getattr(storage, name, None) is None]\n"
        "assert not missing, missing\n"
        "assert 'sqlalchemy' in sys.modules\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
