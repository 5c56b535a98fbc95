"""hardening: entered-at and definition version per instance, checklist item revisions, audit log, process locks

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03 06:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN (no table rebuild: other tables refer to these ones), constant defaults for existing rows.
    op.add_column(
        "workflow_instance", sa.Column("definition_version", sa.Integer(), nullable=False, server_default="1")
    )
    op.add_column(
        "workflow_instance",
        sa.Column("entered_at", sa.DateTime(timezone=True), nullable=False, server_default="1970-01-01 00:00:00"),
    )
    # Entered the current state: the last history row that moved the instance there (a check does not move it).
    op.execute(
        "UPDATE workflow_instance SET entered_at = COALESCE("
        "(SELECT MAX(h.at) FROM workflow_history h WHERE h.instance_id = workflow_instance.id "
        "AND h.target = workflow_instance.state AND h.event <> 'check'), workflow_instance.created_at)"
    )
    op.add_column("workflow_checklist_value", sa.Column("revision", sa.Integer(), nullable=False, server_default="1"))
    if op.get_bind().dialect.name == "postgresql":  # SQLite cannot drop a default without rebuilding the table
        op.alter_column("workflow_instance", "entered_at", server_default=None)

    op.create_table(
        "audit_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=254), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=254), nullable=False),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("audit_entry", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_entry_action"), ["action"], unique=False)
    _append_only("audit_entry")

    # --- h-definitions: installed definition versions (workflows.models.InstalledDefinition) ---
    op.create_table(
        "workflow_definition_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("definition_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("snapshot", sa.JSON(), nullable=False),
        sa.Column("installed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("installed_by", sa.String(length=254), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("definition_id", "version", name="uq_definition_version"),
    )
    with op.batch_alter_table("workflow_definition_version", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_workflow_definition_version_definition_id"), ["definition_id"], unique=False
        )
    # --- end h-definitions ---

    op.create_table(
        "process_lock",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=254), nullable=False),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def _append_only(table: str) -> None:
    """The audit log is evidence: the database itself refuses to change or delete a row."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"CREATE FUNCTION {table}_append_only() RETURNS trigger AS $$ BEGIN "
            f"RAISE EXCEPTION '{table} is append-only'; END; $$ LANGUAGE plpgsql"
        )
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {table}_append_only()"
        )
    else:
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
            )


def downgrade() -> None:
    op.drop_table("workflow_definition_version")  # h-definitions
    op.drop_table("process_lock")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_entry_append_only ON audit_entry")
        op.execute("DROP FUNCTION IF EXISTS audit_entry_append_only()")
    with op.batch_alter_table("audit_entry", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_entry_action"))
    op.drop_table("audit_entry")
    with op.batch_alter_table("workflow_checklist_value", schema=None) as batch_op:
        batch_op.drop_column("revision")
    with op.batch_alter_table("workflow_instance", schema=None) as batch_op:
        batch_op.drop_column("entered_at")
        batch_op.drop_column("definition_version")
