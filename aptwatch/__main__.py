"""The `aptwatch` command: ``python -m aptwatch`` and the console script both start here."""

import sys


def main() -> None:
    # Importing the CLI (Typer, and what it pulls in) takes a quarter of a second; Ctrl-C in that
    # time is an interrupt like any other, not a traceback from the middle of an import.
    try:
        from aptwatch.cli import main as run_cli
    except KeyboardInterrupt:
        print("aptwatch: error: interrupted", file=sys.stderr)
        sys.exit(130)
    run_cli()


if __name__ == "__main__":
    main()
