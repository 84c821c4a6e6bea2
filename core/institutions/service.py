"""Creating institutions and adding their staff (onboarding builds the full workflow on this)."""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError

from core.audit import record_audit
from core.db import db
from core.errors import DomainError, ErrorCode, InvalidInput, PermissionDenied, Problem
from core.identity.models import Role, User
from core.institutions.models import Institution, InstitutionStaff, InstitutionStatus, StaffRole


def create_institution(*, legal_name: str, uscc: str | None, admin: User,
                       status: InstitutionStatus = InstitutionStatus.DRAFT) -> Institution:
    """A new institution with `admin` as its administrator; the name and credit code are checked
    by the profile's rules (one applying or live institution per credit code)."""
    from core.onboarding.profile import clean_line, normalize_uscc, uscc_problem

    name = clean_line(legal_name)
    code = normalize_uscc(uscc) if uscc else None
    problems = []
    if not name or len(name) > 200:
        problems.append(Problem(ErrorCode.REQUIRED, _("Enter the legal name (at most 200 characters)."),
                                "legalName"))
    if code:
        problem = uscc_problem(code, None)
        if problem:
            problems.append(problem)
    if problems:
        raise InvalidInput(problems)
    institution = Institution(legal_name=name, uscc=code, status=status)
    institution.staff.append(InstitutionStaff(user_id=admin.id, role=StaffRole.ADMIN))
    db.session.add(institution)
    try:
        db.session.flush()
    except IntegrityError as exc:  # a concurrent registration of the same credit code
        db.session.rollback()
        raise InvalidInput([Problem(
            ErrorCode.DUPLICATE, _("Another institution on the platform already has this credit code."),
            "uscc")]) from exc
    record_audit("institution.create", object_type="institution", object_id=institution.id,
                 after={"legal_name": name, "status": status.value}, actor=admin)
    db.session.commit()
    return institution


def start_institution(*, legal_name: str, uscc: str, admin: User) -> Institution:
    """An institution administrator starts the application of a new institution (R-ONB-01)."""
    from sqlalchemy import select

    if not admin.has_role(Role.INSTITUTION_ADMIN):
        record_audit("institution.create", object_type="institution", result="denied", actor=admin)
        db.session.commit()
        raise PermissionDenied(_("Register as an institution administrator first."))
    if db.session.scalar(select(InstitutionStaff.id).where(InstitutionStaff.user_id == admin.id)):
        raise DomainError(_("You already work for an institution."), code=ErrorCode.DUPLICATE)
    if not (uscc or "").strip():
        raise InvalidInput([Problem(ErrorCode.REQUIRED, _("Enter the unified social credit code."),
                                    "uscc")])
    return create_institution(legal_name=legal_name, uscc=uscc, admin=admin)


def add_staff(institution: Institution, user: User, role: StaffRole, *, actor: User | None) -> None:
    db.session.add(InstitutionStaff(institution_id=institution.id, user_id=user.id, role=role))
    record_audit("institution.staff_add", object_type="institution", object_id=institution.id,
                 after={"user_id": user.id, "role": role.value}, actor=actor)
    db.session.commit()
