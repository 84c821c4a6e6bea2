"""Issue 7: two application instances and one Celery worker share nothing but PostgreSQL, S3 and
Redis, and behave as one platform.

Started here, each in its own process group, all on loopback: two gunicorn instances (the
project's gunicorn.conf.py, one worker each) on free ports, with the same DATABASE_URL (a scratch
database, migrated, holding the demo data), STORAGE_URL (a bucket on the session's SeaweedFS),
SECRET_KEY and CELERY_BROKER_URL (Redis database 14, flushed before and after), and one Celery
worker. The SMS gateway is `file_sms` (this folder), which records each request id it receives.

What is shown:

- a browser that logs in on instance A continues on instance B with the same cookie, and its
  logout on B ends the session on A too (sessions live in PostgreSQL);
- wrong passwords sent alternately to A and B count together: the account locks, and then even
  the right password is refused on both;
- failed logins from one client address (behind the trusted proxy, `X-Forwarded-For`) naming
  accounts that do not exist, spread over A and B, are throttled on both once they reach the
  limit (the windows are in Redis), while other addresses log in;
- a notification queued by an action on one instance (the regulator approving an application)
  is delivered once, by the worker;
- the worker killed (SIGKILL, whole process group) while the gateway is answering, and started
  again: the message is delivered exactly once.
"""

from __future__ import annotations

import os
import secrets
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import redis
from file_sms import read_log
from scaleout_support import (
    HERE,
    VENV_BIN,
    Browser,
    Service,
    create_database,
    drop_database,
    free_port,
    gunicorn_command,
    start_service,
    wait_for_http,
)
from sqlalchemy import select
from sqlalchemy.orm import Session

from core import migrate
from core.db import make_engine
from core.demo import DEMO_PASSWORD
from core.notifications.models import InboxMessage, OutboxMessage, OutboxStatus

pytestmark = [pytest.mark.scaleout, pytest.mark.postgres, pytest.mark.s3]

REDIS_DB = 14
LEASE_SECONDS = 3  # QI_NOTIFY_LEASE_SECONDS: a row claimed by a dead worker is free again after it
VISIBILITY_SECONDS = 3  # QI_CELERY_VISIBILITY_TIMEOUT: an unacknowledged message goes back then
PASSWORD = "Scale-out#2026"
OPERATOR, REGULATOR = "13800000002", "13800000001"  # demo staff
SCREENING_ADMIN, LIVE_ADMIN = "13922000003", "13922000001"  # admins of the two demo institutions
WRONG = "Wrong mobile number / email or password."
RATE_LIMIT = 20  # failed logins per client address in 600 s (the default)
LOCKED = "Too many failed logins: the account is locked."
THROTTLED = "Too many attempts from your network."


