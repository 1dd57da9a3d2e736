"""`aptwatch run --forever`: intervals with jitter, surviving failed cycles, stopping on signals."""

from __future__ import annotations

import io
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TextIO

import pytest
from processes import processes_in_session
from receivers import webhook_receiver

from aptwatch.commands import source_status
from aptwatch.config import Config
from aptwatch.errors import ConfigError, user_error_types
from aptwatch.scheduler import Schedule, run_forever


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class TickingClock(FakeClock):
    """Time that passes as the scheduler looks at it, so intervals elapse without sleeping."""

    def __init__(self, step: float) -> None:
        super().__init__()
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
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


def demo_config(tmp_path: Path, base_url: str) -> Config:
    """The bundled sample site's two feeds, as sources Wire and Analysis."""
    sources = tmp_path / "demo-sources.yaml"
    sources.write_text(
        "sources:\n"
        f"  - {{name: Wire, kind: feed, url: '{base_url}/news.rss', allow_private_network: true}}\n"
        f"  - {{name: Analysis, kind: feed, url: '{base_url}/analysis.atom',"
        " allow_private_network: true}\n",
        encoding="utf-8",
    )
    return replace(config_for(tmp_path), sources_file=sources)


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
        assert ev.wait(5)  # the crawl in flight is told to wind down

    out = io.StringIO()
    code = run_forever(config_for(tmp_path), out, run_cycle=slow_cycle, max_cycles=10)

    assert code == 0
    assert cycles == [1]
    assert "stopped" in out.getvalue()
    assert "cycle failed" not in out.getvalue()
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # handlers restored


@pytest.mark.parametrize("parallel", [2, 1])
def test_a_source_falling_due_while_a_crawl_hangs_is_crawled_beside_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, parallel: int
) -> None:
    """Crawls ran one at a time: a source whose article pages each stalled held every other
    source back until APTWATCH_CRAWL_TIMEOUT (1 h by default), alerts included."""
    monkeypatch.setenv("APTWATCH_PARALLEL_CRAWLS", str(parallel))
    clock = TickingClock(step=10.0)
    stop = threading.Event()
    hang_over = threading.Event()
    calls: list[tuple[str, ...]] = []
    overlapped: list[bool] = []

    def cycle(config: Config, names: Sequence[str], out: TextIO, ev: threading.Event) -> None:
        calls.append(tuple(names))
        if len(calls) == 2:  # One (every minute) is due again first
            clock.now += 4000  # Two (every hour) falls due while One's crawl hangs
            overlapped.append(hang_over.wait(2))
        elif len(calls) == 3:
            hang_over.set()
            stop.set()

    out = io.StringIO()
    run_forever(config_for(tmp_path), out, stop=stop, run_cycle=cycle, clock=clock, idle_poll=0.01)

    assert calls == [("One", "Two"), ("One",), ("Two",)], out.getvalue()
    assert overlapped == [parallel > 1]  # at most APTWATCH_PARALLEL_CRAWLS at once
    assert "cycle failed" not in out.getvalue()


def test_cycles_sending_at_the_same_time_deliver_each_alert_once(tmp_path: Path) -> None:
    """Cycles of one scheduler share its lease holder, so the dispatch lease alone let two of
    them send the same alerts."""
    from aptwatch.commands import DEMO_SITE, crawl, send_alerts
    from aptwatch.localsite import serve

    with serve(DEMO_SITE) as site, webhook_receiver() as soc:
        config = replace(
            demo_config(tmp_path, site.base_url), apprise_config=tmp_path / "apprise.yaml"
        )
        (tmp_path / "apprise.yaml").write_text(f"urls:\n  - {soc.url}\n", encoding="utf-8")
        crawl(config, io.StringIO())
        soc.delay = 0.5  # the channel is slow: the second cycle sends while the first waits
        sent: list[int] = []
        senders = [
            threading.Thread(target=lambda: sent.append(send_alerts(config, io.StringIO()).sent))
            for _ in range(2)
        ]
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join()

    titles = [payload["title"] for payload in soc.payloads]
    assert len(titles) == 2 and len(set(titles)) == 2, titles
    assert sorted(sent) == [0, 2]


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


