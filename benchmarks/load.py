"""Issue 7 / SECURITY.md 18: 50 users against two application instances for 3 minutes (locust).

Targets: 0 errors (no 5xx, no unexpected answer), 0 lost writes (what the users were told was
saved is in the database, one row each, and nothing more), p95 <= 300 ms for every read.

By default everything is started here and removed at the end, even on error: a private SeaweedFS
(`weed mini`), a scratch PostgreSQL database (`qi_load_<random>` on the local server, migrated,
dropped afterwards unless `--keep-database`), the demo data plus the load accounts, and two
application instances, each `gunicorn` with the project's `gunicorn.conf.py` on its own loopback
port. With `--host URL,URL` it targets instances you started yourself instead (loopback only);
then `--database-url` and `--storage-url` must be the ones those instances use, so that the
accounts can be seeded and the writes counted.

There is no load balancer: every user sends each request to the next instance in turn, as a
round-robin balancer without sticky sessions would, so every logged-in user's session is used on
both instances all the time.

The mix (demands, reviews and complaints are not in it yet):

- visitors (20): the home page with its categories, GraphQL `Categories` and `CommitmentLetter`,
  the live demo institution's public certificates (`InstitutionDocuments`) and their downloads;
- enterprise users (13): log in, the same pages, `Viewer`, their account page, `MyConsultations`,
  `MyOrders`; now and then a new browser session (a fresh login); writes: ask a load institution
  a question (`AskConsultation`), place an order with one (`PlaceOrder`: from one of its own
  answered consultations when it has one, else directly), confirm a delivered order
  (`AdvanceOrder` complete);
- institution administrators (14), one per institution, each live: the documents page,
  `MyInstitution`, `EligibilityReport`, downloads of their own documents, the agents page,
  `InstitutionConsultations`, `InstitutionOrders`; writes: upload a document through the web
  form, invite an agent (GraphQL `InviteAgent`) and withdraw the invitation again (web form),
  answer the oldest open consultation (`ReplyConsultation`), take the oldest open order one step
  further (`AdvanceOrder` accept, start or deliver);
- operators (3): the review queue (web and GraphQL `ReviewQueue`), the review pages of the
  institutions in it; writes: record a (historical, no longer effective) compliance record.

After the run the database is asked how many login sessions, audit rows of successful logins,
documents (and their objects, checked byte for byte by `verify_objects`), invitations,
withdrawals, compliance records, consultations, institution replies and order steps (timeline
rows by action) appeared since the run started; each count must equal the number of writes the
users saw succeed.

    .venv/bin/python benchmarks/load.py [--minutes 3] [--users 50] [--workers N --threads N]
    .venv/bin/python benchmarks/load.py --users 10 --minutes 0.34    # a smoke run of the same mix
        [--host http://127.0.0.1:8001,http://127.0.0.1:8002 --database-url … --storage-url …]

Exit status 0 when every target is met, 2 when a target is missed, 1 when something broke.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import random
import re
import secrets
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

import gevent
from locust import FastHttpUser, between, task
from locust.env import Environment

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from graphql_operations import load_operations  # noqa: E402 (benchmarks/, on sys.path)

from core.testing_processes import (  # noqa: E402
    Service,
    create_database,
    drop_database,
    run_benchmark,
    start_gunicorn,
    wait_for_http,
)

PASSWORD = "Load-test#2026"
BUCKET = "qi-load-bench"
READ_P95_TARGET_MS = 300
STARTUP_TIMEOUT = 90.0
SESSION_SECONDS = (60.0, 120.0)  # a logged-in user starts a new browser session this often
STOP_SECONDS = 30.0  # at the end, users finish the task they are in (no write cut in half)
NOT_SIMULATED = "demands, reviews and complaints (not in the mix yet)"
# An order's next step and who takes it: the institution accepts, starts and delivers; the
# enterprise confirms completion.
INSTITUTION_STEPS = {"PLACED": "accept", "ACCEPTED": "start", "IN_PROGRESS": "deliver"}

OPERATIONS = load_operations()

# ---------------------------------------------------------------- what the users share


@dataclass
class Plan:
    """Accounts and ids the seeding made; read by the users (set before they start)."""

    hosts: list[str] = field(default_factory=list)
    enterprise: list[str] = field(default_factory=list)  # e-mail addresses
    admins: list[tuple[str, int, list[int]]] = field(default_factory=list)  # email, inst., docs
    operators: list[str] = field(default_factory=list)
    live_institution: int = 0
    queue_institutions: list[int] = field(default_factory=list)
    service_institutions: list[int] = field(default_factory=list)  # the load institutions (live)


PLAN = Plan()
CONFIRMED: Counter[str] = Counter()  # writes the users were told succeeded
BUSY: Counter[str] = Counter()  # 503 "busy, retry" answers (no free hashing slot), retried
BUSY_RETRIES = 5
LOADAVG: dict[str, str] = {}
_CSRF = re.compile(r'name="(?:[\w-]+-)?csrf_token"[^>]*value="([^"]+)"|'
                   r'value="([^"]+)"[^>]*name="(?:[\w-]+-)?csrf_token"')
_IDEMPOTENCY = re.compile(r'name="idempotency_key"[^>]*value="([^"]+)"')


def _take(pool: list[Any]) -> Iterator[Any]:
    return itertools.cycle(pool)


def _status(response: Any) -> str:
    """The status, or for no answer at all (status 0) the client's exception."""
    error = getattr(response, "error", None)
    return f"{type(error).__name__}: {error}" if not response.status_code and error else \
        str(response.status_code)


