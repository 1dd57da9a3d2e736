"""Extraction and analysis of article pages in a pool of worker processes.

trafilatura and spaCy are pure CPU work under the GIL, so threads cannot spread them over cores;
processes can. The workers fork from a server process (multiprocessing's "forkserver") that
imported everything and built the nlp pipeline once, when the pool started: each worker inherits
it instead of spending about 3 s of CPU on its own imports and build, and a replacement worker
starts in milliseconds. Where fork servers do not exist, workers are spawned and build their own.

A worker that dies (a crash in a C extension, the OOM killer) breaks a ``ProcessPoolExecutor``
for every page in flight, so :class:`AnalysisPool` replaces the pool and re-runs those pages one
at a time in a separate single-worker pool: the page that kills that worker too is the culprit and
fails alone, as :class:`WorkerCrashed`; the others succeed.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import multiprocessing.context
import os
import signal
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING

from crawler.extraction import Extracted, byline_authors, extract
from storage.records import AttributionIn, CandidateGroup, MentionIn
from storage.similarity import TextIdentity, text_identity

if TYPE_CHECKING:
    from spacy.language import Language


# what a worker told to exit by the test hook exits with, so the log names the cause
TEST_EXIT_CODE = 70


class WorkersSettingError(ValueError):
    """A worker-pool setting (``APTWATCH_WORKERS``...) has an impossible value."""


class WorkerCrashed(RuntimeError):
    """The worker process analysing a page died; the page is lost, the crawl goes on."""


class AnalysisTimedOut(WorkerCrashed):
    """A page kept its worker busy past the time limit; the worker was stopped and replaced."""


@dataclass(frozen=True)
class PageJob:
    """What a worker needs of an :class:`~crawler.items.ArticlePage` (sent by pickle, so small)."""

    html: bytes
    url: str
    entry_title: str | None = None
    entry_published: datetime | None = None
    body_selector: str | None = None
    date_selector: str | None = None


def build_nlp(kb_path: str | None) -> Language:
    import nlp

    return nlp.build_pipeline(kb_path) if kb_path else nlp.build_pipeline()


@dataclass(frozen=True)
class PageAnalysis:
    """What a worker sends back for one page: storage's own records, computed here rather than
    in the crawl process, whose one core also runs the downloads and the database. (Sending
    spaCy-side objects would also make the crawl process import spaCy just to unpickle them.)"""

    extracted: Extracted
    mentions: tuple[MentionIn, ...]
    attributions: tuple[AttributionIn, ...]
    identity: TextIdentity


def analyse_page(pipeline: Language, job: PageJob) -> PageAnalysis:
    """Extract the article from its page and find the groups it names and blames."""
    import nlp

    extracted = extract(
        job.html,
        job.url,
        body_selector=job.body_selector,
        date_selector=job.date_selector,
        feed_published=job.entry_published,
        search_bylines=False,
    )
    title = extracted.title or job.entry_title
    analysis = nlp.analyze(pipeline, extracted.text, title=title)
    if analysis.mentions and not extracted.authors:
        # Searching the bylines costs as much as the rest of the metadata together, and the
        # authors of an article that names no group are never of use; most pages name none.
        extracted = replace(extracted, authors=byline_authors(job.html, job.url))
    return PageAnalysis(
        extracted,
        tuple(
            MentionIn(
                m.group_id, m.group_name, m.alias, m.start, m.end, _named(pipeline, m.candidates)
            )
            for m in analysis.mentions
        ),
        tuple(
            AttributionIn(
                group_id=a.group_id,
                group_name=a.group_name,
                alias=a.alias,
                stance=a.stance,
                evidence=a.evidence,
                mitre_id=a.mitre_id,
                attributed_by=a.attributed_by,
                sponsor=a.sponsor,
                confidence=a.confidence,
                candidates=_named(pipeline, a.candidates),
            )
            for a in analysis.attributions
        ),
        text_identity(extracted.text),
    )


def _named(pipeline: Language, group_ids: tuple[str, ...]) -> tuple[CandidateGroup, ...]:
    """An ambiguous name's group ids with their names, from the pipeline's own knowledge base:
    the nlp results carry ids only, and neither storage nor the alerts can look names up."""
    if not group_ids:
        return ()
    from nlp.evidence import AliasFilter

    alias_filter = pipeline.get_pipe("aptwatch_alias_filter")
    kb = alias_filter.kb if isinstance(alias_filter, AliasFilter) else None
    groups = [(gid, kb.get(gid) if kb is not None else None) for gid in group_ids]
    return tuple(CandidateGroup(gid, group.name if group else gid) for gid, group in groups)


# --- the worker side: module state lives in each worker process ----------------------------------

_worker_pipeline: Language | None = None
# pipelines the fork server built before forking workers, by knowledge-base path
_preloaded_pipelines: dict[str | None, Language] = {}
_worker_exit_marker: bytes | None = None
_worker_hang_marker: bytes | None = None


def _init_worker(kb_path: str | None, exit_marker: bytes | None, hang_marker: bytes | None) -> None:
    global _worker_pipeline, _worker_exit_marker, _worker_hang_marker
    # Ctrl-C reaches the whole process group; the crawl process decides how to stop, and a worker
    # dying of KeyboardInterrupt mid-page would only look like a crash
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _worker_exit_marker = exit_marker
    _worker_hang_marker = hang_marker
    preloaded = _preloaded_pipelines.get(kb_path)
    _worker_pipeline = preloaded if preloaded is not None else build_nlp(kb_path)


# The fork server imports this module when it starts (``set_forkserver_preload``), and it reads
# the knowledge base's path from this variable: the server inherits the crawl process's
# environment then, and has no other input.
PRELOAD_MODULE = "crawler.worker_preload"
PRELOAD_KB_VARIABLE = "APTWATCH_WORKER_PRELOAD_KB"


def preload_pipeline() -> None:
    """In the fork server: build the pipeline the workers forked from it will inherit."""
    kb_path = os.environ.get(PRELOAD_KB_VARIABLE) or None
    # a failure here stops nothing: each worker's initializer then builds the pipeline itself,
    # and a failure there is reported as the pool's start failing, with its traceback
    with contextlib.suppress(Exception):
        _preloaded_pipelines[kb_path] = build_nlp(kb_path)


def _pool_context(kb_path: str | None) -> multiprocessing.context.BaseContext:
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    # read by the server when it starts; a server already running keeps what it has, and workers
    # forked from it for another knowledge base build their own pipeline
    os.environ[PRELOAD_KB_VARIABLE] = kb_path or ""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([PRELOAD_MODULE])
    return context


def start_fork_server(kb_path: str | None) -> None:
    """Start the workers' fork server now, without waiting for it: it imports spaCy and builds the
    pipeline (seconds) while the caller does its own start-up; the pool uses it when it starts."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return
    from multiprocessing import forkserver

    _pool_context(kb_path)
    forkserver.ensure_running()


