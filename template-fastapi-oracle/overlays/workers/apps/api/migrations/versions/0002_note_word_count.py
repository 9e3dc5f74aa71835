"""Add notes.word_count, filled in by the worker's count-words job (null until it has run).

Revision ID: 0002_note_word_count
Revises: 0001_create_notes
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_note_word_count"
down_revision = "0001_create_notes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable, no default: instant on a big table, and the running version ignores it.
    op.add_column("notes", sa.Column("word_count", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("notes", "word_count")
