"""Crawl throughput: end to end (fetch, extract, analyse, store, outbox) next to a no-op crawl.

    .venv/bin/python benchmarks/bench_crawl.py [--shared DIR] [--pages N] [--repeat N] [--workers N]

A local site on 127.0.0.1 serves ``--pages`` article URLs (/a/<n>.html) that cycle through the
real news pages of ``shared/data/pages`` (fundus-dev and trafilatura-cache), listed by generated
RSS feeds of ``--per-feed`` entries each, one source per feed. Nothing is copied into the
repository: pages are read from the shared folder into memory; the sources file and the databases
live in a temp dir.

Each repetition runs, each in its own crawl process through ``crawler.run.run_crawl``:
  1. a no-op crawl of the same feeds and pages (item pipelines off): the ceiling;
  2. the full crawl into a fresh SQLite database;
  3. an unchanged re-crawl of the whole site against that database.
Pages/s is given over the crawl itself (Scrapy's elapsed time; pipelines, including the process
pool, are ready before it starts) and over the whole ``run_crawl`` call (process start included).
Peak memory is the summed RSS of the crawl process and its children (the analysis workers),
sampled every 50 ms; the benchmark process itself (which runs the web server) is shown apart.
CPU time per page (user + system of the crawl process and its workers) does not depend on what
else the machine runs; the load average printed before and after says how busy it was.
Prints medians and ratios; asserts nothing (timings are machine facts, not test outcomes).
"""

from __future__ import annotations

import argparse
import gzip
import os
import resource
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from aptwatch.localsite import LocalSite, Response, serve  # noqa: E402

# crawler.run and storage are imported where used: every process the crawl spawns (the crawl
# process, its analysis workers) re-imports this script as its __main__, and a benchmark that
# made them load Scrapy and SQLAlchemy for nothing would charge the crawl for its own harness.

TARGET_ARTICLES_PER_SECOND = 60.0
TARGET_RECRAWL_SECONDS = 3.0
PAGE_FOLDERS = ("fundus-dev", "trafilatura-cache")
# A real crawl spreads over many sites, each polled one request at a time; this one site stands in
# for all of them, so it gets the parallelism many sites would give.
BENCH_SETTINGS: dict[str, Any] = {
    "AUTOTHROTTLE_ENABLED": False,
    "DOWNLOAD_DELAY": 0,
    "CONCURRENT_REQUESTS": 16,
    "CONCURRENT_REQUESTS_PER_DOMAIN": 16,
    "LOG_LEVEL": "ERROR",
}
NOOP_SETTINGS: dict[str, Any] = {"ITEM_PIPELINES": {}}


def default_shared_dir() -> Path:
    return Path(os.environ.get("APTWATCH_SHARED_DIR", REPO_ROOT.parent / "shared"))


def load_pages(shared_dir: Path) -> list[bytes]:
    pages_dir = shared_dir / "data" / "pages"
    bodies: list[bytes] = []
    for folder in PAGE_FOLDERS:
        for path in sorted((pages_dir / folder).rglob("*")):
            if path.name.endswith(".html.gz"):
                bodies.append(gzip.decompress(path.read_bytes()))
            elif path.name.endswith(".html"):
                bodies.append(path.read_bytes())
    if not bodies:
        raise SystemExit(f"no article pages found under {pages_dir}")
    return bodies


def feed_xml(base_url: str, feed_number: int, article_numbers: Sequence[int]) -> bytes:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    items = "".join(
        f"<item><title>Article {n}</title><link>{base_url}/a/{n}.html</link>"
        f"<guid>{base_url}/a/{n}.html</guid>"
        f"<pubDate>{format_datetime(start + timedelta(minutes=n))}</pubDate></item>"
        for n in article_numbers
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Bench feed {feed_number}</title><link>{escape(base_url)}/</link>"
        f"<description>benchmark</description>{items}</channel></rss>"
    ).encode()


def fixed(body: bytes, content_type: str) -> Callable[[BaseHTTPRequestHandler], Response]:
    response = Response(200, body, {"Content-Type": content_type})
    return lambda _handler: response


