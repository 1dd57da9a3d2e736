"""Speed of the detector: words/s of the whole pipeline next to spaCy's bare English tokenizer.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_nlp.py [--shared DIR] [--words N] [--repeat N]

The text is the 406 real CASIE news articles, repeated until it holds at least ``--words`` words
(whitespace-separated). The whole pipeline is ``nlp.analyze()`` per text, as the crawler and
`aptwatch analyze` call it: candidate scan, paragraph selection, spaCy, results. For reference
the same run also times spaCy on every whole text (``nlp.pipe``, what ``analyze`` did before it
selected paragraphs). All measurements run in this process, pinned to one CPU, on the same texts,
alternating per repetition so drift in machine load hits all alike. Prints medians and the ratio;
asserts nothing (timings are machine facts, not test outcomes).
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

# one core means one BLAS / OpenMP thread too; must be set before numpy loads
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import spacy  # noqa: E402
from spacy.tokenizer import Tokenizer  # noqa: E402

from nlp import analyze, build_pipeline  # noqa: E402
from nlp.evaluation import data_dir, default_shared_dir, load_casie_articles  # noqa: E402
from nlp.kb import load_groups  # noqa: E402

TARGET_WORDS_PER_SECOND = 300_000
TARGET_TOKENIZER_RATIO = 0.7
TARGET_BUILD_SECONDS = 2.0


def pin_to_one_cpu() -> str:
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned (no sched_setaffinity on this platform)"
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return f"pinned to CPU {cpu}"


def corpus_texts(shared_dir: Path, minimum_words: int) -> tuple[list[str], int]:
    articles = [
        a.text for a in load_casie_articles(data_dir(shared_dir) / "news" / "casie-dev" / "source")
    ]
    words_per_pass = sum(len(text.split()) for text in articles)
    passes = -(-minimum_words // words_per_pass)  # ceiling division
    return articles * passes, words_per_pass * passes


def timed(run: Callable[[], object], cpu_times: list[float]) -> float:
    """Wall-clock seconds of one run; its CPU seconds go to ``cpu_times``."""
    gc.collect()
    start, start_cpu = time.perf_counter(), time.process_time()
    run()
    cpu_times.append(time.process_time() - start_cpu)
    return time.perf_counter() - start


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=None, help="shared data folder")
    parser.add_argument("--words", type=int, default=1_000_000, help="minimum words per run")
    parser.add_argument("--repeat", type=int, default=5, help="repetitions (medians are shown)")
    parser.add_argument("--batch-size", type=int, default=256, help="nlp.pipe batch size")
    arguments = parser.parse_args(argv)

    pinning = pin_to_one_cpu()
    texts, words = corpus_texts(arguments.shared or default_shared_dir(), arguments.words)

    build_times, build_cpu_times = [], []
    for _ in range(3):
        re.purge()  # the candidate finder's expression is compiled afresh each time
        start, start_cpu = time.perf_counter(), time.process_time()
        pipeline = build_pipeline()
        build_times.append(time.perf_counter() - start)
        build_cpu_times.append(time.process_time() - start_cpu)
    tokenizer = spacy.blank("en").tokenizer
    assert isinstance(tokenizer, Tokenizer)  # spaCy types it as a plain callable
    groups = load_groups()
    aliases = sum(1 + len(group.aliases) for group in groups)

    def run_pipeline() -> None:
        for _doc in pipeline.pipe(texts, batch_size=arguments.batch_size):
            pass

    def run_tokenizer() -> None:
        for _doc in tokenizer.pipe(texts, batch_size=arguments.batch_size):
            pass

    def run_analyze() -> None:
        for text in texts:
            analyze(pipeline, text)

    # warm-up: lazy initialisation and string-store growth stay out of the timings
    run_pipeline()
    run_analyze()
    pipeline_times, tokenizer_times, analyze_times = [], [], []
    pipeline_cpu: list[float] = []
    tokenizer_cpu: list[float] = []
    analyze_cpu: list[float] = []
    for _ in range(arguments.repeat):
        tokenizer_times.append(timed(run_tokenizer, tokenizer_cpu))
        analyze_times.append(timed(run_analyze, analyze_cpu))
        pipeline_times.append(timed(run_pipeline, pipeline_cpu))

    pipeline_wps = words / statistics.median(pipeline_times)
    tokenizer_wps = words / statistics.median(tokenizer_times)
    analyze_wps = words / statistics.median(analyze_times)
    ratio = analyze_wps / tokenizer_wps
    build_seconds = statistics.median(build_times)

    def verdict(ok: bool) -> str:
        return "PASS" if ok else "FAIL"

    print(f"spaCy {spacy.__version__}, Python {sys.version.split()[0]}, {pinning}")
    print(f"pipeline components: {', '.join(pipeline.pipe_names)}")
    print(f"KB: {len(groups)} groups, {aliases} names (canonical + aliases)")
    print(
        f"text: {len(texts)} CASIE articles ({len(texts) // 406} passes), {words:,} words; "
        f"{arguments.repeat} repetitions, medians"
    )
    print(
        f"pipeline build (median of 3): {build_seconds:.3f} s "
        f"({statistics.median(build_cpu_times):.3f} s CPU)   "
        f"target ≤ {TARGET_BUILD_SECONDS:.0f} s {verdict(build_seconds <= TARGET_BUILD_SECONDS)}"
    )
    print(
        f"spacy.blank('en').tokenizer: {tokenizer_wps:>12,.0f} words/s   "
        f"runs {', '.join(f'{t:.2f}' for t in tokenizer_times)} s"
    )
    print(
        f"whole pipeline, analyze():   {analyze_wps:>12,.0f} words/s   "
        f"runs {', '.join(f'{t:.2f}' for t in analyze_times)} s   "
        f"target ≥ {TARGET_WORDS_PER_SECOND:,} {verdict(analyze_wps >= TARGET_WORDS_PER_SECOND)}"
    )
    print(
        f"pipeline / tokenizer ratio:  {ratio:.2f}x   "
        f"target ≥ {TARGET_TOKENIZER_RATIO}x {verdict(ratio >= TARGET_TOKENIZER_RATIO)}"
    )
    print(
        f"reference, nlp.pipe on every whole text: {pipeline_wps:,.0f} words/s "
        f"({pipeline_wps / tokenizer_wps:.2f}x the tokenizer)   "
        f"runs {', '.join(f'{t:.2f}' for t in pipeline_times)} s"
    )
    # Another process on the pinned core stretches wall-clock time but not this process's CPU
    # time; when the two disagree much, the machine was busy.
    tokenizer_cpu_wps = words / statistics.median(tokenizer_cpu)
    analyze_cpu_wps = words / statistics.median(analyze_cpu)
    print(
        f"by CPU time: tokenizer {tokenizer_cpu_wps:,.0f} words/s, analyze() "
        f"{analyze_cpu_wps:,.0f} words/s ({analyze_cpu_wps / tokenizer_cpu_wps:.2f}x), nlp.pipe "
        f"{words / statistics.median(pipeline_cpu):,.0f} words/s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
