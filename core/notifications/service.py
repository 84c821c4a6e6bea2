"""Notifications: queued with the state change, delivered after it commits.

How a message travels (SECURITY.md 16):

1. `notify()` renders the Chinese text and inserts one outbox row per channel into the caller's
   transaction, without committing. The state change and its messages commit together; if the
   caller rolls back, no message exists. The row's unique `dedupe_key` (the caller's key scoped by
   recipient and channel, inserted with ON CONFLICT DO NOTHING) means a retried state change or a
   redelivered task queues nothing new.
2. When that transaction commits, `deliver_after_commit` hands the new rows' ids to
   `schedule_delivery(ids)`, the seam between queueing and sending: inline without a broker (the mode
   of `make run`, config `NOTIFY_INLINE_DELIVERY`), a Celery task with one. A failure there never
   breaks the request: it is logged and the rows stay pending.
3. `deliver_due()` (`qi notifications deliver`, a cron job or a worker) claims due rows one at a
   time: `UPDATE … WHERE id = (SELECT … FOR UPDATE SKIP LOCKED LIMIT 1)` sets `sending` with a
   lease and commits, so two workers never take the same row. The row is sent through its channel
   and marked `sent` in a commit fenced on that lease. A `DeliveryError` puts it back to `pending`
   with exponential back-off (30 s, 1 min, 2 min … capped at 1 h); after `NOTIFY_MAX_ATTEMPTS` or a
   permanent refusal it is `dead`, logged as an error and listed by `qi notifications list
   --status dead`; nothing is ever dropped silently. A row whose lease expired while `sending` (a
   worker died) is claimed again.

The guarantee, honestly: exactly once in the outbox (one row per message, never re-queued; the
inbox row commits with the `sent` mark, so the inbox receives it exactly once); at least once
towards an external provider: a worker that dies after the provider accepted a message but before
`sent` was committed leaves it to be sent again after the lease. The SMTP `Message-ID` and the SMS
request id come from `delivery_id(message)` (outbox id + a digest of the dedupe key), the same on
every attempt, so a provider can deduplicate.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from flask import Flask, current_app, has_app_context
from sqlalchemy import and_, event, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.audit import record_audit, sanitize_text
from core.db import db, utcnow
from core.identity.models import User
from core.notifications.channels import (
    DeliveryError,
    NotificationChannel,
    PermanentDeliveryError,
    collect_channels,
    mask_phone,
)
from core.notifications.models import InboxMessage, OutboxMessage, OutboxStatus
from core.notifications.rendering import email_footer, render
from core.plugins import plugins

log = logging.getLogger("core.notifications")

DEFAULT_CHANNELS = ("sms", "inbox")
MAX_DEDUPE_KEY = 200  # the caller's part; the stored key adds recipient and channel
_QUEUED = "qi.notifications.queued"
_LISTENING = "qi.notifications.listening"


@dataclass
class DeliveryReport:
    """What one delivery run did."""

    sent: int = 0
    retrying: int = 0  # failed, back to pending with a later next_attempt_at
    dead: int = 0  # gave up: too many attempts or a permanent refusal
    lost: int = 0  # lease taken over by another worker meanwhile (nothing overwritten)

    @property
    def claimed(self) -> int:
        return self.sent + self.retrying + self.dead + self.lost

    def __str__(self) -> str:
        return (f"{self.sent} sent, {self.retrying} to retry, {self.dead} dead, "
                f"{self.lost} lost to another worker")


def available_channels() -> dict[str, NotificationChannel]:
    """Every channel by code: core's `sms`, `email`, `inbox` plus what plugins add."""
    return collect_channels(plugins.pm, current_app.config)


def backoff(attempts: int, config: Mapping[str, Any] | None = None) -> timedelta:
    """The wait after the `attempts`-th failed attempt: base × 2^(attempts-1), capped."""
    config = current_app.config if config is None else config
    base = int(config.get("NOTIFY_BACKOFF_BASE_SECONDS", 30))
    cap = int(config.get("NOTIFY_BACKOFF_MAX_SECONDS", 3600))
    exponent = min(max(attempts, 1) - 1, 30)  # 2**30 s is far past any cap
    return timedelta(seconds=min(base * 2**exponent, cap))


