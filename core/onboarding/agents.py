"""Online customer-service agents (R-ELIG-05): one or two per institution, each a user account
with the agent role, invited by the institution's administrator.

An invitation carries a random token that is returned once (the notifications module sends
it); only its SHA-256 is stored. Open invitations count toward the cap of two, so three people
cannot be racing for two seats; acceptance re-checks the cap with the institution row locked.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import ColumnElement, Exists, exists, func, or_, select, update

from core.audit import record_audit
from core.db import db, utcnow
from core.errors import DomainError, ErrorCode, InvalidInput, NotFound, Problem
from core.identity.models import Role, User, UserRole
from core.identity.service import create_user, mask_identifier, normalize_email, normalize_phone
from core.institutions.models import Institution, InstitutionStaff, StaffRole
from core.onboarding.models import AgentInvitation
from core.onboarding.profile import clean_line, require_institution_admin

MAX_AGENTS = 2
INVITATION_DAYS = 7  # default; the app's AGENT_INVITATION_DAYS overrides it
_MAX_TOKEN_CHARS = 200


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _limit_error() -> DomainError:
    return DomainError(
        _("An institution has at most %(n)d online customer-service agents; invitations still "
          "open count too.", n=MAX_AGENTS),
        code=ErrorCode.AGENT_LIMIT)


def _lock_institution(institution_id: int) -> None:
    """Serialise seat counting per institution (a row lock on PostgreSQL; SQLite has one writer)."""
    db.session.execute(select(Institution.id).where(Institution.id == institution_id).with_for_update())


# ---------------------------------------------------------------- reading


def is_agent_row() -> ColumnElement[bool]:
    """What an online customer-service agent is, for every rule that counts them (R-ELIG-05,
    R-OPS-05, Annex 2 item 7): a staff row of the institution with the agent role."""
    return InstitutionStaff.role == StaffRole.AGENT


def has_agent(institution_id: Any) -> Exists:
    """SQL: the institution (an id or a correlated column) has at least one agent."""
    return exists().where(InstitutionStaff.institution_id == institution_id, is_agent_row())


def agents_of(institution: Institution) -> list[User]:
    """The institution's agents, in the order they joined."""
    return list(db.session.scalars(
        select(User).join(InstitutionStaff, InstitutionStaff.user_id == User.id)
        .where(InstitutionStaff.institution_id == institution.id, is_agent_row())
        .order_by(InstitutionStaff.added_at, InstitutionStaff.id)))


def _agent_count(institution_id: int) -> int:
    return agent_counts([institution_id])[institution_id]


def agent_counts(institution_ids: list[int]) -> dict[int, int]:
    """How many agents each institution has, in one statement (assessment item 7)."""
    counts = dict.fromkeys(institution_ids, 0)
    if institution_ids:
        counts.update(db.session.execute(
            select(InstitutionStaff.institution_id, func.count()).where(
                InstitutionStaff.institution_id.in_(institution_ids), is_agent_row())
            .group_by(InstitutionStaff.institution_id)).all())
    return counts


def _open(now: datetime) -> list[ColumnElement[bool]]:
    return [AgentInvitation.accepted_at.is_(None), AgentInvitation.revoked_at.is_(None),
            AgentInvitation.expires_at > now]


def open_invitations(institution: Institution) -> list[AgentInvitation]:
    """Invitations neither accepted, revoked nor expired, oldest first."""
    return list(db.session.scalars(
        select(AgentInvitation)
        .where(AgentInvitation.institution_id == institution.id, *_open(utcnow()))
        .order_by(AgentInvitation.created_at, AgentInvitation.id)))


def agent_problems(institution: Institution) -> list[Problem]:
    """R-ELIG-05 for the eligibility engine: no agent blocks approval; more than 2 is refused."""
    count = _agent_count(institution.id)
    if count == 0:
        return [Problem(ErrorCode.REQUIRED,
                        _("Add at least one online customer-service agent."), "agents")]
    if count > MAX_AGENTS:
        return [Problem(ErrorCode.AGENT_LIMIT,
                        _("An institution has at most %(n)d online customer-service agents.",
                          n=MAX_AGENTS), "agents")]
    return []


# ---------------------------------------------------------------- inviting


