"""Identity: registration, login, lock-out, sessions and tokens (SECURITY.md 5-8, 14)."""

from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from core.audit.models import AuditEvent
from core.db import db, utcnow
from core.errors import AccountLocked, AuthenticationFailed, ErrorCode, InvalidInput
from core.identity import service
from core.identity.models import LoginSession, Role
from core.testing import TEST_PASSWORD


def _csrf(client, path: str = "/login") -> str:
    html = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


def _web_login(client, identifier: str, password: str = TEST_PASSWORD):
    return client.post("/login", data={"identifier": identifier, "password": password,
                                       "csrf_token": _csrf(client)})


def _audit(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)
                                   .order_by(AuditEvent.id)))


# ------------------------------------------------------------------ registration and policy


@pytest.mark.parametrize(("password", "code"), [
    ("Ab1", ErrorCode.PASSWORD_TOO_SHORT),
    ("abcdefghij", ErrorCode.PASSWORD_TOO_SIMPLE),   # one class only
    ("1111111111", ErrorCode.PASSWORD_TOO_SIMPLE),
    ("password123", ErrorCode.PASSWORD_TOO_COMMON),
])
def test_password_policy_refuses_weak_passwords(app, password, code):
    with pytest.raises(InvalidInput) as err:
        service.register(display_name="王五", password=password, role=Role.ENTERPRISE,
                         phone="13800138000")
    assert code in {p.code for p in err.value.problems}
    assert all(p.field == "password" for p in err.value.problems)


def test_register_lists_every_problem_at_once_and_writes_nothing(app, make_user):
    make_user(Role.ENTERPRISE, phone="13800138000")
    with pytest.raises(InvalidInput) as err:
        service.register(display_name="", password="x", role=Role.ENTERPRISE,
                         phone="13800138000", email="not-an-email")
    fields = {p.field for p in err.value.problems}
    assert {"displayName", "phone", "email", "password"} <= fields
    assert len(_audit("user.register")) == 0


def test_staff_roles_cannot_be_self_registered(app):
    with pytest.raises(InvalidInput) as err:
        service.register(display_name="假冒监管", password=TEST_PASSWORD, role=Role.REGULATOR,
                         phone="13800138000")
    assert err.value.field == "role"


def test_password_is_stored_with_argon2(app, make_user):
    user = make_user(Role.ENTERPRISE)
    assert user.password_hash.startswith("$argon2id$")
    assert TEST_PASSWORD not in user.password_hash


def test_login_by_phone_with_country_prefix_and_by_email(app, make_user):
    user = make_user(Role.ENTERPRISE, phone="13912345678", email="Q@Example.cn")
    assert service.authenticate("+86 139-1234-5678", TEST_PASSWORD).id == user.id
    assert service.authenticate("q@example.CN", TEST_PASSWORD).id == user.id


# ------------------------------------------------------------------ lock-out (SECURITY.md 6)


def test_unknown_user_and_wrong_password_get_the_same_answer(app, make_user):
    make_user(Role.ENTERPRISE, phone="13912345678")
    with pytest.raises(AuthenticationFailed) as unknown:
        service.authenticate("13900000000", TEST_PASSWORD)
    with pytest.raises(AuthenticationFailed) as wrong:
        service.authenticate("13912345678", "Wrong-pass-1")
    assert unknown.value.message == wrong.value.message
    assert unknown.value.code == wrong.value.code


def test_five_failures_lock_and_the_sixth_right_password_is_refused_with_retry_time(app, make_user):
    user = make_user(Role.ENTERPRISE, phone="13912345678")
    for _ in range(4):
        with pytest.raises(AuthenticationFailed):
            service.authenticate("13912345678", "Wrong-pass-1")
    with pytest.raises(AccountLocked):
        service.authenticate("13912345678", "Wrong-pass-1")  # the 5th failure locks
    with pytest.raises(AccountLocked) as sixth:
        service.authenticate("13912345678", TEST_PASSWORD)
    until = sixth.value.until
    assert timedelta(minutes=14) < until - utcnow() <= timedelta(minutes=15)
    local = until.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%H:%M")
    assert local in sixth.value.message  # says when to retry, in China time

    attempts = _audit("auth.login")
    assert [a.result for a in attempts] == ["failed"] * 5 + ["locked"]
    assert all(a.object_id == str(user.id) for a in attempts)
    assert all(a.after == {"identifier": "139****5678"} for a in attempts)  # masked
    assert len(_audit("auth.lockout")) == 1


