"""The audit trail (SECURITY.md 14)."""

from __future__ import annotations

import logging

from sqlalchemy import select

from core.audit import record_audit, sanitize_text
from core.audit.models import AuditEvent
from core.db import db
from core.identity.models import Role
from core.logs import JsonFormatter, OneLineFormatter


def test_user_input_cannot_forge_a_second_line():
    assert sanitize_text("张三\r\n2026-01-01 INFO admin logged in") == (
        "张三\\x0d\\x0a2026-01-01 INFO admin logged in")
    assert "\u202e" not in sanitize_text("evil\u202etxt.pdf")


def test_log_records_stay_on_one_line():
    record = logging.LogRecord("qi", logging.INFO, __file__, 1, "login by %s",
                               ("x\nFAKE admin",), None)
    assert "\n" not in OneLineFormatter("%(message)s").format(record)
    assert "\n" not in JsonFormatter().format(record)


def test_audit_row_records_actor_ip_agent_and_sanitised_summary(app, client, make_user):
    make_user(Role.ENTERPRISE, phone="13912345678")
    client.post("/graphql", json={"query": 'mutation { login(input: {identifier: "13912345678", '
                                            'password: "bad-Pass-1"}) { __typename } }'},
                headers={"User-Agent": "ua\x1b[2Jforged"})
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "auth.login")).one()
    assert event.ip == "127.0.0.1"
    assert event.user_agent == "ua\\x1b[2Jforged"
    assert event.result == "failed"
    assert event.occurred_at.utcoffset().total_seconds() == 0


def test_record_audit_joins_the_callers_transaction(app):
    record_audit("test.rolled_back")
    db.session.rollback()
    record_audit("test.kept", before={"name": "a\nb"})
    db.session.commit()
    rows = db.session.scalars(select(AuditEvent)).all()
    assert [r.action for r in rows] == ["test.kept"]
    assert rows[0].before == {"name": "a\\x0ab"}
