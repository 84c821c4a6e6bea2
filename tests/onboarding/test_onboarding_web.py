"""The onboarding pages (issue 4 item 8): the admin's wizard through the real forms with their
CSRF tokens, the agent's invitation page, the reviewers' queue and decisions, the status page,
exit and removal, and who may see what (SECURITY.md 9).

Until the onboarding migration lands, run with `QI_TEST_CREATE_ALL=1` (see conftest.py).
"""

from __future__ import annotations

import re
import uuid
from datetime import date, timedelta
from typing import Any

import pytest
from factory import USCC, eligible_institution
from flask.testing import FlaskClient
from onboarding_support import INTRODUCTION, VALUE_RE
from sqlalchemy import select

from core.db import db
from core.demo import sample_pdf
from core.identity.models import Role
from core.institutions.models import Institution, InstitutionStatus
from core.notifications.models import OutboxMessage
from core.onboarding import agents, commitment, exit, profile, workflow
from core.onboarding.eligibility import evaluate
from core.onboarding.models import Application, ApplicationState, RemovalNotice
from core.testing import TEST_PASSWORD

LEGAL_NAME = "佛山市顺德区检测认证有限公司"
ADMIN_PHONE = "13922000003"
AGENT_PHONE = "13922000101"


# ------------------------------------------------------------------ helpers


def csrf(client: FlaskClient, path: str, name: str = "csrf_token") -> str:
    """The CSRF token of the form field `name` on the page at `path`."""
    html = client.get(path).get_data(as_text=True)
    tags = re.findall(rf'<input[^>]*name="{re.escape(name)}"[^>]*>', html)
    assert tags, f"no {name} on {path}"
    return VALUE_RE.search(tags[0]).group(1)  # type: ignore[union-attr]


def login(app: Any, identifier: str) -> FlaskClient:
    client: FlaskClient = app.test_client()
    response = client.post("/login", data={"identifier": identifier, "password": TEST_PASSWORD,
                                           "csrf_token": csrf(client, "/login")})
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    return client


CSRF_FIELD = "csrf_token"


def post(client: FlaskClient, path: str, data: dict[str, Any], *, page: str | None = None,
         token_name: str = CSRF_FIELD) -> Any:
    """Post a form the way a browser does: with the CSRF token of the page that shows it."""
    return client.post(path, data={token_name: csrf(client, page or path, token_name), **data})


def multipart(fields: list[tuple[str, str]], filename: str, data: bytes) -> tuple[bytes, str]:
    """The documents upload body: the fields in the form's order, the file last (the view reads
    every field and the CSRF token before the first byte of the file)."""
    boundary = f"----QiOnboarding{uuid.uuid4().hex}"
    body = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields)
    body += (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"'
             f"\r\nContent-Type: application/pdf\r\n\r\n").encode() + data + b"\r\n"
    return body + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def upload(client: FlaskClient, institution_id: int, **values: str) -> Any:
    path = f"/institutions/{institution_id}/documents"
    fields = [("csrf_token", csrf(client, path)), ("idempotency_key", uuid.uuid4().hex)]
    fields += [(name, values.get(name, "")) for name in (
        "kind", "category_code", "certificate_number", "issuer", "valid_from", "valid_to", "scope")]
    body, content_type = multipart(fields, f"{values['kind']}.pdf", sample_pdf(values["kind"]))
    return client.post(path, data=body, content_type=content_type)


def text(response: Any) -> str:
    return response.get_data(as_text=True)


def state_of(institution_id: int) -> ApplicationState:
    db.session.expire_all()
    application = db.session.scalar(
        select(Application).where(Application.institution_id == institution_id))
    return application.state if application is not None else ApplicationState.DRAFT


def decide(client: FlaskClient, institution_id: int, action: str, **fields: Any) -> Any:
    """Post one of the review page's decision forms (its fields carry the action as prefix)."""
    page = f"/review/{institution_id}"
    return post(client, f"/review/{institution_id}/decide/{action}",
                {f"{action}-{k}": v for k, v in fields.items()}, page=page,
                token_name=f"{action}-csrf_token")


def submitted_institution(make_user: Any) -> tuple[Institution, Any]:
    institution, admin = eligible_institution(make_user)
    workflow.transition(institution.id, "submit", actor=admin)
    return institution, admin


# ------------------------------------------------------------------ the wizard, end to end