def test_a_one_pass_run_skips_a_source_another_aptwatch_is_crawling(tmp_path: Path) -> None:
    """A cron `aptwatch run` beside `run --forever` (or overlapping the previous cron run) crawled
    the same sources at the same time as it."""
    from aptwatch.commands import DEMO_SITE, run_once, upgrade_database
    from aptwatch.localsite import serve
    from storage import acquire_crawl_lease, crawl_lease_holder, make_engine, make_session_factory

    with serve(DEMO_SITE) as site:
        config = demo_config(tmp_path, site.base_url)
        upgrade_database(config)
        engine = make_engine(config.database_url)
        with make_session_factory(engine)() as session:
            assert acquire_crawl_lease(session, "Analysis", "scheduler-host:1", 600)
            session.commit()
        out = io.StringIO()

        outcome = run_once(config, out, table=False)

        with make_session_factory(engine)() as session:
            holders = {name: crawl_lease_holder(session, name) for name in ("Wire", "Analysis")}
        engine.dispose()
    assert [source.name for source in outcome.crawl.sources] == ["Wire"]
    assert site.count("/news.rss") == 1
    assert site.count("/analysis.atom") == 0
    assert "skipped (crawled elsewhere right now): Analysis" in out.getvalue()
    assert holders == {"Wire": None, "Analysis": "scheduler-host:1"}  # its own given back


def test_a_crawl_keeps_its_lease_while_it_runs_and_a_killed_one_frees_it_soon(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Leases lasted two hours whatever happened: after a SIGKILL (OOM killer, the end of
    TimeoutStopSec, a power cut) the restarted scheduler said "skipped (crawled elsewhere right
    now)" for every source it had been crawling, for up to two hours."""
    from datetime import UTC, datetime, timedelta

    from aptwatch import commands
    from aptwatch.localsite import Response, serve
    from storage import acquire_crawl_lease, crawl_lease_holder, make_engine, make_session_factory
    from storage import clock as storage_clock

    assert commands.LEASE_TTL <= 600  # what a killed aptwatch leaves behind, at most
    monkeypatch.setattr(commands, "LEASE_TTL", 1.0)  # renewed every fifth of it
    with serve(None) as site:
        site.routes["/slow.rss"] = lambda handler: Response(200, b"<rss/>", {}, delay=3)
        sources = tmp_path / "slow.yaml"
        sources.write_text(
            "sources:\n"
            f"  - {{name: Slow, kind: feed, url: '{site.url('/slow.rss')}',"
            " allow_private_network: true}\n",
            encoding="utf-8",
        )
        config = replace(config_for(tmp_path), sources_file=sources)
        commands.upgrade_database(config)
        crawler = threading.Thread(target=commands.crawl, args=(config, io.StringIO()))
        crawler.start()
        engine = make_engine(config.database_url)
        sessions = make_session_factory(engine)
        while site.count("/slow.rss") == 0 and crawler.is_alive():
            time.sleep(0.05)
        time.sleep(1.5)  # longer than the lease lasts without renewal
        with sessions() as session:
            assert not acquire_crawl_lease(session, "Slow", "another-host:2", 1.0)
            holder = crawl_lease_holder(session, "Slow")
            session.rollback()
        crawler.join()
        assert holder is not None and holder.endswith(f":{os.getpid()}")

        # what a killed aptwatch leaves: a lease nobody renews, free once its time is up
        with sessions() as session:
            assert acquire_crawl_lease(session, "Slow", "killed-host:3", 600)
            session.commit()
        later = datetime.now(UTC) + timedelta(seconds=601)
        monkeypatch.setattr(storage_clock, "utcnow", lambda: later)
        with sessions() as session:
            assert acquire_crawl_lease(session, "Slow", "restarted-host:4", 600)
        engine.dispose()


