"""Onboarding over GraphQL (issue 4 item 9): the journey from registration to a live institution,
who may read and change what (SECURITY.md 9), masked contacts (SECURITY.md 10), errors as data
(R-ELIG-10, illegal transitions)."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from typing import Any

from factory import eligible_institution
from onboarding_support import (
    INTRODUCTION,
    METROLOGY_CENTRE,
    SHUNDE_CO,
    USCC_BAD_CHECK_DIGIT,
    USCC_METROLOGY_CENTRE,
    USCC_SHUNDE_CO,
)
from sqlalchemy import select

from core.db import db
from core.demo import sample_pdf
from core.documents import service as documents
from core.identity.models import Role, User
from core.institutions.models import Institution, InstitutionStatus
from core.notifications.models import OutboxMessage
from core.onboarding import agents, commitment, workflow
from core.onboarding.models import (
    Application,
    ApplicationEvent,
    ApplicationState,
    CommitmentSignature,
)
from core.testing import TEST_PASSWORD, GraphQLClient

ADMIN_PHONE = "13922000003"
AGENT_PHONE = "13922000101"
BROWSER = "Mozilla/5.0 (QI test browser)"

LOGIN = """mutation($i: LoginInput!) { login(input: $i) { __typename } }"""
RESULT = "__typename ... on UserError { code message field }"
APPLICATION_RESULT = f"""{RESULT}
  ... on ApplicationSuccess {{ application {{ state round history {{ fromState toState actorName
      reason }} }} }}
  ... on IneligibleError {{ failures {{ code passed message evidence subject }} }}
  ... on IllegalTransitionError {{ state }}
  ... on InvalidInputError {{ problems {{ field code }} }}"""


def _client(app: Any, identifier: str | None, password: str = TEST_PASSWORD) -> GraphQLClient:
    """A browser of its own, logged in through the GraphQL login mutation (None: anonymous)."""
    gql = GraphQLClient(app.test_client())
    if identifier is not None:
        body = gql(LOGIN, {"i": {"identifier": identifier, "password": password}})
        assert body["data"]["login"]["__typename"] == "LoginSuccess", body
    return gql


def as_user(app: Any, user: User) -> GraphQLClient:
    return _client(app, user.email or user.phone)


def _data(body: dict[str, Any], field: str) -> Any:
    assert "errors" not in body, body["errors"]
    return body["data"][field]


def _upload(institution: Institution, admin: User, **meta: Any) -> None:
    checked = documents.validate_meta(meta, institution)
    documents.store_upload(institution, checked, io.BytesIO(sample_pdf(meta["kind"])),
                           filename=f"{meta['kind']}.pdf", actor=admin)


def _transition(gql: GraphQLClient, mutation: str, institution_id: Any, **args: Any) -> Any:
    params = "".join(f", {k}: {v}" for k, v in args.items())
    body = gql(f'mutation {{ r: {mutation}(institutionId: "{institution_id}"{params}) '
               f"{{ {APPLICATION_RESULT} }} }}")
    return _data(body, "r")


def _staff(make_user: Any) -> dict[str, User]:
    return {"operator": make_user(Role.OPERATOR, name="运维机构 黄晓婷"),
            "regulator": make_user(Role.REGULATOR, name="佛山市市场监督管理局 陈立新"),
            "enterprise": make_user(Role.ENTERPRISE, name="佛山市顺德区美达电器有限公司 何志强")}


# ---------------------------------------------------------------- the journey


def test_registration_to_live_institution_through_graphql_R_ONB_01_to_R_ONB_05(
        app, make_user, storage_backend):
    """R-ONB-01 register, fill in, upload, sign, submit; R-ONB-02 the files go to object storage
    (the local folder and a real S3 server); R-ONB-03 the operator screens and the regulator
    decides; R-ONB-05 approval makes the institution live and sends it an SMS."""
    gql = GraphQLClient(app.test_client())
    registered = gql("""mutation { register(input: {displayName: "陈志强", phone: "%s",
        password: "%s", role: INSTITUTION_ADMIN}) { __typename } }""" % (ADMIN_PHONE, TEST_PASSWORD))
    assert _data(registered, "register")["__typename"] == "RegisterSuccess"
    gql = _client(app, ADMIN_PHONE)
    assert _data(gql("{ myInstitution { id } }", csrf=False), "myInstitution") is None

    created = _data(gql("""mutation($n: String!, $u: String!) { createInstitution(legalName: $n,
        uscc: $u) { __typename ... on InstitutionSuccess { institution { id status viewerRole
        profileProblems { field } } } } }""", {"n": SHUNDE_CO, "u": USCC_SHUNDE_CO}),
        "createInstitution")
    assert created["__typename"] == "InstitutionSuccess", created
    institution = created["institution"]
    iid = institution["id"]
    assert institution["status"] == "DRAFT" and institution["viewerRole"] == "ADMIN"
    assert {"introduction", "categories"} <= {p["field"] for p in institution["profileProblems"]}

    profile = _data(gql("""mutation($id: ID!, $p: InstitutionProfileInput!) {
        updateInstitutionProfile(institutionId: $id, input: $p) { __typename
        ... on InstitutionSuccess { institution { legalRepresentative contactPhone districtCode } }
        ... on InvalidInputError { problems { field message } } } }""", {"id": iid, "p": {
        "institutionType": "ENTERPRISE", "legalRepresentative": "陈志强",
        "registeredAddress": "广东省佛山市顺德区大良街道德和社区新城区观绿路4号",
        "provinceCode": "440000", "cityCode": "440600", "districtCode": "440606",
        "contactPhone": "0757-22321234", "contactEmail": "service@sdtest.com.cn",
        "introduction": INTRODUCTION, "website": "https://www.sdtest.com.cn"}}),
        "updateInstitutionProfile")
    assert profile["__typename"] == "InstitutionSuccess", profile
    assert profile["institution"]["districtCode"] == "440606"

    categories = _data(gql("""mutation($id: ID!, $items: [AdvantageItemInput!]!) {
        setInstitutionCategories(institutionId: $id, categories: ["testing"], advantageItems: $items,
        mainCategory: "testing") { __typename ... on InstitutionSuccess { institution { categories
        mainCategoryCode advantageItems { title } profileProblems { field } } } } }""", {
        "id": iid, "items": [
            {"categoryCode": "testing", "title": "家用电器安全检测", "description": "GB 4706 系列"},
            {"categoryCode": "testing", "title": "电器能效检测"}]}), "setInstitutionCategories")
    assert categories["__typename"] == "InstitutionSuccess", categories
    assert categories["institution"]["categories"] == ["testing"]
    assert [i["title"] for i in categories["institution"]["advantageItems"]] == [
        "家用电器安全检测", "电器能效检测"]
    assert categories["institution"]["profileProblems"] == []

    invited = _data(gql("""mutation($id: ID!) { inviteAgent(institutionId: $id,
        displayName: "客服 李敏", phone: "%s") { __typename ... on InviteAgentSuccess { token
        invitation { displayName phone } } } }""" % AGENT_PHONE, {"id": iid}), "inviteAgent")
    assert invited["__typename"] == "InviteAgentSuccess"
    agents.accept_invitation(invited["token"], password=TEST_PASSWORD, current_user=None)

    admin = db.session.scalar(select(User).where(User.phone == ADMIN_PHONE))
    record = db.session.get(Institution, int(iid))
    _upload(record, admin, kind="business_licence", certificateNumber=USCC_SHUNDE_CO,
            issuer="佛山市顺德区市场监督管理局", validFrom=date(2016, 4, 18), longTerm=True)
    _upload(record, admin, kind="cma", categoryCode="testing", certificateNumber="201919123456",
            issuer="广东省市场监督管理局", validFrom=date(2023, 1, 1), validTo=date(2029, 12, 31))
    from core.documents.models import Document
    from core.documents.storage import get_storage

    stored = db.session.scalars(select(Document).where(Document.institution_id == record.id)).all()
    assert len(stored) == 2 and all(get_storage().exists(d.object_key) for d in stored)

    report = _data(gql('{ eligibilityReport { ... on EligibilityReport { eligible '
                       'failures { code } } } }', csrf=False), "eligibilityReport")
    assert report == {"eligible": False, "failures": [{"code": "R-ELIG-04"}]}

    letter = _data(gql("{ commitmentLetter { version items textSha256 text } }", csrf=False),
                   "commitmentLetter")
    assert len(letter["items"]) == 8
    signed = _data(gql("""mutation($id: ID!, $v: Int!) { signCommitment(institutionId: $id,
        signerName: "陈志强", signerTitle: "总经理", version: $v) { __typename
        ... on SignCommitmentSuccess { signature { version textSha256 } institution { commitment {
        signed } } } } }""", {"id": iid, "v": letter["version"]}, headers={"User-Agent": BROWSER}),
        "signCommitment")
    assert signed["__typename"] == "SignCommitmentSuccess", signed
    assert signed["signature"]["textSha256"] == letter["textSha256"]
    assert signed["institution"]["commitment"]["signed"] is True
    signature = db.session.scalar(select(CommitmentSignature))
    assert (signature.ip, signature.user_agent) == ("127.0.0.1", BROWSER)

    submitted = _transition(gql, "submitApplication", iid)
    assert submitted["__typename"] == "ApplicationSuccess", submitted
    assert submitted["application"]["state"] == "SUBMITTED"

    staff = _staff(make_user)
    operator = as_user(app, staff["operator"])
    queue = _data(operator("""{ reviewQueue(category: "testing") { __typename ... on ReviewQueue {
        totalCount applications { state institution { id legalName } } } } }""", csrf=False),
        "reviewQueue")
    assert queue["totalCount"] == 1
    assert queue["applications"][0]["institution"] == {"id": iid, "legalName": SHUNDE_CO}
    assert _transition(operator, "screenApplication", iid, action="START")["application"][
        "state"] == "SCREENING"
    passed = _transition(operator, "screenApplication", iid, action="PASS",
                         reason='"资质齐全，技术能力符合要求"')
    assert passed["application"]["state"] == "REVIEW"

    regulator = as_user(app, staff["regulator"])
    approved = _transition(regulator, "reviewApplication", iid, decision="APPROVE")
    assert approved["__typename"] == "ApplicationSuccess", approved
    assert [(e["toState"], e["actorName"]) for e in approved["application"]["history"]] == [
        ("SUBMITTED", "陈志强"), ("SCREENING", "运维机构 黄晓婷"),
        ("REVIEW", "运维机构 黄晓婷"), ("APPROVED", "佛山市市场监督管理局 陈立新")]

    mine = _data(gql("{ myInstitution { status serviceOpeningDate application { state } } }",
                     csrf=False), "myInstitution")
    assert mine["status"] == "LIVE" and mine["application"]["state"] == "APPROVED"
    assert mine["serviceOpeningDate"] == workflow.local_today().isoformat()
    db.session.expire_all()
    sms = list(db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.template == "application_approved", OutboxMessage.channel == "sms")))
    assert [m.address for m in sms] == [ADMIN_PHONE]
    assert SHUNDE_CO in sms[0].body


# ---------------------------------------------------------------- who may do what


def test_an_agent_can_neither_sign_nor_submit_SECURITY_9(app, make_user, world):
    """SECURITY.md 9 / R-ELIG-05: an agent answers customers; only the admin acts for the
    institution. Each refusal is typed data and audited."""
    institution, _admin = eligible_institution(make_user, sign=False)
    agent = _client(app, "13922000100")  # the factory's first agent
    iid = str(institution.id)
    mine = _data(agent("{ myInstitution { id viewerRole } }", csrf=False), "myInstitution")
    assert mine == {"id": iid, "viewerRole": "AGENT"}

    sign = _data(agent("""mutation($id: ID!) { signCommitment(institutionId: $id, signerName: "李敏",
        signerTitle: "客服", version: 1) { %s } }""" % RESULT, {"id": iid}), "signCommitment")
    assert sign["__typename"] == "PermissionDeniedError" and sign["code"] == "PERMISSION_DENIED"
    submit = _transition(agent, "submitApplication", iid)
    assert submit["__typename"] == "PermissionDeniedError"
    invite = _data(agent("""mutation($id: ID!) { inviteAgent(institutionId: $id, displayName: "张三",
        phone: "13922000188") { %s } }""" % RESULT, {"id": iid}), "inviteAgent")
    assert invite["__typename"] == "PermissionDeniedError"
    assert db.session.scalar(select(CommitmentSignature)) is None
    assert world.audits("commitment.denied", result="denied")
    assert world.audits("application.submit", result="denied")


def test_another_institutions_admin_cannot_read_its_records_SECURITY_9(app, world):
    """SECURITY.md 9: eligibility report, institution and application of another tenant are
    refused (and audited); the viewer's own institution is what myInstitution answers."""
    ours = world.institution()
    theirs = world.institution(METROLOGY_CENTRE, uscc=USCC_METROLOGY_CENTRE, admin_name="梁伟")
    gql = as_user(app, theirs.admin)
    report = _data(gql("""query($id: ID) { eligibilityReport(institutionId: $id) { %s } }""" % RESULT,
                       {"id": str(ours.id)}, csrf=False), "eligibilityReport")
    assert report["__typename"] == "PermissionDeniedError"
    assert _data(gql('query($id: ID) { myInstitution(institutionId: $id) { id legalName } }',
                     {"id": str(ours.id)}, csrf=False), "myInstitution") is None
    assert _data(gql('query($id: ID!) { application(institutionId: $id) { id } }',
                     {"id": str(ours.id)}, csrf=False), "application") is None
    own = _data(gql("{ myInstitution { id } }", csrf=False), "myInstitution")
    assert own == {"id": str(theirs.id)}
    denied = {a.action for a in world.audits(result="denied") if a.object_id == str(ours.id)}
    assert {"eligibility.read", "institution.read", "application.read"} <= denied

    profile = _data(gql("""mutation($id: ID!) { updateInstitutionProfile(institutionId: $id,
        input: {website: "https://evil.example.cn"}) { %s } }""" % RESULT, {"id": str(ours.id)}),
        "updateInstitutionProfile")
    assert profile["__typename"] == "PermissionDeniedError"
    assert world.reload(ours).website is None


