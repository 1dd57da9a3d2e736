"""Load the Apprise YAML file into channels, route them, and send through one channel at a time.

A channel is one Apprise server (one URL line of the YAML file). Its ``key`` — the first 16 hex
digits of the sha256 of the server's full URL — is what the database stores, so "already delivered"
survives restarts without the database ever holding a secret; its ``label`` is Apprise's
privacy-safe URL.

Routing by Apprise tag: attribution alerts go to servers tagged ``attribution`` and to untagged
servers; operator messages go to servers tagged ``operator`` and to untagged servers. A server
tagged only ``operator`` therefore never receives attribution alerts.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit, urlunsplit

import apprise
import yaml

ATTRIBUTION_TAG = "attribution"
OPERATOR_TAG = "operator"

# Root keys of Apprise's YAML schema (version 1). Anything else is almost always a typo such as
# "url:" that would otherwise silently leave the SOC without alerts.
_APPRISE_ROOT_KEYS = frozenset(
    {"version", "asset", "tag", "tags", "groups", "urls", "include", "template"}
)
_SCHEME = re.compile(r"^\s*([A-Za-z][A-Za-z0-9+.-]*)://")
_URL_TOKEN_SPLIT = re.compile(r"[/:@?&=#,+\s]+")
_MIN_SECRET_CHARS = 4
# Query parameters Apprise's privacy mode leaves visible but that carry credentials: custom HTTP
# headers (json://...?+Authorization=Bearer x) and the usual secret-bearing names.
_SECRET_PARAM = re.compile(r"^(\+|%2b)|(auth|token|secret|pass|key|sig|session)", re.IGNORECASE)
_MAX_ERROR_CHARS = 500

logger = logging.getLogger(__name__)


@contextmanager
def _apprise_log_captured(level: int) -> Iterator[Any]:
    """Capture Apprise's log lines and keep them from reaching the application's handlers.

    Apprise masks URLs in its logs, but some messages echo a rejected token verbatim; aptwatch
    re-logs only what it has scrubbed.
    """
    apprise_logger = logging.getLogger(apprise.LOGGER_NAME)
    propagate = apprise_logger.propagate
    apprise_logger.propagate = False
    try:
        with apprise.LogCapture(level=level, fmt="%(message)s") as captured:
            yield captured
    finally:
        apprise_logger.propagate = propagate


class AlertConfigError(ValueError):
    """The Apprise config file cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class SendResult:
    ok: bool
    error: str | None = None


@dataclass(frozen=True)
class Channel:
    """One Apprise server: a stable key for the database, a privacy-safe label, its tags."""

    key: str
    label: str
    tags: frozenset[str]
    service: Any = field(compare=False, repr=False)

    def send(self, title: str, body: str, body_format: str) -> SendResult:
        """Notify this server only; never raises, and the error text never holds a secret."""
        with _apprise_log_captured(logging.WARNING) as captured:
            try:
                result = self.service.notify(title=title, body=body, body_format=body_format)
            except Exception as exc:  # a plugin bug must not stop delivery to the other channels
                return SendResult(False, self.scrub(f"{type(exc).__name__}: {exc}"))
        if result is True:
            return SendResult(True)
        lines = [line.strip() for line in captured.getvalue().splitlines() if line.strip()]
        reason = "; ".join(lines[-3:]) if lines else f"Apprise returned {result!r}"
        return SendResult(False, self.scrub(reason))

    def preferred_format(self, requested: str | None) -> str:
        """The format this server will deliver when given ``requested`` (None: its own default).

        Rendering straight into that format means Apprise never converts our escaped body.
        """
        resolve = getattr(self.service, "resolve_format", None)
        # Apprise < 2 has no resolve_format: one declared format per plugin
        chosen = resolve(requested) if resolve else getattr(self.service, "notify_format", "text")
        return str(getattr(chosen, "value", chosen))

    def scrub(self, text: str) -> str:
        """Remove every part of the full URL that the privacy-safe URL hides; cap the length."""
        for secret in _secrets_of(self.service):
            text = text.replace(secret, "****")
        return " ".join(text.split())[:_MAX_ERROR_CHARS]


def privacy_label(service: Any) -> str:
    """Apprise's privacy-safe URL, with credential-bearing query parameters masked as well."""
    parts = urlsplit(str(service.url(privacy=True)))
    query = "&".join(
        f"{quote(name, safe='')}={'****' if _SECRET_PARAM.search(name) else quote(value, safe='')}"
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
    )
    return urlunsplit(parts._replace(query=query))


def _secrets_of(service: Any) -> list[str]:
    full = str(service.url())
    private = privacy_label(service)
    visible = set(_URL_TOKEN_SPLIT.split(private))
    secrets: set[str] = set()
    for token in _URL_TOKEN_SPLIT.split(full):
        if len(token) >= _MIN_SECRET_CHARS and token not in visible:
            secrets.update({token, unquote(token)})
    for attribute in ("password", "secret", "token", "apikey", "access_token"):
        value = getattr(service, attribute, None)
        if isinstance(value, str) and len(value) >= _MIN_SECRET_CHARS:
            secrets.add(value)
    # Longest first so a secret that contains another is replaced whole.
    return sorted(secrets, key=len, reverse=True)


