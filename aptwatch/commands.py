"""The plain functions behind every CLI command; tests call these directly."""

from __future__ import annotations

import io
import json
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from aptwatch.config import (
    Config,
    env_log_level,
    env_max_response_bytes,
    env_recheck_after,
    env_seconds,
)
from aptwatch.errors import InputError
from aptwatch.health import failure_alert_threshold, record_crawl_health

if TYPE_CHECKING:
    from spacy.language import Language
    from sqlalchemy.orm import Session, sessionmaker

    from alerts.dispatch import DispatchReport
    from crawler.run import CrawlReport

DEMO_SITE = Path(__file__).resolve().parent / "data" / "demo_site"


def upgrade_database(config: Config) -> None:
    from storage import upgrade_database as upgrade

    upgrade(config.database_url)


@contextmanager
def open_sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    from storage import make_engine, make_session_factory

    engine = make_engine(database_url)
    try:
        yield make_session_factory(engine)
    finally:
        engine.dispose()


@contextmanager
def held_leases(
    sessions: sessionmaker[Session], names: Sequence[str], ttl: float, out: TextIO
) -> Iterator[list[str]]:
    """Take the lease of each of ``names`` that no other aptwatch holds (those are named on
    ``out``); yields the names taken, renews their leases every fifth of ``ttl`` while held and
    gives them back at the end. Renewed rather than long: the leases of an aptwatch that was
    killed outright block the others for ``ttl`` at most."""
    from aptwatch.scheduler import lease_holder
    from storage import acquire_crawl_lease, release_crawl_lease

    holder = lease_holder()
    with sessions() as session:
        mine = [name for name in names if acquire_crawl_lease(session, name, holder, ttl)]
        session.commit()
    busy = [name for name in names if name not in mine]
    if busy:
        print(f"aptwatch: skipped (crawled elsewhere right now): {', '.join(busy)}", file=out)
    released = threading.Event()

    def renew() -> None:
        while not released.wait(ttl / 5):
            try:
                with sessions() as session:
                    for name in mine:
                        acquire_crawl_lease(session, name, holder, ttl)
                    session.commit()
            except Exception as error:  # the database is away for now: the next turn tries again
                print(f"aptwatch: could not renew a lease ({type(error).__name__})", file=out)

    renewer = threading.Thread(target=renew, name="aptwatch-leases", daemon=True)
    if mine:
        renewer.start()
    try:
        yield mine
    finally:
        released.set()
        if mine:
            renewer.join()
            with sessions() as session:
                for name in mine:
                    release_crawl_lease(session, name, holder)
                session.commit()


def crawl(
    config: Config,
    out: TextIO,
    *,
    crawl_settings: dict[str, Any] | None = None,
    only: Sequence[str] | None = None,
    cancel: threading.Event | None = None,
) -> CrawlReport:
    """Upgrade the schema, then crawl every enabled source (or those in ``only``) once.

    A source the crawl had not finished when it outlived APTWATCH_CRAWL_TIMEOUT failed; a crawl
    that fails as a whole (its process died, or did not stop at that limit) counts as a failure
    of each of its sources, so a source that hangs every crawl still reaches the operator.
    """
    from crawler.run import CrawlError, CrawlReport, SourceReport, run_crawl
    from crawler.sources import load_sources

    sources_file = config.require_sources_file()
    # a bad sources file fails here, before anything is fetched (or a database folder is made)
    enabled = [source.name for source in load_sources(sources_file) if source.enabled]
    check_run_settings(config)
    upgrade_database(config)
    # The per-source summary says what went wrong; Scrapy's INFO chatter is opt-in.
    settings = {
        "LOG_LEVEL": env_log_level(),
        "APTWATCH_PROGRESS": sys.stderr.isatty(),
        "APTWATCH_NLP_KB_PATH": str(config.kb_path) if config.kb_path else None,
        "APTWATCH_RECHECK_AFTER": env_recheck_after(),
        **(crawl_settings or {}),
    }
    names = [name for name in enabled if only is None or name in only]
    # A source another aptwatch is crawling (a scheduler, a cron run still going) is left to it.
    with (
        open_sessions(config.database_url) as sessions,
        held_leases(sessions, names, LEASE_TTL, out) as mine,
    ):
        if not mine:
            return CrawlReport()
        try:
            report = run_crawl(
                sources_file,
                config.database_url,
                settings=settings,
                only=mine,
                cancel=cancel,
                timeout=crawl_timeout(),
            )
        except CrawlError as error:
            if cancel is not None and cancel.is_set():
                raise  # stopped by the operator: says nothing of the sources
            # recorded and reported like any failed source: not an error of the run, whose
            # other stages (the alerts of what was stored) still have their work to do
            report = CrawlReport(tuple(SourceReport(name, errors=(str(error),)) for name in mine))
    record_crawl_health(config, report, out)
    return report


