"""Source health (what each crawl of a source gave) and crawl leases (one crawl per source at once).

Both are written with single atomic statements (upserts, conditional UPDATEs), so they stay
correct with several processes or machines sharing one PostgreSQL database.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import case, delete, select, update
from sqlalchemy.orm import Session

from storage import clock
from storage.errors import StorageError
from storage.models import SHORT, CrawlLease, OperatorDelivery, SourceHealthRow, SourceRun
from storage.records import OperatorDeliveryRecord, SourceHealth, SourceRunRecord
from storage.upsert import upsert_delivery, upsert_insert

RUNS_KEPT_PER_SOURCE = 100
MAX_ERROR_CHARS = 2000
MAX_LEASE_SECONDS = 7 * 24 * 3600


def _require_name(name: str, what: str) -> str:
    if name is None or not name.strip():
        raise StorageError(f"{what} is empty")
    if len(name) > SHORT:
        raise StorageError(f"{what} is {len(name)} characters long; the limit is {SHORT}")
    return name


def _utc(value: datetime, what: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise StorageError(f"{what} {value.isoformat()} has no time zone; give a tz-aware datetime")
    return value


def _count(value: int, what: str) -> int:
    if value < 0:
        raise StorageError(f"{what} must be zero or more, got {value}")
    return value


# --- source health ------------------------------------------------------------------------------


def _health(row: SourceHealthRow) -> SourceHealth:
    return SourceHealth(
        name=row.name,
        runs=row.runs,
        last_run_at=row.last_run_at,
        last_success_at=row.last_success_at,
        last_error=row.last_error,
        last_error_at=row.last_error_at,
        entries_seen=row.entries_seen,
        new_articles=row.new_articles,
        total_new_articles=row.total_new_articles,
        consecutive_failures=row.consecutive_failures,
        operator_alerted_at=row.operator_alerted_at,
        operator_alerted_failures=row.operator_alerted_failures,
        failure_streak=row.failure_streak,
    )


def _health_row(session: Session, name: str) -> SourceHealthRow | None:
    return session.scalars(
        select(SourceHealthRow)
        .where(SourceHealthRow.name == name)
        .execution_options(populate_existing=True)
    ).one_or_none()


def record_source_run(
    session: Session,
    name: str,
    *,
    started_at: datetime,
    finished_at: datetime,
    ok: bool,
    error: str | None,
    entries: int,
    new_articles: int,
) -> SourceHealth:
    """Record one crawl of source ``name`` and return its updated health.

    A success resets the failure streak (and with it the operator-alert mark); a failure counts
    one more consecutive failure and keeps ``error`` (one line, capped) as the last error; the
    first failure after a success starts a new streak (``failure_streak`` one more).
    """
    _require_name(name, "source name")
    _utc(started_at, f"start time of the run of {name!r}")
    _utc(finished_at, f"finish time of the run of {name!r}")
    if finished_at < started_at:
        raise StorageError(
            f"run of {name!r} finished ({finished_at.isoformat()}) before it started "
            f"({started_at.isoformat()})"
        )
    _count(entries, f"entries of the run of {name!r}")
    _count(new_articles, f"new articles of the run of {name!r}")
    message = None
    if not ok:
        message = " ".join((error or "").split())[:MAX_ERROR_CHARS] or "failed without a message"

    session.execute(
        upsert_insert(session)(SourceHealthRow)
        .values(
            name=name,
            runs=0,
            entries_seen=0,
            new_articles=0,
            total_new_articles=0,
            consecutive_failures=0,
            failure_streak=0,
        )
        .on_conflict_do_nothing(index_elements=[SourceHealthRow.name])
    )
    # One UPDATE computed from the stored values: two recorders cannot lose a count.
    failures = 0 if ok else SourceHealthRow.consecutive_failures + 1
    values: dict[str, object] = {
        "runs": SourceHealthRow.runs + 1,
        "last_run_at": finished_at,
        "entries_seen": entries,
        "new_articles": new_articles,
        "total_new_articles": SourceHealthRow.total_new_articles + new_articles,
        "consecutive_failures": failures,
    }
    if ok:
        values.update(last_success_at=finished_at, operator_alerted_at=None)
        values["operator_alerted_failures"] = None
    else:
        values.update(last_error=message, last_error_at=finished_at)
        values["failure_streak"] = case(
            (SourceHealthRow.consecutive_failures == 0, SourceHealthRow.failure_streak + 1),
            else_=SourceHealthRow.failure_streak,
        )
    session.execute(
        update(SourceHealthRow)
        .where(SourceHealthRow.name == name)
        .values(values)
        .execution_options(synchronize_session=False)
    )
    session.add(
        SourceRun(
            source_name=name,
            started_at=started_at,
            finished_at=finished_at,
            ok=ok,
            error=message,
            entries=entries,
            new_articles=new_articles,
        )
    )
    session.flush()
    _prune_runs(session, name)
    row = _health_row(session, name)
    assert row is not None  # upserted above, in this transaction
    return _health(row)


def _prune_runs(session: Session, name: str) -> None:
    """Keep the newest :data:`RUNS_KEPT_PER_SOURCE` runs: months of runs would only grow."""
    cutoff = session.scalars(
        select(SourceRun.id)
        .where(SourceRun.source_name == name)
        .order_by(SourceRun.started_at.desc(), SourceRun.id.desc())
        .offset(RUNS_KEPT_PER_SOURCE)
        .limit(1)
    ).first()
    if cutoff is None:
        return
    cutoff_started = session.scalars(
        select(SourceRun.started_at).where(SourceRun.id == cutoff)
    ).one()
    session.execute(
        delete(SourceRun).where(
            SourceRun.source_name == name,
            (SourceRun.started_at < cutoff_started)
            | ((SourceRun.started_at == cutoff_started) & (SourceRun.id <= cutoff)),
        )
    )


def source_health(session: Session) -> list[SourceHealth]:
    """Every source that has run, by name."""
    rows = session.scalars(select(SourceHealthRow).order_by(SourceHealthRow.name))
    return [_health(row) for row in rows]


def get_source_health(session: Session, name: str) -> SourceHealth | None:
    row = _health_row(session, name)
    return None if row is None else _health(row)


def source_runs(session: Session, name: str, limit: int = 20) -> list[SourceRunRecord]:
    """The newest ``limit`` runs of source ``name``, newest first."""
    _count(limit, "limit")
    rows = session.scalars(
        select(SourceRun)
        .where(SourceRun.source_name == name)
        .order_by(SourceRun.started_at.desc(), SourceRun.id.desc())
        .limit(limit)
    )
    return [
        SourceRunRecord(
            source_name=row.source_name,
            started_at=row.started_at,
            finished_at=row.finished_at,
            ok=row.ok,
            error=row.error,
            entries=row.entries,
            new_articles=row.new_articles,
        )
        for row in rows
    ]


def sources_needing_operator_alert(session: Session, threshold: int) -> list[SourceHealth]:
    """Sources failing ``threshold`` runs in a row or more whose operator was not told yet."""
    if threshold < 1:
        raise StorageError(f"operator alert threshold must be at least 1, got {threshold}")
    rows = session.scalars(
        select(SourceHealthRow)
        .where(
            SourceHealthRow.consecutive_failures >= threshold,
            SourceHealthRow.operator_alerted_at.is_(None),
        )
        .order_by(SourceHealthRow.name)
    )
    return [_health(row) for row in rows]


def operator_claims_older_than(session: Session, age: timedelta) -> list[SourceHealth]:
    """Sources still failing whose operator message was claimed more than ``age`` ago: done, or
    claimed by an aptwatch that died before it could send (the caller tells which)."""
    cutoff = clock.utcnow() - age
    rows = session.scalars(
        select(SourceHealthRow)
        .where(
            SourceHealthRow.consecutive_failures > 0,
            SourceHealthRow.operator_alerted_at < cutoff,
        )
        .order_by(SourceHealthRow.name)
    )
    return [_health(row) for row in rows]


def mark_operator_alerted(session: Session, name: str, failures: int) -> bool:
    """Claim the operator message about source ``name`` failing ``failures`` times in a row.

    Returns False -- and changes nothing -- when this streak's message was already claimed or is
    done, or the streak has ended (a success reset it, or it is shorter than ``failures``), so the
    caller that gets True is the one that should send; a repeat or a late caller does not send
    again. Commit before sending; once every operator channel has the message the claim stays,
    otherwise :func:`unmark_operator_alerted` gives it up.
    """
    _require_name(name, "source name")
    if failures < 1:
        raise StorageError(f"failures must be at least 1, got {failures}")
    if _health_row(session, name) is None:
        raise StorageError(f"no runs recorded for source {name!r}")
    result = session.execute(
        update(SourceHealthRow)
        .where(
            SourceHealthRow.name == name,
            SourceHealthRow.operator_alerted_at.is_(None),
            SourceHealthRow.consecutive_failures >= failures,
        )
        .values(operator_alerted_at=clock.utcnow(), operator_alerted_failures=failures)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


def unmark_operator_alerted(session: Session, name: str, failure_streak: int) -> None:
    """Undo :func:`mark_operator_alerted` when an operator channel does not have the message of
    streak ``failure_streak`` yet, so that the next caller of
    :func:`sources_needing_operator_alert` sends it to that channel. A streak that has ended
    meanwhile is left alone: the claim on the source may be a new streak's."""
    _require_name(name, "source name")
    session.execute(
        update(SourceHealthRow)
        .where(SourceHealthRow.name == name, SourceHealthRow.failure_streak == failure_streak)
        .values(operator_alerted_at=None, operator_alerted_failures=None)
        .execution_options(synchronize_session=False)
    )