def _contact_filter(column_phone: Any, column_email: Any, phone: str | None,
                    email: str | None) -> ColumnElement[bool]:
    """Rows whose phone or email is one of the given (non-empty) contacts."""
    conditions: list[ColumnElement[bool]] = []
    if phone:
        conditions.append(column_phone == phone)
    if email:
        conditions.append(column_email == email)
    return or_(*conditions)


def invite_agent(institution: Institution, *, display_name: str, phone: str | None = None,
                 email: str | None = None, actor: User | None) -> tuple[AgentInvitation, str]:
    """Invite a customer-service agent by mobile number and/or email (R-ELIG-05).

    Admin only. Refused when the agents plus the open invitations would exceed 2. Returns the
    invitation and its token, valid for 7 days; the token is not stored and cannot be shown
    again. Audited (contacts masked).
    """
    require_institution_admin(institution, actor, "institution.agent_invite")
    assert actor is not None  # an administrator, checked just above
    problems: list[Problem] = []
    name = clean_line(display_name)
    if not name or len(name) > 100:
        problems.append(Problem(ErrorCode.REQUIRED, _("Enter a name of 1 to 100 characters."),
                                "displayName"))
    norm_phone = norm_email = None
    if phone and phone.strip():
        norm_phone = normalize_phone(phone)
        if norm_phone is None:
            problems.append(Problem(ErrorCode.INVALID_INPUT,
                                    _("Enter an 11-digit mainland mobile number."), "phone"))
    if email and email.strip():
        norm_email = normalize_email(email)
        if norm_email is None:
            problems.append(Problem(ErrorCode.INVALID_INPUT, _("Enter a valid email address."), "email"))
    if not (phone and phone.strip()) and not (email and email.strip()):
        problems.append(Problem(ErrorCode.REQUIRED, _("Enter a mobile number or an email address."),
                                "phone"))
    field = "phone" if norm_phone else "email"
    if not problems and (norm_phone or norm_email):
        staff = db.session.scalar(
            select(InstitutionStaff.id).join(User, User.id == InstitutionStaff.user_id).where(
                InstitutionStaff.institution_id == institution.id,
                _contact_filter(User.phone, User.email, norm_phone, norm_email)).limit(1))
        invited = db.session.scalar(select(AgentInvitation.id).where(
            AgentInvitation.institution_id == institution.id, *_open(utcnow()),
            _contact_filter(AgentInvitation.phone, AgentInvitation.email, norm_phone, norm_email),
        ).limit(1))
        if staff is not None:
            problems.append(Problem(ErrorCode.DUPLICATE,
                                    _("This person already works for the institution."), field))
        elif invited is not None:
            problems.append(Problem(
                ErrorCode.DUPLICATE,
                _("An invitation to this person is still open; withdraw it to send a new one."), field))
    if problems:
        raise InvalidInput(problems)

    now = utcnow()
    days = int(current_app.config.get("AGENT_INVITATION_DAYS", INVITATION_DAYS))
    token = secrets.token_urlsafe(32)
    try:
        _lock_institution(institution.id)
        open_count = db.session.scalar(select(func.count()).select_from(AgentInvitation).where(
            AgentInvitation.institution_id == institution.id, *_open(now))) or 0
        if _agent_count(institution.id) + open_count >= MAX_AGENTS:
            raise _limit_error()
        invitation = AgentInvitation(
            institution_id=institution.id, token_hash=_sha256(token), display_name=name,
            phone=norm_phone, email=norm_email, invited_by_id=actor.id,
            created_at=now, expires_at=now + timedelta(days=days))
        db.session.add(invitation)
        db.session.flush()
        record_audit("institution.agent_invite", object_type="institution", object_id=institution.id,
                     after={"invitation_id": invitation.id, "display_name": name,
                            "phone": mask_identifier(norm_phone) if norm_phone else None,
                            "email": mask_identifier(norm_email) if norm_email else None,
                            "expires_at": invitation.expires_at.isoformat()},
                     actor=actor)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return invitation, token


