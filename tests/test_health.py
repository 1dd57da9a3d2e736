"""Source health: status per source, and one operator message per failure streak."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from receivers import webhook_receiver
from typer.testing import CliRunner

from aptwatch.cli import app
from aptwatch.commands import upgrade_database
from aptwatch.config import Config
from aptwatch.health import record_crawl_health
from crawler.run import CrawlReport, SourceReport

START = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


def report(run: int, *, broken_fails: bool = True) -> CrawlReport:
    started = START + timedelta(hours=run)
    broken = (
        SourceReport("Broken", errors=("feed https://broken.example/rss: HTTP 500",))
        if broken_fails
        else SourceReport("Broken", entries=3, fetched=3, new_articles=1)
    )
    return CrawlReport(
        sources=(SourceReport("Healthy", entries=5, fetched=2, new_articles=2), broken),
        started_at=started,
        finished_at=started + timedelta(minutes=1),
    )


@pytest.fixture
def config(tmp_path: Path) -> Config:
    config = Config(
        database_url=f"sqlite:///{tmp_path / 'db.sqlite'}",
        sources_file=tmp_path / "sources.yaml",
        apprise_config=tmp_path / "apprise.yaml",
        data_dir=tmp_path,
    )
    upgrade_database(config)
    return config


def test_operator_hears_once_per_failure_streak(
    config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APTWATCH_FAILURE_ALERT_AFTER", "3")
    with webhook_receiver() as soc, webhook_receiver() as ops:
        assert config.apprise_config is not None
        config.apprise_config.write_text(
            f"urls:\n  - {soc.url}:\n      - tag: attribution\n"
            f"  - {ops.url}:\n      - tag: operator\n",
            encoding="utf-8",
        )
        told = [record_crawl_health(config, report(run), io.StringIO()) for run in range(5)]

        assert told == [[], [], ["Broken"], [], []]
        assert len(ops.payloads) == 1
        assert "Broken" in ops.payloads[0]["title"]
        assert "HTTP 500" in ops.payloads[0]["message"]
        assert soc.payloads == []  # the analysts' channel never sees operations noise

        record_crawl_health(config, report(5, broken_fails=False), io.StringIO())
        again = [record_crawl_health(config, report(6 + run), io.StringIO()) for run in range(3)]

        assert again == [[], [], ["Broken"]]
        assert len(ops.payloads) == 2


def test_an_operator_message_no_operator_channel_took_is_sent_again_later(
    config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APTWATCH_FAILURE_ALERT_AFTER", "2")
    with webhook_receiver() as ops:
        assert config.apprise_config is not None
        config.apprise_config.write_text(
            f"urls:\n  - {ops.url}:\n      - tag: operator\n", encoding="utf-8"
        )
        ops.status = 500  # the operator channel is down when the streak reaches the threshold
        told = [record_crawl_health(config, report(run), io.StringIO()) for run in range(3)]
        ops.status = 200
        told += [record_crawl_health(config, report(run), io.StringIO()) for run in range(3, 6)]

    assert told == [[], [], [], ["Broken"], [], []]  # tried at every run until it got through
    assert len(ops.payloads) == 1  # and then once only
    assert "failed 4 times in a row" in ops.payloads[0]["title"]


def test_each_operator_channel_gets_the_message_once_per_streak_even_if_another_took_it(
    config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With one operator channel down and another up, the one that was down never heard of the
    failing source: the other's acceptance closed the streak's message for both."""
    monkeypatch.setenv("APTWATCH_FAILURE_ALERT_AFTER", "2")
    with webhook_receiver() as pager, webhook_receiver() as mail:
        assert config.apprise_config is not None
        config.apprise_config.write_text(
            f"urls:\n  - {pager.url}:\n      - tag: operator\n"
            f"  - {mail.url}:\n      - tag: operator\n",
            encoding="utf-8",
        )
        mail.status = 500  # down when the streak reaches the threshold, and at the next crawl
        told = [record_crawl_health(config, report(run), io.StringIO()) for run in range(3)]
        mail.status = 200
        told += [record_crawl_health(config, report(run), io.StringIO()) for run in range(3, 5)]

        assert told == [[], ["Broken"], [], ["Broken"], []]
        assert len(pager.posts) == 1  # took it at once, never sent it again
        assert [post.status for post in mail.posts] == [500, 500, 200]  # until it took it
        assert "failed 2 times in a row" in pager.payloads[0]["title"]

        record_crawl_health(config, report(5, broken_fails=False), io.StringIO())
        again = [record_crawl_health(config, report(6 + run), io.StringIO()) for run in range(3)]

        assert again == [[], ["Broken"], []]  # a new streak is told to both again, once
        assert (len(pager.payloads), len(mail.payloads)) == (2, 2)


