"""Online customer-service agents (R-ELIG-05): 1-2 per institution, invited by its administrator,
each a user account with the agent role (SECURITY.md 9 and 14: refusals and changes audited)."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from flask_babel import gettext
from onboarding_support import METROLOGY_CENTRE, USCC_METROLOGY_CENTRE
from sqlalchemy import select

from core.db import db, utcnow
from core.errors import DomainError, ErrorCode, InvalidInput, NotFound, PermissionDenied
from core.identity import service as identity
from core.identity.models import Role, User
from core.institutions.access import staff_role
from core.institutions.models import StaffRole
from core.onboarding.agents import (
    MAX_AGENTS,
    accept_invitation,
    agent_problems,
    agents_of,
    invite_agent,
    open_invitations,
    remove_agent,
    revoke_invitation,
)
from core.onboarding.models import AgentInvitation
from core.testing import TEST_PASSWORD

PHONE_LI = "13922001234"
PHONE_ZHAO = "13922005678"
PHONE_WU = "13922009012"


def _invite(org, name="李敏", phone=PHONE_LI, email=None, actor=None):
    return invite_agent(org.institution, display_name=name, phone=phone, email=email,
                        actor=actor or org.admin)


def _expected(msgid: str) -> str:
    """The message as the user reads it (Chinese once the catalogue has it)."""
    return gettext(msgid)


def _user(phone: str) -> User | None:
    db.session.expire_all()
    return db.session.scalar(select(User).where(User.phone == phone))


# ------------------------------------------------------------------ how many (R-ELIG-05)


def test_R_ELIG_05_an_institution_starts_with_no_agent_which_blocks_approval(org):
    assert agents_of(org.institution) == []
    assert [(p.field, p.code) for p in agent_problems(org.institution)] == [
        ("agents", ErrorCode.REQUIRED)]


def test_R_ELIG_05_a_third_agent_is_refused_counting_open_invitations(world, org):
    _invite(org, "李敏", PHONE_LI)
    _invite(org, "赵丽", PHONE_ZHAO)
    with pytest.raises(DomainError) as err:
        _invite(org, "吴强", PHONE_WU)
    assert err.value.code is ErrorCode.AGENT_LIMIT
    assert len(open_invitations(org.institution)) == MAX_AGENTS == 2
    assert len(world.audits("institution.agent_invite")) == 2


def test_R_ELIG_05_a_third_agent_is_refused_counting_accepted_agents(world, org):
    _invitation, token = _invite(org, "李敏", PHONE_LI)
    accept_invitation(token, password=TEST_PASSWORD, current_user=None)
    world.agent(org, "客服 赵丽")
    assert agent_problems(org.institution) == []
    with pytest.raises(DomainError) as err:
        _invite(org, "吴强", PHONE_WU)
    assert err.value.code is ErrorCode.AGENT_LIMIT


def test_R_ELIG_05_withdrawn_and_expired_invitations_free_their_seat(world, org):
    first, _token = _invite(org, "李敏", PHONE_LI)
    second, _token = _invite(org, "赵丽", PHONE_ZHAO)
    revoke_invitation(org.institution, first.id, actor=org.admin)
    second.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert open_invitations(org.institution) == []
    _invite(org, "吴强", PHONE_WU)
    _invite(org, "李敏", PHONE_LI)  # may be invited again once the first was withdrawn
    assert [e.after["invitation_id"] for e in world.audits("institution.agent_invitation_revoke")] == [
        first.id]


def test_R_ELIG_05_the_cap_is_checked_again_at_acceptance(world, org):
    """Two invitations are open; meanwhile two agents were added another way (a system admin)."""
    _invitation, token = _invite(org, "李敏", PHONE_LI)
    world.agent(org, "客服 赵丽")
    world.agent(org, "客服 吴强")
    with pytest.raises(DomainError) as err:
        accept_invitation(token, password=TEST_PASSWORD, current_user=None)
    assert err.value.code is ErrorCode.AGENT_LIMIT
    assert _user(PHONE_LI) is None  # no account left behind
    assert len(agents_of(org.institution)) == 2


def test_R_ELIG_05_a_seat_lost_while_the_account_was_created_leaves_no_account(world, org,
                                                                            monkeypatch):
    """Two other agents join between the account's creation and the seat being taken (a race):
    acceptance is refused and the new, never-used account is deleted again."""
    from core.onboarding import agents as module

    real_create_user = module.create_user

    def create_user_then_others_join(**kwargs):
        user = real_create_user(**kwargs)
        world.agent(org, "客服 赵丽")
        world.agent(org, "客服 吴强")
        return user

    monkeypatch.setattr(module, "create_user", create_user_then_others_join)
    _invitation, token = _invite(org, "李敏", PHONE_LI)
    with pytest.raises(DomainError) as err:
        accept_invitation(token, password=TEST_PASSWORD, current_user=None)
    assert err.value.code is ErrorCode.AGENT_LIMIT
    assert _user(PHONE_LI) is None
    assert len(open_invitations(org.institution)) == 1  # not consumed
    (deleted,) = world.audits("user.delete")
    assert deleted.after == {"reason": "agent invitation could not be accepted"}


# ------------------------------------------------------------------ inviting


def test_R_ELIG_05_an_invitation_keeps_only_the_tokens_hash_and_lasts_seven_days(world, org):
    invitation, token = _invite(org, "李敏", "+86 139-2200-1234", email="Limin@SDTest.com.cn")
    assert len(token) >= 43
    assert invitation.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert (invitation.phone, invitation.email) == (PHONE_LI, "limin@sdtest.com.cn")
    assert timedelta(days=7) - timedelta(minutes=1) < invitation.expires_at - utcnow() <= timedelta(days=7)
    (event,) = world.audits("institution.agent_invite")
    assert event.actor_id == org.admin.id
    assert event.after["phone"] == "139****1234" and event.after["email"] == "l***@sdtest.com.cn"
    assert token not in str(event.after)


def test_R_ELIG_05_an_invitation_needs_a_name_and_a_valid_phone_or_email(org):
    with pytest.raises(InvalidInput) as err:
        _invite(org, name=" ", phone=None, email=None)
    assert {p.field for p in err.value.problems} == {"displayName", "phone"}
    with pytest.raises(InvalidInput) as err:
        _invite(org, phone="0757-22321234", email="limin@")
    assert {p.field for p in err.value.problems} == {"phone", "email"}


def test_R_ELIG_05_the_same_person_is_not_invited_twice_nor_a_colleague(world, org):
    _invite(org, "李敏", PHONE_LI)
    with pytest.raises(InvalidInput) as err:
        _invite(org, "李敏", PHONE_LI)
    assert err.value.code is ErrorCode.DUPLICATE
    with pytest.raises(InvalidInput) as err:  # the administrator's own address
        _invite(org, "陈志强", phone=None, email=org.admin.email)
    assert err.value.code is ErrorCode.DUPLICATE


# ------------------------------------------------------------------ accepting


def test_R_ELIG_05_accepting_creates_an_agent_who_can_log_in(world, org):
    invitation, token = _invite(org, "李敏", PHONE_LI)
    agent = accept_invitation(token, password="Shunde-kefu-2026", current_user=None)

    assert agent.display_name == "李敏" and agent.phone == PHONE_LI
    assert agent.roles == {Role.INSTITUTION_AGENT}
    assert staff_role(agent, org.id) is StaffRole.AGENT
    assert [a.id for a in agents_of(org.institution)] == [agent.id]
    assert agent_problems(org.institution) == []
    db.session.refresh(invitation)
    assert invitation.accepted_user_id == agent.id and invitation.accepted_at is not None
    assert open_invitations(org.institution) == []
    assert identity.authenticate(PHONE_LI, "Shunde-kefu-2026").id == agent.id
    assert world.web_login(PHONE_LI, "Shunde-kefu-2026").status_code == 302
    (event,) = world.audits("institution.agent_accept")
    assert event.actor_id == agent.id and event.after["invitation_id"] == invitation.id


def test_R_ELIG_05_a_weak_password_is_refused_and_the_invitation_stays_open(org):
    _invitation, token = _invite(org)
    with pytest.raises(InvalidInput) as err:
        accept_invitation(token, password="123", current_user=None)
    assert {p.field for p in err.value.problems} == {"password"}
    with pytest.raises(InvalidInput):
        accept_invitation(token, password=None, current_user=None)
    assert _user(PHONE_LI) is None and len(open_invitations(org.institution)) == 1


def test_R_ELIG_05_a_used_token_is_refused(org):
    _invitation, token = _invite(org)
    accept_invitation(token, password=TEST_PASSWORD, current_user=None)
    with pytest.raises(NotFound) as err:
        accept_invitation(token, password=TEST_PASSWORD, current_user=None)
    assert err.value.field == "token"
    assert err.value.message == _expected("This invitation has already been used.")


def test_R_ELIG_05_an_expired_token_is_refused(org):
    invitation, token = _invite(org)
    invitation.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    with pytest.raises(NotFound) as err:
        accept_invitation(token, password=TEST_PASSWORD, current_user=None)
    assert err.value.message == _expected(
        "This invitation has expired; ask the institution for a new one.")
    assert _user(PHONE_LI) is None


def test_R_ELIG_05_withdrawn_and_unknown_tokens_are_refused(org):
    invitation, token = _invite(org)
    revoke_invitation(org.institution, invitation.id, actor=org.admin)
    for bad in (token, "not-a-token", "", "x" * 10_000):
        with pytest.raises(NotFound):
            accept_invitation(bad, password=TEST_PASSWORD, current_user=None)


def test_R_ELIG_05_a_registered_person_is_asked_to_log_in_first(world, org):
    world.user(Role.ENTERPRISE, name="李敏", phone=PHONE_LI)
    _invitation, token = _invite(org)
    with pytest.raises(InvalidInput) as err:
        accept_invitation(token, password=TEST_PASSWORD, current_user=None)
    assert (err.value.code, err.value.field) == (ErrorCode.DUPLICATE, "phone")
    assert err.value.message == _expected(
        "An account with this mobile number or email already exists: log in with it, then "
        "open the invitation link again.")
    assert agents_of(org.institution) == []


def test_R_ELIG_05_a_logged_in_person_accepts_with_their_own_account(world, org):
    limin = world.user(Role.ENTERPRISE, name="李敏", phone=PHONE_LI)
    _invitation, token = _invite(org)
    agent = accept_invitation(token, password=None, current_user=limin)
    assert agent.id == limin.id
    assert _user(PHONE_LI).roles == {Role.ENTERPRISE, Role.INSTITUTION_AGENT}
    assert staff_role(limin, org.id) is StaffRole.AGENT
    (change,) = world.audits("user.roles_change")
    assert change.before == {"roles": ["enterprise"]}
    assert change.after["roles"] == ["enterprise", "institution_agent"]


def test_R_ELIG_05_someone_else_logged_in_does_not_take_the_invitation(world, org):
    stranger = world.user(Role.ENTERPRISE, name="路人", phone=PHONE_WU)
    _invitation, token = _invite(org)
    agent = accept_invitation(token, password=TEST_PASSWORD, current_user=stranger)
    assert agent.id != stranger.id and agent.phone == PHONE_LI
    assert staff_role(stranger, org.id) is None


# ------------------------------------------------------------------ removing


def test_R_ELIG_05_removing_an_agent_takes_the_role_when_no_longer_an_agent_anywhere(world, org):
    _invitation, token = _invite(org)
    agent = accept_invitation(token, password=TEST_PASSWORD, current_user=None)
    centre = world.institution(METROLOGY_CENTRE, uscc=USCC_METROLOGY_CENTRE, admin_name="黄建华")
    _invitation, token = _invite(centre)
    accept_invitation(token, password=None, current_user=agent)  # the same person, twice an agent

    remove_agent(org.institution, agent.id, actor=org.admin)
    assert agents_of(org.institution) == []
    assert _user(PHONE_LI).has_role(Role.INSTITUTION_AGENT)  # still an agent of the centre

    remove_agent(centre.institution, agent.id, actor=centre.admin)
    assert _user(PHONE_LI).roles == frozenset()
    assert [e.object_id for e in world.audits("institution.agent_remove")] == [str(org.id),
                                                                              str(centre.id)]
    assert world.audits("user.roles_change")[-1].after == {"roles": []}
    with pytest.raises(NotFound):
        remove_agent(org.institution, agent.id, actor=org.admin)


def test_R_ELIG_05_the_admin_is_not_removed_as_an_agent(org):
    with pytest.raises(NotFound):
        remove_agent(org.institution, org.admin.id, actor=org.admin)


# ------------------------------------------------------------------ who may (SECURITY.md 9)


@pytest.mark.parametrize("who", ["agent", "other_admin", "operator", "regulator"])
def test_R_ELIG_05_only_the_institutions_admin_invites_and_removes(world, org, who):
    agent = world.agent(org)
    other = world.institution(METROLOGY_CENTRE, uscc=USCC_METROLOGY_CENTRE, admin_name="黄建华")
    actor = {"agent": agent, "other_admin": other.admin, "operator": world.operator(),
             "regulator": world.regulator()}[who]
    invitation, _token = _invite(org, "赵丽", PHONE_ZHAO)
    with pytest.raises(PermissionDenied):
        _invite(org, "吴强", PHONE_WU, actor=actor)
    with pytest.raises(PermissionDenied):
        remove_agent(org.institution, agent.id, actor=actor)
    with pytest.raises(PermissionDenied):
        revoke_invitation(org.institution, invitation.id, actor=actor)
    assert [a.id for a in agents_of(org.institution)] == [agent.id]
    assert len(open_invitations(org.institution)) == 1
    assert [e.action for e in world.audits(result="denied")] == [
        "institution.agent_invite", "institution.agent_remove", "institution.agent_invitation_revoke"]
    assert {e.actor_id for e in world.audits(result="denied")} == {actor.id}


def test_R_ELIG_05_an_invitation_of_another_institution_is_not_found(world, org):
    other = world.institution(METROLOGY_CENTRE, uscc=USCC_METROLOGY_CENTRE, admin_name="黄建华")
    invitation, _token = _invite(other)
    with pytest.raises(NotFound):
        revoke_invitation(org.institution, invitation.id, actor=org.admin)
    assert db.session.get(AgentInvitation, invitation.id).revoked_at is None
