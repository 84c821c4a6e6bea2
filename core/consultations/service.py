"""Asking, answering and closing consultations; who may see them (R-OPS-03, R-G-03, R-G-05,
R-G-08; SECURITY.md 9-10).

* An enterprise user asks a live institution, optionally about one of its service items; an
  operator may file the question for an enterprise user (R-G-08), recorded as such
  (`filed_by_id`, `on_behalf`, and the audit row). One whose homepage is hidden takes no new
  consultation; open ones go on (`core.institutions.intake`, R-OPS-05/06, R-ONB-07).
* The institution's admin and agents reply; so does the asker (or the operator who filed for it).
  The first institution reply is measured against the response SLA and the measure stored.
* Who sees a consultation: the enterprise user it is for, the staff (admin, agents) of its
  institution and operators; nobody else. Every refusal is audited.
* The asker's phone is shown in full to the asker, operators and the institution's admin; agents
  and anyone else get `138****5678` (R-G-05, PIPL Art. 51) — the rule case reports follow too
  (`core.institutions.access.sees_client_contact`).
* A consultation not closed is an open matter that blocks the institution's exit (R-ONB-06).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from core.audit import record_audit
from core.catalogue.models import ItemStatus, ServiceItem
from core.consultations import sla
from core.consultations.models import (
    Consultation,
    ConsultationMessage,
    ConsultationStatus,
    MessageSide,
)
from core.db import db, utcnow
from core.errors import ErrorCode, InvalidInput, NotFound, PermissionDenied, Problem
from core.identity.models import Role, User
from core.identity.service import mask_identifier
from core.ids import get_by_id
from core.institutions.access import sees_client_contact, staff_role
from core.institutions.intake import require_taking_requests
from core.institutions.models import Institution, InstitutionStaff, StaffRole
from core.on_behalf import enterprise_user_by_id
from core.onboarding.eligibility import OpenMatter

SUBJECT_MAX = 200
BODY_MAX = 5000
PAGE_MAX = 100


# ---------------------------------------------------------------- who may do what


def _denied(action: str, object_type: str, object_id: int | None, actor: User | None) -> None:
    """Audit a refusal (SECURITY.md 9) and raise."""
    record_audit(action, object_type=object_type, object_id=object_id, result="denied", actor=actor)
    db.session.commit()
    raise PermissionDenied(_("You may not see or change this consultation."))


def is_operator(user: User | None) -> bool:
    return user is not None and user.is_active and user.has_role(Role.OPERATOR)


def can_view(user: User | None, consultation: Consultation) -> bool:
    """The enterprise user it is for, its institution's staff and operators."""
    if user is None or not user.is_active:
        return False
    return (consultation.enterprise_user_id == user.id or is_operator(user)
            or staff_role(user, consultation.institution_id) is not None)


def contact_entitled(user: User | None, consultation: Consultation) -> bool:
    """Who reads the asker's phone in full: the asker, platform staff, the institution's admin —
    not its agents (the one rule for clients' contacts, `sees_client_contact`)."""
    return sees_client_contact(user, consultation.institution_id, consultation.enterprise_user_id)


def asker_phone(viewer: User | None, consultation: Consultation, asker: User | None = None) -> str | None:
    """The asker's mobile number, masked (`138****5678`) for viewers not entitled to it."""
    asker = asker or db.session.get(User, consultation.enterprise_user_id)
    phone = asker.phone if asker is not None else None
    if phone is None or contact_entitled(viewer, consultation):
        return phone
    return mask_identifier(phone)


def get_consultation(consultation_id: int | str, viewer: User | None) -> Consultation:
    """The consultation if `viewer` may see it; NotFound, or PermissionDenied (audited)."""
    consultation = get_by_id(Consultation, consultation_id)
    if consultation is None:
        raise NotFound(_("No such consultation."), field="consultationId")
    if not can_view(viewer, consultation):
        _denied("consultation.read", "consultation", consultation.id, viewer)
    return consultation


# ---------------------------------------------------------------- input


def _text(value: Any, name: str, limit: int) -> str:
    text = str(value or "").strip()
    if not text:
        raise InvalidInput([Problem(ErrorCode.REQUIRED, _("This text is required."), name)])
    if len(text) > limit:
        raise InvalidInput([Problem(ErrorCode.INVALID_INPUT,
                                    _("At most %(n)d characters.", n=limit), name)])
    return text


def _snapshot(c: Consultation) -> dict[str, Any]:
    return {"status": str(c.status), "institution_id": c.institution_id,
            "enterprise_user_id": c.enterprise_user_id, "filed_by_id": c.filed_by_id,
            "on_behalf": c.on_behalf, "service_item_id": c.service_item_id,
            "first_response_at": c.first_response_at.isoformat() if c.first_response_at else None,
            "sla_rule": c.sla_rule, "sla_seconds": c.sla_seconds}