def _stop_fork_server() -> None:
    """Stop the fork server once the workers are gone: it holds a whole pipeline in memory, and
    a later pool may need another knowledge base. Stopping also waits for it, which is how the
    CPU time of the workers it forked reaches this process's accounting."""
    from multiprocessing import forkserver

    # the standard library has no public call for this; its own tests use this one
    stop = getattr(getattr(forkserver, "_forkserver", None), "_stop", None)
    if stop is not None:
        stop()


def _worker_ready() -> int:
    return os.getpid()


def _analyse_in_worker(job: PageJob) -> PageAnalysis:
    if _worker_exit_marker is not None and _worker_exit_marker in job.html:
        # test hook (APTWATCH_TEST_WORKER_EXIT_MARKER): die the way a segfault or the OOM killer
        # would, without cleanup, to prove the crawl survives it
        os._exit(TEST_EXIT_CODE)
    if _worker_hang_marker is not None and _worker_hang_marker in job.html:
        # test hook (APTWATCH_TEST_WORKER_HANG_MARKER): never finish, as an extractor caught in a
        # pathological page would
        while True:
            time.sleep(60)
    assert _worker_pipeline is not None, "worker initializer did not run"
    return analyse_page(_worker_pipeline, job)


# --- the crawl side ---------------------------------------------------------------------------