class PlatformUser(FastHttpUser):
    """Shared plumbing: round-robin over the instances, pages, forms, GraphQL."""

    abstract = True
    wait_time = between(0.5, 2.5)
    host = "http://127.0.0.1"  # replaced by the instances' URLs, request by request
    network_timeout = 30.0
    connection_timeout = 10.0

    def on_start(self) -> None:
        self._turn = random.randrange(len(PLAN.hosts))
        self.csrf_token = ""
        self.logged_in_at = 0.0
        self.session_seconds = random.uniform(*SESSION_SECONDS)

    def url(self, path: str) -> str:
        self._turn += 1
        return PLAN.hosts[self._turn % len(PLAN.hosts)] + path

    def page(self, path: str, name: str, *, expect: int = 200) -> str | None:
        with self.client.get(self.url(path), name=name, allow_redirects=False,
                             catch_response=True) as response:
            if response.status_code != expect:
                response.failure(f"{_status(response)} instead of {expect}")
                return None
            response.success()
            return response.text

    def gql(self, operation: str, variables: dict[str, Any] | None = None, *,
            expect: str | None = None, field: str | None = None) -> Any:
        """Run an operation of graphql/operations; the result's `field`, checked for `expect`
        (the `__typename` of a union member) and for errors."""
        # A cookie-authenticated mutation carries the CSRF token (SECURITY.md 12).
        headers = {"X-CSRFToken": self.csrf_token} if OPERATIONS[operation].startswith(
            "mutation") else {}
        with self.client.post(self.url("/graphql"), name=f"GraphQL {operation}",
                              json={"query": OPERATIONS[operation], "operationName": operation,
                                    "variables": variables or {}},
                              headers=headers, catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {_status(response)}")
                return None
            body = response.json()
            if body.get("errors"):
                response.failure(f"errors: {body['errors'][0].get('message')}")
                return None
            data = body["data"]
            value = data.get(field) if field else data
            if expect and (not isinstance(value, dict) or value.get("__typename") != expect):
                response.failure(f"{operation} answered {value!r:.200}")
                return None
            response.success()
            return value

    def form_token(self, html: str | None) -> str | None:
        if html is None:
            return None
        match = _CSRF.search(html)
        return (match.group(1) or match.group(2)) if match else None

    def post_form(self, path: str, fields: dict[str, str], name: str, *,
                  redirect_to: str) -> bool:
        """Post a form; success is the redirect a browser would follow to `redirect_to`."""
        with self.client.post(self.url(path), name=name, data=fields, allow_redirects=False,
                              headers={"Content-Type": "application/x-www-form-urlencoded"},
                              catch_response=True) as response:
            location = urlsplit(response.headers.get("Location") or "").path
            if response.status_code != 302 or location != redirect_to:
                response.failure(f"{_status(response)} to {location!r} instead of a redirect "
                                 f"to {redirect_to}")
                return False
            response.success()
            return True

    def log_in(self, identifier: str) -> None:
        """A fresh browser session: no cookies, the login page, the form posted."""
        self.client.cookiejar.clear()
        token = self.form_token(self.page("/login", "GET /login"))
        if token is None:
            return
        from urllib.parse import urlencode

        body = urlencode({"csrf_token": token, "identifier": identifier, "password": PASSWORD})
        for _attempt in range(BUSY_RETRIES + 1):
            with self.client.post(self.url("/login"), name="POST /login", data=body,
                                  headers={"Content-Type": "application/x-www-form-urlencoded"},
                                  allow_redirects=False, catch_response=True) as response:
                retry_after = response.headers.get("Retry-After")
                if response.status_code == 503 and retry_after and _attempt < BUSY_RETRIES:
                    # "Busy, try again in N seconds" (no free hashing slot): a person retries,
                    # and so does this user. Counted apart, not hidden: see BUSY in the report.
                    response.success()
                    BUSY["POST /login"] += 1
                    wait = float(retry_after)
                elif response.status_code != 302:
                    response.failure(f"login answered {_status(response)}")
                    return
                else:
                    response.success()
                    break
            gevent.sleep(wait)
        CONFIRMED["login"] += 1
        self.logged_in_at = time.monotonic()
        token = self.gql("CsrfToken", field="csrfToken")
        self.csrf_token = token or ""

    def new_session_or_home(self, identifier: str) -> None:
        """After a while a user comes back in a new browser session (a fresh login);
        until then this is one more look at the home page."""
        if time.monotonic() - self.logged_in_at > self.session_seconds:
            self.log_in(identifier)
        else:
            self.page("/", "GET / (home, categories)")

    def public_documents(self) -> None:
        documents = self.gql("InstitutionDocuments", {"institutionId": PLAN.live_institution},
                             field="institutionDocuments")
        if documents:
            document = random.choice(documents)
            # downloadUrl is absolute (url_for _external); the balancer picks the instance.
            self.download(urlsplit(document["downloadUrl"]).path, document["size"],
                          "GET download (public)")

    def download(self, path: str, size: int, name: str) -> None:
        with self.client.get(self.url(path), name=name, allow_redirects=False,
                             catch_response=True) as response:
            if response.status_code != 200 or len(response.content or b"") != size:
                response.failure(f"{_status(response)}, {len(response.content or b'')} bytes "
                                 f"instead of {size}")
            else:
                response.success()


class Visitor(PlatformUser):
    """Anonymous: the public pages and the public certificates."""

    weight = 1

    @task(4)
    def home(self) -> None:
        self.page("/", "GET / (home, categories)")

    @task(3)
    def categories(self) -> None:
        self.gql("Categories", field="categories")

    @task(3)
    def certificates(self) -> None:
        self.public_documents()

    @task(1)
    def commitment_letter(self) -> None:
        self.gql("CommitmentLetter", field="commitmentLetter")


class EnterpriseUser(PlatformUser):
    fixed_count = 13
    accounts: ClassVar[Iterator[str]]

    def on_start(self) -> None:
        super().on_start()
        self.identifier = next(type(self).accounts)
        self.log_in(self.identifier)

    @task(3)
    def home(self) -> None:
        self.page("/", "GET / (home, categories)")

    @task(2)
    def viewer(self) -> None:
        viewer = self.gql("Viewer", field="viewer")
        if viewer is None:
            return  # the failure is recorded already, or the session is gone (recorded below)

    @task(2)
    def categories(self) -> None:
        self.gql("Categories", field="categories")

    @task(3)
    def certificates(self) -> None:
        self.public_documents()

    @task(1)
    def account(self) -> None:
        self.page("/account", "GET /account")

    @task(1)
    def new_session(self) -> None:
        self.new_session_or_home(self.identifier)

    @task(1)
    def my_consultations(self) -> None:
        self.gql("MyConsultations", {"limit": 20}, field="myConsultations",
                 expect="ConsultationList")

    @task(1)
    def ask(self) -> None:
        tag = secrets.token_hex(3)
        result = self.gql("AskConsultation", {"input": {
            "institutionId": str(random.choice(PLAN.service_institutions)),
            "subject": f"家电能效检测报价咨询 {tag}",
            "body": "我司有一批电饭煲需做能效等级检测，请问检测周期和费用？联系人何先生。"}},
            field="askConsultation", expect="ConsultationSuccess")
        if result is not None:
            CONFIRMED["consultation asked"] += 1

    @task(1)
    def place_order(self) -> None:
        """From one of its answered consultations when it has one (and the institution's), else
        directly with a load institution."""
        listing = self.gql("MyConsultations", {"limit": 20}, field="myConsultations",
                           expect="ConsultationList")
        if listing is None:
            return
        answered = [c for c in listing["consultations"] if c["status"] == "ANSWERED"]
        order: dict[str, Any] = {"title": f"电饭煲能效检测 {secrets.token_hex(3)}",
                                 "amount": str(random.randrange(800, 5000))}
        if answered:
            chosen = random.choice(answered)
            order.update(institutionId=chosen["institutionId"], consultationId=chosen["id"])
        else:
            order["institutionId"] = str(random.choice(PLAN.service_institutions))
        if self.gql("PlaceOrder", {"input": order}, field="placeOrder",
                    expect="OrderSuccess") is not None:
            CONFIRMED["order place"] += 1

    @task(2)
    def my_orders(self) -> None:
        """The order list; a delivered order is confirmed complete."""
        listing = self.gql("MyOrders", {"limit": 20}, field="myOrders", expect="OrderList")
        delivered = [o for o in (listing or {}).get("orders", []) if o["status"] == "DELIVERED"]
        if delivered and self.gql("AdvanceOrder", {"orderId": delivered[-1]["id"],
                                                   "action": "complete"},
                                  field="advanceOrder", expect="OrderSuccess") is not None:
            CONFIRMED["order complete"] += 1


class InstitutionAdmin(PlatformUser):
    fixed_count = 14
    accounts: ClassVar[Iterator[tuple[str, int, list[int]]]]

    def on_start(self) -> None:
        super().on_start()
        self.identifier, self.institution, self.documents = next(type(self).accounts)
        self.log_in(self.identifier)

    @task(3)
    def documents_page(self) -> None:
        self.page(f"/institutions/{self.institution}/documents",
                  "GET /institutions/[id]/documents")

    @task(3)
    def my_institution(self) -> None:
        self.gql("MyInstitution", {"institutionId": self.institution}, field="myInstitution")

    @task(2)
    def eligibility(self) -> None:
        self.gql("EligibilityReport", {"institutionId": self.institution},
                 field="eligibilityReport", expect="EligibilityReport")

    @task(2)
    def own_document(self) -> None:
        document = random.choice(self.documents)
        self.download(f"/documents/{document[0]}/download", document[1], "GET download (own)")

    @task(1)
    def agents_page(self) -> None:
        self.page(f"/institutions/{self.institution}/onboarding/agents",
                  "GET /institutions/[id]/onboarding/agents")

    @task(1)
    def invite_and_withdraw(self) -> None:
        tag = secrets.token_hex(5)
        result = self.gql("InviteAgent", {"institutionId": self.institution,
                                          "displayName": f"负载测试客服 {tag}",
                                          "email": f"agent-{tag}@load.example.cn"},
                          field="inviteAgent", expect="InviteAgentSuccess")
        if result is None:
            return
        CONFIRMED["invite"] += 1
        invitation = result["invitation"]["id"]
        agents_page = f"/institutions/{self.institution}/onboarding/agents"
        if self.post_form(f"/institutions/{self.institution}/onboarding/invitations/"
                          f"{invitation}/revoke", {"csrf_token": self.csrf_token},
                          "POST withdraw invitation", redirect_to=agents_page):
            CONFIRMED["withdraw"] += 1

    @task(1)
    def upload(self) -> None:
        path = f"/institutions/{self.institution}/documents"
        html = self.page(path, "GET /institutions/[id]/documents")
        token = self.form_token(html)
        key = _IDEMPOTENCY.search(html or "")
        if token is None or key is None:
            return
        body, content_type = upload_body(token, key.group(1))
        with self.client.post(self.url(path), name="POST upload document", data=body,
                              headers={"Content-Type": content_type}, allow_redirects=False,
                              catch_response=True) as response:
            location = urlsplit(response.headers.get("Location") or "").path
            if response.status_code != 302 or location != path:
                response.failure(f"{_status(response)} to {location!r}")
                return
            response.success()
        CONFIRMED["upload"] += 1

    @task(1)
    def new_session(self) -> None:
        self.new_session_or_home(self.identifier)

    @task(2)
    def answer_consultation(self) -> None:
        listing = self.gql("InstitutionConsultations", {"institutionId": str(self.institution),
                                                        "status": "OPEN", "limit": 20},
                           field="institutionConsultations", expect="ConsultationList")
        waiting = (listing or {}).get("consultations", [])
        if waiting and self.gql("ReplyConsultation", {"input": {
                "consultationId": waiting[-1]["id"],  # newest first: the oldest is last
                "body": "您好，能效等级检测周期约7个工作日，费用按型号报价，请提供铭牌照片。"}},
                field="replyConsultation", expect="ConsultationSuccess") is not None:
            CONFIRMED["consultation answered"] += 1

    @task(3)
    def advance_order(self) -> None:
        listing = self.gql("InstitutionOrders", {"institutionId": str(self.institution),
                                                 "limit": 20},
                           field="institutionOrders", expect="OrderList")
        waiting = [o for o in (listing or {}).get("orders", []) if o["status"] in INSTITUTION_STEPS]
        if not waiting:
            return
        order = waiting[-1]
        action = INSTITUTION_STEPS[order["status"]]
        if self.gql("AdvanceOrder", {"orderId": order["id"], "action": action},
                    field="advanceOrder", expect="OrderSuccess") is not None:
            CONFIRMED[f"order {action}"] += 1


class Operator(PlatformUser):
    fixed_count = 3
    accounts: ClassVar[Iterator[str]]

    def on_start(self) -> None:
        super().on_start()
        self.log_in(next(type(self).accounts))

    @task(3)
    def queue(self) -> None:
        self.page("/review", "GET /review (queue)")

    @task(2)
    def queue_graphql(self) -> None:
        self.gql("ReviewQueue", {}, field="reviewQueue", expect="ReviewQueue")

    @task(3)
    def review_page(self) -> None:
        institution = random.choice(PLAN.queue_institutions)
        self.page(f"/review/{institution}", "GET /review/[id]")

    @task(1)
    def record_compliance(self) -> None:
        institution = random.choice(PLAN.queue_institutions)
        html = self.page(f"/review/{institution}", "GET /review/[id]")
        token = self.form_token(html)
        if token is None:
            return
        fields = {"compliance-csrf_token": token, "compliance-kind": "administrative_penalty",
                  "compliance-occurred_on": "2020-03-02", "compliance-ended_on": "2020-09-01",
                  "compliance-source": "国家企业信用信息公示系统（历史记录补录）",
                  "compliance-reference": f"佛市监罚〔2020〕{random.randrange(1, 999)}号",
                  "compliance-description": "负载测试补录的历史行政处罚记录，已履行完毕。"}
        if self.post_form(f"/review/{institution}/compliance", fields,
                          "POST compliance record", redirect_to=f"/review/{institution}"):
            CONFIRMED["compliance"] += 1


USER_CLASSES = [Visitor, EnterpriseUser, InstitutionAdmin, Operator]
_UPLOAD_FILE: bytes = b""


def upload_body(csrf_token: str, idempotency_key: str) -> tuple[bytes, str]:
    """The documents form as a browser sends it: fields in the form's order, the file last."""
    boundary = "----qi-load-" + secrets.token_hex(8)
    fields = [("csrf_token", csrf_token), ("idempotency_key", idempotency_key),
              ("kind", "equipment_photo"), ("category_code", ""), ("certificate_number", ""),
              ("issuer", ""), ("valid_from", ""), ("valid_to", ""), ("scope", "")]
    body = b"".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{n}"\r\n\r\n{v}\r\n'
                    .encode() for n, v in fields)
    body += (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
             f'filename="设备照片.pdf"\r\nContent-Type: application/pdf\r\n\r\n').encode()
    body += _UPLOAD_FILE + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


