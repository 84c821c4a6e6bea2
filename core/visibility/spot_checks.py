"""R-OPS-04: the operator's spot checks of live institutions, based on back-end data, messages
and ratings; suspected illegal conduct is referred to the regulator (M Art. 15).

* **The list.** Every live institution with its signals — homepage hidden (R-OPS-05), profile
  overdue (R-OPS-01), open bad-review follow-ups, complaints filed and verified this year, bad
  reviews this year, this month's response SLA (R-OPS-03), days since the last spot check — and
  a risk score (`RISK_WEIGHTS`, the one place that weighs them). Read in a fixed number of
  statements whatever the page size: all live institutions are scored (so the list can be
  sorted by risk), then one page is returned. Scoring stays cheap with thousands of live
  institutions: counts are grouped in SQL, the deadlines read one item per institution
  (`deadline_statuses`), and the SLA signal is R-OPS-03's one verdict computed for all of them
  at once (`core.consultations.sla.monthly_tallies`).
* **The sample.** `draw_sample` draws N live institutions at random with a recorded seed: the
  audit row keeps the seed, the population and the draw, so anyone can repeat it.
* **Recording.** An operator records a result (ok / rectify / referred) with findings.
  Rectify tells the institution's admins the findings; referred tells the regulators. Audited.
* **Who sees what.** Operators do everything; regulators read the list and every history;
  an institution's staff read its own history, without the findings of a referral (the
  regulator's matter). Every refusal is audited.
"""

from __future__ import annotations

import hashlib
import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import Select, case, func, select

from core.audit import record_audit
from core.clock import china_period, local_today
from core.complaints.models import Complaint, ComplaintStatus
from core.consultations.sla import SlaTally, monthly_tallies
from core.db import db, utcnow
from core.errors import ErrorCode, InvalidInput, NotFound, PermissionDenied, Problem
from core.identity.models import Role, User, UserRole
from core.institutions.access import staff_role
from core.institutions.models import Institution, InstitutionStaff, InstitutionStatus, StaffRole
from core.reviews.models import BAD_REVIEW_MAX_STARS, FollowUp, FollowUpStatus, Review
from core.visibility.deadline import DeadlineStatus, deadline_statuses
from core.visibility.models import SpotCheck, SpotCheckResult
from core.workcalendar.service import local_date

FINDINGS_MAX = 5000
PAGE_MAX = 100
SAMPLE_MAX = 100
DEFAULT_SAMPLE_SIZE = 5
STALE_CHECK_DAYS = 180  # a check older than this counts as none for the risk score
OPEN_FOLLOW_UP = (FollowUpStatus.OPEN, FollowUpStatus.RESPONDED)

# What each signal adds to the risk score (higher: check first).
RISK_WEIGHTS = {
    "hidden": 3,  # homepage hidden under R-OPS-05
    "profile_overdue": 3,  # R-OPS-01 deadline passed, still incomplete
    "open_follow_up": 2,  # each bad-review follow-up not closed
    "complaint_verified": 3,  # each complaint verified this year
    "complaint_pending": 1,  # each complaint filed this year and not yet verified
    "bad_review": 1,  # each bad review (1-2 stars) this year
    "sla_missed": 3,  # this month's response SLA missed so far
    "not_checked": 2,  # never spot-checked, or not for STALE_CHECK_DAYS days
}


# ---------------------------------------------------------------- who may do what


def _denied(action: str, object_type: str, object_id: int | None, actor: User | None) -> None:
    """Audit a refusal (SECURITY.md 9) and raise."""
    db.session.rollback()
    record_audit(action, object_type=object_type, object_id=object_id, result="denied", actor=actor)
    db.session.commit()
    raise PermissionDenied(_("Spot checks are recorded by operators and read by operators, "
                             "regulators and the institution checked."))


def _active(user: User | None) -> bool:
    return user is not None and user.is_active


def is_operator(user: User | None) -> bool:
    return _active(user) and user.has_role(Role.OPERATOR)  # type: ignore[union-attr]


def may_read_list(user: User | None) -> bool:
    """Operators, and regulators read-only."""
    return _active(user) and user.has_role(Role.OPERATOR, Role.REGULATOR)  # type: ignore[union-attr]


def may_read_history(user: User | None, institution_id: int) -> bool:
    return may_read_list(user) or (_active(user) and staff_role(user, institution_id) is not None)


