"""Source health and crawl leases in storage, on SQLite and PostgreSQL (issue 4, points 4 and 5)."""

from __future__ import annotations

import threading
from datetime import timedelta
from functools import partial
from typing import Any

import pytest
import test_storage
from alembic import command
from sqlalchemy import text
from test_storage import OLD_TIME, T0, Db, FrozenClock, run_concurrently

from storage import (
    StorageError,
    acquire_crawl_lease,
    crawl_lease_holder,
    get_source_health,
    make_engine,
    make_session_factory,
    mark_operator_alerted,
    operator_successful_channels,
    record_operator_delivery,
    record_source_run,
    release_crawl_lease,
    source_health,
    source_runs,
    sources_needing_operator_alert,
    unmark_operator_alerted,
    upgrade_database,
)
from storage import health as storage_health
from storage.db import alembic_config

# Fixtures shared with test_storage (a database per backend, the pinned clock).
database_url = test_storage.database_url
db = test_storage.db
frozen_clock = test_storage.frozen_clock


def run(db: Db, name: str, minute: int, ok: bool, **fields: Any) -> Any:
    started = T0 + timedelta(minutes=minute)
    with db.sessions() as session:
        health = record_source_run(
            session,
            name,
            started_at=started,
            finished_at=started + timedelta(seconds=30),
            ok=ok,
            error=fields.get("error"),
            entries=fields.get("entries", 10),
            new_articles=fields.get("new_articles", 0),
        )
        session.commit()
    return health


# --- source health ------------------------------------------------------------------------------


def test_runs_update_last_success_last_error_counts_and_the_failure_streak(db: Db) -> None:
    first = run(db, "CISA", 0, True, entries=25, new_articles=4)
    failed = run(db, "CISA", 15, False, error="HTTP 500\n  from\tcisa.gov", entries=0)
    failed_again = run(db, "CISA", 30, False, error=None, entries=0)
    run(db, "NCSC", 0, True, entries=3, new_articles=1)

    assert (first.runs, first.entries_seen, first.new_articles, first.consecutive_failures) == (
        1,
        25,
        4,
        0,
    )
    assert first.last_success_at == T0 + timedelta(seconds=30)
    assert failed.last_error == "HTTP 500 from cisa.gov"  # one line
    assert failed.last_error_at == T0 + timedelta(minutes=15, seconds=30)
    assert failed_again.last_error == "failed without a message"
    assert failed_again.consecutive_failures == 2 and failed_again.failing
    assert failed_again.last_success_at == first.last_success_at
    assert failed_again.total_new_articles == 4

    recovered = run(db, "CISA", 45, True, entries=26, new_articles=1)
    assert (recovered.consecutive_failures, recovered.total_new_articles, recovered.runs) == (
        0,
        5,
        4,
    )
    assert recovered.last_error == "failed without a message"  # the last error stays visible
    with db.sessions() as session:
        assert [h.name for h in source_health(session)] == ["CISA", "NCSC"]
        assert get_source_health(session, "nowhere") is None
        runs = source_runs(session, "CISA", limit=2)
    assert [(r.ok, r.new_articles) for r in runs] == [(True, 1), (False, 0)]


def test_an_operator_is_alerted_once_per_failure_streak(db: Db) -> None:
    threshold = 3
    for minute in range(2):
        run(db, "DOJ", minute, False, error="timeout")
    with db.sessions() as session:
        assert sources_needing_operator_alert(session, threshold) == []
        assert not mark_operator_alerted(session, "DOJ", threshold)  # streak too short yet

    health = run(db, "DOJ", 2, False, error="timeout")
    assert health.needs_operator_alert(threshold)
    with db.sessions() as session:
        assert [h.name for h in sources_needing_operator_alert(session, threshold)] == ["DOJ"]
        assert mark_operator_alerted(session, "DOJ", threshold)
        assert not mark_operator_alerted(session, "DOJ", threshold)  # a second caller
        session.commit()

    still_failing = run(db, "DOJ", 3, False, error="timeout")
    assert still_failing.consecutive_failures == 4
    assert not still_failing.needs_operator_alert(threshold)
    assert still_failing.operator_alerted_failures == threshold

    recovered = run(db, "DOJ", 4, True)
    assert recovered.operator_alerted_at is None
    for minute in range(5, 8):
        again = run(db, "DOJ", minute, False, error="timeout")
    assert again.needs_operator_alert(threshold)  # a new streak is a new alert