def test_lock_expires_after_the_configured_minutes(app, make_user):
    user = make_user(Role.ENTERPRISE, phone="13912345678")
    for _ in range(5):
        with pytest.raises((AuthenticationFailed, AccountLocked)):
            service.authenticate("13912345678", "Wrong-pass-1")
    user.locked_until = utcnow() - timedelta(seconds=1)  # the lock has run out
    db.session.commit()
    assert service.authenticate("13912345678", TEST_PASSWORD).id == user.id


def test_failures_outside_the_window_do_not_count(app, make_user):
    app.config["LOGIN_FAILURE_WINDOW_MINUTES"] = 15
    make_user(Role.ENTERPRISE, phone="13912345678")
    for _ in range(4):
        with pytest.raises(AuthenticationFailed):
            service.authenticate("13912345678", "Wrong-pass-1")
    from core.identity.models import LoginFailure

    for row in db.session.scalars(select(LoginFailure)):
        row.at = utcnow() - timedelta(minutes=16)
    db.session.commit()
    with pytest.raises(AuthenticationFailed):  # a 5th failure, but only 1 in the window
        service.authenticate("13912345678", "Wrong-pass-1")


def test_lockout_numbers_are_configurable(app, make_user):
    app.config.update(LOGIN_MAX_FAILURES=2, LOGIN_LOCK_MINUTES=60)
    make_user(Role.ENTERPRISE, phone="13912345678")
    with pytest.raises(AuthenticationFailed):
        service.authenticate("13912345678", "Wrong-pass-1")
    with pytest.raises(AccountLocked) as locked:
        service.authenticate("13912345678", "Wrong-pass-1")
    assert locked.value.until - utcnow() > timedelta(minutes=59)


def test_web_lockout_message_names_the_retry_time(client, make_user):
    make_user(Role.ENTERPRISE, phone="13912345678")
    for _ in range(5):
        _web_login(client, "13912345678", "Wrong-pass-1")
    html = _web_login(client, "13912345678").get_data(as_text=True)
    assert re.search(r"\d\d:\d\d", html)
    assert client.get("/account").status_code == 302  # still not logged in


# ------------------------------------------------------------------ sessions (SECURITY.md 7-8)


def test_login_issues_a_new_session_id(client, make_user):
    make_user(Role.ENTERPRISE, phone="13912345678")
    client.get("/login")
    before = client.get_cookie("qi_session").value
    _web_login(client, "13912345678")
    after = client.get_cookie("qi_session").value
    assert before != after
    sessions = db.session.scalars(select(LoginSession)).all()
    assert len(sessions) == 1


def test_cookie_copied_before_logout_is_refused_after_it(app, client, make_user):
    make_user(Role.ENTERPRISE, phone="13912345678")
    _web_login(client, "13912345678")
    assert client.get("/account").status_code == 200
    stolen = client.get_cookie("qi_session").value

    client.post("/logout", data={"csrf_token": _csrf(client, "/account")})
    assert client.get("/account").status_code == 302

    attacker = app.test_client()
    attacker.set_cookie("qi_session", stolen)
    response = attacker.get("/account")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    gql = attacker.post("/graphql", json={"query": "{ viewer { id } }"}).get_json()
    assert gql["data"]["viewer"] is None


