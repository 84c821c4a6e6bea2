"""service feedback, demands and visibility

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-21

The rest of service operations (issue 8): demands with the platform's matches, responses and
timeline (R-G-02, R-G-03), orders from a demand, case reports (R-OPS-02), reviews and bad-review
follow-ups (Annex 2 item 10), complaints (Annex 2 item 2, R-OPS-06), the homepage-hidden mark of
R-OPS-05 and the operator's spot checks (R-OPS-04).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.db

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('spot_check',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('institution_id', sa.Integer(), nullable=False),
    sa.Column('operator_id', sa.Integer(), nullable=False),
    sa.Column('checked_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('result', sa.Enum('ok', 'rectify', 'referred', name='spot_check_result'), nullable=False),
    sa.Column('findings', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['institution_id'], ['institution.id'], name=op.f('fk_spot_check_institution_id_institution'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['operator_id'], ['user_account.id'], name=op.f('fk_spot_check_operator_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_spot_check'))
    )
    with op.batch_alter_table('spot_check', schema=None) as batch_op:
        batch_op.create_index('ix_spot_check_institution_at', ['institution_id', 'checked_at'], unique=False)

    op.create_table('demand',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('enterprise_user_id', sa.Integer(), nullable=False),
    sa.Column('enterprise_id', sa.Integer(), nullable=True),
    sa.Column('filed_by_id', sa.Integer(), nullable=False),
    sa.Column('on_behalf', sa.Boolean(), nullable=False),
    sa.Column('channel', sa.String(length=32), nullable=False),
    sa.Column('category_code', sa.String(length=40), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('province_code', sa.String(length=6), nullable=True),
    sa.Column('city_code', sa.String(length=6), nullable=True),
    sa.Column('district_code', sa.String(length=6), nullable=True),
    sa.Column('budget_yuan', sa.Numeric(precision=12, scale=2), nullable=True),
    sa.Column('deadline', sa.Date(), nullable=True),
    sa.Column('status', sa.Enum('open', 'picked', 'closed', name='demand_status'), nullable=False),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('picked_response_id', sa.Integer(), nullable=True),
    sa.Column('picked_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('closed_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['enterprise_id'], ['enterprise.id'], name=op.f('fk_demand_enterprise_id_enterprise'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['enterprise_user_id'], ['user_account.id'], name=op.f('fk_demand_enterprise_user_id_user_account')),
    sa.ForeignKeyConstraint(['filed_by_id'], ['user_account.id'], name=op.f('fk_demand_filed_by_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_demand'))
    )
    with op.batch_alter_table('demand', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_demand_enterprise_user_id'), ['enterprise_user_id'], unique=False)
        batch_op.create_index('ix_demand_status_category', ['status', 'category_code'], unique=False)

    op.create_table('demand_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('demand_id', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.Column('at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['user_account.id'], name=op.f('fk_demand_event_actor_id_user_account')),
    sa.ForeignKeyConstraint(['demand_id'], ['demand.id'], name=op.f('fk_demand_event_demand_id_demand'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_demand_event'))
    )
    with op.batch_alter_table('demand_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_demand_event_demand_id'), ['demand_id'], unique=False)

    op.create_table('demand_match',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('demand_id', sa.Integer(), nullable=False),
    sa.Column('institution_id', sa.Integer(), nullable=False),
    sa.Column('service_item_id', sa.Integer(), nullable=True),
    sa.Column('rank', sa.Integer(), nullable=False),
    sa.Column('score', sa.Double(), nullable=False),
    sa.Column('reasons', sa.JSON(), nullable=False),
    sa.Column('at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['demand_id'], ['demand.id'], name=op.f('fk_demand_match_demand_id_demand'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['institution_id'], ['institution.id'], name=op.f('fk_demand_match_institution_id_institution'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['service_item_id'], ['service_item.id'], name=op.f('fk_demand_match_service_item_id_service_item'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_demand_match')),
    sa.UniqueConstraint('demand_id', 'institution_id', name=op.f('uq_demand_match_demand_id_institution_id'))
    )
    with op.batch_alter_table('demand_match', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_demand_match_institution_id'), ['institution_id'], unique=False)

    op.create_table('demand_response',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('demand_id', sa.Integer(), nullable=False),
    sa.Column('institution_id', sa.Integer(), nullable=False),
    sa.Column('service_item_id', sa.Integer(), nullable=True),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('quote_yuan', sa.Numeric(precision=12, scale=2), nullable=True),
    sa.Column('responded_by_id', sa.Integer(), nullable=False),
    sa.Column('at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('withdrawn_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['demand_id'], ['demand.id'], name=op.f('fk_demand_response_demand_id_demand'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['institution_id'], ['institution.id'], name=op.f('fk_demand_response_institution_id_institution'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['responded_by_id'], ['user_account.id'], name=op.f('fk_demand_response_responded_by_id_user_account')),
    sa.ForeignKeyConstraint(['service_item_id'], ['service_item.id'], name=op.f('fk_demand_response_service_item_id_service_item'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_demand_response')),
    sa.UniqueConstraint('demand_id', 'institution_id', name=op.f('uq_demand_response_demand_id_institution_id'))
    )
    with op.batch_alter_table('demand_response', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_demand_response_institution_id'), ['institution_id'], unique=False)
    # demand and demand_response point at each other: this key can only come second.
    with op.batch_alter_table('demand', schema=None) as batch_op:
        batch_op.create_foreign_key('fk_demand_picked_response_id_demand_response', 'demand_response',
                                    ['picked_response_id'], ['id'])

    op.create_table('case_report',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('institution_id', sa.Integer(), nullable=False),
    sa.Column('consultation_id', sa.Integer(), nullable=True),
    sa.Column('order_id', sa.Integer(), nullable=True),
    sa.Column('service_item_id', sa.Integer(), nullable=True),
    sa.Column('consulted_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('client_name', sa.String(length=200), nullable=False),
    sa.Column('client_contact', sa.String(length=100), nullable=False),
    sa.Column('item', sa.String(length=200), nullable=False),
    sa.Column('content', sa.Text(), nullable=False),
    sa.Column('reply', sa.Text(), nullable=False),
    sa.Column('business_followed', sa.Boolean(), nullable=False),
    sa.Column('amount_saved_yuan', sa.Numeric(precision=12, scale=2), nullable=True),
    sa.Column('reported_by_id', sa.Integer(), nullable=False),
    sa.Column('reported_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('withdrawn_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('withdrawn_reason', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['consultation_id'], ['consultation.id'], name=op.f('fk_case_report_consultation_id_consultation'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['institution_id'], ['institution.id'], name=op.f('fk_case_report_institution_id_institution'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['order_id'], ['service_order.id'], name=op.f('fk_case_report_order_id_service_order'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['reported_by_id'], ['user_account.id'], name=op.f('fk_case_report_reported_by_id_user_account')),
    sa.ForeignKeyConstraint(['service_item_id'], ['service_item.id'], name=op.f('fk_case_report_service_item_id_service_item'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_report'))
    )
    with op.batch_alter_table('case_report', schema=None) as batch_op:
        batch_op.create_index('ix_case_report_institution_reported', ['institution_id', 'reported_at'], unique=False)

    op.create_table('complaint',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('institution_id', sa.Integer(), nullable=False),
    sa.Column('enterprise_user_id', sa.Integer(), nullable=False),
    sa.Column('filed_by_id', sa.Integer(), nullable=False),
    sa.Column('on_behalf', sa.Boolean(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=True),
    sa.Column('consultation_id', sa.Integer(), nullable=True),
    sa.Column('subject', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('status', sa.Enum('filed', 'verified', 'unfounded', 'withdrawn', name='complaint_status'), nullable=False),
    sa.Column('filed_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('serious', sa.Boolean(), nullable=False),
    sa.Column('verified_by_id', sa.Integer(), nullable=True),
    sa.Column('verified_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('verification_notes', sa.Text(), nullable=True),
    sa.Column('removal_notice_id', sa.Integer(), nullable=True),
    sa.Column('withdrawn_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['consultation_id'], ['consultation.id'], name=op.f('fk_complaint_consultation_id_consultation'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['enterprise_user_id'], ['user_account.id'], name=op.f('fk_complaint_enterprise_user_id_user_account')),
    sa.ForeignKeyConstraint(['filed_by_id'], ['user_account.id'], name=op.f('fk_complaint_filed_by_id_user_account')),
    sa.ForeignKeyConstraint(['institution_id'], ['institution.id'], name=op.f('fk_complaint_institution_id_institution'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['order_id'], ['service_order.id'], name=op.f('fk_complaint_order_id_service_order'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['verified_by_id'], ['user_account.id'], name=op.f('fk_complaint_verified_by_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_complaint'))
    )
    with op.batch_alter_table('complaint', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_complaint_enterprise_user_id'), ['enterprise_user_id'], unique=False)
        batch_op.create_index('ix_complaint_institution_status', ['institution_id', 'status'], unique=False)

    op.create_table('review',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('institution_id', sa.Integer(), nullable=False),
    sa.Column('enterprise_user_id', sa.Integer(), nullable=False),
    sa.Column('entered_by_id', sa.Integer(), nullable=True),
    sa.Column('stars', sa.SmallInteger(), nullable=False),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('stars BETWEEN 1 AND 5', name=op.f('ck_review_stars_range')),
    sa.ForeignKeyConstraint(['entered_by_id'], ['user_account.id'], name=op.f('fk_review_entered_by_id_user_account')),
    sa.ForeignKeyConstraint(['enterprise_user_id'], ['user_account.id'], name=op.f('fk_review_enterprise_user_id_user_account')),
    sa.ForeignKeyConstraint(['institution_id'], ['institution.id'], name=op.f('fk_review_institution_id_institution'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['order_id'], ['service_order.id'], name=op.f('fk_review_order_id_service_order'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_review')),
    sa.UniqueConstraint('order_id', name=op.f('uq_review_order_id'))
    )
    with op.batch_alter_table('review', schema=None) as batch_op:
        batch_op.create_index('ix_review_institution_at', ['institution_id', 'at'], unique=False)

    op.create_table('review_follow_up',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('review_id', sa.Integer(), nullable=False),
    sa.Column('institution_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('open', 'responded', 'satisfied', 'unsatisfied', name='follow_up_status'), nullable=False),
    sa.Column('opened_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('response', sa.Text(), nullable=True),
    sa.Column('responded_by_id', sa.Integer(), nullable=True),
    sa.Column('responded_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('verdict_comment', sa.Text(), nullable=True),
    sa.Column('verdict_by_id', sa.Integer(), nullable=True),
    sa.Column('closed_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['institution_id'], ['institution.id'], name=op.f('fk_review_follow_up_institution_id_institution'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['responded_by_id'], ['user_account.id'], name=op.f('fk_review_follow_up_responded_by_id_user_account')),
    sa.ForeignKeyConstraint(['review_id'], ['review.id'], name=op.f('fk_review_follow_up_review_id_review'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['verdict_by_id'], ['user_account.id'], name=op.f('fk_review_follow_up_verdict_by_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_review_follow_up')),
    sa.UniqueConstraint('review_id', name=op.f('uq_review_follow_up_review_id'))
    )
    with op.batch_alter_table('review_follow_up', schema=None) as batch_op:
        batch_op.create_index('ix_review_follow_up_institution_status', ['institution_id', 'status'], unique=False)

    with op.batch_alter_table('institution', schema=None) as batch_op:
        batch_op.add_column(sa.Column('homepage_hidden_at', core.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('homepage_hidden_reason', sa.String(length=64), nullable=True))

    if op.get_context().dialect.name == 'postgresql':
        # An order can now come from a demand. (SQLite keeps enums as plain strings.)
        op.execute("ALTER TYPE order_source ADD VALUE IF NOT EXISTS 'demand'")
    with op.batch_alter_table('service_order', schema=None) as batch_op:
        batch_op.add_column(sa.Column('demand_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_service_order_demand_id_demand'), 'demand', ['demand_id'], ['id'], ondelete='SET NULL')



def downgrade() -> None:
    with op.batch_alter_table('service_order', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_service_order_demand_id_demand'), type_='foreignkey')
        batch_op.drop_column('demand_id')

    with op.batch_alter_table('institution', schema=None) as batch_op:
        batch_op.drop_column('homepage_hidden_reason')
        batch_op.drop_column('homepage_hidden_at')

    with op.batch_alter_table('review_follow_up', schema=None) as batch_op:
        batch_op.drop_index('ix_review_follow_up_institution_status')

    op.drop_table('review_follow_up')
    with op.batch_alter_table('review', schema=None) as batch_op:
        batch_op.drop_index('ix_review_institution_at')

    op.drop_table('review')
    with op.batch_alter_table('complaint', schema=None) as batch_op:
        batch_op.drop_index('ix_complaint_institution_status')
        batch_op.drop_index(batch_op.f('ix_complaint_enterprise_user_id'))

    op.drop_table('complaint')
    with op.batch_alter_table('case_report', schema=None) as batch_op:
        batch_op.drop_index('ix_case_report_institution_reported')

    op.drop_table('case_report')
    with op.batch_alter_table('demand_response', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_demand_response_institution_id'))

    with op.batch_alter_table('demand', schema=None) as batch_op:
        batch_op.drop_constraint('fk_demand_picked_response_id_demand_response', type_='foreignkey')
    op.drop_table('demand_response')
    with op.batch_alter_table('demand_match', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_demand_match_institution_id'))

    op.drop_table('demand_match')
    with op.batch_alter_table('demand_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_demand_event_demand_id'))

    op.drop_table('demand_event')
    with op.batch_alter_table('demand', schema=None) as batch_op:
        batch_op.drop_index('ix_demand_status_category')
        batch_op.drop_index(batch_op.f('ix_demand_enterprise_user_id'))

    op.drop_table('demand')
    with op.batch_alter_table('spot_check', schema=None) as batch_op:
        batch_op.drop_index('ix_spot_check_institution_at')

    op.drop_table('spot_check')
    for enum_type in ('spot_check_result', 'demand_status', 'complaint_status', 'follow_up_status'):
        sa.Enum(name=enum_type).drop(op.get_bind(), checkfirst=True)
    # 'demand' stays in PostgreSQL's order_source: an enum value cannot be dropped in place.
