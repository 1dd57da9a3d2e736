"""The whole path, as a SOC engineer runs it: crawl a local site, store, alert once per channel."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from receivers import SmtpReceiver, WebhookReceiver, smtp_receiver, webhook_receiver

from aptwatch.commands import DEMO_SITE, run_demo, run_once
from aptwatch.config import Config
from aptwatch.localsite import LocalSite, Response, serve

REPO_ROOT = Path(__file__).resolve().parents[1]

MALFORMED_FEED = b"<?xml version='1.0'?><rss version='2.0'><channel><item><title>broken"


@pytest.fixture
def demo_site() -> Iterator[LocalSite]:
    with serve(DEMO_SITE) as site:
        site.routes["/broken.rss"] = lambda handler: Response(
            200, MALFORMED_FEED, {"Content-Type": "application/rss+xml"}
        )
        yield site


def write_sources(path: Path, site: LocalSite, *, with_broken: bool = False) -> Path:
    entries = [("Sample wire", "/news.rss"), ("Sample analysis", "/analysis.atom")]
    if with_broken:
        entries.append(("Broken feed", "/broken.rss"))
    lines = ["sources:"]
    for name, feed in entries:
        lines += [
            f"  - name: {name}",
            "    kind: feed",
            f"    url: {site.url(feed)}",
            "    allow_private_network: true",
        ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_apprise(path: Path, *urls: str) -> Path:
    body = "urls:\n" + "".join(f"  - {url}:\n      - tag: attribution\n" for url in urls)
    path.write_text(body, encoding="utf-8")
    return path


@pytest.fixture
def channels() -> Iterator[tuple[WebhookReceiver, SmtpReceiver]]:
    with webhook_receiver() as webhook, smtp_receiver() as smtp:
        yield webhook, smtp


def make_config(tmp_path: Path, sources: Path, apprise: Path | None) -> Config:
    return Config(
        database_url=f"sqlite:///{tmp_path / 'aptwatch.db'}",
        sources_file=sources,
        apprise_config=apprise,
        data_dir=tmp_path,
    )


QUICK_CRAWL = {"AUTOTHROTTLE_ENABLED": False, "DOWNLOAD_DELAY": 0}


def test_attribution_alerts_once_per_channel_and_never_again(
    tmp_path: Path, demo_site: LocalSite, channels: tuple[WebhookReceiver, SmtpReceiver]
) -> None:
    webhook, smtp = channels
    config = make_config(
        tmp_path,
        write_sources(tmp_path / "sources.yaml", demo_site),
        write_apprise(tmp_path / "apprise.yaml", webhook.url, smtp.url),
    )

    first = run_once(config, io.StringIO(), crawl_settings=QUICK_CRAWL)

    assert first.exit_code == 0
    titles = [payload["title"] for payload in webhook.payloads]
    # Two attributions on the site (APT31 by a government, Volt Typhoon by a vendor), nothing else:
    # not the Dune review's sandworm, not the denial about APT28, not the alias explainer.
    assert len(titles) == 2, titles
    assert any("APT31" in t or "ZIRCONIUM" in t.upper() for t in titles)
    assert any("Volt Typhoon" in t for t in titles)
    assert len(smtp.mails) == 2
    apt31 = next(p for p in webhook.payloads if "G0128" in p["title"] + p["message"])
    assert "Ministry of State Security" in apt31["message"]
    assert "/news/ministry-breach-apt31.html" in apt31["message"]

    article_fetches = demo_site.count("/news/ministry-breach-apt31.html")
    second = run_once(config, io.StringIO(), crawl_settings=QUICK_CRAWL)

    assert second.exit_code == 0
    assert len(webhook.payloads) == 2
    assert len(smtp.mails) == 2
    assert demo_site.count("/news/ministry-breach-apt31.html") == article_fetches


AMBIGUOUS_ARTICLE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Homeland security report ties Grizzly Steppe to party network breach</title>
<link rel="canonical" href="__BASE_URL__/news/grizzly-steppe-party.html">
<meta property="article:published_time" content="2026-11-24T08:15:00+00:00">
</head><body><main><article>
<h1>Homeland security report ties Grizzly Steppe to party network breach</h1>
<p>The homeland security department of the Republic of Veldmark said in a report on Monday that
Grizzly Steppe hackers compromised the network of the country's largest political party during
the spring campaign.</p>
<p>Investigators found that the intruders had read the party's mail for several months and copied
its donor database before the breach was discovered by an outside auditor.</p>
<p>The party said it had replaced its mail servers, reset every staff password and brought in a
second firm to check that no access remained.</p>
<p>Election officials said the breach had not touched the voting systems, which are not connected
to the internet, and that the vote would go ahead as planned.</p>
</article></main></body></html>
"""