def test_wizard_happy_path_to_live_with_sms_R_ONB_01_R_ONB_03_R_ONB_05(app, world) -> None:
    """R-ONB-01/02/03/05, R-COM-01: an institution admin goes through every step of the wizard
    with the web forms — creates the institution, fills in the profile, chooses the testing
    category and two advantage items, invites an agent (who accepts through the link), uploads
    a business licence and a CMA certificate through the documents upload form, signs the
    commitment letter shown in full, checks and submits. The operator screens and passes it, the
    regulator approves: the institution is live and an SMS is queued to its admin."""
    world.user(Role.INSTITUTION_ADMIN, name="陈晓峰", phone=ADMIN_PHONE)
    admin = login(app, ADMIN_PHONE)

    # (0) start: no institution yet, so the creation form
    page = admin.get("/onboarding")
    assert page.status_code == 200 and 'id="start-form"' in text(page)
    response = post(admin, "/onboarding", {"legal_name": LEGAL_NAME, "uscc": USCC})
    assert response.status_code == 302
    institution = db.session.scalar(select(Institution).where(Institution.uscc == USCC))
    assert institution is not None and institution.legal_name == LEGAL_NAME
    base = f"/institutions/{institution.id}/onboarding"
    assert response.headers["Location"].endswith(f"{base}/profile")
    # the wizard resumes at the first step not done
    assert admin.get("/onboarding").headers["Location"].endswith(f"/institutions/{institution.id}/onboarding")
    assert admin.get(base).headers["Location"].endswith(f"{base}/profile")

    # (1) profile
    html = text(admin.get(f"{base}/profile"))
    assert 'data-step="profile" data-done="no"' in html and "资料" in html
    response = post(admin, f"{base}/profile", {
        "legal_name": LEGAL_NAME, "uscc": USCC, "institution_type": "enterprise",
        "legal_representative": "陈晓峰", "registered_address": "佛山市顺德区大良街道观绿路4号",
        "province_code": "440000", "city_code": "440600", "district_code": "440606",
        "contact_phone": "0757-22381234", "contact_email": "service@sdjc.example.cn",
        "website": "https://www.sdjc.example.cn", "introduction": INTRODUCTION})
    assert response.status_code == 302 and response.headers["Location"].endswith(f"{base}/categories")

    # (2) categories and advantage items (the third row left empty)
    html = text(admin.get(f"{base}/categories"))
    assert 'data-step="profile" data-done="yes"' in html and "检验检测" in html
    response = post(admin, f"{base}/categories", {
        "categories": "testing", "main_category": "testing",
        "items-0-category_code": "testing", "items-0-title": "家用电器安全检测",
        "items-0-description": "GB 4706 系列标准全项检测",
        "items-1-category_code": "testing", "items-1-title": "电器能效检测",
        "items-1-description": "", "items-2-category_code": "", "items-2-title": "",
        "items-2-description": ""})
    assert response.status_code == 302, text(response)[:2000]
    assert response.headers["Location"].endswith(f"{base}/agents")

    # (3) an agent: the link is shown once, the agent sets a password through it
    html = text(post(admin, f"{base}/agents", {"display_name": "客服 李敏", "phone": AGENT_PHONE,
                                                "email": ""}))
    link = re.search(r'<pre class="token" id="invitation-link">([^<]+)</pre>', html).group(1)
    token_path = link[link.index("/invitations/"):]
    assert token_path not in text(admin.get(f"{base}/agents"))  # shown once
    invitee: FlaskClient = app.test_client()
    html = text(invitee.get(token_path))
    assert LEGAL_NAME in html and "139****0101" in html
    response = post(invitee, token_path, {"password": TEST_PASSWORD})
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/institutions/{institution.id}/application")
    assert invitee.get(f"/institutions/{institution.id}/application").status_code == 200
    assert "客服 李敏" in text(admin.get(f"{base}/agents"))

    # (4) documents: both missing, uploaded through the documents form, then complete
    html = text(admin.get(f"{base}/documents"))
    assert 'id="documents-missing"' in html and 'data-code="R-ELIG-02" data-passed="no"' in html
    assert f'href="/institutions/{institution.id}/documents"' in html
    assert upload(admin, institution.id, kind="business_licence", certificate_number=USCC,
                  issuer="佛山市顺德区市场监督管理局", valid_from="2019-04-18",
                  valid_to="2030-01-01").status_code == 302
    assert upload(admin, institution.id, kind="cma", category_code="testing",
                  certificate_number="201919123456", issuer="广东省市场监督管理局",
                  valid_from="2023-01-01", valid_to="2029-12-31",
                  scope="家用电器 共 312 项参数").status_code == 302
    html = text(admin.get(f"{base}/documents"))
    assert 'id="documents-complete"' in html and 'data-step="documents" data-done="yes"' in html

    # (5) the commitment letter, in full, then signed (R-COM-01)
    html = text(admin.get(f"{base}/commitment"))
    for item in commitment.letter_v1()["items"]:
        assert item in html
    assert commitment.letter_v1()["title"] in html and commitment.letter_v1()["closing"] in html
    unconfirmed = post(admin, f"{base}/commitment", {
        "version_id": str(commitment.current_version().id), "signer_name": "陈晓峰",
        "signer_title": "总经理"})
    assert unconfirmed.status_code == 400 and 'id="confirm-error"' in text(unconfirmed)
    response = post(admin, f"{base}/commitment", {
        "version_id": str(commitment.current_version().id), "signer_name": "陈晓峰",
        "signer_title": "总经理", "confirm": "y"})
    assert response.status_code == 302 and response.headers["Location"].endswith(f"{base}/check")
    signature = commitment.current_signature(institution)
    assert signature is not None and signature.signer_title == "总经理" and signature.ip

    # (6) self-check: every condition met, each shown with its code
    html = text(admin.get(f"{base}/check"))
    assert 'data-passed="no"' not in html
    for code in ("R-ONB-01", "R-ELIG-01", "R-ELIG-02", "R-ELIG-03", "R-ELIG-04", "R-ELIG-05",
                 "R-ELIG-06"):
        assert f'data-code="{code}" data-passed="yes"' in html

    # (7) submit
    response = post(admin, f"{base}/submit", {})
    assert response.status_code == 302, text(response)[:2000]
    assert state_of(institution.id) is ApplicationState.SUBMITTED
    html = text(admin.get(f"/institutions/{institution.id}/application"))
    assert 'data-state="submitted"' in html

    # the operator screens and passes it
    operator = world.operator()
    staff = login(app, operator.email)
    queue = text(staff.get("/review"))
    assert LEGAL_NAME in queue and 'data-days="0"' in queue
    review = text(staff.get(f"/review/{institution.id}"))
    assert 'id="decision-start_screening"' in review and 'id="decision-approve"' not in review
    assert 'href="/documents/' in review
    assert decide(staff, institution.id, "start_screening").status_code == 302
    assert decide(staff, institution.id, "pass_screening",
                  reason="资质、技术能力与信用情况初审通过").status_code == 302
    assert state_of(institution.id) is ApplicationState.REVIEW

    # the regulator approves: live, and an SMS to the admin (R-ONB-05)
    regulator = login(app, world.regulator().email)
    assert 'id="decision-approve"' in text(regulator.get(f"/review/{institution.id}"))
    assert decide(regulator, institution.id, "approve").status_code == 302
    assert state_of(institution.id) is ApplicationState.APPROVED
    assert world.reload(type("O", (), {"id": institution.id})()).status is InstitutionStatus.LIVE
    sms = db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.channel == "sms", OutboxMessage.template == "application_approved")).all()
    assert [m.address for m in sms] == [ADMIN_PHONE]

    html = text(admin.get(f"/institutions/{institution.id}/application"))
    assert 'data-state="approved"' in html and "资质、技术能力与信用情况初审通过" in html
    assert 'id="exit-form"' in html  # a live institution may ask to leave