# ---------------------------------------------------------------- set-up


def seed(app: Any, *, institutions: int, enterprise: int, operators: int) -> Plan:
    """The demo data (when the database has no users) and the load accounts, through the real
    services, with production password hashing."""
    import io

    from sqlalchemy import func, select

    from core.db import db
    from core.demo import load_demo, sample_pdf
    from core.documents import service as documents
    from core.identity.models import Role, User
    from core.identity.service import create_user
    from core.institutions.models import Institution, InstitutionStatus
    from core.institutions.service import create_institution

    plan = Plan()
    run = secrets.token_hex(3)
    with app.app_context():
        if not db.session.scalar(select(func.count()).select_from(User)):
            load_demo()
        live = db.session.scalars(select(Institution).where(
            Institution.status == InstitutionStatus.LIVE).order_by(Institution.id)).all()
        public = [i.id for i in live if any(documents.is_public(d) for d in
                                            documents.institution_documents(i.id, None))]
        if not public:
            raise RuntimeError("no live institution with public certificates: load the demo "
                               "(`qi demo`) into the database first")
        plan.live_institution = public[0]
        from core.onboarding.models import Application

        waiting = db.session.scalars(select(Application.institution_id).order_by(
            Application.id)).all()
        plan.queue_institutions = list(waiting) or [plan.live_institution]

        def user(role: Role, name: str, email: str) -> str:
            create_user(display_name=name, password=PASSWORD, roles=[role], email=email)
            return email

        plan.enterprise = [user(Role.ENTERPRISE, f"佛山负载测试企业{n} 采购员",
                                f"buyer{n}-{run}@load.example.cn") for n in range(enterprise)]
        plan.operators = [user(Role.OPERATOR, f"企质通运维 负载{n}", f"operator{n}-{run}@load.example.cn")
                          for n in range(operators)]
        for n in range(institutions):
            email = user(Role.INSTITUTION_ADMIN, f"负载测试检测中心{n} 管理员",
                         f"lab{n}-{run}@load.example.cn")
            admin = db.session.scalar(select(User).where(User.email == email))
            institution = create_institution(legal_name=f"佛山市负载测试检测中心{n}号-{run}",
                                             uscc=None, admin=admin,
                                             status=InstitutionStatus.LIVE)
            own = []
            for k in range(2):
                meta = documents.validate_meta({"kind": "equipment_photo"}, institution)
                document = documents.store_upload(
                    institution, meta, io.BytesIO(sample_pdf(f"equipment {n}-{k}") * 40),
                    filename=f"设备照片{k}.pdf", actor=admin)
                own.append((document.id, document.size))
            plan.admins.append((email, institution.id, own))
            plan.service_institutions.append(institution.id)
        db.session.close()
    return plan


