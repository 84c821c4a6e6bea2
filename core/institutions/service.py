"""Creating institutions and adding their staff (onboarding builds the full workflow on this)."""

from __future__ import annotations

from core.audit import record_audit
from core.db import db
from core.identity.models import User
from core.institutions.models import Institution, InstitutionStaff, InstitutionStatus, StaffRole


def create_institution(*, legal_name: str, uscc: str | None, admin: User,
                       status: InstitutionStatus = InstitutionStatus.DRAFT) -> Institution:
    """A new institution with `admin` as its administrator."""
    institution = Institution(legal_name=legal_name, uscc=uscc, status=status)
    institution.staff.append(InstitutionStaff(user_id=admin.id, role=StaffRole.ADMIN))
    db.session.add(institution)
    db.session.flush()
    record_audit("institution.create", object_type="institution", object_id=institution.id,
                 after={"legal_name": legal_name, "status": status.value}, actor=admin)
    db.session.commit()
    return institution


def add_staff(institution: Institution, user: User, role: StaffRole, *, actor: User | None) -> None:
    db.session.add(InstitutionStaff(institution_id=institution.id, user_id=user.id, role=role))
    record_audit("institution.staff_add", object_type="institution", object_id=institution.id,
                 after={"user_id": user.id, "role": role.value}, actor=actor)
    db.session.commit()


