"""identity: sessions, identities, businesses, partner clients, audit

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 06:07:42.354690
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "auditevent",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("account_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("client_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("ip", sqlmodel.sql.sqltypes.AutoString(length=45), nullable=True),
        sa.Column("user_agent", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("auditevent", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_auditevent_account_id"), ["account_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_auditevent_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_auditevent_client_id"), ["client_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_auditevent_kind"), ["kind"], unique=False)

    op.create_table(
        "apiclient",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("scope", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("agency_code", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=True),
        sa.Column("postal_operator", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("secret_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rotated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["agency_code"],
            ["agency.code"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "business",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("tax_code", sqlmodel.sql.sqltypes.AutoString(length=14), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["account.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("business", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_business_tax_code"), ["tax_code"], unique=True)

    op.create_table(
        "externalidentity",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("issuer", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("subject", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_signin_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("issuer", "subject", name="uq_identity_issuer_subject"),
    )
    with op.batch_alter_table("externalidentity", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_externalidentity_account_id"), ["account_id"], unique=False)

    op.create_table(
        "usersession",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("account_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("method", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("assurance_level", sa.Integer(), nullable=False),
        sa.Column("acr", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("id_token", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("acting_as", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("usersession", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_usersession_account_id"), ["account_id"], unique=False)

    op.create_table(
        "representative",
        sa.Column("business_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("account_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("added_by", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
        ),
        sa.ForeignKeyConstraint(
            ["business_id"],
            ["business.id"],
        ),
        sa.PrimaryKeyConstraint("business_id", "account_id"),
    )
    with op.batch_alter_table("representative", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_representative_account_id"), ["account_id"], unique=False)

    with op.batch_alter_table("account", schema=None) as batch_op:
        batch_op.add_column(sa.Column("birth_date", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True))
        batch_op.add_column(sa.Column("sso_email", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=True))
        batch_op.add_column(sa.Column("sso_phone", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True))
        batch_op.alter_column("password_hash", existing_type=sa.VARCHAR(), nullable=True)

    with op.batch_alter_table("dossier", schema=None) as batch_op:
        batch_op.add_column(sa.Column("business_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))
        batch_op.create_index(batch_op.f("ix_dossier_business_id"), ["business_id"], unique=False)
        batch_op.create_foreign_key("fk_dossier_business_id", "business", ["business_id"], ["id"])

    with op.batch_alter_table("procedure", schema=None) as batch_op:
        batch_op.add_column(sa.Column("min_assurance", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("procedure", schema=None) as batch_op:
        batch_op.drop_column("min_assurance")

    with op.batch_alter_table("dossier", schema=None) as batch_op:
        batch_op.drop_constraint("fk_dossier_business_id", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_dossier_business_id"))
        batch_op.drop_column("business_id")

    with op.batch_alter_table("account", schema=None) as batch_op:
        batch_op.alter_column("password_hash", existing_type=sa.VARCHAR(), nullable=False)
        batch_op.drop_column("sso_phone")
        batch_op.drop_column("sso_email")
        batch_op.drop_column("address")
        batch_op.drop_column("birth_date")

    with op.batch_alter_table("representative", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_representative_account_id"))

    op.drop_table("representative")
    with op.batch_alter_table("usersession", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_usersession_account_id"))

    op.drop_table("usersession")
    with op.batch_alter_table("externalidentity", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_externalidentity_account_id"))

    op.drop_table("externalidentity")
    with op.batch_alter_table("business", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_business_tax_code"))

    op.drop_table("business")
    op.drop_table("apiclient")
    with op.batch_alter_table("auditevent", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_auditevent_kind"))
        batch_op.drop_index(batch_op.f("ix_auditevent_client_id"))
        batch_op.drop_index(batch_op.f("ix_auditevent_at"))
        batch_op.drop_index(batch_op.f("ix_auditevent_account_id"))

    op.drop_table("auditevent")
