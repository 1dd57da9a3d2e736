"""Persistence for aptwatch: SQLAlchemy models, Alembic upgrades and repository functions.

Callers get and give the dataclasses of :mod:`storage.records`; ORM objects never leave here.
"""

from storage.db import (
    check_database,
    make_engine,
    make_session_factory,
    mask_url,
    upgrade_database,
)
from storage.errors import DatabaseError, StorageError
from storage.records import (
    ALERTING_STANCES,
    ArticleIn,
    AttributionIn,
    DeliveryRecord,
    MentionIn,
    PendingAlert,
    StoreResult,
    UrlState,
)
from storage.repository import (
    content_hash,
    ensure_source,
    get_url_state,
    is_known_url,
    mark_alert_done,
    normalise_text,
    put_url_state,
    recent_alerts,
    record_delivery,
    store_article,
    successful_channels,
    undelivered_alerts,
)

__all__ = [
    "ALERTING_STANCES",
    "ArticleIn",
    "AttributionIn",
    "DatabaseError",
    "DeliveryRecord",
    "MentionIn",
    "PendingAlert",
    "StorageError",
    "StoreResult",
    "UrlState",
    "check_database",
    "content_hash",
    "ensure_source",
    "get_url_state",
    "is_known_url",
    "make_engine",
    "make_session_factory",
    "mark_alert_done",
    "mask_url",
    "normalise_text",
    "put_url_state",
    "recent_alerts",
    "record_delivery",
    "store_article",
    "successful_channels",
    "undelivered_alerts",
    "upgrade_database",
]
