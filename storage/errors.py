"""Exceptions raised by ``storage``; both are ValueErrors so the CLI reports them as bad input."""

from __future__ import annotations


class StorageError(ValueError):
    """Input the storage layer refuses (unknown source, malformed record, unknown alert)."""


class DatabaseError(StorageError):
    """The database URL is malformed or the database cannot be reached."""


class ShrunkArticleError(StorageError):
    """A changed article's new text looks like an error or paywall page, not the article: the
    stored version is kept."""