def test_an_operator_message_claimed_by_an_aptwatch_that_died_is_sent_by_a_later_one(
    config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An aptwatch killed (SIGKILL, OOM, a power cut) between claiming a source's operator message
    and sending it left the claim behind: nobody ever sent that failure streak's message."""
    from aptwatch.commands import open_sessions
    from storage import clock as storage_clock
    from storage import mark_operator_alerted, record_source_run

    monkeypatch.setenv("APTWATCH_FAILURE_ALERT_AFTER", "2")
    with webhook_receiver() as ops:
        assert config.apprise_config is not None
        config.apprise_config.write_text(
            f"urls:\n  - {ops.url}:\n      - tag: operator\n", encoding="utf-8"
        )
        record_crawl_health(config, report(0), io.StringIO())
        # the second failure, recorded by an aptwatch that claims the message and dies
        with open_sessions(config.database_url) as sessions, sessions() as session:
            at = START + timedelta(hours=1)
            record_source_run(
                session,
                "Broken",
                started_at=at,
                finished_at=at,
                ok=False,
                error="x",
                entries=0,
                new_articles=0,
            )
            session.commit()
            assert mark_operator_alerted(session, "Broken", 2)
            session.commit()

        told = [record_crawl_health(config, report(2), io.StringIO())]
        assert ops.posts == []  # a fresh claim: its aptwatch may be sending right now

        later = datetime.now(UTC) + timedelta(minutes=11)
        monkeypatch.setattr(storage_clock, "utcnow", lambda: later)
        told += [record_crawl_health(config, report(run), io.StringIO()) for run in (3, 4)]

    assert told == [[], ["Broken"], []]
    assert len(ops.payloads) == 1
    assert "failed 4 times in a row" in ops.payloads[0]["title"]


def test_sources_status_shows_each_source(config: Config, tmp_path: Path) -> None:
    sources = tmp_path / "sources.yaml"
    sources.write_text(
        "sources:\n"
        "  - {name: Healthy, kind: feed, url: 'https://healthy.example/rss'}\n"
        "  - {name: Broken, kind: feed, url: 'https://broken.example/rss'}\n"
        "  - {name: Brand new, kind: feed, url: 'https://new.example/rss'}\n",
        encoding="utf-8",
    )
    for run in range(2):
        record_crawl_health(config, report(run), io.StringIO())

    result = CliRunner().invoke(
        app,
        ["sources", "status", "--database-url", config.database_url, "--sources", str(sources)],
    )

    assert result.exit_code == 0, result.output
    rows = {line.split("  ")[0]: line for line in result.stdout.splitlines()[2:]}
    assert "HTTP 500" in rows["Broken"]
    assert rows["Broken"].split()[-1] == "2"  # failures in a row
    assert "never" in rows["Broken"]
    assert rows["Healthy"].split()[-1] == "0"
    assert "never run" in rows["Brand new"]


def test_sources_status_marks_a_source_removed_from_the_sources_file(
    config: Config, tmp_path: Path
) -> None:
    for run in range(2):
        record_crawl_health(config, report(run), io.StringIO())
    sources = tmp_path / "sources.yaml"
    sources.write_text(
        "sources:\n  - {name: Healthy, kind: feed, url: 'https://healthy.example/rss'}\n",
        encoding="utf-8",
    )

    result = CliRunner().invoke(
        app,
        ["sources", "status", "--database-url", config.database_url, "--sources", str(sources)],
    )

    assert result.exit_code == 0, result.output
    rows = result.stdout.splitlines()[2:]
    assert [row.split("  ")[0] for row in rows] == ["Healthy", "Broken (removed)"]
    # its history is kept, but it is no longer crawled: not a source failing right now
    assert "HTTP 500" in rows[1]


def test_a_crawl_that_outlives_its_time_limit_counts_against_its_sources(
    config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aptwatch.commands import crawl, source_status
    from aptwatch.localsite import Response, serve

    monkeypatch.setenv("APTWATCH_CRAWL_TIMEOUT", "4")
    monkeypatch.setenv("APTWATCH_FAILURE_ALERT_AFTER", "1")
    with serve(None) as site, webhook_receiver() as ops:
        # answers after Scrapy's own download timeout would: only the crawl's limit catches it
        site.routes["/stuck.rss"] = lambda handler: Response(200, b"", {}, delay=60)
        config.sources_file.write_text(
            "sources:\n"
            f"  - {{name: Stuck, kind: feed, url: '{site.url('/stuck.rss')}',"
            " allow_private_network: true}\n",
            encoding="utf-8",
        )
        assert config.apprise_config is not None
        config.apprise_config.write_text(
            f"urls:\n  - {ops.url}:\n      - tag: operator\n", encoding="utf-8"
        )

        report = crawl(config, io.StringIO())

    assert report.all_failed
    row = source_status(config).splitlines()[2]
    assert row.split()[:2] == ["Stuck", "never"]  # never a success
    assert "crawl did not finish within 4s" in row
    assert row.split()[-1] == "1"  # one failure in a row
    assert len(ops.payloads) == 1  # and the operator heard of it
    assert "Stuck" in ops.payloads[0]["title"]


def test_a_source_that_outlives_the_crawl_limit_fails_alone(
    config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It took every source crawled with it down: all were recorded as failing (the operator
    told so), their alerts were never sent, and run --forever kept them in one doomed batch."""
    from aptwatch.commands import DEMO_SITE, crawl, send_alerts, source_status
    from aptwatch.localsite import Response, serve

    monkeypatch.setenv("APTWATCH_CRAWL_TIMEOUT", "15")
    with serve(None) as stuck, serve(DEMO_SITE) as wire, webhook_receiver() as soc:
        stuck.routes["/stuck.rss"] = lambda handler: Response(200, b"", {}, delay=60)
        # another host name: Scrapy sends the requests to one host one at a time
        stuck_url = stuck.url("/stuck.rss").replace("127.0.0.1", "localhost")
        config.sources_file.write_text(
            "sources:\n"
            f"  - {{name: Wire, kind: feed, url: '{wire.url('/news.rss')}',"
            " allow_private_network: true}\n"
            f"  - {{name: Stuck, kind: feed, url: '{stuck_url}', allow_private_network: true}}\n",
            encoding="utf-8",
        )
        assert config.apprise_config is not None
        config.apprise_config.write_text(f"urls:\n  - {soc.url}\n", encoding="utf-8")

        report = crawl(config, io.StringIO())
        send_alerts(config, io.StringIO())

    assert (report.source("Wire").status, report.source("Wire").new_articles) == ("ok", 4)
    assert report.source("Stuck").status == "failed"
    assert "crawl did not finish within 15s" in report.source("Stuck").errors[-1]
    rows = {line.split()[0]: line.split() for line in source_status(config).splitlines()[2:]}
    assert rows["Wire"][-1] == "0" and rows["Stuck"][-1] == "1"  # failures in a row
    assert len(soc.payloads) == 2  # Wire's attributions went out


def test_a_source_given_up_before_a_single_page_came_has_failed(
    config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its feed answered, so it was recorded as a success ("last success" just now, the failure
    streak reset) however long its host had let every page hang: the operator never heard of it."""
    from aptwatch.commands import crawl, source_status
    from aptwatch.localsite import Response, serve

    monkeypatch.setenv("APTWATCH_FAILURE_ALERT_AFTER", "1")
    with serve(None) as site, webhook_receiver() as ops:
        pages = [f"/stalled-{n}.html" for n in range(4)]
        for path in pages:
            site.routes[path] = lambda handler: Response(200, b"<html></html>", {}, delay=5)
        items = "".join(f"<item><link>{site.url(path)}</link></item>" for path in pages)
        site.routes["/stalling.rss"] = lambda handler: Response(
            200, f"<rss version='2.0'><channel>{items}</channel></rss>".encode(), {}
        )
        config.sources_file.write_text(
            "sources:\n"
            f"  - {{name: Stalling, kind: feed, url: '{site.url('/stalling.rss')}',"
            " allow_private_network: true}\n",
            encoding="utf-8",
        )
        assert config.apprise_config is not None
        config.apprise_config.write_text(
            f"urls:\n  - {ops.url}:\n      - tag: operator\n", encoding="utf-8"
        )
        fast = {"DOWNLOAD_TIMEOUT": 1, "DOWNLOAD_DELAY": 0.01, "APTWATCH_ANALYZE_ENABLED": False}

        report = crawl(config, io.StringIO(), crawl_settings=fast)

    stalling = report.source("Stalling")
    assert (stalling.entries, stalling.fetched, stalling.status) == (4, 0, "failed")
    assert "gave up after 3 downloads in a row timed out" in stalling.errors[0]
    row = source_status(config).splitlines()[2]
    assert row.split()[:2] == ["Stalling", "never"]  # never a success
    assert row.split()[-1] == "1"  # one failure in a row
    assert [payload["title"] for payload in ops.payloads] == [
        "aptwatch: source 'Stalling' failed 1 times in a row"
    ]
