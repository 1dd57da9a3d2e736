"""Fixtures shared by the whole suite: the ../shared data folder, a local HTTP site and a
throwaway PostgreSQL database."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from aptwatch.localsite import LocalSite, serve

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = Path(os.environ.get("APTWATCH_SHARED_DIR", REPO_ROOT.parent / "shared"))
POSTGRES_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"


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


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards.

    An unreachable server skips the test, except in CI where it is a failure.
    """
    admin_url = f"{POSTGRES_SERVER}/postgres"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"aptwatch_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        admin.dispose()
        message = f"PostgreSQL unreachable at {admin_url}: {exc.orig}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    try:
        yield f"{POSTGRES_SERVER}/{name}"
    finally:
        # FORCE: a test that failed midway may still hold connections to its database.
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