def test_each_failure_streak_has_its_number_and_its_claim_is_given_up_for_it_only(db: Db) -> None:
    assert run(db, "DOJ", 0, True).failure_streak == 0
    first = [run(db, "DOJ", minute, False).failure_streak for minute in range(1, 4)]
    with db.sessions() as session:
        assert mark_operator_alerted(session, "DOJ", 3)
        session.commit()
    run(db, "DOJ", 4, True)
    second = [run(db, "DOJ", minute, False).failure_streak for minute in range(5, 8)]
    assert (first, second) == ([1, 1, 1], [2, 2, 2])
    with db.sessions() as session:
        assert mark_operator_alerted(session, "DOJ", 3)
        # a sender of the first streak's message, late: the second streak's claim stays
        unmark_operator_alerted(session, "DOJ", 1)
        session.commit()
        assert not mark_operator_alerted(session, "DOJ", 3)
        unmark_operator_alerted(session, "DOJ", 2)
        session.commit()
        assert [h.name for h in sources_needing_operator_alert(session, 3)] == ["DOJ"]


def test_upgrading_from_0003_keeps_health_and_sends_no_streak_again(database_url: str) -> None:
    """A source whose operator was told before the upgrade (which channels took it was not
    recorded then) is not told again; one not told yet is, and streaks count on from there."""
    engine = make_engine(database_url)
    config = alembic_config(database_url)
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0003_ambiguous_name_candidates")
        with engine.begin() as connection:
            for name, alerted in (("Told", OLD_TIME), ("Untold", "NULL")):
                connection.execute(
                    text(
                        "INSERT INTO source_health (name, runs, last_error, entries_seen, "
                        "new_articles, total_new_articles, consecutive_failures, "
                        f"operator_alerted_at, operator_alerted_failures) VALUES ('{name}', 5, "
                        f"'HTTP 500', 0, 0, 7, 4, {alerted}, 3)"
                    )
                )

        upgrade_database(database_url)

        sessions = make_session_factory(engine)
        with sessions() as session:
            told, untold = source_health(session)
            assert (told.failure_streak, told.consecutive_failures, told.runs) == (0, 4, 5)
            assert told.operator_alerted_at is not None
            assert (untold.failure_streak, untold.operator_alerted_at) == (0, None)
            assert [h.name for h in sources_needing_operator_alert(session, 3)] == ["Untold"]
            record_operator_delivery(
                session, "Untold", 0, "0123456789abcdef", "json://", True, None
            )
            session.commit()
            assert operator_successful_channels(session, "Untold", 0) == {"0123456789abcdef"}
        assert run(Db(database_url, engine, sessions), "Told", 1, True).failure_streak == 0
        assert run(Db(database_url, engine, sessions), "Told", 2, False).failure_streak == 1
    finally:
        engine.dispose()