def build_site(site: LocalSite, pages: list[bytes], page_count: int, per_feed: int) -> int:
    """Routes for the articles and their feeds; returns the number of feeds."""
    for n in range(page_count):
        site.routes[f"/a/{n}.html"] = fixed(pages[n % len(pages)], "text/html")
    numbers = list(range(page_count))
    feeds = [numbers[i : i + per_feed] for i in range(0, page_count, per_feed)]
    for index, chunk in enumerate(feeds):
        site.routes[f"/feeds/{index}.rss"] = fixed(
            feed_xml(site.base_url, index, chunk), "application/rss+xml"
        )
    site.routes["/robots.txt"] = fixed(b"User-agent: *\nAllow: /\n", "text/plain")
    return len(feeds)


def write_sources(folder: Path, site: LocalSite, feed_count: int) -> Path:
    lines = ["sources:"]
    for index in range(feed_count):
        lines += [
            f"  - name: Bench feed {index}",
            "    kind: feed",
            f"    url: {site.url(f'feeds/{index}.rss')}",
            "    allow_private_network: true",
        ]
    path = folder / "sources.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# --- memory --------------------------------------------------------------------------------------

_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _process_stat(pid: int) -> tuple[int, int, float] | None:
    """RSS in bytes, parent pid and CPU seconds so far (user + system) of a process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat_file:
            stat = stat_file.read()
    except OSError:
        return None  # gone between listing and reading
    # the command name may hold spaces and parentheses; the fields after it do not
    fields = stat[stat.rindex(b")") + 2 :].split()
    cpu = (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
    return int(fields[21]) * _PAGE_SIZE, int(fields[1]), cpu


def _pss(pid: int) -> int | None:
    """Proportional set size in bytes: pages shared with other processes (a forked worker and
    its fork server) count as a share each, so a sum over processes counts them once."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as rollup:
            for line in rollup:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass  # gone meanwhile, or a kernel without smaps_rollup
    return None


def _rss_and_parent(pid: int) -> tuple[int, int] | None:
    found = _process_stat(pid)
    return (found[0], found[1]) if found else None


def descendants(root: int) -> set[int]:
    """Every process below ``root`` (not ``root`` itself): one pass over /proc."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            found = _rss_and_parent(int(entry))
            if found is not None:
                parents[int(entry)] = found[1]
    below: set[int] = set()
    frontier = {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - below
        below |= frontier
    return below


@dataclass
class ProcessSamples:
    """What the sampler saw of this process's descendants: their peak summed RSS and PSS, and
    each one's parent and latest CPU time (its CPU total, to within one sampling interval)."""

    peak_rss: int = 0
    peak_pss: int = 0
    parents: dict[int, int] = field(default_factory=dict)
    cpu_seconds: dict[int, float] = field(default_factory=dict)

    def sample(self, pids: set[int]) -> None:
        rss = 0
        for pid in pids:
            found = _process_stat(pid)
            if found is not None:
                rss += found[0]
                self.parents[pid] = found[1]
                self.cpu_seconds[pid] = found[2]
        self.peak_rss = max(self.peak_rss, rss)

    def sample_pss(self, pids: set[int]) -> None:
        self.peak_pss = max(self.peak_pss, sum(_pss(pid) or 0 for pid in pids))

    def cpu_of_children(self) -> float:
        """CPU seconds of the direct children (the crawl process), without their own children."""
        return sum(
            cpu for pid, cpu in self.cpu_seconds.items() if self.parents.get(pid) == os.getpid()
        )


# The sampler shares the CPUs with the crawl it measures: the costly walk over all of /proc finds
# new processes twice a second; in between only the known ones are read. PSS costs the kernel a
# walk over each process's page tables (5 ms for a worker): once a second.
RSS_SAMPLE_SECONDS = 0.1
RSS_RESCAN_SECONDS = 0.5
PSS_SAMPLE_SECONDS = 1.0


@contextmanager
def sampled_processes() -> Iterator[ProcessSamples]:
    """Sample this process's descendants (RSS, CPU) while the block runs."""
    samples = ProcessSamples()
    if not Path("/proc/self/stat").exists():
        yield samples
        return
    stop = threading.Event()

    def sample() -> None:
        pids: set[int] = set()
        rescanned = pss_sampled = 0.0
        while not stop.is_set():
            if time.monotonic() - rescanned >= RSS_RESCAN_SECONDS:
                pids, rescanned = descendants(os.getpid()), time.monotonic()
            samples.sample(pids)
            if time.monotonic() - pss_sampled >= PSS_SAMPLE_SECONDS:
                samples.sample_pss(pids)
                pss_sampled = time.monotonic()
            stop.wait(RSS_SAMPLE_SECONDS)

    sampler = threading.Thread(target=sample, name="rss-sampler", daemon=True)
    sampler.start()
    try:
        yield samples
    finally:
        stop.set()
        sampler.join()