def loopback_only(urls: list[str]) -> None:
    import ipaddress

    for url in urls:
        host = urlsplit(url).hostname or ""
        if host == "localhost":
            continue
        try:
            if ipaddress.ip_address(host).is_loopback:
                continue
        except ValueError:
            pass
        raise SystemExit(f"--host {url}: only loopback targets (127.0.0.0/8, ::1, localhost)")


# ---------------------------------------------------------------- counting


def database_counts(app: Any, since: datetime) -> dict[str, int]:
    """Rows the run created, by kind, counted in the database."""
    from sqlalchemy import func, select

    from core.audit.models import AuditEvent
    from core.consultations.models import Consultation, ConsultationMessage, MessageSide
    from core.db import db
    from core.documents.models import Document
    from core.identity.models import LoginSession
    from core.onboarding.models import AgentInvitation, ComplianceRecord
    from core.orders.models import OrderEvent

    def count(model: Any, *where: Any) -> int:
        return db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0

    with app.app_context():
        counts = {
            "login": count(LoginSession, LoginSession.created_at >= since),
            "login (audit rows)": count(AuditEvent, AuditEvent.action == "auth.login",
                                        AuditEvent.result == "success",
                                        AuditEvent.occurred_at >= since),
            "upload": count(Document, Document.uploaded_at >= since),
            "invite": count(AgentInvitation, AgentInvitation.created_at >= since),
            "withdraw": count(AgentInvitation, AgentInvitation.revoked_at >= since),
            "compliance": count(ComplianceRecord, ComplianceRecord.recorded_at >= since),
            "consultation asked": count(Consultation, Consultation.received_at >= since),
            "consultation answered": count(ConsultationMessage,
                                           ConsultationMessage.side == MessageSide.INSTITUTION,
                                           ConsultationMessage.at >= since),
        }
        for action in ("place", *INSTITUTION_STEPS.values(), "complete"):
            counts[f"order {action}"] = count(OrderEvent, OrderEvent.action == action,
                                              OrderEvent.at >= since)
        db.session.close()
    return counts


