"""The one exception family of the detector: bad input or bad data, named plainly."""

from __future__ import annotations


class NlpError(ValueError):
    """Base class for every error raised by the nlp package."""


class KnowledgeBaseError(NlpError):
    """The group knowledge base (or an upstream catalogue it is built from) is missing or broken."""
