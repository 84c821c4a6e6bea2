"""Health, metrics, request ids and the reverse proxy (issue 7 items 2-4).

- `/healthz`, `/readyz` (database, storage, broker each with its own status; 503 when one fails)
  and `/metrics` bypass sessions and CSRF; `/metrics` is for allowed networks or the token only.
- Metrics: request latency by Flask endpoint, GraphQL operations by name, task runs, the outbox.
- Request ids: taken from a sane `X-Request-ID` or generated, echoed, on every log record of the
  request, and carried into a Celery task the request starts (a real worker on Redis db 15).
- `QI_PROXY_TRUSTED_HOPS`: with 1, a failed login's audit row has the X-Forwarded-For client;
  with 0 the header is ignored.
"""

from __future__ import annotations

import logging
import re
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask import current_app
from sqlalchemy import select

from core import logs
from core.audit.models import AuditEvent
from core.db import db
from core.identity.models import Role
from core.testing import TEST_PASSWORD, need_server

REDIS_TEST_URL = "redis://127.0.0.1:6379/15"
OUTSIDE = {"REMOTE_ADDR": "198.51.100.20"}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # nothing listens once it is closed


def sample(client: Any, name: str, **labels: str) -> float | None:
    """One value from /metrics (None when the series is absent)."""
    text = client.get("/metrics").get_data(as_text=True)
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0])) if "{" in line else {}
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


@pytest.fixture
def redis_url() -> Iterator[str]:
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


# ---------------------------------------------------------------- probes


def test_healthz_answers_without_sessions_or_csrf(client):
    response = client.get("/healthz", headers={"Cookie": "qi_session=forged"})
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}
    assert "Set-Cookie" not in response.headers and "Vary" not in response.headers
    assert response.headers["Cache-Control"] == "no-store"
    assert client.post("/healthz").status_code == 405  # not a CSRF failure (400): no form at all
    assert client.post("/metrics").status_code == 405


def test_readyz_reports_each_dependency(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "checks": {
        "database": {"status": "ok"}, "storage": {"status": "ok"},
        "broker": {"status": "not configured"}}}


def test_readyz_is_503_when_storage_is_unreachable(app_config, app, client, caplog):
    app.config["STORAGE_URL"] = f"s3://key:secret123@127.0.0.1:{closed_port()}/qi-docs?secure=false"
    from core.documents import storage

    storage.init_app(app)  # the store the app would have built from that URL
    with caplog.at_level(logging.WARNING, logger="core.observability"):
        response = client.get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "fail" and body["checks"]["database"] == {"status": "ok"}
    assert body["checks"]["storage"]["status"] == "fail"
    assert "127.0.0.1" not in response.get_data(as_text=True)  # details go to the log only
    assert "readyz: storage is not ready" in caplog.text


def test_readyz_pings_the_broker(app, client, redis_url):
    app.config["CELERY_BROKER_URL"] = redis_url
    assert client.get("/readyz").get_json()["checks"]["broker"] == {"status": "ok"}
    app.config["CELERY_BROKER_URL"] = f"redis://127.0.0.1:{closed_port()}/0"
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["broker"]["status"] == "fail"


# ---------------------------------------------------------------- metrics


def test_metrics_count_requests_by_endpoint_and_graphql_operations_by_name(client, gql):
    assert client.get("/login").status_code == 200
    client.get("/no/such/page")
    assert sample(client, "qi_http_request_duration_seconds_count", endpoint="identity.login",
                  method="GET", status="200") == 1
    assert sample(client, "qi_http_request_duration_seconds_count", endpoint="unmatched",
                  status="404") == 1
    assert sample(client, "qi_http_request_duration_seconds_count", endpoint="metrics") is None

    assert gql("query Viewer { viewer { id } }", csrf=False)["data"] == {"viewer": None}
    gql("{ viewer { id } }", csrf=False)
    gql("query Broken { nope }", csrf=False)
    assert sample(client, "qi_graphql_operation_duration_seconds_count", operation="Viewer",
                  outcome="ok") == 1
    assert sample(client, "qi_graphql_operation_duration_seconds_count", operation="anonymous") == 1
    assert sample(client, "qi_graphql_operation_duration_seconds_count", operation="Broken",
                  outcome="error") == 1
    assert sample(client, "qi_outbox_backlog") == 0 and sample(client, "qi_outbox_dead") == 0
    response = client.get("/metrics")
    assert response.content_type.startswith("text/plain; version=0.0.4")
    assert "Set-Cookie" not in response.headers


def test_the_outbox_backlog_is_counted_at_scrape_time(app, client, make_user):
    from core.notifications.service import notify

    app.config["NOTIFY_INLINE_DELIVERY"] = False
    user = make_user(Role.ENTERPRISE)
    notify(user, "removal_notice", {"institution_name": "某公司", "reason": "测试"},
           channels=("inbox",), dedupe_key="m:1")
    db.session.commit()
    assert sample(client, "qi_outbox_backlog") == 1 and sample(client, "qi_outbox_due") == 1