def operator_successful_channels(session: Session, name: str, failure_streak: int) -> set[str]:
    """Operator channels that took the message about streak ``failure_streak`` of source
    ``name``; they must not be sent it again."""
    query = select(OperatorDelivery.channel).where(
        OperatorDelivery.source_name == name,
        OperatorDelivery.failure_streak == failure_streak,
        OperatorDelivery.status == "sent",
    )
    return set(session.scalars(query))


def record_operator_delivery(
    session: Session,
    name: str,
    failure_streak: int,
    channel: str,
    channel_label: str,
    ok: bool,
    error: str | None,
) -> OperatorDeliveryRecord:
    """Record one attempt to send an operator channel the message about streak
    ``failure_streak`` of source ``name``, as :func:`storage.repository.record_delivery` does for
    alerts (attempts count up; 'sent' stays 'sent'). The records of the source's earlier streaks
    go: they can no longer change what is sent."""
    _require_name(name, "source name")
    _require_name(channel, "operator channel")
    _count(failure_streak, "failure streak")
    session.execute(
        delete(OperatorDelivery).where(
            OperatorDelivery.source_name == name, OperatorDelivery.failure_streak < failure_streak
        )
    )
    row = upsert_delivery(
        session,
        OperatorDelivery,
        {"source_name": name, "failure_streak": failure_streak},
        channel,
        channel_label,
        ok,
        error,
    )
    return OperatorDeliveryRecord(
        source_name=row.source_name,
        failure_streak=row.failure_streak,
        channel=row.channel,
        channel_label=row.channel_label,
        status=row.status,
        attempts=row.attempts,
        last_error=row.last_error,
    )