def test_platform_staff_read_any_eligibility_report_for_a_given_day_R_ELIG_10(app, make_user):
    institution, _admin = eligible_institution(make_user, cma_until=date(2026, 12, 31))
    regulator = as_user(app, _staff(make_user)["regulator"])
    query = """query($id: ID, $d: Date) { eligibilityReport(institutionId: $id, date: $d) {
        __typename ... on EligibilityReport { on eligible failures { code subject evidence } } } }"""
    today = _data(regulator(query, {"id": str(institution.id), "d": "2026-11-23"}, csrf=False),
                  "eligibilityReport")
    assert today["eligible"] is True and today["on"] == "2026-11-23"
    later = _data(regulator(query, {"id": str(institution.id), "d": "2027-01-04"}, csrf=False),
                  "eligibilityReport")
    assert later["eligible"] is False
    assert [(f["code"], f["subject"]) for f in later["failures"]] == [("R-ELIG-02", "testing")]
    assert later["failures"][0]["evidence"]["documents"][0]["valid_to"] == "2026-12-31"


def test_the_review_queue_is_refused_to_everybody_but_platform_staff_R_ONB_03(app, make_user, world):
    institution, admin = eligible_institution(make_user)
    workflow.transition(institution.id, "submit", actor=admin)
    staff = _staff(make_user)
    query = "{ reviewQueue { %s ... on ReviewQueue { totalCount } } }" % RESULT
    enterprise = _data(as_user(app, staff["enterprise"])(query, csrf=False), "reviewQueue")
    assert enterprise["__typename"] == "PermissionDeniedError"
    assert _data(as_user(app, admin)(query, csrf=False), "reviewQueue")[
        "__typename"] == "PermissionDeniedError"
    assert _data(_client(app, None)(query, csrf=False), "reviewQueue")[
        "__typename"] == "NotAuthenticatedError"
    assert len(world.audits("application.queue", result="denied")) == 2
    regulator = _data(as_user(app, staff["regulator"])(
        "{ reviewQueue(first: 1000, state: [SUBMITTED]) { ... on ReviewQueue { totalCount hasMore "
        "applications { state } } } }", csrf=False), "reviewQueue")
    assert regulator == {"totalCount": 1, "hasMore": False,
                         "applications": [{"state": "SUBMITTED"}]}