# ---------------------------------------------------------------- asking, replying, closing


def asker_by_id(institution: Institution, user_id: Any, actor: User | None) -> User | None:
    """The enterprise user an operator asks for, named by id; anyone else naming another user
    is refused (audited) before the id is looked up."""
    return enterprise_user_by_id(actor, user_id, refuse=lambda: _denied(
        "consultation.ask", "institution", institution.id, actor))


def ask(institution: Institution, *, subject: str, body: str, actor: User | None,
        enterprise_user: User | None = None, service_item_id: int | None = None,
        now: datetime | None = None) -> Consultation:
    """An enterprise user asks `institution`; or an operator asks for `enterprise_user` (R-G-08).
    Committed and audited."""
    if actor is None or not actor.is_active:
        _denied("consultation.ask", "institution", institution.id, actor)
    assert actor is not None
    if is_operator(actor) and enterprise_user is not None and enterprise_user.id != actor.id:
        on_behalf = True
        if not enterprise_user.is_active or not enterprise_user.has_role(Role.ENTERPRISE):
            raise InvalidInput([Problem(ErrorCode.INVALID_INPUT, _(
                "An operator files a consultation for an enterprise user."), "enterpriseUserId")])
        asker = enterprise_user
    elif actor.has_role(Role.ENTERPRISE) and enterprise_user in (None, actor):
        on_behalf, asker = False, actor
    else:
        _denied("consultation.ask", "institution", institution.id, actor)
    require_taking_requests(institution)  # a hidden one takes no new consultation (R-OPS-05/06)
    problems: list[Problem] = []
    texts: dict[str, str] = {}
    for name, value, limit in (("subject", subject, SUBJECT_MAX), ("body", body, BODY_MAX)):
        try:
            texts[name] = _text(value, name, limit)
        except InvalidInput as exc:
            problems += exc.problems
    if service_item_id is not None:  # one of the institution's published items, or none
        item = get_by_id(ServiceItem, service_item_id)
        if (item is None or item.institution_id != institution.id
                or item.status is not ItemStatus.PUBLISHED):
            problems.append(Problem(ErrorCode.INVALID_INPUT, _("No such service item."),
                                    "serviceItemId"))
    if problems:
        raise InvalidInput(problems)
    at = now or utcnow()
    consultation = Consultation(
        institution_id=institution.id, enterprise_user_id=asker.id, filed_by_id=actor.id,
        on_behalf=on_behalf, service_item_id=service_item_id, subject=texts["subject"],
        received_at=at, status=ConsultationStatus.OPEN)
    consultation.messages.append(ConsultationMessage(
        author_id=actor.id, side=MessageSide.ENTERPRISE, body=texts["body"], at=at))
    db.session.add(consultation)
    db.session.flush()
    record_audit("consultation.ask", object_type="consultation", object_id=consultation.id,
                 after=_snapshot(consultation), actor=actor)
    db.session.commit()
    return consultation


def _side(actor: User, consultation: Consultation) -> MessageSide | None:
    if staff_role(actor, consultation.institution_id) is not None:
        return MessageSide.INSTITUTION
    if actor.id == consultation.enterprise_user_id:
        return MessageSide.ENTERPRISE
    if consultation.on_behalf and actor.id == consultation.filed_by_id:
        return MessageSide.ENTERPRISE  # the operator keeps acting for the enterprise (R-G-08)
    return None


def reply(consultation: Consultation, *, body: str, actor: User | None,
          now: datetime | None = None) -> ConsultationMessage:
    """Add a message to the thread. The institution's first reply is measured against the SLA
    (R-OPS-03) and the measure stored. Committed and audited."""
    side = _side(actor, consultation) if actor is not None and actor.is_active else None
    if side is None:
        _denied("consultation.reply", "consultation", consultation.id, actor)
    assert actor is not None and side is not None
    if consultation.status is ConsultationStatus.CLOSED:
        raise InvalidInput([Problem(ErrorCode.ILLEGAL_TRANSITION,
                                    _("This consultation is closed."), "consultationId")])
    text = _text(body, "body", BODY_MAX)
    at = now or utcnow()
    if at < consultation.received_at:
        at = consultation.received_at
    before = _snapshot(consultation)
    message = ConsultationMessage(author_id=actor.id, side=side, body=text, at=at)
    consultation.messages.append(message)
    if side is MessageSide.INSTITUTION:
        if consultation.first_response_at is None:
            m = sla.measure(consultation.received_at, at)
            consultation.first_response_at = at
            consultation.first_response_by_id = actor.id
            consultation.sla_rule = str(m.rule)
            consultation.sla_seconds = m.seconds_counted
            consultation.sla_limit_seconds = m.limit_seconds
        consultation.status = ConsultationStatus.ANSWERED
    else:
        consultation.status = ConsultationStatus.OPEN
    db.session.flush()
    record_audit("consultation.reply", object_type="consultation", object_id=consultation.id,
                 before=before, after={**_snapshot(consultation), "message_id": message.id,
                                       "side": str(side)}, actor=actor)
    db.session.commit()
    return message