# ------------------------------------------------------------------ every failure at once


def test_submit_with_failures_lists_every_failed_condition_R_ELIG_10(app, world) -> None:
    """R-ELIG-10: submitting an institution that has only been created shows every condition
    that fails — profile, licence, commitment, agents, advantage items — not only the first."""
    world.user(Role.INSTITUTION_ADMIN, name="陈晓峰", phone=ADMIN_PHONE)
    admin = login(app, ADMIN_PHONE)
    post(admin, "/onboarding", {"legal_name": LEGAL_NAME, "uscc": USCC})
    institution = db.session.scalar(select(Institution).where(Institution.uscc == USCC))
    path = f"/institutions/{institution.id}/onboarding/submit"

    response = post(admin, path, {})

    assert response.status_code == 400
    html = text(response)
    listed = html[html.index('id="failed-conditions"'):]
    expected = evaluate(institution, workflow.local_today()).failures
    assert len(expected) >= 5
    assert listed.count('data-passed="no"') == len(expected)
    for code in ("R-ONB-01", "R-ELIG-01", "R-ELIG-04", "R-ELIG-05", "R-ELIG-06"):
        assert f'data-code="{code}" data-passed="no"' in listed
    for failure in expected:
        assert failure.message in html
    assert state_of(institution.id) is ApplicationState.DRAFT


