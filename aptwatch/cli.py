"""The `aptwatch` command line: thin Typer wrappers over aptwatch.commands."""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, ParamSpec, TypeVar

import typer

from aptwatch import commands
from aptwatch.config import Config, load_config
from aptwatch.errors import ConfigError, describe, user_error_types

P = ParamSpec("P")
R = TypeVar("R")

EXIT_USER_ERROR = 2

app = typer.Typer(
    help="Alert a SOC when someone attributes an attack to a known APT group.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
alerts_app = typer.Typer(help="Alert delivery.", no_args_is_help=True)
groups_app = typer.Typer(help="The threat-group knowledge base.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(alerts_app, name="alerts")
app.add_typer(groups_app, name="groups")
sources_app = typer.Typer(help="The sources aptwatch watches.", no_args_is_help=True)
app.add_typer(sources_app, name="sources")

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url", help="SQLAlchemy URL (default: $APTWATCH_DATABASE_URL or SQLite)."
    ),
]
SourcesFile = Annotated[
    Path | None,
    typer.Option(
        "--sources", help="Sources YAML (default: $APTWATCH_SOURCES_FILE or config/sources.yaml)."
    ),
]
AppriseFile = Annotated[
    Path | None,
    typer.Option(
        "--apprise-config",
        help="Apprise YAML channels (default: $APTWATCH_APPRISE_CONFIG or config/apprise.yaml).",
    ),
]


def fail(message: str, code: int = EXIT_USER_ERROR) -> typer.Exit:
    typer.echo(f"aptwatch: error: {message}", err=True)
    return typer.Exit(code)


def user_errors_as_one_line(command: Callable[P, R]) -> Callable[P, R]:
    """Bad input ends in one line naming the problem and exit 2, never a traceback."""

    @wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except user_error_types() as error:
            raise fail(describe(error)) from None
        except KeyboardInterrupt:
            raise fail("interrupted", 130) from None

    return wrapper


def config_from(
    database_url: str | None = None,
    sources: Path | None = None,
    apprise_config: Path | None = None,
) -> Config:
    # An option given as "" is a mistake (an unset shell variable), not "use the default".
    for option, value in (
        ("--database-url", database_url),
        ("--sources", sources),
        ("--apprise-config", apprise_config),
    ):
        # Typer turns a path given as "" into Path("."), never a file these options name
        if value is not None and (not str(value).strip() or str(value) == "."):
            raise ConfigError(f"{option} is empty")
    return load_config().with_overrides(
        database_url=database_url, sources_file=sources, apprise_config=apprise_config
    )


@app.command()
@user_errors_as_one_line
def crawl(database_url: DatabaseUrl = None, sources: SourcesFile = None) -> None:
    """Crawl every enabled source once and store what was found."""
    report = commands.crawl(config_from(database_url, sources), sys.stdout)
    commands.print_report(report, sys.stdout)
    if report.all_failed:
        raise typer.Exit(1)


@alerts_app.command("send")
@user_errors_as_one_line
def alerts_send(database_url: DatabaseUrl = None, apprise_config: AppriseFile = None) -> None:
    """Send every alert not yet delivered to its channels (terminal when none is configured)."""
    report = commands.send_alerts(
        config_from(database_url, apprise_config=apprise_config), sys.stdout
    )
    typer.echo(f"alerts: {report.sent} sent, {report.failed} failed")
    if report.failed:
        raise typer.Exit(1)


@app.command()
@user_errors_as_one_line
def run(
    database_url: DatabaseUrl = None,
    sources: SourcesFile = None,
    apprise_config: AppriseFile = None,
    forever: Annotated[
        bool,
        typer.Option("--forever", help="Keep polling each source at its interval until stopped."),
    ] = False,
) -> None:
    """Crawl every source once, then send the alerts (the cron / systemd entry point)."""
    config = config_from(database_url, sources, apprise_config)
    if forever:
        from aptwatch.scheduler import run_forever

        config.require_apprise_config()
        raise typer.Exit(run_forever(config, sys.stdout))
    outcome = commands.run_once(config, sys.stdout)
    raise typer.Exit(outcome.exit_code)


@app.command()
@user_errors_as_one_line
def demo() -> None:
    """Run the whole pipeline offline against a bundled sample news site on 127.0.0.1."""
    outcome = commands.run_demo(sys.stdout)
    if outcome.alerts.sent == 0:
        raise fail("the demo produced no alert", 1)


@db_app.command("upgrade")
@user_errors_as_one_line
def db_upgrade(database_url: DatabaseUrl = None) -> None:
    """Create or upgrade the database schema (Alembic)."""
    commands.upgrade_database(config_from(database_url))
    typer.echo("database is up to date")


