"""The sources file: what loads, and the one-line messages for what does not."""

from __future__ import annotations

from pathlib import Path

import pytest

from crawler.sources import Source, SourcesError, enabled_sources, load_sources, parse_interval

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
