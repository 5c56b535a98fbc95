"""retention: the append-only history and audit log accept one kind of change, the rewrite of a departed person's
address into their pseudonym, and only while the retention purge holds an erasure grant in its own transaction;
departed people record when their rows were rewritten (those anonymised before are caught up by the next purge)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 08:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Per append-only table: the columns an erasure may rewrite are every other column's complement; these stay frozen.
FROZEN = {
    "workflow_history": ("id", "instance_id", "at", "role", "event", "source", "target"),
    "audit_entry": ("id", "at", "role", "action"),
}


def upgrade() -> None:
    op.create_table(
        "erasure_grant",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("opened_by", sa.String(length=254), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("departed_person") as batch_op:
        batch_op.add_column(sa.Column("rows_rewritten_at", sa.DateTime(timezone=True), nullable=True))
    for table, frozen in FROZEN.items():
        _guard(table, frozen)


def downgrade() -> None:
    for table in FROZEN:
        _guard(table, None)
    with op.batch_alter_table("departed_person") as batch_op:
        batch_op.drop_column("rows_rewritten_at")
    op.drop_table("erasure_grant")


def _guard(table: str, frozen: tuple[str, ...] | None) -> None:
    """Refuse every UPDATE and DELETE, except (when `frozen` is given) an UPDATE that leaves the frozen columns alone
    while an erasure grant exists (rows of `erasure_grant` live only inside the purge's transaction)."""
    if op.get_bind().dialect.name == "postgresql":
        allowed = ""
        if frozen:
            same = " AND ".join(f"NEW.{column} IS NOT DISTINCT FROM OLD.{column}" for column in frozen)
            allowed = f"IF TG_OP = 'UPDATE' AND EXISTS (SELECT 1 FROM erasure_grant) AND {same} THEN RETURN NEW; END IF; "
        op.execute(
            f"CREATE OR REPLACE FUNCTION {table}_append_only() RETURNS trigger AS $$ BEGIN {allowed}"
            f"RAISE EXCEPTION '{table} is append-only'; END; $$ LANGUAGE plpgsql"
        )
        return
    op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
    when = ""
    if frozen:
        changed = " OR ".join(f"NEW.{column} IS NOT OLD.{column}" for column in frozen)
        when = f"WHEN NOT EXISTS (SELECT 1 FROM erasure_grant) OR {changed} "
    op.execute(
        f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} {when}"
        f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
    )