# ---------------------------------------------------------------- errors as data


def test_an_incomplete_application_lists_every_failed_condition_R_ELIG_10(app, world):
    org = world.institution()
    gql = as_user(app, org.admin)
    refused = _transition(gql, "submitApplication", org.id)
    assert refused["__typename"] == "IneligibleError"
    assert refused["code"] == "NOT_ELIGIBLE"
    failed = {f["code"] for f in refused["failures"]}
    assert {"R-ONB-01", "R-ELIG-01", "R-ELIG-04", "R-ELIG-05", "R-ELIG-06"} <= failed
    assert all(not f["passed"] and f["message"] for f in refused["failures"])
    licence = next(f for f in refused["failures"] if f["subject"] == "licence")
    assert licence["evidence"] == {"documents": []}
    db.session.expire_all()
    application = db.session.scalar(select(Application).where(
        Application.institution_id == org.id))
    assert application is None or application.state.value == "draft"


def test_approving_a_draft_is_a_typed_illegal_transition_R_ONB_03(app, make_user):
    institution, _admin = eligible_institution(make_user)
    staff = _staff(make_user)
    regulator = as_user(app, staff["regulator"])
    refused = _transition(regulator, "reviewApplication", institution.id, decision="APPROVE")
    assert refused["__typename"] == "IllegalTransitionError"
    assert refused["code"] == "ILLEGAL_TRANSITION" and refused["state"] == "DRAFT"
    assert refused["field"] == "action"
    db.session.expire_all()
    assert db.session.get(Institution, institution.id).status is InstitutionStatus.DRAFT
    operator = as_user(app, staff["operator"])
    assert _transition(operator, "reviewApplication", institution.id, decision="APPROVE")[
        "__typename"] == "PermissionDeniedError"


