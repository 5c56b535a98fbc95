"""board: instances indexed by the moment they entered their state (then subject), so that the longest waits are
read first without a sort

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 05:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_workflow_instance_entered_at", "workflow_instance", ["entered_at", "subject"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_workflow_instance_entered_at", table_name="workflow_instance")