def check_run_settings(config: Config) -> None:
    """The settings a crawl reads, checked before it starts rather than at its end (or, for `run
    --forever`, at the end of every cycle, where a mistake would be retried for ever)."""
    from storage import make_engine

    crawl_timeout()
    env_recheck_after()
    env_max_response_bytes()
    failure_alert_threshold()
    env_log_level()
    make_engine(config.database_url).dispose()  # a malformed URL or a missing driver; no connection


def check_alert_settings(config: Config) -> None:
    """The Apprise file a run delivers through: there, and readable as channels, before a crawl
    that would otherwise end in a mistake only the operator can fix."""
    from alerts.channels import load_channels

    apprise_config = config.require_apprise_config()
    if apprise_config is not None:
        load_channels(apprise_config)


def crawl_timeout() -> float:
    """APTWATCH_CRAWL_TIMEOUT: starting the crawl process alone takes a second or two, so a
    shorter limit could only ever kill it."""
    return env_seconds("APTWATCH_CRAWL_TIMEOUT", DEFAULT_CRAWL_TIMEOUT, minimum=MIN_CRAWL_TIMEOUT)


def print_report(report: CrawlReport, out: TextIO, *, table: bool | None = None) -> None:
    """A table for a person at a terminal; one structured line per source for logs."""
    from crawler.run import format_report, format_report_lines

    as_table = out.isatty() if table is None else table
    print(format_report(report) if as_table else format_report_lines(report), file=out)


# Two dispatchers at once (a scheduler and a manual `alerts send`) could both read an alert as
# undelivered and send it twice; one lease in the database lets only one of them send. The
# scheduler's own cycles share one lease holder, so they take turns on a lock as well: a cycle
# that finds another sending waits and then sends what its own crawl stored.
DISPATCH_LEASE = "aptwatch:alert-dispatch"
DISPATCH_LEASE_TTL = 300.0
_DISPATCHING_HERE = threading.Lock()


def send_alerts(config: Config, out: TextIO) -> DispatchReport:
    from alerts.dispatch import DispatchReport, dispatch
    from storage import database_missing

    apprise_config = config.require_apprise_config()
    if database_missing(config.database_url):
        # nothing was ever stored there, so nothing to send: no empty database left behind; a
        # broken channel file is still said, as it would be with a database
        check_alert_settings(config)
        print(f"{no_database_yet(config)}: no alert to send", file=out)
        return DispatchReport()
    upgrade_database(config)
    with (
        _DISPATCHING_HERE,
        open_sessions(config.database_url) as sessions,
        held_leases(sessions, [DISPATCH_LEASE], DISPATCH_LEASE_TTL, io.StringIO()) as mine,
    ):
        if not mine:
            print("aptwatch: another aptwatch is sending alerts right now; left to it", file=out)
            return DispatchReport()
        return dispatch(sessions, apprise_config, out=out)


@dataclass(frozen=True)
class RunOutcome:
    crawl: CrawlReport
    alerts: DispatchReport

    @property
    def exit_code(self) -> int:
        # Partial source failures are normal on the open web and shown in the summary; a run in
        # which nothing could be crawled, or an alert could not be delivered, needs the operator.
        return 1 if self.crawl.all_failed or self.alerts.failed else 0


def run_once(
    config: Config,
    out: TextIO,
    *,
    crawl_settings: dict[str, Any] | None = None,
    table: bool | None = None,
) -> RunOutcome:
    """One pass: crawl every source, store what was found, send the alerts."""
    check_alert_settings(config)  # fail on a bad channel file before a long crawl
    report = crawl(config, out, crawl_settings=crawl_settings)
    print_report(report, out, table=table)
    alerts = send_alerts(config, out)
    print(f"alerts: {alerts.sent} sent, {alerts.failed} failed", file=out)
    return RunOutcome(report, alerts)


