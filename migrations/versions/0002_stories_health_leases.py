"""Stories (clustering of articles about one event), source health and crawl leases.

Existing articles each become a story of their own, so alerts already sent keep counting once per
(story, group); they get no band keys, so only articles stored from now on cluster with them.

Revision ID: 0002_stories_health_leases
Revises: 0001_initial
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_stories_health_leases"
down_revision: str | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Plain DateTime here, not storage's TypeDecorator: a migration must not change when app code does.
UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "stories",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("first_article_id", sa.Integer(), nullable=True),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("first_seen", UTC_DATETIME, nullable=False),
        sa.Column("last_seen", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["first_article_id"],
            ["articles.id"],
            name=op.f("fk_stories_first_article_id_articles"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stories")),
    )
    op.create_index(
        op.f("ix_stories_first_article_id"), "stories", ["first_article_id"], unique=False
    )
    op.create_table(
        "article_bands",
        sa.Column("band_key", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["articles.id"],
            name=op.f("fk_article_bands_article_id_articles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("band_key", "article_id", name=op.f("pk_article_bands")),
    )
    op.create_index(
        op.f("ix_article_bands_article_id"), "article_bands", ["article_id"], unique=False
    )
    op.create_table(
        "story_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("story_id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("reported_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["sources.id"],
            name=op.f("fk_story_reports_source_id_sources"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["story_id"],
            ["stories.id"],
            name=op.f("fk_story_reports_story_id_stories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_story_reports")),
        sa.UniqueConstraint("story_id", "url", name=op.f("uq_story_reports_story_id_url")),
    )
    op.create_index(op.f("ix_story_reports_story_id"), "story_reports", ["story_id"], unique=False)
    op.create_table(
        "source_health",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("last_run_at", UTC_DATETIME, nullable=True),
        sa.Column("last_success_at", UTC_DATETIME, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", UTC_DATETIME, nullable=True),
        sa.Column("entries_seen", sa.Integer(), nullable=False),
        sa.Column("new_articles", sa.Integer(), nullable=False),
        sa.Column("total_new_articles", sa.Integer(), nullable=False),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("operator_alerted_at", UTC_DATETIME, nullable=True),
        sa.Column("operator_alerted_failures", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "runs >= 0 AND entries_seen >= 0 AND new_articles >= 0 AND total_new_articles >= 0 "
            "AND consecutive_failures >= 0",
            name=op.f("ck_source_health_counts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_source_health")),
        sa.UniqueConstraint("name", name=op.f("uq_source_health_name")),
    )
    op.create_table(
        "source_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_name", sa.String(length=255), nullable=False),
        sa.Column("started_at", UTC_DATETIME, nullable=False),
        sa.Column("finished_at", UTC_DATETIME, nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.Column("new_articles", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_source_runs")),
    )
    op.create_index(
        "ix_source_runs_source_name_started_at",
        "source_runs",
        ["source_name", "started_at"],
        unique=False,
    )
    op.create_table(
        "crawl_leases",
        sa.Column("source_name", sa.String(length=255), nullable=False),
        sa.Column("holder", sa.String(length=255), nullable=False),
        sa.Column("acquired_at", UTC_DATETIME, nullable=False),
        sa.Column("expires_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("source_name", name=op.f("pk_crawl_leases")),
    )
    _one_story_per_existing_article()


def _one_story_per_existing_article() -> None:
    # Story id = article id: unique, and no mapping table needed to link them back.
    op.execute(
        "INSERT INTO stories (id, first_article_id, title, first_seen, last_seen) "
        "SELECT id, id, title, COALESCE(published, fetched_at), COALESCE(published, fetched_at) "
        "FROM articles"
    )
    op.execute("UPDATE articles SET story_id = id WHERE story_id IS NULL")
    op.execute(
        "INSERT INTO story_reports (story_id, source_id, url, reported_at) "
        "SELECT id, source_id, canonical_url, created_at FROM articles"
    )
    if op.get_bind().dialect.name == "postgresql":
        # Rows inserted with explicit ids leave the serial sequence behind.
        op.execute(
            "SELECT setval(pg_get_serial_sequence('stories', 'id'), "
            "COALESCE((SELECT MAX(id) FROM stories), 0) + 1, false)"
        )


def downgrade() -> None:
    op.drop_table("crawl_leases")
    op.drop_index("ix_source_runs_source_name_started_at", table_name="source_runs")
    op.drop_table("source_runs")
    op.drop_table("source_health")
    op.drop_index(op.f("ix_story_reports_story_id"), table_name="story_reports")
    op.drop_table("story_reports")
    op.drop_index(op.f("ix_article_bands_article_id"), table_name="article_bands")
    op.drop_table("article_bands")
    op.drop_index(op.f("ix_stories_first_article_id"), table_name="stories")
    op.drop_table("stories")
    op.execute("UPDATE articles SET story_id = NULL")
