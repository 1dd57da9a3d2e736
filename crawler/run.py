"""Run one crawl in a fresh child process and report what happened per source.

Twisted's reactor cannot be started twice in one process, so every crawl gets its own spawned
process; that lets tests and ``aptwatch run --forever`` crawl again and again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import pickle
import signal
import sys
import threading
import time
import traceback
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from multiprocessing import resource_tracker
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from crawler.sources import SourcesError, load_sources

__all__ = [
    "CrawlError",
    "CrawlReport",
    "SourceReport",
    "SourcesError",
    "format_report",
    "run_crawl",
]


class CrawlError(RuntimeError):
    """The crawl process itself failed (not a single source)."""


@dataclass(frozen=True)
class SourceReport:
    name: str
    entries: int = 0
    fetched: int = 0
    new_articles: int = 0
    attributions: int = 0
    errors: tuple[str, ...] = ()
    updated_articles: int = 0
    kind: str = "feed"
    # the crawl was stopped (SIGTERM, Ctrl-C) before this source was through: its numbers are
    # partial and say nothing of its health
    interrupted: bool = False
    given_up: bool = False  # its downloads kept timing out (GivenUpSourcesMiddleware)

    @property
    def status(self) -> str:
        if self.failed:
            return "failed"
        if self.errors:
            return "errors"
        return "stopped" if self.interrupted else "ok"

    @property
    def failed(self) -> bool:
        """Errors and not a single entry read, or given up before a single page came: the
        source itself could not be crawled. A feed that answers over pages that never do is
        no success, or a site that stopped answering would never reach the operator."""
        return bool(self.errors) and self.fetched == 0 and (self.entries == 0 or self.given_up)


@dataclass(frozen=True)
class CrawlReport:
    sources: tuple[SourceReport, ...] = ()
    started_at: datetime | None = None
    finished_at: datetime | None = None
    finish_reason: str = ""
    stats: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def ok(self) -> bool:
        return not any(source.errors for source in self.sources)

    @property
    def all_failed(self) -> bool:
        return bool(self.sources) and all(source.failed for source in self.sources)

    @property
    def new_articles(self) -> int:
        return sum(source.new_articles for source in self.sources)

    @property
    def attributions(self) -> int:
        return sum(source.attributions for source in self.sources)

    def source(self, name: str) -> SourceReport:
        for source in self.sources:
            if source.name == name:
                return source
        raise KeyError(name)


def run_crawl(
    sources_file: Path,
    database_url: str,
    *,
    settings: dict[str, Any] | None = None,
    only: Collection[str] | None = None,
    cancel: threading.Event | None = None,
    timeout: float | None = None,
) -> CrawlReport:
    """Crawl every enabled source once (or the enabled ones named in ``only``).

    Raises SourcesError before crawling if the file is bad. ``cancel`` stops the crawl gracefully
    (Scrapy finishes what is in flight); ``timeout`` bounds the whole crawl, so a source that hangs
    in a way Scrapy's own timeouts miss cannot stall a scheduler forever.
    """
    sources = load_sources(sources_file)
    enabled = [source.name for source in sources if source.enabled]
    if only is not None:
        unknown = sorted(set(only) - set(enabled))
        if unknown:
            raise SourcesError(f"{sources_file}: no enabled source named {', '.join(unknown)}")
        enabled = [name for name in enabled if name in only]
    if not enabled:
        raise SourcesError(f"{sources_file}: no enabled sources")
    settings = dict(settings or {})
    if only is not None:
        settings["APTWATCH_SOURCE_NAMES"] = enabled
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(
        target=_crawl_in_child,
        args=(str(Path(sources_file).resolve()), enabled, database_url, settings, sender),
        name="aptwatch-crawl",
    )
    # A Ctrl-C goes to the terminal's whole process group, the crawl process too until it has a
    # group of its own: blocked until then, or one landing while it starts kills it mid-import
    # (a KeyboardInterrupt traceback, and a stop taken for a crawl that would not stop). The
    # resource tracker first: starting it unblocks SIGINT in the thread that starts it.
    resource_tracker.ensure_running()
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        process.start()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    sender.close()
    try:
        outcome, timed_out = _wait_for_report(process, receiver, cancel, timeout)
    except BaseException:
        # Ctrl-C: the crawl has a process group of its own, so the terminal's signal reached
        # only this process; pass the stop on
        with contextlib.suppress(OSError):
            process.terminate()
        raise
    finally:
        receiver.close()
        try:
            process.join(GRACE_SECONDS)
        finally:
            _kill_crawl(process)
    if outcome is None:
        if cancel is not None and cancel.is_set():
            if process.exitcode == -signal.SIGTERM:
                # stopped while still starting, before it handles the stop itself: nothing
                # was crawled, and that is no failure of its sources
                return CrawlReport(tuple(SourceReport(name, interrupted=True) for name in enabled))
            raise CrawlError(f"the crawl did not stop within {GRACE_SECONDS:.0f}s and was killed")
        if timed_out:
            # whatever its exit code: stopped before it even began its crawl, it exits with 0
            raise CrawlError(f"crawl did not finish within {timeout:g}s and was stopped")
        raise CrawlError(f"crawl process died without a report (exit code {process.exitcode})")
    status, payload = outcome
    if status == "ok":
        assert isinstance(payload, CrawlReport)
        if timed_out and not (cancel is not None and cancel.is_set()):
            return _blame_unfinished(payload, enabled, f"crawl did not finish within {timeout:g}s")
        return payload
    if isinstance(payload, BaseException):
        raise payload
    raise CrawlError(str(payload))


GRACE_SECONDS = 30.0


def _wait_for_report(
    process: BaseProcess,
    receiver: Connection,
    cancel: threading.Event | None,
    timeout: float | None,
) -> tuple[tuple[str, Any] | None, bool]:
    """Wait for the child's report, and whether it outlived ``timeout``. On cancel or timeout ask
    it to stop (SIGTERM: Scrapy shuts down cleanly and still reports which sources it finished,
    so a source that hangs fails alone); a stop that takes longer than the grace is made hard."""
    deadline = None if timeout is None else time.monotonic() + timeout
    asked_to_stop = timed_out = False
    while True:
        if receiver.poll(0.2):
            try:
                outcome: tuple[str, Any] = receiver.recv()
            except EOFError:
                return None, timed_out
            return outcome, timed_out
        if not process.is_alive() and not receiver.poll(0):
            return None, timed_out
        if deadline is not None and time.monotonic() > deadline:
            if asked_to_stop:
                _kill_crawl(process)
                return None, timed_out
            timed_out = True
        if (timed_out or (cancel is not None and cancel.is_set())) and not asked_to_stop:
            process.terminate()
            asked_to_stop = True
            # a graceful stop that takes longer than this is not graceful any more
            deadline = time.monotonic() + GRACE_SECONDS


def _blame_unfinished(report: CrawlReport, names: list[str], error: str) -> CrawlReport:
    """A crawl stopped at its time limit: the sources it had not finished failed, with ``error``."""
    sources = [
        replace(source, interrupted=False, errors=(*source.errors, error))
        if source.interrupted
        else source
        for source in report.sources
    ]
    reported = {source.name for source in report.sources}
    sources += [SourceReport(name, errors=(error,)) for name in names if name not in reported]
    return replace(report, sources=tuple(sources))


def _kill_crawl(process: BaseProcess) -> None:
    """Kill the crawl process, if still there, and whatever it leaves behind: its analysis workers
    and their fork server share its process group. Killed alone, it would leave them running,
    a worker stuck on a page forever."""
    if process.pid is not None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            # not yet the leader of a group of its own (it is still starting): itself, then
            with contextlib.suppress(OSError):
                process.kill()
    process.join()


def _crawl_in_child(
    sources_file: str,
    source_names: list[str],
    database_url: str,
    overrides: dict[str, Any],
    sender: Any,
) -> None:
    # a process group of its own: see _kill_crawl
    os.setpgrp()
    # a Ctrl-C held back while this process started was meant for its starter, which passes the
    # stop on: dropped (ignoring a pending signal discards it), then heard again
    handler = signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    signal.signal(signal.SIGINT, handler)
    try:
        warm = articles_expected(source_names, database_url, overrides)
        if warm:
            # The workers' fork server builds the nlp pipeline (seconds) while this process
            # imports Scrapy and fetches the feeds, instead of after the first article arrives.
            from crawler.workers import start_fork_server

            start_fork_server(_setting(overrides, "APTWATCH_NLP_KB_PATH"))
        report = _crawl(sources_file, database_url, overrides)
        report.stats["APTWATCH_workers_started_early"] = warm
    except BaseException as error:  # everything goes back to the parent, as one message
        _send(sender, ("error", _portable(error)))
        return  # the interpreter's shutdown cleans up whatever a failed crawl left open
    _send(sender, ("ok", report))
    # The report is delivered, and the crawl has closed its worker pool and its database. The
    # interpreter's own shutdown (tearing down Scrapy, Twisted and SQLAlchemy) would keep the
    # caller waiting in join() for 0.7 s more: a quarter of an unchanged re-crawl.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _setting(overrides: dict[str, Any], name: str) -> Any:
    from crawler import settings

    return overrides.get(name, getattr(settings, name, None))


def articles_expected(
    source_names: Collection[str], database_url: str, overrides: dict[str, Any]
) -> bool:
    """Whether a crawl of ``source_names`` will probably analyse articles: analysis runs in
    worker processes and one of the sources has never been crawled, or found new articles the
    last time. A poll of quiet sources should not pay for a pipeline it will not use (2-4 s of
    CPU)."""
    if "crawler.pipelines.AnalyzePipeline" not in (_setting(overrides, "ITEM_PIPELINES") or {}):
        return False
    if str(_setting(overrides, "APTWATCH_ANALYZE_ENABLED")).lower() in {"false", "0", "no"}:
        return False
    if str(_setting(overrides, "APTWATCH_WORKERS")) in {"0", "0.0"}:
        return False
    from storage import make_engine, make_session_factory, source_health

    engine = make_engine(database_url)
    try:
        with make_session_factory(engine)() as session:
            health = {record.name: record for record in source_health(session)}
    except Exception:
        # no tables yet (a first crawl migrates them) or no answer: nothing is known of these
        # sources; a database that is really broken fails the crawl, and the server with it
        return True
    finally:
        engine.dispose()
    return any(
        name not in health or health[name].last_success_at is None or health[name].new_articles
        for name in source_names
    )


def _send(sender: Any, outcome: tuple[str, Any]) -> None:
    """Hand the outcome to ``run_crawl``; nobody is left to tell if it stopped waiting (Ctrl-C
    on a one-pass run interrupts it at once, while this process still winds down)."""
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        sender.send(outcome)
    with contextlib.suppress(OSError):
        sender.close()


def _portable(error: BaseException) -> BaseException | str:
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:
        return f"{type(error).__name__}: {error}\n{traceback.format_exc(limit=5)}"
    return error


def _crawl(sources_file: str, database_url: str, overrides: dict[str, Any]) -> CrawlReport:
    from scrapy.crawler import CrawlerProcess
    from scrapy.settings import Settings

    from crawler.spiders.feeds import FeedsSpider

    settings = Settings()
    settings.setmodule("crawler.settings", priority="project")
    settings.update(
        {"APTWATCH_SOURCES_FILE": sources_file, "APTWATCH_DATABASE_URL": database_url},
        priority="cmdline",
    )
    settings.update(overrides, priority="cmdline")
    settings.set(
        "EXTENSIONS",
        {**settings.getdict("EXTENSIONS"), "crawler.progress.ProgressExtension": 900},
        priority="cmdline",
    )
    started_at = datetime.now(UTC)
    process = CrawlerProcess(settings)
    for name in _DOWNLOAD_LOGGERS:
        logging.getLogger(name).addFilter(_without_download_tracebacks)
    crawler = process.create_crawler(FeedsSpider)
    failures: list[BaseException] = []
    deferred = process.crawl(crawler)
    deferred.addErrback(_collect_failure, failures)
    from twisted.internet import reactor

    stop_requested = threading.Event()
    # on the loop's first turn: the reactor's startup triggers run before its asyncio loop does
    reactor.callWhenRunning(reactor.callLater, 0, _stop_on_signals, process, stop_requested)
    # a stop that outlived its grace period leaves the pipelines open, and their workers with
    # them: run_crawl kills this process's whole group once it has the report
    process.start(install_signal_handlers=False)
    if failures:
        raise failures[0]
    spider = crawler.spider
    if not isinstance(spider, FeedsSpider):
        raise CrawlError("the crawl did not start")
    stats = crawler.stats.get_stats() if crawler.stats else {}
    stopped = stop_requested.is_set() or stats.get("finish_reason") == "shutdown"
    reports = tuple(
        SourceReport(
            name=result.name,
            entries=result.entries,
            fetched=result.fetched,
            new_articles=result.new_articles,
            attributions=result.attributions,
            errors=tuple(result.errors),
            kind=result.kind,
            updated_articles=result.updated_articles,
            interrupted=stopped and result.name not in spider.finished_sources,
            given_up=result.given_up,
        )
        for result in spider.source_results.values()
    )
    return CrawlReport(
        sources=reports,
        started_at=started_at,
        finished_at=datetime.now(UTC),
        finish_reason=str(stats.get("finish_reason", "")),
        stats={key: value for key, value in stats.items() if _plain(value)},
    )


def _stop_on_signals(process: Any, stop_requested: threading.Event) -> None:
    """The first SIGTERM or SIGINT stops the crawl: what is in flight gets
    ``STOP_GRACE_SECONDS`` to finish, then the reactor stops (a download can otherwise hold a
    graceful stop for DOWNLOAD_TIMEOUT); the report still goes out and names the sources that were
    not through. Later signals change nothing: Scrapy's own handlers would stop uncleanly at
    once on the second, and a stop often arrives twice (a service manager or Ctrl-C signals every
    process, and ``run_crawl`` passes the stop on as well). Every database write is one
    transaction, so whatever a stop cuts short is simply fetched again next time.

    Runs in the event loop (the asyncio reactor, crawler.settings), whose own signal handling
    wakes it at once; a plain ``signal.signal`` handler would wait for the loop's next timer.
    """
    from twisted.internet import reactor as installed_reactor

    reactor: Any = installed_reactor  # Twisted types the module, not the installed reactor
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        if stop_requested.is_set():
            return
        stop_requested.set()
        process.stop()
        reactor.callLater(STOP_GRACE_SECONDS, _stop_reactor)

    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(stop_signal, on_signal)


def _stop_reactor() -> None:
    from twisted.internet import reactor as installed_reactor

    reactor: Any = installed_reactor
    with contextlib.suppress(RuntimeError):  # already stopped
        reactor.stop()


STOP_GRACE_SECONDS = 10.0


def _without_download_tracebacks(record: logging.LogRecord) -> bool:
    """Network failures are expected on the open web and reported per source; their message already
    names the error, so the traceback is noise."""
    record.exc_info = None
    record.exc_text = None
    return True


# Logger filters see only their own logger's records, so each emitter of download errors is named.
# Logger filters see only their own logger's records, so each emitter of download errors is named.
_DOWNLOAD_LOGGERS = ("scrapy.downloadermiddlewares.robotstxt", "scrapy.downloadermiddlewares.retry")


def _collect_failure(failure: Any, failures: list[BaseException]) -> None:
    failures.append(failure.value)


def _plain(value: object) -> bool:
    return isinstance(value, int | float | str | bool | datetime)


def format_report(report: CrawlReport) -> str:
    """A per-source table (entries, fetched, new, attributions, status), then one line per error."""
    headers = ("source", "entries", "fetched", "new", "attributions", "status")
    rows = [
        (
            source.name,
            str(source.entries),
            str(source.fetched),
            str(source.new_articles),
            str(source.attributions),
            "FAILED"
            if source.failed
            else (f"{len(source.errors)} error(s)" if source.errors else source.status),
        )
        for source in report.sources
    ]
    totals = (
        "total",
        str(sum(s.entries for s in report.sources)),
        str(sum(s.fetched for s in report.sources)),
        str(report.new_articles),
        str(report.attributions),
        "ok" if report.ok else ("all failed" if report.all_failed else "errors"),
    )
    widths = [max(len(row[i]) for row in [headers, *rows, totals]) for i in range(len(headers))]

    def line(row: tuple[str, ...]) -> str:
        cells = [row[0].ljust(widths[0])]
        cells += [cell.rjust(width) for cell, width in zip(row[1:-1], widths[1:-1], strict=True)]
        cells.append(row[-1])
        return "  ".join(cells).rstrip()

    out = [line(headers), "  ".join("-" * width for width in widths), *map(line, rows)]
    out += ["  ".join("-" * width for width in widths), line(totals)]
    errors = [(source.name, error) for source in report.sources for error in source.errors]
    if errors:
        out.append("")
        out.append("errors:")
        out += [f"  {name}: {' '.join(error.split())}" for name, error in errors]
    return "\n".join(out)


def format_report_lines(report: CrawlReport) -> str:
    """One structured (logfmt) line per source, for logs of unattended runs."""
    lines = []
    for source in report.sources:
        fields = [
            f"source={_logfmt(source.name)}",
            f"status={source.status}",
            f"entries={source.entries}",
            f"fetched={source.fetched}",
            f"new={source.new_articles}",
            f"updated={source.updated_articles}",
            f"attributions={source.attributions}",
            f"errors={len(source.errors)}",
        ]
        if source.errors:
            fields.append(f"error={_logfmt(' '.join(source.errors[0].split()))}")
        lines.append(" ".join(fields))
    return "\n".join(lines)


def _logfmt(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