def revoke_invitation(institution: Institution, invitation_id: int, *,
                      actor: User | None) -> AgentInvitation:
    """Withdraw an open invitation, freeing its seat. Admin only; audited."""
    require_institution_admin(institution, actor, "institution.agent_invitation_revoke")
    invitation = db.session.get(AgentInvitation, invitation_id)
    if invitation is None or invitation.institution_id != institution.id:
        raise NotFound(_("No such invitation."), field="invitationId")
    if invitation.accepted_at is not None:
        raise DomainError(_("This invitation was already accepted; remove the agent instead."),
                          field="invitationId")
    if invitation.revoked_at is None:
        invitation.revoked_at = utcnow()
        record_audit("institution.agent_invitation_revoke", object_type="institution",
                     object_id=institution.id, after={"invitation_id": invitation.id}, actor=actor)
        db.session.commit()
    return invitation


# ---------------------------------------------------------------- accepting


def usable_invitation(token: str) -> AgentInvitation:
    """The invitation a token opens, or a clear refusal (unknown, withdrawn, used, expired)."""
    invitation = None
    if token and len(token) <= _MAX_TOKEN_CHARS:
        invitation = db.session.scalar(
            select(AgentInvitation).where(AgentInvitation.token_hash == _sha256(token)))
    if invitation is None:
        raise NotFound(_("This invitation link is not valid; ask the institution for a new one."),
                       field="token")
    if invitation.revoked_at is not None:
        raise NotFound(_("This invitation was withdrawn by the institution."), field="token")
    if invitation.accepted_at is not None:
        raise NotFound(_("This invitation has already been used."), field="token")
    if invitation.expires_at <= utcnow():
        raise NotFound(_("This invitation has expired; ask the institution for a new one."),
                       field="token")
    return invitation


def _claim(invitation: AgentInvitation, user_id: int) -> bool:
    """Mark the invitation accepted unless someone else got there first."""
    now = utcnow()
    result = db.session.execute(
        update(AgentInvitation)
        .where(AgentInvitation.id == invitation.id, *_open(now))
        .values(accepted_at=now, accepted_user_id=user_id)
        .execution_options(synchronize_session="fetch"))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def _seat_refusal(invitation: AgentInvitation, user_id: int) -> DomainError | None:
    """With the institution locked: a free seat, then the invitation claimed; else the refusal."""
    _lock_institution(invitation.institution_id)
    if _agent_count(invitation.institution_id) >= MAX_AGENTS:
        return _limit_error()
    if not _claim(invitation, user_id):
        return NotFound(_("This invitation has already been used."), field="token")
    return None


def _join(invitation: AgentInvitation, user: User) -> None:
    """Add the agent staff row and audit the acceptance (the caller commits)."""
    institution = db.session.get(Institution, invitation.institution_id)
    assert institution is not None
    institution.staff.append(InstitutionStaff(user_id=user.id, role=StaffRole.AGENT))
    record_audit("institution.agent_accept", object_type="institution", object_id=institution.id,
                 after={"invitation_id": invitation.id, "user_id": user.id,
                        "invited_by_id": invitation.invited_by_id},
                 actor=user)


def invitation_matches(user: User, invitation: AgentInvitation) -> bool:
    """Whether the invitation names this user (same mobile number or email)."""
    return bool((invitation.phone and user.phone == invitation.phone)
                or (invitation.email and user.email == invitation.email))


def accept_invitation(token: str, *, password: str | None, current_user: User | None) -> User:
    """Accept an agent invitation; returns the agent's account.

    A logged-in user whose mobile number or email is the invitation's becomes the agent (the
    agent role is added to their roles). Otherwise a new account is created with the
    invitation's name and contacts and `password`; when those contacts already belong to an
    account, the person is asked to log in with it first. The cap of 2 agents is checked again
    here. Expired, withdrawn, used and unknown tokens are refused with NotFound.
    """
    invitation = usable_invitation(token)
    if isinstance(current_user, User) and invitation_matches(current_user, invitation):
        user = _accept_as_existing(invitation, current_user)
    else:
        user = _accept_as_new(invitation, password)
    _refresh_visibility(invitation.institution_id)
    return user


def _refresh_visibility(institution_id: int) -> None:
    """R-OPS-05: an agent joining restores a homepage hidden for lacking one; the last one
    leaving hides it (after the grace month)."""
    from core.visibility.service import refresh

    refresh(institution_id)


