"""Notifications through a transactional outbox (issue 4 item 6, SECURITY.md 16).

Every message is written in the transaction of the state change, delivered after it commits,
retried with back-off while the provider is down, never lost and never queued twice. SMS
announces an approval (R-ONB-05); e-mail goes to a real local SMTP server (aiosmtpd).
"""

from __future__ import annotations

import email
import logging
import socket
import threading
import time
from datetime import date, datetime, timedelta
from email import policy
from email.header import decode_header, make_header

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.db import db, utcnow
from core.hookspecs import hookimpl
from core.identity.models import Role
from core.notifications import service
from core.notifications.channels import DeliveryError, delivery_id
from core.notifications.models import InboxMessage, OutboxMessage, OutboxStatus
from core.notifications.rendering import TemplateError, render, template_codes
from core.plugins import PluginError

PHONE = "13800138000"
APPROVED = {"institution_name": "佛山市计量测试研究院"}


@pytest.fixture
def app_config(app_config):
    # Most tests drive `deliver_due` themselves; the inline test switches delivery after commit on.
    app_config["NOTIFY_INLINE_DELIVERY"] = False
    return app_config


@pytest.fixture
def admin(make_user):
    return make_user(Role.INSTITUTION_ADMIN, name="机构管理员", phone=PHONE)


def outbox(**where) -> list[OutboxMessage]:
    """The outbox as the database holds it now (ends the test session's snapshot first)."""
    db.session.rollback()
    db.session.expire_all()  # rows another session (the worker, the CLI) changed
    stmt = select(OutboxMessage).filter_by(**where).order_by(OutboxMessage.id)
    return list(db.session.scalars(stmt))


def count(model) -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(model))


# ---------------------------------------------------------------- a real SMTP server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Recorder:
    """aiosmtpd handler keeping every accepted message; refuses the addresses in `reject`."""

    def __init__(self) -> None:
        self.received: list[email.message.EmailMessage] = []
        self.raw: list[bytes] = []
        self.reject: set[str] = set()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.reject:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.raw.append(envelope.content)
        self.received.append(email.message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted for delivery"


class SmtpServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.handler = Recorder()
        self.controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp(app):
    server = SmtpServer()
    server.start()
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=server.port, SMTP_FROM="noreply@qi.example.cn",
                      SMTP_TIMEOUT=5)
    yield server
    server.stop()


# ---------------------------------------------------------------- test channels (plugins)


class RecordingChannel:
    def __init__(self, code: str = "wechat") -> None:
        self.code = code
        self.sent: list[tuple[int, str | None, str]] = []

    def address_for(self, user):
        return f"openid-{user.id}"

    def send(self, message: OutboxMessage) -> None:
        self.sent.append((message.id, message.address, message.body))


class ChannelPlugin:
    def __init__(self, *channels) -> None:
        self.channels = list(channels)

    @hookimpl
    def notification_channels(self):
        return self.channels


class FlakyChannel(RecordingChannel):
    """Fails `failures` times with a retryable error, then works."""

    def __init__(self, code: str, failures: int) -> None:
        super().__init__(code)
        self.failures = failures
        self.calls = 0

    def send(self, message: OutboxMessage) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise DeliveryError("gateway 503")
        super().send(message)


class WorkerCrash(BaseException):
    """The process dies mid-send (nothing in the worker catches a BaseException)."""


# ---------------------------------------------------------------- templates

