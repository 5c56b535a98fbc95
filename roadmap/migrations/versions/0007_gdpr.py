"""gdpr: publishers' processing records per département, people who left the directory (retention)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 05:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "gdpr_processing_record",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("departement_code", sa.String(length=4), nullable=False),
        sa.Column("ent_name", sa.String(length=120), nullable=False),
        sa.Column("publisher", sa.String(length=120), nullable=False),
        sa.Column("file_sha256", sa.String(length=64), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("sent_to_dsden_on", sa.Date(), nullable=True),
        sa.Column("recorded_by", sa.String(length=254), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["departement_code"], ["departement.code"]),
        sa.ForeignKeyConstraint(["file_sha256"], ["stored_file.sha256"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("departement_code", "ent_name", name="uq_gdpr_processing_record_ent"),
    )
    with op.batch_alter_table("gdpr_processing_record", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_gdpr_processing_record_departement_code"), ["departement_code"], unique=False
        )
    op.create_table(
        "departed_person",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("actor_key", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("pseudonym", sa.String(length=64), nullable=False),
        sa.Column("left_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("anonymised_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("departed_person", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_departed_person_actor_key"), ["actor_key"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("departed_person", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_departed_person_actor_key"))
    op.drop_table("departed_person")
    with op.batch_alter_table("gdpr_processing_record", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_gdpr_processing_record_departement_code"))
    op.drop_table("gdpr_processing_record")
