"""Alert delivery through real Apprise plugins to real local receivers and a real database.

Receivers: an HTTP webhook (Apprise ``json://``) and an aiosmtpd SMTP server with AUTH (Apprise
``mailto://``). Databases: SQLite in tmp_path, and a throwaway PostgreSQL database where the
exactly-once bookkeeping is exercised.
"""

from __future__ import annotations

import io
import re
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from receivers import SmtpReceiver, WebhookReceiver, smtp_receiver, webhook_receiver
from sqlalchemy.orm import Session, sessionmaker

from alerts.channels import (
    AlertConfigError,
    attribution_channels,
    load_channels,
    operator_channels,
)
from alerts.dispatch import dispatch, send_operator_message
from alerts.render import render_alert, render_digest
from storage import (
    ArticleIn,
    AttributionIn,
    CandidateGroup,
    MentionIn,
    PendingAlert,
    ensure_source,
    make_engine,
    make_session_factory,
    operator_successful_channels,
    record_operator_delivery,
    store_article,
    upgrade_database,
)

SMTP_USER = "soc-mailer"
SMTP_PASSWORD = "Hunter2-Secret-Pw"
ARTICLE_URL = "https://news.example.org/2025/czechia-blames-apt31"
EVIDENCE = (
    "The Czech Republic has formally accused the Chinese state-sponsored group APT31 of "
    "targeting the Ministry of Foreign Affairs."
)
MALICIOUS_TITLE = (
    "Breaking <!channel> @here\r\nBcc: x@evil.example\r\n"
    "[click here](http://evil.example/phish) ![pixel](http://evil.example/p.png) "
    "<http://evil.example/x|official advisory> <@U12345> <b>bold</b>"
)


# --- receivers ----------------------------------------------------------------------------------


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    with webhook_receiver() as receiver:
        yield receiver


@pytest.fixture
def mailbox() -> Iterator[SmtpReceiver]:
    # The server checks this login, so the password in the Apprise URL is really used.
    with smtp_receiver(login=(SMTP_USER, SMTP_PASSWORD)) as receiver:
        yield receiver


# --- database -----------------------------------------------------------------------------------


def _sessions_for(url: str) -> Iterator[sessionmaker[Session]]:
    upgrade_database(url)
    engine = make_engine(url)
    try:
        yield make_session_factory(engine)
    finally:
        engine.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/aptwatch.db"