def close(consultation: Consultation, *, actor: User | None, now: datetime | None = None) -> Consultation:
    """The asker (or its operator) closes at any time; the institution once it has answered."""
    side = _side(actor, consultation) if actor is not None and actor.is_active else None
    if side is None:
        _denied("consultation.close", "consultation", consultation.id, actor)
    if consultation.status is ConsultationStatus.CLOSED:
        return consultation
    if side is MessageSide.INSTITUTION and consultation.first_response_at is None:
        raise InvalidInput([Problem(ErrorCode.ILLEGAL_TRANSITION,
                                    _("Answer the consultation before closing it."), "consultationId")])
    before = _snapshot(consultation)
    consultation.status = ConsultationStatus.CLOSED
    consultation.closed_at = now or utcnow()
    record_audit("consultation.close", object_type="consultation", object_id=consultation.id,
                 before=before, after=_snapshot(consultation), actor=actor)
    db.session.commit()
    return consultation


# ---------------------------------------------------------------- lists


def _page(query: Any, limit: int, offset: int) -> list[Consultation]:
    limit = max(1, min(int(limit), PAGE_MAX))
    return list(db.session.scalars(
        query.options(selectinload(Consultation.messages))
        .order_by(Consultation.received_at.desc(), Consultation.id.desc())
        .limit(limit).offset(max(0, int(offset)))))


def consultations_of_enterprise(user: User, *, limit: int = 50, offset: int = 0) -> list[Consultation]:
    """The consultations asked by (or for) `user`, newest first."""
    return _page(select(Consultation).where(Consultation.enterprise_user_id == user.id), limit, offset)


def consultations_of_institution(institution_id: int, viewer: User | None, *, limit: int = 50,
                                 offset: int = 0, status: ConsultationStatus | None = None
                                 ) -> list[Consultation]:
    """An institution's consultations: for its staff and operators (refusals audited)."""
    if viewer is None or not (is_operator(viewer) or staff_role(viewer, institution_id) is not None):
        _denied("consultation.list", "institution", institution_id, viewer)
    query = select(Consultation).where(Consultation.institution_id == institution_id)
    if status is not None:
        query = query.where(Consultation.status == status)
    return _page(query, limit, offset)


def staff_institution_ids(user: User) -> list[int]:
    return list(db.session.scalars(select(InstitutionStaff.institution_id)
                                   .where(InstitutionStaff.user_id == user.id)
                                   .order_by(InstitutionStaff.id)))


def user_names(ids: Any) -> dict[int, User]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(wanted)))}


# ---------------------------------------------------------------- exit and reminders


def open_matters_of(institution: Institution) -> list[OpenMatter]:
    """Consultations not closed block the institution's exit (R-ONB-06)."""
    rows = db.session.execute(
        select(Consultation.id, Consultation.subject).where(
            Consultation.institution_id == institution.id,
            Consultation.status != ConsultationStatus.CLOSED).order_by(Consultation.id))
    return [OpenMatter("consultation", cid, _("Consultation #%(id)d: %(subject)s",
                                               id=cid, subject=subject))
            for cid, subject in rows]


def send_reminders(now: datetime | None = None) -> dict[str, int]:
    """The reminder job: queue `consultation_reminder` to the agents (or, with none, the admin)
    of each institution with a consultation near its SLA threshold. Idempotent: the dedupe key
    names the consultation and its rule, so an agent hears once per consultation."""
    from core.notifications.service import notify

    due = sla.due_soon(now)
    queued = 0
    for item in due:
        c = item.consultation
        institution = db.session.get(Institution, c.institution_id)
        if institution is None:
            continue
        staff = list(db.session.execute(
            select(User, InstitutionStaff.role).join(InstitutionStaff, InstitutionStaff.user_id == User.id)
            .where(InstitutionStaff.institution_id == c.institution_id, User.is_active.is_(True))
            .order_by(InstitutionStaff.id)))
        recipients = ([u for u, r in staff if r is StaffRole.AGENT]
                      or [u for u, r in staff if r is StaffRole.ADMIN])
        context = {"institution_name": institution.legal_name, "subject": c.subject,
                   "received_at": c.received_at,
                   "counted_minutes": item.measure.seconds_counted // 60,
                   "limit_hours": (item.measure.limit_seconds or sla.AVERAGE_LIMIT_SECONDS) // 3600}
        for user in recipients:
            queued += len(notify(user, "consultation_reminder", context,
                                 dedupe_key=f"consultation.reminder:{c.id}:{item.measure.rule}",
                                 link=f"/consultations/{c.id}"))
    db.session.commit()
    return {"due": len(due), "queued": queued}