def test_reviewer_decisions_need_their_details_R_ONB_03_R_ONB_04(app, make_user):
    institution, admin = eligible_institution(make_user)
    staff = _staff(make_user)
    workflow.transition(institution.id, "submit", actor=admin)
    workflow.transition(institution.id, "start_screening", actor=staff["operator"])
    operator = as_user(app, staff["operator"])
    no_reason = _transition(operator, "reviewApplication", institution.id,
                            decision="REQUEST_MATERIALS")
    assert no_reason["__typename"] == "InvalidInputError"
    assert [p["field"] for p in no_reason["problems"]] == ["reason"]
    bad_days = _transition(operator, "reviewApplication", institution.id,
                           decision="REQUEST_MATERIALS", reason='"补充CMA附表"', workingDays=0)
    assert bad_days["__typename"] == "InvalidInputError" and bad_days["field"] == "workingDays"
    onsite = _transition(operator, "reviewApplication", institution.id, decision="SCHEDULE_ONSITE",
                         onsiteAt='"2026-11-26T09:30:00"', onsitePlace='"顺德区观绿路4号 实验室"')
    assert onsite["application"]["state"] == "ONSITE_SCHEDULED"
    db.session.expire_all()
    application = db.session.scalar(select(Application).where(
        Application.institution_id == institution.id))
    # A time without an offset is Beijing time: 09:30 in Foshan is 01:30 UTC.
    assert application.onsite_at == datetime(2026, 11, 26, 1, 30, tzinfo=UTC)
    assert application.events[-1].data["onsite_at"].startswith("2026-11-26T09:30:00+08:00")


