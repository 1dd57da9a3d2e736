"""Ops scenarios end to end: a changed article, one story on two outlets, a source that hangs."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

from receivers import webhook_receiver

from aptwatch.commands import run_once
from aptwatch.config import Config
from aptwatch.localsite import LocalSite, Response, serve

QUICK = {"AUTOTHROTTLE_ENABLED": False, "DOWNLOAD_DELAY": 0, "APTWATCH_WORKERS": 0}

FIRST_VERSION = (
    "Investigators at the national cyber agency said on Monday that APT41 was behind the breach of "
    "the port authority's cargo system, which disrupted container handling for two days.\n\n"
    "The agency said the intruders used stolen VPN credentials and moved through the network for "
    "weeks before deploying tools that wiped log files on several servers."
)
ADDED_PARAGRAPH = (
    "\n\nIn an update on Wednesday, the agency said a second group, APT31, had also accessed the "
    "network during the same period and stole shipping manifests."
)
STORY = (
    "The foreign ministry said on Tuesday that the Russian hacking group APT28 was behind a "
    "months-long intrusion into the email accounts of its diplomats posted abroad. Officials said "
    "the attackers sent spear-phishing messages disguised as invitations to embassy receptions and "
    "used the stolen passwords to read correspondence about energy negotiations. The ministry has "
    "reset every account, introduced hardware security keys for all staff and informed partner "
    "governments, which were asked to check their own systems for the same indicators."
)

# the wire copy as a second outlet ran it: same report, its own last sentence
REWRITE = STORY.rsplit(". ", 1)[0] + (
    ". Partner governments were told which indicators to look for, a spokesperson added."
)


def page(title: str, body: str, extra: str = "") -> bytes:
    paragraphs = "".join(f"<p>{p}</p>" for p in body.split("\n\n"))
    return (
        f"<html lang='en'><head><title>{title}</title></head><body>{extra}"
        f"<article><h1>{title}</h1>{paragraphs}</article>{extra}</body></html>"
    ).encode()


def atom(site: LocalSite, entries: list[tuple[str, str, datetime]]) -> bytes:
    items = "".join(
        f"<entry><title>{title}</title><link href='{site.url(path)}'/><id>{site.url(path)}</id>"
        f"<updated>{updated.isoformat()}</updated></entry>"
        for path, title, updated in entries
    )
    return (
        "<?xml version='1.0' encoding='utf-8'?><feed xmlns='http://www.w3.org/2005/Atom'>"
        f"<title>t</title><id>{site.url('/')}</id><updated>2026-11-01T00:00:00Z</updated>{items}</feed>"
    ).encode()


def serve_bytes(site: LocalSite, path: str, body: bytes, ctype: str = "text/html") -> None:
    site.routes[path] = lambda handler: Response(200, body, {"Content-Type": ctype})


def configure(tmp_path: Path, site: LocalSite, feeds: dict[str, str], apprise_url: str) -> Config:
    lines = ["sources:"]
    for name, path in feeds.items():
        url = site.url(path)
        lines.append(f"  - {{name: {name}, kind: feed, url: '{url}', allow_private_network: true}}")
    (tmp_path / "sources.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (tmp_path / "apprise.yaml").write_text(
        f"urls:\n  - {apprise_url}:\n      - tag: attribution\n", encoding="utf-8"
    )
    return Config(
        database_url=f"sqlite:///{tmp_path / 'db.sqlite'}",
        sources_file=tmp_path / "sources.yaml",
        apprise_config=tmp_path / "apprise.yaml",
        data_dir=tmp_path,
    )


def test_a_changed_article_alerts_only_its_new_attribution(tmp_path: Path) -> None:
    first_seen = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
    with serve(None) as site, webhook_receiver() as hook:
        serve_bytes(site, "/port.html", page("Port breach", FIRST_VERSION))
        feed = [("/port.html", "Port breach", first_seen)]
        serve_bytes(site, "/feed.atom", atom(site, feed), "application/atom+xml")
        config = configure(tmp_path, site, {"Wire": "/feed.atom"}, hook.url)

        run_once(config, io.StringIO(), crawl_settings=QUICK)
        assert [p["title"] for p in hook.payloads] == ["APT attribution: APT41 (G0096)"]

        # The outlet updates the story and marks the entry updated (after our first fetch).
        serve_bytes(site, "/port.html", page("Port breach", FIRST_VERSION + ADDED_PARAGRAPH))
        updated = [("/port.html", "Port breach", datetime.now(UTC) + timedelta(hours=1))]
        serve_bytes(site, "/feed.atom", atom(site, updated), "application/atom+xml")
        second = run_once(config, io.StringIO(), crawl_settings=QUICK)

    assert second.crawl.sources[0].updated_articles == 1
    titles = [p["title"] for p in hook.payloads]
    assert len(titles) == 2, titles
    assert "ZIRCONIUM" in titles[1] or "APT31" in titles[1]


def test_one_story_on_two_outlets_alerts_once_and_names_both(tmp_path: Path) -> None:
    published = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
    with serve(None) as site, webhook_receiver() as hook:
        serve_bytes(
            site, "/a/story.html", page("Ministry blames APT28", STORY, "<nav>Outlet A</nav>")
        )
        serve_bytes(
            site,
            "/b/copy.html",
            page(
                "APT28 hacked diplomats' email, ministry says", REWRITE, "<nav>Outlet B home</nav>"
            ),
        )
        serve_bytes(
            site,
            "/a.atom",
            atom(site, [("/a/story.html", "Ministry blames APT28", published)]),
            "application/atom+xml",
        )
        serve_bytes(
            site,
            "/b.atom",
            atom(site, [("/b/copy.html", "APT28 hacked diplomats", published)]),
            "application/atom+xml",
        )
        config = configure(tmp_path, site, {"Outlet A": "/a.atom", "Outlet B": "/b.atom"}, hook.url)

        outcome = run_once(config, io.StringIO(), crawl_settings=QUICK)

    assert sum(source.new_articles for source in outcome.crawl.sources) == 2  # both are kept
    assert len(hook.payloads) == 1, [p["title"] for p in hook.payloads]
    message = hook.payloads[0]["message"]
    assert "Also reported by" in message
    assert "Outlet A" in message and "Outlet B" in message


def test_a_hanging_source_times_out_alone(tmp_path: Path) -> None:
    with serve(None) as site, webhook_receiver() as hook:
        serve_bytes(site, "/story.html", page("Ministry blames APT28", STORY))
        published = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
        serve_bytes(
            site,
            "/ok.atom",
            atom(site, [("/story.html", "Ministry blames APT28", published)]),
            "application/atom+xml",
        )
        site.routes["/hang.atom"] = lambda handler: Response(200, b"", {}, delay=20)
        config = configure(tmp_path, site, {"Good": "/ok.atom", "Hangs": "/hang.atom"}, hook.url)

        outcome = run_once(
            config, io.StringIO(), crawl_settings={**QUICK, "DOWNLOAD_TIMEOUT": 2, "RETRY_TIMES": 0}
        )

    per_source = {source.name: source for source in outcome.crawl.sources}
    assert per_source["Hangs"].failed
    assert "timed out" in per_source["Hangs"].errors[0]
    assert per_source["Good"].new_articles == 1
    assert len(hook.payloads) == 1