# ---------------------------------------------------------------- queueing


def _check_link(link: str | None) -> None:
    # A path on this site only: the inbox renders it as a link, so never an open redirect.
    if link is not None and (not link.startswith("/") or link.startswith(("//", "/\\"))
                             or len(link) > 300 or any(c.isspace() for c in link)):
        raise ValueError(f"notification link must be a path on this site, got {link!r}")


def _insert_once(session: Session, values: dict[str, Any]) -> OutboxMessage | None:
    """Insert the row unless its dedupe_key exists (committed, or queued earlier in this very
    transaction); PostgreSQL waits for a concurrent transaction holding the same key."""
    dialect = session.get_bind().dialect.name
    if dialect in ("postgresql", "sqlite"):
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        stmt = (insert(OutboxMessage).values(**values)
                .on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(OutboxMessage))
        return session.scalars(stmt).first()
    exists = session.scalar(select(OutboxMessage.id).where(
        OutboxMessage.dedupe_key == values["dedupe_key"]))
    if exists is not None:
        return None
    message = OutboxMessage(**values)
    session.add(message)
    session.flush()
    return message


def notify(
    user: User,
    template: str,
    context: Mapping[str, Any],
    *,
    channels: Sequence[str] = DEFAULT_CHANNELS,
    dedupe_key: str,
    link: str | None = None,
    session: Session | None = None,
) -> list[OutboxMessage]:
    """Queue `template` for `user` on each channel, in the caller's transaction (not committed).

    `dedupe_key` names the event ("onboarding.approved:application:12"); it is scoped by
    recipient and channel, and a message whose key exists already is not queued again. Returns
    the rows queued now: none when all existed. A channel the user has no address for (no phone
    for `sms`) gets a `dead` row, so operators see it; `email` without SMTP_HOST is skipped with
    a warning. Raises `ValueError` (incl. `TemplateError`) for an unknown channel or template or a
    missing template variable: a bug, and the caller's transaction should roll back.
    """
    session = session or db.session
    if not dedupe_key or len(dedupe_key) > MAX_DEDUPE_KEY:
        raise ValueError(f"dedupe_key must be 1-{MAX_DEDUPE_KEY} characters")
    _check_link(link)
    available = available_channels()
    unknown = [code for code in channels if code not in available]
    if unknown:
        raise ValueError(f"unknown notification channel(s) {unknown}; known: {sorted(available)}")
    config = current_app.config
    rendered = render(template, context, platform_name=config["QI_PLATFORM_NAME"])
    if user.id is None:
        session.flush()
    now = utcnow()
    queued: list[OutboxMessage] = []
    for code in dict.fromkeys(channels):
        channel = available[code]
        if not getattr(channel, "configured", True):
            log.warning("channel %s is not configured: %s for user %s not queued on it",
                        code, template, user.id)
            continue
        address_for: Callable[[User], str | None] | None = getattr(channel, "address_for", None)
        address = address_for(user) if address_for else None
        if code == "sms":
            body = f"【{config.get('SMS_SIGNATURE') or '佛山企质通'}】{rendered.sms}"
        elif code == "email":
            body = rendered.body + "\n" + email_footer(platform_name=config["QI_PLATFORM_NAME"])
        else:
            body = rendered.body
        values: dict[str, Any] = {
            "channel": code, "recipient_user_id": user.id, "address": address,
            "template": template, "subject": rendered.subject[:200], "body": body, "link": link,
            "status": OutboxStatus.PENDING, "attempts": 0, "next_attempt_at": now,
            "created_at": now, "dedupe_key": f"{dedupe_key}|u{user.id}|{code}",
        }
        if address_for and not address:
            values.update(status=OutboxStatus.DEAD, last_error=f"user has no address for {code}")
        elif address and len(address) > 254:
            values.update(address=None, status=OutboxStatus.DEAD,
                          last_error=f"{code} address longer than 254 characters")
        message = _insert_once(session, values)
        if message is None:
            continue  # queued before: never twice
        if message.status is OutboxStatus.DEAD:
            log.warning("notification %s (%s, %s) for user %s is dead: %s",
                        message.id, template, code, user.id, message.last_error)
        else:
            session.info.setdefault(_QUEUED, []).append(message.id)
        queued.append(message)
    if session.info.get(_QUEUED):
        deliver_after_commit(session)
    return queued


