"""The analysis worker pool: same results as analysis in the crawl process; a dying worker costs
one page, not the crawl."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import shutil
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from processes import processes_in_session
from scrapy.utils.test import get_crawler
from sqlalchemy import text

from aptwatch.localsite import LocalSite, serve
from crawler.pipelines import AnalyzePipeline
from crawler.run import articles_expected, run_crawl
from crawler.workers import (
    AnalysisPool,
    AnalysisTimedOut,
    PageAnalysis,
    PageJob,
    WorkerCrashed,
    WorkersSettingError,
    analyse_page,
    build_nlp,
)
from storage import (
    make_engine,
    make_session_factory,
    record_source_run,
    text_identity,
    upgrade_database,
)

SITE = Path(__file__).resolve().parent / "site"
FAST = {"AUTOTHROTTLE_ENABLED": False, "DOWNLOAD_DELAY": 0, "LOG_LEVEL": "WARNING"}
# a string no real page carries; only the test hook acts on it
EXIT_MARKER = "aptwatch-test-worker-exit-7f3c"
KILLER_PAGE = f"""<!doctype html><html lang="en"><head><title>Worker killer</title></head><body>
<article><h1>Worker killer</h1><p>This page stands for one that crashes the analysis worker: a bug
in a C extension, or the kernel's OOM killer. {EXIT_MARKER}</p></article></body></html>"""


@pytest.fixture
def test_site(tmp_path: Path) -> Iterator[LocalSite]:
    root = tmp_path / "site"
    shutil.copytree(SITE, root)
    (root / "articles" / "worker-killer.html").write_text(KILLER_PAGE, encoding="utf-8")
    (root / "feeds" / "with-killer.rss").write_text(
        """<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title>
<link>__BASE_URL__/</link><description>d</description>
<item><title>A</title><link>__BASE_URL__/articles/apt28-attribution.html</link></item>
<item><title>K</title><link>__BASE_URL__/articles/worker-killer.html</link></item>
<item><title>N</title><link>__BASE_URL__/articles/negated.html</link></item>
<item><title>P</title><link>__BASE_URL__/articles/passing-mention.html</link></item>
</channel></rss>""",
        encoding="utf-8",
    )
    with serve(root) as site:
        yield site


def write_sources(tmp_path: Path, *feed_urls: str) -> Path:
    path = tmp_path / "sources.yaml"
    urls = ", ".join(f'"{url}"' for url in feed_urls)
    path.write_text(
        f"sources:\n  - name: Example News\n    kind: feed\n    urls: [{urls}]\n"
        "    allow_private_network: true\n",
        encoding="utf-8",
    )
    return path


def stored(db_url: str) -> dict[str, list[tuple[object, ...]]]:
    """Every stored article field and every mention and attribution, in a stable order."""
    queries = {
        "articles": "SELECT url, canonical_url, title, text, published, authors, lang "
        "FROM articles ORDER BY url",
        "mentions": 'SELECT a.url, m.group_id, m.group_name, m.alias, m.start, m."end" '
        "FROM group_mentions m JOIN articles a ON a.id = m.article_id "
        "ORDER BY a.url, m.start, m.group_id",
        "attributions": "SELECT a.url, t.group_id, t.alias, t.stance, t.attributed_by, "
        "t.sponsor, t.evidence, t.confidence FROM attributions t "
        "JOIN articles a ON a.id = t.article_id ORDER BY a.url, t.group_id",
        "alerts": "SELECT a.url, l.group_id, l.status FROM alerts l "
        "JOIN articles a ON a.id = l.article_id ORDER BY a.url, l.group_id",
    }
    engine = make_engine(db_url)
    try:
        with engine.connect() as connection:
            return {
                name: [tuple(row) for row in connection.execute(text(sql))]
                for name, sql in queries.items()
            }
    finally:
        engine.dispose()


def test_pool_stores_the_same_articles_as_in_process_analysis(
    tmp_path: Path, test_site: LocalSite
) -> None:
    sources = write_sources(
        tmp_path, test_site.url("feeds/security.rss"), test_site.url("feeds/research.atom")
    )
    in_process_db = f"sqlite:///{tmp_path / 'in-process.db'}"
    pool_db = f"sqlite:///{tmp_path / 'pool.db'}"

    in_process = run_crawl(sources, in_process_db, settings={**FAST, "APTWATCH_WORKERS": 0})
    pooled = run_crawl(sources, pool_db, settings={**FAST, "APTWATCH_WORKERS": 2})

    assert in_process.stats["APTWATCH_analysis_workers"] == 0
    assert pooled.stats["APTWATCH_analysis_workers"] == 2
    # a first crawl analyses articles: its workers started while Scrapy did
    assert pooled.stats["APTWATCH_workers_started_early"] is True
    assert in_process.stats["APTWATCH_workers_started_early"] is False
    assert in_process.ok and pooled.ok
    expected = stored(in_process_db)
    assert len(expected["articles"]) == 3
    assert len(expected["attributions"]) == 2 and len(expected["alerts"]) == 1
    assert stored(pool_db) == expected


