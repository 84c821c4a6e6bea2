"""Prometheus metrics, one registry per Flask app.

- `qi_http_request_duration_seconds{endpoint, method, status}`: every request but the probes,
  labelled with the Flask endpoint name (`documents.download`, never the raw path, so ids do not
  explode the label set; `unmatched` for a 404 that matched no route).
- `qi_graphql_operation_duration_seconds{operation, outcome}`: each GraphQL operation by its name
  (`operationName`, or the name in the document, else `anonymous`; at most
  `MAX_OPERATION_NAMES` distinct names per process, then `other`); outcome `ok` or `error`.
- `qi_task_runs_total{task, outcome}` and `qi_task_duration_seconds{task}`: Celery tasks (signals)
  and jobs run by the in-process scheduler; outcome `success`, `failure` or `retry`.
- `qi_refusals_total{reason, action}`: attempts refused for now, not for good: `rate_limited`
  (`core.ratelimit`, action `login` or `register`) and `busy` (`password_hash`: no
  free password-hashing slot, `core.identity.passwords`).
- `qi_outbox_backlog`, `qi_outbox_due`, `qi_outbox_dead`: notification outbox rows pending,
  due now (stays above 0 when no worker delivers) and dead, counted when scraped.

Under gunicorn every worker process counts on its own. Set `PROMETHEUS_MULTIPROC_DIR` to an
empty directory (wiped by `gunicorn.conf.py` at start) before gunicorn starts, and a scrape of any
worker returns the sum over all of them (prometheus_client's multiprocess mode). A Celery worker
started with `QI_WORKER_METRICS_PORT` serves its task metrics on that port (its pool processes
summed through its own `PROMETHEUS_MULTIPROC_DIR` when set).
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Iterator

from flask import Flask, current_app, has_app_context
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from strawberry.extensions import SchemaExtension

log = logging.getLogger("core.observability")

_KEY = "qi.metrics"
MAX_OPERATION_NAMES = 200
_OPERATION_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,63}")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class Metrics:
    def __init__(self, app: Flask) -> None:
        self.registry = CollectorRegistry()
        self.http = Histogram(
            "qi_http_request_duration_seconds", "HTTP request latency by Flask endpoint and status.",
            ["endpoint", "method", "status"], registry=self.registry)
        self.graphql = Histogram(
            "qi_graphql_operation_duration_seconds", "GraphQL operation latency by operation name.",
            ["operation", "outcome"], registry=self.registry)
        self.task_runs = Counter(
            "qi_task_runs", "Background task runs by task name and outcome.", ["task", "outcome"],
            registry=self.registry)
        self.task_duration = Histogram(
            "qi_task_duration_seconds", "Background task run time by task name.", ["task"],
            registry=self.registry, buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 1800))
        self.refusals = Counter(
            "qi_refusals", "Requests refused for now (rate limit, no free hashing slot).",
            ["reason", "action"], registry=self.registry)
        self.backlog = OutboxBacklogCollector(app)
        self.registry.register(self.backlog)
        self._operations: set[str] = set()
        self._lock = threading.Lock()

    def operation_label(self, name: str | None) -> str:
        """Operation names come from clients: keep them well-formed and their number bounded."""
        if not name:
            return "anonymous"
        if not _OPERATION_NAME.fullmatch(name):
            return "invalid"
        if name in self._operations:
            return name
        with self._lock:
            if len(self._operations) >= MAX_OPERATION_NAMES:
                return "other"
            self._operations.add(name)
        return name

    def exposition(self) -> bytes:
        """The text format of every metric; summed over processes in multiprocess mode."""
        if multiprocess_dir():
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            registry.register(self.backlog)
            return generate_latest(registry)
        return generate_latest(self.registry)


class OutboxBacklogCollector:
    """The outbox gauges, computed from the database at each scrape (no state in the process)."""

    def __init__(self, app: Flask) -> None:
        self._app = app

    def collect(self) -> Iterator[Metric]:
        try:
            with self._app.app_context():
                pending, due, dead = outbox_backlog()
        except Exception as exc:  # a scrape must not fail because the database is away
            log.warning("metrics: outbox backlog not counted: %s", type(exc).__name__)
            return
        yield GaugeMetricFamily("qi_outbox_backlog", "Notifications waiting to be sent "
                                "(pending, including retries waiting for their back-off).",
                                value=pending)
        yield GaugeMetricFamily("qi_outbox_due", "Notifications due now (pending and due, or "
                                "claimed by a worker whose lease expired).", value=due)
        yield GaugeMetricFamily("qi_outbox_dead", "Notifications given up on (qi notifications "
                                "list --status dead).", value=dead)


def outbox_backlog() -> tuple[int, int, int]:
    """(pending, due, dead) outbox rows; every count uses the (status, next_attempt_at) index."""
    from sqlalchemy import and_, func, or_, select

    from core.db import db, utcnow
    from core.notifications.models import OutboxMessage, OutboxStatus

    now = utcnow()
    rows = db.session.execute(
        select(OutboxMessage.status, func.count())
        .where(OutboxMessage.status.in_([OutboxStatus.PENDING, OutboxStatus.DEAD]))
        .group_by(OutboxMessage.status))
    counts = {status: n for status, n in rows}
    due = db.session.scalar(select(func.count()).select_from(OutboxMessage).where(or_(
        and_(OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.next_attempt_at <= now),
        and_(OutboxMessage.status == OutboxStatus.SENDING, OutboxMessage.lease_until < now)))) or 0
    return counts.get(OutboxStatus.PENDING, 0), due, counts.get(OutboxStatus.DEAD, 0)


def init_app(app: Flask) -> None:
    app.extensions[_KEY] = Metrics(app)


def metrics_for(app: Flask) -> Metrics | None:
    return app.extensions.get(_KEY)  # type: ignore[no-any-return]


def record_request(app: Flask, endpoint: str, method: str, status: int, seconds: float) -> None:
    metrics = metrics_for(app)
    if metrics is not None:
        metrics.http.labels(endpoint, method, str(status)).observe(seconds)


def record_refusal(app: Flask, reason: str, action: str) -> None:
    metrics = metrics_for(app)
    if metrics is not None:
        metrics.refusals.labels(reason, action).inc()


def record_task(app: Flask, task: str, outcome: str, seconds: float) -> None:
    metrics = metrics_for(app)
    if metrics is not None:
        metrics.task_runs.labels(task, outcome).inc()
        metrics.task_duration.labels(task).observe(seconds)


class GraphQLMetrics(SchemaExtension):
    """Times each GraphQL operation into `qi_graphql_operation_duration_seconds`."""

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self._record(time.perf_counter() - started)

    def _record(self, seconds: float) -> None:
        metrics = metrics_for(current_app) if has_app_context() else None
        if metrics is None:
            return
        context = self.execution_context
        try:
            name = context.operation_name
        except Exception:  # an unparsable document
            name = None
        result = context.result
        failed = bool(context.pre_execution_errors) or bool(result is not None and result.errors)
        metrics.graphql.labels(metrics.operation_label(name), "error" if failed else "ok").observe(
            seconds)


def start_worker_metrics_server(port: int, app: Flask | None) -> None:
    """Serve a Celery worker's metrics on `port` (all interfaces; firewall it)."""
    from prometheus_client import start_http_server

    if multiprocess_dir():
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    elif app is not None and metrics_for(app) is not None:
        registry = metrics_for(app).registry  # type: ignore[union-attr]
    else:
        return
    start_http_server(port, registry=registry)
    log.info("worker metrics on port %d", port)
