"""Background work (issue 7): the one job registry, Celery on the real Redis, the inline mode.

Every periodic job is run twice and the second run changes nothing; with a broker configured a
committed notification becomes a `qi.deliver_outbox` message that a real worker (in this process,
on Redis database 15, flushed before and after) delivers once, and delivers nothing more when the
message comes again; without a broker the same code runs inline and on the in-process scheduler.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from celery.schedules import crontab
from sqlalchemy import func, select

from core.audit.models import AuditEvent
from core.clock import local_today
from core.db import db, utcnow
from core.documents.models import Document
from core.documents.storage import get_storage
from core.hookspecs import hookimpl
from core.identity.models import Role, User
from core.institutions.models import Institution, InstitutionStatus
from core.institutions.service import create_institution
from core.notifications import service as notifications
from core.notifications.models import InboxMessage, OutboxMessage, OutboxStatus
from core.onboarding.models import (
    Application,
    ApplicationEvent,
    ApplicationState,
    RemovalNotice,
    RemovalReason,
)
from core.tasks import PERIODIC_JOBS, Daily, Every, get_job, jobs, run_job
from core.tasks.celery_app import beat_schedule, celery_config, get_celery
from core.tasks.scheduler import InlineScheduler, start_inline_scheduler, stop_inline_scheduler
from core.testing import need_server

REDIS_TEST_URL = "redis://127.0.0.1:6379/15"
REJECTED = {"institution_name": "佛山某检测公司", "reason": "检验检测机构资质认定证书已过期"}


@pytest.fixture
def redis_url() -> Iterator[str]:
    """Redis database 15 of the local server, empty before and after the test."""
    import redis

    client = redis.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.exceptions.RedisError as exc:
        need_server("Redis", f"{REDIS_TEST_URL}: {exc}")
    client.flushdb()
    try:
        yield REDIS_TEST_URL
    finally:
        client.flushdb()
        client.close()


@pytest.fixture
def admin(make_user: Callable[..., User]) -> User:
    return make_user(Role.INSTITUTION_ADMIN, name="机构管理员", phone="13800138000")


@pytest.fixture
def institution(admin: User) -> Institution:
    return create_institution(legal_name="佛山市顺德区质检技术有限公司", uscc=None, admin=admin,
                              status=InstitutionStatus.LIVE)


def count(model: Any, *where: Any) -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def outbox_statuses() -> list[OutboxStatus]:
    db.session.rollback()
    db.session.expire_all()
    return list(db.session.scalars(select(OutboxMessage.status).order_by(OutboxMessage.id)))


def queue_rejection(user: User, key: str = "r:1") -> list[int]:
    queued = notifications.notify(user, "application_rejected", REJECTED, channels=("inbox",),
                                  dedupe_key=key)
    ids = [m.id for m in queued]
    db.session.commit()
    return ids


def wait_for(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)


# ---------------------------------------------------------------- the registry


def test_beat_and_the_inline_scheduler_run_every_job_of_the_one_registry(app):
    names = [job.name for job in PERIODIC_JOBS]
    assert len(set(names)) == len(names) and {
        "deliver_outbox_due", "certificate_expiry_reminders", "sweep_orphan_objects",
        "lapse_overdue_applications", "complete_due_removals"} <= set(names)

    config = {**app.config, "CELERY_BROKER_URL": REDIS_TEST_URL, "OUTBOX_SWEEP_SECONDS": 30}
    schedule = beat_schedule(config)
    assert sorted(schedule) == sorted(names)
    for job in PERIODIC_JOBS:
        entry = schedule[job.name]
        assert entry["task"] == job.task_name == f"qi.{job.name}"
        if isinstance(job.schedule, Daily):
            assert isinstance(entry["schedule"], crontab)
            assert entry["schedule"].hour == {job.schedule.hour}
    assert schedule["deliver_outbox_due"]["schedule"] == timedelta(seconds=30)  # the config's

    settings = celery_config(config)
    assert settings["task_acks_late"] and settings["task_reject_on_worker_lost"]
    assert settings["worker_prefetch_multiplier"] == 1 and settings["timezone"] == "Asia/Shanghai"
    app.config["CELERY_BROKER_URL"] = REDIS_TEST_URL  # configured, never contacted here
    celery = get_celery(app)
    celery.finalize()
    assert {job.task_name for job in PERIODIC_JOBS} | {"qi.deliver_outbox"} <= set(celery.tasks)
    assert celery.tasks["qi.deliver_outbox"].autoretry_for  # transient errors: back-off retries

    scheduler = InlineScheduler(app)
    assert [job.name for job in scheduler.jobs] == names

    app.config["CELERY_BROKER_URL"] = ""
    result = app.test_cli_runner().invoke(args=["jobs", "list"])
    assert result.exit_code == 0 and all(name in result.output for name in names)
    assert "in-process scheduler" in result.output


def test_a_daily_job_is_due_at_its_shanghai_time(app):
    daily = Daily(0, 15)
    moment = utcnow().replace(year=2026, month=5, day=1, hour=15, minute=0, second=0,
                              microsecond=0)  # 23:00 in Shanghai
    assert daily.next_after(moment, app.config) == moment + timedelta(minutes=75)
    assert Every(60, setting="OUTBOX_SWEEP_SECONDS").interval({"OUTBOX_SWEEP_SECONDS": 5}) == 5


# ---------------------------------------------------------------- each job, twice


@pytest.fixture
def no_inline_delivery(app_config: dict[str, Any]) -> dict[str, Any]:
    app_config["NOTIFY_INLINE_DELIVERY"] = False
    return app_config


def test_the_outbox_job_sends_once(no_inline_delivery, app, admin):
    queue_rejection(admin)
    assert outbox_statuses() == [OutboxStatus.PENDING]
    assert jobs.deliver_outbox_due()["sent"] == 1
    assert jobs.deliver_outbox_due() == {}
    assert outbox_statuses() == [OutboxStatus.SENT] and count(InboxMessage) == 1


class HookRecorder:
    """A notification plugin that collects what the `certificates_expiring` hook hands it."""

    def __init__(self) -> None:
        self.calls: list[list[Any]] = []

    @hookimpl
    def certificates_expiring(self, reminders):  # type: ignore[no-untyped-def]
        self.calls.append(reminders)


def test_certificate_reminders_are_queued_once_and_the_hook_called_once_a_day(
        app, admin, institution, register_plugin):
    recorder = register_plugin(HookRecorder())
    today = local_today()
    db.session.add(Document(
        institution_id=institution.id, kind="cma", certificate_number="202119124567",
        issuer="广东省市场监督管理局", valid_from=today - timedelta(days=700),
        valid_to=today + timedelta(days=10), object_key="documents/2026/01/abc",
        original_filename="cma.pdf", content_type="application/pdf", size=10, sha256="0" * 64,
        uploaded_by_id=admin.id))
    db.session.commit()

    first = jobs.certificate_expiry_reminders()
    assert first == {"reminders": 1, "queued": 2, "hook": 1}  # SMS and inbox to the admin
    messages = count(OutboxMessage)
    assert jobs.certificate_expiry_reminders() == {"reminders": 1, "queued": 0, "hook": 0}
    assert count(OutboxMessage) == messages and len(recorder.calls) == 1
    [inbox] = db.session.scalars(select(InboxMessage)).all()
    assert inbox.title == "资质证书即将到期" and "202119124567" in inbox.body

    # The next day the plugins hear again; the admin is not told the same thing twice.
    assert jobs.certificate_expiry_reminders(today + timedelta(days=1))["queued"] == 0
    assert len(recorder.calls) == 2
    # Once it has expired, one more message says so.
    expired = jobs.certificate_expiry_reminders(today + timedelta(days=11))
    assert expired["queued"] == 2
    assert jobs.certificate_expiry_reminders(today + timedelta(days=11))["queued"] == 0


def test_the_orphan_sweep_removes_once(app_config, app, admin, institution):
    import io

    app.config["STORAGE_SWEEP_GRACE_HOURS"] = 0
    storage = get_storage(app)
    orphan = storage.new_key("documents")
    kept = storage.new_key("documents")
    for key in (orphan, kept):
        storage.put_stream(key, io.BytesIO(b"%PDF-1.4 x"), content_type="application/pdf")
    db.session.add(Document(
        institution_id=institution.id, kind="cma", object_key=kept, original_filename="a.pdf",
        content_type="application/pdf", size=10, sha256="0" * 64, uploaded_by_id=admin.id))
    db.session.commit()
    audits = count(AuditEvent)

    assert jobs.sweep_orphan_objects() == {"removed": 1}
    assert jobs.sweep_orphan_objects() == {}
    assert not storage.exists(orphan) and storage.exists(kept)
    assert count(AuditEvent) == audits + 1  # one sweep recorded, not two


def test_overdue_applications_lapse_once(app, admin, institution):
    db.session.add(Application(institution_id=institution.id,
                               state=ApplicationState.MATERIALS_REQUESTED,
                               materials_deadline=local_today() - timedelta(days=1)))
    db.session.commit()
    assert jobs.lapse_overdue_applications() == {"lapsed": [institution.id]}
    events, messages = count(ApplicationEvent), count(OutboxMessage)
    assert jobs.lapse_overdue_applications() == {}
    assert (count(ApplicationEvent), count(OutboxMessage)) == (events, messages) == (1, 2)
    assert db.session.scalar(select(Application.state)) is ApplicationState.LAPSED


def test_due_removals_complete_once(app, admin, institution, make_user):
    regulator = make_user(Role.REGULATOR)
    db.session.add(RemovalNotice(institution_id=institution.id, reason=RemovalReason.PENALTY,
                                 details="行政处罚", issued_by_id=regulator.id,
                                 legacy_deadline=local_today() - timedelta(days=1)))
    db.session.commit()
    assert jobs.complete_due_removals() == {"removed": [institution.id]}
    audits = count(AuditEvent)
    assert jobs.complete_due_removals() == {}
    assert count(AuditEvent) == audits
    assert db.session.get(Institution, institution.id).status is InstitutionStatus.REMOVED


# ---------------------------------------------------------------- no broker: inline


def test_without_a_broker_a_commit_delivers_inline(app, admin):
    assert not app.config["CELERY_BROKER_URL"]
    queue_rejection(admin)
    assert outbox_statuses() == [OutboxStatus.SENT] and count(InboxMessage) == 1


def test_the_in_process_scheduler_runs_due_jobs_in_one_process_only(no_inline_delivery, app,
                                                                   admin, tmp_path):
    queue_rejection(admin)
    scheduler = InlineScheduler(app, start_delay=0, lock_path=tmp_path / "sched.lock")
    assert scheduler.run_pending() == [job.name for job in PERIODIC_JOBS]  # catch-up at start
    assert scheduler.run_pending() == []  # nothing due again yet
    assert outbox_statuses() == [OutboxStatus.SENT]
    assert scheduler.next_run["deliver_outbox_due"] - utcnow() <= timedelta(seconds=60)

    # The thread: one scheduler per machine holds the lock and runs the jobs.
    queue_rejection(admin, "r:2")
    app.config["OUTBOX_SWEEP_SECONDS"] = 1
    running = start_inline_scheduler(app, start_delay=0, lock_path=tmp_path / "sched.lock")
    try:
        assert start_inline_scheduler(app) is running  # once per app
        wait_for(lambda: outbox_statuses() == [OutboxStatus.SENT, OutboxStatus.SENT])
        other = InlineScheduler(app, lock_path=tmp_path / "sched.lock")
        assert other._hold_lock() is False  # another process would wait for the lock
    finally:
        stop_inline_scheduler(app)
    assert other._hold_lock() is True  # free again once that process stopped
    other.stop()


def test_a_failing_scheduled_job_is_logged_and_retried_later(app, caplog, tmp_path):
    job = get_job("sweep_orphan_objects")
    broken = type(job)(job.name, lambda: 1 / 0, job.schedule, job.description)
    scheduler = InlineScheduler(app, [broken], start_delay=0, lock_path=tmp_path / "l")
    with caplog.at_level(logging.ERROR, logger="core.tasks"):
        assert scheduler.run_pending() == [broken.name]
    assert "scheduled job sweep_orphan_objects failed" in caplog.text
    assert scheduler.next_run[broken.name] > utcnow()
    with pytest.raises(ZeroDivisionError):  # `qi jobs run` reports the failure
        run_job(broken, app)


# ---------------------------------------------------------------- with a broker: Celery on Redis


@pytest.fixture
def broker_config(app_config: dict[str, Any], redis_url: str) -> dict[str, Any]:
    app_config["CELERY_BROKER_URL"] = redis_url
    return app_config


def test_with_a_broker_the_worker_delivers_once_even_when_the_message_comes_twice(
        broker_config, app, admin, redis_url):
    import redis
    from celery.contrib.testing.worker import start_worker

    ids = queue_rejection(admin)
    assert outbox_statuses() == [OutboxStatus.PENDING]  # nothing sent by the web process
    queue = redis.Redis.from_url(redis_url)
    assert queue.llen("celery") == 1  # one qi.deliver_outbox message waits

    celery = get_celery(app)
    with start_worker(celery, perform_ping_check=False, shutdown_timeout=15):
        wait_for(lambda: outbox_statuses() == [OutboxStatus.SENT])
        # Redelivery (a worker died before acknowledging): the same message again.
        celery.send_task("qi.deliver_outbox", args=[ids])
        wait_for(lambda: queue.llen("celery") == 0)
        wait_for(lambda: _task_runs(app, "qi.deliver_outbox") == 2)
    assert count(InboxMessage) == 1 and outbox_statuses() == [OutboxStatus.SENT]
    queue.close()


def _task_runs(app, task: str) -> float:
    from core.observability.metrics import metrics_for

    return metrics_for(app).registry.get_sample_value(  # type: ignore[union-attr]
        "qi_task_runs_total", {"task": task, "outcome": "success"}) or 0


def test_a_broker_that_is_down_leaves_the_messages_to_the_periodic_job(app, admin, caplog):
    app.config["CELERY_BROKER_URL"] = "redis://127.0.0.1:1/0"  # nothing listens there
    with caplog.at_level(logging.ERROR, logger="core.notifications"):
        queue_rejection(admin)  # the request does not fail
    assert "stay pending" in caplog.text
    assert outbox_statuses() == [OutboxStatus.PENDING]
    assert run_job(get_job("deliver_outbox_due"), app)["sent"] == 1
    assert outbox_statuses() == [OutboxStatus.SENT] and count(InboxMessage) == 1


def test_qi_inline_scheduler_starts_with_the_first_request_served(app_config):
    from core.app import create_app

    app = create_app({**app_config, "INLINE_SCHEDULER": True})
    client = app.test_client()
    try:
        client.get("/healthz")  # a probe is not the app serving
        assert "qi.inline_scheduler" not in app.extensions
        client.get("/login")
        assert "qi.inline_scheduler" in app.extensions
    finally:
        stop_inline_scheduler(app)
        app.extensions["qi.db"].engine.dispose()