def test_self_check_shows_evidence_of_a_failed_document_R_ELIG_02(app, make_user) -> None:
    """R-ELIG-02, R-ELIG-10: an expired CMA certificate fails the self-check, its message names
    the document and the evidence links the document looked at."""
    institution, _admin = eligible_institution(make_user, cma_until=date(2026, 1, 31))
    client = login(app, ADMIN_PHONE)

    html = text(client.get(f"/institutions/{institution.id}/onboarding/check"))

    assert 'data-code="R-ELIG-02" data-passed="no"' in html
    assert "CMA" in html and re.search(r'href="/documents/\d+"', html)
    assert 'data-step="check" data-done="no"' in html


# ------------------------------------------------------------------ review and status


def test_materials_request_and_onsite_visit_show_on_the_status_page_R_ONB_04(app, world,
                                                                             make_user) -> None:
    """R-ONB-04: the operator schedules an on-site visit (date, time, place), records its
    result, and the regulator asks for more materials with a deadline in working days; the
    institution's status page shows the visit, the deadline and every reviewer message."""
    institution, _admin = submitted_institution(make_user)
    operator = login(app, world.operator().email)
    decide(operator, institution.id, "start_screening")
    visit_day = workflow.local_today() + timedelta(days=3)
    response = decide(operator, institution.id, "schedule_onsite",
                      onsite_date=visit_day.isoformat(), onsite_time="09:30",
                      onsite_place="佛山市顺德区大良街道观绿路4号 3楼实验室")
    assert response.status_code == 302
    assert decide(operator, institution.id, "record_onsite",
                  reason="现场核查：实验室环境与设备符合要求").status_code == 302
    regulator = login(app, world.regulator().email)
    missing_reason = decide(regulator, institution.id, "request_materials", reason="",
                            working_days="10")
    assert missing_reason.status_code == 400
    assert decide(regulator, institution.id, "request_materials",
                  reason="请补充近两年检测报告样本", working_days="10").status_code == 302
    assert state_of(institution.id) is ApplicationState.MATERIALS_REQUESTED

    html = text(login(app, ADMIN_PHONE).get(f"/institutions/{institution.id}/application"))

    deadline = db.session.scalar(select(Application.materials_deadline).where(
        Application.institution_id == institution.id))
    assert f"<strong>{deadline.isoformat()}</strong>" in html
    assert f"{visit_day.isoformat()} 09:30" in html and "3楼实验室" in html
    for message in ("现场核查：实验室环境与设备符合要求", "请补充近两年检测报告样本"):
        assert message in html
    assert 'id="continue"' in html  # the admin can add materials and submit again


def test_reject_needs_a_reason_and_the_admin_can_reopen_R_ONB_03(app, world, make_user) -> None:
    """R-ONB-03: the regulator's rejection needs a reason, which the institution reads on its
    status page; after a rejection the admin reopens the application for a second round."""
    institution, _admin = submitted_institution(make_user)
    operator = login(app, world.operator().email)
    decide(operator, institution.id, "start_screening")
    decide(operator, institution.id, "pass_screening")
    regulator = login(app, world.regulator().email)

    without = decide(regulator, institution.id, "reject", reason="")
    assert without.status_code == 400 and 'id="reject-reason-error"' in text(without)
    assert decide(regulator, institution.id, "reject",
                  reason="CMA 能力范围与申报的优势服务项目不符").status_code == 302

    admin = login(app, ADMIN_PHONE)
    status_path = f"/institutions/{institution.id}/application"
    html = text(admin.get(status_path))
    assert 'data-state="rejected"' in html and "CMA 能力范围与申报的优势服务项目不符" in html
    assert post(admin, f"/institutions/{institution.id}/application/reopen", {},
                page=status_path).status_code == 302
    assert state_of(institution.id) is ApplicationState.DRAFT
    assert db.session.scalar(select(Application.round).where(
        Application.institution_id == institution.id)) == 2


def test_review_queue_filters_by_state_and_category(app, world, make_user) -> None:
    """The queue lists waiting applications with the days waiting, filtered by state and by
    category."""
    institution, _admin = submitted_institution(make_user)
    client = login(app, world.operator().email)

    assert institution.legal_name in text(client.get("/review?state=submitted&category=testing"))
    assert institution.legal_name not in text(client.get("/review?state=review"))
    assert institution.legal_name not in text(client.get("/review?category=metrology"))