# ---------------------------------------------------------------- after commit


def deliver_after_commit(session: Session) -> None:
    """Make `session` hand the messages it queued to `schedule_delivery` once the transaction
    that queued them commits (nothing happens for a rollback). Idempotent per session."""
    if session.info.get(_LISTENING):
        return
    session.info[_LISTENING] = True
    app = current_app._get_current_object()  # type: ignore[attr-defined]

    def after_commit(committed: Session) -> None:
        ids = committed.info.pop(_QUEUED, None)
        if ids:
            _deliver_inline(app, committed, ids)

    def after_rollback(rolled_back: Session) -> None:
        rolled_back.info.pop(_QUEUED, None)

    event.listen(session, "after_commit", after_commit)
    event.listen(session, "after_rollback", after_rollback)


def _deliver_inline(app: Flask, session: Session, ids: list[int]) -> None:
    """Runs inside the caller's commit: it must never raise into the caller's request."""
    try:
        context = contextlib.nullcontext() if has_app_context() else app.app_context()
        with context:
            schedule_delivery(ids)
    except Exception:
        log.exception("delivery after commit failed; messages %s stay pending for "
                      "`qi notifications deliver`", ids)
    # Another session changed these rows: let the caller's copies reload on next access.
    # (By identity key: touching an expired attribute here would emit SQL inside the commit.)
    wanted = set(ids)
    for key, obj in list(session.identity_map.items()):
        if key[0] is OutboxMessage and key[1][0] in wanted:
            session.expire(obj)


def schedule_delivery(ids: Collection[int]) -> None:
    """The seam between queueing and sending, called after the commit that queued `ids`.

    With a broker (`CELERY_BROKER_URL`) the ids go to a Celery worker as the task
    `qi.deliver_outbox` (carrying the request id); if publishing fails the rows stay pending and
    the periodic `deliver_outbox_due` job sends them. Without one they are delivered inline, here
    (when `NOTIFY_INLINE_DELIVERY`, the default); with inline delivery off, the in-process
    scheduler or `qi notifications deliver` sends them."""
    if current_app.config.get("CELERY_BROKER_URL"):
        from core.tasks import enqueue_delivery

        enqueue_delivery(list(ids))
    elif current_app.config.get("NOTIFY_INLINE_DELIVERY", True):
        deliver_messages(ids)


# ---------------------------------------------------------------- delivery


class _Claim(NamedTuple):
    id: int
    attempts: int
    lease_until: datetime


def deliver_due(now: datetime | None = None, limit: int = 100) -> DeliveryReport:
    """Send up to `limit` due messages (pending and due, or `sending` with an expired lease).

    `now` freezes the clock for the whole run (tests); by default each step reads the time.
    Uses its own database session: it never commits the caller's work.
    """
    return _deliver(now, limit, only=None)


def deliver_messages(ids: Collection[int], now: datetime | None = None) -> DeliveryReport:
    """Send these messages if they are due (the inline path after commit)."""
    return _deliver(now, len(ids), only=list(ids))


def _deliver(now: datetime | None, limit: int, only: list[int] | None) -> DeliveryReport:
    clock: Callable[[], datetime] = (lambda: now) if now is not None else utcnow
    report = DeliveryReport()
    if limit <= 0:
        return report
    config = current_app.config
    available = available_channels()
    attempted: set[int] = set()
    with Session(db.engine, expire_on_commit=False) as session:
        while len(attempted) < limit:
            claim = _claim_next(session, clock(), config, only, attempted)
            if claim is None:
                break
            attempted.add(claim.id)
            _deliver_claimed(session, claim, available, clock, config, report)
    return report


