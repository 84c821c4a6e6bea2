"""Who may see and change an institution's things: the one place for that rule."""

from __future__ import annotations

from sqlalchemy import select

from core.db import db
from core.identity.models import Role, User
from core.institutions.models import Institution, InstitutionStaff, StaffRole

STAFF_ROLES = (Role.OPERATOR, Role.REGULATOR)


def is_platform_staff(user: User | None) -> bool:
    """Operators (运维机构) and regulators (管理单位) see every institution."""
    return user is not None and user.has_role(*STAFF_ROLES)


def staff_role(user: User | None, institution_id: int) -> StaffRole | None:
    if user is None:
        return None
    return db.session.scalar(
        select(InstitutionStaff.role).where(
            InstitutionStaff.institution_id == institution_id, InstitutionStaff.user_id == user.id
        )
    )


def can_view_institution_private(user: User | None, institution_id: int) -> bool:
    """The institution's own staff and platform staff see its non-public records."""
    return is_platform_staff(user) or staff_role(user, institution_id) is not None


def can_manage_institution(user: User | None, institution_id: int) -> bool:
    """Only the institution's admin changes its records (an agent answers customers only)."""
    return staff_role(user, institution_id) is StaffRole.ADMIN


def visible_institutions(user: User) -> list[Institution]:
    """Every institution for platform staff; one's own for an institution's admin or agent."""
    query = select(Institution).order_by(Institution.id)
    if not is_platform_staff(user):
        query = query.join(InstitutionStaff).where(InstitutionStaff.user_id == user.id)
    return list(db.session.scalars(query))
