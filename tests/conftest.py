"""Fixtures shared by the whole suite: the ../shared data folder and a local HTTP site."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from aptwatch.localsite import LocalSite, serve

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = Path(os.environ.get("APTWATCH_SHARED_DIR", REPO_ROOT.parent / "shared"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The ../shared/data folder. In CI its absence is a failure, never a skip."""
    data = SHARED_DIR / "data"
    if not data.is_dir():
        message = f"shared data folder missing: {data}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return data


@pytest.fixture
def local_site(tmp_path: Path) -> Iterator[LocalSite]:
    """An empty local site on 127.0.0.1 (port 0); tests add files under ``site.root`` or routes."""
    root = tmp_path / "site"
    root.mkdir()
    with serve(root) as site:
        yield site
