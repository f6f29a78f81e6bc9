"""Attachments' bytes in the database (`blobs.store: postgres`), so that every host reads the files any host took.

Made on both engines, so the schema is one; only PostgreSQL's is used. Photos, PDFs and recordings arrive
compressed already: PostgreSQL keeps them out of line without trying to compress them again (STORAGE EXTERNAL).

Revision ID: r0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gateway.tickets.schema import UtcDateTime

revision = "r0005"
down_revision = "r0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "blobs",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE blobs ALTER COLUMN data SET STORAGE EXTERNAL")