def test_a_page_that_kills_its_worker_is_one_error_and_the_crawl_completes(
    tmp_path: Path, test_site: LocalSite
) -> None:
    sources = write_sources(tmp_path, test_site.url("feeds/with-killer.rss"))
    db_url = f"sqlite:///{tmp_path / 'aptwatch.db'}"
    settings = {**FAST, "APTWATCH_WORKERS": 2, "APTWATCH_TEST_WORKER_EXIT_MARKER": EXIT_MARKER}

    report = run_crawl(sources, db_url, settings=settings)

    news = report.source("Example News")
    assert report.finish_reason == "finished"
    assert (news.entries, news.fetched, news.new_articles) == (4, 4, 3)
    killer_url = test_site.url("articles/worker-killer.html")
    assert news.errors == (f"article {killer_url}: the analysis worker process died on this page",)
    assert report.stats["APTWATCH_worker_pool_restarts"] >= 1
    urls = [row[0] for row in stored(db_url)["articles"]]
    assert killer_url not in urls and len(urls) == 3


def test_a_page_that_hangs_its_worker_times_out_alone_and_the_crawl_completes(
    tmp_path: Path, test_site: LocalSite
) -> None:
    sources = write_sources(tmp_path, test_site.url("feeds/with-killer.rss"))
    db_url = f"sqlite:///{tmp_path / 'aptwatch.db'}"
    # the same marked page, made to hang its worker instead of killing it
    settings = {
        **FAST,
        "APTWATCH_WORKERS": 2,
        "APTWATCH_ANALYSIS_TIMEOUT": 3,
        "APTWATCH_TEST_WORKER_HANG_MARKER": EXIT_MARKER,
    }

    report = run_crawl(sources, db_url, settings=settings)

    news = report.source("Example News")
    assert report.finish_reason == "finished"
    assert (news.entries, news.fetched, news.new_articles) == (4, 4, 3)
    stuck_url = test_site.url("articles/worker-killer.html")
    assert len(news.errors) == 1
    assert news.errors[0].startswith(f"article {stuck_url}: analysis took longer than 3 s")
    assert report.stats["APTWATCH_worker_pool_restarts"] >= 1
    urls = [row[0] for row in stored(db_url)["articles"]]
    assert stuck_url not in urls and len(urls) == 3


def _processes_in_my_session() -> set[int]:
    return processes_in_session(os.getsid(0), not_children_of=os.getpid())


@pytest.mark.parametrize("ending", ["stopped", "timed out"])
def test_a_crawl_ended_while_a_worker_hangs_leaves_no_process_behind(
    tmp_path: Path, test_site: LocalSite, ending: str
) -> None:
    sources = write_sources(tmp_path, test_site.url("feeds/with-killer.rss"))
    db_url = f"sqlite:///{tmp_path / 'aptwatch.db'}"
    # no page time limit: the stuck page holds the crawl until it is stopped or killed
    settings = {**FAST, "APTWATCH_WORKERS": 2, "APTWATCH_TEST_WORKER_HANG_MARKER": EXIT_MARKER}
    before = _processes_in_my_session()
    stop = threading.Event()

    def stop_once_the_stuck_page_is_fetched() -> None:
        while test_site.count("/articles/worker-killer.html") == 0:
            time.sleep(0.1)
        time.sleep(3)  # in the worker by now
        stop.set()

    if ending == "stopped":  # SIGTERM to the scheduler: the stop outlives its grace period
        threading.Thread(target=stop_once_the_stuck_page_is_fetched, daemon=True).start()
        report = run_crawl(sources, db_url, settings=settings, cancel=stop)
        assert report.source("Example News").status == "stopped"
    else:  # APTWATCH_CRAWL_TIMEOUT: the crawl is stopped, and the source it had not finished failed
        report = run_crawl(sources, db_url, settings=settings, timeout=15)
        assert report.source("Example News").errors[-1] == "crawl did not finish within 15s"

    deadline = time.monotonic() + 10  # processes take a moment to go
    while _processes_in_my_session() - before and time.monotonic() < deadline:
        time.sleep(0.2)
    left = _processes_in_my_session() - before
    assert left == set(), [_describe_process(pid) for pid in left]