@dataclass
class Cluster:
    a: Service
    b: Service
    worker: Service
    database_url: str
    env: dict[str, str]
    sms_dir: Path
    logs: Path

    def browser(self, on: Service) -> Browser:
        browser = Browser(on.port)
        browser.cookies["lang"] = "en"  # English answers, to compare with the messages above
        return browser

    def start_worker(self) -> Service:
        command = [str(VENV_BIN / "celery"), "-A", "core.tasks.celery_app", "worker",
                   "--loglevel", "INFO", "--concurrency", "1", "--without-gossip",
                   "--without-mingle", "--without-heartbeat",
                   "-n", f"qi-scaleout-{secrets.token_hex(3)}@%h"]
        log = self.logs / "worker.log"
        offset = log.stat().st_size if log.exists() else 0
        worker = start_service("celery worker", command, self.env, log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if not worker.running():
                raise RuntimeError(f"the worker exited:\n{worker.log_tail()}")
            with open(log, "rb") as handle:
                handle.seek(offset)
                if b" ready." in handle.read():
                    self.worker = worker
                    return worker
            time.sleep(0.2)
        worker.stop()
        raise RuntimeError(f"the worker was not ready within 60 s:\n{worker.log_tail()}")

    def outbox(self, template: str, user_phone: str) -> list[OutboxMessage]:
        from core.identity.models import User

        engine = make_engine(self.database_url)
        try:
            with Session(engine) as session:
                return list(session.scalars(
                    select(OutboxMessage).join(User, User.id == OutboxMessage.recipient_user_id)
                    .where(OutboxMessage.template == template, User.phone == user_phone)
                    .order_by(OutboxMessage.id)))
        finally:
            engine.dispose()

    def institution_of(self, admin_phone: str) -> int:
        from core.identity.models import User
        from core.institutions.models import InstitutionStaff

        engine = make_engine(self.database_url)
        try:
            with Session(engine) as session:
                return session.scalars(select(InstitutionStaff.institution_id).join(
                    User, User.id == InstitutionStaff.user_id).where(User.phone == admin_phone)
                ).one()
        finally:
            engine.dispose()

    def inbox_rows(self, outbox_id: int) -> int:
        engine = make_engine(self.database_url)
        try:
            with Session(engine) as session:
                return len(session.scalars(select(InboxMessage).where(
                    InboxMessage.outbox_id == outbox_id)).all())
        finally:
            engine.dispose()


def seed(database_url: str, storage_url: str, instance: Path) -> None:
    """The demo (staff, a live institution, one in screening, certificates in S3) and two more
    accounts, through the real services; the demo's own messages go to the log, inline."""
    from core.app import create_app
    from core.db import db
    from core.demo import load_demo
    from core.identity.models import Role
    from core.identity.service import create_user

    app = create_app({"DATABASE_URL": database_url, "STORAGE_URL": storage_url,
                      "SECRET_KEY": "seed-" + "s" * 40, "INSTANCE_PATH": str(instance),
                      "CELERY_BROKER_URL": "", "SMS_PROVIDER": "log",
                      "PASSWORD_HASH_TIME_COST": 1, "PASSWORD_HASH_MEMORY_KIB": 1024})
    with app.app_context():
        load_demo()
        for email in ("walker@scaleout.example.cn", "locked@scaleout.example.cn"):
            create_user(display_name="多实例测试用户", password=PASSWORD, roles=[Role.ENTERPRISE],
                        email=email)
        db.session.close()
        db.engine.dispose()


@pytest.fixture(scope="module")
def cluster(pg_server_url: str, s3_server: Any, redis_base_url: str,
            tmp_path_factory: pytest.TempPathFactory,
            compiled_translations: list[Path]) -> Iterator[Cluster]:
    tmp = tmp_path_factory.mktemp("two-instances")
    sms_dir = tmp / "sms"
    sms_dir.mkdir()
    broker = f"{redis_base_url}/{REDIS_DB}"
    redis.Redis.from_url(broker).flushdb()
    database_url = create_database(pg_server_url, "qi_scaleout")
    services: list[Service] = []
    cluster: Cluster | None = None
    try:
        migrate.upgrade(database_url)
        storage_url = s3_server.url_for(f"qi-scaleout-{secrets.token_hex(6)}")
        seed(database_url, storage_url, tmp / "seed")
        pythonpath = os.pathsep.join(p for p in (str(HERE), os.environ.get("PYTHONPATH", "")) if p)
        env = {**os.environ, "DATABASE_URL": database_url, "STORAGE_URL": storage_url,
               "SECRET_KEY": "two-instances-" + secrets.token_hex(24), "QI_ENV": "development",
               "QI_INSTANCE_PATH": str(tmp / "instance"), "CELERY_BROKER_URL": broker,
               "QI_SMS_PROVIDER": "file_sms:provider", "QI_TEST_SMS_DIR": str(sms_dir),
               "PYTHONPATH": pythonpath, "QI_NOTIFY_LEASE_SECONDS": str(LEASE_SECONDS),
               "QI_CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_SECONDS),
               "QI_WEB_WORKERS": "1", "QI_WEB_THREADS": "4", "QI_LOGIN_MAX_FAILURES": "5",
               "QI_LOGIN_FAILURE_WINDOW_MINUTES": "15", "QI_LOGIN_LOCK_MINUTES": "15",
               # One trusted proxy: a request's X-Forwarded-For names its client (the rate-limit
               # test's); the other tests send none and are counted as 127.0.0.1.
               "QI_PROXY_TRUSTED_HOPS": "1", "QI_RATE_LIMIT_LOGIN": f"{RATE_LIMIT}/600"}
        for name in ("QI_INLINE_SCHEDULER", "PROMETHEUS_MULTIPROC_DIR", "FLASK_DEBUG", "QI_DEBUG"):
            env.pop(name, None)
        for name in ("a", "b"):
            port = free_port()
            services.append(start_service(f"instance {name}", gunicorn_command(port, workers=1),
                                          env, tmp / f"gunicorn-{name}.log", port=port))
        cluster = Cluster(services[0], services[1], services[0], database_url, env, sms_dir, tmp)
        services.append(cluster.start_worker())
        for service in services[:2]:
            wait_for_http(service, "/healthz")
        yield cluster
    finally:
        for service in services + ([cluster.worker] if cluster else []):
            service.stop()
        drop_database(database_url)
        redis.Redis.from_url(broker).flushdb()
        shutil.rmtree(tmp, ignore_errors=True)


def test_a_session_started_on_one_instance_continues_on_the_other(cluster: Cluster) -> None:
    browser = cluster.browser(cluster.a)
    status, _page = browser.log_in("walker@scaleout.example.cn", PASSWORD)
    assert status == 302

    on_b = browser.on(cluster.b.port)
    status, page = on_b.get("/account")
    assert status == 200, "instance B knows the session instance A started"
    assert "walker@scaleout.example.cn" in page

    # Logging out on B ends the session for A as well: the cookie is worthless everywhere.
    copied = dict(browser.cookies)
    status, _, _ = on_b.post_form("/logout", {}, page="/account")
    assert status == 302
    replay = Browser(cluster.a.port, cookies=copied)
    status, headers, _ = replay.request("GET", "/account")
    assert status == 302 and "/login" in headers["location"]


def test_wrong_passwords_on_both_instances_count_together_and_lock(cluster: Cluster) -> None:
    """QI_LOGIN_MAX_FAILURES is 5: the 5th wrong password locks the account, so the 5th and 6th
    answers are the lock message; then the right password is refused on both instances."""
    answers = []
    for attempt in range(6):
        instance = cluster.a if attempt % 2 == 0 else cluster.b
        status, page = cluster.browser(instance).log_in("locked@scaleout.example.cn",
                                                        f"not-the-password-{attempt}")
        assert status == 200, "a refused login shows the form again"
        answers.append("locked" if LOCKED in page else "wrong" if WRONG in page else page[:300])
    assert answers == ["wrong"] * 4 + ["locked"] * 2

    for instance in (cluster.a, cluster.b):
        status, page = cluster.browser(instance).log_in("locked@scaleout.example.cn", PASSWORD)
        assert status == 200 and LOCKED in page, f"{instance.name} let a locked account in"


def test_failed_logins_from_one_address_are_throttled_on_both_instances(cluster: Cluster) -> None:
    """Unknown identifiers, so no account lock-out can help: only the address's window, kept in
    Redis, stops them. 20 failures alternate between A and B; the 21st is refused on either."""
    client = {"X-Forwarded-For": "203.0.113.50", "Content-Type": "application/x-www-form-urlencoded"}

    def attempt(instance: Service, identifier: str, headers: dict[str, str]) -> tuple[int, dict, str]:
        browser = cluster.browser(instance)
        body = urlencode({"csrf_token": browser.csrf("/login"), "identifier": identifier,
                          "password": "not-the-password-1"}).encode()
        status, response_headers, page = browser.request("POST", "/login", body, headers)
        return status, response_headers, page.decode(errors="replace")

    for n in range(RATE_LIMIT):
        instance = cluster.a if n % 2 == 0 else cluster.b
        status, _, page = attempt(instance, f"nobody{n}@scaleout.example.cn", client)
        assert status == 200 and WRONG in page, f"attempt {n + 1} on {instance.name}: {status}"
    for instance in (cluster.a, cluster.b):
        status, headers, page = attempt(instance, "nobody@scaleout.example.cn", client)
        assert status == 429, f"{instance.name} let the {RATE_LIMIT + 1}th failure through"
        assert THROTTLED in page and 1 <= int(headers["retry-after"]) <= 600
    neighbour = {**client, "X-Forwarded-For": "203.0.113.51"}
    status, _, page = attempt(cluster.b, "nobody@scaleout.example.cn", neighbour)
    assert status == 200 and WRONG in page, "another address is not throttled"


def _wait_for(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def test_a_notification_queued_on_one_instance_is_delivered_once_by_the_worker(
        cluster: Cluster) -> None:
    operator = cluster.browser(cluster.a)
    assert operator.log_in(OPERATOR, DEMO_PASSWORD)[0] == 302
    regulator = cluster.browser(cluster.b)
    assert regulator.log_in(REGULATOR, DEMO_PASSWORD)[0] == 302
    institution = operator.graphql(
        "{ reviewQueue { ... on ReviewQueue { applications { institutionId state } } } }")
    waiting = [a["institutionId"] for a in
               institution["data"]["reviewQueue"]["applications"] if a["state"] == "SCREENING"]
    assert waiting, institution
    passed = operator.graphql(
        "mutation($id: ID!) { screenApplication(institutionId: $id, action: PASS, "
        "reason: \"材料齐全\") { __typename } }", {"id": waiting[0]}, mutation=True)
    assert passed["data"]["screenApplication"]["__typename"] == "ApplicationSuccess", passed

    # The regulator's approval on instance B queues the message to the institution's admin.
    approved = regulator.graphql(
        "mutation($id: ID!) { reviewApplication(institutionId: $id, decision: APPROVE, "
        "reason: \"同意入驻\") { __typename } }", {"id": waiting[0]}, mutation=True)
    assert approved["data"]["reviewApplication"]["__typename"] == "ApplicationSuccess", approved

    def delivered() -> list[OutboxMessage] | None:
        rows = cluster.outbox("application_approved", SCREENING_ADMIN)
        return rows if rows and all(r.status is OutboxStatus.SENT for r in rows) else None

    rows = _wait_for(delivered, 30, "the worker to send the approval messages")
    by_channel = {r.channel: r for r in rows}
    assert sorted(by_channel) == ["inbox", "sms"] and len(rows) == 2
    assert all(r.attempts == 1 for r in rows)
    sms_id = f"qi-outbox-{by_channel['sms'].id}-"
    events = [(event, rid) for event, rid in read_log(cluster.sms_dir) if rid.startswith(sms_id)]
    assert [e for e, _ in events] == ["delivered"], events
    assert cluster.inbox_rows(by_channel["inbox"].id) == 1
    assert "qi.deliver_outbox" in (cluster.logs / "worker.log").read_text(errors="replace")


def test_a_worker_killed_mid_delivery_and_restarted_delivers_exactly_once(cluster: Cluster) -> None:
    """At-least-once + an idempotent delivery id = an exactly-once effect.

    The gateway accepts the SMS and then answers slowly; the worker is SIGKILLed (main process
    and pool, no warm shutdown, no acknowledgement) before it can mark the row sent. The row
    stays `sending` under its lease, and the task message stays unacknowledged in Redis
    (`task_acks_late`). The worker started again takes the message back once Redis's visibility
    timeout has passed, claims the row again once its lease has expired, and sends it again
    with the same delivery id; the gateway recognises the id and does not send twice. So the
    gateway saw the id twice (`delivered`, then `duplicate`), delivered it once, and the outbox
    row is `sent` after two attempts; the inbox copy, a database row, is written exactly once.
    """
    regulator = cluster.browser(cluster.a)
    assert regulator.log_in(REGULATOR, DEMO_PASSWORD)[0] == 302
    (cluster.sms_dir / "delay").write_text("60")  # the gateway now answers after 60 s
    notice = regulator.graphql(
        "mutation($id: ID!) { issueRemovalNotice(institutionId: $id, reason: PENALTY, "
        "details: \"受到行政处罚\", legacyDays: 30) { __typename } }",
        {"id": cluster.institution_of(LIVE_ADMIN)}, mutation=True)
    assert notice["data"]["issueRemovalNotice"]["__typename"] == "IssueRemovalNoticeSuccess", notice

    sms = _wait_for(lambda: [r for r in cluster.outbox("removal_notice", LIVE_ADMIN)
                             if r.channel == "sms"], 10, "the removal notice's SMS row")[0]
    request_id = f"qi-outbox-{sms.id}-"
    _wait_for(lambda: any(rid.startswith(request_id) for _, rid in read_log(cluster.sms_dir)),
              30, "the gateway to receive the SMS")
    cluster.worker.kill()  # mid-task: the gateway is still "answering"
    (cluster.sms_dir / "delay").unlink()
    killed_at = time.monotonic()
    row = cluster.outbox("removal_notice", LIVE_ADMIN)[0]
    assert row.status is OutboxStatus.SENDING and row.attempts == 1

    # Restart once the lease and the visibility timeout have both run out.
    time.sleep(max(0.0, killed_at + max(LEASE_SECONDS, VISIBILITY_SECONDS) + 0.5 - time.monotonic()))
    cluster.start_worker()

    def all_sent() -> list[OutboxMessage] | None:
        rows = cluster.outbox("removal_notice", LIVE_ADMIN)
        return rows if rows and all(r.status is OutboxStatus.SENT for r in rows) else None

    rows = _wait_for(all_sent, 45, "the restarted worker to finish the delivery")
    by_channel = {r.channel: r for r in rows}
    assert sorted(by_channel) == ["inbox", "sms"]
    assert by_channel["sms"].attempts == 2, "the killed attempt and the one after the restart"
    events = [event for event, rid in read_log(cluster.sms_dir) if rid.startswith(request_id)]
    assert events == ["delivered", "duplicate"], events
    assert cluster.inbox_rows(by_channel["inbox"].id) == 1