def test_an_edited_sources_file_is_followed_without_a_restart(tmp_path: Path) -> None:
    config = config_for(tmp_path)
    clock = FakeClock()
    calls: list[tuple[str, ...]] = []
    stop = threading.Event()

    def cycle(config: Config, names: Sequence[str], out: TextIO, ev: threading.Event) -> None:
        calls.append(tuple(names))
        if len(calls) == 1:  # ops edit the file while the scheduler runs
            config.sources_file.write_text(
                "sources:\n"
                "  - {name: One, kind: feed, url: 'https://one.example/rss', interval: 1m}\n"
                "  - {name: Three, kind: feed, url: 'https://three.example/rss', interval: 1h}\n",
                encoding="utf-8",
            )
        else:
            stop.set()

    out = io.StringIO()
    run_forever(config, out, stop=stop, run_cycle=cycle, clock=clock, max_cycles=5, idle_poll=0.01)

    assert calls == [("One", "Two"), ("Three",)]  # Two is gone; Three is due at once
    assert "watching 2 sources (added Three; dropped Two)" in out.getvalue()


@pytest.mark.parametrize("added_back", [False, True])
def test_a_source_dropped_from_the_file_while_it_is_crawled(
    tmp_path: Path, added_back: bool
) -> None:
    """The file is read again while cycles run: a source dropped while it was crawled made the
    scheduler die when that crawl ended ("internal error: 'Two'"), leaving the processes of the
    other crawls running; added back meanwhile, it was crawled a second time beside itself."""
    config = config_for(tmp_path)
    original = config.sources_file.read_text(encoding="utf-8")
    out = io.StringIO()
    stop = threading.Event()
    calls: list[tuple[str, ...]] = []

    def edit(text: str, then_said: str) -> None:
        new = config.sources_file.with_suffix(".new")
        new.write_text(text, encoding="utf-8")
        new.replace(config.sources_file)
        deadline = time.monotonic() + 10
        while then_said not in out.getvalue() and time.monotonic() < deadline:
            time.sleep(0.01)

    def cycle(config: Config, names: Sequence[str], lines: TextIO, ev: threading.Event) -> None:
        calls.append(tuple(names))
        if len(calls) == 1:
            without_two = [line for line in original.splitlines(True) if "name: Two" not in line]
            edit("".join(without_two), "dropped Two")
            if added_back:
                edit(original, "added Two")
            time.sleep(0.3)  # time enough for the loop to start another cycle, if it would
            stop.set()

    code = run_forever(config, out, stop=stop, run_cycle=cycle, clock=FakeClock(), idle_poll=0.01)

    assert code == 0
    assert calls == [("One", "Two")], out.getvalue()
    assert out.getvalue().rstrip().endswith("aptwatch: stopped")


