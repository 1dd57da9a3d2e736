"""Operator deliveries: which operator channel has the message about which failure streak.

``source_health.failure_streak`` numbers a source's failure streaks; ``operator_deliveries``
records each operator channel's delivery of a streak's message, as ``deliveries`` does for alerts.
Sources failing now keep their ``operator_alerted_at``: a message already sent under the previous
revision is not sent again (which channels took it was not recorded).

Revision ID: 0004_operator_deliveries
Revises: 0003_ambiguous_name_candidates
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_operator_deliveries"
down_revision: str | None = "0003_ambiguous_name_candidates"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Plain DateTime here, not storage's TypeDecorator: a migration must not change when app code does.
UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    # A plain ALTER TABLE ADD COLUMN on both backends, never a SQLite table rebuild (see 0003).
    op.add_column(
        "source_health",
        sa.Column("failure_streak", sa.Integer(), server_default="0", nullable=False),
    )
    op.create_table(
        "operator_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_name", sa.String(length=255), nullable=False),
        sa.Column("failure_streak", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=255), nullable=False),
        sa.Column("channel_label", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("first_attempt_at", UTC_DATETIME, nullable=False),
        sa.Column("last_attempt_at", UTC_DATETIME, nullable=False),
        sa.Column("delivered_at", UTC_DATETIME, nullable=True),
        sa.CheckConstraint(
            "status IN ('sent', 'failed')", name=op.f("ck_operator_deliveries_status")
        ),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_operator_deliveries_attempts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operator_deliveries")),
        sa.UniqueConstraint(
            "source_name",
            "failure_streak",
            "channel",
            name=op.f("uq_operator_deliveries_source_name_failure_streak_channel"),
        ),
    )


def downgrade() -> None:
    op.drop_table("operator_deliveries")
    op.drop_column("source_health", "failure_streak")  # SQLite >= 3.35 drops a column in place