SAMPLES = {
    "assessment_final": {"institution_name": "佛山市质量计量监督检测中心", "score": 50, "passed": False,
                         "period_start": "2025-01-01", "period_end": "2025-12-31"},
    "application_approved": APPROVED,
    "application_rejected": {"institution_name": "佛山某检测公司",
                             "reason": "检验检测机构资质认定证书已过期"},
    "materials_requested": {"institution_name": "佛山某检测公司", "materials": "近三年的能力验证报告",
                            "deadline": date(2026, 12, 15)},
    "onsite_visit_scheduled": {"institution_name": "佛山某检测公司", "place": "佛山市禅城区季华五路1号",
                               "visit_at": datetime(2026, 12, 3, 1, 30, tzinfo=utcnow().tzinfo)},
    "removal_notice": {"institution_name": "佛山某检测公司", "reason": "年度评价不合格"},
    "commitment_resign": {"institution_name": "佛山某检测公司", "version": "2027版"},
    "certificate_expiring": {"institution_name": "佛山某检测公司", "certificate": "CMA资质认定证书",
                             "valid_to": date(2026, 12, 31)},
    "consultation_reminder": {"institution_name": "佛山某检测公司", "subject": "家电安全检测周期咨询",
                              "received_at": datetime(2026, 3, 16, 1, 0, tzinfo=utcnow().tzinfo),
                              "counted_minutes": 95, "limit_hours": 2},
    "homepage_hidden": {"institution_name": "佛山某检测公司", "reason": "no_item", "months": 1},
    "homepage_restored": {"institution_name": "佛山某检测公司"},
    "profile_deadline_reminder": {"institution_name": "佛山某检测公司", "deadline": date(2026, 10, 12),
                                  "final": False, "missing": "请至少发布一个按规范填写的服务项目"},
    "spot_check_rectify": {"institution_name": "佛山某检测公司", "findings": "服务项目未标注收费方式",
                           "checked_at": datetime(2026, 6, 5, 2, 0, tzinfo=utcnow().tzinfo),
                           "operator_name": "企质通运维中心 黄晓婷"},
    "spot_check_referred": {"institution_name": "佛山某检测公司", "findings": "涉嫌超资质范围出具报告",
                            "checked_at": datetime(2026, 6, 5, 2, 0, tzinfo=utcnow().tzinfo),
                            "operator_name": "企质通运维中心 黄晓婷"},
    "demand_matched": {"institution_name": "佛山某检测公司", "category": "计量",
                       "title": "生产线压力表、温度计年度校准", "deadline": date(2026, 12, 20)},
    "demand_response_received": {"institution_name": "佛山某检测公司",
                                 "title": "生产线压力表、温度计年度校准"},
    "demand_picked": {"institution_name": "佛山某检测公司", "title": "生产线压力表、温度计年度校准"},
    "complaint_filed": {"institution_name": "佛山某检测公司", "subject": "检测报告延期两周未出具",
                        "filed_at": datetime(2026, 5, 6, 2, 0, tzinfo=utcnow().tzinfo)},
    "complaint_decided": {"institution_name": "佛山某检测公司", "subject": "检测报告延期两周未出具",
                          "verified": True, "serious": False, "notes": "经核查，报告确有延期"},
    "follow_up_opened": {"institution_name": "佛山某检测公司", "order_title": "电磁灶安全检测",
                         "stars": 2, "comment": "报告晚了一周"},
    "follow_up_responded": {"institution_name": "佛山某检测公司", "order_title": "电磁灶安全检测",
                            "stars": 2, "comment": "报告晚了一周", "response": "已致电致歉并减免加急费"},
    "follow_up_judged": {"institution_name": "佛山某检测公司", "order_title": "电磁灶安全检测",
                         "stars": 2, "comment": "报告晚了一周", "satisfied": False,
                         "verdict": "仍未说明延误原因"},
    "follow_up_reminder": {"institution_name": "佛山某检测公司", "order_title": "电磁灶安全检测",
                           "stars": 1, "comment": "态度差", "days_open": 3, "working_days": 2},
}


