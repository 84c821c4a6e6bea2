"""orders

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29

Orders with their timeline and attachments (R-G-03, R-G-08); `placed_by_staff` keeps orders the
institution's own staff placed out of the effective-order count (R-ASM-03).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import core.db

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

STATUSES = ('placed', 'accepted', 'in_progress', 'delivered', 'completed', 'cancelled')


def _existing_status() -> sa.types.TypeEngine:
    """`order_status` again, for the timeline: PostgreSQL has the type already."""
    return sa.Enum(*STATUSES, name='order_status').with_variant(
        postgresql.ENUM(*STATUSES, name='order_status', create_type=False), 'postgresql')


def upgrade() -> None:
    op.create_table('service_order',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('institution_id', sa.Integer(), nullable=False),
    sa.Column('enterprise_user_id', sa.Integer(), nullable=False),
    sa.Column('placed_by_id', sa.Integer(), nullable=False),
    sa.Column('on_behalf', sa.Boolean(), nullable=False),
    sa.Column('placed_by_staff', sa.Boolean(), nullable=False),
    sa.Column('source', sa.Enum('consultation', 'service_item', 'none', name='order_source'), nullable=False),
    sa.Column('consultation_id', sa.Integer(), nullable=True),
    sa.Column('service_item_id', sa.Integer(), nullable=True),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('amount_yuan', sa.Numeric(precision=12, scale=2), nullable=True),
    sa.Column('status', sa.Enum(*STATUSES, name='order_status'), nullable=False),
    sa.Column('placed_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('accepted_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('started_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('delivered_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('completed_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('cancelled_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('cancel_reason', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['consultation_id'], ['consultation.id'], name=op.f('fk_service_order_consultation_id_consultation'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['enterprise_user_id'], ['user_account.id'], name=op.f('fk_service_order_enterprise_user_id_user_account')),
    sa.ForeignKeyConstraint(['institution_id'], ['institution.id'], name=op.f('fk_service_order_institution_id_institution'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['placed_by_id'], ['user_account.id'], name=op.f('fk_service_order_placed_by_id_user_account')),
    sa.ForeignKeyConstraint(['service_item_id'], ['service_item.id'], name=op.f('fk_service_order_service_item_id_service_item'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_service_order'))
    )
    with op.batch_alter_table('service_order', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_service_order_enterprise_user_id'), ['enterprise_user_id'], unique=False)
        batch_op.create_index('ix_service_order_institution_completed', ['institution_id', 'completed_at'], unique=False)
        batch_op.create_index('ix_service_order_institution_status', ['institution_id', 'status'], unique=False)

    op.create_table('order_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('from_status', _existing_status(), nullable=True),
    sa.Column('to_status', _existing_status(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['user_account.id'], name=op.f('fk_order_event_actor_id_user_account')),
    sa.ForeignKeyConstraint(['order_id'], ['service_order.id'], name=op.f('fk_order_event_order_id_service_order'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_order_event'))
    )
    with op.batch_alter_table('order_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_order_event_order_id'), ['order_id'], unique=False)

    op.create_table('order_attachment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('document_id', sa.Integer(), nullable=False),
    sa.Column('attached_by_id', sa.Integer(), nullable=False),
    sa.Column('at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['attached_by_id'], ['user_account.id'], name=op.f('fk_order_attachment_attached_by_id_user_account')),
    sa.ForeignKeyConstraint(['document_id'], ['document.id'], name=op.f('fk_order_attachment_document_id_document'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['order_id'], ['service_order.id'], name=op.f('fk_order_attachment_order_id_service_order'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_order_attachment')),
    sa.UniqueConstraint('order_id', 'document_id', name=op.f('uq_order_attachment_order_id_document_id'))
    )
    with op.batch_alter_table('order_attachment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_order_attachment_order_id'), ['order_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('order_attachment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_order_attachment_order_id'))
    op.drop_table('order_attachment')
    with op.batch_alter_table('order_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_order_event_order_id'))
    op.drop_table('order_event')
    with op.batch_alter_table('service_order', schema=None) as batch_op:
        batch_op.drop_index('ix_service_order_institution_status')
        batch_op.drop_index('ix_service_order_institution_completed')
        batch_op.drop_index(batch_op.f('ix_service_order_enterprise_user_id'))
    op.drop_table('service_order')
    sa.Enum(name='order_status').drop(op.get_bind(), checkfirst=True)
    sa.Enum(name='order_source').drop(op.get_bind(), checkfirst=True)