def own_rss() -> int:
    found = _rss_and_parent(os.getpid())
    return found[0] if found else 0


# --- runs ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    wall_seconds: float
    crawl_seconds: float
    fetched: int
    new_articles: int
    errors: int
    peak_rss: int
    peak_pss: int
    cpu_seconds: float  # the crawl process and its workers, user + system
    crawl_process_cpu_seconds: float  # the crawl process alone (as last sampled)
    # from the first article until the analysis workers were ready (imports, nlp pipeline)
    workers_startup_seconds: float = 0.0

    def per_second(self, count: int, over_wall: bool = False) -> float:
        seconds = self.wall_seconds if over_wall else self.crawl_seconds
        return count / seconds if seconds > 0 else float("inf")


def crawl_once(sources: Path, database_url: str, settings: dict[str, Any]) -> Run:
    from crawler.run import run_crawl

    # a child's CPU time reaches RUSAGE_CHILDREN once it has been waited for, and the crawl
    # process waits for its workers: the difference is the whole crawl's CPU time
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with sampled_processes() as samples:
        started = time.perf_counter()
        report = run_crawl(sources, database_url, settings=settings)
        wall = time.perf_counter() - started
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    elapsed = report.stats.get("elapsed_time_seconds")
    startup = report.stats.get("APTWATCH_analysis_startup_seconds")
    errors = [error for source in report.sources for error in source.errors]
    if errors:
        print(f"    {len(errors)} error(s), first: {errors[0]}", file=sys.stderr)
    return Run(
        wall_seconds=wall,
        crawl_seconds=float(elapsed) if isinstance(elapsed, int | float) else wall,
        fetched=sum(source.fetched for source in report.sources),
        new_articles=report.new_articles,
        errors=len(errors),
        peak_rss=samples.peak_rss,
        peak_pss=samples.peak_pss,
        workers_startup_seconds=float(startup) if isinstance(startup, int | float) else 0.0,
        cpu_seconds=cpu,
        crawl_process_cpu_seconds=min(cpu, samples.cpu_of_children()),
    )


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def mib(value: float) -> str:
    return f"{value / 2**20:,.0f} MiB"


