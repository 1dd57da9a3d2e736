"""`aptwatch run --forever`: poll each source at its own interval, for months, unattended.

The loop is deliberately boring: every crawl runs in its own child process (a hung or crashed crawl
cannot take the scheduler down), a source is never crawled twice at once (a database lease, so two
schedulers on two machines also stay out of each other's way), errors of one cycle are logged as one
line and the loop goes on, and SIGTERM / SIGINT stop it between steps.
"""

from __future__ import annotations

import io
import logging
import os
import queue
import random
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TextIO, cast

from aptwatch.config import Config, env_count

log = logging.getLogger("aptwatch.scheduler")

DEFAULT_JITTER = 0.1  # ±10 % of the interval, so sources sharing an interval spread out
IDLE_POLL_SECONDS = 30.0
ERROR_BACKOFF_SECONDS = (5.0, 15.0, 60.0, 300.0)
DEFAULT_PARALLEL_CRAWLS = 2
MAX_PARALLEL_CRAWLS = 16


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
    # dropped from the sources file while a crawl of theirs runs: if added back meanwhile, they
    # wait for that crawl (the scheduler's cycles share one lease holder, so a second crawl of
    # the source would get its lease too)
    dropped_while_running: set[str] = field(default_factory=set)

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

    def _ended(self, names: Sequence[str]) -> Iterator[SourceSlot]:
        """The slots of ``names``, whose crawl has ended, marked as not running; a source dropped
        from the sources file while it was crawled has none."""
        for name in names:
            self.dropped_while_running.discard(name)
            slot = self.slots.get(name)
            if slot is not None:
                slot.running = False
                yield slot

    def finished(self, names: Sequence[str]) -> None:
        now = self.clock()
        for slot in self._ended(names):
            spread = slot.interval * self.jitter
            slot.next_due = now + slot.interval + self.rng.uniform(-spread, spread)

    def follow(self, intervals: dict[str, float]) -> tuple[list[str], list[str]]:
        """Follow an edited sources file: a new source is due now, a removed or disabled one is
        dropped, a shorter interval applies at once. Returns the names added and removed."""
        now = self.clock()
        removed = [name for name in self.slots if name not in intervals]
        for name in removed:
            if self.slots.pop(name).running:
                self.dropped_while_running.add(name)
        added = []
        for name, interval in intervals.items():
            slot = self.slots.get(name)
            if slot is None:
                running = name in self.dropped_while_running
                self.slots[name] = SourceSlot(name, interval, now, running)
                added.append(name)
            elif slot.interval != interval:
                slot.next_due = min(slot.next_due, now + interval)
                slot.interval = interval
        return added, removed

    def postpone(self, names: Sequence[str], seconds: float) -> None:
        """A source someone else is crawling right now: look again a little later."""
        now = self.clock()
        for slot in self._ended(names):
            slot.next_due = now + seconds

    def seconds_until_next(self) -> float:
        waiting = [s.next_due for s in self.slots.values() if not s.running]
        if not waiting:
            return IDLE_POLL_SECONDS
        return max(0.0, min(waiting) - self.clock())


@contextmanager
def stop_on_signals(stop: threading.Event, wake: threading.Event) -> Iterator[None]:
    """SIGTERM and SIGINT ask the loop to stop after the current step (and wake it if it waits);
    restored on exit."""

    def request_stop(signum: int, frame: FrameType | None) -> None:
        log.warning("received %s, stopping after the current step", signal.Signals(signum).name)
        stop.set()
        wake.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class WholeLines(io.TextIOBase):
    """What cycles running side by side print comes out in whole lines, never one line spliced
    into another (``print`` writes the text and its newline in two calls)."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._lock = threading.Lock()
        self._partial = threading.local()

    def write(self, text: str) -> int:
        pending = getattr(self._partial, "text", "") + text
        lines, newline, rest = pending.rpartition("\n")
        self._partial.text = rest
        if newline:
            with self._lock:
                self._out.write(lines + newline)
                self._out.flush()
        return len(text)

    def isatty(self) -> bool:
        return self._out.isatty()


def lease_holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class SourcesWatch:
    """The sources file as the scheduler sees it: read again whenever it changes on disk, so ops
    can add, pause or retune a source without restarting; a broken edit pauses crawling (said
    once) until it is fixed, and never stops the scheduler."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen: tuple[int, int] | None = None
        self.problem: str | None = None

    def _stamp(self) -> tuple[int, int] | None:
        try:
            stat = self.path.stat()
        except OSError:
            return None
        return (stat.st_mtime_ns, stat.st_size)

    def intervals(self) -> dict[str, float]:
        """Every enabled source's interval in seconds; raises SourcesError for a bad file."""
        from crawler.sources import load_sources

        self._seen = self._stamp()
        return {s.name: float(s.interval) for s in load_sources(self.path) if s.enabled}

    def changed(self) -> bool:
        return self._stamp() != self._seen

    def refresh(self, schedule: Schedule, out: TextIO) -> bool:
        """Bring ``schedule`` in line with the file if it changed on disk; False while the file
        is broken (each new problem said once)."""
        from crawler.sources import SourcesError

        if not self.changed():
            return self.problem is None
        try:
            added, removed = schedule.follow(self.intervals())
        except SourcesError as error:
            problem = " ".join(str(error).split())
            if problem != self.problem:
                print(
                    f"aptwatch: crawling paused until the sources file is fixed: {problem}",
                    file=out,
                )
            self.problem = problem
            return False
        if self.problem is not None or added or removed:
            print(_followed_line(len(schedule.slots), added, removed), file=out)
        self.problem = None
        return True