def test_every_template_renders_chinese_with_the_platform_name(app):
    """Message templates are Chinese; each names the platform (QI_PLATFORM_NAME)."""
    assert sorted(SAMPLES) == template_codes()
    name = app.config["QI_PLATFORM_NAME"]
    for code, context in SAMPLES.items():
        text = render(code, context, platform_name=name)
        assert text.subject and text.body and "\n" not in text.sms
        assert text.body.startswith("您好，"), code
        assert name in text.body or name in text.sms, code
    onsite = render("onsite_visit_scheduled", SAMPLES["onsite_visit_scheduled"], platform_name=name)
    assert "2026年12月3日 09:30" in onsite.body  # stored UTC, shown in Asia/Shanghai
    materials = render("materials_requested", SAMPLES["materials_requested"], platform_name=name)
    assert "2026年12月15日前" in materials.body  # R-ONB-04: the deadline is in the message
    resign = render("commitment_resign", SAMPLES["commitment_resign"], platform_name=name)
    assert "2027版" in resign.body and "重新签署" in resign.subject  # R-COM-02
    expired = render("certificate_expiring", {**SAMPLES["certificate_expiring"], "expired": True},
                     platform_name=name)
    assert expired.subject == "资质证书已过期" and "已于2026年12月31日过期" in expired.body
    # Callers may pass ISO strings; a long free-text reason stays out of the text message.
    removal = render("removal_notice", {**SAMPLES["removal_notice"], "reason": "评价不合格" * 200,
                                        "deadline": "2026-12-20"}, platform_name=name)
    assert "于2026年12月20日前" in removal.body and "于2026年12月20日前" in removal.sms
    assert "评价不合格" in removal.body and "评价不合格" not in removal.sms and len(removal.sms) < 120


def test_a_missing_variable_or_unknown_template_fails_loudly(app, admin):
    with pytest.raises(TemplateError, match="institution_name"):
        render("application_approved", {}, platform_name="平台")
    with pytest.raises(TemplateError):
        render("../config", {}, platform_name="平台")
    with pytest.raises(ValueError, match="no notification template"):
        service.notify(admin, "no_such_template", {}, dedupe_key="x")
    with pytest.raises(ValueError, match="unknown notification channel"):
        service.notify(admin, "application_approved", APPROVED, channels=("fax",), dedupe_key="x")
    with pytest.raises(ValueError, match="path on this site"):
        service.notify(admin, "application_approved", APPROVED, dedupe_key="x",
                       link="https://evil.example/")


# ---------------------------------------------------------------- the transaction


def test_messages_are_queued_in_the_state_change_s_transaction(app, admin):
    """SECURITY.md 16: a rolled-back state change leaves no message; a committed one leaves all."""
    service.notify(admin, "application_approved", APPROVED, dedupe_key="approved:app:1")
    db.session.rollback()
    assert count(OutboxMessage) == 0

    queued = service.notify(admin, "application_approved", APPROVED, dedupe_key="approved:app:1",
                            link="/institutions/1")
    db.session.commit()
    rows = outbox()
    assert [r.channel for r in rows] == ["sms", "inbox"] == [q.channel for q in queued]
    sms = rows[0]
    assert sms.status is OutboxStatus.PENDING and sms.address == PHONE
    assert sms.body.startswith("【佛山企质通】您好，佛山市计量测试研究院的入驻申请已审核通过，机构主页已在")
    assert app.config["QI_PLATFORM_NAME"] in sms.body
    assert rows[1].address is None and rows[1].link == "/institutions/1"


def test_a_dedupe_key_never_queues_the_same_message_twice(app, admin, make_user):
    """A retried state change or a redelivered task queues nothing new."""
    first = service.notify(admin, "application_approved", APPROVED, dedupe_key="approved:app:7")
    again = service.notify(admin, "application_approved", APPROVED, dedupe_key="approved:app:7")
    assert len(first) == 2 and again == []
    db.session.commit()
    assert service.notify(admin, "application_approved", APPROVED, dedupe_key="approved:app:7") == []
    db.session.commit()
    other_admin = make_user(Role.INSTITUTION_ADMIN, phone="13900139000")
    assert len(service.notify(other_admin, "application_approved", APPROVED,
                              dedupe_key="approved:app:7")) == 2  # scoped per recipient
    db.session.commit()
    assert count(OutboxMessage) == 4