@pytest.mark.parametrize(
    "broken",
    [
        "sources:\n  - {name: One, kind: fed}\n",
        # unhashable: this killed the scheduler ("unhashable type: 'list'")
        "sources:\n  - {name: One, kind: [feed], url: 'https://one.example/rss'}\n",
        "sources:\n  - {name: One, kind: feed, url: 'http://[::1/rss'}\n",
    ],
)
def test_a_broken_edit_pauses_crawling_until_it_is_fixed(tmp_path: Path, broken: str) -> None:
    config = config_for(tmp_path)
    good = config.sources_file.read_text(encoding="utf-8")
    clock = FakeClock()
    calls: list[tuple[str, ...]] = []
    stop = threading.Event()

    def cycle(config: Config, names: Sequence[str], out: TextIO, ev: threading.Event) -> None:
        calls.append(tuple(names))
        if len(calls) == 1:
            # at once, as the fix below: the scheduler reads the file while cycles run, and a
            # half-written file is a problem of its own, said as well
            edit = config.sources_file.with_suffix(".edit")
            edit.write_text(broken, "utf-8")
            edit.replace(config.sources_file)
            threading.Timer(0.5, fix_later).start()
        else:
            stop.set()

    def fix_later() -> None:  # while the scheduler waits, ops fix the file; One is due again
        fixed = config.sources_file.with_suffix(".new")
        fixed.write_text(good, "utf-8")
        fixed.replace(config.sources_file)  # at once: a half-written file is another problem
        clock.now += 120

    out = io.StringIO()
    code = run_forever(
        config, out, stop=stop, run_cycle=cycle, clock=clock, max_cycles=5, idle_poll=0.01
    )

    assert code == 0
    assert calls == [("One", "Two"), ("One",)]  # nothing crawled while broken, then on again
    log = out.getvalue()
    assert log.count("crawling paused until the sources file is fixed") == 1  # said once
    assert "One" in log.split("crawling paused")[1].splitlines()[0]  # names the source
    assert "sources file read again: watching 2 sources" in log


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("APTWATCH_CRAWL_TIMEOUT", "soon"),
        ("APTWATCH_FAILURE_ALERT_AFTER", "0"),
        ("APTWATCH_LOG_LEVEL", "BOGUS"),
        ("APTWATCH_PARALLEL_CRAWLS", "0"),
        ("APTWATCH_PARALLEL_CRAWLS", "many"),
        ("APTWATCH_PARALLEL_CRAWLS", "1000"),
    ],
)
def test_a_bad_setting_stops_the_scheduler_before_its_first_cycle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    calls: list[Sequence[str]] = []
    monkeypatch.setenv(variable, value)
    database = tmp_path / "var" / "db.sqlite"

    with pytest.raises(ConfigError, match=variable):
        run_forever(
            replace(config_for(tmp_path), database_url=f"sqlite:///{database}"),
            io.StringIO(),
            run_cycle=lambda config, names, out, ev: calls.append(names),
            max_cycles=1,
        )
    assert calls == []  # not retried forever as if it were a network error
    assert not database.parent.exists()  # no database folder made for a run that never starts


@dataclass
class Stopped:
    returncode: int
    stdout: str
    stderr: str
    leftovers: set[int]


def signal_during_a_crawl(tmp_path: Path, args: list[str], signum: int, *, group: bool) -> Stopped:
    """Run ``aptwatch *args`` against a feed that answers only after a minute, signal it once
    the crawl has reached the feed (the scheduler alone, or its whole process group, as a
    service manager or a terminal's Ctrl-C does), and return what it printed and left behind."""
    from aptwatch.localsite import Response, serve

    with serve(None) as site:
        site.routes["/slow.rss"] = lambda handler: Response(200, b"", {}, delay=60)
        (tmp_path / "sources.yaml").write_text(
            "sources:\n"
            f"  - {{name: Slow, kind: feed, url: '{site.url('/slow.rss')}',"
            " allow_private_network: true}\n",
            encoding="utf-8",
        )
        (tmp_path / "apprise.yaml").write_text(
            "urls:\n  - json://127.0.0.1:9/:\n      - tag: attribution\n", encoding="utf-8"
        )
        env = {
            **os.environ,
            "APTWATCH_DATA_DIR": str(tmp_path),
            "APTWATCH_SOURCES_FILE": str(tmp_path / "sources.yaml"),
            "APTWATCH_APPRISE_CONFIG": str(tmp_path / "apprise.yaml"),
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "aptwatch", *args],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # its own session, as a service has its own cgroup
        )
        try:
            deadline = time.monotonic() + 120
            while site.count("/slow.rss") == 0 and time.monotonic() < deadline:
                time.sleep(0.1)
            assert site.count("/slow.rss") == 1, "the crawl never reached the feed"
            if group:
                os.killpg(process.pid, signum)
            else:
                process.send_signal(signum)
            stdout, stderr = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    return Stopped(process.returncode, stdout, stderr, processes_in_session(process.pid))