def server_log_findings(instances: list[Service]) -> tuple[Counter[int], list[str]]:
    """From the instances' own logs: answers by status (gunicorn's JSON access log) and the lines
    that tell of trouble (tracebacks, worker timeouts, errors)."""
    import json

    statuses: Counter[int] = Counter()
    trouble: list[str] = []
    for instance in instances:
        try:
            lines = instance.log_path.read_text(errors="replace").splitlines()
        except OSError:
            continue
        in_traceback = False
        for line in lines:
            if in_traceback and line and not line[0].isspace():
                in_traceback = False  # the exception itself: the line that says what went wrong
                if not line.startswith("Traceback"):
                    trouble.append(f":{instance.port}   {line[:300]}")
                    continue
            if line.startswith("{") and '"type": "access"' in line:
                with contextlib.suppress(ValueError, TypeError):
                    statuses[int(json.loads(line).get("status") or 0)] += 1
            elif any(mark in line for mark in ("Traceback", "[CRITICAL]", "WORKER TIMEOUT",
                                               " ERROR ", "[ERROR]")):
                trouble.append(f":{instance.port} {line[:300]}")
                in_traceback = in_traceback or line.startswith("Traceback")
    return statuses, trouble


def object_problems(app: Any) -> list[Any]:
    from core.db import db
    from core.documents.service import verify_objects

    with app.app_context():
        problems = verify_objects()
        db.session.close()
    return problems


