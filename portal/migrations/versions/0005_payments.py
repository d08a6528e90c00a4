"""payments, refunds, e-receipt numbers; fee settings of procedures; declared fee reductions

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 07:44:56.977872
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('receiptsequence',
    sa.Column('symbol', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('last', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('symbol')
    )
    op.create_table('payment',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('reference', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('order_kind', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('order_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('account_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('agency_code', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('gateway', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('amount', sa.Integer(), nullable=False),
    sa.Column('currency', sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
    sa.Column('description', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('lines', sa.JSON(), nullable=False),
    sa.Column('reductions', sa.JSON(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
    sa.Column('gateway_ref', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    sa.Column('redirect_url', sqlmodel.sql.sqltypes.AutoString(length=4000), nullable=True),
    sa.Column('idempotency_key', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('message', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('settled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('refunded_amount', sa.Integer(), nullable=False),
    sa.Column('receipt_symbol', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
    sa.Column('receipt_number', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
    sa.Column('receipt_key', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('receipt_sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('payment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payment_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_payment_agency_code'), ['agency_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_payment_gateway_ref'), ['gateway_ref'], unique=False)
        batch_op.create_index(batch_op.f('ix_payment_order_id'), ['order_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_payment_receipt_sha256'), ['receipt_sha256'], unique=False)
        batch_op.create_index(batch_op.f('ix_payment_reference'), ['reference'], unique=True)
        batch_op.create_index(batch_op.f('ix_payment_settled_at'), ['settled_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_payment_status'), ['status'], unique=False)

    op.create_table('paymentevent',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('payment_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('outcome', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
    sa.Column('dedupe_key', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['payment_id'], ['payment.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('dedupe_key')
    )
    with op.batch_alter_table('paymentevent', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_paymentevent_payment_id'), ['payment_id'], unique=False)

    op.create_table('refund',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('payment_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('amount', sa.Integer(), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
    sa.Column('gateway_ref', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    sa.Column('message', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('settled_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['payment_id'], ['payment.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('refund', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_refund_payment_id'), ['payment_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_refund_status'), ['status'], unique=False)

    with op.batch_alter_table('dossier', schema=None) as batch_op:
        batch_op.add_column(sa.Column('fee_reduction', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True))

    with op.batch_alter_table('procedure', schema=None) as batch_op:
        batch_op.add_column(sa.Column('payment_timing', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False, server_default='before'))
        batch_op.add_column(sa.Column('reductions', sa.JSON(), nullable=False, server_default='[]'))
        batch_op.add_column(sa.Column('refundable', sa.Boolean(), nullable=False, server_default=sa.false()))



def downgrade() -> None:
    with op.batch_alter_table('procedure', schema=None) as batch_op:
        batch_op.drop_column('refundable')
        batch_op.drop_column('reductions')
        batch_op.drop_column('payment_timing')

    with op.batch_alter_table('dossier', schema=None) as batch_op:
        batch_op.drop_column('fee_reduction')

    with op.batch_alter_table('refund', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_refund_status'))
        batch_op.drop_index(batch_op.f('ix_refund_payment_id'))

    op.drop_table('refund')
    with op.batch_alter_table('paymentevent', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_paymentevent_payment_id'))

    op.drop_table('paymentevent')
    with op.batch_alter_table('payment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payment_status'))
        batch_op.drop_index(batch_op.f('ix_payment_settled_at'))
        batch_op.drop_index(batch_op.f('ix_payment_reference'))
        batch_op.drop_index(batch_op.f('ix_payment_receipt_sha256'))
        batch_op.drop_index(batch_op.f('ix_payment_order_id'))
        batch_op.drop_index(batch_op.f('ix_payment_gateway_ref'))
        batch_op.drop_index(batch_op.f('ix_payment_agency_code'))
        batch_op.drop_index(batch_op.f('ix_payment_account_id'))

    op.drop_table('payment')
    op.drop_table('receiptsequence')