def channel_key(full_url: str) -> str:
    return hashlib.sha256(full_url.encode("utf-8")).hexdigest()[:16]


def _tag_names(service: Any) -> frozenset[str]:
    return frozenset(str(tag).strip().lower() for tag in getattr(service, "tags", ()) or ())


def _entry_url(entry: object) -> str | None:
    """The notification URL of one ``urls:`` entry (a string, or a mapping keyed by the URL)."""
    if isinstance(entry, str):
        return entry
    if isinstance(entry, dict):
        return next((key for key in entry if isinstance(key, str) and _SCHEME.match(key)), None)
    return None


def _load_yaml(path: Path) -> dict[str, Any]:
    try:
        content = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AlertConfigError(f"{path}: Apprise config file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise AlertConfigError(
            f"{path}: cannot read Apprise config ({type(exc).__name__})"
        ) from None
    try:
        document = yaml.safe_load(content)
    except yaml.YAMLError as exc:
        # str(exc) quotes the offending line, which may hold a password: report position only.
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "not parseable"
        raise AlertConfigError(f"{path}: invalid YAML{where}: {problem}") from None
    if not isinstance(document, dict):
        raise AlertConfigError(
            f"{path}: not an Apprise YAML config (expected a mapping with a 'urls' list)"
        )
    unknown = sorted(str(key) for key in document if key not in _APPRISE_ROOT_KEYS)
    if unknown:
        raise AlertConfigError(
            f"{path}: unknown top-level key(s) {', '.join(unknown)}; Apprise YAML allows "
            + ", ".join(sorted(_APPRISE_ROOT_KEYS))
        )
    if document.get("version", 1) != 1:
        raise AlertConfigError(f"{path}: unsupported Apprise YAML version (only version: 1)")
    if "include" in document:
        raise AlertConfigError(f"{path}: 'include' is not supported; list every URL in this file")
    urls = document.get("urls")
    if not isinstance(urls, list) or not urls:
        raise AlertConfigError(f"{path}: no 'urls' list of notification URLs")
    return document


def _services_of_entry(
    path: Path, document: dict[str, Any], number: int, entry: object
) -> list[Any]:
    url = _entry_url(entry)
    scheme_match = _SCHEME.match(url) if url else None
    if url is None or scheme_match is None:
        raise AlertConfigError(
            f"{path}: urls entry #{number} has no notification URL (scheme://...)"
        )
    scheme = scheme_match.group(1).lower()
    if scheme not in apprise.NotificationManager():
        raise AlertConfigError(
            f"{path}: urls entry #{number}: unknown notification scheme '{scheme}://'"
        )
    # One entry at a time, with the file's global settings (tags, groups, asset), so a URL Apprise
    # rejects is reported by its entry number instead of silently dropped.
    single = {key: value for key, value in document.items() if key != "urls"}
    single["urls"] = [entry]
    config = apprise.AppriseConfig()
    # Apprise logs why it rejected a URL; those lines can echo tokens, so they are not shown.
    with _apprise_log_captured(logging.ERROR):
        config.add_config(yaml.safe_dump(single, sort_keys=False), format="yaml")
        services = list(config.services())
    if not services:
        raise AlertConfigError(
            f"{path}: urls entry #{number}: Apprise cannot parse this {scheme}:// URL "
            "(check it against the Apprise documentation for that service)"
        )
    return services


def load_channels(path: Path) -> list[Channel]:
    """Every channel of an Apprise YAML config, in file order; raises AlertConfigError."""
    path = Path(path)
    document = _load_yaml(path)
    channels: dict[str, Channel] = {}
    for number, entry in enumerate(document["urls"], start=1):
        for service in _services_of_entry(path, document, number, entry):
            key = channel_key(str(service.url()))
            tags = _tag_names(service)
            if key in channels:  # the same server listed twice is one channel with both tag sets
                known = channels[key]
                channels[key] = Channel(key, known.label, known.tags | tags, known.service)
                continue
            channels[key] = Channel(key, privacy_label(service), tags, service)
    logger.debug("loaded %d alert channel(s) from %s", len(channels), path)
    return list(channels.values())


def attribution_channels(channels: Iterable[Channel]) -> list[Channel]:
    """Servers tagged ``attribution`` plus untagged servers."""
    return [c for c in channels if not c.tags or ATTRIBUTION_TAG in c.tags]


def operator_channels(channels: Iterable[Channel]) -> list[Channel]:
    """Servers tagged ``operator`` plus untagged servers."""
    return [c for c in channels if not c.tags or OPERATOR_TAG in c.tags]


def describe_channels(channels: Sequence[Channel]) -> list[str]:
    """Privacy-safe one-line descriptions, for ``aptwatch`` to list what is configured."""
    return [f"{c.label} [{', '.join(sorted(c.tags)) or 'untagged'}]" for c in channels]