DEFAULT_CRAWL_TIMEOUT = 3600.0
MIN_CRAWL_TIMEOUT = 1.0
# Renewed while the crawl runs (held_leases), however long APTWATCH_CRAWL_TIMEOUT lets it take.
LEASE_TTL = 300.0


def crawl_and_alert(
    config: Config, names: Sequence[str], out: TextIO, stop: threading.Event
) -> RunOutcome | None:
    """One scheduler cycle: crawl the due sources, then deliver what they produced.

    A source whose lease another aptwatch holds (a second scheduler, a manual run) is skipped.
    No progress line: cycles run side by side, and their lines would overwrite each other.
    """
    report = crawl(
        config, out, crawl_settings={"APTWATCH_PROGRESS": False}, only=names, cancel=stop
    )
    if not report.sources:
        return None
    print_report(report, out)
    alerts = send_alerts(config, out)
    print(f"alerts: {alerts.sent} sent, {alerts.failed} failed", file=out)
    return RunOutcome(report, alerts)


def run_demo(out: TextIO, *, work_dir: Path | None = None) -> RunOutcome:
    """Serve the bundled sample site on 127.0.0.1 and run the whole pipeline against it offline."""
    from aptwatch.localsite import serve

    own_dir = work_dir is None
    base = Path(tempfile.mkdtemp(prefix="aptwatch-demo-")) if work_dir is None else work_dir
    try:
        with serve(DEMO_SITE) as site:
            sources_file = base / "sources.yaml"
            template = (DEMO_SITE / "sources.yaml").read_text(encoding="utf-8")
            sources_file.write_text(template.replace("__BASE_URL__", site.base_url), "utf-8")
            config = Config(
                database_url=f"sqlite:///{base / 'demo.db'}",
                sources_file=sources_file,
                apprise_config=None,
                data_dir=base,
            )
            print(f"demo: serving the bundled sample site at {site.base_url}", file=out)
            # The demo's only site is on loopback, so there is nothing to be polite to.
            return run_once(config, out, crawl_settings={"AUTOTHROTTLE_ENABLED": False}, table=True)
    finally:
        if own_dir:
            shutil.rmtree(base, ignore_errors=True)


def check_sources(config: Config) -> list[str]:
    """`aptwatch sources check`: validate the sources file without crawling."""
    from crawler.sources import check_sources as check

    return check(config.require_sources_file())


def no_database_yet(config: Config) -> str:
    from storage import mask_url

    return f"aptwatch: no database yet at {mask_url(config.database_url)}"


def source_status(config: Config) -> str:
    """`aptwatch sources status`: last success, last error, entries, new articles, failures."""
    from aptwatch.health import format_source_status
    from crawler.sources import load_sources
    from storage import database_missing, source_health

    configured = [source.name for source in load_sources(config.require_sources_file())]
    if database_missing(config.database_url):
        # read only: no empty database (and folder) left behind wherever the URL points
        never_run = format_source_status([], configured)
        return f"{never_run}\n{no_database_yet(config)}: nothing crawled yet"
    upgrade_database(config)
    with open_sessions(config.database_url) as sessions, sessions() as session:
        healths = source_health(session)
    return format_source_status(healths, configured)


def default_shared_dir() -> Path:
    return Path(os.environ.get("APTWATCH_SHARED_DIR", "../shared"))


def evaluate_accuracy(
    shared_dir: Path, out: TextIO, *, errors: bool = False, kb_path: Path | None = None
) -> bool:
    """`aptwatch eval`: the table, then the same report as one JSON line; True = targets met."""
    from nlp.evaluation import evaluate

    if not shared_dir.is_dir():
        raise InputError(f"shared data folder not found: {shared_dir}")
    report = evaluate(shared_dir, kb_path=kb_path, collect_errors=errors)
    print(report.format_table(), file=out)
    if errors:
        print(f"\nErrors ({len(report.errors)}):", file=out)
        print(report.format_errors(), file=out)
    print(json.dumps(report.to_json(), ensure_ascii=False), file=out)
    return report.all_targets_met


