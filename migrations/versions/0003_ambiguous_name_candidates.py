"""Candidates of ambiguous names: every group a mention's or attribution's name may mean.

"Grizzly Steppe" may mean APT28 or APT29; the detector resolves it to one group but the stored
rows, and the alerts read from them, keep every candidate. A JSON list of
``{"group_id", "group_name"}`` objects, ``[]`` when the name means one group; rows stored before
this revision get ``[]`` (whether their names were ambiguous was not recorded).

Revision ID: 0003_ambiguous_name_candidates
Revises: 0002_stories_health_leases
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_ambiguous_name_candidates"
down_revision: str | None = "0002_stories_health_leases"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("group_mentions", "attributions")


def upgrade() -> None:
    for table in TABLES:
        # A plain ALTER TABLE ADD COLUMN on both backends (SQLite allows NOT NULL with a constant
        # default), never a table rebuild: SQLite drops the old table with foreign keys on, and
        # that deletes the alerts pointing at its rows (batch mode rebuilds for some defaults).
        op.add_column(
            table, sa.Column("candidates", sa.JSON(), server_default="[]", nullable=False)
        )


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_column(table, "candidates")  # SQLite >= 3.35 drops a column in place too
