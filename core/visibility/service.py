"""R-OPS-05: a live institution that, one month after going live, still has no published
service item or no online customer-service agent has its homepage and service plans hidden
until it rectifies (M Art. 17).

* **When.** The grace period is `HOMEPAGE_GRACE_MONTHS` calendar months (default 1) from the
  Asia/Shanghai date it went live: live on 31 January → due on 28 (29) February. From that day
  on the rule applies; the day before it does not (`grace_end`).
* **What is lacking.** No item with status published (publishing checks the specification), or
  no agent as onboarding and assessment count them (`core.onboarding.agents.has_agent`,
  R-ELIG-05). The reason is a stable code: `no_item`, `no_agent` or `no_item_no_agent`.
* **Who applies it.** The periodic job `apply_visibility_rules` (one query for the candidates,
  then one locked re-check per institution that changes), and `refresh(institution)` right
  after an item is published or withdrawn and after an agent joins or leaves, so rectifying
  takes effect at once. Both decide through `_decide`: it locks the institution row first and
  only then reads the items and agents in a new statement, so on PostgreSQL (READ COMMITTED)
  it sees whatever a transaction it waited for committed; the two agree and a second run
  changes nothing. Only live institutions are touched: a removed or exited one keeps its state.
* **Removal (R-OPS-06, R-ONB-07).** From the regulator's removal notice until the removal
  completes (or the notice is cancelled) the homepage is closed with reason `removal_notice`,
  whatever the items and agents; the notice itself tells the admins, so no second message.
  `issue_removal_notice` refreshes at once; the job catches anything else.
* **No go-live time.** An institution without `went_live_at` has no month to count: never
  hidden (a hidden one is restored), no profile deadline.
* **Effects.** `Institution.homepage_hidden_at` / `homepage_hidden_reason` (read by
  `Institution.is_public`); every hide, restore and change of reason is audited as the
  platform's act (`actor=SYSTEM`, also inside a request) with `trigger` (the job, or the web
  endpoint or GraphQL) and `triggered_by` (the user whose act led to it, if any), and the
  institution's admins are told on hiding and on restoring (inbox + SMS, one message per
  hiding: the dedupe key names the hiding's timestamp).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from flask import current_app, has_request_context, request
from flask_login import current_user
from sqlalchemy import exists, or_, select

from core.audit import SYSTEM, record_audit
from core.catalogue.models import ItemStatus, ServiceItem
from core.clock import china_period, local_today
from core.db import db, utcnow
from core.identity.models import User
from core.institutions.models import Institution, InstitutionStaff, InstitutionStatus, StaffRole
from core.onboarding.agents import has_agent
from core.workcalendar.service import local_date

DEFAULT_GRACE_MONTHS = 1
NO_ITEM, NO_AGENT, NO_ITEM_NO_AGENT = "no_item", "no_agent", "no_item_no_agent"
REMOVAL_NOTICE = "removal_notice"
REASONS = (NO_ITEM, NO_AGENT, NO_ITEM_NO_AGENT, REMOVAL_NOTICE)


# ---------------------------------------------------------------- calendar months


def add_months(day: date, months: int) -> date:
    """The same day `months` calendar months later, clamped to the month's end (31 Jan + 1 →
    28/29 Feb)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def grace_months() -> int:
    return max(int(current_app.config.get("HOMEPAGE_GRACE_MONTHS", DEFAULT_GRACE_MONTHS)), 0)


def grace_end(went_live_on: date) -> date:
    """The first day the rule applies to an institution that went live on `went_live_on`."""
    return add_months(went_live_on, grace_months())


def last_due_live_date(today: date) -> date:
    """The latest go-live date whose grace has ended by `today`: `grace_end(d) <= today` exactly
    when `d <= last_due_live_date(today)` (`grace_end` never decreases), so the job can select
    its candidates with one date bound in SQL."""
    months = grace_months()
    day = add_months(today, -months)
    if today.day == calendar.monthrange(today.year, today.month)[1]:
        # today is a month end: every later day of that earlier month also ends its grace today.
        day = day.replace(day=calendar.monthrange(day.year, day.month)[1])
    return day


