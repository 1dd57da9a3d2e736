"""`aptwatch run --forever`: intervals with jitter, surviving failed cycles, stopping on signals."""

from __future__ import annotations

import io
import os
import random
import signal
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from aptwatch.config import Config
from aptwatch.scheduler import Schedule, run_forever


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_each_source_is_due_at_its_own_interval_with_bounded_jitter() -> None:
    clock = FakeClock()
    schedule = Schedule.for_sources(
        {"fast": 60.0, "slow": 3600.0}, clock=clock, rng=random.Random(7), jitter=0.1
    )

    assert schedule.due() == ["fast", "slow"]
    schedule.started(["fast", "slow"])
    assert schedule.due() == []  # running sources are never handed out twice
    schedule.finished(["fast", "slow"])

    clock.now += 53.9
    assert schedule.due() == []
    clock.now += 12.2  # 66.1 s later: past 60 s + 10 % jitter
    assert schedule.due() == ["fast"]
    clock.now += 3000
    assert schedule.due() == ["fast"]
    clock.now += 700
    assert schedule.due() == ["fast", "slow"]


def write_sources(path: Path) -> Path:
    path.write_text(
        "sources:\n"
        "  - {name: One, kind: feed, url: 'https://one.example/rss', interval: 1m}\n"
        "  - {name: Two, kind: feed, url: 'https://two.example/rss', interval: 1h}\n"
        "  - {name: Paused, kind: feed, url: 'https://paused.example/rss', enabled: false}\n",
        encoding="utf-8",
    )
    return path


def config_for(tmp_path: Path) -> Config:
    return Config(
        database_url=f"sqlite:///{tmp_path / 'db.sqlite'}",
        sources_file=write_sources(tmp_path / "sources.yaml"),
        apprise_config=None,
        data_dir=tmp_path,
    )


def test_a_failing_cycle_is_logged_and_the_loop_goes_on(tmp_path: Path) -> None:
    stop = threading.Event()
    calls: list[tuple[str, ...]] = []

    def flaky_cycle(config: Config, names: Sequence[str], out: TextIO, ev: threading.Event) -> None:
        calls.append(tuple(names))
        if len(calls) == 1:
            raise ConnectionError("database went away")
        stop.set()

    out = io.StringIO()
    code = run_forever(
        config_for(tmp_path),
        out,
        stop=stop,
        run_cycle=flaky_cycle,
        max_cycles=5,
        error_backoff=(0.01,),
    )

    assert code == 0
    assert calls[0] == ("One", "Two")  # disabled sources are never crawled
    assert calls[1] == ("One", "Two")  # retried after the back-off instead of dying
    assert "cycle failed (ConnectionError: database went away)" in out.getvalue()
    assert out.getvalue().rstrip().endswith("aptwatch: stopped")


def test_sigterm_stops_the_loop_between_steps(tmp_path: Path) -> None:
    cycles: list[int] = []

    def slow_cycle(config: Config, names: Sequence[str], out: TextIO, ev: threading.Event) -> None:
        cycles.append(1)
        os.kill(os.getpid(), signal.SIGTERM)  # what systemd sends on `systemctl stop`
        assert ev.is_set()  # the crawl in flight is told to wind down

    out = io.StringIO()
    code = run_forever(config_for(tmp_path), out, run_cycle=slow_cycle, max_cycles=10)

    assert code == 0
    assert cycles == [1]
    assert "stopped" in out.getvalue()
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # handlers restored


def test_a_cycle_crawls_only_the_due_sources_and_skips_leased_ones(tmp_path: Path) -> None:
    from aptwatch.commands import DEMO_SITE, crawl_and_alert, upgrade_database
    from aptwatch.localsite import serve
    from storage import acquire_crawl_lease, make_engine, make_session_factory

    with serve(DEMO_SITE) as site:
        sources = tmp_path / "sources.yaml"
        sources.write_text(
            "sources:\n"
            f"  - {{name: Wire, kind: feed, url: '{site.url('/news.rss')}',"
            " allow_private_network: true}\n"
            f"  - {{name: Analysis, kind: feed, url: '{site.url('/analysis.atom')}',"
            " allow_private_network: true}\n",
            encoding="utf-8",
        )
        config = Config(
            database_url=f"sqlite:///{tmp_path / 'db.sqlite'}",
            sources_file=sources,
            apprise_config=None,
            data_dir=tmp_path,
        )
        upgrade_database(config)
        engine = make_engine(config.database_url)
        with make_session_factory(engine)() as session:
            assert acquire_crawl_lease(session, "Analysis", "another-host:1", 600)
            session.commit()
        engine.dispose()
        out = io.StringIO()

        outcome = crawl_and_alert(config, ["Wire", "Analysis"], out, threading.Event())

    assert outcome is not None
    assert [source.name for source in outcome.crawl.sources] == ["Wire"]
    assert site.count("/news.rss") == 1
    assert site.count("/analysis.atom") == 0  # another aptwatch holds its lease
    assert "skipped (crawled elsewhere right now): Analysis" in out.getvalue()
