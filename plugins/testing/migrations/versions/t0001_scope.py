"""testing: the scope annex

Revision ID: t0001
Revises:
Create Date: 2026-11-22

`testing_scope_entry`: the standards an institution's CMA certificate covers, searchable by
normalised standard number. Recorded in `alembic_version_testing`.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.db

revision = 't0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'testing_scope_entry',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('institution_id', sa.Integer(), nullable=False),
        sa.Column('standard_number', sa.String(length=100), nullable=False),
        sa.Column('standard_title', sa.String(length=300), nullable=True),
        sa.Column('parameters', sa.Text(), nullable=True),
        sa.Column('limits', sa.Text(), nullable=True),
        sa.Column('document_id', sa.Integer(), nullable=True),
        sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['created_by_id'], ['user_account.id'],
                                name=op.f('fk_testing_scope_entry_created_by_id_user_account')),
        sa.ForeignKeyConstraint(['document_id'], ['document.id'],
                                name=op.f('fk_testing_scope_entry_document_id_document')),
        sa.ForeignKeyConstraint(['institution_id'], ['institution.id'],
                                name=op.f('fk_testing_scope_entry_institution_id_institution')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_testing_scope_entry')),
    )
    with op.batch_alter_table('testing_scope_entry', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_testing_scope_entry_institution_id'),
                              ['institution_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_testing_scope_entry_standard_number'),
                              ['standard_number'], unique=False)


def downgrade() -> None:
    op.drop_table('testing_scope_entry')
