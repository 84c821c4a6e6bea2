"""Rating completed orders and following up bad reviews (Annex 2 item 10, R-OPS-04, R-G-04,
R-G-08, R-ONB-06; SECURITY.md 9).

* The enterprise user a COMPLETED order was for rates it once, 1-5 stars, with a comment (required
  for a bad review); the operator who placed the order for it may enter the rating for it (R-G-08,
  `entered_by_id`). The institution's own staff never rate it.
* 1-2 stars (`BAD_REVIEW_MAX_STARS`) is a bad review: it opens a `FollowUp` in the same
  transaction and tells the institution's admin and agents (inbox + SMS).
* The institution's admin or an agent says what it did (OPEN → RESPONDED; it may update its
  answer while RESPONDED); the enterprise is told. The enterprise (or its operator) then closes
  the follow-up SATISFIED or UNSATISFIED; a closed follow-up never changes again. UNSATISFIED is
  what assessment item 10 deducts (`core.reviews.queries.unsatisfied_follow_ups`).
* A follow-up still OPEN `FOLLOW_UP_REMINDER_WORKING_DAYS` working days after it opened reminds
  the institution once (`send_reminders`, the `follow_up_reminders` job).
* OPEN and RESPONDED follow-ups are open matters blocking the institution's exit (R-ONB-06).
* Reviews are public on the institution's page, the reviewer shown only as its enterprise's
  name, masked. A follow-up is seen by the enterprise user, the institution's staff and
  operators; every refusal is audited.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, NoReturn

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from core.audit import record_audit
from core.clock import local_today
from core.db import db, utcnow
from core.enterprises.service import names_by_user
from core.errors import DomainError, ErrorCode, InvalidInput, NotFound, PermissionDenied, Problem
from core.identity.models import Role, User
from core.ids import get_by_id
from core.institutions.access import staff_role
from core.institutions.models import Institution, InstitutionStaff
from core.masking import mask_organisation
from core.onboarding.eligibility import OpenMatter
from core.orders.models import Order, OrderStatus
from core.orders.service import Side, sides_of
from core.reviews.models import BAD_REVIEW_MAX_STARS, FollowUp, FollowUpStatus, Review
from core.workcalendar.service import WorkCalendar, local_date

F = FollowUpStatus
COMMENT_MAX = 1000
RESPONSE_MAX = 2000
PAGE_MAX = 100
UNRESOLVED = frozenset({F.OPEN, F.RESPONDED})  # open matters (R-ONB-06)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # kept: \t \n \r


# ---------------------------------------------------------------- who may do what


def _denied(action: str, object_type: str, object_id: int | None, actor: User | None) -> NoReturn:
    """Audit a refusal (SECURITY.md 9) and raise."""
    db.session.rollback()
    record_audit(action, object_type=object_type, object_id=object_id, result="denied", actor=actor)
    db.session.commit()
    raise PermissionDenied(_("You may not see or change this review."))


def _active(user: User | None) -> bool:
    return user is not None and user.is_active


def is_operator(user: User | None) -> bool:
    return _active(user) and user is not None and user.has_role(Role.OPERATOR)


def may_review(user: User | None, order: Order) -> bool:
    """The enterprise side of the order (its user, or the operator who placed it for it), never
    the institution's own staff."""
    return (Side.ENTERPRISE in sides_of(user, order)
            and staff_role(user, order.institution_id) is None)


def can_view_follow_up(user: User | None, follow_up: FollowUp) -> bool:
    """The enterprise user it is for, the institution's staff and operators."""
    if not _active(user):
        return False
    assert user is not None
    return (is_operator(user) or follow_up.review.enterprise_user_id == user.id
            or staff_role(user, follow_up.institution_id) is not None)


def may_respond(user: User | None, follow_up: FollowUp) -> bool:
    return _active(user) and staff_role(user, follow_up.institution_id) is not None


def may_judge(user: User | None, follow_up: FollowUp) -> bool:
    """The enterprise side of the order — or any operator recording the verdict the client gave
    by phone or at a window (R-G-08, R-OPS-04), so a client who never logs in again does not keep
    the follow-up, and the institution's exit, open for ever."""
    order = db.session.get(Order, follow_up.review.order_id)
    return order is not None and (may_review(user, order) or (
        is_operator(user) and staff_role(user, follow_up.institution_id) is None))


