"""Who may see and change an institution's things: the one place for that rule."""

from __future__ import annotations

from collections.abc import Iterable

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


def client_contact_institutions(user: User | None, institution_ids: Iterable[int]) -> set[int]:
    """Of `institution_ids`, those whose clients' contacts `user` reads in full — the rule of
    `sees_client_contact` for a page of rows, in one statement at most."""
    ids = set(institution_ids)
    if user is None or not user.is_active or not ids:
        return set()
    if is_platform_staff(user):
        return ids
    return set(db.session.scalars(select(InstitutionStaff.institution_id).where(
        InstitutionStaff.user_id == user.id, InstitutionStaff.role == StaffRole.ADMIN,
        InstitutionStaff.institution_id.in_(ids))))


def sees_client_contact(user: User | None, institution_id: int,
                        client_user_id: int | None = None) -> bool:
    """May `user` read in full the phone or email of one of the institution's clients — the
    asker of a consultation, the client of a case report (R-G-05, PIPL Art. 51)? The one rule:

    * the client itself (`client_user_id`), and platform staff: operators spot-check cases and
      act for enterprises (R-OPS-04, R-G-08), regulators assess the cases (Annex 2 item 6);
    * the institution's admin, who answers for the institution and reports its cases;
    * not its agents: an agent answers in the platform's thread (M Art. 14) and needs no phone
      number to do so (PIPL Art. 6, minimum necessary), so it reads `138****5678` in a
      consultation and in a case report alike, even one it reported itself;
    * nobody deactivated, nobody else.

    A complaint's complainant is not the institution's client in this sense: see
    `sees_complainant_contact`.
    """
    if user is None or not user.is_active:
        return False
    return user.id == client_user_id or institution_id in client_contact_institutions(
        user, {institution_id})


def sees_complainant_contact(user: User | None, complainant_user_id: int) -> bool:
    """May `user` read in full the contact of who complained about an institution (R-G-05)?
    The complainant and platform staff, as for a client — but nobody of the institution, its
    admin included. Decided so because a complaint is between the complainant and the platform:
    operators verify it and relay what is needed (M Art. 15), so the institution needs no
    number to answer it (PIPL Art. 6); a complaint need not concern one of its orders or
    consultations, so the complainant may never have given the institution a number; and the
    number of someone who complained must not reach the institution complained about (no
    pressure to withdraw). Where the complainant is also a client, the admin still reads the
    number on that order or consultation under `sees_client_contact`.
    """
    if user is None or not user.is_active:
        return False
    return user.id == complainant_user_id or is_platform_staff(user)


def visible_institutions(user: User) -> list[Institution]:
    """Every institution for platform staff; one's own for an institution's admin or agent."""
    query = select(Institution).order_by(Institution.id)
    if not is_platform_staff(user):
        query = query.join(InstitutionStaff).where(InstitutionStaff.user_id == user.id)
    return list(db.session.scalars(query))