@groups_app.command("list")
@user_errors_as_one_line
def groups_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List every tracked group with its names."""
    records = commands.group_records(config_from())
    if as_json:
        typer.echo(json.dumps(records, ensure_ascii=False, indent=1))
        return
    for record in records:
        names = ", ".join(record["aliases"][:6])
        more = f" (+{len(record['aliases']) - 6})" if len(record["aliases"]) > 6 else ""
        typer.echo(
            f"{record['id']:<14} {record['name']:<28} {record['country'] or '-':<3} {names}{more}"
        )


@groups_app.command("show")
@user_errors_as_one_line
def groups_show(
    name: Annotated[
        str, typer.Argument(help="Any name of the group: APT31, Violet Typhoon, G0128…")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """Show a group: every name and who coined it, country / sponsor, the ATT&CK link."""
    typer.echo(commands.describe_group(config_from(), name, as_json=as_json))


@groups_app.command("update")
@user_errors_as_one_line
def groups_update(
    source: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="A mirror URL or a local folder instead of the official files.",
        ),
    ] = None,
) -> None:
    """Download the current MITRE ATT&CK and MISP galaxy data and rebuild the knowledge base."""
    typer.echo(commands.update_groups(config_from(), source))


@sources_app.command("check")
@user_errors_as_one_line
def sources_check(sources: SourcesFile = None) -> None:
    """Validate the sources file without crawling: one line per source, or the first problem."""
    lines = commands.check_sources(config_from(sources=sources))
    typer.echo("\n".join(lines))
    blocked = sum(1 for line in lines if "WILL BE BLOCKED" in line)
    if blocked:
        # valid, but certain to fail: the operator should hear it from the check, not the crawl
        typer.echo(f"{len(lines)} sources valid, {blocked} of them will be blocked", err=True)
        raise typer.Exit(1)
    typer.echo(f"{len(lines)} sources OK")


@sources_app.command("status")
@user_errors_as_one_line
def sources_status(database_url: DatabaseUrl = None, sources: SourcesFile = None) -> None:
    """Per source: last success, last error, entries seen, new articles, failures in a row."""
    typer.echo(commands.source_status(config_from(database_url, sources)))


@app.command()
@user_errors_as_one_line
def analyze(
    jsonl: Annotated[
        str, typer.Option("--jsonl", help="JSON lines {id, text, title?}; '-' = stdin.")
    ],
) -> None:
    """Detect group mentions and attributions in JSON lines; print one JSON line per input."""
    stream = commands.open_input(jsonl)
    try:
        commands.analyze_jsonl(stream, sys.stdout, kb_path=config_from().kb_path)
    finally:
        if stream is not sys.stdin:
            stream.close()


@app.command("eval")
@user_errors_as_one_line
def eval_accuracy(
    shared: Annotated[
        Path | None,
        typer.Option("--shared", help="The shared data folder (default: ../shared)."),
    ] = None,
    errors: Annotated[bool, typer.Option("--errors", help="Also list every error.")] = False,
    check: Annotated[bool, typer.Option("--check", help="Exit 1 when a target is missed.")] = False,
) -> None:
    """Measure detection accuracy on the labelled data in ../shared (table, then JSON)."""
    met = commands.evaluate_accuracy(
        shared or commands.default_shared_dir(),
        sys.stdout,
        errors=errors,
        kb_path=config_from().kb_path,
    )
    if check and not met:
        raise typer.Exit(1)


@app.command()
@user_errors_as_one_line
def extract(
    files: Annotated[list[Path], typer.Argument(help=".html or .html.gz files.")],
) -> None:
    """Extract title, text, date, authors, language and canonical URL from saved pages."""
    commands.extract_files(files, sys.stdout)


# Typer raises click's exceptions: from its own copy of click in recent releases, from click
# itself in older ones. The classes are taken from one Typer exports, so either works.
_CLICK_ERRORS = {cls.__name__: cls for cls in typer.BadParameter.__mro__}
ClickError: type[Exception] = _CLICK_ERRORS["ClickException"]
UsageError: type[Exception] = _CLICK_ERRORS["UsageError"]


def usage_problem(error: Exception) -> str:
    """A usage error (unknown option or command, a value of the wrong type) as one line, with
    where to look: click's own rendering is a usage block and a framed box."""
    message = " ".join(error.format_message().split())  # type: ignore[attr-defined]
    context = getattr(error, "ctx", None)
    if context is None:
        return message
    return f"{message} (see '{context.command_path} --help')"


def main() -> None:
    # SIGTERM (systemctl stop, timeout(1)) stops a command as Ctrl-C does: one line, the crawl
    # process stopped with it, leases given back; `run --forever` handles both signals itself.
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        _main()
    finally:
        signal.signal(signal.SIGTERM, previous)


def _main() -> None:
    if os.environ.get("APTWATCH_DEBUG"):
        app()
        return
    try:
        # not standalone: click's errors come here instead of being printed as boxes
        exit_code = app(prog_name="aptwatch", standalone_mode=False)
    except UsageError as error:
        if type(error).__name__ == "NoArgsIsHelpError":
            sys.exit(EXIT_USER_ERROR)  # the help was shown, as asked for by giving nothing
        typer.echo(f"aptwatch: error: {usage_problem(error)}", err=True)
        sys.exit(EXIT_USER_ERROR)
    except ClickError as error:
        typer.echo(f"aptwatch: error: {usage_problem(error)}", err=True)
        sys.exit(getattr(error, "exit_code", 1))
    except typer.Abort:
        typer.echo("aptwatch: error: aborted", err=True)
        sys.exit(1)
    except Exception as error:  # a bug, not bad input: still one line, with the way to see more
        typer.echo(
            f"aptwatch: internal error: {describe(error)} (set APTWATCH_DEBUG=1 for a traceback)",
            err=True,
        )
        sys.exit(1)
    # a command that ended by raising typer.Exit(code) comes back as its code
    sys.exit(exit_code if isinstance(exit_code, int) else 0)


if __name__ == "__main__":
    main()