def records_for_client(user: User | None, follow_up: FollowUp) -> bool:
    """Whether `user` judges as an operator recording the client's verdict, not as the client."""
    order = db.session.get(Order, follow_up.review.order_id)
    return order is not None and not may_review(user, order) and may_judge(user, follow_up)


def get_follow_up(follow_up_id: int | str, viewer: User | None) -> FollowUp:
    """The follow-up if `viewer` may see it; NotFound, or PermissionDenied (audited)."""
    follow_up = get_by_id(FollowUp, follow_up_id)
    if follow_up is None:
        raise NotFound(_("No such follow-up."), field="followUpId")
    if not can_view_follow_up(viewer, follow_up):
        _denied("follow_up.read", "follow_up", follow_up.id, viewer)
    return follow_up


def review_of(order_id: int) -> Review | None:
    return db.session.scalar(select(Review).where(Review.order_id == order_id))


# ---------------------------------------------------------------- input


def _text(value: Any, name: str, limit: int, *, required: str | None = None) -> tuple[str | None,
                                                                                    list[Problem]]:
    """The cleaned text (None if empty) and what is wrong with it; `required` is the message
    when it must be given."""
    text = _CONTROL.sub("", str(value or "")).strip()
    if not text:
        return None, ([Problem(ErrorCode.REQUIRED, required, name)] if required else [])
    if len(text) > limit:
        return None, [Problem(ErrorCode.INVALID_INPUT, _("At most %(n)d characters.", n=limit), name)]
    return text, []


def _stars(value: Any) -> list[Problem]:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
        return [Problem(ErrorCode.INVALID_INPUT, _("Choose from 1 to 5 stars."), "stars")]
    return []


def _illegal(message: str, field: str = "followUpId") -> InvalidInput:
    return InvalidInput([Problem(ErrorCode.ILLEGAL_TRANSITION, message, field)])


def _duplicate() -> DomainError:
    return DomainError(_("This order has already been rated; a review cannot be changed."),
                       code=ErrorCode.DUPLICATE, field="orderId")


def _snapshot(f: FollowUp) -> dict[str, Any]:
    return {"status": str(f.status), "review_id": f.review_id, "institution_id": f.institution_id,
            "responded_by_id": f.responded_by_id, "verdict_by_id": f.verdict_by_id,
            "response_chars": len(f.response or ""), "verdict_chars": len(f.verdict_comment or "")}


# ---------------------------------------------------------------- notifications


def _institution_staff(institution_id: int) -> list[User]:
    return list(db.session.scalars(
        select(User).join(InstitutionStaff, InstitutionStaff.user_id == User.id)
        .where(InstitutionStaff.institution_id == institution_id, User.is_active.is_(True))
        .order_by(InstitutionStaff.id)))


def _context(follow_up: FollowUp, order: Order, institution: Institution) -> dict[str, Any]:
    return {"institution_name": institution.legal_name, "order_title": order.title,
            "stars": follow_up.review.stars, "comment": follow_up.review.comment or ""}


def _tell_institution(follow_up: FollowUp, template: str, key: str,
                      channels: tuple[str, ...] = ("sms", "inbox"), **extra: Any) -> int:
    from core.notifications.service import notify

    order = db.session.get(Order, follow_up.review.order_id)
    institution = db.session.get(Institution, follow_up.institution_id)
    assert order is not None and institution is not None
    context = {**_context(follow_up, order, institution), **extra}
    return sum(len(notify(user, template, context, channels=channels, dedupe_key=key,
                          link=f"/follow-ups/{follow_up.id}"))
               for user in _institution_staff(follow_up.institution_id))


# ---------------------------------------------------------------- rating an order


