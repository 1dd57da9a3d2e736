"""Persistence for aptwatch: SQLAlchemy models, Alembic upgrades and repository functions.

Callers get and give the dataclasses of :mod:`storage.records`; ORM objects never leave here.
"""

# ruff: noqa: F401  (the imports for type checkers below are this package's exports)

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# What each module exports through the package. A name loads its module on first use: the
# analysis workers need only the records and the text identity, and importing the package would
# otherwise cost each of them SQLAlchemy's import (about 0.4 s of start-up).
_EXPORTS = {
    "storage.db": (
        "check_database",
        "database_missing",
        "make_engine",
        "make_session_factory",
        "mask_url",
        "upgrade_database",
    ),
    "storage.errors": ("DatabaseError", "ShrunkArticleError", "StorageError"),
    "storage.health": (
        "acquire_crawl_lease",
        "crawl_lease_holder",
        "get_source_health",
        "mark_operator_alerted",
        "operator_claims_older_than",
        "operator_successful_channels",
        "record_operator_delivery",
        "record_source_run",
        "release_crawl_lease",
        "source_health",
        "source_runs",
        "sources_needing_operator_alert",
        "unmark_operator_alerted",
    ),
    "storage.records": (
        "ALERTING_STANCES",
        "ArticleIn",
        "AttributionIn",
        "CandidateGroup",
        "DeliveryRecord",
        "FetchIn",
        "MentionIn",
        "OperatorDeliveryRecord",
        "PendingAlert",
        "SourceHealth",
        "SourceRunRecord",
        "StoreResult",
        "StoryInfo",
        "UrlState",
    ),
    "storage.repository": (
        "content_hash",
        "ensure_source",
        "get_url_state",
        "is_known_url",
        "known_urls",
        "mark_alert_done",
        "normalise_text",
        "put_url_state",
        "recent_alerts",
        "record_delivery",
        "record_fetches",
        "store_article",
        "successful_channels",
        "undelivered_alerts",
        "url_states",
    ),
    "storage.similarity": ("TextIdentity", "text_identity"),
    "storage.stories": ("get_story",),
}
_EXPORTED_FROM = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_EXPORTED_FROM)

if TYPE_CHECKING:  # the same names, for type checkers
    from storage.db import (
        check_database,
        database_missing,
        make_engine,
        make_session_factory,
        mask_url,
        upgrade_database,
    )
    from storage.errors import (
        DatabaseError,
        ShrunkArticleError,
        StorageError,
    )
    from storage.health import (
        acquire_crawl_lease,
        crawl_lease_holder,
        get_source_health,
        mark_operator_alerted,
        operator_claims_older_than,
        operator_successful_channels,
        record_operator_delivery,
        record_source_run,
        release_crawl_lease,
        source_health,
        source_runs,
        sources_needing_operator_alert,
        unmark_operator_alerted,
    )
    from storage.records import (
        ALERTING_STANCES,
        ArticleIn,
        AttributionIn,
        CandidateGroup,
        DeliveryRecord,
        FetchIn,
        MentionIn,
        OperatorDeliveryRecord,
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


def __getattr__(name: str) -> Any:
    module = _EXPORTED_FROM.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
