"""R-OPS-01: within 5 working days of going live the institution completes its profile and its
service items (M Art. 13).

* **Deadline.** `profile_deadline(went_live_on)`: the `PROFILE_DEADLINE_WORKING_DAYS`-th (5)
  working day after the Asia/Shanghai date it went live, on the statutory calendar with the
  operator's overrides (`core.workcalendar`). No column stores it: it is computed.
* **Complete.** The profile has no problem (`core.onboarding.profile.profile_problems`) and at
  least one published item is written to the specification
  (`core.catalogue.service.specification_problems`).
* **Reminders.** The daily job `profile_deadline_reminders` tells the admins of an incomplete
  institution once from working day 3 (before the deadline) and once on the deadline day; the
  dedupe keys name the institution, the deadline and the reminder, so it is idempotent.
* **Overdue.** Past the deadline and still incomplete: shown to operators on the spot-check
  list (R-OPS-04) and to the institution on its status page.

`deadline_statuses` reads a whole list of institutions (the spot-check list: every live one) in
a fixed number of statements, and cheaply: the calendar is asked about each day once, and only
each institution's first published item is checked against the specification unless that one
falls short.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, cast

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import ColumnElement, Select, func, select

from core.catalogue.models import ItemStatus, ServiceItem
from core.catalogue.service import specification_problems
from core.clock import china_period, local_today
from core.db import db
from core.errors import ErrorCode, Problem
from core.identity.models import User
from core.institutions.models import Institution, InstitutionStaff, InstitutionStatus, StaffRole
from core.onboarding.models import InstitutionCategory
from core.onboarding.profile import ACTIVE_STATUSES, profile_problems
from core.workcalendar.service import WorkCalendar, local_date

DEFAULT_WORKING_DAYS = 5
REMINDER_WORKING_DAY = 3  # the early reminder, on working day 3 (before the deadline)
# Five working days never span more than this many calendar days (Spring Festival included);
# the reminder job only looks at institutions that went live this recently.
_LOOKBACK_DAYS_PER_WORKING_DAY = 4


def working_days() -> int:
    return max(int(current_app.config.get("PROFILE_DEADLINE_WORKING_DAYS", DEFAULT_WORKING_DAYS)), 1)


def profile_deadline(went_live_on: date, calendar: WorkCalendar | None = None) -> date:
    """The last day to complete the profile and items (R-OPS-01)."""
    n = working_days()
    calendar = calendar or WorkCalendar.load(went_live_on, went_live_on + timedelta(days=n * 7 + 30))
    return calendar.add_working_days(went_live_on, n)


@dataclass(frozen=True)
class DeadlineStatus:
    institution_id: int
    on: date  # the day the status was computed for
    went_live_on: date | None
    deadline: date | None  # None: not live yet
    reminder_on: date | None  # working day 3, when before the deadline
    problems: list[Problem] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.problems

    @property
    def overdue(self) -> bool:
        return self.deadline is not None and self.on > self.deadline and not self.complete


class _RememberingCalendar(WorkCalendar):
    """Asks about each day once: the deadlines of a long list walk the same days again and again
    (the statutory package takes tens of microseconds a day)."""

    def is_working_day(self, day: date) -> bool:
        known: dict[date, bool] = self.__dict__.setdefault("_known", {})
        if day not in known:
            known[day] = super().is_working_day(day)
        return known[day]


_SPEC_COLUMNS = (ServiceItem.institution_id, ServiceItem.category_code, ServiceItem.title,
                 ServiceItem.description, ServiceItem.scope, ServiceItem.pricing_kind,
                 ServiceItem.price_yuan, ServiceItem.turnaround_days, ServiceItem.fields)


def _with_item_to_spec(among: ColumnElement[bool]) -> set[int]:
    """The institutions (`among`: a condition on ServiceItem.institution_id) with a published
    item written to the specification. Each one's first published item is checked; the others
    only where that one falls short (two statements). Plain rows with the fields
    `specification_problems` reads, not ORM objects: thousands are read for the spot-check list."""
    published = ServiceItem.status == ItemStatus.PUBLISHED
    first = (select(func.min(ServiceItem.id)).where(among, published)
             .group_by(ServiceItem.institution_id))
    found: set[int] = set()
    short: set[int] = set()
    for row in db.session.execute(select(*_SPEC_COLUMNS).where(ServiceItem.id.in_(first))):
        (short if specification_problems(cast(ServiceItem, row)) else found).add(row.institution_id)
    if short:
        for row in db.session.execute(select(*_SPEC_COLUMNS).where(
                ServiceItem.institution_id.in_(short), published, ServiceItem.id.not_in(first))):
            if row.institution_id not in found and not specification_problems(cast(ServiceItem, row)):
                found.add(row.institution_id)
    return found


def _items_problem() -> Problem:
    return Problem(ErrorCode.REQUIRED, _("Publish at least one service item written to the "
                                         "specification."), "serviceItems")


def deadline_statuses(institutions: Sequence[Institution], on: date | None = None, *,
                      scope: Select[tuple[int]] | None = None) -> dict[int, DeadlineStatus]:
    """The R-OPS-01 status of each institution, in a fixed number of statements (categories,
    published items, credit-code duplicates, the calendar) whatever the list's length. `scope`
    selects the same institutions' ids in SQL: for thousands of them it is cheaper than sending
    every id as a parameter."""
    on = on or local_today()
    if not institutions:
        return {}
    ids: Any = scope if scope is not None else [i.id for i in institutions]
    categories: dict[int, list[str]] = defaultdict(list)
    for institution_id, code in db.session.execute(
            select(InstitutionCategory.institution_id, InstitutionCategory.category_code)
            .where(InstitutionCategory.institution_id.in_(ids)).order_by(InstitutionCategory.id)):
        categories[institution_id].append(code)
    to_spec = _with_item_to_spec(ServiceItem.institution_id.in_(ids))
    # Credit codes held by more than one active institution: a handful on the whole platform.
    taken = set(db.session.scalars(
        select(Institution.uscc).where(Institution.uscc.is_not(None),
                                       Institution.status.in_(ACTIVE_STATUSES))
        .group_by(Institution.uscc).having(func.count() > 1)))
    live_days = {i.id: local_date(i.went_live_at) for i in institutions
                 if i.went_live_at is not None and i.status is InstitutionStatus.LIVE}
    n = working_days()
    days: dict[date, tuple[date, date | None]] = {}  # go-live day → (deadline, reminder day)
    if live_days:
        calendar = _RememberingCalendar.load(min(live_days.values()),
                                             max(live_days.values()) + timedelta(days=n * 7 + 30))
        for went_live_on in set(live_days.values()):
            days[went_live_on] = (calendar.add_working_days(went_live_on, n),
                                  calendar.add_working_days(went_live_on, REMINDER_WORKING_DAY)
                                  if n > REMINDER_WORKING_DAY else None)
    result: dict[int, DeadlineStatus] = {}
    for institution in institutions:
        problems = profile_problems(
            institution, categories=categories.get(institution.id, []),
            # another active institution has the code (this one counts itself when active)
            uscc_taken=institution.uscc in taken if institution.status in ACTIVE_STATUSES else None)
        if institution.id not in to_spec:
            problems.append(_items_problem())
        went_live_on = live_days.get(institution.id)
        deadline, reminder = days[went_live_on] if went_live_on is not None else (None, None)
        result[institution.id] = DeadlineStatus(institution.id, on, went_live_on, deadline,
                                                reminder, problems)
    return result


def profile_deadline_status(institution: Institution, on: date | None = None) -> DeadlineStatus:
    """The institution's R-OPS-01 deadline, whether it is complete and what is missing."""
    return deadline_statuses([institution], on)[institution.id]