def test_concurrent_transactions_queue_a_dedupe_key_once(app, admin, postgres_url):
    """PostgreSQL: the second transaction waits for the first and then queues nothing."""
    first = Session(db.engine)
    service.notify(admin, "application_approved", APPROVED, dedupe_key="race", session=first)
    timer = threading.Timer(0.3, first.commit)
    timer.start()
    started = time.monotonic()
    try:
        assert service.notify(admin, "application_approved", APPROVED, dedupe_key="race") == []
        assert time.monotonic() - started >= 0.2  # it really waited for the other transaction
        db.session.commit()
    finally:
        timer.join()
        first.close()
    assert count(OutboxMessage) == 2


# ---------------------------------------------------------------- delivery


def test_approval_sms_goes_through_the_default_log_provider(app, admin, caplog):
    """R-ONB-05: approval sends the institution an SMS; the default backend logs it (the phone
    number masked) and the outbox row is the record."""
    service.notify(admin, "application_approved", APPROVED, channels=("sms",), dedupe_key="a:1")
    db.session.commit()
    with caplog.at_level(logging.INFO, logger="core.notifications"):
        report = service.deliver_due()
    assert (report.sent, report.retrying, report.dead) == (1, 0, 0)
    [sms] = outbox()
    assert sms.status is OutboxStatus.SENT and sms.sent_at and sms.attempts == 1
    logged = [r.getMessage() for r in caplog.records if r.name == "core.notifications.sms"]
    assert len(logged) == 1 and "138****8000" in logged[0] and PHONE not in logged[0]
    assert sms.body in logged[0] and delivery_id(sms) in logged[0]
    assert service.deliver_due().claimed == 0  # sent once, never again


def test_messages_are_delivered_after_commit_through_the_inline_seam(app, admin, monkeypatch):
    """No broker (`make run`): the commit that queued the messages hands exactly those ids to
    `schedule_delivery`, which sends them inline; a rollback hands over nothing."""
    app.config["NOTIFY_INLINE_DELIVERY"] = True
    scheduled: list[list[int]] = []
    real = service.schedule_delivery
    monkeypatch.setattr(service, "schedule_delivery",
                        lambda ids: (scheduled.append(sorted(ids)), real(ids)))
    service.notify(admin, "application_rejected", SAMPLES["application_rejected"], dedupe_key="r:1")
    db.session.rollback()
    assert scheduled == []

    queued = service.notify(admin, "application_rejected", SAMPLES["application_rejected"],
                            dedupe_key="r:1", link="/applications/1")
    assert service.unread_inbox(admin) == [] and scheduled == []  # nothing leaves before commit
    db.session.commit()
    assert scheduled == [sorted(m.id for m in queued)]
    assert [m.status for m in queued] == [OutboxStatus.SENT, OutboxStatus.SENT]  # reloaded
    [inbox] = service.unread_inbox(admin)
    assert inbox.title == "入驻申请未通过审核" and "检验检测机构资质认定证书已过期。" in inbox.body
    assert inbox.link == "/applications/1"
    db.session.commit()
    assert scheduled == [sorted(m.id for m in queued)]  # a later commit sends nothing again
    assert service.deliver_due(now=utcnow() + timedelta(days=1)).claimed == 0
    assert count(InboxMessage) == 1  # the inbox receives it exactly once


def test_an_inline_delivery_failure_never_breaks_the_request(app, admin, monkeypatch, caplog):
    app.config["NOTIFY_INLINE_DELIVERY"] = True

    def broken(ids):
        raise RuntimeError("broker down")

    monkeypatch.setattr(service, "schedule_delivery", broken)
    service.notify(admin, "removal_notice", SAMPLES["removal_notice"], dedupe_key="rm:1")
    with caplog.at_level(logging.ERROR, logger="core.notifications"):
        db.session.commit()  # does not raise
    assert "stay pending" in caplog.text
    assert {m.status for m in outbox()} == {OutboxStatus.PENDING}
    monkeypatch.undo()
    assert service.deliver_due().sent == 2  # the worker picks them up


