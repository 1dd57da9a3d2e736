"""Engines, sessions and schema upgrades. Nothing connects at import time."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from storage.errors import DatabaseError

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parents[1] / "migrations"
SQLITE_BUSY_TIMEOUT_SECONDS = 30
POSTGRES_CONNECT_TIMEOUT_SECONDS = 10

_PASSWORD_IN_URL = re.compile(r"(?P<head>://[^:/@\s]*:)(?P<password>[^@\s]*)@")


def mask_url(url: str) -> str:
    """The URL with its password replaced by ``***``, even when SQLAlchemy cannot parse it."""
    return _PASSWORD_IN_URL.sub(r"\g<head>***@", url)


def _parse_url(url: str) -> URL:
    if not url or not url.strip():
        raise DatabaseError("database URL is empty")
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise DatabaseError(f"malformed database URL {mask_url(url)}: {exc}") from None
    if parsed.get_backend_name() == "postgresql" and not parsed.database:
        # the server would pick the user's own database, usually the "postgres" maintenance one
        raise DatabaseError(
            f"database URL {mask_url(url)} names no database; add one: .../aptwatch"
        )
    return parsed


def _sqlite_file(parsed: URL) -> Path | None:
    database = parsed.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def database_missing(url: str) -> bool:
    """True when ``url`` names a SQLite file that does not exist yet (its folder may not either).

    Creates nothing, unlike :func:`make_engine`: a command that only reads can tell "nothing
    stored yet" without leaving an empty database, and its folder, wherever a URL points.
    """
    parsed = _parse_url(url)
    if parsed.get_backend_name() != "sqlite":
        return False  # a server's database is there or not; connecting says which
    sqlite_path = _sqlite_file(parsed)
    return sqlite_path is not None and not sqlite_path.exists()


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets foreign keys, WAL, a busy timeout, real transactions."""
    parsed = _parse_url(url)
    connect_args: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        sqlite_path = _sqlite_file(parsed)
        if sqlite_path is not None:
            try:
                sqlite_path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise DatabaseError(
                    f"cannot create the folder for database {mask_url(url)}: {exc.strerror}"
                ) from None
        connect_args["timeout"] = SQLITE_BUSY_TIMEOUT_SECONDS
    elif parsed.get_backend_name() == "postgresql" and "connect_timeout" not in parsed.query:
        connect_args["connect_timeout"] = POSTGRES_CONNECT_TIMEOUT_SECONDS
    try:
        engine = create_engine(parsed, connect_args=connect_args)
    except (ArgumentError, ImportError) as exc:
        raise DatabaseError(f"cannot use database {mask_url(url)}: {exc}") from None
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine, in_memory=_sqlite_file(parsed) is None)
    return engine


def _configure_sqlite(engine: Engine, in_memory: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        # Take BEGIN away from the sqlite3 module: in its legacy mode SELECTs and SAVEPOINTs run
        # outside any transaction, which breaks the savepoint used for duplicate detection.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_SECONDS * 1000}")
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
            # In WAL mode NORMAL cannot corrupt the file; a power cut may only lose the last
            # commits, which the next crawl stores again. FULL costs an fsync per commit.
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # IMMEDIATE takes the write lock up front, so a check-then-insert cannot interleave with
        # another writer, and a late writer waits (busy timeout) instead of failing on a stale
        # WAL snapshot.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    # Dataclasses are built from rows after commit in some callers; don't expire them.
    return sessionmaker(bind=engine, expire_on_commit=False)


def _reason(exc: BaseException, url: str) -> str:
    original = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(original).splitlines() if line.strip()]
    reason = lines[0] if lines else type(original).__name__
    password = _password_of(url)
    if password:
        reason = reason.replace(password, "***")
    return reason


def _password_of(url: str) -> str | None:
    match = _PASSWORD_IN_URL.search(url)
    return match.group("password") if match and match.group("password") else None