def review_order(order: Order, stars: Any, comment: Any, actor: User | None, *,
                 now: datetime | None = None) -> Review:
    """Rate a completed order once; a bad review opens its follow-up and tells the institution.
    Committed and audited."""
    if not may_review(actor, order):
        _denied("review.create", "order", order.id, actor)
    assert actor is not None
    if order.status is not OrderStatus.COMPLETED:
        raise _illegal(_("Only a completed order can be rated."), "orderId")
    if review_of(order.id) is not None:
        raise _duplicate()
    institution = db.session.get(Institution, order.institution_id)
    if institution is None or not institution.is_live:
        raise _illegal(_("The institution has left the platform; it can no longer be rated."),
                       "orderId")
    problems = _stars(stars)
    bad = not problems and stars <= BAD_REVIEW_MAX_STARS
    text, more = _text(comment, "comment", COMMENT_MAX, required=_(
        "Say what went wrong: a comment is required with 1 or 2 stars.") if bad else None)
    if problems + more:
        raise InvalidInput(problems + more)
    at = now or utcnow()
    review = Review(order_id=order.id, institution_id=order.institution_id,
                    enterprise_user_id=order.enterprise_user_id,
                    entered_by_id=None if actor.id == order.enterprise_user_id else actor.id,
                    stars=stars, comment=text, at=at)
    db.session.add(review)
    try:
        db.session.flush()
    except IntegrityError:  # a concurrent rating of the same order won (the unique constraint)
        db.session.rollback()
        raise _duplicate() from None
    record_audit("review.create", object_type="review", object_id=review.id,
                 after={"order_id": order.id, "institution_id": order.institution_id,
                        "stars": stars, "on_behalf": review.entered_by_id is not None,
                        "comment_chars": len(text or "")}, actor=actor)
    if bad:
        follow_up = FollowUp(review=review, institution_id=order.institution_id, status=F.OPEN,
                             opened_at=at)
        db.session.add(follow_up)
        db.session.flush()
        record_audit("follow_up.open", object_type="follow_up", object_id=follow_up.id,
                     after=_snapshot(follow_up), actor=actor)
        _tell_institution(follow_up, "follow_up_opened", f"follow_up.opened:{follow_up.id}")
    db.session.commit()
    return review


# ---------------------------------------------------------------- the follow-up


def _locked(follow_up: FollowUp) -> FollowUp:
    """Re-read the row under a lock (PostgreSQL), so that two answers or verdicts given at once
    are taken one after the other and a closed follow-up stays closed."""
    found = db.session.scalar(select(FollowUp).where(FollowUp.id == follow_up.id)
                              .with_for_update().execution_options(populate_existing=True))
    assert found is not None
    return found


def respond_to_follow_up(follow_up: FollowUp, response: Any, actor: User | None, *,
                         now: datetime | None = None) -> FollowUp:
    """The institution's admin or agent says what it did about the bad review; the enterprise is
    told. Committed and audited."""
    if not may_respond(actor, follow_up):
        _denied("follow_up.respond", "follow_up", follow_up.id, actor)
    assert actor is not None
    follow_up = _locked(follow_up)
    if follow_up.status not in UNRESOLVED:
        raise _illegal(_("This follow-up is closed; it cannot change any more."))
    text, problems = _text(response, "response", RESPONSE_MAX,
                           required=_("Say what the institution did about this review."))
    if problems:
        raise InvalidInput(problems)
    assert text is not None
    before = _snapshot(follow_up)
    follow_up.response = text
    follow_up.responded_by_id = actor.id
    follow_up.responded_at = now or utcnow()
    follow_up.status = F.RESPONDED
    record_audit("follow_up.respond", object_type="follow_up", object_id=follow_up.id,
                 before=before, after=_snapshot(follow_up), actor=actor)
    _tell_enterprise(follow_up, text)
    db.session.commit()
    return follow_up


def _tell_enterprise(follow_up: FollowUp, text: str) -> None:
    from core.notifications.service import notify

    order = db.session.get(Order, follow_up.review.order_id)
    institution = db.session.get(Institution, follow_up.institution_id)
    customer = db.session.get(User, follow_up.review.enterprise_user_id)
    assert order is not None and institution is not None
    if customer is None or not customer.is_active:
        return
    # The same answer sent twice (a retried request) is told once; a changed answer again.
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    notify(customer, "follow_up_responded",
           {**_context(follow_up, order, institution), "response": text},
           dedupe_key=f"follow_up.responded:{follow_up.id}:{digest}",
           link=f"/follow-ups/{follow_up.id}")