def findings_visible(user: User | None, check: SpotCheck) -> bool:
    """Platform staff read every finding; the institution, not those of a referral."""
    return may_read_list(user) or check.result is not SpotCheckResult.REFERRED


def require_list_reader(user: User | None, action: str = "spot_check.list") -> None:
    if not may_read_list(user):
        _denied(action, "spot_check", None, user)


# ---------------------------------------------------------------- the list


@dataclass(frozen=True)
class SpotCheckRow:
    institution_id: int
    name: str
    went_live_on: date | None
    hidden_reason: str | None  # R-OPS-05, None while the homepage is shown
    deadline: DeadlineStatus
    open_follow_ups: int
    complaints_filed: int  # this year, not withdrawn
    complaints_verified: int  # this year, verified
    complaints_pending: int  # this year, waiting for an operator
    bad_reviews: int  # this year, 1-2 stars
    sla: SlaTally  # this month so far
    last_checked_at: datetime | None
    days_since_check: int | None

    @property
    def profile_overdue(self) -> bool:
        return self.deadline.overdue

    @property
    def sla_missed(self) -> bool:
        return not self.sla.met

    @property
    def risk(self) -> int:
        w = RISK_WEIGHTS
        stale = self.days_since_check is None or self.days_since_check >= STALE_CHECK_DAYS
        return (w["hidden"] * (self.hidden_reason is not None)
                + w["profile_overdue"] * self.profile_overdue
                + w["open_follow_up"] * self.open_follow_ups
                + w["complaint_verified"] * self.complaints_verified
                + w["complaint_pending"] * self.complaints_pending
                + w["bad_review"] * self.bad_reviews
                + w["sla_missed"] * self.sla_missed
                + w["not_checked"] * stale)


@dataclass(frozen=True)
class SpotCheckPage:
    rows: list[SpotCheckRow]
    total: int


def _never_first(row: SpotCheckRow) -> tuple[int, float]:
    # Never checked first, then the longest since the last check.
    return (0, 0.0) if row.last_checked_at is None else (1, row.last_checked_at.timestamp())


SORTS: dict[str, tuple[Callable[[SpotCheckRow], Any], bool]] = {
    "risk": (lambda r: (-r.risk, r.name, r.institution_id), False),
    "name": (lambda r: (r.name, r.institution_id), False),
    "last_check": (lambda r: (*_never_first(r), r.institution_id), False),
    "went_live": (lambda r: (r.went_live_on or date.min, r.institution_id), True),
}


def _grouped(statement: Any) -> dict[int, Any]:
    return {row[0]: row[1:] for row in db.session.execute(statement)}


def spot_check_list(viewer: User | None, *, first: int = 20, offset: int = 0, sort: str = "risk",
                    on: date | None = None, now: datetime | None = None) -> SpotCheckPage:
    """One page of live institutions with their signals, sorted by `sort` (see `SORTS`)."""
    require_list_reader(viewer)
    problems = []
    if sort not in SORTS:
        problems.append(Problem(ErrorCode.INVALID_INPUT, _("Choose how to sort the list."), "sort"))
    if not isinstance(first, int) or not 1 <= first <= PAGE_MAX:
        problems.append(Problem(ErrorCode.INVALID_INPUT,
                                _("Ask for 1 to %(n)d institutions a page.", n=PAGE_MAX), "first"))
    if not isinstance(offset, int) or offset < 0:
        problems.append(Problem(ErrorCode.INVALID_INPUT, _("The offset cannot be negative."),
                                "offset"))
    if problems:
        raise InvalidInput(problems)
    on = on or local_today()
    now = now or utcnow()
    live = Institution.status == InstitutionStatus.LIVE
    institutions = list(db.session.scalars(select(Institution).where(live).order_by(Institution.id)))
    rows = _rows(institutions, on, now, select(Institution.id).where(live))
    key, reverse = SORTS[sort]
    rows.sort(key=key, reverse=reverse)
    return SpotCheckPage(rows[offset:offset + first], len(rows))