# ---------------------------------------------------------------- the run


def is_read(name: str, method: str) -> bool:
    if name in ("POST /login",) or name.startswith("POST "):
        return False
    if name.startswith("GraphQL "):
        operation = name.removeprefix("GraphQL ")
        return OPERATIONS.get(operation, "").startswith("query")
    return method == "GET"


def percentile(times: Counter[int], fraction: float) -> float:
    """The response time (ms) below which `fraction` of the requests fall; locust's buckets."""
    wanted = fraction * times.total()
    seen = 0
    for value in sorted(times):
        seen += times[value]
        if seen >= wanted:
            return float(value)
    return 0.0


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def report(env: Environment, users: int, seconds: float, counts: dict[str, int],
           problems: list[Any], instances: int, workers: str,
           server: tuple[Counter[int], list[str]] | None) -> bool:
    stats = env.stats
    total = stats.total
    rows = sorted(stats.entries.values(), key=lambda e: (not is_read(e.name, e.method), e.name))
    print()
    print(f"Load: {users} users, {seconds:.0f} s, {instances} instances ({workers}); "
          f"{os.cpu_count()} cores shared with PostgreSQL, SeaweedFS and this load generator")
    print(f"Load average (1, 5, 15 min) before the run: {LOADAVG['before']}, at its end: "
          f"{LOADAVG['after']}")
    print(f"Not simulated: {NOT_SIMULATED}")
    print(f"  {'operation':<46}{'kind':>6}{'requests':>10}{'fails':>7}{'p50 ms':>8}{'p95 ms':>8}"
          f"{'p99 ms':>8}{'max ms':>8}")
    read_ok = True
    for e in rows:
        kind = "read" if is_read(e.name, e.method) else "write"
        p95 = e.get_response_time_percentile(0.95) or 0
        flag = ""
        if kind == "read" and p95 > READ_P95_TARGET_MS:
            read_ok = False
            flag = "  > target"
        print(f"  {e.name:<46}{kind:>6}{e.num_requests:>10}{e.num_failures:>7}"
              f"{e.get_response_time_percentile(0.5) or 0:>8.0f}{p95:>8.0f}"
              f"{e.get_response_time_percentile(0.99) or 0:>8.0f}{e.max_response_time or 0:>8.0f}"
              f"{flag}")
    reads: Counter[int] = Counter()
    for e in rows:
        if is_read(e.name, e.method):
            reads.update(e.response_times)
    print(f"  {'every read':<46}{'read':>6}{reads.total():>10}{'':>7}"
          f"{percentile(reads, 0.5):>8.0f}{percentile(reads, 0.95):>8.0f}"
          f"{percentile(reads, 0.99):>8.0f}{max(reads, default=0):>8.0f}")
    print(f"  {'all':<46}{'':>6}{total.num_requests:>10}{total.num_failures:>7}"
          f"{total.get_response_time_percentile(0.5) or 0:>8.0f}"
          f"{total.get_response_time_percentile(0.95) or 0:>8.0f}"
          f"{total.get_response_time_percentile(0.99) or 0:>8.0f}{total.max_response_time or 0:>8.0f}")
    throughput = total.num_requests / seconds if seconds else 0.0
    print(f"  throughput: {throughput:.1f} requests/s ({total.num_requests} in {seconds:.0f} s)")
    errors = total.num_failures
    if stats.errors:
        print("  errors:")
        for error in sorted(stats.errors.values(), key=lambda x: -x.occurrences)[:20]:
            print(f"    {error.occurrences:>5} × {error.method} {error.name}: {error.error}")
    print("  writes: confirmed to the users / rows in the database")
    lost = unconfirmed = 0
    for kind, in_db in counts.items():
        told = CONFIRMED["login" if kind.startswith("login") else kind]
        lost += max(told - in_db, 0)
        unconfirmed += max(in_db - told, 0)
        mark = "" if told == in_db else "  MISMATCH"
        print(f"    {kind:<24}{told:>8}{in_db:>8}{mark}")
    server_errors = 0
    if server is not None:
        statuses, trouble = server
        # A "busy, retry" 503 the user retried is reported below, not as a server error.
        server_errors = sum(n for status, n in statuses.items() if status >= 500 and status != 503)
        server_errors += max(statuses[503] - sum(BUSY.values()), 0)
        print("  answers logged by the instances: " + ", ".join(
            f"{status}: {n}" for status, n in sorted(statuses.items())))
        for line in trouble[:20]:
            print(f"    {line}")
        if len(trouble) > 20:
            print(f"    … {len(trouble) - 20} more lines of trouble in the instances' logs")
    print(f"  stored objects checked against their rows (size, SHA-256): {len(problems)} problem(s)")
    for problem in problems[:10]:
        print(f"    document {problem.document_id}: {problem.problem} ({problem.object_key})")

    def verdict(ok: bool) -> str:
        return "PASS" if ok else "FAIL"

    busy = ", ".join(f"{name} {n}" for name, n in sorted(BUSY.items())) or "none"
    print(f"  busy answers (503 with Retry-After: no free password-hashing slot), retried by the "
          f"users after Retry-After and not counted as errors: {busy}")
    print(f"  errors: {errors} seen by the users, {server_errors} 5xx logged by the instances "
          f"(target 0): {verdict(errors == 0 and server_errors == 0)}")
    print(f"  lost writes: {lost}, writes in the database nobody was told of: {unconfirmed} "
          f"(target 0 and 0): {verdict(lost == 0 and unconfirmed == 0 and not problems)}")
    print(f"  p95 of every read <= {READ_P95_TARGET_MS} ms: {verdict(read_ok)}")
    return (errors == 0 and server_errors == 0 and lost == 0 and unconfirmed == 0
            and not problems and read_ok)