@pytest.mark.parametrize(
    "whole_service",
    [False, True],
    ids=["to the scheduler (kill PID)", "to every process (systemctl stop, Ctrl-C)"],
)
def test_sigterm_during_a_real_crawl_stops_cleanly(tmp_path: Path, whole_service: bool) -> None:
    stopped = signal_during_a_crawl(
        tmp_path, ["run", "--forever"], signal.SIGTERM, group=whole_service
    )

    output = stopped.stdout + stopped.stderr
    assert stopped.returncode == 0, output
    assert stopped.stdout.rstrip().endswith("aptwatch: stopped"), output
    assert "Traceback" not in output
    assert "unclean" not in output  # Scrapy's forced shutdown on a second signal
    assert "cycle failed" not in stopped.stdout  # stopping is not a failure
    assert 'source="Slow" status=stopped' in stopped.stdout
    assert "RefererMiddleware" not in stopped.stderr  # no warning about a choice made on purpose
    assert stopped.leftovers == set()  # the crawl process went with it
    # a stopped crawl is neither a success nor a failure of the source it was reading
    config = Config(
        database_url=f"sqlite:///{tmp_path / 'aptwatch.db'}",
        sources_file=tmp_path / "sources.yaml",
        apprise_config=None,
        data_dir=tmp_path,
    )
    status = source_status(config).splitlines()
    assert status[2].split()[:3] == ["Slow", "never", "run"], status


def test_a_stop_while_the_crawl_process_starts_is_a_stop_not_a_failure(tmp_path: Path) -> None:
    """systemctl stop often lands while a cycle's crawl process is still importing Scrapy: the
    log said "cycle failed (CrawlError: the crawl did not stop within 30s and was killed)"."""
    from aptwatch.commands import crawl

    config = config_for(tmp_path)
    stop = threading.Event()
    stop.set()  # before the crawl process can handle it

    report = crawl(config, io.StringIO(), only=["One"], cancel=stop)

    assert [(source.name, source.status) for source in report.sources] == [("One", "stopped")]
    assert source_status(config).splitlines()[2].split()[:3] == ["One", "never", "run"]


def crawl_process_still_in_group(group: int) -> bool:
    """Whether a crawl process has started in ``group`` and not yet left it for its own."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            command = (stat.parent / "cmdline").read_bytes()
        except (OSError, IndexError):
            continue  # gone meanwhile
        if int(fields[1]) == group and int(fields[2]) == group and b"spawn_main" in command:
            return True
    return False


def test_ctrl_c_while_the_crawl_process_starts_is_a_stop_not_a_failure(tmp_path: Path) -> None:
    """Ctrl-C reaches the terminal's whole process group, the crawl process too while it still
    starts (its own group comes later): it died mid-import with a KeyboardInterrupt traceback,
    and the scheduler said "cycle failed (CrawlError: the crawl did not stop within 30s and was
    killed)"."""
    from aptwatch.localsite import Response, serve

    with serve(None) as site:
        site.routes["/feed.rss"] = lambda handler: Response(200, b"<rss/>", {})
        (tmp_path / "sources.yaml").write_text(
            "sources:\n"
            f"  - {{name: Feed, kind: feed, url: '{site.url('/feed.rss')}',"
            " allow_private_network: true}\n",
            encoding="utf-8",
        )
        (tmp_path / "apprise.yaml").write_text("urls:\n  - json://127.0.0.1:9/\n", "utf-8")
        env = {
            **os.environ,
            "APTWATCH_DATA_DIR": str(tmp_path),
            "APTWATCH_SOURCES_FILE": str(tmp_path / "sources.yaml"),
            "APTWATCH_APPRISE_CONFIG": str(tmp_path / "apprise.yaml"),
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "aptwatch", "run", "--forever"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # a terminal of its own: Ctrl-C signals its whole group
        )
        try:
            deadline = time.monotonic() + 60
            while not crawl_process_still_in_group(process.pid) and time.monotonic() < deadline:
                time.sleep(0.002)
            os.killpg(process.pid, signal.SIGINT)
            stdout, stderr = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    assert process.returncode == 0, stdout + stderr
    assert "Traceback" not in stderr, stderr
    assert "cycle failed" not in stdout, stdout
    assert stdout.rstrip().endswith("aptwatch: stopped"), stdout


