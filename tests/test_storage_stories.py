"""Stories and changed articles in storage, on SQLite and PostgreSQL (issue 4, points 2 and 3)."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest
import test_storage
from alembic import command
from sqlalchemy import event, select, text
from test_storage import Db, attribution, count, run_concurrently

from storage import (
    ArticleIn,
    MentionIn,
    ShrunkArticleError,
    ensure_source,
    get_story,
    make_engine,
    make_session_factory,
    mark_alert_done,
    normalise_text,
    record_delivery,
    store_article,
    undelivered_alerts,
)
from storage.db import alembic_config
from storage.models import Alert, Article, ArticleBand, Attribution, GroupMention, Story

# Fixtures shared with test_storage (a PostgreSQL database per test, the pinned clock).
database_url = test_storage.database_url
db = test_storage.db

PUBLISHED = datetime(2025, 5, 28, 9, 30, tzinfo=UTC)
OLD_TIME = "'2025-05-01 08:00:00.000000'"  # as SQLite and PostgreSQL both read it

# Fictional reports written for these tests; long enough to be judged (30+ shared words).
MINISTRY_STORY = (
    "The Czech government has formally accused the Chinese state-sponsored group APT31 of a "
    "cyber-espionage campaign against the Ministry of Foreign Affairs. According to the statement "
    "released on Tuesday, the attackers had access to an unclassified network used by the "
    "ministry since 2022 and read diplomatic correspondence for months before they were found. "
    "The foreign minister said the country would summon the Chinese ambassador and called the "
    "campaign a serious breach of international norms. The national cyber security agency said "
    "the intruders relied on compromised routers in several European countries to hide their "
    "origin. Allies in the European Union and NATO expressed solidarity with Prague and urged "
    "Beijing to act responsibly in cyberspace. China's embassy rejected the accusation as "
    "groundless and said it opposes all forms of cyber attacks."
)
OTHER_APT31_STORY = (
    "Finnish police said APT31 was behind the breach of the parliament's email system, closing "
    "an investigation that lasted more than two years. Investigators told reporters that several "
    "members of parliament had their mailboxes accessed and that the stolen data could serve "
    "intelligence purposes. The security police added that the group used a chain of rented "
    "servers and that charges are unlikely because the suspects are out of reach. The speaker of "
    "parliament said the institution has since replaced its mail servers and trained its staff. "
    "Officials in Helsinki did not say when the intrusion began or how much data was taken."
)


def article(n: int, body: str = MINISTRY_STORY, **changes: Any) -> ArticleIn:
    made = ArticleIn(
        url=f"https://outlet-{n}.example/feed/{n}",
        canonical_url=f"https://outlet-{n}.example/news/{n}",
        source_name=f"Outlet {n}",
        title="Czechia blames China's APT31 for foreign ministry hack",
        text=body,
        published=PUBLISHED,
    )
    return replace(made, **changes)


def store(db: Db, item: ArticleIn, *groups: str, stance: str = "asserted") -> Any:
    with db.sessions() as session:
        ensure_source(session, item.source_name, "news", None)
        result = store_article(
            session, item, [], [attribution(group, stance, 0.9) for group in groups]
        )
        session.commit()
    return result


def pending(db: Db) -> list[Any]:
    with db.sessions() as session:
        return undelivered_alerts(session)


def syndicated(body: str) -> str:
    return (
        "Wire service report. Subscribe to our newsletter for more.\n\n"
        + body.replace(". ", ".  \n")
        + "\n\nCopyright 2025 Example Wire. All rights reserved. Comments are closed."
    )


# --- stories ------------------------------------------------------------------------------------


def test_a_syndicated_copy_joins_the_story_and_is_reported_instead_of_alerted(db: Db) -> None:
    first = store(db, article(1), "G0128")
    copy = store(db, article(2, syndicated(MINISTRY_STORY), title="APT31 blamed"), "G0128")

    assert (first.created, first.new_story, first.alerts_created) == (True, True, 1)
    assert (copy.created, copy.new_story, copy.alerts_created) == (True, False, 0)
    assert copy.story_id == first.story_id
    assert copy.also_reported_groups == ("G0128",)
    (alert,) = pending(db)
    assert alert.article_id == first.article_id
    assert alert.also_reported_by == ("Outlet 2",)
    assert alert.story_id == first.story_id
    with db.sessions() as session:
        story = get_story(session, first.story_id)
    assert story.article_ids == (first.article_id, copy.article_id)
    assert story.reported_by == ("Outlet 1", "Outlet 2")
    assert story.first_article_id == first.article_id
    assert story.alerted_groups == ("G0128",)


def test_truncated_and_partly_rewritten_copies_join_the_story(db: Db) -> None:
    sentences = MINISTRY_STORY.split(". ")
    teaser = ". ".join(sentences[:4]) + ". Read the full story on our partner's site."
    rewritten = MINISTRY_STORY.replace(
        "The foreign minister said the country would summon the Chinese ambassador",
        "Prague will call in China's envoy, the minister told journalists,",
    ).replace("Allies in the European Union and NATO", "Partners in NATO and the EU")

    first = store(db, article(1), "G0128")
    truncated = store(db, article(2, teaser), "G0128")
    other_words = store(db, article(3, rewritten, title="Prague summons envoy"), "G0128")

    assert truncated.story_id == other_words.story_id == first.story_id
    (alert,) = pending(db)
    assert alert.also_reported_by == ("Outlet 2", "Outlet 3")


def test_a_new_group_in_a_later_article_of_the_story_still_alerts(db: Db) -> None:
    store(db, article(1), "G0128")
    later = store(db, article(2, syndicated(MINISTRY_STORY)), "G0128", "G0007")

    assert (later.alerts_created, later.also_reported_groups) == (1, ("G0128",))
    alerts = {alert.group_id: alert for alert in pending(db)}
    assert set(alerts) == {"G0128", "G0007"}
    assert alerts["G0007"].article_id == later.article_id
    assert alerts["G0007"].also_reported_by == ("Outlet 1",)


def test_another_event_of_the_same_group_is_its_own_story_and_alerts(db: Db) -> None:
    first = store(db, article(1), "G0128")
    other = store(db, article(2, OTHER_APT31_STORY, title="Finland blames APT31"), "G0128")

    assert other.new_story and other.story_id != first.story_id
    assert other.alerts_created == 1
    assert [alert.also_reported_by for alert in pending(db)] == [(), ()]


def test_a_copy_outside_the_time_window_is_a_new_story(db: Db) -> None:
    first = store(db, article(1), "G0128")
    months_later = store(
        db,
        article(2, syndicated(MINISTRY_STORY), published=PUBLISHED + timedelta(days=40)),
        "G0128",
    )
    undated = store(db, article(3, syndicated(MINISTRY_STORY) + " Updated.", published=None))

    assert months_later.new_story and months_later.alerts_created == 1
    # No date: judged by when it was fetched (now), far from both.
    assert undated.new_story and undated.story_id not in {first.story_id, months_later.story_id}


def test_the_same_text_from_another_outlet_is_recorded_on_the_story(db: Db) -> None:
    first = store(db, article(1), "G0128")
    copy = store(db, article(2), "G0128")  # same text, other outlet and URL

    assert (copy.created, copy.duplicate_of, copy.story_id) == (
        False,
        first.article_id,
        first.story_id,
    )
    (alert,) = pending(db)
    assert alert.also_reported_by == ("Outlet 2",)
    with db.sessions() as session:
        assert count(session, Article) == 1


def test_story_lookup_cost_does_not_grow_with_the_number_of_articles(db: Db) -> None:
    statements: list[str] = []

    def remember(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    def statements_to_store(item: ArticleIn) -> list[str]:
        statements.clear()
        event.listen(db.engine, "before_cursor_execute", remember)
        try:
            store(db, item, "G0128")
        finally:
            event.remove(db.engine, "before_cursor_execute", remember)
        return list(statements)

    # Neither has a look-alike in the database, so both take the same path.
    first = statements_to_store(article(1, OTHER_APT31_STORY))
    for n in range(2, 25):
        store(db, article(n, f"Report {n} on a different matter. " * 40))
    later = statements_to_store(article(99, MINISTRY_STORY))

    assert len(later) == len(first)
    lookups = [s for s in later if "article_bands" in s and s.lstrip().startswith("SELECT")]
    assert len(lookups) == 1  # one indexed band-key lookup, not a scan of the articles
    assert "band_key IN" in lookups[0]


# --- changed articles -----------------------------------------------------------------------------


def test_a_changed_article_is_updated_and_only_its_new_groups_alert(db: Db) -> None:
    original = article(1)
    first = store(db, original, "G0128")
    same_again = store(db, original, "G0128")
    changed_text = MINISTRY_STORY + " Update: investigators now also suspect APT28 took part."
    changed = replace(original, text=changed_text, title="Update: APT31 and APT28 blamed")
    with db.sessions() as session:
        ensure_source(session, original.source_name, "news", None)
        update = store_article(
            session,
            changed,
            [MentionIn("G0007", "APT28", "APT28", len(changed_text) - 15, len(changed_text) - 10)],
            [attribution("G0128", "asserted", 0.9), attribution("G0007", "hedged", 0.6)],
        )
        session.commit()

    assert (same_again.created, same_again.updated, same_again.alerts_created) == (False, False, 0)
    assert (update.created, update.updated, update.article_id) == (False, True, first.article_id)
    assert (update.alerts_created, update.story_id, update.also_reported_groups) == (
        1,
        first.story_id,
        (),
    )
    alerts = {alert.group_id: alert for alert in pending(db)}
    assert set(alerts) == {"G0128", "G0007"}
    assert alerts["G0007"].stance == "hedged"
    with db.sessions() as session:
        stored = session.get(Article, first.article_id)
        assert stored is not None and stored.text == changed_text
        assert stored.title == "Update: APT31 and APT28 blamed"
        assert count(session, Article) == 1
        assert [m.group_id for m in session.scalars(select(GroupMention))] == ["G0007"]
        assert sorted(a.group_id for a in session.scalars(select(Attribution))) == [
            "G0007",
            "G0128",
        ]
        assert count(session, Alert) == 2


def test_a_changed_article_dropping_a_group_keeps_every_alert(db: Db) -> None:
    original = article(1)
    store(db, original, "G0128", "G0007", "G0016", "G0010")
    with db.sessions() as session:
        alerts = {alert.group_id: alert.alert_id for alert in undelivered_alerts(session)}
        record_delivery(session, alerts["G0007"], "slack-1", "slack", True, None)
        mark_alert_done(session, alerts["G0016"])
        record_delivery(session, alerts["G0010"], "slack-1", "slack", False, "HTTP 500")
        session.commit()

    corrected = replace(original, text=MINISTRY_STORY + " Correction: only APT31 is blamed.")
    result = store(db, corrected, "G0128")

    assert (result.updated, result.alerts_created) == (True, 0)
    with db.sessions() as session:
        remaining = dict(session.execute(select(Alert.group_id, Alert.status)).all())
        evidence_kept = session.scalars(
            select(Attribution.group_id).where(Attribution.article_id == result.article_id)
        ).all()
    # An alert, once created, outlives any later version of the page: G0010 never reached anyone
    # and is still to be delivered; each keeps the attribution it was created for.
    assert remaining == {
        "G0128": "pending",
        "G0007": "pending",
        "G0016": "done",
        "G0010": "pending",
    }
    assert sorted(evidence_kept) == ["G0007", "G0010", "G0016", "G0128"]
    assert {a.group_id: a.evidence for a in pending(db)}["G0010"] == "evidence for G0010 (asserted)"


def test_a_pending_alert_survives_an_update_that_names_no_group(db: Db) -> None:
    # Slack was down: the alert is pending when the page changes to text that names nobody.
    first = store(db, article(1), "G0128")
    rewritten = MINISTRY_STORY.replace("APT31", "a group").replace("Chinese", "foreign")
    update = store(db, article(1, rewritten + " The statement was later edited."))

    assert (update.updated, update.alerts_created) == (True, 0)
    (alert,) = pending(db)
    assert (alert.article_id, alert.group_id) == (first.article_id, "G0128")
    assert alert.evidence == "evidence for G0128 (asserted)"
    # Stored again with the group named: still that one alert, no second one.
    again = store(db, article(1), "G0128")
    assert (again.updated, again.alerts_created) == (True, 0)
    assert [a.group_id for a in pending(db)] == ["G0128"]


ACCESS_DENIED = "Access denied You do not have permission to view this page."


def test_a_page_much_shorter_than_the_stored_article_is_refused(db: Db) -> None:
    first = store(db, article(1), "G0128")
    with db.sessions() as session:
        ensure_source(session, "Outlet 1", "news", None)
        with pytest.raises(ShrunkArticleError, match="much shorter than the stored article"):
            store_article(session, article(1, ACCESS_DENIED, title="Access denied"), [], [])
        session.rollback()

    with db.sessions() as session:
        stored = session.get(Article, first.article_id)
        assert stored is not None
        assert (stored.title, stored.text) == (article(1).title, MINISTRY_STORY)
        assert count(session, Attribution) == 1
    (alert,) = pending(db)
    assert alert.group_id == "G0128"


def test_a_shorter_page_that_is_still_an_article_replaces_the_stored_one(db: Db) -> None:
    long_story = " ".join([MINISTRY_STORY, OTHER_APT31_STORY] * 3)
    store(db, article(1, long_story), "G0128")
    # Under a quarter of the stored length, but 500+ characters: a real (heavy) edit.
    kept, stored = len(normalise_text(MINISTRY_STORY)), len(normalise_text(long_story))
    assert 500 <= kept < stored / 4
    cut = store(db, article(1, MINISTRY_STORY), "G0128")
    assert cut.updated
    # A short article shortened by less than three quarters is an edit too.
    short = "APT31 was blamed for the ministry hack on Tuesday by officials."
    store(db, article(2, short), "G0128")
    shortened = store(db, article(2, "APT31 was blamed for the ministry hack."), "G0128")
    assert shortened.updated


def test_an_unchanged_article_stored_again_writes_nothing(db: Db) -> None:
    first = store(db, article(1), "G0128")
    with db.sessions() as session:
        bands_before = count(session, ArticleBand)
    again = store(db, article(1, MINISTRY_STORY.replace(" ", "  ")), "G0128", "G0007")
    assert (again.created, again.updated, again.duplicate_of) == (False, False, first.article_id)
    with db.sessions() as session:
        assert count(session, ArticleBand) == bands_before
        assert count(session, Alert) == 1


# --- concurrency and migration ------------------------------------------------------------------


def test_concurrent_copies_of_one_story_alert_once(db: Db) -> None:
    with db.sessions() as session:
        for n in (1, 2):
            ensure_source(session, f"Outlet {n}", "news", None)
        session.commit()
    engines = [make_engine(db.url) for _ in range(2)]
    start = threading.Barrier(2)
    outcomes: list[Any] = []

    def writer(n: int) -> None:
        body = MINISTRY_STORY if n == 1 else syndicated(MINISTRY_STORY)
        with make_session_factory(engines[n - 1])() as session:
            start.wait()
            outcomes.append(
                store_article(
                    session, article(n, body), [], [attribution("G0128", "asserted", 0.9)]
                )
            )
            session.commit()

    try:
        run_concurrently(start, partial(writer, 1), partial(writer, 2))
    finally:
        for engine in engines:
            engine.dispose()

    assert len({outcome.story_id for outcome in outcomes}) == 1
    assert sorted(outcome.alerts_created for outcome in outcomes) == [0, 1]
    assert len(pending(db)) == 1


def test_upgrading_gives_existing_articles_a_story_each(database_url: str) -> None:
    engine = make_engine(database_url)
    config = alembic_config(database_url)
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0001_initial")
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO sources (id, name, kind, created_at) "
                    f"VALUES (7, 'Old', 'news', {OLD_TIME})"
                )
            )
            connection.execute(
                text(
                    "INSERT INTO articles (id, source_id, url, canonical_url, content_hash, text, "
                    "authors, fetched_at, created_at) VALUES (41, 7, 'https://old.example/a', "
                    f"'https://old.example/a', 'h41', 'old text', '[]', {OLD_TIME}, {OLD_TIME})"
                )
            )
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
        sessions = make_session_factory(engine)
        with sessions() as session:
            old = session.get(Article, 41)
            assert old is not None and old.story_id == 41
            assert get_story(session, 41).reported_by == ("Old",)
            # New stories get fresh ids after the backfilled ones (PostgreSQL sequence moved on).
            ensure_source(session, "Outlet 1", "news", None)
            new = store_article(session, article(1), [], [])
            session.commit()
            assert new.new_story and new.story_id is not None and new.story_id > 41
            assert session.get(Story, new.story_id) is not None
    finally:
        engine.dispose()
