"""notifications carry gettext message ids and their parameters; earlier vi/en texts kept in `texts`

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 13:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LEGACY = ("subject_vi", "subject_en", "body_vi", "body_en")


def _table(*columns: sa.Column) -> sa.TableClause:
    return sa.table("notification", sa.column("id", sa.String()), *columns)


def upgrade() -> None:
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("subject", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("body", sa.Text(), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("params", sa.JSON(), nullable=False, server_default="{}"))
        batch_op.add_column(sa.Column("texts", sa.JSON(), nullable=True))

    # The texts written before the catalogue are kept as they were, in both languages.
    conn = op.get_bind()
    old = _table(*(sa.column(name, sa.Text()) for name in LEGACY))
    new = _table(sa.column("texts", sa.JSON()))
    for row in conn.execute(sa.select(old)).mappings().all():
        texts = {
            "subject": {"vi": row["subject_vi"], "en": row["subject_en"]},
            "body": {"vi": row["body_vi"], "en": row["body_en"]},
        }
        conn.execute(sa.update(new).where(new.c.id == row["id"]).values(texts=texts))

    with op.batch_alter_table("notification", schema=None) as batch_op:
        for name in LEGACY:
            batch_op.drop_column(name)


def downgrade() -> None:
    from portal.kernel.i18n import Translator  # the catalogue writes back what the message ids said

    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.add_column(sa.Column("subject_vi", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True))
        batch_op.add_column(sa.Column("subject_en", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True))
        batch_op.add_column(sa.Column("body_vi", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("body_en", sa.Text(), nullable=True))

    conn = op.get_bind()
    current = _table(
        sa.column("subject", sa.Text()),
        sa.column("body", sa.Text()),
        sa.column("params", sa.JSON()),
        sa.column("texts", sa.JSON()),
    )
    legacy = _table(*(sa.column(name, sa.Text()) for name in LEGACY))
    for row in conn.execute(sa.select(current)).mappings().all():
        values: dict[str, str] = {}
        for lang in ("vi", "en"):
            if row["texts"]:
                values[f"subject_{lang}"] = row["texts"]["subject"][lang]
                values[f"body_{lang}"] = row["texts"]["body"][lang]
            else:
                t = Translator(lang)
                values[f"subject_{lang}"] = t.gettext(row["subject"], row["params"] or {})
                values[f"body_{lang}"] = t.gettext(row["body"], row["params"] or {})
        conn.execute(sa.update(legacy).where(legacy.c.id == row["id"]).values(**values))

    with op.batch_alter_table("notification", schema=None) as batch_op:
        for name in LEGACY:
            batch_op.alter_column(name, nullable=False)
        for name in ("texts", "params", "body", "subject"):
            batch_op.drop_column(name)
