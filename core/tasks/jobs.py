"""The periodic jobs: plain functions, run inside an application context by a Celery worker, the
in-process scheduler or `qi jobs run`. Each is idempotent: running it twice (a redelivered task,
beat and a manual run the same day) changes nothing the second time. Each returns a small
JSON-able summary for the logs.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import Any

from flask import current_app

from core.clock import local_today
from core.db import db, utcnow

log = logging.getLogger("core.tasks")


def deliver_outbox_due() -> dict[str, int]:
    """Send the due outbox rows (retries whose back-off ended, rows whose worker died mid-send).
    Idempotent by the outbox lease: a sent row is never due again."""
    from core.notifications.service import deliver_due

    report = deliver_due()
    return {"sent": report.sent, "retrying": report.retrying, "dead": report.dead,
            "lost": report.lost} if report.claimed else {}


def assess_ended_cycles(on: date | None = None) -> dict[str, int]:
    """The yearly assessment (R-ASM-01/02): a draft sheet for every live institution whose latest
    cycle ended (within the year before `on`) and has no sheet yet. Idempotent: an existing sheet,
    draft or final, is left alone."""
    from core.assessment import service

    summary = service.assess_due(*service.on_bounds(on or local_today()), only_missing=True)
    return {"computed": summary.computed, "existing": summary.skipped_existing,
            "failed": summary.failed}


def certificate_expiry_reminders(on: date | None = None) -> dict[str, int]:
    """Queue a reminder to each admin of each institution whose certificate is expiring or expired
    (`QI_CERT_EXPIRING_DAYS`), then hand the day's list to notification plugins through the
    `certificates_expiring` hook.

    Idempotent: a message's dedupe key names the document, its end date and whether it is
    expiring or expired (`notify` scopes it by recipient and channel), so an admin hears once
    that a certificate is about to end and once that it has ended; a second run queues nothing.
    The hook is called once per day (`claim_once`, in Redis when a broker is configured); it is
    released again if a plugin raises, so a retry tells the plugins again.
    """
    from core.documents.kinds import get_kind
    from core.documents.service import expiry_reminders, send_expiry_reminders
    from core.identity.models import User
    from core.institutions.models import Institution
    from core.notifications.service import notify
    from core.tasks.once import claim_once, release

    on = on or local_today()
    reminders = expiry_reminders(on)
    queued = 0
    for reminder in reminders:
        institution = db.session.get(Institution, reminder.institution_id)
        if institution is None or reminder.valid_to is None:
            continue
        kind = get_kind(reminder.kind)
        certificate = str(kind.name) if kind else reminder.kind
        if reminder.certificate_number:
            certificate += f"（{reminder.certificate_number}）"
        context = {"institution_name": institution.legal_name, "certificate": certificate,
                   "valid_to": reminder.valid_to, "expired": reminder.status.value == "expired"}
        for admin_id in reminder.admin_user_ids:
            admin = db.session.get(User, admin_id)
            if admin is None or not admin.is_active:
                continue
            queued += len(notify(
                admin, "certificate_expiring", context,
                dedupe_key=(f"cert-expiry:{reminder.document_id}:{reminder.valid_to.isoformat()}:"
                            f"{reminder.status.value}:{admin_id}"),
                link=f"/institutions/{reminder.institution_id}/documents"))
    db.session.commit()  # the messages; delivery follows the commit

    hooked = 0
    key = f"certificates_expiring:{on.isoformat()}"
    if reminders and claim_once(key, timedelta(days=3)):
        try:
            hooked = len(send_expiry_reminders(on))
        except Exception:
            release(key)
            raise
    return {"reminders": len(reminders), "queued": queued, "hook": hooked} if reminders else {}


def sweep_orphan_objects() -> dict[str, int]:
    """Delete stored objects that no document or open upload refers to, once older than
    `STORAGE_SWEEP_GRACE_HOURS`. Idempotent: what is deleted is not found again."""
    from core.documents.service import sweep_orphans

    hours = int(current_app.config["STORAGE_SWEEP_GRACE_HOURS"])
    removed = sweep_orphans(older_than=timedelta(hours=hours))
    return {"removed": len(removed)} if removed else {}


def lapse_overdue_applications() -> dict[str, Any]:
    """R-ONB-04: applications whose materials deadline passed before today lapse. Idempotent: a
    lapsed application is no longer waiting for materials."""
    from core.onboarding.workflow import lapse_overdue

    lapsed = lapse_overdue(local_today())
    return {"lapsed": lapsed} if lapsed else {}


def complete_due_removals() -> dict[str, Any]:
    """Institutions whose removal notice's legacy period ended leave the directory. Idempotent:
    a notice is completed once."""
    from core.onboarding.exit import complete_due_removals as complete

    removed = complete(local_today())
    return {"removed": removed} if removed else {}


def complete_clear_exits() -> dict[str, Any]:
    """Pending exits whose open matters are all closed now complete (R-ONB-06). Idempotent: a
    completed exit is no longer pending."""
    from core.onboarding.exit import complete_clear_exits as complete

    exited = complete()
    return {"exited": exited} if exited else {}


def consultation_reminders() -> dict[str, Any]:
    """Remind agents of consultations close to breaching the response SLA (R-OPS-03).
    Idempotent: each reminder has a dedupe key per consultation and rule."""
    from core.consultations.service import send_reminders

    return send_reminders(utcnow())


def close_expired_demands() -> dict[str, Any]:
    """Close the open demands whose deadline (China's date) has passed, each with a timeline
    event and an audit row. Idempotent: a closed demand is not open any more."""
    from core.demands.service import close_expired_demands as close_expired

    closed = close_expired(local_today())
    return {"closed": closed} if closed else {}


def apply_visibility_rules() -> dict[str, Any]:
    """R-OPS-05: hide the homepage of live institutions still without a published item or an
    agent a month after going live; restore those that rectified. Idempotent: a second run finds
    every institution as the rule wants it; messages have one dedupe key per hiding."""
    from core.visibility.service import apply_rules

    changes = apply_rules()
    return ({"hidden": [c.institution_id for c in changes if c.action == "hide"],
             "restored": [c.institution_id for c in changes if c.action == "restore"],
             "reason_changed": [c.institution_id for c in changes if c.action == "reason"]}
            if changes else {})


def profile_deadline_reminders() -> dict[str, Any]:
    """R-OPS-01: remind admins on working day 3 and on the deadline day while the profile or
    the items are incomplete; report the institutions overdue. Idempotent: one dedupe key per
    institution, deadline and reminder."""
    from core.visibility.deadline import send_reminders

    report = send_reminders(local_today())
    return report if report["reminded"] or report["overdue"] else {}


def follow_up_reminders() -> dict[str, Any]:
    """Remind institutions once of bad-review follow-ups still without a response after
    `FOLLOW_UP_REMINDER_WORKING_DAYS` working days (R-OPS-04). Idempotent: one dedupe key per
    follow-up."""
    from core.reviews.service import send_reminders

    return send_reminders(utcnow())
