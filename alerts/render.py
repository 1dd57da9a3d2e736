"""Turn a stored alert into a notification title and body, with every scraped value made inert.

Everything that came from a crawled page (headline, alias, evidence, who attributes, sponsor,
source name, "also reported by") is attacker-controllable. Before it reaches Slack, Teams, Discord
or an email client it is:

- flattened to one line (no control or invisible format characters, so nothing can start an email
  header or a new markdown block) and capped in length;
- neutralised the same way for every format, so it stays inert even if a plugin converts the
  body: ``<`` / ``>`` become look-alike angle quotes (no ``<!channel>``, ``<@U123>``,
  ``<http://x|y>`` or HTML tags), a mention ``@here`` gets a zero-width space after the ``@``,
  ``](`` is split so ``[x](y)`` and ``![x](y)`` are no longer links, and ``http://`` becomes the
  SOC-style defanged ``hxxp://``;
- finally escaped for the target format (markdown punctuation, HTML entities).

The article link is the one value meant to stay clickable: it must be http(s) and every character
that could end or disguise a link in any of the formats is percent-encoded.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Sequence
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit

from storage.records import PendingAlert

FORMATS = ("text", "markdown", "html")

MAX_HEADLINE_CHARS = 300
MAX_EVIDENCE_CHARS = 1000
MAX_NAME_CHARS = 120
MAX_URL_CHARS = 2000
MAX_ALSO_REPORTED = 10
MAX_CANDIDATES = 5
MAX_DIGEST_TITLE_GROUPS = 5

ATTACK_GROUP_URL = "https://attack.mitre.org/groups/{}/"
_MITRE_GROUP_ID = re.compile(r"G\d{4,5}")

_MENTION_START = re.compile(r"(?<![\w.+-])@(?=\w)")
_URL_SCHEME = re.compile(r"\b(h)(tt)(ps?)(?=:)", re.IGNORECASE)
_FTP_SCHEME = re.compile(r"\b(f)(t)(p)(?=:)", re.IGNORECASE)
_WHITESPACE_RUN = re.compile(r"\s+")
# Inline markup only: scraped values never start a line, so block syntax (#, -, >) cannot trigger,
# and < > are already gone. Apprise translates these escapes for Slack's mrkdwn.
_MARKDOWN_SPECIALS = re.compile(r"([\\`*_\[\]~])")
# RFC 3986 reserved and unreserved characters minus those that end or disguise a link in one of the
# target formats: quotes, parentheses, brackets, angle brackets, pipes, backslashes, spaces.
_URL_SAFE_CHARS = ":/?#@!$&*+,;=%~-._"

_ZERO_WIDTH_SPACE = "\u200b"
# Single angle quotation marks: read like < > but no chat or HTML parser treats them as markup.
_LOOKALIKE_LT = "\u2039"
_LOOKALIKE_GT = "\u203a"


class AlertRenderError(ValueError):
    """An alert was asked to render in a format aptwatch does not produce."""


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise AlertRenderError(
            f"unknown alert format {fmt!r}: expected one of {', '.join(FORMATS)}"
        )


def _cap(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + "…"


def one_line(value: object, limit: int) -> str:
    """A single printable line: control, format and separator characters become spaces."""
    if value is None:
        return ""
    chars = []
    for char in str(value):
        category = unicodedata.category(char)
        # Cc: control (CR, LF, ESC, NUL...); Cf: invisible format (bidi overrides, zero-width);
        # Zl/Zp: Unicode line/paragraph separators that some clients render as newlines.
        chars.append(" " if category in {"Cc", "Cf", "Zl", "Zp"} else char)
    return _cap(_WHITESPACE_RUN.sub(" ", "".join(chars)).strip(), limit)


def break_mentions_and_tags(text: str) -> str:
    """No ``<!channel>``, ``<@U123>``, ``<url|label>``, HTML tag or ``@here`` survives."""
    text = text.replace("<", _LOOKALIKE_LT).replace(">", _LOOKALIKE_GT)
    return _MENTION_START.sub("@" + _ZERO_WIDTH_SPACE, text)


def neutralise(text: str) -> str:
    """Make chat markup in scraped text display literally on every platform we send to."""
    text = break_mentions_and_tags(text).replace("](", "] (")
    text = _URL_SCHEME.sub(lambda m: m.group(1) + "xx" + m.group(3), text)
    return _FTP_SCHEME.sub(lambda m: m.group(1) + "x" + m.group(3), text)


def scraped(value: object, limit: int) -> str:
    """Scraped text as one inert, capped line (not yet escaped for a format)."""
    return neutralise(one_line(value, limit))


def _escape(text: str, fmt: str) -> str:
    if fmt == "markdown":
        return _MARKDOWN_SPECIALS.sub(r"\\\1", text)
    if fmt == "html":
        return html.escape(text, quote=True)
    return text


def safe_link(url: str | None) -> str | None:
    """The article URL if http(s), with link-breaking characters percent-encoded; else None."""
    flat = one_line(url, MAX_URL_CHARS * 2).replace(" ", "")
    try:
        parts = urlsplit(flat)
    except ValueError:
        return None
    if parts.scheme.lower() not in {"http", "https"} or not parts.netloc:
        return None
    encoded = quote(flat, safe=_URL_SAFE_CHARS)
    return encoded if len(encoded) <= MAX_URL_CHARS else None


def _format_date(published: datetime | None) -> str:
    if published is None:
        return "date unknown"
    if published.tzinfo is not None:
        published = published.astimezone(UTC)
    if (published.hour, published.minute, published.second) == (0, 0, 0):
        return published.strftime("%Y-%m-%d")
    return published.strftime("%Y-%m-%d %H:%M UTC")


def _mitre_id(alert: PendingAlert) -> str | None:
    mitre = one_line(alert.mitre_id, 16)
    return mitre if _MITRE_GROUP_ID.fullmatch(mitre) else None


def _other_candidates(alert: PendingAlert) -> list[str]:
    """'<name> (<id>)' of each other group the alias may mean, inert but not yet escaped."""
    shown = [
        f"{scraped(c.group_name, MAX_NAME_CHARS) or 'unknown group'} ({scraped(c.group_id, 64)})"
        for c in alert.other_candidates[:MAX_CANDIDATES]
    ]
    if len(alert.other_candidates) > MAX_CANDIDATES:
        shown.append(f"{len(alert.other_candidates) - MAX_CANDIDATES} more")
    return shown


def render_title(alert: PendingAlert) -> str:
    """'APT attribution: <group> (<MITRE id>)' — one line, so it cannot inject email headers.

    When the name used may mean other groups too, the title says so and names them."""
    name = scraped(alert.group_name, MAX_NAME_CHARS) or "unknown group"
    mitre = _mitre_id(alert)
    title = f"APT attribution: {name} ({mitre})" if mitre else f"APT attribution: {name}"
    others = _other_candidates(alert)
    if others:
        title += f" — ambiguous name, may also be {' or '.join(others)}"
    return title


def _stance_text(stance: str) -> str:
    if stance == "hedged":
        return "HEDGED — suspected, the source does not state it as fact"
    if stance == "asserted":
        return "asserted — the source states it as fact"
    return scraped(stance, 20) or "unknown"


def _fields(alert: PendingAlert, fmt: str) -> list[tuple[str, str]]:
    """(label, value already escaped for fmt) pairs, in display order; absent facts are skipped."""

    def esc(value: object, limit: int = MAX_NAME_CHARS) -> str:
        return _escape(scraped(value, limit), fmt)

    mitre = _mitre_id(alert)
    group = esc(alert.group_name) or "unknown group"
    if mitre:
        group += f" ({mitre}) — {_link(ATTACK_GROUP_URL.format(mitre), fmt)}"
    fields = [
        ("Source", esc(alert.source_name)),
        ("Published", _format_date(alert.published)),
        ("Group", group),
    ]
    alias = one_line(alert.alias, MAX_NAME_CHARS)
    if alias and alias.casefold() != one_line(alert.group_name, MAX_NAME_CHARS).casefold():
        fields.append(("Name used in the article", esc(alias)))
    others = _other_candidates(alert)
    if others:
        # The detector chose one group for a name the sources give several: never silently.
        may_mean = " or ".join(_escape(other, fmt) for other in others)
        fields.append(("Ambiguous name", f"'{esc(alert.alias)}' may also mean {may_mean}"))
    fields.append(("Stance", _escape(_stance_text(alert.stance), fmt)))
    if one_line(alert.attributed_by, MAX_NAME_CHARS):
        fields.append(("Attributed by", esc(alert.attributed_by)))
    if one_line(alert.sponsor, MAX_NAME_CHARS):
        fields.append(("Sponsor", esc(alert.sponsor)))
    fields.append(("Evidence", "“" + esc(alert.evidence, MAX_EVIDENCE_CHARS) + "”"))
    link = safe_link(alert.article_url)
    fields.append(("Link", _link(link, fmt) if link else "(not an http(s) link; withheld)"))
    also = [scraped(name, MAX_NAME_CHARS) for name in alert.also_reported_by]
    also = [name for name in also if name]
    if also:
        shown = ", ".join(_escape(name, fmt) for name in also[:MAX_ALSO_REPORTED])
        if len(also) > MAX_ALSO_REPORTED:
            shown += f" and {len(also) - MAX_ALSO_REPORTED} more"
        fields.append(("Also reported by", shown))
    return fields


def _link(url: str, fmt: str) -> str:
    # url is already percent-encoded by safe_link (or is our own constant), so only HTML needs more.
    if fmt == "html":
        return f'<a href="{html.escape(url)}">{html.escape(url)}</a>'
    return url


def _headline(alert: PendingAlert, fmt: str) -> str:
    return _escape(scraped(alert.article_title, MAX_HEADLINE_CHARS) or "(untitled article)", fmt)


def _body(alert: PendingAlert, fmt: str) -> str:
    headline = _headline(alert, fmt)
    fields = _fields(alert, fmt)
    if fmt == "html":
        items = "".join(f"<li><strong>{label}:</strong> {value}</li>" for label, value in fields)
        return f"<p><strong>{headline}</strong></p><ul>{items}</ul>"
    if fmt == "markdown":
        items = "\n".join(f"- **{label}:** {value}" for label, value in fields)
        return f"**{headline}**\n\n{items}"
    items = "\n".join(f"{label}: {value}" for label, value in fields)
    return f"{headline}\n{items}"


def render_alert(alert: PendingAlert, fmt: str) -> tuple[str, str]:
    """(title, body) for one alert in ``fmt`` ("text", "markdown" or "html")."""
    _check_format(fmt)
    return render_title(alert), _body(alert, fmt)


def _group_summary(alerts: Sequence[PendingAlert]) -> str:
    names: list[str] = []
    for alert in alerts:
        name = scraped(alert.group_name, MAX_NAME_CHARS) or "unknown group"
        if alert.other_candidates:
            name += " (ambiguous name)"
        if name not in names:
            names.append(name)
    shown = ", ".join(names[:MAX_DIGEST_TITLE_GROUPS])
    if len(names) > MAX_DIGEST_TITLE_GROUPS:
        shown += f" and {len(names) - MAX_DIGEST_TITLE_GROUPS} more"
    return shown


def render_digest(alerts: Sequence[PendingAlert], fmt: str) -> tuple[str, str]:
    """(title, body) for several alerts in one message; each keeps its title, evidence and link."""
    _check_format(fmt)
    if not alerts:
        raise AlertRenderError("a digest needs at least one alert")
    count = len(alerts)
    noun = "alert" if count == 1 else "alerts"
    title = f"APT attribution digest: {count} {noun} ({_group_summary(alerts)})"
    sections = []
    for number, alert in enumerate(alerts, start=1):
        heading = _escape(f"{number}. {render_title(alert)}", fmt)
        if fmt == "html":
            sections.append(f"<h3>{heading}</h3>{_body(alert, fmt)}")
        elif fmt == "markdown":
            sections.append(f"### {heading}\n\n{_body(alert, fmt)}")
        else:
            sections.append(f"{heading}\n{_body(alert, fmt)}")
    separator = "<hr>" if fmt == "html" else "\n\n---\n\n" if fmt == "markdown" else "\n\n"
    return title, separator.join(sections)