# ------------------------------------------------------------------ exit and removal


def test_live_institution_exits_when_nothing_is_open_R_ONB_06(app, make_user) -> None:
    """R-ONB-06: a live institution's admin writes an exit request on the status page; with no
    open matter the exit completes at once."""
    institution, _admin = eligible_institution(make_user)
    institution.status = InstitutionStatus.LIVE
    db.session.commit()
    admin = login(app, ADMIN_PHONE)
    path = f"/institutions/{institution.id}/application"
    assert 'id="open-matters"' in text(admin.get(path))

    response = post(admin, f"/institutions/{institution.id}/exit",
                    {"letter": "因公司业务调整，申请退出佛山企质通平台。"}, page=path)

    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Institution, institution.id).status is InstitutionStatus.EXITED


def test_regulator_removal_notice_then_public_removed_list_R_ONB_07(app, world, make_user) -> None:
    """R-ONB-07: the regulator issues a removal notice with a reason and details from the review
    page; once the legacy period is over the institution is on the public /removed page."""
    institution, _admin = eligible_institution(make_user)
    institution.status = InstitutionStatus.LIVE
    db.session.commit()
    regulator = login(app, world.regulator().email)
    page = f"/review/{institution.id}"

    no_details = post(regulator, f"/review/{institution.id}/removal",
                      {"removal-reason": "failed_assessment", "removal-details": ""}, page=page,
                      token_name="removal-csrf_token")
    assert no_details.status_code == 400
    response = post(regulator, f"/review/{institution.id}/removal",
                    {"removal-reason": "failed_assessment",
                     "removal-details": "2026年度考核得分52分，未达到60分合格线"}, page=page,
                    token_name="removal-csrf_token")
    assert response.status_code == 302
    notice = db.session.scalar(select(RemovalNotice))
    exit.complete_due_removals(notice.legacy_deadline + timedelta(days=1))

    html = text(app.test_client().get("/removed"))  # no login needed

    assert institution.legal_name in html and "年度考核不合格" in html


# ------------------------------------------------------------------ who may do what


def test_agent_sees_the_status_page_but_cannot_edit_sign_or_submit(app, world, make_user) -> None:
    """SECURITY.md 9, R-ELIG-04: the institution's agent sees the status page, but the wizard's
    pages, signing and submitting are forbidden to it (403) and the refusals are audited."""
    institution, _admin = eligible_institution(make_user, sign=False)
    client = login(app, "13922000100")  # the factory's first agent
    base = f"/institutions/{institution.id}/onboarding"

    assert client.get(f"/institutions/{institution.id}/application").status_code == 200
    assert client.get(f"{base}/profile").status_code == 403
    token = csrf(client, f"/institutions/{institution.id}/application")
    assert client.post(f"{base}/commitment", data={
        "csrf_token": token, "version_id": str(commitment.current_version().id),
        "signer_name": "客服1", "signer_title": "客服", "confirm": "y"}).status_code == 403
    assert client.post(f"{base}/submit", data={"csrf_token": token}).status_code == 403

    assert commitment.current_signature(institution) is None
    assert state_of(institution.id) is ApplicationState.DRAFT
    assert len(world.audits("onboarding.access_denied", result="denied")) == 3


def test_another_institutions_admin_gets_404(app, world, make_user) -> None:
    """SECURITY.md 9: the admin of another institution finds none of this one's pages (404),
    cannot submit it, and each attempt is audited."""
    institution, _admin = eligible_institution(make_user)
    other = world.institution("佛山市南海区计量检测有限公司", uscc="12440600455848786R",
                              admin_name="黄伟")
    client = login(app, other.admin.email)
    token = csrf(client, "/account")

    for path in (f"/institutions/{institution.id}/application",
                 f"/institutions/{institution.id}/onboarding/profile",
                 f"/institutions/{institution.id}/onboarding/commitment"):
        assert client.get(path).status_code == 404, path
    assert client.post(f"/institutions/{institution.id}/onboarding/submit",
                       data={"csrf_token": token}).status_code == 404
    assert state_of(institution.id) is ApplicationState.DRAFT
    assert len(world.audits("onboarding.access_denied", result="denied")) == 4