# --- crawl leases -------------------------------------------------------------------------------


def acquire_crawl_lease(
    session: Session, source_name: str, holder: str, ttl_seconds: float
) -> bool:
    """Take (or renew) the right to crawl ``source_name`` for ``ttl_seconds``.

    True when ``holder`` now holds the lease: it was free, expired, or already ``holder``'s.
    One atomic upsert, so of two competitors exactly one wins, on SQLite and on PostgreSQL. Commit
    right after: the lease only protects once others can see it. Holders on several machines
    compare expiry times from their own clocks, so keep the TTL well above any clock skew.
    """
    _require_name(source_name, "source name")
    _require_name(holder, "lease holder")
    if not 0 < ttl_seconds <= MAX_LEASE_SECONDS:
        raise StorageError(
            f"lease TTL must be more than 0 and at most {MAX_LEASE_SECONDS} seconds, "
            f"got {ttl_seconds}"
        )
    now = clock.utcnow()
    expires_at = now + timedelta(seconds=ttl_seconds)
    statement = upsert_insert(session)(CrawlLease).values(
        source_name=source_name, holder=holder, acquired_at=now, expires_at=expires_at
    )
    excluded = statement.excluded
    statement = statement.on_conflict_do_update(
        index_elements=[CrawlLease.source_name],
        set_={
            "holder": excluded.holder,
            # a renewal keeps the original acquisition time
            "acquired_at": case(
                (CrawlLease.holder == excluded.holder, CrawlLease.acquired_at),
                else_=excluded.acquired_at,
            ),
            "expires_at": excluded.expires_at,
        },
        where=(CrawlLease.holder == holder) | (CrawlLease.expires_at <= now),
    ).returning(CrawlLease.holder)
    won = session.execute(statement).first()
    return won is not None and won.holder == holder


def release_crawl_lease(session: Session, source_name: str, holder: str) -> bool:
    """Give the lease back; False if ``holder`` did not hold it (expired and taken over)."""
    _require_name(source_name, "source name")
    _require_name(holder, "lease holder")
    result = session.execute(
        delete(CrawlLease)
        .where(CrawlLease.source_name == source_name, CrawlLease.holder == holder)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


def crawl_lease_holder(session: Session, source_name: str) -> str | None:
    """Who holds an unexpired lease on ``source_name``, if anyone."""
    return session.scalars(
        select(CrawlLease.holder).where(
            CrawlLease.source_name == source_name, CrawlLease.expires_at > clock.utcnow()
        )
    ).first()