def judge_follow_up(follow_up: FollowUp, satisfied: bool, comment: Any, actor: User | None, *,
                    now: datetime | None = None) -> FollowUp:
    """The enterprise (or the operator acting for it) closes the follow-up, satisfied or not,
    once the institution has responded. A comment is required when not satisfied: it is the
    evidence of assessment item 10 (R-ASM-04). Committed and audited."""
    if not may_judge(actor, follow_up):
        _denied("follow_up.judge", "follow_up", follow_up.id, actor)
    assert actor is not None
    follow_up = _locked(follow_up)
    if follow_up.status is F.OPEN:
        raise _illegal(_("The institution has not responded yet; judge its response once it has."))
    if follow_up.status is not F.RESPONDED:
        raise _illegal(_("This follow-up is closed; it cannot change any more."))
    if not isinstance(satisfied, bool):
        raise InvalidInput([Problem(ErrorCode.INVALID_INPUT, _("Say whether you are satisfied."),
                                    "satisfied")])
    for_client = records_for_client(actor, follow_up)
    if for_client:
        # How the operator learnt the client's verdict is its evidence (R-ASM-04).
        required = _("Say how the client gave its verdict (phone call, visit …) and what it said.")
    else:
        required = None if satisfied else _("Say why you are not satisfied.")
    text, problems = _text(comment, "comment", COMMENT_MAX, required=required)
    if problems:
        raise InvalidInput(problems)
    before = _snapshot(follow_up)
    follow_up.status = F.SATISFIED if satisfied else F.UNSATISFIED
    follow_up.verdict_comment = text
    follow_up.verdict_by_id = actor.id
    follow_up.closed_at = now or utcnow()
    record_audit("follow_up.judge", object_type="follow_up", object_id=follow_up.id,
                 before=before, after={**_snapshot(follow_up),
                                       "recorded_for_client": for_client},
                 actor=actor)
    _tell_institution(follow_up, "follow_up_judged", f"follow_up.judged:{follow_up.id}",
                      channels=("inbox",), satisfied=satisfied, verdict=text or "")
    db.session.commit()
    return follow_up


# ---------------------------------------------------------------- lists


@dataclass(frozen=True)
class FollowUpRow:
    """A follow-up with what a list shows, read in a fixed number of statements."""

    follow_up: FollowUp
    order: Order
    institution: Institution
    enterprise_name: str
    days_open: int  # calendar days (China) from opening to closing, or to today


def enterprise_names(user_ids: set[int]) -> dict[int, str]:
    """The name of the enterprise each user acts for (its own display name when none)."""
    if not user_ids:
        return {}
    names = {uid: name for uid, name in db.session.execute(
        select(User.id, User.display_name).where(User.id.in_(user_ids)))}
    return {**names, **names_by_user(user_ids)}


def _staff_institution_ids(user: User) -> list[int]:
    return list(db.session.scalars(select(InstitutionStaff.institution_id)
                                   .where(InstitutionStaff.user_id == user.id)))


def _days_open(f: FollowUp, today: date | None = None) -> int:
    end = local_date(f.closed_at) if f.closed_at else (today or local_today())
    return max(0, (end - local_date(f.opened_at)).days)


def follow_ups_for(viewer: User | None, *, statuses: frozenset[FollowUpStatus] | None = None,
                   institution_id: int | None = None, first: int = 20,
                   offset: int = 0) -> tuple[int, list[FollowUpRow]]:
    """The follow-ups `viewer` may see, oldest first: every one for operators (R-OPS-04), its
    institution's for staff, its own reviews' for an enterprise user. Filtering on another
    institution than one's own is refused (audited)."""
    if not _active(viewer):
        _denied("follow_up.list", "institution", institution_id, viewer)
    assert viewer is not None
    if not 1 <= first <= PAGE_MAX or offset < 0:
        raise InvalidInput([Problem(ErrorCode.INVALID_INPUT, _("Ask for 1 to 100 rows from offset 0 "
                                                               "or more."), "first")])
    conditions: list[Any] = []
    if institution_id is not None:
        if not (is_operator(viewer) or staff_role(viewer, institution_id) is not None):
            _denied("follow_up.list", "institution", institution_id, viewer)
        conditions.append(FollowUp.institution_id == institution_id)
    elif not is_operator(viewer):
        conditions.append(or_(FollowUp.institution_id.in_(_staff_institution_ids(viewer)),
                              Review.enterprise_user_id == viewer.id))
    if statuses:
        conditions.append(FollowUp.status.in_(statuses))
    base = select(FollowUp).join(Review, Review.id == FollowUp.review_id).where(*conditions)
    total = db.session.scalar(select(func.count()).select_from(base.subquery())) or 0
    rows = list(db.session.scalars(base.options(selectinload(FollowUp.review))
                                   .order_by(FollowUp.opened_at, FollowUp.id)
                                   .limit(first).offset(offset)))
    return total, rows_for(rows)


