"""transmission: batches of the account-creation table, publishers' agreements, email attachments and copies

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 05:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cc", sa.JSON(), nullable=True))
    op.create_table(
        "outbox_attachment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=128), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["message_id"], ["outbox_message.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("outbox_attachment", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbox_attachment_message_id"), ["message_id"], unique=False)
    op.create_table(
        "mail_sink_attachment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sink_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=128), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["sink_id"], ["mail_sink.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("mail_sink_attachment", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mail_sink_attachment_sink_id"), ["sink_id"], unique=False)
    op.create_table(
        "transmission_batch",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("departement_code", sa.String(length=4), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("route", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("composed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("composed_by", sa.String(length=254), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_by", sa.String(length=254), nullable=True),
        sa.Column("to_address", sa.String(length=254), nullable=True),
        sa.Column("cc", sa.JSON(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=254), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("filename", sa.String(length=255), nullable=True),
        sa.Column("content", sa.LargeBinary(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["departement_code"], ["departement.code"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("departement_code", "number"),
    )
    with op.batch_alter_table("transmission_batch", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_transmission_batch_departement_code"), ["departement_code"], unique=False)
    op.create_table(
        "transmission_batch_school",
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("uai", sa.String(length=8), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("row", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["batch_id"], ["transmission_batch.id"]),
        sa.ForeignKeyConstraint(["uai"], ["school.uai"]),
        sa.PrimaryKeyConstraint("batch_id", "uai"),
    )
    with op.batch_alter_table("transmission_batch_school", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_transmission_batch_school_uai"), ["uai"], unique=False)
    op.create_table(
        "publisher_agreement",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("departement_code", sa.String(length=4), nullable=False),
        sa.Column("publisher", sa.String(length=120), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("signed_on", sa.Date(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=254), nullable=False),
        sa.ForeignKeyConstraint(["departement_code"], ["departement.code"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("departement_code", "publisher", "kind"),
    )
    with op.batch_alter_table("publisher_agreement", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_publisher_agreement_departement_code"), ["departement_code"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("publisher_agreement", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_publisher_agreement_departement_code"))
    op.drop_table("publisher_agreement")
    with op.batch_alter_table("transmission_batch_school", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_transmission_batch_school_uai"))
    op.drop_table("transmission_batch_school")
    with op.batch_alter_table("transmission_batch", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_transmission_batch_departement_code"))
    op.drop_table("transmission_batch")
    with op.batch_alter_table("mail_sink_attachment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mail_sink_attachment_sink_id"))
    op.drop_table("mail_sink_attachment")
    with op.batch_alter_table("outbox_attachment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_attachment_message_id"))
    op.drop_table("outbox_attachment")
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.drop_column("cc")