def _describe_process(pid: int) -> str:
    """A left-over process's command line and state, to tell which part of a crawl it was."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        state, parent, group = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[:3]
    except (OSError, ValueError):
        return f"{pid}: gone"
    return f"{pid} state {state} parent {parent} group {group}: {command[:160]}"


def test_pool_stops_a_stuck_worker_and_keeps_serving() -> None:
    hanging = page("Stuck", f"Nothing to see here. {EXIT_MARKER}")
    innocent = [
        page("Weather", "Rain is expected over the weekend, with storms in the north. " * 3),
        page("Markets", "Shares rose on Monday after the central bank held its rates. " * 3),
    ]

    async def scenario() -> list[object]:
        pool = AnalysisPool(2, page_timeout=2, hang_marker=EXIT_MARKER)
        await pool.start()
        try:
            jobs = [innocent[0], hanging, innocent[1]]
            results: list[object] = await asyncio.gather(
                *(pool.analyse(job) for job in jobs), return_exceptions=True
            )
            results.append(await pool.analyse(innocent[0]))
            return results
        finally:
            await pool.close()

    results = asyncio.run(scenario())

    assert isinstance(results[1], AnalysisTimedOut), results[1]
    assert "longer than 2 s" in str(results[1])
    assert all(isinstance(result, PageAnalysis) for result in (results[0], *results[2:]))
    assert multiprocessing.active_children() == []


def test_starting_the_workers_leaves_the_event_loop_free() -> None:
    """The crawl's downloads share the loop: it must keep turning while the workers start
    (the fork server imports spaCy and builds the pipeline first: seconds)."""

    async def scenario() -> tuple[float, float]:
        longest_gap = 0.0
        done = asyncio.Event()

        async def tick() -> None:
            nonlocal longest_gap
            last = time.monotonic()
            while not done.is_set():
                await asyncio.sleep(0.01)
                now = time.monotonic()
                longest_gap, last = max(longest_gap, now - last), now

        ticker = asyncio.create_task(tick())
        await asyncio.sleep(0.05)  # ticking before the pool starts
        pool = AnalysisPool(2)
        started = time.monotonic()
        try:
            await pool.start()
            startup = time.monotonic() - started
        finally:
            done.set()
            await ticker
            await pool.close()
        return startup, longest_gap

    startup, longest_gap = asyncio.run(scenario())

    assert startup > 0.5  # the workers had something to wait for
    assert longest_gap < startup / 3, (startup, longest_gap)


def page(title: str, body: str) -> PageJob:
    html = f"<html><head><title>{title}</title></head><body><article><p>{body}</p></article>"
    return PageJob(html=f"{html}</body></html>".encode(), url="http://news.example/a.html")


def test_pool_isolates_the_culprit_and_stops_its_workers_on_close() -> None:
    innocent = [
        page(
            "APT28 blamed", "Germany said APT28, a Russian military hacking group, was behind it. "
        ),
        page("Weather", "Rain is expected over the weekend, with storms in the north. " * 3),
        page("Markets", "Shares rose on Monday after the central bank held its rates. " * 3),
    ]
    killer = page("Killer", f"Nothing to see here. {EXIT_MARKER}")

    async def scenario() -> list[object]:
        pool = AnalysisPool(2, max_in_flight=4, exit_marker=EXIT_MARKER)
        await pool.start()
        try:
            assert len(multiprocessing.active_children()) >= 2
            jobs = [innocent[0], killer, innocent[1], innocent[2]]
            results: list[object] = await asyncio.gather(
                *(pool.analyse(job) for job in jobs), return_exceptions=True
            )
            # the pool still works after the crash
            results.append(await pool.analyse(innocent[1]))
            return results
        finally:
            await pool.close()

    results = asyncio.run(scenario())

    assert isinstance(results[1], WorkerCrashed)
    for result in (results[0], results[2], results[3], results[4]):
        assert isinstance(result, PageAnalysis), result
    blamed = results[0]
    assert isinstance(blamed, PageAnalysis)
    assert blamed.extracted.title == "APT28 blamed"
    assert [a.group_name for a in blamed.attributions] == ["APT28"]
    # the worker also derived what storage needs of the text
    assert blamed.identity == text_identity(blamed.extracted.text)
    assert multiprocessing.active_children() == []
    # nor is the server the workers fork from left running with a whole pipeline in memory
    assert fork_servers() == set()


def fork_servers() -> set[int]:
    """This process's children that are multiprocessing fork servers (not multiprocessing
    children, so ``active_children`` does not list them)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                command = (entry / "cmdline").read_bytes()
            except OSError:
                continue  # gone meanwhile
            # the parent's pid is the second field after the parenthesised command name
            parent = int(stat.rpartition(")")[2].split()[1])
            if parent == os.getpid() and b"multiprocessing.forkserver" in command:
                found.add(int(entry.name))
    return found