def test_metrics_are_only_for_allowed_networks_or_the_token(app_config, app, client):
    assert client.get("/metrics").status_code == 200  # 127.0.0.1, the default allow-list
    assert client.get("/metrics", environ_base=OUTSIDE).status_code == 403
    # Through a proxy the app was not told about, the loopback address is the proxy's.
    assert client.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"}).status_code == 403

    from core.app import create_app

    secured = create_app({**app_config, "METRICS_TOKEN": "s" * 32, "METRICS_ALLOW": "10.0.0.0/8"})
    other = secured.test_client()
    assert other.get("/metrics").status_code == 403  # loopback is no longer listed
    assert other.get("/metrics", environ_base={"REMOTE_ADDR": "10.2.3.4"}).status_code == 200
    assert other.get("/metrics", environ_base=OUTSIDE,
                     headers={"Authorization": "Bearer " + "s" * 32}).status_code == 200
    assert other.get("/metrics", environ_base=OUTSIDE,
                     headers={"Authorization": "Bearer wrong"}).status_code == 403
    secured.extensions["qi.db"].engine.dispose()


def test_a_malformed_allow_list_stops_start_up(app_config):
    from core.app import create_app
    from core.config import ConfigError

    with pytest.raises(ConfigError, match="QI_METRICS_ALLOW"):
        create_app({**app_config, "METRICS_ALLOW": "10.0.0.0/33"})


# ---------------------------------------------------------------- request ids


@pytest.fixture
def probe_routes(app):
    """A view that logs a line, and one that starts a Celery task (added before any request)."""

    def logging_view() -> str:
        current_app.logger.info("probe view ran")
        logging.getLogger("core.documents").warning("a module logger too")
        return "ok"

    def task_view() -> str:
        from core.tasks.celery_app import get_celery

        get_celery().send_task("test.probe_request_id")
        return "queued"

    app.add_url_rule("/_probe/log", "probe_log", logging_view)
    app.add_url_rule("/_probe/task", "probe_task", task_view)
    return app


def test_the_request_id_is_echoed_and_on_every_log_record(probe_routes, client, caplog):
    with caplog.at_level(logging.INFO):
        response = client.get("/_probe/log", headers={"X-Request-ID": "lb-7f3a.12_x"})
    assert response.headers["X-Request-ID"] == "lb-7f3a.12_x"
    records = [r for r in caplog.records if r.name in ("core", "core.documents")]
    assert len(records) == 2 and {r.request_id for r in records} == {"lb-7f3a.12_x"}

    for bad in ("x" * 65, "a b", "id;Set-Cookie:x=1", "<script>", "语言".encode().decode("latin-1")):
        generated = client.get("/_probe/log", headers={"X-Request-ID": bad}).headers["X-Request-ID"]
        assert re.fullmatch(r"[0-9a-f]{32}", generated)
    first = client.get("/healthz").headers.get("X-Request-ID")
    assert first is None  # the probes are outside the app
    a, b = (client.get("/login").headers["X-Request-ID"] for _ in range(2))
    assert a != b


def test_json_logs_carry_the_request_id_and_the_task():
    record = logging.LogRecord("core.x", logging.INFO, __file__, 1, "hello\nforged", None, None)
    with logs.bind_task_context("qi.deliver_outbox", "t-1", "req-9"):
        logs.ContextFilter().filter(record)
    line = logs.JsonFormatter().format(record)
    assert "\n" not in line
    assert '"request_id": "req-9"' in line and '"task": "qi.deliver_outbox"' in line
    assert logs.current_request_id() is None  # unbound after the block


def test_a_task_started_by_a_request_carries_its_request_id(app_config, redis_url, probe_routes,
                                                           client, caplog):
    from celery.contrib.testing.worker import start_worker

    from core.tasks.celery_app import get_celery

    app = probe_routes
    app.config["CELERY_BROKER_URL"] = redis_url
    celery = get_celery(app)
    seen: list[tuple[str | None, Any]] = []

    @celery.task(name="test.probe_request_id", shared=False)
    def probe() -> None:
        logging.getLogger("core.tasks").info("probe task ran")
        seen.append((logs.current_request_id(), logs.current_task()))

    assert client.get("/_probe/task", headers={"X-Request-ID": "req-from-lb"}).status_code == 200
    with caplog.at_level(logging.INFO), \
            start_worker(celery, perform_ping_check=False, shutdown_timeout=15):
        deadline = time.monotonic() + 15
        while not seen and time.monotonic() < deadline:
            time.sleep(0.05)
    assert seen and seen[0][0] == "req-from-lb" and seen[0][1][0] == "test.probe_request_id"
    [record] = [r for r in caplog.records if r.getMessage() == "probe task ran"]
    assert record.request_id == "req-from-lb" and record.task == "test.probe_request_id"
    assert logs.current_request_id() is None


# ---------------------------------------------------------------- behind a reverse proxy


def _failed_login_ip(client, headers: dict[str, str]) -> str | None:
    html = client.get("/login", headers=headers).get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
    client.post("/login", headers=headers, data={"identifier": "13900000000",
                                                 "password": TEST_PASSWORD + "x",
                                                 "csrf_token": token})
    db.session.rollback()
    return db.session.scalars(select(AuditEvent.ip).where(AuditEvent.action == "auth.login")
                              .order_by(AuditEvent.id.desc())).first()


@pytest.mark.parametrize(("hops", "expected"), [(1, "203.0.113.7"), (0, "127.0.0.1")])
def test_audit_rows_record_the_client_behind_trusted_proxies(app_config, hops, expected):
    from core.app import create_app

    app = create_app({**app_config, "PROXY_TRUSTED_HOPS": hops})
    with app.app_context():
        client = app.test_client()
        headers = {"X-Forwarded-For": "203.0.113.7"}
        assert _failed_login_ip(client, headers) == expected
        db.session.close()
        db.engine.dispose()