def _rows(institutions: list[Institution], on: date, now: datetime,
          ids: Select[tuple[int]]) -> list[SpotCheckRow]:
    """The rows of `institutions`, whose ids `ids` selects in SQL."""
    if not institutions:
        return []
    lo, hi = china_period(date(on.year, 1, 1), date(on.year, 12, 31))
    follow_ups = _grouped(select(FollowUp.institution_id, func.count()).where(
        FollowUp.institution_id.in_(ids), FollowUp.status.in_(OPEN_FOLLOW_UP))
        .group_by(FollowUp.institution_id))
    # The same filters as core.complaints.queries.verified_complaints (filed in the period,
    # verified), counted for all institutions at once.
    complaints = _grouped(select(
        Complaint.institution_id, func.count(),
        func.sum(case((Complaint.status == ComplaintStatus.VERIFIED, 1), else_=0)),
        func.sum(case((Complaint.status == ComplaintStatus.FILED, 1), else_=0)))
        .where(Complaint.institution_id.in_(ids), Complaint.status != ComplaintStatus.WITHDRAWN,
               Complaint.filed_at >= lo, Complaint.filed_at < hi)
        .group_by(Complaint.institution_id))
    bad_reviews = _grouped(select(Review.institution_id, func.count()).where(
        Review.institution_id.in_(ids), Review.stars <= BAD_REVIEW_MAX_STARS,
        Review.at >= lo, Review.at < hi).group_by(Review.institution_id))
    last_checks = _grouped(select(SpotCheck.institution_id, func.max(SpotCheck.checked_at))
                           .where(SpotCheck.institution_id.in_(ids))
                           .group_by(SpotCheck.institution_id))
    slas = monthly_tallies([i.id for i in institutions], on.year, on.month, now=now, scope=ids)
    deadlines = deadline_statuses(institutions, on, scope=ids)
    rows = []
    for institution in institutions:
        filed, verified, pending = complaints.get(institution.id, (0, 0, 0))
        last = last_checks.get(institution.id, (None,))[0]
        rows.append(SpotCheckRow(
            institution_id=institution.id, name=institution.legal_name,
            went_live_on=local_date(institution.went_live_at) if institution.went_live_at else None,
            hidden_reason=institution.homepage_hidden_reason if institution.homepage_hidden_at else None,
            deadline=deadlines[institution.id],
            open_follow_ups=int(follow_ups.get(institution.id, (0,))[0]),
            complaints_filed=int(filed or 0), complaints_verified=int(verified or 0),
            complaints_pending=int(pending or 0),
            bad_reviews=int(bad_reviews.get(institution.id, (0,))[0]),
            sla=slas[institution.id], last_checked_at=last,
            days_since_check=(on - local_date(last)).days if last is not None else None))
    return rows


# ---------------------------------------------------------------- the random sample


@dataclass(frozen=True)
class Sample:
    seed: int
    size: int
    population_size: int
    institution_ids: list[int]


def sample_size() -> int:
    return int(current_app.config.get("SPOT_CHECK_SAMPLE_SIZE", DEFAULT_SAMPLE_SIZE))


def draw(population: list[int], size: int, seed: int) -> list[int]:
    """The draw itself: the same sorted population, size and seed always give the same ids."""
    return random.Random(seed).sample(sorted(population), min(size, len(population)))


def draw_sample(actor: User | None, *, size: int | None = None, seed: int | None = None) -> Sample:
    """Draw `size` (SPOT_CHECK_SAMPLE_SIZE) live institutions at random, seeded with `seed` (a
    fresh one when not given); the audit row records the seed, the population and the draw."""
    if not is_operator(actor):
        _denied("spot_check.sample", "spot_check", None, actor)
    size = sample_size() if size is None else size
    problems = []
    if not isinstance(size, int) or not 1 <= size <= SAMPLE_MAX:
        problems.append(Problem(ErrorCode.INVALID_INPUT,
                                _("Draw 1 to %(n)d institutions.", n=SAMPLE_MAX), "size"))
    if seed is not None and (not isinstance(seed, int) or not 0 <= seed < 2**31):
        problems.append(Problem(ErrorCode.INVALID_INPUT,
                                _("The seed is a whole number from 0 to 2147483647."), "seed"))
    if problems:
        raise InvalidInput(problems)
    seed = secrets.randbelow(2**31) if seed is None else seed
    population = sorted(db.session.scalars(select(Institution.id).where(
        Institution.status == InstitutionStatus.LIVE)))
    drawn = draw(population, size, seed)
    digest = hashlib.sha256(",".join(map(str, population)).encode()).hexdigest()
    record_audit("spot_check.sample", object_type="spot_check", object_id=None,
                 after={"seed": seed, "size": size, "population_size": len(population),
                        "population_sha256": digest, "population": population,
                        "drawn": drawn}, actor=actor)
    db.session.commit()
    return Sample(seed, size, len(population), drawn)