def group_records(config: Config) -> list[dict[str, Any]]:
    from nlp.kb import load_groups

    return [
        {
            "id": group.id,
            "name": group.name,
            "aliases": list(group.aliases),
            "country": group.country,
            "mitre_id": group.mitre_id,
        }
        for group in load_groups(config.kb_path)
    ]


def describe_group(config: Config, name: str, *, as_json: bool = False) -> str:
    """`aptwatch groups show NAME`: every name of the group, who coined it, country, ATT&CK link."""
    from nlp.describe import describe_group as describe
    from nlp.describe import format_group_description
    from nlp.kb import KnowledgeBase

    description = describe(name, KnowledgeBase.load(config.kb_path))
    if as_json:
        return json.dumps(description.to_json(), ensure_ascii=False, indent=1)
    return format_group_description(description)


def update_groups(config: Config, source: str | None = None) -> str:
    """`aptwatch groups update`: rebuild the knowledge base from MITRE ATT&CK, MISP and Microsoft.

    ``source`` None downloads from the official public locations; a URL names a mirror; a folder is
    read as it is (laid out like ../shared/data/kb). The result goes to the data folder, atomically.
    """
    from nlp.updater import KbSources, update_knowledge_base

    if source is not None and not source.strip():
        # Path("") is the current folder: an empty option must not quietly mean "here".
        raise InputError(
            "--from is empty; give a mirror URL or a local folder, "
            "or leave it out for the official files"
        )
    target = config.updated_kb_path
    target.parent.mkdir(parents=True, exist_ok=True)
    if source is None:
        report = update_knowledge_base(target)
    elif source.startswith(("http://", "https://")):
        mirror = KbSources.mirror(source, allow_http=source.startswith("http://"))
        report = update_knowledge_base(target, sources=mirror)
    else:
        folder = Path(source)
        if not folder.is_dir():
            raise InputError(f"not a folder or an http(s) URL: {source}")
        report = update_knowledge_base(target, fetch_root=folder)
    return report.summary()


def _not_json(constant: str) -> Any:
    # Python's json reads NaN and Infinity, which JSON does not have; echoed back in the "id",
    # they would make the output unreadable to every other JSON reader.
    raise ValueError(f"{constant} is not a JSON value")


def read_jsonl_records(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line, parse_constant=_not_json)
        except json.JSONDecodeError as error:
            raise InputError(f"line {number}: not valid JSON ({error.msg})") from None
        except ValueError as error:
            raise InputError(f"line {number}: not valid JSON ({error})") from None
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            raise InputError(f"line {number}: expected a JSON object with a string 'text'")
        title = record.get("title")
        if title is not None and not isinstance(title, str):
            raise InputError(f"line {number}: 'title' must be a string")
        yield record


def analyze_jsonl(
    lines: Iterable[str],
    out: TextIO,
    pipeline: Language | None = None,
    *,
    kb_path: Path | None = None,
) -> int:
    """The `aptwatch analyze` contract: one JSON line out per JSON line in."""
    from nlp import analyze, build_pipeline

    nlp = pipeline or build_pipeline(kb_path)
    count = 0
    for record in read_jsonl_records(lines):
        result = analyze(nlp, record["text"], title=record.get("title"))
        output = {
            "id": record.get("id"),
            "mentions": [mention.to_json() for mention in result.mentions],
            "attributions": [attribution.to_json() for attribution in result.attributions],
        }
        out.write(json.dumps(output, ensure_ascii=False) + "\n")
        count += 1
    return count


def open_input(path: str) -> TextIO:
    if path == "-":
        return sys.stdin
    return open(path, encoding="utf-8")


def extract_files(paths: Iterable[Path], out: TextIO) -> int:
    """The `aptwatch extract` contract: one JSON line per .html / .html.gz file."""
    from crawler.extraction import extract_file

    count = 0
    for path in paths:
        if not path.name.endswith((".html", ".htm", ".html.gz", ".htm.gz")):
            raise InputError(f"not an .html or .html.gz file: {path}")
        out.write(json.dumps(extract_file(path), ensure_ascii=False) + "\n")
        count += 1
    return count