def test_password_change_ends_other_sessions_and_tokens_but_not_this_one(app, client, make_user):
    user = make_user(Role.ENTERPRISE, phone="13912345678")
    other = app.test_client()
    _web_login(other, "13912345678")
    _token, raw = service.issue_token(user, name="小程序")
    _web_login(client, "13912345678")

    response = client.post("/account/password", data={
        "current_password": TEST_PASSWORD, "new_password": "New-pass-2026",
        "csrf_token": _csrf(client, "/account")})
    assert response.status_code == 302
    assert client.get("/account").status_code == 200
    assert other.get("/account").status_code == 302
    assert service.resolve_token(raw) is None
    assert len(_audit("user.password_change")) == 1


def test_deactivation_ends_sessions_and_tokens(app, client, make_user):
    user = make_user(Role.ENTERPRISE, phone="13912345678")
    _web_login(client, "13912345678")
    _token, raw = service.issue_token(user, name="对接系统")
    service.set_active(user, False)
    assert client.get("/account").status_code == 302
    assert service.resolve_token(raw) is None
    with pytest.raises(AuthenticationFailed):
        service.authenticate("13912345678", TEST_PASSWORD)


def test_idle_session_expires_after_30_minutes(app, client, make_user):
    make_user(Role.ENTERPRISE, phone="13912345678")
    _web_login(client, "13912345678")
    row = db.session.scalars(select(LoginSession)).one()
    row.last_seen_at = utcnow() - timedelta(minutes=31)
    db.session.commit()
    assert client.get("/account").status_code == 302


def test_session_cookie_flags(app, client, make_user):
    make_user(Role.ENTERPRISE, phone="13912345678")
    client.get("/login")
    response = _web_login(client, "13912345678")
    cookie = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("qi_session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "remember_token" not in " ".join(response.headers.getlist("Set-Cookie"))


def test_production_cookies_are_secure(app_config):
    from core.app import create_app

    app_config.update(QI_ENV="production")
    prod = create_app(app_config)
    assert prod.config["SESSION_COOKIE_SECURE"] is True
    assert prod.config["REMEMBER_COOKIE_SECURE"] is True


# ------------------------------------------------------------------ API tokens


def test_token_is_shown_once_stored_hashed_and_accepted_as_bearer(app, client, make_user):
    user = make_user(Role.ENTERPRISE, phone="13912345678")
    token, raw = service.issue_token(user, name="前端应用", days=30)
    assert raw not in token.token_hash and raw.startswith("qit_")
    body = client.post("/graphql", json={"query": "{ viewer { id displayName } }"},
                       headers={"Authorization": f"Bearer {raw}"}).get_json()
    assert body["data"]["viewer"]["id"] == str(user.id)


def test_revoked_and_expired_tokens_are_refused(app, client, make_user):
    user = make_user(Role.ENTERPRISE, phone="13912345678")
    revoked, raw_revoked = service.issue_token(user, name="a")
    expired, raw_expired = service.issue_token(user, name="b", days=1)
    service.revoke_token(user, revoked.id)
    expired.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    for raw in (raw_revoked, raw_expired, "qit_forged"):
        body = client.post("/graphql", json={"query": "{ viewer { id } }"},
                           headers={"Authorization": f"Bearer {raw}"}).get_json()
        assert body["data"]["viewer"] is None
    assert [a.action for a in _audit("token.issue")] == ["token.issue"] * 2
    assert len(_audit("token.revoke")) == 1


def test_token_lifetime_is_bounded(app, make_user):
    user = make_user(Role.ENTERPRISE)
    with pytest.raises(InvalidInput) as err:
        service.issue_token(user, name="永久", days=10_000)
    assert err.value.field == "expiresInDays"


def test_role_changes_are_audited_and_need_a_system_admin(app, make_user):
    admin = make_user(Role.SYSADMIN)
    user = make_user(Role.ENTERPRISE)
    service.set_roles(user, [Role.OPERATOR], actor=admin)
    assert user.roles == {Role.OPERATOR}
    event = _audit("user.roles_change")[-1]
    assert event.before == {"roles": ["enterprise"]} and event.after == {"roles": ["operator"]}
    assert event.actor_id == admin.id
    from core.errors import PermissionDenied

    with pytest.raises(PermissionDenied):
        service.set_roles(admin, [Role.ENTERPRISE], actor=user)
