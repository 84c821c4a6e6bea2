"""equipment_sharing: the instrument register and bookings

Revision ID: e0001
Revises:
Create Date: 2026-11-22

`equipment_sharing_instrument` (the instrument database, R-G-01) and
`equipment_sharing_booking`. On PostgreSQL an exclusion constraint (btree_gist) makes two
accepted bookings of one instrument with overlapping times impossible. Recorded in
`alembic_version_equipment_sharing`.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.db

revision = 'e0001'
down_revision = None
branch_labels = None
depends_on = None

INSTRUMENT_STATUS = sa.Enum('in_service', 'under_maintenance', 'retired',
                            name='equipment_sharing_instrument_status')
BOOKING_STATUS = sa.Enum('requested', 'accepted', 'declined', 'cancelled',
                         name='equipment_sharing_booking_status')


def upgrade() -> None:
    op.create_table(
        'equipment_sharing_instrument',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('institution_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('model', sa.String(length=100), nullable=True),
        sa.Column('manufacturer', sa.String(length=200), nullable=True),
        sa.Column('indicators', sa.Text(), nullable=True),
        sa.Column('location', sa.String(length=300), nullable=True),
        sa.Column('last_calibrated_on', sa.Date(), nullable=True),
        sa.Column('last_maintained_on', sa.Date(), nullable=True),
        sa.Column('status', INSTRUMENT_STATUS, nullable=False),
        sa.Column('price_per_hour', sa.Numeric(precision=12, scale=2), nullable=True),
        sa.Column('price_per_sample', sa.Numeric(precision=12, scale=2), nullable=True),
        sa.Column('availability', sa.String(length=1000), nullable=True),
        sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint('price_per_hour IS NULL OR price_per_hour >= 0',
                           name=op.f('ck_equipment_sharing_instrument_price_per_hour')),
        sa.CheckConstraint('price_per_sample IS NULL OR price_per_sample >= 0',
                           name=op.f('ck_equipment_sharing_instrument_price_per_sample')),
        sa.ForeignKeyConstraint(
            ['institution_id'], ['institution.id'],
            name=op.f('fk_equipment_sharing_instrument_institution_id_institution')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_equipment_sharing_instrument')),
    )
    with op.batch_alter_table('equipment_sharing_instrument', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_equipment_sharing_instrument_institution_id'),
                              ['institution_id'], unique=False)

    op.create_table(
        'equipment_sharing_booking',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('instrument_id', sa.Integer(), nullable=False),
        sa.Column('enterprise_user_id', sa.Integer(), nullable=False),
        sa.Column('starts_at', core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('ends_at', core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('purpose', sa.Text(), nullable=False),
        sa.Column('status', BOOKING_STATUS, nullable=False),
        sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('decided_by_id', sa.Integer(), nullable=True),
        sa.Column('decided_at', core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('decision_note', sa.String(length=1000), nullable=True),
        sa.Column('cancelled_at', core.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint('ends_at > starts_at',
                           name=op.f('ck_equipment_sharing_booking_ends_after_start')),
        sa.ForeignKeyConstraint(
            ['decided_by_id'], ['user_account.id'],
            name=op.f('fk_equipment_sharing_booking_decided_by_id_user_account')),
        sa.ForeignKeyConstraint(
            ['enterprise_user_id'], ['user_account.id'],
            name=op.f('fk_equipment_sharing_booking_enterprise_user_id_user_account')),
        sa.ForeignKeyConstraint(['instrument_id'], ['equipment_sharing_instrument.id'],
                                name='fk_equipment_sharing_booking_instrument_id'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_equipment_sharing_booking')),
    )
    with op.batch_alter_table('equipment_sharing_booking', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_equipment_sharing_booking_enterprise_user_id'),
                              ['enterprise_user_id'], unique=False)
        batch_op.create_index('ix_equipment_sharing_booking_instrument_starts',
                              ['instrument_id', 'starts_at'], unique=False)

    if op.get_bind().dialect.name == 'postgresql':
        # btree_gist gives GiST the "=" on an integer that the constraint pairs with "&&".
        op.execute('CREATE EXTENSION IF NOT EXISTS btree_gist')
        op.execute(
            'ALTER TABLE equipment_sharing_booking ADD CONSTRAINT equipment_sharing_booking_no_overlap '
            'EXCLUDE USING gist (instrument_id WITH =, tstzrange(starts_at, ends_at) WITH &&) '
            "WHERE (status = 'accepted')")


def downgrade() -> None:
    # The extension stays: other tables may use it, and dropping it needs more rights.
    op.drop_table('equipment_sharing_booking')
    op.drop_table('equipment_sharing_instrument')
    bind = op.get_bind()
    if bind.dialect.name == 'postgresql':
        BOOKING_STATUS.drop(bind, checkfirst=True)
        INSTRUMENT_STATUS.drop(bind, checkfirst=True)