def _due(now: datetime) -> Any:
    return or_(
        and_(OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.next_attempt_at <= now),
        and_(OutboxMessage.status == OutboxStatus.SENDING, OutboxMessage.lease_until < now),
    )


def _claim_next(session: Session, now: datetime, config: Mapping[str, Any],
                only: list[int] | None, attempted: set[int]) -> _Claim | None:
    """Take one due row: status `sending`, a lease, attempts + 1; committed before sending."""
    pick = select(OutboxMessage.id).where(_due(now))
    if only is not None:
        pick = pick.where(OutboxMessage.id.in_(only))
    if attempted:
        pick = pick.where(OutboxMessage.id.not_in(attempted))
    pick = pick.order_by(OutboxMessage.next_attempt_at, OutboxMessage.id).limit(1)
    if session.get_bind().dialect.name == "postgresql":
        pick = pick.with_for_update(skip_locked=True)  # concurrent workers take different rows
    lease_until = now + timedelta(seconds=int(config.get("NOTIFY_LEASE_SECONDS", 300)))
    stmt = (
        update(OutboxMessage)
        .where(OutboxMessage.id == pick.scalar_subquery(), _due(now))
        .values(status=OutboxStatus.SENDING, lease_until=lease_until,
                attempts=OutboxMessage.attempts + 1)
        .returning(OutboxMessage.id, OutboxMessage.attempts)
        .execution_options(synchronize_session=False)
    )
    row = session.execute(stmt).first()
    session.commit()
    return None if row is None else _Claim(row.id, row.attempts, lease_until)


def _fenced(claim: _Claim) -> Any:
    """Only the worker holding this lease may finish the row."""
    return update(OutboxMessage).where(
        OutboxMessage.id == claim.id, OutboxMessage.status == OutboxStatus.SENDING,
        OutboxMessage.lease_until == claim.lease_until,
    ).execution_options(synchronize_session=False)


def _deliver_claimed(session: Session, claim: _Claim, available: Mapping[str, NotificationChannel],
                     clock: Callable[[], datetime], config: Mapping[str, Any],
                     report: DeliveryReport) -> None:
    max_attempts = int(config.get("NOTIFY_MAX_ATTEMPTS", 20))
    if claim.attempts > max_attempts:  # only a reclaimed row gets here: its worker kept dying
        _finish_failed(session, claim, f"lease expired on attempt {claim.attempts - 1}; "
                       "the worker stopped while sending", True, clock, config, report)
        return
    message = session.get(OutboxMessage, claim.id, populate_existing=True)
    if message is None:
        return
    session.commit()  # hold no transaction open while talking to the provider
    channel = available.get(message.channel)
    try:
        if channel is None:
            raise DeliveryError(f"no notification channel {message.channel!r} is registered")
        channel.send(message)
    except DeliveryError as exc:
        session.rollback()
        _finish_failed(session, claim, str(exc) or type(exc).__name__,
                       isinstance(exc, PermanentDeliveryError), clock, config, report)
        return
    except Exception as exc:  # a bug in a channel: retried like an outage, with its traceback
        session.rollback()
        log.exception("channel %s raised on notification %s", message.channel, claim.id)
        _finish_failed(session, claim, f"{type(exc).__name__}: {exc}", False, clock, config, report)
        return
    try:
        done = session.execute(_fenced(claim).values(
            status=OutboxStatus.SENT, sent_at=clock(), lease_until=None, last_error=None))
        if done.rowcount != 1:
            raise _LeaseLost
        session.commit()  # with whatever the channel wrote (the inbox row)
    except (_LeaseLost, IntegrityError):
        session.rollback()
        report.lost += 1
        log.warning("notification %s: lease lost while sending; another worker owns it "
                    "(the provider may see it twice, with the same delivery id)", claim.id)
        return
    report.sent += 1


class _LeaseLost(Exception):
    pass


