"""The sources file: what loads, and the one-line messages for what does not."""

from __future__ import annotations

from pathlib import Path

import pytest

from crawler.sources import (
    Source,
    SourcesError,
    check_sources,
    enabled_sources,
    load_sources,
    parse_interval,
)

REPO_ROOT = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sources.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_full_entry_is_loaded_with_defaults(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
sources:
  - name: BleepingComputer
    kind: feed
    url: https://www.bleepingcomputer.com/feed/
    lang: en
    interval: 30m
  - name: Treasury
    kind: listing
    urls: [https://home.treasury.gov/news/press-releases, https://example.org/p2]
    link_selector: "h3.headline a"
    next_selector: "//a[@rel='next']"
    max_pages: 3
    interval: 2h
    enabled: false
    extract: {body_selector: "div.article-body", date_selector: "time"}
  - name: Local
    kind: sitemap
    url: http://127.0.0.1:8000/sitemap.xml.gz
    allow_private_network: true
""",
    )
    bleeping, treasury, local = load_sources(path)
    assert bleeping == Source(
        name="BleepingComputer",
        kind="feed",
        urls=("https://www.bleepingcomputer.com/feed/",),
        lang="en",
        interval=1800,
    )
    assert treasury.urls == (
        "https://home.treasury.gov/news/press-releases",
        "https://example.org/p2",
    )
    assert treasury.interval == 7200 and treasury.max_pages == 3 and not treasury.enabled
    assert treasury.extract.body_selector == "div.article-body"
    assert local.allow_private_network and local.interval == 3600 and local.lang == "en"
    assert [s.name for s in enabled_sources(path)] == ["BleepingComputer", "Local"]


def test_project_sources_file_is_valid() -> None:
    sources = load_sources(REPO_ROOT / "config" / "sources.yaml")
    assert len(sources) >= 5
    assert all(not s.allow_private_network for s in sources)


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("    kind: feed\n    url: https://a.example/feed\n", "source #1: field 'name': missing"),
        (
            "    name: A\n    url: https://a.example/feed\n",
            "source 'A': field 'kind': missing",
        ),
        (
            "    name: A\n    kind: podcast\n    url: https://a.example/feed\n",
            "source 'A': field 'kind': must be one of feed, listing, sitemap, got 'podcast'",
        ),
        ("    name: A\n    kind: feed\n", "source 'A': field 'url': missing"),
        (
            "    name: A\n    kind: feed\n    url: ftp://a.example/feed\n",
            "source 'A': field 'url': only http and https URLs are allowed",
        ),
        (
            "    name: A\n    kind: feed\n    url: file:///etc/passwd\n",
            "source 'A': field 'url': only http and https URLs are allowed",
        ),
        (
            "    name: A\n    kind: feed\n    urls: [https://a.example/x, 'https://']\n",
            "source 'A': field 'urls': URL has no host",
        ),
        (
            "    name: A\n    kind: feed\n    url: https://a.example/feed\n    colour: red\n",
            "source 'A': field 'colour': unknown field",
        ),
        (
            "    name: A\n    kind: feed\n    url: https://a.example/feed\n    interval: often\n",
            "source 'A': field 'interval': not a duration like 30m, 2h or 1d: 'often'",
        ),
        (
            "    name: A\n    kind: listing\n    url: https://a.example/\n",
            "source 'A': field 'link_selector': missing (required for kind: listing)",
        ),
        (
            "    name: A\n    kind: listing\n    url: https://a.example/\n"
            "    link_selector: 'a[href'\n",
            "source 'A': field 'link_selector': invalid CSS selector 'a[href'",
        ),
        (
            "    name: A\n    kind: listing\n    url: https://a.example/\n"
            "    link_selector: '//a[@href'\n",
            "source 'A': field 'link_selector': invalid XPath selector '//a[@href'",
        ),
        (
            "    name: A\n    kind: feed\n    url: https://a.example/feed\n"
            "    extract: {body_selector: 'div::'}\n",
            "source 'A': field 'extract.body_selector': invalid CSS selector",
        ),
        (
            "    name: A\n    kind: feed\n    url: https://a.example/feed\n"
            "    allow_private_network: 'yes'\n",
            "source 'A': field 'allow_private_network': expected true or false",
        ),
        (
            "    name: A\n    kind: feed\n    url: https://a.example/feed\n    max_pages: 0\n",
            "source 'A': field 'max_pages': expected a whole number >= 1, got 0",
        ),
        (
            "    name: A\n    kind: feed\n    url: 'https://user:pw@a.example/feed'\n",
            "source 'A': field 'url': credentials in URLs are not allowed",
        ),
        (
            "    name: A\n    kind: feed\n    url: 'https://a.example/my feed'\n",
            "source 'A': field 'url': URL contains whitespace",
        ),
        (
            "    name: A\n    kind: feed\n    url: 'https://a.example:99999/feed'\n",
            "source 'A': field 'url': URL has an invalid port",
        ),
        (
            "    name: A\n    kind: feed\n    url: https://a.example/feed\n    link_selector: a\n",
            "source 'A': field 'link_selector': only used by kind: listing",
        ),
        (
            "    name: A\n    kind: feed\n    ulr: https://a.example/feed\n",
            "source 'A': field 'ulr': unknown field (did you mean 'url'?)",
        ),
        (
            "    name: A\n    kind: feed\n    url: https://a.example/feed\n"
            "    extract: {body_selector: 'p::text'}\n",
            "source 'A': field 'extract.body_selector': invalid CSS selector",
        ),
        (
            "    name: A\n    kind: [feed]\n    url: https://a.example/feed\n",
            "source 'A': field 'kind': must be one of feed, listing, sitemap, got ['feed']",
        ),
        (
            "    name: A\n    kind: {a: 1}\n    url: https://a.example/feed\n",
            "source 'A': field 'kind': must be one of feed, listing, sitemap, got {'a': 1}",
        ),
        (
            "    name: A\n    kind: feed\n    url: 'http://[::1/feed'\n",
            "source 'A': field 'url': malformed URL 'http://[::1/feed' (Invalid IPv6 URL)",
        ),
        (
            "    name: A\n    kind: feed\n    url: 'http://example.com]/'\n",
            "source 'A': field 'url': malformed URL 'http://example.com]/' (Invalid IPv6 URL)",
        ),
        (
            "    name: A\n    kind: feed\n    urls: ['http://[notipv6]/']\n",
            "source 'A': field 'urls': malformed URL 'http://[notipv6]/'",
        ),
        (
            "    name: A\n    kind: feed\n    url: 'https://a.example:0/feed'\n",
            "source 'A': field 'url': URL has an invalid port",
        ),
        (
            "    name: A\n    kind: listing\n    url: https://a.example/\n"
            "    link_selector: '//a/@href | foo:bar()'\n",
            "source 'A': field 'link_selector': invalid XPath selector '//a/@href | foo:bar()' "
            "(XPath error: Undefined namespace prefix",
        ),
        (
            "    name: A\n    kind: feed\n    url: https://a.example/feed\n"
            "    extract: {date_selector: '//x:time'}\n",
            "source 'A': field 'extract.date_selector': invalid XPath selector '//x:time'",
        ),
        (
            "    name: 123\n    kind: feed\n    url: https://a.example/feed\n",
            "source #1: field 'name': must be text, got 123",
        ),
        (
            "    name: A\n    kind: feed\n    url: https://a.example/feed\n"
            "    interval: 2020-01-01\n",
            "source 'A': field 'interval': not a duration like 30m, 2h or 1d: 2020-01-01",
        ),
        (
            "    name: A\n    kind: feed\n    url: https://a.example/feed\n"
            "    interval: 99999999999999999999999999\n",
            "source 'A': field 'interval': duration must be at most 366d",
        ),
        (
            "    name: A\n    kind: feed\n    url: https://a.example/feed\n    interval: 400d\n",
            "source 'A': field 'interval': duration must be at most 366d, got '400d'",
        ),
        (
            "    name: A\n    kind: sitemap\n    url: https://a.example/s.xml\n"
            "    max_pages: 99999999999999999999999\n",
            "source 'A': field 'max_pages': must be at most 1000",
        ),
    ],
)
def test_invalid_entry_names_file_source_and_field(
    tmp_path: Path, entry: str, expected: str
) -> None:
    path = write(tmp_path, "sources:\n  -\n" + entry)
    with pytest.raises(SourcesError) as caught:
        load_sources(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ")
    assert expected in message
    assert "\n" not in message


def test_duplicate_names_are_rejected(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "sources:\n"
        "  - {name: Same, kind: feed, url: 'https://a.example/feed'}\n"
        "  - {name: same, kind: feed, url: 'https://b.example/feed'}\n",
    )
    with pytest.raises(SourcesError, match="source 'same': field 'name': duplicate name"):
        load_sources(path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sources: [\n  {name: A", "invalid YAML"),
        ("feeds: []\n", "expected a top-level 'sources:' list"),
        ("sources: []\n", "'sources' must be a non-empty list"),
        ("sources:\n  - just a string\n", "source #1: expected a mapping of fields"),
    ],
)
def test_broken_files_give_one_line(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(SourcesError, match=expected) as caught:
        load_sources(path)
    assert str(caught.value).startswith(str(path)) and "\n" not in str(caught.value)


def test_missing_file_is_a_sources_error(tmp_path: Path) -> None:
    with pytest.raises(SourcesError, match="sources file not found"):
        load_sources(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    ("value", "seconds"), [("45s", 45), ("30m", 1800), ("2h", 7200), ("1d", 86400), (90, 90)]
)
def test_interval_units(value: str | int, seconds: int) -> None:
    assert parse_interval(value) == seconds


@pytest.mark.parametrize("value", ["0m", "-5m", "1w", "", True])
def test_bad_intervals(value: str | bool) -> None:
    with pytest.raises(ValueError):
        parse_interval(value)


def test_link_selectors_may_use_scrapy_pseudo_elements(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "sources:\n  - {name: A, kind: listing, url: 'https://a.example/',"
        " link_selector: 'h3 a::attr(href)'}\n",
    )
    assert load_sources(path)[0].link_selector == "h3 a::attr(href)"


def test_private_network_permission_covers_only_the_sources_own_hosts(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """sources:
  - name: Local
    kind: feed
    urls: ['http://127.0.0.1:8000/a.rss', 'https://Intranet.example/b.rss', 'http://127.0.0.1:8000/c']
    allow_private_network: true
  - {name: Public, kind: feed, url: 'https://a.example/feed'}
""",
    )
    local, public = load_sources(path)
    assert local.private_netlocs == ("127.0.0.1:8000", "intranet.example:443")
    assert local.private_hosts == ("127.0.0.1", "intranet.example")
    assert public.private_netlocs == () and public.private_hosts == ()


def test_check_sources_summarises_each_source(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """sources:
  - {name: Feed, kind: feed, url: 'https://a.example/feed', interval: 30m}
  - name: Press
    kind: listing
    url: https://b.example/press
    link_selector: "h3 a"
    next_selector: "a.next"
    max_pages: 3
    lang: de
    enabled: false
    extract: {date_selector: time}
  - {name: Map, kind: sitemap, urls: ['https://c.example/1.xml', 'https://c.example/2.xml']}
""",
    )
    assert check_sources(path) == [
        "Feed: feed, https://a.example/feed, every 30m, lang en, enabled",
        "Press: listing, https://b.example/press, every 1h, lang de, links 'h3 a', "
        "next 'a.next' up to 3 page(s), extract overrides: date, disabled",
        "Map: sitemap, 2 URLs, every 1h, lang en, of an index the 1 newest child sitemap(s), "
        "enabled",
    ]
    assert len(check_sources(REPO_ROOT / "config" / "sources.yaml")) >= 12
    broken = write(tmp_path, "sources:\n  - {name: X, kind: feed, url: 'gopher://x'}\n")
    with pytest.raises(SourcesError, match="source 'X': field 'url': only http and https"):
        check_sources(broken)