def run_locust(users: int, spawn_rate: float, seconds: float) -> tuple[Environment, int, float]:
    env = Environment(user_classes=USER_CLASSES, stop_timeout=STOP_SECONDS)
    runner = env.create_local_runner()
    LOADAVG["before"] = load_average()
    started = time.monotonic()
    runner.start(users, spawn_rate=spawn_rate)
    deadline = started + seconds
    while time.monotonic() < deadline:
        gevent.sleep(min(30.0, deadline - time.monotonic()))
        elapsed = time.monotonic() - started
        if elapsed < seconds:
            print(f"  {elapsed:>4.0f} s: {env.stats.total.num_requests} requests, "
                  f"{env.stats.total.num_failures} failures, {runner.user_count} users", flush=True)
    reached = runner.user_count
    LOADAVG["after"] = load_average()
    runner.stop()
    runner.quit()
    return env, reached, time.monotonic() - started


def run(args: argparse.Namespace, tmp: Path, cleanup: list[Callable[[], None]]) -> bool:
    global _UPLOAD_FILE

    from core import migrate
    from core.app import create_app
    from core.demo import sample_pdf

    _UPLOAD_FILE = sample_pdf("load test upload") * 60  # about 40 KB, sniffed as PDF
    secret_key = secrets.token_urlsafe(48)
    hosts = [h.strip().rstrip("/") for h in args.host.split(",") if h.strip()] if args.host else []
    if hosts:
        loopback_only(hosts)
        if not (args.database_url and args.storage_url):
            raise SystemExit("--host needs --database-url and --storage-url (the instances' own)")
        database_url, storage_url = args.database_url, args.storage_url
    else:
        from core.testing_s3 import start_seaweed

        print(f"starting SeaweedFS, a scratch database and {args.instances} instances in {tmp} …",
              flush=True)
        server = start_seaweed(tmp / "seaweed")
        cleanup.append(server.stop)
        server.client().make_bucket(BUCKET)
        storage_url = server.url_for(BUCKET)
        database_url = args.database_url or scratch_database(args.pg_server, cleanup,
                                                             keep=args.keep_database)
    migrate.upgrade(database_url)
    app = create_app({"DATABASE_URL": database_url, "STORAGE_URL": storage_url,
                      "SECRET_KEY": secret_key, "INSTANCE_PATH": str(tmp / "seed")})
    plan = seed(app, institutions=InstitutionAdmin.fixed_count, enterprise=EnterpriseUser.fixed_count,
                operators=Operator.fixed_count)
    instances: list[Service] = []
    if not hosts:
        env = {**os.environ, "DATABASE_URL": database_url, "STORAGE_URL": storage_url,
               "SECRET_KEY": secret_key, "QI_ENV": "development",
               "QI_INSTANCE_PATH": str(tmp / "instance")}
        env.pop("CELERY_BROKER_URL", None)  # the writes in the mix queue no notifications
        instances = [start_gunicorn(f"instance {n}", env, tmp / f"gunicorn-{n}.log",
                                    workers=args.workers, threads=args.threads)
                     for n in range(args.instances)]
        for instance in instances:
            cleanup.append(instance.stop)
        for instance in instances:
            wait_for_http(instance, "/healthz", timeout=STARTUP_TIMEOUT)
        hosts = [i.url() for i in instances]
    plan.hosts = hosts
    PLAN.__dict__.update(plan.__dict__)
    EnterpriseUser.accounts = _take(plan.enterprise)
    InstitutionAdmin.accounts = _take(plan.admins)
    Operator.accounts = _take(plan.operators)

    print(f"{args.users} users for {args.minutes:g} min against {', '.join(hosts)}", flush=True)
    since = datetime.now(UTC)
    env, users, seconds = run_locust(args.users, args.spawn_rate, args.minutes * 60)
    time.sleep(1.0)  # let the last in-flight requests commit before counting
    counts = database_counts(app, since)
    problems = object_problems(app)
    workers = f"gunicorn.conf.py{' --workers ' + str(args.workers) if args.workers else ''}" \
              f"{' --threads ' + str(args.threads) if args.threads else ''}" \
        if not args.host else "started elsewhere"
    server = server_log_findings(instances) if instances else None
    ok = report(env, users, seconds, counts, problems, len(hosts), workers, server)
    with app.app_context():
        from core.db import db

        db.engine.dispose()
    return ok