@pytest.fixture
def sessions(sqlite_url: str) -> Iterator[sessionmaker[Session]]:
    yield from _sessions_for(sqlite_url)


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db_sessions(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[sessionmaker[Session]]:
    if request.param == "sqlite":
        yield from _sessions_for(f"sqlite:///{tmp_path}/aptwatch.db")
    else:
        yield from _sessions_for(request.getfixturevalue("postgres_url"))


def store_attribution(
    sessions: sessionmaker[Session],
    *,
    number: int = 1,
    title: str = "Czechia blames China's APT31 for ministry hack",
    stance: str = "asserted",
    group_id: str = "G0128",
    group_name: str = "ZIRCONIUM",
    alias: str = "APT31",
    mitre_id: str | None = "G0128",
    evidence: str = EVIDENCE,
    candidates: tuple[CandidateGroup, ...] = (),
) -> int:
    """Store one article with one attribution, as the crawler would; returns alerts created."""
    text_body = f"{evidence} Article number {number} with its own text."
    start = text_body.find(alias) if alias in text_body else 0
    with sessions() as session:
        ensure_source(session, "Example News", "rss", "https://news.example.org/feed")
        result = store_article(
            session,
            ArticleIn(
                url=f"{ARTICLE_URL}-{number}",
                canonical_url=f"{ARTICLE_URL}-{number}",
                source_name="Example News",
                title=title,
                text=text_body,
                published=datetime(2025, 5, 28, 9, 30, tzinfo=UTC),
            ),
            [MentionIn(group_id, group_name, alias, start, start + len(alias), candidates)],
            [
                AttributionIn(
                    group_id=group_id,
                    group_name=group_name,
                    alias=alias,
                    stance=stance,
                    evidence=evidence,
                    mitre_id=mitre_id,
                    attributed_by="Czech Ministry of Foreign Affairs",
                    sponsor="China",
                    confidence=0.9,
                    candidates=candidates,
                )
            ],
        )
        session.commit()
    return result.alerts_created


def write_config(tmp_path: Path, *urls: tuple[str, str | None]) -> Path:
    """An Apprise YAML file listing (url, tag) pairs; tag None leaves the URL untagged."""
    lines = ["version: 1", "urls:"]
    for url, tag in urls:
        lines.append(f'  - "{url}":' if tag else f'  - "{url}"')
        if tag:
            lines.append(f"      tag: {tag}")
    path = tmp_path / "apprise.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def pending_alert(**changes: Any) -> PendingAlert:
    values: dict[str, Any] = {
        "alert_id": 1,
        "article_id": 1,
        "article_url": ARTICLE_URL,
        "article_title": "Czechia blames China's APT31 for ministry hack",
        "source_name": "Example News",
        "published": datetime(2025, 5, 28, 9, 30, tzinfo=UTC),
        "group_id": "G0128",
        "group_name": "ZIRCONIUM",
        "mitre_id": "G0128",
        "alias": "APT31",
        "stance": "asserted",
        "attributed_by": "Czech Ministry of Foreign Affairs",
        "sponsor": "China",
        "evidence": EVIDENCE,
        "confidence": 0.9,
        "created_at": datetime(2025, 5, 28, 10, 0, tzinfo=UTC),
    }
    values.update(changes)
    return PendingAlert(**values)


def html_part(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None, "Apprise sends email as HTML by default"
    content = part.get_content()
    assert isinstance(content, str)
    return content


# --- delivery -----------------------------------------------------------------------------------


def test_one_attribution_reaches_each_channel_once_and_never_again(
    tmp_path: Path, sessions: sessionmaker[Session], webhook: WebhookReceiver, mailbox: SmtpReceiver
) -> None:
    config = write_config(
        tmp_path,
        (webhook.apprise_url("soc"), "attribution"),
        (mailbox.apprise_url(), None),
        (webhook.apprise_url("ops"), "operator"),
    )
    assert store_attribution(sessions) == 1

    report = dispatch(sessions, config)

    assert (report.sent, report.failed, report.skipped) == (2, 0, 0)
    assert len(report.channels) == 2 and all(SMTP_PASSWORD not in c for c in report.channels)
    [posted] = webhook.received("soc")
    assert posted["title"] == "APT attribution: ZIRCONIUM (G0128)"
    for expected in (
        "Czechia blames China's APT31 for ministry hack",
        "Source: Example News",
        "2025-05-28 09:30 UTC",
        "https://attack.mitre.org/groups/G0128/",
        "Name used in the article: APT31",
        "Stance: asserted",
        "Attributed by: Czech Ministry of Foreign Affairs",
        "Sponsor: China",
        f"“{EVIDENCE}”",
        f"{ARTICLE_URL}-1",
    ):
        assert expected in posted["message"]
    assert webhook.received("ops") == [], "an operator-only channel gets no attribution alerts"
    [mail] = mailbox.mails
    assert mail.rcpt_tos == ["soc@example.org"]
    assert mail.message["Subject"] == "APT attribution: ZIRCONIUM (G0128)"
    assert EVIDENCE in html_part(mail.message)

    again = dispatch(sessions, config)

    assert (again.sent, again.failed, again.skipped) == (0, 0, 0)
    assert len(webhook.posts) == 1 and len(mailbox.mails) == 1


def test_failed_channel_is_retried_next_time_and_the_other_is_not_resent(
    tmp_path: Path,
    any_db_sessions: sessionmaker[Session],
    webhook: WebhookReceiver,
    mailbox: SmtpReceiver,
) -> None:
    config = write_config(
        tmp_path, (webhook.apprise_url("soc"), None), (mailbox.apprise_url(), None)
    )
    store_attribution(any_db_sessions)
    webhook.status = 500

    first = dispatch(any_db_sessions, config)

    assert (first.sent, first.failed) == (1, 1)
    assert len(webhook.received("soc")) == 1 and len(mailbox.mails) == 1

    webhook.status = 200
    second = dispatch(any_db_sessions, config)

    assert (second.sent, second.failed) == (1, 0)
    assert len(webhook.received("soc")) == 2, "the failed channel got the alert on the retry"
    assert len(mailbox.mails) == 1, "the channel that succeeded was not sent the alert again"

    third = dispatch(any_db_sessions, config)

    assert (third.sent, third.failed) == (0, 0)
    assert len(webhook.posts) == 2 and len(mailbox.mails) == 1


def test_a_dead_channel_is_given_up_for_the_run_and_its_alerts_wait(
    tmp_path: Path, sessions: sessionmaker[Session], webhook: WebhookReceiver
) -> None:
    config = write_config(tmp_path, (webhook.apprise_url("soc"), None))
    for number in range(1, 6):
        store_attribution(sessions, number=number)
    webhook.status = 503

    report = dispatch(sessions, config, digest_threshold=None)

    assert (report.sent, report.failed, report.skipped) == (0, 3, 2)
    assert len(webhook.posts) == 3

    webhook.status = 200
    recovered = dispatch(sessions, config, digest_threshold=None)

    assert (recovered.sent, recovered.failed, recovered.skipped) == (5, 0, 0)


def test_negated_attribution_sends_nothing(
    tmp_path: Path, sessions: sessionmaker[Session], webhook: WebhookReceiver
) -> None:
    config = write_config(tmp_path, (webhook.apprise_url("soc"), None))
    assert store_attribution(sessions, stance="negated") == 0

    report = dispatch(sessions, config)

    assert (report.sent, report.failed) == (0, 0)
    assert webhook.posts == []


def test_hedged_attribution_is_marked_hedged(
    tmp_path: Path, sessions: sessionmaker[Session], webhook: WebhookReceiver
) -> None:
    config = write_config(tmp_path, (webhook.apprise_url("soc"), None))
    store_attribution(sessions, stance="hedged")

    dispatch(sessions, config)

    [posted] = webhook.received("soc")
    assert "Stance: HEDGED — suspected, the source does not state it as fact" in posted["message"]


GRIZZLY_STEPPE = (CandidateGroup("G0007", "APT28"), CandidateGroup("G0016", "APT29"))


def test_an_ambiguous_name_is_said_so_with_the_other_candidates_by_webhook_and_email(
    tmp_path: Path, sessions: sessionmaker[Session], webhook: WebhookReceiver, mailbox: SmtpReceiver
) -> None:
    config = write_config(
        tmp_path, (webhook.apprise_url("soc"), None), (mailbox.apprise_url(), None)
    )
    store_attribution(
        sessions,
        title="DHS ties Grizzly Steppe to the DNC breach",
        group_id="G0007",
        group_name="APT28",
        alias="Grizzly Steppe",
        mitre_id="G0007",
        evidence="The DHS report said Grizzly Steppe hackers compromised the DNC.",
        candidates=GRIZZLY_STEPPE,
    )
    store_attribution(sessions, number=2)  # APT31: one group only

    dispatch(sessions, config)

    by_group = {p["title"].split(":")[1].split()[0]: p for p in webhook.received("soc")}
    ambiguous, plain = by_group["APT28"], by_group["ZIRCONIUM"]
    line = "Ambiguous name: 'Grizzly Steppe' may also mean APT29 (G0016)"
    assert line in ambiguous["message"]
    assert ambiguous["title"] == (
        "APT attribution: APT28 (G0007) — ambiguous name, may also be APT29 (G0016)"
    )
    assert "mbiguous" not in plain["title"] + plain["message"]
    assert plain["title"] == "APT attribution: ZIRCONIUM (G0128)"
    mails = {m.message["Subject"]: html_part(m.message) for m in mailbox.mails}
    assert (
        "Ambiguous name:</strong> 'Grizzly Steppe' may also mean APT29 (G0016)"
        in (mails[ambiguous["title"]])
    )
    assert "mbiguous" not in mails[plain["title"]]


def test_ambiguous_names_are_marked_in_markdown_html_and_digests() -> None:
    nobelium = pending_alert(
        group_id="G0016",
        group_name="APT29",
        mitre_id="G0016",
        alias="Nobelium",
        candidates=(
            CandidateGroup("G0016", "APT29"),
            CandidateGroup("misp:unc2452", "UNC2452"),
            CandidateGroup("misp:dark-halo", "Dark_Halo <b>"),
        ),
    )

    _, markdown = render_alert(nobelium, "markdown")
    _, html = render_alert(nobelium, "html")
    title, digest = render_digest([nobelium, pending_alert(alert_id=2)], "text")

    assert (
        "- **Ambiguous name:** 'Nobelium' may also mean UNC2452 (misp:unc2452) or Dark\\_Halo"
        in markdown
    )
    assert "<strong>Ambiguous name:</strong> 'Nobelium' may also mean UNC2452 (misp:unc2452)" in (
        html
    )
    assert "<b>" not in html
    assert title == "APT attribution digest: 2 alerts (APT29 (ambiguous name), ZIRCONIUM)"
    assert digest.count("Ambiguous name:") == 1


def test_malicious_scraped_text_arrives_inert_by_webhook_and_email(
    tmp_path: Path, sessions: sessionmaker[Session], webhook: WebhookReceiver, mailbox: SmtpReceiver
) -> None:
    config = write_config(
        tmp_path, (webhook.apprise_url("soc"), None), (mailbox.apprise_url(), None)
    )
    store_attribution(
        sessions,
        title=MALICIOUS_TITLE,
        group_name="ZIRCONIUM\r\nBcc: y@evil.example",
        alias="APT31 <!everyone>",
        evidence="APT31 did it, see [the proof](http://evil.example/proof) @channel",
    )

    dispatch(sessions, config)

    [mail] = mailbox.mails
    assert mail.rcpt_tos == ["soc@example.org"], "no recipient was injected into the envelope"
    assert "Bcc" not in mail.message and "Cc" not in mail.message
    other_headers = [value for name, value in mail.message.items() if name != "Subject"]
    assert not any("evil.example" in value for value in other_headers)
    # The injected header line is flattened into the one-line subject as harmless text.
    assert mail.message["Subject"] == "APT attribution: ZIRCONIUM Bcc: y@evil.example (G0128)"
    hrefs = set(re.findall(r'href="([^"]*)"', html_part(mail.message)))
    assert hrefs == {f"{ARTICLE_URL}-1", "https://attack.mitre.org/groups/G0128/"}
    assert "<b>" not in html_part(mail.message)

    [posted] = webhook.received("soc")
    message = posted["message"]
    assert "\r" not in posted["title"] and "\n" not in posted["title"]
    for live_markup in (
        "<!channel>",
        "<!everyone>",
        "<@U12345>",
        "<http://evil.example/x|",
        "](http",
        "<b>",
        "@here",
        "@channel",
        "http://evil.example",
    ):
        assert live_markup not in message, live_markup
    headline = message.splitlines()[0]
    # The angle brackets come back as look-alike single angle quotes, the mention is broken.
    assert headline.startswith(
        "Breaking \u2039!channel\u203a @\u200bhere Bcc: x@evil.example [click here]"
    )
    assert "hxxp://evil.example/phish" in headline, "the scraped URL is shown defanged"


def test_without_config_alerts_are_printed_once(sessions: sessionmaker[Session]) -> None:
    store_attribution(sessions)
    out = io.StringIO()

    report = dispatch(sessions, None, out=out)

    printed = out.getvalue()
    assert report.sent == 1 and report.channels == ("terminal",)
    assert printed.startswith("APT attribution: ZIRCONIUM (G0128)\n")
    assert EVIDENCE in printed and f"{ARTICLE_URL}-1" in printed

    second = io.StringIO()
    assert dispatch(sessions, None, out=second).sent == 0
    assert second.getvalue() == ""


def test_many_pending_alerts_go_out_as_one_digest(
    tmp_path: Path, sessions: sessionmaker[Session], webhook: WebhookReceiver
) -> None:
    config = write_config(tmp_path, (webhook.apprise_url("soc"), None))
    for number in range(1, 4):
        store_attribution(sessions, number=number)

    report = dispatch(sessions, config, digest_threshold=2)

    assert report.sent == 3
    [digest] = webhook.received("soc")
    assert digest["title"] == "APT attribution digest: 3 alerts (ZIRCONIUM)"
    for number in range(1, 4):
        assert f"{ARTICLE_URL}-{number}" in digest["message"]
    assert dispatch(sessions, config, digest_threshold=2).sent == 0
    assert len(webhook.posts) == 1


def test_operator_messages_go_only_to_operator_and_untagged_channels(
    tmp_path: Path, sessions: sessionmaker[Session], webhook: WebhookReceiver
) -> None:
    config = write_config(
        tmp_path,
        (webhook.apprise_url("soc"), "attribution"),
        (webhook.apprise_url("ops"), "operator"),
        (webhook.apprise_url("all"), None),
    )
    channels = load_channels(config)
    assert len(attribution_channels(channels)) == 2 and len(operator_channels(channels)) == 2

    report = send_operator_message(
        sessions, config, "CISA", 1, "Source failing", "feed https://x.example gave 500\n@here"
    )
    assert (report.sent, report.failed, report.channels, report.complete) == (2, 0, 2, True)

    assert webhook.received("soc") == []
    [ops] = webhook.received("ops")
    assert len(webhook.received("all")) == 1
    assert ops["title"] == "Source failing"
    assert ops["message"] == "feed https://x.example gave 500\n@\u200bhere"


def test_operator_message_failure_is_reported(
    tmp_path: Path, sessions: sessionmaker[Session], webhook: WebhookReceiver
) -> None:
    config = write_config(tmp_path, (webhook.apprise_url("ops"), "operator"))
    webhook.status = 500

    report = send_operator_message(sessions, config, "CISA", 1, "Source failing", "details")

    assert (report.sent, report.failed, report.channels, report.complete) == (0, 1, 1, False)


def test_an_operator_message_goes_once_to_each_channel_that_took_it(
    tmp_path: Path, any_db_sessions: sessionmaker[Session], webhook: WebhookReceiver
) -> None:
    config = write_config(
        tmp_path, (webhook.apprise_url("pager"), "operator"), (webhook.apprise_url("mail"), None)
    )
    mail_key = next(c.key for c in load_channels(config) if "/mail" in c.label)

    def send(streak: int) -> tuple[int, int, bool]:
        report = send_operator_message(any_db_sessions, config, "CISA", streak, "failing", "x")
        return report.sent, report.failed, report.complete

    webhook.status = 500
    assert send(1) == (0, 2, False)
    webhook.status = 200
    assert send(1) == (2, 0, True)
    assert send(1) == (0, 0, True)  # both have it: nothing sent
    assert send(2) == (2, 0, True)  # another streak is another message
    assert [len(webhook.received(path)) for path in ("pager", "mail")] == [3, 3]
    with any_db_sessions() as session:
        assert operator_successful_channels(session, "CISA", 1) == set()  # pruned: history
        assert len(operator_successful_channels(session, "CISA", 2)) == 2
        record = record_operator_delivery(session, "CISA", 2, mail_key, "json://", False, "down")
    assert (record.status, record.attempts, record.last_error) == ("sent", 2, "down")


def test_smtp_rejection_is_recorded_without_the_password(
    tmp_path: Path, sqlite_url: str, sessions: sessionmaker[Session], mailbox: SmtpReceiver
) -> None:
    wrong_password = "Wrong-Secret-Pw-123"
    config = write_config(tmp_path, (mailbox.apprise_url(password=wrong_password), None))
    store_attribution(sessions)

    report = dispatch(sessions, config)

    assert (report.sent, report.failed) == (0, 1)
    assert mailbox.mails == []
    database = sqlite_url.removeprefix("sqlite:///")
    with sqlite3.connect(database) as connection:
        rows = connection.execute(
            "SELECT channel, channel_label, status, last_error FROM deliveries"
        ).fetchall()
    [(channel, label, status, error)] = rows
    assert status == "failed" and error
    assert re.fullmatch(r"[0-9a-f]{16}", channel)
    assert f"{SMTP_USER}:****@127.0.0.1" in label
    assert all(wrong_password not in str(value) for value in (channel, label, error))


# --- configuration errors -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (
            f"urls:\n  - mailto://u:{SMTP_PASSWORD}@127.0.0.1:25?to=a@example.org\n  - a: b: c\n",
            "invalid YAML at line 3, column 9: mapping values are not allowed here",
        ),
        (f"urls:\n  - 'slack://bot:{SMTP_PASSWORD}@/'\n", "urls entry #1: Apprise cannot parse"),
        (
            f"urls:\n  - json://127.0.0.1/ok\n  - 'nosuch://user:{SMTP_PASSWORD}@host'\n",
            "urls entry #2: unknown notification scheme 'nosuch://'",
        ),
        (f"url:\n  - 'json://u:{SMTP_PASSWORD}@127.0.0.1/x'\n", "unknown top-level key(s) url"),
        ("- just a list\n", "not an Apprise YAML config"),
        ("version: 1\nurls: []\n", "no 'urls' list"),
    ],
)
def test_bad_config_is_one_line_naming_file_and_problem_without_the_password(
    tmp_path: Path, content: str, problem: str
) -> None:
    path = tmp_path / "apprise.yaml"
    path.write_text(content, encoding="utf-8")

    with pytest.raises(AlertConfigError) as caught:
        load_channels(path)

    message = str(caught.value)
    assert message.startswith(f"{path}: ")
    assert problem in message
    assert SMTP_PASSWORD not in message and "\n" not in message