def send_reminders(on: date | None = None) -> dict[str, list[int]]:
    """The daily job's work: remind the admins of each incomplete recently live institution on
    working day 3 and on the deadline day (once each); report the institutions overdue today."""
    from core.notifications.service import notify

    on = on or local_today()
    lookback = on - timedelta(days=working_days() * _LOOKBACK_DAYS_PER_WORKING_DAY + 15)
    recent = list(db.session.scalars(select(Institution).where(
        Institution.status == InstitutionStatus.LIVE,
        Institution.went_live_at >= china_period(lookback, lookback)[0]).order_by(Institution.id)))
    statuses = deadline_statuses(recent, on)
    due: list[tuple[Institution, DeadlineStatus, str]] = []
    overdue: list[int] = []
    for institution in recent:
        status = statuses[institution.id]
        if status.complete or status.deadline is None:
            continue
        if status.overdue:
            overdue.append(institution.id)
        elif on == status.deadline:
            due.append((institution, status, "deadline"))
        elif status.reminder_on is not None and status.reminder_on <= on < status.deadline:
            due.append((institution, status, f"day{REMINDER_WORKING_DAY}"))
    admins: dict[int, list[User]] = defaultdict(list)
    if due:
        for institution_id, user in db.session.execute(
                select(InstitutionStaff.institution_id, User)
                .join(User, User.id == InstitutionStaff.user_id)
                .where(InstitutionStaff.institution_id.in_([i.id for i, _s, _k in due]),
                       InstitutionStaff.role == StaffRole.ADMIN, User.is_active.is_(True))
                .order_by(InstitutionStaff.id)):
            admins[institution_id].append(user)
    reminded: list[int] = []
    for institution, status, kind in due:
        assert status.deadline is not None
        context = {"institution_name": institution.legal_name, "deadline": status.deadline,
                   "final": kind == "deadline",
                   "missing": "；".join(str(p.message) for p in status.problems)}
        queued = 0
        for admin in admins[institution.id]:
            queued += len(notify(
                admin, "profile_deadline_reminder", context,
                dedupe_key=f"profile.deadline:{institution.id}:{status.deadline.isoformat()}:{kind}",
                link=f"/institutions/{institution.id}/application"))
        if queued:
            reminded.append(institution.id)
    db.session.commit()
    return {"reminded": reminded, "overdue": overdue}