def scratch_database(server: str, cleanup: list[Callable[[], None]], *, keep: bool) -> str:
    url = create_database(server, "qi_load")
    if keep:
        print(f"database kept after the run: {url}")
    else:
        cleanup.append(lambda: drop_database(url))
    return url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--minutes", type=float, default=3.0, help="length of the run (3)")
    parser.add_argument("--users", type=int, default=50, help="concurrent users (50)")
    parser.add_argument("--spawn-rate", type=float, default=2.0,
                        help="users started a second (2: the 50 arrive over 25 s)")
    parser.add_argument("--instances", type=int, default=2, help="application instances (2)")
    parser.add_argument("--workers", type=int, default=None,
                        help="gunicorn workers per instance (default: gunicorn.conf.py's)")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads per worker (default: gunicorn.conf.py's)")
    parser.add_argument("--host", default="",
                        help="comma-separated URLs of running instances (loopback only)")
    parser.add_argument("--database-url", default="", help="the instances' database (with --host)")
    parser.add_argument("--storage-url", default="", help="the instances' storage (with --host)")
    parser.add_argument("--pg-server", default="postgresql://postgres@127.0.0.1:5432/postgres",
                        help="where the scratch database is created")
    parser.add_argument("--keep-database", action="store_true")
    args = parser.parse_args(argv)
    if args.users < 4 or not 0 < args.minutes <= 30:
        parser.error("--users at least 4; --minutes in (0, 30]")
    if args.users < 50:  # a smoke run: the same mix in proportion, at least one of each
        for cls in (EnterpriseUser, InstitutionAdmin, Operator):
            cls.fixed_count = max(1, round(cls.fixed_count * args.users / 50))
    return run_benchmark(lambda tmp, cleanup: run(args, tmp, cleanup), "qi-load-bench-")


if __name__ == "__main__":
    sys.exit(main())