def test_config_without_any_attribution_channel_is_refused(
    tmp_path: Path, sessions: sessionmaker[Session], webhook: WebhookReceiver
) -> None:
    config = write_config(tmp_path, (webhook.apprise_url("ops"), "operator"))
    store_attribution(sessions)

    with pytest.raises(AlertConfigError, match="no channel receives attribution alerts"):
        dispatch(sessions, config)
    assert webhook.posts == []


def test_channel_keys_are_stable_and_labels_hide_secrets(
    tmp_path: Path, mailbox: SmtpReceiver
) -> None:
    config = write_config(tmp_path, (mailbox.apprise_url(), None))

    [first] = load_channels(config)
    [second] = load_channels(config)

    assert first.key == second.key and re.fullmatch(r"[0-9a-f]{16}", first.key)
    assert SMTP_PASSWORD not in first.label


def test_example_config_loads_routes_and_hides_every_placeholder_secret() -> None:
    example = Path(__file__).resolve().parents[1] / "config" / "apprise.example.yaml"

    channels = load_channels(example)

    schemes = [channel.label.split("://")[0] for channel in channels]
    assert schemes == ["slack", "mailtos", "workflow", "jsons"]
    assert [c.label.split("://")[0] for c in attribution_channels(channels)] == [
        "slack",
        "mailtos",
        "workflow",
    ]
    assert [c.label.split("://")[0] for c in operator_channels(channels)] == ["mailtos", "jsons"]
    for channel in channels:
        assert "CHANGE-ME" not in channel.label, channel.label
        assert "XXXXXXXXXXXXXXXXXXXXXXXX" not in channel.label