def test_email_arrives_through_a_real_smtp_server_in_chinese(app, admin, smtp):
    [queued] = service.notify(admin, "materials_requested", SAMPLES["materials_requested"],
                              channels=("email",), dedupe_key="m:1")
    db.session.commit()
    assert service.deliver_due().sent == 1
    [mail] = smtp.handler.received
    assert mail["Subject"] == "请补充入驻申请材料"  # RFC 2047 on the wire, Chinese once decoded
    assert mail["To"] == admin.email
    # A long Chinese display name travels as several RFC 2047 words; decode them as a mail
    # client does (CPython's address parser wrongly puts a space between adjacent words).
    raw_from = email.message_from_bytes(smtp.handler.raw[0], policy=policy.compat32)["From"]
    assert str(make_header(decode_header(raw_from))) == (
        f"{app.config['QI_PLATFORM_NAME']} <noreply@qi.example.cn>")
    assert mail["Message-ID"] == f"<{delivery_id(outbox()[0])}@qi.example.cn>"
    assert f"qi-outbox-{queued.id}-" in mail["Message-ID"]  # the provider can deduplicate
    body = mail.get_content()
    assert "佛山某检测公司的入驻申请需要补充以下材料：近三年的能力验证报告。" in body
    assert "2026年12月15日前" in body and "本邮件由系统自动发送" in body
    assert mail.get_content_charset() == "utf-8"


def test_email_is_skipped_with_a_warning_when_smtp_is_not_configured(app, admin, caplog):
    assert app.config["SMTP_HOST"] == ""
    with caplog.at_level(logging.WARNING, logger="core.notifications"):
        queued = service.notify(admin, "application_approved", APPROVED,
                                channels=("email", "inbox"), dedupe_key="a:2")
    assert [m.channel for m in queued] == ["inbox"]
    assert "channel email is not configured" in caplog.text


def test_provider_outage_keeps_messages_pending_then_delivers_each_exactly_once(app, admin, smtp,
                                                                                make_user):
    other = make_user(Role.INSTITUTION_ADMIN)
    for user in (admin, other):
        service.notify(user, "onsite_visit_scheduled", SAMPLES["onsite_visit_scheduled"],
                       channels=("email",), dedupe_key="visit:1")
    db.session.commit()
    smtp.stop()  # the provider is down

    t = utcnow()
    waits = []
    for attempt in (1, 2, 3):
        report = service.deliver_due(now=t)
        assert (report.sent, report.retrying) == (0, 2)
        rows = outbox()
        assert {r.status for r in rows} == {OutboxStatus.PENDING}
        assert {r.attempts for r in rows} == {attempt}
        assert all("ConnectionRefusedError" in r.last_error for r in rows)
        waits.append(rows[0].next_attempt_at - t)
        assert service.deliver_due(now=t + waits[-1] - timedelta(seconds=1)).claimed == 0  # not yet
        t = rows[0].next_attempt_at
    assert waits == [timedelta(seconds=30), timedelta(minutes=1), timedelta(minutes=2)]

    smtp.start()  # the provider is back
    report = service.deliver_due(now=t)
    assert (report.sent, report.retrying) == (2, 0)
    assert service.deliver_due(now=t + timedelta(days=1)).claimed == 0
    assert sorted(m["To"] for m in smtp.handler.received) == sorted([admin.email, other.email])
    assert {r.status for r in outbox()} == {OutboxStatus.SENT}


def test_a_permanent_refusal_is_dead_at_once(app, admin, smtp):
    smtp.handler.reject.add(admin.email)
    service.notify(admin, "application_approved", APPROVED, channels=("email",), dedupe_key="a:3")
    db.session.commit()
    assert service.deliver_due().dead == 1
    [row] = outbox()
    assert row.status is OutboxStatus.DEAD and "550" in row.last_error and row.attempts == 1