# Older names, still used by core/onboarding/views.py; use the public ones above.
_usable_invitation = usable_invitation
_matches = invitation_matches


def _accept_as_existing(invitation: AgentInvitation, user: User) -> User:
    already = db.session.scalar(select(InstitutionStaff.id).where(
        InstitutionStaff.institution_id == invitation.institution_id,
        InstitutionStaff.user_id == user.id))
    if already is not None:
        raise DomainError(_("You already work for this institution."), code=ErrorCode.DUPLICATE,
                          field="token")
    try:
        refusal = _seat_refusal(invitation, user.id)
        if refusal is not None:
            raise refusal
        if not user.has_role(Role.INSTITUTION_AGENT):
            # identity.service.set_roles is a system administrator's act; accepting an
            # invitation is the one other way to become an agent.
            before = sorted(r.value for r in user.roles)
            user.role_rows.append(UserRole(role=Role.INSTITUTION_AGENT))
            record_audit("user.roles_change", object_type="user", object_id=user.id,
                         before={"roles": before},
                         after={"roles": sorted(r.value for r in user.roles),
                                "invitation_id": invitation.id},
                         actor=user)
        _join(invitation, user)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return user


def _accept_as_new(invitation: AgentInvitation, password: str | None) -> User:
    registered = db.session.scalar(select(User).where(
        _contact_filter(User.phone, User.email, invitation.phone, invitation.email)).limit(1))
    if registered is not None:
        field = "phone" if invitation.phone and registered.phone == invitation.phone else "email"
        raise InvalidInput([Problem(
            ErrorCode.DUPLICATE,
            _("An account with this mobile number or email already exists: log in with it, then "
              "open the invitation link again."), field)])
    if not password:
        raise InvalidInput([Problem(ErrorCode.REQUIRED, _("Choose a password."), "password")])
    if _agent_count(invitation.institution_id) >= MAX_AGENTS:
        raise _limit_error()  # before creating an account that could not be used

    # create_user commits on its own; the seat is then taken under the lock, and if it was
    # lost in the meantime the new, never-used account is deleted again.
    user = create_user(display_name=invitation.display_name, password=password,
                       roles=[Role.INSTITUTION_AGENT], phone=invitation.phone, email=invitation.email,
                       audit_action="user.create_by_invitation")
    try:
        refusal = _seat_refusal(invitation, user.id)
        if refusal is None:
            _join(invitation, user)
            db.session.commit()
            return user
    except BaseException:
        db.session.rollback()
        _discard(user)
        raise
    db.session.rollback()
    _discard(user)
    raise refusal


def _discard(user: User) -> None:
    user_id = user.id
    db.session.delete(user)
    record_audit("user.delete", object_type="user", object_id=user_id,
                 after={"reason": "agent invitation could not be accepted"})
    db.session.commit()


# ---------------------------------------------------------------- removing


def remove_agent(institution: Institution, user_id: int, *, actor: User | None) -> None:
    """Remove an agent from the institution; the user loses the agent role when no longer an
    agent anywhere (their account stays). Admin only; audited."""
    require_institution_admin(institution, actor, "institution.agent_remove")
    row = next((s for s in institution.staff
                if s.user_id == user_id and s.role is StaffRole.AGENT), None)
    if row is None:
        raise NotFound(_("No such agent."), field="userId")
    user = row.user
    try:
        institution.staff.remove(row)
        db.session.flush()
        elsewhere = db.session.scalar(select(InstitutionStaff.id).where(
            InstitutionStaff.user_id == user_id, InstitutionStaff.role == StaffRole.AGENT).limit(1))
        if elsewhere is None and user.has_role(Role.INSTITUTION_AGENT):
            before = sorted(r.value for r in user.roles)
            user.role_rows = [r for r in user.role_rows if r.role is not Role.INSTITUTION_AGENT]
            record_audit("user.roles_change", object_type="user", object_id=user.id,
                         before={"roles": before}, after={"roles": sorted(r.value for r in user.roles)},
                         actor=actor)
        record_audit("institution.agent_remove", object_type="institution", object_id=institution.id,
                     before={"user_id": user_id, "display_name": user.display_name}, actor=actor)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    _refresh_visibility(institution.id)