class AnalysisPool:
    """A process pool for :func:`analyse_page`, used from the asyncio event loop.

    At most ``max_in_flight`` pages (default: two per worker, so none waits idle between pages)
    are handed to workers at once, so a fast download side cannot pile pickled pages up in the
    pool's queue; the pages waiting for a slot keep their responses in Scrapy's scraper slot,
    whose size limit then pauses downloading.
    """

    def __init__(
        self,
        workers: int,
        kb_path: str | None = None,
        *,
        max_in_flight: int | None = None,
        page_timeout: float | None = None,
        exit_marker: str | None = None,
        hang_marker: str | None = None,
    ) -> None:
        if workers < 1:
            raise WorkersSettingError(f"an analysis pool needs at least one worker, not {workers}")
        if max_in_flight is not None and max_in_flight < 1:
            raise WorkersSettingError(
                f"at least one page must be allowed in flight, not {max_in_flight}"
            )
        self.workers = workers
        self._kb_path = kb_path
        if page_timeout is not None and page_timeout <= 0:
            raise WorkersSettingError(
                f"the analysis time limit must be positive, not {page_timeout}"
            )
        self._page_timeout = page_timeout
        self._exit_marker = exit_marker.encode() if exit_marker else None
        self._hang_marker = hang_marker.encode() if hang_marker else None
        self._in_flight = asyncio.Semaphore(max_in_flight or 2 * workers)
        self._isolation = asyncio.Lock()
        self._starting = asyncio.Lock()
        self._executor: ProcessPoolExecutor | None = None
        self._generation = 0
        self._isolated: ProcessPoolExecutor | None = None
        self._retired: list[ProcessPoolExecutor] = []
        self._warm: set[ProcessPoolExecutor] = set()
        self.crashes = 0
        # how long the workers took to start (import, build the pipeline), once they have
        self.startup_seconds: float | None = None

    def _new_executor(self, workers: int) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=workers,
            mp_context=_pool_context(self._kb_path),
            initializer=_init_worker,
            initargs=(self._kb_path, self._exit_marker, self._hang_marker),
        )

    async def start(self) -> None:
        """Start every worker and wait until each has built its pipeline (done by the first
        :meth:`analyse` otherwise, so a crawl with nothing new never starts a worker)."""
        async with self._starting:
            if self._executor is not None:
                return
            started = time.monotonic()
            executor = self._new_executor(self.workers)
            try:
                await _start_workers(executor, self.workers)
            except BrokenProcessPool as error:
                await asyncio.to_thread(_shutdown_all, [executor])
                # the worker printed the initializer's own traceback to stderr
                raise WorkerCrashed(
                    "the analysis workers could not start (building the nlp pipeline failed)"
                ) from error
            self._executor = executor
            self._warm.add(executor)
            self.startup_seconds = time.monotonic() - started

    async def analyse(self, job: PageJob) -> PageAnalysis:
        """Extraction and analysis of one page; raises :class:`WorkerCrashed` if it kills a worker,
        :class:`AnalysisTimedOut` if it outlasts the time limit, and whatever
        :func:`analyse_page` raises for a bad page."""
        if self._executor is None:
            await self.start()
        async with self._in_flight:
            generation, executor = self._generation, self._executor
            assert executor is not None
            try:
                return await self._submit(executor, job)
            except BrokenProcessPool:
                self._replace_broken(generation)
            except AnalysisTimedOut:
                # the stuck worker cannot be interrupted, only stopped; the pages in flight with
                # it end as a crash and are analysed again, one at a time
                _kill_workers(executor)
                self._replace_broken(generation)
                raise
            # innocent pages in flight die along with the culprit; alone, only the culprit dies
            return await self._analyse_alone(job)

    async def _submit(self, executor: ProcessPoolExecutor, job: PageJob) -> PageAnalysis:
        # a replacement pool's workers are started first, off the event loop; the time limit is
        # for the page, not for starting them
        await self._warmed_up(executor)
        if self._page_timeout is None:
            return await _submit(executor, job)
        try:
            return await asyncio.wait_for(_submit(executor, job), self._page_timeout)
        except TimeoutError:
            raise AnalysisTimedOut(
                f"analysis took longer than {self._page_timeout:g} s "
                "(APTWATCH_ANALYSIS_TIMEOUT); its worker was stopped"
            ) from None

    async def _warmed_up(self, executor: ProcessPoolExecutor) -> None:
        if executor in self._warm:
            return
        await _start_workers(executor, self.workers if executor is self._executor else 1)
        self._warm.add(executor)

    def _replace_broken(self, generation: int) -> None:
        if generation != self._generation or self._executor is None:
            return  # another page of the same crash already replaced it
        self.crashes += 1
        self._retired.append(self._executor)
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._executor = self._new_executor(self.workers)
        self._generation += 1

    async def _analyse_alone(self, job: PageJob) -> PageAnalysis:
        async with self._isolation:
            if self._isolated is None:
                self._isolated = self._new_executor(1)
            try:
                return await self._submit(self._isolated, job)
            except AnalysisTimedOut:
                _kill_workers(self._isolated)
                self._retired.append(self._isolated)
                self._isolated.shutdown(wait=False, cancel_futures=True)
                self._isolated = None
                raise
            except BrokenProcessPool as error:
                self._retired.append(self._isolated)
                self._isolated.shutdown(wait=False, cancel_futures=True)
                self._isolated = None
                raise WorkerCrashed("the analysis worker process died on this page") from error

    async def close(self) -> None:
        """Stop every worker process; pages still queued are cancelled."""
        executors = [e for e in (self._executor, self._isolated) if e is not None]
        executors += self._retired
        self._executor = self._isolated = None
        self._retired = []
        self._warm.clear()
        # joining worker processes blocks; the event loop must keep running meanwhile
        await asyncio.to_thread(_shutdown_all, executors)
        if executors:
            await asyncio.to_thread(_stop_fork_server)


