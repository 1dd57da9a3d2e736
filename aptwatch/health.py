"""Source health: remember how every crawl of every source went, and tell the operator when one
keeps failing (once per failure streak, through the Apprise channels tagged `operator`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, TextIO

from aptwatch.config import Config, env_count

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from crawler.run import CrawlReport
    from storage.records import SourceHealth

DEFAULT_FAILURE_ALERT_AFTER = 3


def failure_alert_threshold(environ: dict[str, str] | None = None) -> int:
    return env_count("APTWATCH_FAILURE_ALERT_AFTER", DEFAULT_FAILURE_ALERT_AFTER, environ)


# Longer than a send to every operator channel can take (Apprise gives each one its timeout):
# a claim older than this that some operator channel still lacks belongs to an aptwatch that
# died (SIGKILL, OOM, power cut) between claiming the message and sending it.
OPERATOR_CLAIM_TTL = timedelta(minutes=10)


def _release_abandoned_claims(config: Config, session: Session) -> None:
    """Release the claims of dead aptwatches, so this recording sends their messages to the
    operator channels that lack them: the message of that failure streak was lost otherwise."""
    from alerts.channels import AlertConfigError, load_channels, operator_channels
    from storage import (
        operator_claims_older_than,
        operator_successful_channels,
        unmark_operator_alerted,
    )

    if config.apprise_config is None:
        return  # the terminal was told when the claim was made, or no one could be
    claims = operator_claims_older_than(session, OPERATOR_CLAIM_TTL)
    if not claims:
        return
    try:
        channels = operator_channels(load_channels(config.apprise_config))
    except AlertConfigError:
        return  # an edit in progress; the claims are looked at again next time
    wanted = {channel.key for channel in channels}
    for health in claims:
        done = operator_successful_channels(session, health.name, health.failure_streak)
        if wanted - done:
            unmark_operator_alerted(session, health.name, health.failure_streak)
    session.commit()


def record_crawl_health(config: Config, report: CrawlReport, out: TextIO) -> list[str]:
    """Store one run per source; alert the operator about sources failing too often in a row.

    Each operator channel gets one message per failure streak: one that failed gets it at the
    next recording, until it takes it. Returns the names of the sources some operator channel
    (or, without one, the terminal) was told about in this call.
    """
    from alerts.dispatch import send_operator_message
    from aptwatch.commands import open_sessions
    from storage import (
        mark_operator_alerted,
        record_source_run,
        sources_needing_operator_alert,
        unmark_operator_alerted,
    )

    threshold = failure_alert_threshold()
    finished = report.finished_at or datetime.now(UTC)
    started = report.started_at or finished
    with open_sessions(config.database_url) as sessions:
        with sessions() as session:
            for source in report.sources:
                if source.interrupted:
                    continue  # stopped before it was through: neither a success nor a failure
                record_source_run(
                    session,
                    source.name,
                    started_at=started,
                    finished_at=finished,
                    ok=not source.failed,
                    error=source.errors[0] if source.errors else None,
                    entries=source.entries,
                    new_articles=source.new_articles,
                )
            session.commit()
            _release_abandoned_claims(config, session)
            failing = sources_needing_operator_alert(session, threshold)
            # Claimed (and committed) before sending: a second scheduler never repeats the message.
            claimed = [h for h in failing if mark_operator_alerted(session, h.name, threshold)]
            session.commit()
        told: list[str] = []
        complete: list[str] = []
        try:
            for health in claimed:
                title = (
                    f"aptwatch: source '{health.name}' failed {health.consecutive_failures} times"
                    " in a row"
                )
                body = operator_body(health)
                sent = send_operator_message(
                    sessions, config.apprise_config, health.name, health.failure_streak, title, body
                )
                if sent.failed or not sent.channels:
                    # no operator channel, or one failed: the terminal still hears about it
                    print(f"{title}\n{body}", file=out)
                if sent.sent or not sent.channels:
                    told.append(health.name)
                if sent.complete or not sent.channels:
                    complete.append(health.name)
        finally:
            # An operator channel does not have it yet (down, or the Apprise file broken by an
            # edit): claimed again by the next recording, which sends it to that channel only.
            unfinished = [health for health in claimed if health.name not in complete]
            if unfinished:
                with sessions() as session:
                    for health in unfinished:
                        unmark_operator_alerted(session, health.name, health.failure_streak)
                    session.commit()
    return told


def operator_body(health: SourceHealth) -> str:
    last_success = _when(health.last_success_at) if health.last_success_at else "never"
    return (
        f"Last error ({_when(health.last_error_at)}): {health.last_error or 'unknown'}\n"
        f"Last success: {last_success}\n"
        "Check the source's URL and selectors with `aptwatch sources check`; "
        "`aptwatch sources status` shows every source."
    )


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if moment else "-"


def format_source_status(healths: Sequence[SourceHealth], configured: Sequence[str]) -> str:
    """`aptwatch sources status`: one row per source, configured sources that never ran included."""
    by_name = {health.name: health for health in healths}
    headers = ("source", "last success", "last error", "entries", "new", "failures")
    rows: list[tuple[str, ...]] = []
    for name in list(configured) + sorted(set(by_name) - set(configured)):
        health = by_name.get(name)
        if health is None:
            rows.append((name, "never run", "-", "-", "-", "-"))
            continue
        error = "-"
        if health.last_error:
            error = f"{_when(health.last_error_at)} {health.last_error}"
            error = error if len(error) <= 70 else error[:69] + "…"
        rows.append(
            (
                # still in the database, no longer crawled: its failures are history
                name if name in configured else f"{name} (removed)",
                _when(health.last_success_at) if health.last_success_at else "never",
                error,
                str(health.entries_seen),
                str(health.new_articles),
                str(health.consecutive_failures),
            )
        )
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in [headers, *rows]
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(line.rstrip() for line in lines)