def test_back_off_doubles_from_30_seconds_up_to_an_hour(app):
    assert [service.backoff(n).total_seconds() for n in range(1, 10)] == [
        30, 60, 120, 240, 480, 960, 1920, 3600, 3600]


def test_a_crashed_worker_s_lease_expires_and_the_message_is_reclaimed(app, admin, register_plugin):
    class Crashing(RecordingChannel):
        def send(self, message):
            super().send(message)
            if len(self.sent) == 1:
                raise WorkerCrash

    channel = Crashing("crashy")
    register_plugin(ChannelPlugin(channel))
    service.notify(admin, "application_approved", APPROVED, channels=("crashy",), dedupe_key="c:1")
    db.session.commit()
    t = utcnow()
    with pytest.raises(WorkerCrash):
        service.deliver_due(now=t)
    [row] = outbox()
    assert row.status is OutboxStatus.SENDING
    assert row.lease_until == t + timedelta(seconds=app.config["NOTIFY_LEASE_SECONDS"])
    assert service.deliver_due(now=row.lease_until - timedelta(seconds=1)).claimed == 0  # leased
    assert service.deliver_due(now=row.lease_until + timedelta(seconds=1)).sent == 1
    [row] = outbox()
    assert row.status is OutboxStatus.SENT and row.attempts == 2
    assert len(channel.sent) == 2  # at least once towards the provider, with one delivery id


def test_a_worker_that_lost_its_lease_does_not_overwrite_the_new_owner(app, admin, register_plugin):
    class Slow(RecordingChannel):
        """While the first worker is still sending, its lease expires and another takes over."""

        def send(self, message):
            super().send(message)
            if len(self.sent) == 1:
                later = utcnow() + timedelta(seconds=app.config["NOTIFY_LEASE_SECONDS"] + 1)
                self.takeover = service.deliver_due(now=later)

    channel = Slow("slow")
    register_plugin(ChannelPlugin(channel))
    service.notify(admin, "application_approved", APPROVED, channels=("slow",), dedupe_key="s:1")
    db.session.commit()
    report = service.deliver_due()
    assert (channel.takeover.sent, report.sent, report.lost) == (1, 0, 1)
    [row] = outbox()
    assert row.status is OutboxStatus.SENT and row.attempts == 2
    assert channel.sent[0][0] == channel.sent[1][0]  # the same message, twice at the provider


def test_dead_after_max_attempts_is_logged_and_listed_for_operators(app, admin, register_plugin,
                                                                    caplog):
    app.config["NOTIFY_MAX_ATTEMPTS"] = 3
    register_plugin(ChannelPlugin(FlakyChannel("down", failures=99)))
    service.notify(admin, "removal_notice", SAMPLES["removal_notice"], channels=("down",),
                   dedupe_key="d:1")
    db.session.commit()
    t = utcnow() + timedelta(seconds=1)
    with caplog.at_level(logging.WARNING, logger="core.notifications"):
        for _ in range(5):
            service.deliver_due(now=t)
            t += timedelta(hours=2)
    [row] = outbox()
    assert row.status is OutboxStatus.DEAD and row.attempts == 3 and row.last_error == "gateway 503"
    assert any(r.levelno == logging.ERROR and "is dead after 3 attempt(s)" in r.getMessage()
               for r in caplog.records)

    runner = app.test_cli_runner()
    listed = runner.invoke(args=["notifications", "list", "--status", "dead"])
    assert listed.exit_code == 0, listed.output
    assert f"#{row.id} dead down removal_notice" in listed.output and "gateway 503" in listed.output
    assert "1 dead" in listed.output
    revived = runner.invoke(args=["notifications", "retry", str(row.id)])
    assert "1 message(s) pending again" in revived.output
    [row] = outbox()
    assert row.status is OutboxStatus.PENDING and row.attempts == 0


