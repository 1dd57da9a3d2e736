"""Deliver every undelivered alert once to each channel routed to it, remembering it all in the DB.

Exactly-once per (alert, channel) across runs and restarts: before sending, the channels that
already succeeded are read from the database; after each send the attempt is recorded in its own
committed transaction, so a crash loses at most the record of the one message in flight. A failed
channel is retried on the next dispatch; an alert is marked done once every routed channel has it.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from sqlalchemy.orm import Session

from alerts.channels import (
    AlertConfigError,
    Channel,
    attribution_channels,
    load_channels,
    operator_channels,
)
from alerts.render import (
    FORMATS,
    AlertRenderError,
    break_mentions_and_tags,
    one_line,
    render_alert,
    render_digest,
)
from storage.health import operator_successful_channels, record_operator_delivery
from storage.records import PendingAlert
from storage.repository import (
    mark_alert_done,
    record_delivery,
    successful_channels,
    undelivered_alerts,
)

TERMINAL_CHANNEL = "terminal"
# More pending alerts than this for one channel in one run are sent as digests, so a first crawl of
# a busy feed does not flood the SOC channel with dozens of separate messages.
DEFAULT_DIGEST_THRESHOLD = 10
MAX_ALERTS_PER_DIGEST = 25
# A dead channel is given up for the rest of the run after this many failures in a row; the pending
# alerts stay undelivered for it and are retried on the next dispatch.
MAX_CONSECUTIVE_FAILURES = 3
MAX_OPERATOR_BODY_CHARS = 4000

logger = logging.getLogger(__name__)

SessionFactory = Callable[[], Session]


@dataclass(frozen=True)
class DispatchReport:
    """Counts are (alert, channel) deliveries, not messages: a digest delivers several at once.

    ``skipped`` are deliveries not attempted this run because their channel kept failing; they are
    retried next time. ``channels`` are the privacy-safe labels of the channels routed to.
    """

    sent: int = 0
    failed: int = 0
    skipped: int = 0
    channels: tuple[str, ...] = ()


@dataclass
class _Tally:
    sent: int = 0
    failed: int = 0
    skipped: int = 0


def _check_options(fmt: str | None, digest_threshold: int | None) -> None:
    if fmt is not None and fmt not in FORMATS:
        raise AlertRenderError(
            f"unknown alert format {fmt!r}: expected one of {', '.join(FORMATS)}"
        )
    if digest_threshold is not None and digest_threshold < 1:
        raise AlertConfigError(f"digest threshold must be at least 1, got {digest_threshold}")


def _pending_by_channel(
    session_factory: SessionFactory, channel_keys: Sequence[str]
) -> tuple[list[PendingAlert], dict[str, list[PendingAlert]]]:
    with session_factory() as session:
        pending = undelivered_alerts(session)
        todo: dict[str, list[PendingAlert]] = {key: [] for key in channel_keys}
        for alert in pending:
            done = successful_channels(session, alert.alert_id)
            for key in channel_keys:
                if key not in done:
                    todo[key].append(alert)
    return pending, todo


def _record(
    session_factory: SessionFactory,
    alerts: Sequence[PendingAlert],
    key: str,
    label: str,
    ok: bool,
    error: str | None,
) -> None:
    with session_factory() as session:
        for alert in alerts:
            record_delivery(session, alert.alert_id, key, label, ok, error)
        session.commit()


def _mark_complete(
    session_factory: SessionFactory, pending: Sequence[PendingAlert], channel_keys: Sequence[str]
) -> None:
    required = set(channel_keys)
    with session_factory() as session:
        for alert in pending:
            if required <= successful_channels(session, alert.alert_id):
                mark_alert_done(session, alert.alert_id)
                session.commit()


def _batches(
    alerts: Sequence[PendingAlert], digest_threshold: int | None
) -> list[Sequence[PendingAlert]]:
    if digest_threshold is None or len(alerts) <= digest_threshold:
        return [[alert] for alert in alerts]
    return [
        alerts[start : start + MAX_ALERTS_PER_DIGEST]
        for start in range(0, len(alerts), MAX_ALERTS_PER_DIGEST)
    ]


def _deliver_to_channel(
    session_factory: SessionFactory,
    channel: Channel,
    alerts: Sequence[PendingAlert],
    fmt: str | None,
    digest_threshold: int | None,
    tally: _Tally,
) -> None:
    body_format = channel.preferred_format(fmt)
    consecutive_failures = 0
    for batch in _batches(alerts, digest_threshold):
        if consecutive_failures >= MAX_CONSECUTIVE_FAILURES:
            tally.skipped += len(batch)
            continue
        if len(batch) == 1:
            title, body = render_alert(batch[0], body_format)
        else:
            title, body = render_digest(batch, body_format)
        with _stops_held():
            result = channel.send(title, body, body_format)
            _record(session_factory, batch, channel.key, channel.label, result.ok, result.error)
        if result.ok:
            consecutive_failures = 0
            tally.sent += len(batch)
            logger.info("delivered %d alert(s) to %s", len(batch), channel.label)
        else:
            consecutive_failures += 1
            tally.failed += len(batch)
            logger.warning(
                "delivery of %d alert(s) to %s failed: %s", len(batch), channel.label, result.error
            )
    if consecutive_failures >= MAX_CONSECUTIVE_FAILURES:
        logger.warning(
            "%s failed %d times in a row; its remaining alerts wait for the next run",
            channel.label,
            consecutive_failures,
        )


@contextmanager
def _stops_held() -> Iterator[None]:
    """Ctrl-C or SIGTERM between sending a message and recording it would have it sent again by
    the next dispatch: a stop that arrives meanwhile takes effect once both are done."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers run in the main thread only
        return
    held: list[int] = []
    previous = {
        stop: signal.signal(stop, lambda signum, frame: held.append(signum))
        for stop in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield
    finally:
        for stop, handler in previous.items():
            signal.signal(stop, handler)
        if held:
            signal.raise_signal(held[0])  # handled now as it would have been then


def _dispatch_to_terminal(
    session_factory: SessionFactory, out: TextIO, fmt: str | None
) -> DispatchReport:
    pending, todo = _pending_by_channel(session_factory, [TERMINAL_CHANNEL])
    sent = 0
    for alert in todo[TERMINAL_CHANNEL]:
        title, body = render_alert(alert, fmt or "text")
        with _stops_held():
            out.write(f"{title}\n{body}\n\n")
            out.flush()
            _record(session_factory, [alert], TERMINAL_CHANNEL, TERMINAL_CHANNEL, True, None)
        sent += 1
    _mark_complete(session_factory, pending, [TERMINAL_CHANNEL])
    return DispatchReport(sent=sent, channels=(TERMINAL_CHANNEL,))


def dispatch(
    session_factory: SessionFactory,
    apprise_config: Path | None,
    *,
    out: TextIO = sys.stdout,
    fmt: str | None = None,
    digest_threshold: int | None = DEFAULT_DIGEST_THRESHOLD,
) -> DispatchReport:
    """Send every undelivered alert to each channel routed to it that does not have it yet.

    ``apprise_config`` None prints each alert as text to ``out`` instead (recorded under channel
    "terminal", so it prints once). ``fmt`` None renders each channel's own preferred format;
    otherwise that format where the channel supports it. ``digest_threshold`` None never digests.
    """
    _check_options(fmt, digest_threshold)
    if apprise_config is None:
        return _dispatch_to_terminal(session_factory, out, fmt)
    channels = attribution_channels(load_channels(apprise_config))
    if not channels:
        raise AlertConfigError(
            f"{apprise_config}: no channel receives attribution alerts "
            "(tag a URL 'attribution' or leave it untagged)"
        )
    keys = [channel.key for channel in channels]
    pending, todo = _pending_by_channel(session_factory, keys)
    tally = _Tally()
    for channel in channels:
        if todo[channel.key]:
            _deliver_to_channel(
                session_factory, channel, todo[channel.key], fmt, digest_threshold, tally
            )
    _mark_complete(session_factory, pending, keys)
    return DispatchReport(
        sent=tally.sent,
        failed=tally.failed,
        skipped=tally.skipped,
        channels=tuple(channel.label for channel in channels),
    )


def _operator_text(text: str) -> str:
    # Operator messages are our own words but may quote scraped error text: keep line breaks,
    # drop other control characters, and break chat markup that could ping or link.
    lines = (one_line(line, MAX_OPERATOR_BODY_CHARS) for line in text.splitlines())
    return break_mentions_and_tags("\n".join(lines))[:MAX_OPERATOR_BODY_CHARS]


@dataclass(frozen=True)
class OperatorReport:
    """One sending of an operator message: ``sent`` and ``failed`` count the operator channels
    tried now, ``channels`` all of them (those that already had the message included)."""

    sent: int = 0
    failed: int = 0
    channels: int = 0

    @property
    def complete(self) -> bool:
        """Every operator channel has the message now (False when there is none)."""
        return self.channels > 0 and self.failed == 0


def send_operator_message(
    session_factory: SessionFactory,
    apprise_config: Path | None,
    source_name: str,
    failure_streak: int,
    title: str,
    body: str,
) -> OperatorReport:
    """Send the message about failure streak ``failure_streak`` of source ``source_name`` to each
    operator channel that does not have it yet (none without an Apprise file or an operator
    channel), recording every attempt as alert deliveries are: a channel that took it is never
    sent it again, one that failed is sent it by the next call."""
    if apprise_config is None:
        return OperatorReport()
    channels = operator_channels(load_channels(apprise_config))
    with session_factory() as session:
        done = operator_successful_channels(session, source_name, failure_streak)
    safe_title = break_mentions_and_tags(one_line(title, 200))
    safe_body = _operator_text(body)
    sent = failed = 0
    for channel in channels:
        if channel.key in done:
            continue
        with _stops_held():
            result = channel.send(safe_title, safe_body, "text")
            with session_factory() as session:
                record_operator_delivery(
                    session,
                    source_name,
                    failure_streak,
                    channel.key,
                    channel.label,
                    result.ok,
                    result.error,
                )
                session.commit()
        if result.ok:
            sent += 1
        else:
            failed += 1
            logger.warning("operator message to %s failed: %s", channel.label, result.error)
    return OperatorReport(sent=sent, failed=failed, channels=len(channels))
