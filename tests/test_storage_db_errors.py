"""Databases aptwatch cannot use end in one clear line and exit code 2, not an internal error."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from aptwatch.cli import app
from storage import DatabaseError, make_engine, upgrade_database
from storage.models import Base

runner = CliRunner()


def cli(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def execute(url: str, *statements: str) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            for statement in statements:
                connection.execute(text(statement))
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/aptwatch.db"
    postgres_url: str = request.getfixturevalue("postgres_url")
    return postgres_url


def test_a_schema_made_by_a_newer_aptwatch_is_named(database_url: str) -> None:
    upgrade_database(database_url)
    execute(database_url, "UPDATE alembic_version SET version_num = '0009_future'")
    expected = "the database schema is at revision 0009_future, which this aptwatch does not know"

    with pytest.raises(DatabaseError, match=expected):
        upgrade_database(database_url)
    for command in (["db", "upgrade"], ["alerts", "send"]):
        code, output = cli(*command, "--database-url", database_url)
        assert code == 2, output
        assert expected in output and "internal error" not in output
        assert len(output.strip().splitlines()) == 1


@pytest.mark.parametrize("folder", ["var", "var/not/made/yet"])
@pytest.mark.parametrize(
    ("command", "says"),
    [(["sources", "status"], "nothing crawled yet"), (["alerts", "send"], "no alert to send")],
)
def test_a_command_that_reads_leaves_no_database_where_there_is_none(
    tmp_path: Path, folder: str, command: list[str], says: str
) -> None:
    """`sources status` (and `alerts send`) with a SQLite database whose folder did not exist
    made the folder and an empty database there: a mistyped URL left them behind."""
    (tmp_path / "var").mkdir()
    database = tmp_path / folder / "aptwatch.db"
    url = f"sqlite:///{database}"
    sources = tmp_path / "sources.yaml"
    sources.write_text("sources:\n  - {name: A, kind: feed, url: 'https://a.example/rss'}\n")
    options = ["--sources", str(sources)] if command[0] == "sources" else []

    code, output = cli(*command, "--database-url", url, *options)

    assert code == 0, output
    assert list((tmp_path / "var").iterdir()) == []  # neither the database nor its folder
    assert f"aptwatch: no database yet at {url}: {says}" in output.splitlines()
    if command[0] == "sources":
        assert output.splitlines()[2].split() == ["A", "never", "run", "-", "-", "-", "-"]


@pytest.mark.parametrize("command", [["crawl"], ["run"], ["run", "--forever"]])
def test_a_bad_sources_file_leaves_no_database_folder_behind(
    tmp_path: Path, command: list[str]
) -> None:
    """The settings check made the SQLite database's folder before the sources file was read."""
    sources = tmp_path / "sources.yaml"
    sources.write_text("sources:\n  - {name: A, kind: fed}\n")
    url = f"sqlite:///{tmp_path / 'var' / 'aptwatch.db'}"

    code, output = cli(*command, "--database-url", url, "--sources", str(sources))

    assert code == 2, output
    assert "kind" in output
    assert not (tmp_path / "var").exists()


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///", "sqlite:///:memory:"])
def test_an_in_memory_database_is_refused(url: str) -> None:
    with pytest.raises(DatabaseError, match="in-memory SQLite database"):
        upgrade_database(url)
    code, output = cli("db", "upgrade", "--database-url", url)
    assert code == 2 and "in-memory SQLite database" in output and "give a file" in output


def test_tables_without_a_version_row_are_one_line(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        Base.metadata.create_all(engine)  # aptwatch's tables, but no alembic_version
    finally:
        engine.dispose()

    with pytest.raises(DatabaseError, match=r"cannot upgrade database .*already exists"):
        upgrade_database(database_url)
    code, output = cli("db", "upgrade", "--database-url", database_url)
    assert code == 2 and "already exists" in output and "internal error" not in output


def test_a_read_only_sqlite_database_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "aptwatch.db"
    upgrade_database(f"sqlite:///{path}")
    # mode=ro: file permissions would not stop the root user the tests may run as
    read_only = f"sqlite:///file:{path}?mode=ro&uri=true"

    with pytest.raises(DatabaseError, match="the database is read-only"):
        upgrade_database(read_only)
    code, output = cli("db", "upgrade", "--database-url", read_only)
    assert code == 2, output
    assert output.strip() == f"aptwatch: error: {path}: the database is read-only"


def test_processes_starting_together_on_a_fresh_postgresql_database_share_one_schema(
    postgres_url: str,
) -> None:
    # Two schedulers (or a scheduler and a cron run) started together on a new database: each
    # process creates the schema when it finds none, and the second must wait for the first,
    # not fail on its tables.
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    with context.Pool(4) as pool:
        outcomes = pool.map(_upgrade_reporting, [postgres_url] * 4)

    assert outcomes == ["ok"] * 4
    engine = make_engine(postgres_url)
    try:
        with engine.connect() as connection:
            versions = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    finally:
        engine.dispose()
    assert len(versions) == 1


def _upgrade_reporting(url: str) -> str:
    try:
        upgrade_database(url)
    except DatabaseError as error:
        return str(error)
    return "ok"
