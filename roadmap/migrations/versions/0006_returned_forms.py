"""returned forms: per school, counts of acknowledgements, authorisations and activation codes handed out

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 05:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "returned_forms",
        sa.Column("uai", sa.String(length=8), nullable=False),
        sa.Column("acknowledgements", sa.Integer(), nullable=False),
        sa.Column("authorisations", sa.Integer(), nullable=False),
        sa.Column("activation_codes", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=254), nullable=False),
        sa.CheckConstraint(
            "acknowledgements >= 0 AND authorisations >= 0 AND activation_codes >= 0", name="returned_forms_counts"
        ),
        sa.ForeignKeyConstraint(["uai"], ["school.uai"]),
        sa.PrimaryKeyConstraint("uai"),
    )


def downgrade() -> None:
    op.drop_table("returned_forms")