@pytest.mark.parametrize("role", [Role.ENTERPRISE, Role.INSTITUTION_ADMIN])
def test_only_operators_and_regulators_see_the_review_pages(app, world, make_user, role) -> None:
    """SECURITY.md 9: an enterprise or an institution admin gets 403 on the review queue, the
    review page and the decision forms; an enterprise finds no institution page (404)."""
    institution, _admin = submitted_institution(make_user)
    user = world.user(role, name="佛山市顺德区美达电器有限公司 何志强")
    client = login(app, user.email)
    token = csrf(client, "/account")

    assert client.get("/review").status_code == 403
    assert client.get(f"/review/{institution.id}").status_code == 403
    assert client.post(f"/review/{institution.id}/decide/start_screening",
                       data={"start_screening-csrf_token": token}).status_code == 403
    assert client.get(f"/institutions/{institution.id}/application").status_code == 404
    assert state_of(institution.id) is ApplicationState.SUBMITTED


def test_operator_cannot_approve_through_the_form(app, world, make_user) -> None:
    """R-ONB-03: only the regulator decides; the operator's page offers no approval and a
    forged approval post is refused by the workflow."""
    institution, _admin = submitted_institution(make_user)
    client = login(app, world.operator().email)
    decide(client, institution.id, "start_screening")
    decide(client, institution.id, "pass_screening")

    assert 'id="decision-approve"' not in text(client.get(f"/review/{institution.id}"))
    token = csrf(client, f"/review/{institution.id}", "request_materials-csrf_token")
    response = client.post(f"/review/{institution.id}/decide/approve",
                           data={"approve-csrf_token": token})
    assert response.status_code == 403
    assert state_of(institution.id) is ApplicationState.REVIEW


def test_invitation_link_for_someone_else_is_not_accepted(app, world, make_user) -> None:
    """R-ELIG-05: a logged-in person whose contacts are not the invitation's cannot take the
    agent seat; an unknown token is "not found"."""
    institution, admin = eligible_institution(make_user, agent_count=0)
    _invitation, token = agents.invite_agent(institution, display_name="客服 周静",
                                             phone="13922000102", actor=admin)
    stranger = login(app, world.user(Role.ENTERPRISE).email)

    html = text(stranger.get(f"/invitations/{token}"))
    assert 'id="invitation-other-user"' in html and 'id="accept-form"' not in html
    assert app.test_client().get("/invitations/not-a-real-token").status_code == 404
    assert agents.agents_of(institution) == []


def test_start_form_refuses_a_wrong_credit_code_R_ELIG_01(app, world) -> None:
    """R-ELIG-01: a credit code with a wrong check digit is refused under its field and no
    institution is created."""
    world.user(Role.INSTITUTION_ADMIN, name="陈晓峰", phone=ADMIN_PHONE)
    admin = login(app, ADMIN_PHONE)

    response = post(admin, "/onboarding", {"legal_name": LEGAL_NAME, "uscc": "91440606MA4UHF0X18"})

    assert response.status_code == 400 and 'id="uscc-error"' in text(response)
    assert db.session.scalar(select(Institution)) is None


def test_one_advantage_item_is_refused_on_the_categories_step_R_ELIG_06(app, world, org) -> None:
    """R-ELIG-06: with a single advantage item the categories step shows the 2-3 rule and saves
    nothing."""
    client = login(app, org.admin.email)
    path = f"/institutions/{org.id}/onboarding/categories"

    response = post(client, path, {"categories": "testing", "main_category": "testing",
                                   "items-0-category_code": "testing",
                                   "items-0-title": "家用电器安全检测"})

    assert response.status_code == 400 and 'id="items-error"' in text(response)
    assert profile.institution_categories(org.institution) == []


def test_logged_in_person_named_by_the_invitation_accepts_it_R_ELIG_05(app, world,
                                                                      make_user) -> None:
    """R-ELIG-05: a person who already has an account with the invited mobile number opens the
    link logged in and accepts with one button; they become the institution's agent."""
    institution, admin = eligible_institution(make_user, agent_count=0)
    person = world.user(Role.ENTERPRISE, name="周静", phone="13922000102")
    _invitation, token = agents.invite_agent(institution, display_name="客服 周静",
                                             phone="13922000102", actor=admin)
    client = login(app, person.email)
    path = f"/invitations/{token}"
    assert 'id="accept-submit"' in text(client.get(path))

    response = post(client, path, {})

    assert response.status_code == 302
    assert [a.id for a in agents.agents_of(institution)] == [person.id]
    assert client.get(f"/institutions/{institution.id}/application").status_code == 200
