"""consultations

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28

Consultations and their message threads, with the stored first-response SLA measure (R-OPS-03)
and who filed the question (an operator on an enterprise's behalf, R-G-08). `service_item_id`
has no foreign key yet: the service-item table is written in parallel.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.db

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('consultation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('institution_id', sa.Integer(), nullable=False),
    sa.Column('enterprise_user_id', sa.Integer(), nullable=False),
    sa.Column('filed_by_id', sa.Integer(), nullable=False),
    sa.Column('on_behalf', sa.Boolean(), nullable=False),
    sa.Column('service_item_id', sa.Integer(), nullable=True),
    sa.Column('subject', sa.String(length=200), nullable=False),
    sa.Column('received_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status', sa.Enum('open', 'answered', 'closed', name='consultation_status'), nullable=False),
    sa.Column('first_response_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('first_response_by_id', sa.Integer(), nullable=True),
    sa.Column('sla_rule', sa.String(length=32), nullable=True),
    sa.Column('sla_seconds', sa.Integer(), nullable=True),
    sa.Column('sla_limit_seconds', sa.Integer(), nullable=True),
    sa.Column('closed_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['enterprise_user_id'], ['user_account.id'], name=op.f('fk_consultation_enterprise_user_id_user_account')),
    sa.ForeignKeyConstraint(['filed_by_id'], ['user_account.id'], name=op.f('fk_consultation_filed_by_id_user_account')),
    sa.ForeignKeyConstraint(['first_response_by_id'], ['user_account.id'], name=op.f('fk_consultation_first_response_by_id_user_account')),
    sa.ForeignKeyConstraint(['institution_id'], ['institution.id'], name=op.f('fk_consultation_institution_id_institution'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consultation'))
    )
    with op.batch_alter_table('consultation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consultation_enterprise_user_id'), ['enterprise_user_id'], unique=False)
        batch_op.create_index('ix_consultation_institution_received', ['institution_id', 'received_at'], unique=False)
        batch_op.create_index('ix_consultation_status_first_response', ['status', 'first_response_at'], unique=False)

    op.create_table('consultation_message',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('consultation_id', sa.Integer(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=False),
    sa.Column('side', sa.Enum('enterprise', 'institution', name='consultation_side'), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['user_account.id'], name=op.f('fk_consultation_message_author_id_user_account')),
    sa.ForeignKeyConstraint(['consultation_id'], ['consultation.id'], name=op.f('fk_consultation_message_consultation_id_consultation'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consultation_message'))
    )
    with op.batch_alter_table('consultation_message', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consultation_message_consultation_id'), ['consultation_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('consultation_message', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consultation_message_consultation_id'))
    op.drop_table('consultation_message')
    with op.batch_alter_table('consultation', schema=None) as batch_op:
        batch_op.drop_index('ix_consultation_status_first_response')
        batch_op.drop_index('ix_consultation_institution_received')
        batch_op.drop_index(batch_op.f('ix_consultation_enterprise_user_id'))
    op.drop_table('consultation')
    sa.Enum(name='consultation_side').drop(op.get_bind(), checkfirst=True)
    sa.Enum(name='consultation_status').drop(op.get_bind(), checkfirst=True)
