"""assessment

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-21

The yearly assessment (issue 6): one score sheet per institution and cycle with its ten Annex 2
items (computed value, evidence and the operator's override beside it), and the institutions'
yearly service summaries (R-ASM-01…06).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.db

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('assessment_sheet',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('institution_id', sa.Integer(), nullable=False),
    sa.Column('cycle_number', sa.Integer(), nullable=False),
    sa.Column('opening_date', sa.Date(), nullable=False),
    sa.Column('opening_source', sa.Enum('service_opening', 'went_live', name='assessment_opening'), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=False),
    sa.Column('assessed_from', sa.Date(), nullable=False),
    sa.Column('service_year', sa.Integer(), nullable=False),
    sa.Column('quota_category', sa.String(length=40), nullable=True),
    sa.Column('status', sa.Enum('draft', 'final', name='assessment_status'), nullable=False),
    sa.Column('score', sa.Integer(), nullable=False),
    sa.Column('passed', sa.Boolean(), nullable=False),
    sa.Column('computed_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('computed_by_id', sa.Integer(), nullable=True),
    sa.Column('finalised_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finalised_by_id', sa.Integer(), nullable=True),
    sa.Column('removal_notice_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['computed_by_id'], ['user_account.id'], name=op.f('fk_assessment_sheet_computed_by_id_user_account')),
    sa.ForeignKeyConstraint(['finalised_by_id'], ['user_account.id'], name=op.f('fk_assessment_sheet_finalised_by_id_user_account')),
    sa.ForeignKeyConstraint(['institution_id'], ['institution.id'], name=op.f('fk_assessment_sheet_institution_id_institution')),
    sa.ForeignKeyConstraint(['removal_notice_id'], ['removal_notice.id'], name=op.f('fk_assessment_sheet_removal_notice_id_removal_notice')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_assessment_sheet')),
    sa.UniqueConstraint('institution_id', 'cycle_number', name=op.f('uq_assessment_sheet_institution_id_cycle_number'))
    )
    with op.batch_alter_table('assessment_sheet', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_assessment_sheet_institution_id'), ['institution_id'], unique=False)
        batch_op.create_index('ix_assessment_sheet_status_period_end', ['status', 'period_end'], unique=False)

    op.create_table('service_summary',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('institution_id', sa.Integer(), nullable=False),
    sa.Column('cycle_number', sa.Integer(), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('document_id', sa.Integer(), nullable=True),
    sa.Column('submitted_by_id', sa.Integer(), nullable=False),
    sa.Column('submitted_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['document_id'], ['document.id'], name=op.f('fk_service_summary_document_id_document')),
    sa.ForeignKeyConstraint(['institution_id'], ['institution.id'], name=op.f('fk_service_summary_institution_id_institution')),
    sa.ForeignKeyConstraint(['submitted_by_id'], ['user_account.id'], name=op.f('fk_service_summary_submitted_by_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_service_summary')),
    sa.UniqueConstraint('institution_id', 'cycle_number', name=op.f('uq_service_summary_institution_id_cycle_number'))
    )
    with op.batch_alter_table('service_summary', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_service_summary_institution_id'), ['institution_id'], unique=False)

    op.create_table('assessment_item',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sheet_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.Column('computed_deducted', sa.Boolean(), nullable=False),
    sa.Column('evidence', sa.JSON(), nullable=False),
    sa.Column('override_deducted', sa.Boolean(), nullable=True),
    sa.Column('override_reason', sa.Text(), nullable=True),
    sa.Column('overridden_by_id', sa.Integer(), nullable=True),
    sa.Column('overridden_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['overridden_by_id'], ['user_account.id'], name=op.f('fk_assessment_item_overridden_by_id_user_account')),
    sa.ForeignKeyConstraint(['sheet_id'], ['assessment_sheet.id'], name=op.f('fk_assessment_item_sheet_id_assessment_sheet'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_assessment_item')),
    sa.UniqueConstraint('sheet_id', 'number', name=op.f('uq_assessment_item_sheet_id_number'))
    )


def downgrade() -> None:
    op.drop_table('assessment_item')
    with op.batch_alter_table('service_summary', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_service_summary_institution_id'))

    op.drop_table('service_summary')
    with op.batch_alter_table('assessment_sheet', schema=None) as batch_op:
        batch_op.drop_index('ix_assessment_sheet_status_period_end')
        batch_op.drop_index(batch_op.f('ix_assessment_sheet_institution_id'))

    op.drop_table('assessment_sheet')
    for enum_type in ('assessment_status', 'assessment_opening'):
        sa.Enum(name=enum_type).drop(op.get_bind(), checkfirst=True)