def test_signing_an_outdated_letter_is_refused_with_the_current_version_R_COM_02(app, make_user):
    institution, admin = eligible_institution(make_user, sign=False)
    regulator = _staff(make_user)["regulator"]
    letter = commitment.letter_v1()
    commitment.publish_version(title=letter["title"], preamble=letter["preamble"],
                               items=[*letter["items"][:7], letter["items"][7] + "（修订）"],
                               closing=letter["closing"], actor=regulator)
    gql = as_user(app, admin)
    sign = """mutation($id: ID!, $v: Int!) { signCommitment(institutionId: $id, signerName: "陈晓峰",
        signerTitle: "总经理", version: $v) { %s ... on CommitmentOutdatedError { currentVersion }
        ... on SignCommitmentSuccess { signature { version } } } }""" % RESULT
    outdated = _data(gql(sign, {"id": str(institution.id), "v": 1}), "signCommitment")
    assert outdated["__typename"] == "CommitmentOutdatedError"
    assert outdated["code"] == "COMMITMENT_OUTDATED" and outdated["currentVersion"] == 2
    missing = _data(gql(sign, {"id": str(institution.id), "v": 9}), "signCommitment")
    assert missing["__typename"] == "NotFoundError"
    done = _data(gql(sign, {"id": str(institution.id), "v": 2}), "signCommitment")
    assert done == {"__typename": "SignCommitmentSuccess", "signature": {"version": 2}}
    again = _data(gql(sign, {"id": str(institution.id), "v": 2}), "signCommitment")
    assert again["code"] == "ALREADY_SIGNED"