def main(argv: Sequence[str] | None = None) -> int:
    from storage import upgrade_database

    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--shared", type=Path, default=None, help="the shared folder")
    parser.add_argument("--pages", type=int, default=1000, help="article URLs on the site")
    parser.add_argument("--per-feed", type=int, default=100, help="entries per generated feed")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions (medians are shown)")
    parser.add_argument(
        "--workers", type=int, default=None, help="APTWATCH_WORKERS (default: the crawl's own)"
    )
    arguments = parser.parse_args(argv)
    if arguments.pages < 1 or arguments.per_feed < 1 or arguments.repeat < 1:
        parser.error("--pages, --per-feed and --repeat must be at least 1")

    pages = load_pages(arguments.shared or default_shared_dir())
    settings = dict(BENCH_SETTINGS)
    settings["APTWATCH_MAX_ENTRIES_PER_SOURCE"] = arguments.per_feed
    if arguments.workers is not None:
        settings["APTWATCH_WORKERS"] = arguments.workers

    noop_runs: list[Run] = []
    full_runs: list[Run] = []
    recrawl_runs: list[Run] = []
    with (
        tempfile.TemporaryDirectory(prefix="aptwatch-bench-") as temp,
        serve(None, keep_alive=True) as site,
    ):
        folder = Path(temp)
        feed_count = build_site(site, pages, arguments.pages, arguments.per_feed)
        sources = write_sources(folder, site, feed_count)
        print(
            f"site: {arguments.pages} article URLs over {len(pages)} real pages, "
            f"{feed_count} feeds; {os.cpu_count()} CPUs; settings {settings}"
        )
        print(f"load average before: {load_average()}")
        for repetition in range(arguments.repeat):
            noop_url = f"sqlite:///{folder / f'noop-{repetition}.db'}"
            upgrade_database(noop_url)  # known-URL lookups need the tables, even when empty
            noop_runs.append(crawl_once(sources, noop_url, settings | NOOP_SETTINGS))
            full_url = f"sqlite:///{folder / f'full-{repetition}.db'}"
            full_runs.append(crawl_once(sources, full_url, settings))
            recrawl_runs.append(crawl_once(sources, full_url, settings))
            noop, full, again = noop_runs[-1], full_runs[-1], recrawl_runs[-1]
            print(
                f"run {repetition + 1}: no-op {noop.per_second(noop.fetched):7.1f} pages/s "
                f"({noop.crawl_seconds:.2f} s) | end to end "
                f"{full.per_second(full.fetched):6.1f} pages/s ({full.crawl_seconds:.2f} s crawl, "
                f"{full.wall_seconds:.2f} s wall, {full.fetched} fetched, "
                f"{full.new_articles} new, {full.errors} errors, "
                f"{1000 * full.cpu_seconds / max(1, full.fetched):.0f} CPU ms/page, "
                f"peak {mib(full.peak_rss)} RSS, {mib(full.peak_pss)} PSS) | "
                f"re-crawl {again.wall_seconds:.2f} s wall, {again.fetched} fetched"
            )
        server_rss = own_rss()
    print(f"load average after: {load_average()}")

    noop_rate = median([run.per_second(run.fetched) for run in noop_runs])
    full_rate = median([run.per_second(run.fetched) for run in full_runs])
    full_wall_rate = median([run.per_second(run.fetched, over_wall=True) for run in full_runs])
    recrawl_wall = median([run.wall_seconds for run in recrawl_runs])
    recrawl_crawl = median([run.crawl_seconds for run in recrawl_runs])
    print()
    print(f"medians of {arguments.repeat} runs")
    print(f"  no-op crawl (ceiling)   {noop_rate:8.1f} pages/s")
    print(
        f"  end to end              {full_rate:8.1f} pages/s over the crawl, "
        f"{full_wall_rate:.1f} pages/s over the whole run_crawl call "
        f"(target >= {TARGET_ARTICLES_PER_SECOND:.0f})"
    )
    print(f"  ratio end to end / no-op  {full_rate / noop_rate:.3f}")
    startup = median([run.workers_startup_seconds for run in full_runs])
    warm_rate = median(
        [
            run.fetched / (run.crawl_seconds - run.workers_startup_seconds)
            for run in full_runs
            if run.crawl_seconds > run.workers_startup_seconds
        ]
        or [0.0]
    )
    print(
        f"  of which analysis workers starting (imports, nlp pipeline)  {startup:.2f} s; "
        f"over the rest of the crawl {warm_rate:.1f} pages/s"
    )
    full_cpu = median([r.cpu_seconds / max(1, r.fetched) for r in full_runs])
    noop_cpu = median([r.cpu_seconds / max(1, r.fetched) for r in noop_runs])
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(
        f"  CPU per page (crawl process + workers)  {1000 * full_cpu:.1f} ms end to end, "
        f"{1000 * noop_cpu:.1f} ms no-op; on {cpus} idle CPUs that bounds end to end at "
        f"{(cpus or 1) / full_cpu:.0f} pages/s"
    )
    crawl_cpu = median([r.crawl_process_cpu_seconds / max(1, r.fetched) for r in full_runs])
    print(
        f"  of which the crawl process (Scrapy, storing)  {1000 * crawl_cpu:.1f} ms, "
        f"the analysis workers {1000 * (full_cpu - crawl_cpu):.1f} ms (their start-up included)"
    )
    print(
        f"  new articles stored      {median([float(r.new_articles) for r in full_runs]):.0f}"
        " (copies of one real page are one article: same canonical URL or text)"
    )
    print(
        f"  peak RSS, crawl process + workers  {mib(median([r.peak_rss for r in full_runs]))} "
        f"end to end, {mib(median([r.peak_rss for r in noop_runs]))} no-op; "
        f"benchmark process (web server) {mib(server_rss)}"
    )
    print(
        f"  peak PSS (shared pages once)       {mib(median([r.peak_pss for r in full_runs]))} "
        f"end to end, {mib(median([r.peak_pss for r in noop_runs]))} no-op"
    )
    print(
        f"  unchanged re-crawl       {recrawl_wall:.2f} s wall ({recrawl_crawl:.2f} s crawl), "
        f"{median([float(r.fetched) for r in recrawl_runs]):.0f} articles fetched "
        f"(target <= {TARGET_RECRAWL_SECONDS:.0f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
