"""Server-rendered pages: forms with CSRF, limits, headers (SECURITY.md 1, 3, 8)."""

from __future__ import annotations

import re

from core.identity.models import Role
from core.testing import TEST_PASSWORD


def _csrf(client, path: str) -> str:
    html = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


def test_home_page_lists_the_categories_in_chinese(client):
    html = client.get("/").get_data(as_text=True)
    for name in ("计量", "检验检测", "认证认可", "知识产权", "设备共享/实验室共享"):
        assert name in html
    assert 'name="viewport"' in html  # usable on a phone


def test_a_form_post_without_csrf_token_is_refused(client, make_user):
    make_user(Role.ENTERPRISE, phone="13912345678")
    response = client.post("/login", data={"identifier": "13912345678", "password": TEST_PASSWORD})
    assert response.status_code == 400
    assert client.get("/account").status_code == 302


def test_register_through_the_form_logs_in_and_shows_the_account(client):
    response = client.post("/register", data={
        "role": "institution_admin", "display_name": "佛山市计量检测研究院 王强",
        "phone": "13822223333", "email": "", "password": "Jiliang-2026",
        "csrf_token": _csrf(client, "/register")})
    assert response.status_code == 302
    page = client.get("/account").get_data(as_text=True)
    assert "佛山市计量检测研究院 王强" in page and "机构管理员" in page


def test_register_form_shows_each_problem_under_its_field(client):
    html = client.post("/register", data={
        "role": "enterprise", "display_name": "张三", "phone": "12345", "password": "short",
        "csrf_token": _csrf(client, "/register")}).get_data(as_text=True)
    assert 'id="phone-error"' in html and 'id="password-error"' in html


def test_logout_is_post_only_with_csrf(client, make_user):
    make_user(Role.ENTERPRISE, phone="13912345678")
    client.post("/login", data={"identifier": "13912345678", "password": TEST_PASSWORD,
                                "csrf_token": _csrf(client, "/login")})
    assert client.get("/logout").status_code == 405
    assert client.post("/logout").status_code == 400  # no CSRF token: still logged in
    assert client.get("/account").status_code == 200


def test_issue_and_revoke_a_token_on_the_account_page(app, client, make_user):
    make_user(Role.ENTERPRISE, phone="13912345678")
    client.post("/login", data={"identifier": "13912345678", "password": TEST_PASSWORD,
                                "csrf_token": _csrf(client, "/login")})
    html = client.post("/account/tokens", data={
        "name": "ERP对接", "expires_in_days": "30", "password": TEST_PASSWORD,
        "csrf_token": _csrf(client, "/account")}).get_data(as_text=True)
    token = re.search(r'<pre class="token" id="new-token">(qit_[^<]+)</pre>', html).group(1)
    assert token not in client.get("/account").get_data(as_text=True)  # shown once
    token_id = re.search(r"/account/tokens/(\d+)/revoke", html).group(1)
    client.post(f"/account/tokens/{token_id}/revoke", data={"csrf_token": _csrf(client, "/account")})
    viewer = app.test_client().post("/graphql", json={"query": "{ viewer { id } }"},
                         headers={"Authorization": f"Bearer {token}"}).get_json()
    assert viewer["data"]["viewer"] is None


def test_an_oversize_body_gets_413_in_chinese_without_being_read(app, client):
    """SECURITY.md 1: MAX_CONTENT_LENGTH refuses before the body is read."""
    limit = app.config["MAX_CONTENT_LENGTH"]
    response = client.post("/login", data=b"x" * (limit + 1),
                           content_type="application/x-www-form-urlencoded")
    assert response.status_code == 413
    assert "上传文件过大" in response.get_data(as_text=True) or "过大" in response.get_data(
        as_text=True)


def test_too_many_form_parts_get_413(app, client):
    parts = {f"f{i}": "x" for i in range(app.config["MAX_FORM_PARTS"] + 5)}
    response = client.post("/login", data=parts, content_type="multipart/form-data")
    assert response.status_code == 413


def test_pages_send_security_headers(client):
    response = client.get("/login")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_language_switch_only_redirects_inside_the_site(client):
    assert client.get("/lang/en?next=https://evil.example/").headers["Location"] == "/"
    assert client.get("/lang/en?next=//evil.example/").headers["Location"] == "/"
    assert client.get("/lang/en?next=/login").headers["Location"] == "/login"
    assert "Log in" in client.get("/login").get_data(as_text=True)


def test_login_next_parameter_cannot_redirect_off_site(client, make_user):
    make_user(Role.ENTERPRISE, phone="13912345678")
    response = client.post("/login?next=https://evil.example/", data={
        "identifier": "13912345678", "password": TEST_PASSWORD,
        "csrf_token": _csrf(client, "/login")})
    assert response.headers["Location"] == "/"
