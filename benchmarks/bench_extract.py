"""CPU per page of article extraction: ``extract()`` next to the previous trafilatura-only way.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_extract.py [--shared DIR] [--repeat N]

The pages are the real news pages of ``shared/data/pages`` (fundus-dev and trafilatura-cache), the
ones the crawl benchmark serves. Per page and repetition this process, pinned to one CPU, times
with ``time.process_time()``:

- ``extract()`` with its defaults: parse, metadata (with the byline search, which the crawler's
  workers skip for pages naming no group), scripts stripped, then the body from the page's one
  clear article container (``crawler.fastextract``) or from trafilatura;
- the previous way, measured in the same run: parse, the same metadata, and
  ``trafilatura.bare_extraction(fast=True)`` on the whole parsed page.

Both run on each page in turn, alternating which goes first, so drift in machine load hits both
alike. Prints the median and mean ms per page of each (per page: the median over repetitions),
their ratio, and which share of pages took which body path; asserts nothing (timings are machine
facts, not test outcomes).
"""

from __future__ import annotations

import argparse
import gc
import gzip
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from crawler import extraction  # noqa: E402
from crawler.fastextract import container_text, strip_never_text  # noqa: E402

PAGE_FOLDERS = ("fundus-dev", "trafilatura-cache")


def default_shared_dir() -> Path:
    return Path(os.environ.get("APTWATCH_SHARED_DIR", REPO_ROOT.parent / "shared"))


def load_pages(shared_dir: Path) -> list[tuple[str, bytes]]:
    pages_dir = shared_dir / "data" / "pages"
    pages = []
    for folder in PAGE_FOLDERS:
        for path in sorted((pages_dir / folder).rglob("*")):
            if path.name.endswith(".html.gz"):
                pages.append((path.name, gzip.decompress(path.read_bytes())))
            elif path.name.endswith(".html"):
                pages.append((path.name, path.read_bytes()))
    if not pages:
        raise SystemExit(f"no article pages found under {pages_dir}")
    return pages


def pin_to_one_cpu() -> str:
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned (no sched_setaffinity on this platform)"
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return f"pinned to CPU {cpu}"


def previous_extract(html: bytes) -> None:
    """extract() before the container path: trafilatura on the whole page, same metadata."""
    import trafilatura

    tree = extraction.parse_html(html)
    meta = extraction._PageMeta.from_tree(tree, None)
    trafilatura.bare_extraction(
        tree, fast=True, with_metadata=False, include_comments=False, include_tables=True
    )
    fallback = extraction._Fallbacks(tree, None)
    _ = meta.title or fallback.title()
    _ = meta.published or fallback.published()
    _ = meta.authors or fallback.authors()


def current_extract(html: bytes) -> None:
    extraction.extract(html)


def body_path(html: bytes) -> str:
    tree = extraction.parse_html(html)
    strip_never_text(tree)
    return "container" if container_text(tree) is not None else "trafilatura"


def cpu_ms(run: Callable[[bytes], None], html: bytes) -> float:
    start = time.process_time()
    run(html)
    return (time.process_time() - start) * 1000


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=None, help="shared data folder")
    parser.add_argument("--repeat", type=int, default=5, help="repetitions (medians are shown)")
    arguments = parser.parse_args(argv)

    pinning = pin_to_one_cpu()
    pages = load_pages(arguments.shared or default_shared_dir())
    load_before = os.getloadavg()

    paths = [body_path(html) for _, html in pages]
    # warm-up: imports, compiled expressions and lru caches stay out of the timings
    for _, html in pages:
        previous_extract(html)
        current_extract(html)

    previous_runs: list[list[float]] = [[] for _ in pages]
    current_runs: list[list[float]] = [[] for _ in pages]
    gc.disable()  # a collection landing on one page would be charged to whichever ran then
    try:
        for repetition in range(arguments.repeat):
            for index, (_, html) in enumerate(pages):
                if (repetition + index) % 2:
                    previous_runs[index].append(cpu_ms(previous_extract, html))
                    current_runs[index].append(cpu_ms(current_extract, html))
                else:
                    current_runs[index].append(cpu_ms(current_extract, html))
                    previous_runs[index].append(cpu_ms(previous_extract, html))
            gc.collect()
    finally:
        gc.enable()

    previous = [statistics.median(runs) for runs in previous_runs]
    current = [statistics.median(runs) for runs in current_runs]
    by_path = {
        path: [ms for ms, taken in zip(current, paths, strict=True) if taken == path]
        for path in ("container", "trafilatura")
    }
    median_current = statistics.median(current)
    median_previous = statistics.median(previous)

    print(f"Python {sys.version.split()[0]}, {pinning}")
    print(
        f"pages: {len(pages)} from {', '.join(PAGE_FOLDERS)}, average "
        f"{statistics.mean(len(html) for _, html in pages) / 1024:.0f} KiB; "
        f"{arguments.repeat} repetitions, CPU time (process_time), per page the median"
    )
    print(
        f"previous (trafilatura on every page): median {median_previous:6.2f} ms/page, "
        f"mean {statistics.mean(previous):6.2f}"
    )
    print(
        f"extract() now:                         median {median_current:6.2f} ms/page, "
        f"mean {statistics.mean(current):6.2f}"
    )
    print(
        f"ratio previous / now: {median_previous / median_current:.2f}x by medians, "
        f"{sum(previous) / sum(current):.2f}x by total CPU"
    )
    for path, times in by_path.items():
        if times:
            print(
                f"  body from {path:<11}: {len(times):3d} pages ({len(times) / len(pages):4.0%}), "
                f"median {statistics.median(times):6.2f} ms, mean {statistics.mean(times):6.2f} ms"
            )
    load_after = os.getloadavg()
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