def test_a_user_without_a_phone_gets_a_dead_sms_row_not_a_silent_drop(app, make_user):
    user = make_user(Role.INSTITUTION_ADMIN, phone=None)
    queued = service.notify(user, "application_approved", APPROVED, dedupe_key="a:4")
    db.session.commit()
    assert [(m.channel, m.status) for m in queued] == [("sms", OutboxStatus.DEAD),
                                                      ("inbox", OutboxStatus.PENDING)]
    assert "no address for sms" in outbox(channel="sms")[0].last_error


def test_cli_deliver_prints_counts(app, admin):
    service.notify(admin, "commitment_resign", SAMPLES["commitment_resign"], dedupe_key="com:2027")
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["notifications", "deliver"])
    assert result.exit_code == 0, result.output
    assert "2 sent, 0 to retry, 0 dead" in result.output
    pending = app.test_cli_runner().invoke(args=["notifications", "list"])
    assert "0 pending" in pending.output and "2 sent" in pending.output


def test_postgres_workers_skip_rows_another_worker_holds(app, admin, make_user, postgres_url):
    """FOR UPDATE SKIP LOCKED: a row locked by another worker is neither waited for nor taken."""
    other = make_user(Role.INSTITUTION_ADMIN, phone="13900139000")
    for user in (admin, other):
        service.notify(user, "application_approved", APPROVED, channels=("sms",), dedupe_key="p:1")
    db.session.commit()
    first, _second = outbox()
    holder = Session(db.engine)
    try:
        holder.execute(select(OutboxMessage.id).where(OutboxMessage.id == first.id).with_for_update())
        assert service.deliver_due().sent == 1  # returns at once, with the other row
    finally:
        holder.rollback()
        holder.close()
    assert [r.status for r in outbox()] == [OutboxStatus.PENDING, OutboxStatus.SENT]


# ---------------------------------------------------------------- inbox


def test_inbox_messages_are_only_readable_and_markable_by_their_owner(app, admin, make_user):
    stranger = make_user(Role.ENTERPRISE)
    service.notify(admin, "certificate_expiring", SAMPLES["certificate_expiring"],
                   channels=("inbox",), dedupe_key="cert:9")
    db.session.commit()
    service.deliver_due()
    [message] = service.unread_inbox(admin)
    assert message.title == "资质证书即将到期" and "将于2026年12月31日到期" in message.body
    assert service.unread_inbox(stranger) == []
    assert service.mark_read(stranger, message.id) is False  # someone else's: "no such message"
    assert service.unread_count(admin) == 1
    assert service.mark_read(admin, message.id) is True
    assert service.unread_inbox(admin) == [] and service.unread_count(admin) == 0
    assert service.mark_read(admin, 999_999) is False


# ---------------------------------------------------------------- plugins


def test_a_plugin_channel_receives_the_messages_for_its_code(app, admin, register_plugin):
    channel = RecordingChannel("wechat")
    register_plugin(ChannelPlugin(channel))
    assert "wechat" in service.available_channels()
    [queued] = service.notify(admin, "application_approved", APPROVED, channels=("wechat",),
                              dedupe_key="w:1")
    db.session.commit()
    assert service.deliver_due().sent == 1
    assert channel.sent == [(queued.id, f"openid-{admin.id}", outbox()[0].body)]


def test_a_plugin_cannot_replace_an_existing_channel_code(app, register_plugin):
    register_plugin(ChannelPlugin(RecordingChannel("sms")))
    with pytest.raises(PluginError, match="'sms'"):
        service.available_channels()


def test_two_plugins_cannot_claim_one_channel_code(app, register_plugin):
    register_plugin(ChannelPlugin(RecordingChannel("wechat")))
    register_plugin(ChannelPlugin(RecordingChannel("wechat")))
    with pytest.raises(PluginError, match="'wechat'"):
        service.available_channels()