# ---------------------------------------------------------------- the decision


def reason_for(has_item: bool, has_an_agent: bool) -> str | None:
    if has_item and has_an_agent:
        return None
    if not has_item and not has_an_agent:
        return NO_ITEM_NO_AGENT
    return NO_AGENT if has_item else NO_ITEM


def _has_item(institution_id: Any = Institution.id):  # type: ignore[no-untyped-def]
    """SQL: the institution has a published service item (R-OPS-05's "service item")."""
    return exists().where(ServiceItem.institution_id == institution_id,
                          ServiceItem.status == ItemStatus.PUBLISHED)


def _under_removal(institution_id: Any = Institution.id):  # type: ignore[no-untyped-def]
    """SQL: a removal notice of the institution is pending (neither completed nor cancelled)."""
    from core.onboarding.models import RemovalNotice

    return exists().where(RemovalNotice.institution_id == institution_id,
                          RemovalNotice.completed_at.is_(None), RemovalNotice.cancelled_at.is_(None))


def has_item_and_agent(institution_id: int) -> tuple[bool, bool, bool]:
    """Whether the institution has a published item, an agent, and a pending removal notice,
    read now in one statement."""
    item, agent, removal = db.session.execute(select(
        _has_item(institution_id), has_agent(institution_id), _under_removal(institution_id))).one()
    return bool(item), bool(agent), bool(removal)


@dataclass(frozen=True)
class Change:
    institution_id: int
    action: str  # "hide", "restore" or "reason"
    reason: str | None  # the reason now (None once restored)


def desired_reason(went_live_at: datetime | None, has_item: bool, has_an_agent: bool,
                   under_removal: bool, today: date) -> str | None:
    """The reason a live institution's homepage must be hidden today, or None when it must be
    shown: closed while a removal notice is pending (R-OPS-06); else hidden only past the grace
    period and lacking an item or an agent (R-OPS-05)."""
    if under_removal:
        return REMOVAL_NOTICE
    if went_live_at is None or grace_end(local_date(went_live_at)) > today:
        return None
    return reason_for(has_item, has_an_agent)


def _decide(institution_id: int, today: date, now: datetime, trigger: dict[str, Any]
            ) -> Change | None:
    """Re-read the institution under a row lock and bring its visibility in line with the rule;
    audit and queue the notifications in this transaction (the caller commits)."""
    institution = db.session.scalar(
        select(Institution).where(Institution.id == institution_id).with_for_update()
        .execution_options(populate_existing=True))  # the locked row, not a stale copy
    if institution is None or institution.status is not InstitutionStatus.LIVE:
        return None  # removed, exited or not live yet: never touched
    # A statement of its own, after the lock: its snapshot includes what the transaction we may
    # have waited for committed (one statement would read items and agents as of before the wait).
    wanted = desired_reason(institution.went_live_at, *has_item_and_agent(institution_id), today)
    current = institution.homepage_hidden_reason if institution.homepage_hidden_at else None
    if wanted == current:
        return None
    before = _snapshot(institution)
    hidden_at = institution.homepage_hidden_at
    if wanted is None:
        action = "restore"
        institution.homepage_hidden_at, institution.homepage_hidden_reason = None, None
    elif current is None:
        action = "hide"
        hidden_at = institution.homepage_hidden_at = now
        institution.homepage_hidden_reason = wanted
    else:
        action = "reason"  # still hidden, for another reason (e.g. an agent joined, no item yet)
        institution.homepage_hidden_reason = wanted
    # The platform applies the rule, also when a user's act (publishing, removing an agent) is
    # what made it apply: no actor, and who triggered it beside the snapshot.
    rule = "R-OPS-06" if REMOVAL_NOTICE in (wanted, current) else "R-OPS-05"
    record_audit(f"institution.homepage_{action}", object_type="institution",
                 object_id=institution.id, before=before,
                 after={**_snapshot(institution), "rule": rule, **trigger}, actor=SYSTEM)
    if action != "reason" and REMOVAL_NOTICE not in (wanted, current):
        assert hidden_at is not None
        _notify_admins(institution, action, wanted or current or "", hidden_at)
    return Change(institution.id, action, wanted)