def test_an_ambiguous_name_is_alerted_with_every_group_it_may_mean(
    tmp_path: Path, channels: tuple[WebhookReceiver, SmtpReceiver]
) -> None:
    # "Grizzly Steppe" is the US government's name for both APT28 and APT29; APT31 is one group.
    root = tmp_path / "site"
    (root / "news").mkdir(parents=True)
    (root / "news" / "grizzly-steppe-party.html").write_text(AMBIGUOUS_ARTICLE, encoding="utf-8")
    shutil.copy(DEMO_SITE / "news" / "ministry-breach-apt31.html", root / "news")
    items = "".join(
        f"<item><title>{name}</title><link>__BASE_URL__/news/{name}.html</link></item>"
        for name in ("grizzly-steppe-party", "ministry-breach-apt31")
    )
    (root / "news.rss").write_text(
        f"<?xml version='1.0'?><rss version='2.0'><channel><title>Wire</title>{items}"
        "</channel></rss>",
        encoding="utf-8",
    )
    webhook, _ = channels
    with serve(root) as site:
        sources = tmp_path / "sources.yaml"
        sources.write_text(
            f"sources:\n  - {{name: Wire, kind: feed, url: '{site.url('/news.rss')}', "
            "allow_private_network: true}\n",
            encoding="utf-8",
        )
        config = make_config(tmp_path, sources, write_apprise(tmp_path / "ap.yaml", webhook.url))

        outcome = run_once(config, io.StringIO(), crawl_settings=QUICK_CRAWL)

    assert outcome.exit_code == 0
    by_link = {
        name: next(p for p in webhook.payloads if f"/news/{name}.html" in p["message"])
        for name in ("grizzly-steppe-party", "ministry-breach-apt31")
    }
    ambiguous = by_link["grizzly-steppe-party"]
    chosen, other = (
        ("APT28 (G0007)", "APT29 (G0016)")
        if "APT28 (G0007)" in ambiguous["title"].split("—")[0]
        else ("APT29 (G0016)", "APT28 (G0007)")
    )
    assert ambiguous["title"] == (
        f"APT attribution: {chosen} — ambiguous name, may also be {other}"
    )
    assert f"Ambiguous name: 'Grizzly Steppe' may also mean {other}" in ambiguous["message"]
    plain = by_link["ministry-breach-apt31"]
    assert plain["title"] == "APT attribution: ZIRCONIUM (G0128)"
    assert "mbiguous" not in plain["message"]


def test_malformed_feed_fails_alone(tmp_path: Path, demo_site: LocalSite) -> None:
    config = make_config(
        tmp_path, write_sources(tmp_path / "sources.yaml", demo_site, with_broken=True), None
    )
    out = io.StringIO()

    outcome = run_once(config, out, crawl_settings=QUICK_CRAWL)

    per_source = {source.name: source for source in outcome.crawl.sources}
    assert per_source["Broken feed"].errors
    assert not per_source["Sample wire"].errors
    # One article is in both feeds; whichever source reaches it first stores it.
    assert per_source["Sample wire"].new_articles >= 3
    assert per_source["Sample wire"].new_articles + per_source["Sample analysis"].new_articles == 6
    assert outcome.alerts.sent == 2  # printed to the terminal: no channel configured
    printed = out.getvalue()
    assert "Broken feed" in printed
    assert "Volt Typhoon" in printed


def test_demo_prints_alerts(tmp_path: Path) -> None:
    out = io.StringIO()

    outcome = run_demo(out, work_dir=tmp_path)

    printed = out.getvalue()
    assert outcome.alerts.sent == 2
    assert "APT31" in printed
    assert "/news/ministry-breach-apt31.html" in printed
    assert "/news/dune-review.html" not in printed
    assert "/news/outage-no-evidence.html" not in printed


