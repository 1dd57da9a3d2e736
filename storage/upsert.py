"""INSERT ... ON CONFLICT for the two supported backends (they share SQLAlchemy's API)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, case, func
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session

from storage import clock
from storage.errors import StorageError
from storage.models import Delivery, OperatorDelivery


def upsert_insert(session: Session) -> Any:
    """The dialect's ``insert`` construct, which knows ``on_conflict_do_update/nothing``."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert
    if dialect == "sqlite":
        return sqlite.insert
    raise StorageError(f"unsupported database backend {dialect!r}; use SQLite or PostgreSQL")


def upsert_delivery(
    session: Session,
    model: type[Delivery] | type[OperatorDelivery],
    message: dict[str, Any],
    channel: str,
    channel_label: str,
    ok: bool,
    error: str | None,
) -> Row[Any]:
    """Record one attempt to deliver ``message`` (the columns naming it) to ``channel``.

    The rule both delivery tables share: attempts count up, and a channel that once took the
    message stays 'sent' even if a later attempt fails (that failure is counted, its error kept).
    """
    now = clock.utcnow()
    status = "sent" if ok else "failed"
    last_error = None if ok else (error or "delivery failed without an error message")
    statement = upsert_insert(session)(model).values(
        **message,
        channel=channel,
        channel_label=channel_label,
        status=status,
        attempts=1,
        last_error=last_error,
        first_attempt_at=now,
        last_attempt_at=now,
        delivered_at=now if ok else None,
    )
    excluded = statement.excluded
    keep_sent: ColumnElement[str] = case((model.status == "sent", "sent"), else_=excluded.status)
    statement = statement.on_conflict_do_update(
        index_elements=[*(getattr(model, column) for column in message), model.channel],
        set_={
            "channel_label": excluded.channel_label,
            "status": keep_sent,
            "attempts": model.attempts + 1,
            "last_error": excluded.last_error,
            "last_attempt_at": excluded.last_attempt_at,
            "delivered_at": func.coalesce(model.delivered_at, excluded.delivered_at),
        },
    ).returning(
        *(getattr(model, column) for column in message),
        model.channel,
        model.channel_label,
        model.status,
        model.attempts,
        model.last_error,
    )
    row: Row[Any] = session.execute(statement).one()
    # The ORM identity map may hold a stale row after a raw upsert.
    session.expire_all()
    return row
