"""Persistence for aptwatch: SQLAlchemy models, Alembic upgrades and repository functions.

Callers get and give the dataclasses of :mod:`storage.records`; ORM objects never leave here.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from storage.db import (
        check_database,
        make_engine,
        make_session_factory,
        mask_url,
        upgrade_database,
    )
    from storage.errors import (
        DatabaseError,
        StorageError,
    )
    from storage.health import (
        acquire_crawl_lease,
        crawl_lease_holder,
        get_source_health,
        mark_operator_alerted,
        record_source_run,
        release_crawl_lease,
        source_health,
        source_runs,
        sources_needing_operator_alert,
    )
    from storage.records import (
        ALERTING_STANCES,
        ArticleIn,
        AttributionIn,
        DeliveryRecord,
        FetchIn,
        MentionIn,
        PendingAlert,
        SourceHealth,
        SourceRunRecord,
        StoreResult,
        StoryInfo,
        UrlState,
    )
    from storage.repository import (
        content_hash,
        ensure_source,
        get_url_state,
        is_known_url,
        known_urls,
        mark_alert_done,
        normalise_text,
        put_url_state,
        recent_alerts,
        record_delivery,
        record_fetches,
        store_article,
        successful_channels,
        undelivered_alerts,
        url_states,
    )
    from storage.similarity import (
        TextIdentity,
        text_identity,
    )
    from storage.stories import (
        get_story,
    )

# Each name loads its module on first use: the analysis workers need only the records and the
# text identity, and importing the package would otherwise cost each of them SQLAlchemy's import
# (about 0.4 s of start-up).
_EXPORTED_FROM = {
    "check_database": "storage.db",
    "make_engine": "storage.db",
    "make_session_factory": "storage.db",
    "mask_url": "storage.db",
    "upgrade_database": "storage.db",
    "DatabaseError": "storage.errors",
    "StorageError": "storage.errors",
    "acquire_crawl_lease": "storage.health",
    "crawl_lease_holder": "storage.health",
    "get_source_health": "storage.health",
    "mark_operator_alerted": "storage.health",
    "record_source_run": "storage.health",
    "release_crawl_lease": "storage.health",
    "source_health": "storage.health",
    "source_runs": "storage.health",
    "sources_needing_operator_alert": "storage.health",
    "ALERTING_STANCES": "storage.records",
    "ArticleIn": "storage.records",
    "AttributionIn": "storage.records",
    "DeliveryRecord": "storage.records",
    "FetchIn": "storage.records",
    "MentionIn": "storage.records",
    "PendingAlert": "storage.records",
    "SourceHealth": "storage.records",
    "SourceRunRecord": "storage.records",
    "StoreResult": "storage.records",
    "StoryInfo": "storage.records",
    "UrlState": "storage.records",
    "content_hash": "storage.repository",
    "ensure_source": "storage.repository",
    "get_url_state": "storage.repository",
    "is_known_url": "storage.repository",
    "known_urls": "storage.repository",
    "mark_alert_done": "storage.repository",
    "normalise_text": "storage.repository",
    "put_url_state": "storage.repository",
    "recent_alerts": "storage.repository",
    "record_delivery": "storage.repository",
    "record_fetches": "storage.repository",
    "store_article": "storage.repository",
    "successful_channels": "storage.repository",
    "undelivered_alerts": "storage.repository",
    "url_states": "storage.repository",
    "TextIdentity": "storage.similarity",
    "text_identity": "storage.similarity",
    "get_story": "storage.stories",
}

__all__ = [
    "ALERTING_STANCES",
    "ArticleIn",
    "AttributionIn",
    "DatabaseError",
    "DeliveryRecord",
    "FetchIn",
    "MentionIn",
    "PendingAlert",
    "SourceHealth",
    "SourceRunRecord",
    "StorageError",
    "StoreResult",
    "StoryInfo",
    "TextIdentity",
    "UrlState",
    "acquire_crawl_lease",
    "check_database",
    "content_hash",
    "crawl_lease_holder",
    "ensure_source",
    "get_source_health",
    "get_story",
    "get_url_state",
    "is_known_url",
    "known_urls",
    "make_engine",
    "make_session_factory",
    "mark_alert_done",
    "mark_operator_alerted",
    "mask_url",
    "normalise_text",
    "put_url_state",
    "recent_alerts",
    "record_delivery",
    "record_fetches",
    "record_source_run",
    "release_crawl_lease",
    "source_health",
    "source_runs",
    "sources_needing_operator_alert",
    "store_article",
    "successful_channels",
    "text_identity",
    "undelivered_alerts",
    "upgrade_database",
    "url_states",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTED_FROM.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