def test_pool_workers_use_the_knowledge_base_they_are_given(tmp_path: Path) -> None:
    kb_path = tmp_path / "groups.json"
    only_here = {"id": "misp:quartz-heron", "name": "Quartz Heron", "aliases": ["QH-7"]}
    kb_path.write_text(json.dumps({"groups": [only_here]}), encoding="utf-8")
    breach = page("Breach", "Officials said Quartz Heron hackers breached the ministry last week.")

    async def groups_named(kb: str | None) -> list[str]:
        pool = AnalysisPool(1, kb)
        await pool.start()
        try:
            return [mention.group_name for mention in (await pool.analyse(breach)).mentions]
        finally:
            await pool.close()

    # one pool after the other, as successive crawls with an updated knowledge base would be
    assert asyncio.run(groups_named(None)) == []
    assert asyncio.run(groups_named(str(kb_path))) == ["Quartz Heron"]
    assert asyncio.run(groups_named(None)) == []


@pytest.mark.parametrize(
    ("value", "message"),
    [(-1, "must be 0 .* or more, not -1"), ("many", "must be a whole number, not 'many'")],
)
def test_bad_workers_setting_is_one_clear_error(value: object, message: str) -> None:
    crawler = get_crawler(settings_dict={"APTWATCH_WORKERS": value})
    with pytest.raises(WorkersSettingError, match=message):
        AnalyzePipeline.from_crawler(crawler)
    with pytest.raises(WorkersSettingError, match="at least one worker"):
        AnalysisPool(0)


@pytest.mark.parametrize(
    ("value", "message"),
    [(-5, "0 \\(no limit\\) or more, not -5"), ("soon", "a number of seconds, not 'soon'")],
)
def test_bad_analysis_timeout_is_one_clear_error(value: object, message: str) -> None:
    crawler = get_crawler(settings_dict={"APTWATCH_ANALYSIS_TIMEOUT": value})
    with pytest.raises(WorkersSettingError, match=message):
        AnalyzePipeline.from_crawler(crawler)


def _bylined_page(body: str) -> bytes:
    paragraphs = "".join(f"<p>{body} Paragraph {n} of the report follows.</p>" for n in range(6))
    return f"""<!doctype html><html lang="en"><head><title>Report</title></head><body>
<article><h1>Report</h1><div class="author-name">Jane Analyst</div>
<div class="article-body">{paragraphs}</div></article></body></html>""".encode()


@pytest.fixture(scope="module")
def pipeline() -> Any:
    return build_nlp(None)


def test_byline_authors_are_searched_for_pages_that_name_a_group(pipeline: Any) -> None:
    naming = PageJob(
        url="http://news.example/a",
        html=_bylined_page("The German government blamed APT28 for the breach of its networks."),
    )
    found = analyse_page(pipeline, naming)
    assert found.mentions and found.extracted.authors == ("Jane Analyst",)
    # the byline search costs as much as the rest of the metadata: skipped where no group is named
    plain = PageJob(
        url="http://news.example/b",
        html=_bylined_page("The city council approved the new budget for its parks."),
    )
    skipped = analyse_page(pipeline, plain)
    assert not skipped.mentions and skipped.extracted.authors == ()


def test_workers_start_early_only_for_a_crawl_likely_to_analyse(tmp_path: Path) -> None:
    sources = ["Quiet", "Busy"]
    db_url = f"sqlite:///{tmp_path / 'aptwatch.db'}"
    upgrade_database(db_url)
    assert articles_expected(sources, db_url, {})  # never crawled: its whole feed is new

    def crawled(name: str, new_articles: int) -> None:
        engine = make_engine(db_url)
        try:
            with make_session_factory(engine)() as session, session.begin():
                now = datetime.now(UTC)
                record_source_run(
                    session,
                    name,
                    started_at=now,
                    finished_at=now,
                    ok=True,
                    error=None,
                    entries=10,
                    new_articles=new_articles,
                )
        finally:
            engine.dispose()

    crawled("Quiet", 0)
    crawled("Busy", 0)
    assert not articles_expected(sources, db_url, {})  # a poll of quiet sources
    crawled("Busy", 3)
    assert articles_expected(sources, db_url, {})
    assert not articles_expected(["Quiet"], db_url, {})
    # no workers to start
    assert not articles_expected(sources, db_url, {"APTWATCH_WORKERS": 0})
    assert not articles_expected(sources, db_url, {"ITEM_PIPELINES": {}})
    # a database without tables yet: a first crawl
    assert articles_expected(sources, f"sqlite:///{tmp_path / 'empty.db'}", {})