def _finish_failed(session: Session, claim: _Claim, error: str, permanent: bool,
                   clock: Callable[[], datetime], config: Mapping[str, Any],
                   report: DeliveryReport) -> None:
    error = sanitize_text(error, 1000)
    dead = permanent or claim.attempts >= int(config.get("NOTIFY_MAX_ATTEMPTS", 20))
    values: dict[str, Any] = {"lease_until": None, "last_error": error}
    if dead:
        values["status"] = OutboxStatus.DEAD
    else:
        values.update(status=OutboxStatus.PENDING,
                      next_attempt_at=clock() + backoff(claim.attempts, config))
    done = session.execute(_fenced(claim).values(**values))
    session.commit()
    if done.rowcount != 1:
        report.lost += 1
        return
    if dead:
        report.dead += 1
        log.error("notification %s is dead after %d attempt(s): %s (`qi notifications list "
                  "--status dead`, `qi notifications retry`)", claim.id, claim.attempts, error)
    else:
        report.retrying += 1
        log.warning("notification %s attempt %d failed, retry after %s: %s", claim.id,
                    claim.attempts, values["next_attempt_at"].isoformat(timespec="seconds"), error)


# ---------------------------------------------------------------- operators


def outbox_messages(status: OutboxStatus | None = None, limit: int = 50) -> list[OutboxMessage]:
    """The newest outbox rows, optionally of one status (the CLI's `list`)."""
    stmt = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(limit)
    if status is not None:
        stmt = stmt.where(OutboxMessage.status == status)
    return list(db.session.scalars(stmt))


def outbox_counts() -> dict[OutboxStatus, int]:
    rows = db.session.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status))
    counts = dict.fromkeys(OutboxStatus, 0)
    counts.update({status: n for status, n in rows})
    return counts


def retry_dead(ids: Iterable[int], now: datetime | None = None) -> list[int]:
    """Give dead messages a fresh set of attempts (an operator's act, audited); returns the ids
    that were dead and are pending again. Commits."""
    wanted = list(ids)
    if not wanted:
        return []
    revived = list(db.session.scalars(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(wanted), OutboxMessage.status == OutboxStatus.DEAD)
        .values(status=OutboxStatus.PENDING, attempts=0, next_attempt_at=now or utcnow())
        .returning(OutboxMessage.id)
        .execution_options(synchronize_session=False)
    ))
    for message_id in revived:
        record_audit("notification.retry", object_type="notification_outbox", object_id=message_id,
                     before={"status": "dead"}, after={"status": "pending"})
    db.session.commit()
    return sorted(revived)


def describe(message: OutboxMessage) -> str:
    """One line for operators; phone numbers masked."""
    address = mask_phone(message.address) if message.channel == "sms" else (message.address or "-")
    line = (f"#{message.id} {message.status.value} {message.channel} {message.template} "
            f"user={message.recipient_user_id} to={address} attempts={message.attempts}")
    if message.status is OutboxStatus.PENDING:
        line += f" next={message.next_attempt_at.isoformat(timespec='seconds')}"
    if message.sent_at:
        line += f" sent={message.sent_at.isoformat(timespec='seconds')}"
    if message.last_error:
        line += f" error={sanitize_text(message.last_error, 200)}"
    return line


# ---------------------------------------------------------------- inbox


def unread_inbox(user: User, limit: int = 50) -> list[InboxMessage]:
    """The user's unread inbox messages, newest first."""
    return list(db.session.scalars(
        select(InboxMessage)
        .where(InboxMessage.user_id == user.id, InboxMessage.read_at.is_(None))
        .order_by(InboxMessage.created_at.desc(), InboxMessage.id.desc())
        .limit(limit)
    ))


def unread_count(user: User) -> int:
    return db.session.scalar(select(func.count()).select_from(InboxMessage).where(
        InboxMessage.user_id == user.id, InboxMessage.read_at.is_(None))) or 0


def mark_read(user: User, message_id: int, now: datetime | None = None) -> bool:
    """Mark one of the user's own messages read; commits. False when the user has no such
    message (someone else's looks exactly like a missing one)."""
    message = db.session.get(InboxMessage, message_id)
    if message is None or message.user_id != user.id:
        return False
    if message.read_at is None:
        message.read_at = now or utcnow()
        db.session.commit()
    return True