def check_database(url: str) -> None:
    """Connect once and run ``SELECT 1``; raise :class:`DatabaseError` with a one-line reason."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        raise DatabaseError(
            f"cannot connect to database {mask_url(url)}: {_reason(exc, url)}"
        ) from None
    finally:
        engine.dispose()


def alembic_config(url: str) -> Config:
    """An Alembic config for ``url`` built in code: no alembic.ini, the URL never touches a file."""
    # Imported here: Alembic costs half a second to import, and most processes never migrate.
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Attributes, not set_main_option: configparser would choke on '%' in passwords.
    config.attributes["database_url"] = url
    return config


# The newest migration. Every crawl process checks the schema first; comparing this with the
# stored revision costs one query instead of loading Alembic (a test keeps it equal to the head).
SCHEMA_HEAD = "0004_operator_deliveries"
# PostgreSQL advisory lock held while the schema is created or upgraded: processes that start
# together on one database (two schedulers, a scheduler and a cron run) take turns, and the later
# ones find the schema done. Any fixed 64-bit number works; this one spells "aptwatch".
SCHEMA_LOCK_KEY = 0x6170747761746368


def _stored_revision(engine: Engine) -> str | None:
    try:
        with engine.connect() as connection:
            revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except SQLAlchemyError:
        return None  # no schema yet
    return None if revision is None else str(revision)


def _in_memory(parsed: URL) -> bool:
    if parsed.get_backend_name() != "sqlite":
        return False
    database = parsed.database or ""
    return database in ("", ":memory:") or (
        database.startswith("file:") and parsed.query.get("mode") == "memory"
    )


def _refuse_in_memory(url: str) -> None:
    if _in_memory(_parse_url(url)):
        # Every engine (and, for SQLite in memory, every thread) gets its own empty database: the
        # schema made here would be gone before the crawl process or its writer thread opened it.
        raise DatabaseError(
            f"{mask_url(url)} is an in-memory SQLite database, which the crawl (another process) "
            "and its writer thread cannot share; give a file, e.g. sqlite:///var/aptwatch.db"
        )


def _sqlite_path_shown(url: str) -> str:
    database = _parse_url(url).database or ""
    return database.removeprefix("file:") or mask_url(url)


def _is_read_only(exc: DBAPIError) -> bool:
    name = getattr(exc.orig, "sqlite_errorname", "") or ""
    return name.startswith("SQLITE_READONLY") or "readonly database" in str(exc.orig)


def _is_duplicate_table(exc: DBAPIError) -> bool:
    # PostgreSQL's duplicate_table; SQLite says the same with an OperationalError.
    return getattr(exc.orig, "sqlstate", None) == "42P07"


def _check_writable(engine: Engine) -> None:
    """SQLite opens a read-only file without complaint and fails on the first write: try one
    (rolled back) now, so that the command stops with one line before doing any work."""
    if engine.dialect.name != "sqlite":
        return
    # a read-only file fails here, and upgrade_database says so in one line
    with engine.connect() as connection, connection.begin() as transaction:
        connection.execute(text("UPDATE alembic_version SET version_num = version_num"))
        transaction.rollback()


def _check_known_revision(config: Config, revision: str | None, url: str) -> None:
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    if revision is None:
        return
    try:
        ScriptDirectory.from_config(config).get_revision(revision)
    except CommandError:
        raise DatabaseError(
            f"{mask_url(url)}: the database schema is at revision {revision}, which this "
            "aptwatch does not know (made by a newer version?)"
        ) from None


def upgrade_database(url: str) -> None:
    """Bring the schema at ``url`` to the newest revision; a no-op when it is already there.

    Refused, as :class:`DatabaseError`: an in-memory SQLite URL, a schema at a revision this
    version does not know, tables without Alembic's version row, and a read-only SQLite file.
    """
    _refuse_in_memory(url)
    check_database(url)
    engine = make_engine(url)
    try:
        revision = _stored_revision(engine)
        if revision == SCHEMA_HEAD:
            _check_writable(engine)
            return
        from alembic import command

        config = alembic_config(url)
        _check_known_revision(config, revision, url)
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                # released with the transaction; Alembic reads the version only after it
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK_KEY}
                )
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except DBAPIError as exc:
        if _is_read_only(exc):
            raise DatabaseError(f"{_sqlite_path_shown(url)}: the database is read-only") from None
        if isinstance(exc, OperationalError) or _is_duplicate_table(exc):
            raise DatabaseError(
                f"cannot upgrade database {mask_url(url)}: {_reason(exc, url)}"
            ) from None
        raise
    finally:
        engine.dispose()
