"""signing credentials and file signatures

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 06:57:07.890679
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "signingcredential",
        sa.Column("account_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("signer", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("key_ref", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("cert_serial", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column("cert_not_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("totp_secret", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("totp_confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_totp_step", sa.Integer(), nullable=True),
        sa.Column("failed_codes", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
        ),
        sa.PrimaryKeyConstraint("account_id"),
    )
    with op.batch_alter_table("dossier", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dossier_receipt_sha256"), ["receipt_sha256"], unique=False)

    with op.batch_alter_table("dossierfile", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dossierfile_sha256"), ["sha256"], unique=False)
        batch_op.add_column(sa.Column("signature", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=True))
        batch_op.add_column(sa.Column("signature_report", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("dossier", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dossier_receipt_sha256"))
    with op.batch_alter_table("dossierfile", schema=None) as batch_op:
        batch_op.drop_column("signature_report")
        batch_op.drop_column("signature")
        batch_op.drop_index(batch_op.f("ix_dossierfile_sha256"))

    op.drop_table("signingcredential")