def parallel_crawls(environ: dict[str, str] | None = None) -> int:
    """APTWATCH_PARALLEL_CRAWLS: crawls the scheduler runs at once. Each is a crawl process with
    its own analysis workers, so more than a few only add memory on a small machine."""
    return env_count(
        "APTWATCH_PARALLEL_CRAWLS", DEFAULT_PARALLEL_CRAWLS, environ, maximum=MAX_PARALLEL_CRAWLS
    )


CycleRunner = Callable[[Config, Sequence[str], TextIO, threading.Event], object]


@dataclass
class CyclesInFlight:
    """The crawls running in their own threads; each reports back, when done, which sources it
    crawled and the error that ended it, if any."""

    run_cycle: CycleRunner
    wake: threading.Event
    threads: dict[int, threading.Thread] = field(default_factory=dict)
    ended: queue.SimpleQueue[tuple[int, list[str], Exception | None]] = field(
        default_factory=queue.SimpleQueue
    )
    started: int = 0

    def start(self, config: Config, names: list[str], out: TextIO, stop: threading.Event) -> None:
        self.started += 1
        number = self.started

        def run() -> None:
            error: Exception | None = None
            try:
                self.run_cycle(config, names, out, stop)
            except Exception as caught:  # said and waited out by the loop, like any failed cycle
                error = caught
            finally:
                self.ended.put((number, names, error))
                self.wake.set()

        thread = threading.Thread(target=run, name=f"aptwatch-cycle-{number}", daemon=True)
        self.threads[number] = thread
        thread.start()

    def collect(self) -> list[tuple[list[str], Exception | None]]:
        done: list[tuple[list[str], Exception | None]] = []
        while True:
            try:
                number, names, error = self.ended.get_nowait()
            except queue.Empty:
                return done
            self.threads.pop(number).join()
            done.append((names, error))

    def join_all(self) -> list[tuple[list[str], Exception | None]]:
        for thread in list(self.threads.values()):
            thread.join()
        return self.collect()


def run_forever(
    config: Config,
    out: TextIO,
    *,
    stop: threading.Event | None = None,
    run_cycle: CycleRunner | None = None,
    clock: Callable[[], float] = time.monotonic,
    max_cycles: int | None = None,
    error_backoff: Sequence[float] = ERROR_BACKOFF_SECONDS,
    idle_poll: float = IDLE_POLL_SECONDS,
) -> int:
    """Poll every enabled source at its interval until stopped; returns the exit code (0).

    Up to APTWATCH_PARALLEL_CRAWLS crawls run at once, so a source that hangs until the crawl
    timeout holds up only the sources crawled with it: whatever falls due meanwhile is crawled
    beside it. What the operator must fix before anything can work (a bad setting, a bad sources
    file at start) raises here; what may pass (a network or database error, a crawl that failed,
    a sources file broken by an edit in progress) is said once and waited out.
    """
    from aptwatch.commands import check_alert_settings, check_run_settings, crawl_and_alert

    stop = stop or threading.Event()
    watch = SourcesWatch(config.require_sources_file())
    intervals = watch.intervals()  # first: a bad file makes no database folder
    most_at_once = parallel_crawls()  # and neither does a bad setting
    check_run_settings(config)
    check_alert_settings(config)
    if not intervals:
        # as a one-pass run says; an edit that disables every source later only pauses
        from crawler.sources import SourcesError

        raise SourcesError(f"{config.sources_file}: no enabled sources")
    schedule = Schedule.for_sources(intervals, clock=clock)
    lines = cast(TextIO, WholeLines(out))  # a text stream; typing's TextIO is not a base class
    print(f"aptwatch: watching {len(schedule.slots)} sources; SIGTERM or Ctrl-C stops", file=lines)
    wake = threading.Event()
    cycles = CyclesInFlight(run_cycle or crawl_and_alert, wake)
    failures_in_a_row = 0

    def settle(ended: list[tuple[list[str], Exception | None]]) -> None:
        nonlocal failures_in_a_row
        for names, error in ended:
            if error is None:
                failures_in_a_row = 0
                schedule.finished(names)
                continue
            # a transient network or database error: said, and these sources wait a little
            failures_in_a_row += 1
            delay = error_backoff[min(failures_in_a_row, len(error_backoff)) - 1]
            reason = " ".join(str(error).split())
            print(
                f"aptwatch: cycle failed ({type(error).__name__}: {reason});"
                f" retrying in {delay:.0f}s",
                file=lines,
            )
            schedule.postpone(names, delay)

    with stop_on_signals(stop, wake):
        while not stop.is_set():
            wake.clear()
            settle(cycles.collect())
            if stop.is_set() or (max_cycles is not None and cycles.started >= max_cycles):
                break
            wait = idle_poll
            if watch.refresh(schedule, lines):
                due = schedule.due()
                if due and len(cycles.threads) < most_at_once:
                    schedule.started(due)
                    cycles.start(config, due, lines, stop)
                    continue
                if not due:
                    wait = min(schedule.seconds_until_next(), idle_poll)
            # woken early by a cycle that ends or a stop; a stop set by the caller is seen
            # within a second
            wake.wait(min(wait, 1.0))
        settle(cycles.join_all())
    print("aptwatch: stopped", file=lines)
    return 0


def _followed_line(watching: int, added: Sequence[str], removed: Sequence[str]) -> str:
    changes = [f"added {', '.join(added)}"] if added else []
    changes += [f"dropped {', '.join(removed)}"] if removed else []
    detail = f" ({'; '.join(changes)})" if changes else ""
    return f"aptwatch: sources file read again: watching {watching} sources{detail}"
