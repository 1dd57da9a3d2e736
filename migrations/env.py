"""Alembic environment. The database URL comes from the caller (``storage.upgrade_database`` puts
it, or an open connection, in ``config.attributes``) or from ``APTWATCH_DATABASE_URL``; never from
an ini file, so no credentials end up on disk."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import Connection

from storage.db import make_engine
from storage.errors import DatabaseError
from storage.models import Base

config = context.config
target_metadata = Base.metadata


def _database_url() -> str:
    url = config.attributes.get("database_url") or os.environ.get("APTWATCH_DATABASE_URL")
    if not url:
        raise DatabaseError(
            "no database URL: pass one to storage.upgrade_database() or set APTWATCH_DATABASE_URL"
        )
    return str(url)


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    context.configure(
        url=_database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=_database_url().startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(_database_url())
    try:
        with engine.connect() as new_connection:
            _run(new_connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
