"""INSERT ... ON CONFLICT for the two supported backends (they share SQLAlchemy's API)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from storage.errors import StorageError


def upsert_insert(session: Session) -> Any:
    """The dialect's ``insert`` construct, which knows ``on_conflict_do_update/nothing``."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert
    if dialect == "sqlite":
        return sqlite.insert
    raise StorageError(f"unsupported database backend {dialect!r}; use SQLite or PostgreSQL")
