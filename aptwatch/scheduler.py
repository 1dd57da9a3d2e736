"""`aptwatch run --forever`: poll each source at its own interval, for months, unattended.

The loop is deliberately boring: every crawl runs in its own child process (a hung or crashed crawl
cannot take the scheduler down), a source is never crawled twice at once (a database lease, so two
schedulers on two machines also stay out of each other's way), errors of one cycle are logged as one
line and the loop goes on, and SIGTERM / SIGINT stop it between steps.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType
from typing import TextIO

from aptwatch.config import Config

log = logging.getLogger("aptwatch.scheduler")

DEFAULT_JITTER = 0.1  # ±10 % of the interval, so sources sharing an interval spread out
IDLE_POLL_SECONDS = 30.0
ERROR_BACKOFF_SECONDS = (5.0, 15.0, 60.0, 300.0)


@dataclass
class SourceSlot:
    name: str
    interval: float
    next_due: float
    running: bool = False


@dataclass
class Schedule:
    """When each source is next due; pure bookkeeping, driven by an injected clock."""

    slots: dict[str, SourceSlot]
    clock: Callable[[], float] = time.monotonic
    rng: random.Random = field(default_factory=random.Random)
    jitter: float = DEFAULT_JITTER

    @classmethod
    def for_sources(
        cls,
        intervals: dict[str, float],
        *,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        jitter: float = DEFAULT_JITTER,
    ) -> Schedule:
        now = clock()
        slots = {name: SourceSlot(name, interval, now) for name, interval in intervals.items()}
        return cls(slots, clock, rng or random.Random(), jitter)

    def due(self) -> list[str]:
        now = self.clock()
        ready = [s for s in self.slots.values() if not s.running and s.next_due <= now]
        return [slot.name for slot in sorted(ready, key=lambda slot: slot.next_due)]

    def started(self, names: Sequence[str]) -> None:
        for name in names:
            self.slots[name].running = True

    def finished(self, names: Sequence[str]) -> None:
        now = self.clock()
        for name in names:
            slot = self.slots[name]
            slot.running = False
            spread = slot.interval * self.jitter
            slot.next_due = now + slot.interval + self.rng.uniform(-spread, spread)

    def postpone(self, names: Sequence[str], seconds: float) -> None:
        """A source someone else is crawling right now: look again a little later."""
        now = self.clock()
        for name in names:
            self.slots[name].running = False
            self.slots[name].next_due = now + seconds

    def seconds_until_next(self) -> float:
        waiting = [s.next_due for s in self.slots.values() if not s.running]
        if not waiting:
            return IDLE_POLL_SECONDS
        return max(0.0, min(waiting) - self.clock())


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGTERM and SIGINT ask the loop to stop after the current step; restored on exit."""

    def request_stop(signum: int, frame: FrameType | None) -> None:
        log.warning("received %s, stopping after the current step", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def lease_holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def run_forever(
    config: Config,
    out: TextIO,
    *,
    stop: threading.Event | None = None,
    run_cycle: Callable[[Config, Sequence[str], TextIO, threading.Event], object] | None = None,
    clock: Callable[[], float] = time.monotonic,
    max_cycles: int | None = None,
    error_backoff: Sequence[float] = ERROR_BACKOFF_SECONDS,
) -> int:
    """Poll every enabled source at its interval until stopped; returns the exit code (0)."""
    from aptwatch.commands import crawl_and_alert
    from crawler.sources import load_sources

    stop = stop or threading.Event()
    cycle = run_cycle or crawl_and_alert
    sources = [s for s in load_sources(config.require_sources_file()) if s.enabled]
    schedule = Schedule.for_sources({s.name: float(s.interval) for s in sources}, clock=clock)
    print(f"aptwatch: watching {len(sources)} sources; SIGTERM or Ctrl-C stops", file=out)
    failures_in_a_row = 0
    cycles = 0
    with stop_on_signals(stop):
        while not stop.is_set() and (max_cycles is None or cycles < max_cycles):
            due = schedule.due()
            if not due:
                stop.wait(min(schedule.seconds_until_next(), IDLE_POLL_SECONDS))
                continue
            cycles += 1
            schedule.started(due)
            try:
                cycle(config, due, out, stop)
                failures_in_a_row = 0
            except Exception as error:  # a transient network or database error: log, wait, go on
                failures_in_a_row += 1
                delay = error_backoff[min(failures_in_a_row, len(error_backoff)) - 1]
                reason = " ".join(str(error).split())
                print(
                    f"aptwatch: cycle failed ({type(error).__name__}: {reason});"
                    f" retrying in {delay:.0f}s",
                    file=out,
                )
                schedule.postpone(due, delay)
                stop.wait(delay)
                continue
            schedule.finished(due)
    print("aptwatch: stopped", file=out)
    return 0
