"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
${imports if imports else ""}
revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = ${repr(branch_labels)}
depends_on = ${repr(depends_on)}


# Expand, then contract: this runs before the new version replaces the old one, and a rollback
# keeps the old code running against the new schema (docs/RUNBOOK.md, Migrations).
def upgrade() -> None:
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    ${downgrades if downgrades else "pass"}
