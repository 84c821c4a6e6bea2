"""The notification outbox and the in-app inbox.

An `OutboxMessage` is written in the same transaction as the state change it announces and
delivered after that transaction commits; its `dedupe_key` is unique, so a retried state change
or a redelivered task never queues the same message twice (SECURITY.md 16).
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, utcnow


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"  # waiting for its next attempt (`next_attempt_at`)
    SENDING = "sending"  # claimed by a worker until `lease_until`
    SENT = "sent"  # handed to the provider; never sent again
    DEAD = "dead"  # gave up (too many attempts, or a permanent refusal); operators see it


outbox_status_enum = Enum(
    OutboxStatus, name="notification_status", values_callable=lambda e: [m.value for m in e])


class OutboxMessage(Base):
    """One message for one recipient on one channel, rendered when it was queued."""

    __tablename__ = "notification_outbox"
    __table_args__ = (Index("ix_notification_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # Not an enum: plugins add channels (the `notification_channels` hook).
    channel: Mapped[str] = mapped_column(String(32))
    # SET NULL: the message and its record outlive the account.
    recipient_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), index=True)
    address: Mapped[str | None] = mapped_column(String(254))  # phone or e-mail at queue time
    template: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)  # exactly what is sent (SMS: signature included)
    link: Mapped[str | None] = mapped_column(String(300))  # a path on this site (inbox)
    status: Mapped[OutboxStatus] = mapped_column(outbox_status_enum, default=OutboxStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)  # delivery attempts started
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    lease_until: Mapped[datetime | None]  # while `sending`: the claim expires then
    dedupe_key: Mapped[str] = mapped_column(String(255), unique=True)

    def __repr__(self) -> str:
        return f"<OutboxMessage {self.id} {self.channel} {self.status.value}>"


class InboxMessage(Base):
    """A message in a user's in-app inbox, written by the `inbox` channel."""

    __tablename__ = "notification_inbox"
    __table_args__ = (Index("ix_notification_inbox_user_id_read_at", "user_id", "read_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    link: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None]
    # Unique: the outbox row delivered here at most once, even if two workers raced.
    outbox_id: Mapped[int | None] = mapped_column(
        ForeignKey("notification_outbox.id", ondelete="SET NULL"), unique=True)

    @property
    def is_read(self) -> bool:
        return self.read_at is not None