# --- rendering ----------------------------------------------------------------------------------


def test_markdown_rendering_escapes_scraped_markup() -> None:
    alert = pending_alert(
        article_title=MALICIOUS_TITLE, evidence="*bold* _it_ `code` [x](http://evil.example)"
    )

    title, body = render_alert(alert, "markdown")

    assert title == "APT attribution: ZIRCONIUM (G0128)"
    assert "](http" not in body and "<" not in body.replace("<!", "")
    assert r"\*bold\* \_it\_ \`code\` \[x\] (hxxp://evil.example)" in body
    assert f"- **Link:** {ARTICLE_URL}" in body


def test_html_rendering_has_no_tags_from_scraped_text() -> None:
    alert = pending_alert(article_title=MALICIOUS_TITLE, sponsor='"><script>alert(1)</script>')

    _, body = render_alert(alert, "html")

    tags = set(re.findall(r"</?([a-z0-9]+)", body))
    assert tags <= {"p", "strong", "ul", "li", "a"}
    assert "script" not in tags


def test_non_http_article_links_are_withheld_and_odd_characters_encoded() -> None:
    _, javascript_body = render_alert(pending_alert(article_url="javascript:alert(1)"), "markdown")
    _, odd_body = render_alert(
        pending_alert(article_url="https://x.example/a b|c>(d)[e]"), "markdown"
    )

    assert "javascript" not in javascript_body and "withheld" in javascript_body
    assert "https://x.example/ab%7Cc%3E%28d%29%5Be%5D" in odd_body


def test_long_scraped_values_are_capped() -> None:
    _, body = render_alert(pending_alert(evidence="word " * 2000, article_title="t" * 5000), "text")

    assert len(body) < 2000
    assert "…" in body


def test_alias_equal_to_group_name_is_not_repeated_and_unknown_mitre_id_has_no_link() -> None:
    title, body = render_alert(pending_alert(alias="zirconium", mitre_id=None), "text")

    assert title == "APT attribution: ZIRCONIUM"
    assert "Name used in the article" not in body and "attack.mitre.org" not in body


def test_digest_rendering_lists_every_alert() -> None:
    alerts = [pending_alert(alert_id=n, group_name=f"Group {n}") for n in range(1, 8)]

    title, body = render_digest(alerts, "html")

    groups = "Group 1, Group 2, Group 3, Group 4, Group 5 and 2 more"
    assert title == f"APT attribution digest: 7 alerts ({groups})"
    assert body.count("<hr>") == 6


def test_unknown_format_is_refused_with_a_clear_message() -> None:
    with pytest.raises(ValueError, match="unknown alert format 'rtf'"):
        render_alert(pending_alert(), "rtf")