async def _start_workers(executor: ProcessPoolExecutor, count: int) -> None:
    """Start the executor's ``count`` worker processes and wait until each has its pipeline.

    One task per worker makes the pool start them all now, not one by one. Submitting them
    blocks: each start waits for the fork server to fork the worker, and the first waits for the
    server's own start (imports, the nlp pipeline: seconds). So they are submitted from a thread,
    and the crawl's event loop goes on downloading meanwhile.
    """
    warm_up = await asyncio.to_thread(
        lambda: [executor.submit(_worker_ready) for _ in range(count)]
    )
    await asyncio.gather(*(asyncio.wrap_future(future) for future in warm_up))


async def _submit(executor: ProcessPoolExecutor, job: PageJob) -> PageAnalysis:
    future: Future[PageAnalysis] = executor.submit(_analyse_in_worker, job)
    return await asyncio.wrap_future(future)


def _kill_workers(executor: ProcessPoolExecutor) -> None:
    """Stop the executor's worker processes now; its pending futures then fail as broken."""
    kill = getattr(executor, "kill_workers", None)  # Python >= 3.14
    if kill is not None:
        kill()
        return
    # Older Pythons have no public way to stop a busy worker; the executor keeps its processes
    # in this attribute, and reacts to their death by failing what was in flight.
    for process in list(getattr(executor, "_processes", {}).values()):
        process.kill()


def _shutdown_all(executors: list[ProcessPoolExecutor]) -> None:
    for executor in executors:
        executor.shutdown(wait=True, cancel_futures=True)


def default_workers() -> int:
    """The CPUs this process may run on (a container's limit, not the host's count)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)
