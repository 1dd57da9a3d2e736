"""The stable contracts of the command line: analyze, extract, groups list/show, eval."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aptwatch.cli import app
from aptwatch.commands import analyze_jsonl, extract_files

runner = CliRunner()


def seed_text(shared_data: Path) -> str:
    return (shared_data / "news" / "seed-article.md").read_text(encoding="utf-8")


def test_analyze_reports_the_seed_attribution(shared_data: Path) -> None:
    text = seed_text(shared_data)
    line = json.dumps({"id": "seed", "text": text, "title": "Czechia blames China"})
    out = io.StringIO()

    analyze_jsonl([line], out)

    result = json.loads(out.getvalue())
    assert result["id"] == "seed"
    by_alias = {m["alias"].casefold(): m["group_id"] for m in result["mentions"]}
    assert by_alias["apt31"] == by_alias["zirconium"] == by_alias["judgment panda"]
    for mention in result["mentions"]:
        assert text[mention["start"] : mention["end"]] == mention["alias"]
    apt31 = next(a for a in result["attributions"] if a["group_id"] == by_alias["apt31"])
    assert apt31["stance"] == "asserted"
    assert "czech" in (apt31["attributed_by"] or "").casefold()
    assert (
        "china" in (apt31["sponsor"] or "").casefold()
        or "state security" in (apt31["sponsor"] or "").casefold()
    )
    assert "APT31" in apt31["evidence"]
    assert set(apt31) == {
        "group_id",
        "group_name",
        "mitre_id",
        "alias",
        "stance",
        "attributed_by",
        "sponsor",
        "evidence",
        "confidence",
    }
    assert any(m["alias"] == "APT40" for m in result["mentions"])


def test_analyze_reports_every_candidate_of_an_ambiguous_name() -> None:
    text = "US officials said Andariel was behind the attack on the bank."
    out = io.StringIO()

    analyze_jsonl([json.dumps({"id": "a", "text": text})], out)

    (attribution,) = json.loads(out.getvalue())["attributions"]
    assert attribution["group_id"] in attribution["candidates"]
    assert sorted(attribution["candidates"]) == ["G0032", "G0138"]  # Lazarus Group, Andariel
    assert attribution["mitre_id"] == attribution["group_id"]


def test_analyze_reads_stdin_and_keeps_one_line_per_input() -> None:
    lines = "\n".join(
        json.dumps({"id": i, "text": text})
        for i, text in enumerate(
            ["Nothing to see here.", "The review praised the sandworm puppet in Dune."]
        )
    )

    result = runner.invoke(app, ["analyze", "--jsonl", "-"], input=lines + "\n")

    assert result.exit_code == 0, result.output
    outputs = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["id"] for o in outputs] == [0, 1]
    assert all(o["mentions"] == [] and o["attributions"] == [] for o in outputs)


def test_extract_prints_the_contract_fields(shared_data: Path) -> None:
    page = next(iter(sorted((shared_data / "extraction" / "aeb-dev" / "html").glob("*.html.gz"))))
    out = io.StringIO()

    extract_files([page], out)

    record = json.loads(out.getvalue())
    assert set(record) == {
        "path",
        "title",
        "text",
        "published",
        "authors",
        "lang",
        "canonical_url",
    }
    assert len(record["text"]) > 200


def test_groups_list_json_has_every_group_with_its_names() -> None:
    result = runner.invoke(app, ["groups", "list", "--json"])

    assert result.exit_code == 0
    groups = json.loads(result.stdout)
    assert len(groups) > 500
    assert set(groups[0]) == {"id", "name", "aliases", "country", "mitre_id"}
    zirconium = next(g for g in groups if g["id"] == "G0128")
    assert {"APT31", "Violet Typhoon"} <= set(zirconium["aliases"]) | {zirconium["name"]}


def test_groups_show_unknown_name_suggests_close_matches() -> None:
    result = runner.invoke(app, ["groups", "show", "APT-13"])

    assert result.exit_code == 2
    assert "did you mean" in result.stderr
    assert "APT3" in result.stderr


@pytest.mark.parametrize("name", ["Violet Typhoon", "apt 31", "G0128"])
def test_groups_show_finds_the_group_by_any_name(name: str) -> None:
    result = runner.invoke(app, ["groups", "show", name])

    assert result.exit_code == 0, result.output
    assert "https://attack.mitre.org/groups/G0128/" in result.stdout
    assert "BRONZE VINEWOOD" in result.stdout


def test_analyze_rejects_input_that_is_not_utf8(tmp_path: Path) -> None:
    latin1 = tmp_path / "in.jsonl"
    latin1.write_bytes('{"id": 1, "text": "Caf\xe9 hackers"}\n'.encode("latin-1"))

    result = runner.invoke(app, ["analyze", "--jsonl", str(latin1)])

    assert result.exit_code == 2
    assert "not UTF-8" in result.stderr


@pytest.mark.parametrize(
    "command",
    [
        ["sources", "check"],
        ["sources", "status", "--database-url", "DB"],
        ["crawl", "--database-url", "DB"],
        ["run", "--database-url", "DB"],
    ],
)
@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("kind: [feed]", "field 'kind': must be one of feed, listing, sitemap, got ['feed']"),
        ("kind: {a: 1}", "field 'kind': must be one of feed, listing, sitemap, got {'a': 1}"),
        (
            "url: 'http://[::1/feed'",
            "field 'url': malformed URL 'http://[::1/feed' (Invalid IPv6 URL)",
        ),
    ],
)
def test_a_sources_field_of_the_wrong_shape_is_one_line_and_exit_2(
    tmp_path: Path, command: list[str], field: str, expected: str
) -> None:
    sources = tmp_path / "sources.yaml"
    entry = {"kind": "kind: feed", "url": "url: https://a.example/feed"}
    entry[field.split(":")[0]] = field
    sources.write_text(f"sources:\n  - name: A\n    {entry['kind']}\n    {entry['url']}\n")
    database = f"sqlite:///{tmp_path / 'db.sqlite'}"
    args = [database if arg == "DB" else arg for arg in command]

    result = runner.invoke(app, [*args, "--sources", str(sources)])

    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines() == [
        f"aptwatch: error: {sources}: source 'A': {expected}"
    ]


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("APTWATCH_MAX_RESPONSE_BYTES", "abc", "must be a positive whole number of bytes"),
        ("APTWATCH_MAX_RESPONSE_BYTES", "-5", "must be a positive whole number of bytes"),
        ("APTWATCH_CRAWL_TIMEOUT", "nan", "must be a positive number of seconds"),
        ("APTWATCH_CRAWL_TIMEOUT", "inf", "must be a positive number of seconds"),
        ("APTWATCH_CRAWL_TIMEOUT", "0.001", "must be at least 1 seconds"),
        ("APTWATCH_RECHECK_AFTER", "weekly", "must be a positive number of seconds"),
        ("APTWATCH_LOG_LEVEL", "BOGUS", "must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL"),
    ],
)
def test_a_bad_crawl_setting_is_one_line_and_exit_2_before_crawling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    sources = tmp_path / "sources.yaml"
    sources.write_text("sources:\n  - {name: A, kind: feed, url: 'https://a.example/feed'}\n")
    monkeypatch.setenv(variable, value)
    database = tmp_path / "db.sqlite"

    result = runner.invoke(
        app, ["crawl", "--sources", str(sources), "--database-url", f"sqlite:///{database}"]
    )

    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines() == [
        f"aptwatch: error: {variable} {expected}, got {value!r}"
    ]
    assert not database.exists()  # checked before anything was started


def test_ctrl_c_while_the_cli_is_still_importing_is_one_line_and_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import importlib.abc
    import sys

    import aptwatch.__main__ as entry

    class InterruptedImport(importlib.abc.MetaPathFinder):
        def find_spec(self, name: str, path: object, target: object = None) -> None:
            if name == "aptwatch.cli":
                raise KeyboardInterrupt  # Ctrl-C arriving in the middle of the import
            return None

    monkeypatch.delitem(sys.modules, "aptwatch.cli", raising=False)
    monkeypatch.setattr(sys, "meta_path", [InterruptedImport(), *sys.meta_path])

    with pytest.raises(SystemExit) as exited:
        entry.main()

    assert exited.value.code == 130
    assert capsys.readouterr().err == "aptwatch: error: interrupted\n"


def test_sources_check_says_which_sources_the_crawl_will_block(tmp_path: Path) -> None:
    sources = tmp_path / "sources.yaml"
    sources.write_text(
        "sources:\n"
        "  - {name: Lab, kind: feed, url: 'http://127.0.0.1:8080/feed.xml'}\n"
        "  - {name: Meta, kind: feed, url: 'http://169.254.169.254/latest'}\n"
        "  - {name: Mine, kind: feed, url: 'http://127.0.0.1:8081/feed.xml',"
        " allow_private_network: true}\n"
        "  - {name: News, kind: feed, url: 'https://news.example/feed.xml'}\n",
        encoding="utf-8",
    )

    result = runner.invoke(app, ["sources", "check", "--sources", str(sources)])

    assert result.exit_code == 1
    blocked = [
        line.split(":")[0] for line in result.output.splitlines() if "WILL BE BLOCKED" in line
    ]
    assert blocked == ["Lab", "Meta"]
    assert "cloud metadata service" in result.output
    assert "4 sources valid, 2 of them will be blocked" in result.output


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["run", "--nope"], "aptwatch: error: No such option: --nope (see 'aptwatch run --help')"),
        (["frobnicate"], "aptwatch: error: No such command 'frobnicate'. (see 'aptwatch --help')"),
        (
            ["groups", "show"],
            "aptwatch: error: Missing argument 'name'. (see 'aptwatch groups show --help')",
        ),
    ],
)
def test_a_usage_error_is_one_line_and_exit_2(
    argv: list[str],
    expected: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from aptwatch.cli import main

    monkeypatch.setattr("sys.argv", ["aptwatch", *argv])
    with pytest.raises(SystemExit) as exited:
        main()

    assert exited.value.code == 2
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [expected]  # not click's usage block and framed box
    assert captured.out == ""


@pytest.mark.parametrize(
    ("argv", "code"),
    [(["--help"], 0), (["groups", "show", "APT31"], 0), (["groups", "show", "zz9"], 2)],
)
def test_the_command_line_exits_with_the_commands_own_code(
    argv: list[str], code: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from aptwatch.cli import main

    monkeypatch.setattr("sys.argv", ["aptwatch", *argv])
    with pytest.raises(SystemExit) as exited:
        main()

    assert exited.value.code == code
    captured = capsys.readouterr()
    if code == 0:
        assert captured.out  # the help, the group
    else:
        assert captured.err.startswith("aptwatch: error: unknown group 'zz9'")