def test_creating_an_institution_checks_the_role_and_the_credit_code_R_ELIG_01(app, make_user):
    enterprise = as_user(app, make_user(Role.ENTERPRISE))
    create = """mutation($n: String!, $u: String!) { createInstitution(legalName: $n, uscc: $u) {
        %s ... on InvalidInputError { problems { field code } }
        ... on InstitutionSuccess { institution { id } } } }""" % RESULT
    refused = _data(enterprise(create, {"n": SHUNDE_CO, "u": USCC_SHUNDE_CO}), "createInstitution")
    assert refused["__typename"] == "PermissionDeniedError"
    admin = as_user(app, make_user(Role.INSTITUTION_ADMIN))
    invalid = _data(admin(create, {"n": " ", "u": USCC_BAD_CHECK_DIGIT}), "createInstitution")
    assert invalid["__typename"] == "InvalidInputError"
    assert {(p["field"], p["code"]) for p in invalid["problems"]} == {
        ("legalName", "REQUIRED"), ("uscc", "INVALID_NUMBER")}
    assert _data(admin(create, {"n": SHUNDE_CO, "u": USCC_SHUNDE_CO}), "createInstitution")[
        "__typename"] == "InstitutionSuccess"
    second = _data(admin(create, {"n": "另一家公司", "u": "91440600190356523D"}), "createInstitution")
    assert second["code"] == "DUPLICATE"
    rival = as_user(app, make_user(Role.INSTITUTION_ADMIN))
    taken = _data(rival(create, {"n": SHUNDE_CO, "u": USCC_SHUNDE_CO}), "createInstitution")
    assert [(p["field"], p["code"]) for p in taken["problems"]] == [("uscc", "DUPLICATE")]


# ---------------------------------------------------------------- personal data


AGENTS = "{ myInstitution(institutionId: \"%s\") { agents { displayName phone } " \
         "pendingInvitations { phone } } }"


def test_agent_phones_are_masked_for_viewers_not_entitled_SECURITY_10(app, make_user):
    """SECURITY.md 10 / PIPL Art. 51: the admin and platform staff see agents' numbers; another
    agent sees them masked (138****5678), their own in full."""
    institution, admin = eligible_institution(make_user, agent_count=2)
    query = AGENTS % institution.id
    full = ["13922000100", "13922000101"]
    by_admin = _data(as_user(app, admin)(query, csrf=False), "myInstitution")
    assert [a["phone"] for a in by_admin["agents"]] == full
    by_agent = _data(_client(app, "13922000100")(query, csrf=False), "myInstitution")
    assert [a["phone"] for a in by_agent["agents"]] == ["13922000100", "139****0101"]
    assert by_agent["pendingInvitations"] == []
    regulator = _data(as_user(app, _staff(make_user)["regulator"])(
        'query($id: ID!) { application(institutionId: $id) { id } }', {"id": str(institution.id)},
        csrf=False), "application")
    assert regulator is None  # not submitted yet: no application, but no refusal either


def test_an_invitation_token_is_shown_once_and_the_seats_are_capped_R_ELIG_05(app, world):
    org = world.institution()
    gql = as_user(app, org.admin)
    invite = """mutation($id: ID!, $p: String!) { inviteAgent(institutionId: $id,
        displayName: "客服", phone: $p) { %s ... on InviteAgentSuccess { token } } }""" % RESULT
    first = _data(gql(invite, {"id": str(org.id), "p": "13922000111"}), "inviteAgent")
    assert len(first["token"]) >= 32
    assert _data(gql(invite, {"id": str(org.id), "p": "13922000112"}), "inviteAgent")[
        "__typename"] == "InviteAgentSuccess"
    third = _data(gql(invite, {"id": str(org.id), "p": "13922000113"}), "inviteAgent")
    assert third["code"] == "AGENT_LIMIT"
    mine = gql(AGENTS % org.id, csrf=False)
    assert first["token"] not in str(mine)
    assert [i["phone"] for i in _data(mine, "myInstitution")["pendingInvitations"]] == [
        "13922000111", "13922000112"]

    user = agents.accept_invitation(first["token"], password=TEST_PASSWORD, current_user=None)
    removed = _data(gql("""mutation($id: ID!, $u: ID!) { removeAgent(institutionId: $id,
        userId: $u) { %s ... on InstitutionSuccess { institution { agents { userId } } } } }"""
                        % RESULT, {"id": str(org.id), "u": str(user.id)}), "removeAgent")
    assert removed == {"__typename": "InstitutionSuccess", "institution": {"agents": []}}