def test_ctrl_c_during_a_one_pass_run_is_one_line_and_exit_130(tmp_path: Path) -> None:
    stopped = signal_during_a_crawl(tmp_path, ["run"], signal.SIGINT, group=True)

    assert stopped.returncode == 130, stopped.stdout + stopped.stderr
    assert stopped.stderr.strip().splitlines() == ["aptwatch: error: interrupted"]
    assert stopped.leftovers == set()


def test_sigterm_during_alert_delivery_of_a_one_pass_run_sends_nothing_twice(
    tmp_path: Path,
) -> None:
    """A one-pass run stopped by SIGTERM (systemctl stop, timeout(1)) died on the spot: no line,
    and the alert it was sending went out again at the next run."""
    from aptwatch.commands import DEMO_SITE
    from aptwatch.localsite import serve

    with serve(DEMO_SITE) as site, webhook_receiver() as soc:
        soc.delay = 2  # the channel is slow to answer
        config = replace(
            demo_config(tmp_path, site.base_url), apprise_config=tmp_path / "apprise.yaml"
        )
        (tmp_path / "apprise.yaml").write_text(f"urls:\n  - {soc.url}\n", encoding="utf-8")
        env = {
            **os.environ,
            "APTWATCH_DATABASE_URL": config.database_url,
            "APTWATCH_SOURCES_FILE": str(config.sources_file),
            "APTWATCH_APPRISE_CONFIG": str(config.apprise_config),
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "aptwatch", "run"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 120
            while not soc.posts and time.monotonic() < deadline:
                time.sleep(0.05)
            assert soc.posts, "the run never sent an alert"
            process.send_signal(signal.SIGTERM)  # while the channel has not answered yet
            _, stderr = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        soc.delay = 0
        again = subprocess.run(
            [sys.executable, "-m", "aptwatch", "alerts", "send"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    assert process.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1] == "aptwatch: error: interrupted"
    assert again.returncode == 0, again.stdout + again.stderr
    titles = [payload["title"] for payload in soc.payloads]
    assert len(titles) == 2 and len(set(titles)) == 2  # each alert once: none lost, none twice


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"database_url": "notaurl"}, "notaurl"),
        ({"database_url": "mysql://u@127.0.0.1/x"}, "mysql"),
        ({"apprise_config": "broken"}, "apprise.yaml"),
        ({"apprise_config": "folder"}, "a folder"),
    ],
)
def test_a_mistake_only_the_operator_can_fix_stops_the_scheduler_at_start(
    tmp_path: Path, change: dict[str, str], message: str
) -> None:
    """Not retried for ever as if the network were down, and not found only after a crawl."""

    calls: list[Sequence[str]] = []
    config = config_for(tmp_path)
    if "database_url" in change:
        config = replace(config, database_url=change["database_url"])
    elif change["apprise_config"] == "broken":
        (tmp_path / "apprise.yaml").write_text("urls: [\n", encoding="utf-8")
        config = replace(config, apprise_config=tmp_path / "apprise.yaml")
    else:
        (tmp_path / "channels").mkdir()
        config = replace(config, apprise_config=tmp_path / "channels")

    with pytest.raises(Exception, match=message) as raised:
        run_forever(
            config,
            io.StringIO(),
            run_cycle=lambda config, names, out, ev: calls.append(names),
            max_cycles=1,
        )
    assert isinstance(raised.value, user_error_types())
    assert calls == []


def test_a_sources_file_without_an_enabled_source_stops_the_scheduler_at_start(
    tmp_path: Path,
) -> None:

    from crawler.sources import SourcesError

    sources = tmp_path / "off.yaml"
    sources.write_text(
        "sources:\n  - {name: A, kind: feed, url: 'https://a.example/feed', enabled: false}\n",
        encoding="utf-8",
    )
    calls: list[Sequence[str]] = []
    with pytest.raises(SourcesError, match="no enabled sources"):
        run_forever(
            replace(config_for(tmp_path), sources_file=sources),
            io.StringIO(),
            run_cycle=lambda config, names, out, ev: calls.append(names),
            max_cycles=1,
        )
    assert calls == []