# ---------------------------------------------------------------- recording and history


def _findings(value: Any) -> str:
    text = str(value or "").strip()
    if not text:
        raise InvalidInput([Problem(ErrorCode.REQUIRED, _("Write down what the check found."),
                                    "findings")])
    if len(text) > FINDINGS_MAX:
        raise InvalidInput([Problem(ErrorCode.INVALID_INPUT,
                                    _("At most %(n)d characters.", n=FINDINGS_MAX), "findings")])
    return text


def _result(value: Any) -> SpotCheckResult:
    try:
        return SpotCheckResult(str(value or "").strip().lower())
    except ValueError:
        raise InvalidInput([Problem(ErrorCode.INVALID_INPUT,
                                    _("Choose ok, rectify or referred."), "result")]) from None


def record_spot_check(institution: Institution, *, result: Any, findings: Any, actor: User | None,
                      now: datetime | None = None) -> SpotCheck:
    """An operator records a spot check of a live institution (R-OPS-04). Rectify tells the
    institution's admins the findings; referred tells the regulators. Committed and audited."""
    if not is_operator(actor):
        _denied("spot_check.record", "institution", institution.id, actor)
    assert actor is not None
    if institution.status is not InstitutionStatus.LIVE:
        raise NotFound(_("Only live institutions are spot-checked."), field="institutionId")
    problems: list[Problem] = []
    checked: dict[str, Any] = {}
    for name, clean, value in (("result", _result, result), ("findings", _findings, findings)):
        try:
            checked[name] = clean(value)
        except InvalidInput as exc:
            problems += exc.problems
    if problems:
        raise InvalidInput(problems)
    check = SpotCheck(institution_id=institution.id, operator_id=actor.id,
                      checked_at=now or utcnow(), result=checked["result"],
                      findings=checked["findings"])
    db.session.add(check)
    db.session.flush()
    record_audit("spot_check.record", object_type="institution", object_id=institution.id,
                 after={"spot_check_id": check.id, "result": check.result.value,
                        "findings": check.findings}, actor=actor)
    _notify(check, institution, actor)
    db.session.commit()
    return check


def _notify(check: SpotCheck, institution: Institution, operator: User) -> None:
    from core.notifications.service import notify

    context = {"institution_name": institution.legal_name, "findings": check.findings,
               "checked_at": check.checked_at, "operator_name": operator.display_name}
    link = f"/institutions/{institution.id}/spot-checks"
    if check.result is SpotCheckResult.RECTIFY:
        recipients = list(db.session.scalars(
            select(User).join(InstitutionStaff, InstitutionStaff.user_id == User.id)
            .where(InstitutionStaff.institution_id == institution.id,
                   InstitutionStaff.role == StaffRole.ADMIN, User.is_active.is_(True))
            .order_by(InstitutionStaff.id)))
        template = "spot_check_rectify"
    elif check.result is SpotCheckResult.REFERRED:
        recipients = list(db.session.scalars(
            select(User).join(UserRole, UserRole.user_id == User.id)
            .where(UserRole.role == Role.REGULATOR, User.is_active.is_(True)).order_by(User.id)))
        template = "spot_check_referred"
    else:
        return
    for user in recipients:
        notify(user, template, context, dedupe_key=f"spot_check.{check.result.value}:{check.id}",
               link=link)


def spot_checks_of(institution: Institution, viewer: User | None, *, first: int = 50,
                   offset: int = 0) -> list[SpotCheck]:
    """The institution's spot checks, newest first: operators, regulators, its own staff."""
    if not may_read_history(viewer, institution.id):
        _denied("spot_check.history", "institution", institution.id, viewer)
    first = max(1, min(int(first), PAGE_MAX))
    return list(db.session.scalars(
        select(SpotCheck).where(SpotCheck.institution_id == institution.id)
        .order_by(SpotCheck.checked_at.desc(), SpotCheck.id.desc())
        .limit(first).offset(max(0, int(offset)))))


def operator_names(checks: list[SpotCheck]) -> dict[int, str]:
    ids = {c.operator_id for c in checks}
    if not ids:
        return {}
    return dict(db.session.execute(select(User.id, User.display_name).where(User.id.in_(ids))).all())