def test_run_without_network_summarises_each_source_and_exits_non_zero(tmp_path: Path) -> None:
    # .invalid never resolves (RFC 2606): the same failure a machine without network sees.
    sources = tmp_path / "sources.yaml"
    sources.write_text(
        "sources:\n"
        "  - {name: Feed one, kind: feed, url: 'https://feed-one.invalid/rss'}\n"
        "  - {name: Feed two, kind: feed, url: 'https://feed-two.invalid/atom'}\n",
        encoding="utf-8",
    )

    result = aptwatch("run", "--sources", str(sources), cwd=tmp_path)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    summary = [
        line for line in result.stdout.splitlines() if "Feed one" in line or "Feed two" in line
    ]
    assert len(summary) >= 2, result.stdout


def aptwatch(
    *args: str, cwd: Path, env_extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run(
        [sys.executable, "-m", "aptwatch", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize(
    ("args", "setup", "expected"),
    [
        (["run", "--sources", "missing.yaml"], None, "sources file not found: missing.yaml"),
        (
            ["run", "--forever", "--sources", "missing.yaml"],
            None,
            "sources file not found: missing.yaml",
        ),
        (
            ["sources", "check", "--sources", "bad.yaml"],
            ("bad.yaml", "sources:\n  - {name: Gov, kind: listing, url: 'https://gov.example/'}\n"),
            "link_selector",
        ),
        (["sources", "status", "--sources", "missing.yaml"], None, "sources file not found"),
        (["crawl", "--sources", "bad.yaml"], ("bad.yaml", "sources: [\n  - name: x\n"), "bad.yaml"),
        (
            ["alerts", "send", "--apprise-config", "ap.yaml"],
            ("ap.yaml", "urls:\n  - : [\n"),
            "ap.yaml",
        ),
        (
            ["db", "upgrade", "--database-url", "postgresql+psycopg://u:s3cret@127.0.0.1:1/x"],
            None,
            "cannot connect",
        ),
        (
            ["db", "upgrade", "--database-url", "postgresql+psycopg://u:s3cret@127.0.0.1:5432/"],
            None,
            "names no database",
        ),
        (["crawl", "--database-url", ""], None, "--database-url is empty"),
        (["sources", "check", "--sources", ""], None, "--sources is empty"),
        (["analyze", "--jsonl", "in.jsonl"], ("in.jsonl", '{"id": NaN, "text": "x"}\n'), "NaN"),
        (
            ["analyze", "--jsonl", "in.jsonl"],
            ("in.jsonl", '{"id": 1, "text": "ok"}\nnot json\n'),
            "line 2",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, args: list[str], setup: tuple[str, str] | None, expected: str
) -> None:
    if setup:
        (tmp_path / setup[0]).write_text(setup[1], encoding="utf-8")

    result = aptwatch(*args, cwd=tmp_path, env_extra={"APTWATCH_DATA_DIR": str(tmp_path / "var")})

    assert result.returncode == 2, result.stderr
    error_lines = [
        line for line in result.stderr.splitlines() if line.startswith("aptwatch: error:")
    ]
    assert len(error_lines) == 1, result.stderr
    assert expected in error_lines[0]
    assert "Traceback" not in result.stderr
    assert "s3cret" not in result.stderr


@pytest.mark.parametrize(
    ("place", "expected"),
    [
        ("dangling link", "a link to a missing file"),
        ("folder", "a folder, not a file"),
        ("empty variable", "APTWATCH_APPRISE_CONFIG is set but empty"),
    ],
)
def test_an_unusable_channel_file_is_an_error_not_the_terminal(
    tmp_path: Path, place: str, expected: str
) -> None:
    """A channel file that is there but cannot be read is the operator's mistake: before, the
    alerts went to the terminal and counted as delivered, and never reached the channel."""
    env = {"APTWATCH_DATA_DIR": str(tmp_path / "var")}
    (tmp_path / "config").mkdir()
    if place == "dangling link":
        (tmp_path / "config" / "apprise.yaml").symlink_to(tmp_path / "missing.yaml")
    elif place == "folder":
        (tmp_path / "config" / "apprise.yaml").mkdir()
    else:
        env["APTWATCH_APPRISE_CONFIG"] = ""

    result = aptwatch("alerts", "send", cwd=tmp_path, env_extra=env)

    assert result.returncode == 2, result.stdout + result.stderr
    assert expected in result.stderr and "Traceback" not in result.stderr
    assert "sent" not in result.stdout