def rows_for(follow_ups: list[FollowUp]) -> list[FollowUpRow]:
    """Orders, institutions and enterprise names of `follow_ups` (reviews loaded), in three
    statements whatever their number."""
    if not follow_ups:
        return []
    orders = {o.id: o for o in db.session.scalars(
        select(Order).where(Order.id.in_({f.review.order_id for f in follow_ups})))}
    institutions = {i.id: i for i in db.session.scalars(
        select(Institution).where(Institution.id.in_({f.institution_id for f in follow_ups})))}
    names = enterprise_names({f.review.enterprise_user_id for f in follow_ups})
    return [FollowUpRow(f, orders[f.review.order_id], institutions[f.institution_id],
                        names.get(f.review.enterprise_user_id, ""), _days_open(f))
            for f in follow_ups]


# ---------------------------------------------------------------- public reviews


@dataclass(frozen=True)
class PublicReview:
    stars: int
    comment: str | None
    at: datetime
    reviewer: str  # the enterprise's name, masked


def public_institution(institution_id: int) -> Institution:
    """The institution if the public may see it (live and not hidden), else NotFound."""
    institution = get_by_id(Institution, institution_id)
    if institution is None or not institution.is_public:
        raise NotFound(_("No such institution."), field="institutionId")
    return institution


def public_reviews(institution_id: int, *, first: int = 20,
                   offset: int = 0) -> tuple[int, list[PublicReview]]:
    """An institution's reviews, newest first, as anyone may read them."""
    public_institution(institution_id)
    if not 1 <= first <= PAGE_MAX or offset < 0:
        raise InvalidInput([Problem(ErrorCode.INVALID_INPUT, _("Ask for 1 to 100 rows from offset 0 "
                                                               "or more."), "first")])
    total = db.session.scalar(select(func.count(Review.id)).where(
        Review.institution_id == institution_id)) or 0
    reviews = list(db.session.scalars(select(Review).where(Review.institution_id == institution_id)
                                      .order_by(Review.at.desc(), Review.id.desc())
                                      .limit(first).offset(offset)))
    # Only an enterprise's name is shown (masked); a reviewer of no enterprise is a person, whose
    # display name is not the public's to read even masked (R-G-05).
    names = names_by_user({r.enterprise_user_id for r in reviews})
    return total, [PublicReview(r.stars, r.comment, r.at,
                                mask_organisation(names[r.enterprise_user_id])
                                if r.enterprise_user_id in names else _("An enterprise"))
                   for r in reviews]


# ---------------------------------------------------------------- exit and reminders


def open_matters_of(institution: Institution) -> list[OpenMatter]:
    """Follow-ups OPEN or RESPONDED (not yet judged) block the institution's exit (R-ONB-06)."""
    rows = db.session.execute(
        select(FollowUp.id, Order.title).join(Review, Review.id == FollowUp.review_id)
        .join(Order, Order.id == Review.order_id)
        .where(FollowUp.institution_id == institution.id, FollowUp.status.in_(UNRESOLVED))
        .order_by(FollowUp.id))
    return [OpenMatter("follow_up", fid, _("Bad-review follow-up #%(id)d: %(title)s",
                                           id=fid, title=title))
            for fid, title in rows]


def send_reminders(now: datetime | None = None) -> dict[str, int]:
    """Remind the institution's admin and agents once of each follow-up still OPEN from the
    `FOLLOW_UP_REMINDER_WORKING_DAYS`-th working day after the day it opened. Idempotent: the
    dedupe key names the follow-up."""
    days = max(0, int(current_app.config["FOLLOW_UP_REMINDER_WORKING_DAYS"]))
    today = local_date(now or utcnow())
    open_ones = list(db.session.scalars(
        select(FollowUp).where(FollowUp.status == F.OPEN)
        .options(selectinload(FollowUp.review)).order_by(FollowUp.opened_at, FollowUp.id)))
    if not open_ones:
        return {}
    calendar = WorkCalendar.load(local_date(open_ones[0].opened_at), today)
    due = [f for f in open_ones
           if calendar.add_working_days(local_date(f.opened_at), days) <= today]
    queued = sum(_tell_institution(f, "follow_up_reminder", f"follow_up.reminder:{f.id}",
                                   days_open=_days_open(f, today), working_days=days) for f in due)
    db.session.commit()
    return {"due": len(due), "queued": queued} if due else {}
