"""Which processes are still alive, for tests that check a crawl leaves nothing behind (Linux)."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def processes_in_session(session: int, *, not_children_of: int | None = None) -> set[int]:
    """Live (not zombie) Python processes of ``session``: a crawl's workers and their fork server
    stay in their starter's session even when orphaned. ``not_children_of`` leaves out that
    process's own children (a test process's multiprocessing resource tracker). Only this
    interpreter's processes count: a shell command run meanwhile in the same terminal session is
    no part of a crawl."""
    interpreter = os.path.realpath(sys.executable)
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            executable = os.path.realpath(os.readlink(stat.parent / "exe"))
        except (OSError, IndexError):
            continue  # gone meanwhile
        state, parent, process_session = fields[0], int(fields[1]), int(fields[3])
        if (
            process_session == session
            and state != "Z"
            and parent != not_children_of
            and executable == interpreter
        ):
            found.add(int(stat.parent.name))
    return found