def _snapshot(institution: Institution) -> dict[str, Any]:
    at = institution.homepage_hidden_at
    return {"homepage_hidden_at": at.isoformat() if at else None,
            "homepage_hidden_reason": institution.homepage_hidden_reason}


def _notify_admins(institution: Institution, action: str, reason: str, hidden_at: datetime) -> None:
    from core.notifications.service import notify

    template = "homepage_hidden" if action == "hide" else "homepage_restored"
    admins = db.session.scalars(
        select(User).join(InstitutionStaff, InstitutionStaff.user_id == User.id)
        .where(InstitutionStaff.institution_id == institution.id,
               InstitutionStaff.role == StaffRole.ADMIN, User.is_active.is_(True))
        .order_by(InstitutionStaff.id))
    context = {"institution_name": institution.legal_name, "reason": reason,
               "months": grace_months()}
    for admin in admins:
        notify(admin, template, context,
               dedupe_key=f"homepage.{action}:{institution.id}:{hidden_at.isoformat()}",
               link=f"/institutions/{institution.id}/application")


# ---------------------------------------------------------------- entry points


def _trigger(default: str) -> dict[str, Any]:
    """What caused a refresh: the web endpoint or GraphQL and its user, else `default`."""
    if not has_request_context():
        return {"trigger": default, "triggered_by": None}
    user_id = current_user.id if current_user.is_authenticated else None
    return {"trigger": request.endpoint or default, "triggered_by": user_id}


def apply_in_transaction(institution_id: int) -> Change | None:
    """Apply the rules to one institution within the caller's transaction (the caller commits):
    for a change that must close the homepage in the same commit, such as a removal notice."""
    return _decide(institution_id, local_today(), utcnow(), _trigger("refresh"))


def refresh(institution: Institution | int, *, today: date | None = None) -> Change | None:
    """Apply R-OPS-05 to one institution now (after an item is published or withdrawn, an agent
    joins or leaves). Commits; returns the change made, if any."""
    institution_id = institution if isinstance(institution, int) else institution.id
    try:
        change = _decide(institution_id, today or local_today(), utcnow(), _trigger("refresh"))
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return change


def apply_rules(today: date | None = None, now: datetime | None = None) -> list[Change]:
    """The periodic job's work: one query for the live institutions that may have to change
    (past their grace and lacking an item or an agent, or hidden now), then a locked re-check
    and commit per institution that does change. Idempotent."""
    today = today or local_today()
    now = now or utcnow()
    _lo, due_before = china_period(last_due_live_date(today), last_due_live_date(today))
    lacking = or_(~_has_item(), ~has_agent(Institution.id))
    candidates = db.session.execute(
        select(Institution.id, Institution.went_live_at, Institution.homepage_hidden_at,
               Institution.homepage_hidden_reason, _has_item(), has_agent(Institution.id),
               _under_removal())
        .where(Institution.status == InstitutionStatus.LIVE,
               or_(Institution.homepage_hidden_at.is_not(None), _under_removal(),
                   (Institution.went_live_at < due_before) & lacking))
        .order_by(Institution.id)).all()
    changes: list[Change] = []
    for institution_id, went_live_at, hidden_at, reason, item, agent, removal in candidates:
        wanted = desired_reason(went_live_at, bool(item), bool(agent), bool(removal), today)
        if wanted == (reason if hidden_at else None):
            continue  # already as the rule wants
        try:
            change = _decide(institution_id, today, now, _trigger("apply_visibility_rules"))
            db.session.commit()
        except BaseException:
            db.session.rollback()
            raise
        if change is not None:
            changes.append(change)
    return changes


def grace_ends_on(institution: Institution) -> date | None:
    """The day R-OPS-05 starts to apply to `institution` (None before it went live)."""
    if institution.went_live_at is None:
        return None
    return grace_end(local_date(institution.went_live_at))