def test_only_the_newest_runs_are_kept(db: Db, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(storage_health, "RUNS_KEPT_PER_SOURCE", 3)
    for minute in range(6):
        run(db, "Treasury", minute, minute % 2 == 0, new_articles=minute)
    run(db, "Other", 0, True)
    with db.sessions() as session:
        kept = source_runs(session, "Treasury", limit=10)
        assert [r.new_articles for r in kept] == [5, 4, 3]
        assert len(source_runs(session, "Other")) == 1
        assert get_source_health(session, "Treasury") is not None


def test_bad_run_records_are_refused_with_a_clear_message(db: Db) -> None:
    with db.sessions() as session:
        with pytest.raises(StorageError, match="source name is empty"):
            record_source_run(
                session, " ", started_at=T0, finished_at=T0, ok=True, error=None, entries=0,
                new_articles=0,
            )  # fmt: skip
        with pytest.raises(StorageError, match=r"finished .* before it started"):
            record_source_run(
                session, "CISA", started_at=T0, finished_at=T0 - timedelta(seconds=1), ok=True,
                error=None, entries=0, new_articles=0,
            )  # fmt: skip
        with pytest.raises(StorageError, match="has no time zone"):
            record_source_run(
                session, "CISA", started_at=T0.replace(tzinfo=None), finished_at=T0, ok=True,
                error=None, entries=0, new_articles=0,
            )  # fmt: skip
        with pytest.raises(StorageError, match="entries of the run of 'CISA' must be zero"):
            record_source_run(
                session, "CISA", started_at=T0, finished_at=T0, ok=True, error=None, entries=-1,
                new_articles=0,
            )  # fmt: skip
        with pytest.raises(StorageError, match="no runs recorded for source 'Nowhere'"):
            mark_operator_alerted(session, "Nowhere", 3)
        with pytest.raises(StorageError, match="threshold must be at least 1"):
            sources_needing_operator_alert(session, 0)


# --- crawl leases -------------------------------------------------------------------------------


def test_a_lease_is_exclusive_renewable_and_taken_over_once_expired(
    db: Db, frozen_clock: FrozenClock
) -> None:
    with db.sessions() as session:
        assert acquire_crawl_lease(session, "CISA", "host-a:1", 300)
        session.commit()
        assert not acquire_crawl_lease(session, "CISA", "host-b:7", 300)
        assert acquire_crawl_lease(session, "NCSC", "host-b:7", 300)  # other sources are free
        frozen_clock.now = T0 + timedelta(seconds=200)
        assert acquire_crawl_lease(session, "CISA", "host-a:1", 300)  # renewal, until T0+500
        session.commit()

        frozen_clock.now = T0 + timedelta(seconds=400)
        assert not acquire_crawl_lease(session, "CISA", "host-b:7", 300)
        assert crawl_lease_holder(session, "CISA") == "host-a:1"
        frozen_clock.now = T0 + timedelta(seconds=500)
        assert crawl_lease_holder(session, "CISA") is None
        assert acquire_crawl_lease(session, "CISA", "host-b:7", 300)  # expired: taken over
        session.commit()

        assert not release_crawl_lease(session, "CISA", "host-a:1")  # no longer its lease
        assert release_crawl_lease(session, "CISA", "host-b:7")
        assert acquire_crawl_lease(session, "CISA", "host-a:1", 300)
        with pytest.raises(StorageError, match="lease TTL must be more than 0"):
            acquire_crawl_lease(session, "CISA", "host-a:1", 0)
        with pytest.raises(StorageError, match="lease holder is empty"):
            acquire_crawl_lease(session, "CISA", "", 10)


def test_of_two_competing_crawlers_exactly_one_gets_the_lease(db: Db) -> None:
    sources = [f"Source {n}" for n in range(4)]
    engines = [make_engine(db.url) for _ in range(2)]
    start = threading.Barrier(2)
    won: dict[str, list[str]] = {name: [] for name in sources}

    def crawler(holder: str, engine: Any) -> None:
        sessions = make_session_factory(engine)
        for name in sources:
            start.wait()
            with sessions() as session:
                if acquire_crawl_lease(session, name, holder, 600):
                    won[name].append(holder)
                session.commit()

    try:
        run_concurrently(
            start,
            *(partial(crawler, f"worker-{n}", engine) for n, engine in enumerate(engines)),
        )
    finally:
        for engine in engines:
            engine.dispose()

    assert all(len(holders) == 1 for holders in won.values()), won
