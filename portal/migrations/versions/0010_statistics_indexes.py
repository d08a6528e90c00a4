"""Statistics indexes: the period conditions of the public statistics (portal/stats/query.py, issue 14).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 21:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (index, table, columns): portal.stats.query.INDEXES declares the same on the tables' metadata.
INDEXES = (
    ("ix_dossier_received_at", "dossier", ["received_at"]),
    ("ix_dossier_result_ready_at", "dossier", ["result_ready_at"]),
    ("ix_dossier_completed_at", "dossier", ["completed_at"]),
    ("ix_dossier_status_official_due_date", "dossier", ["status", "official_due_date"]),
    ("ix_dossierevent_kind_at", "dossierevent", ["kind", "at"]),
    ("ix_dossierrating_at", "dossierrating", ["at"]),
    ("ix_refund_settled_at", "refund", ["settled_at"]),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