# ---------------------------------------------------------------- leaving


def test_exit_and_removal_over_graphql_R_ONB_06_R_ONB_07(app, make_user):
    institution, admin = eligible_institution(make_user)
    staff = _staff(make_user)
    for action, actor in (("submit", admin), ("start_screening", staff["operator"]),
                          ("pass_screening", staff["operator"]), ("approve", staff["regulator"])):
        workflow.transition(institution.id, action, actor=actor)
    notice = """mutation($id: ID!) { issueRemovalNotice(institutionId: $id, reason: LOGO_MISUSE,
        details: "擅自在检测报告上使用平台标识", legacyDays: 30) { %s
        ... on IssueRemovalNoticeSuccess { notice { reason legacyDeadline } } } }""" % RESULT
    by_operator = _data(as_user(app, staff["operator"])(notice, {"id": str(institution.id)}),
                        "issueRemovalNotice")
    assert by_operator["__typename"] == "PermissionDeniedError"
    issued = _data(as_user(app, staff["regulator"])(notice, {"id": str(institution.id)}),
                   "issueRemovalNotice")
    assert issued["notice"]["reason"] == "LOGO_MISUSE"
    assert date.fromisoformat(issued["notice"]["legacyDeadline"]) > workflow.local_today()

    gql = as_user(app, admin)
    short = _data(gql("""mutation($id: ID!) { requestExit(institutionId: $id, letter: "退出") {
        %s ... on InvalidInputError { problems { field } } } }""" % RESULT,
                      {"id": str(institution.id)}), "requestExit")
    assert short["__typename"] == "InvalidInputError" and short["problems"] == [{"field": "letter"}]
    left = _data(gql("""mutation($id: ID!) { requestExit(institutionId: $id,
        letter: "因业务调整，本机构申请退出佛山企质通平台。") { %s ... on RequestExitSuccess {
        exitRequest { completedAt } openMatters { kind } institution { status } } } }""" % RESULT,
                     {"id": str(institution.id)}), "requestExit")
    assert left["__typename"] == "RequestExitSuccess"
    assert left["openMatters"] == [] and left["exitRequest"]["completedAt"]
    assert left["institution"]["status"] == "EXITED"




def test_the_review_queue_loads_a_page_in_a_fixed_number_of_queries(app, make_user, world):
    """ARCHITECTURE.md: the sync view has no DataLoader, so the root resolver loads a page's
    histories, institutions, categories and actors up front instead of once per application."""
    from sqlalchemy import event

    for name, uscc in ((SHUNDE_CO, USCC_SHUNDE_CO), (METROLOGY_CENTRE, USCC_METROLOGY_CENTRE),
                       ("佛山市南海区认证有限公司", "91440600190356523D")):
        org = world.institution(name, uscc=uscc)
        application = workflow.application_for(org.institution)
        application.state = ApplicationState.SUBMITTED
        db.session.add(ApplicationEvent(application_id=application.id, round=1,
                                        from_state="draft", to_state="submitted",
                                        actor_id=org.admin.id))
        db.session.commit()
    gql = as_user(app, _staff(make_user)["regulator"])
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        body = gql("{ reviewQueue { ... on ReviewQueue { totalCount applications { state "
                   "institution { legalName categories } history { actorName } } } } }", csrf=False)
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    queue = _data(body, "reviewQueue")
    assert queue["totalCount"] == 3
    assert {a["history"][0]["actorName"] for a in queue["applications"]} == {"陈志强"}
    per_table = [s for s in statements if "FROM institution " in s or "FROM institution_category" in s]
    assert len(per_table) == 2, per_table
