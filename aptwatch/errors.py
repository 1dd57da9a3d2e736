"""One place that knows which exceptions are the user's to fix (bad config, files, URLs)."""

from __future__ import annotations

import yaml


class ConfigError(ValueError):
    """A configuration value a user supplied is missing or malformed."""


class InputError(ValueError):
    """A file or stream given on the command line is not what the command reads."""


def user_error_types() -> tuple[type[BaseException], ...]:
    """Exceptions that mean 'your input is wrong': shown as one line, exit code 2."""
    from alerts.channels import AlertConfigError
    from crawler.extraction import ExtractionError
    from crawler.sources import SourcesError
    from nlp.errors import NlpError
    from nlp.evaluation import EvaluationDataError
    from storage.db import DatabaseError

    return (
        ConfigError,
        InputError,
        SourcesError,
        AlertConfigError,
        DatabaseError,
        ExtractionError,
        NlpError,
        EvaluationDataError,
        FileNotFoundError,
        IsADirectoryError,
        PermissionError,
        UnicodeDecodeError,
        yaml.YAMLError,
    )


def describe(error: BaseException) -> str:
    """A single line for the terminal: no traceback, no embedded newlines."""
    if isinstance(error, UnicodeDecodeError):
        return f"input is not UTF-8 text ({error.reason} at byte {error.start})"
    if (
        isinstance(error, FileNotFoundError | IsADirectoryError | PermissionError)
        and error.filename
    ):
        reason = error.strerror or type(error).__name__
        text = f"{reason}: {error.filename}"
    else:
        text = str(error) or type(error).__name__
    return " ".join(text.split())
