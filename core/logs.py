"""Logging set-up. Every record is written on one line: control characters in messages (user
input included) are escaped, so nobody can forge a log line (SECURITY.md 14).

Each record carries the request id of the request (or of the request that started the task) it
was logged in: `X-Request-ID` from the proxy when it is sane, else one generated per request
(`core.observability`). A Celery task gets it through its message headers (`core.tasks.signals`)
and binds it here with `bind_task_context`, so a task's log lines name the request that caused it.

Development writes `time LEVEL logger [request id]: message`; production (`QI_ENV=production`)
writes one JSON object per line. The web app logs through the `core` logger (the Flask app's own:
every `core.*` module logger is its child); the Celery worker and beat put the same handler on the
root logger (`configure_process_logging`), so Celery's own lines are JSON too. A record passing
both handlers is written once.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from flask import Flask, g, has_app_context

from core.audit.service import sanitize_text

DEV_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"

# Outside a Flask request (a Celery task, the in-process scheduler) the ids live here.
_request_id: ContextVar[str | None] = ContextVar("qi_request_id", default=None)
_task: ContextVar[tuple[str, str] | None] = ContextVar("qi_task", default=None)


def current_request_id() -> str | None:
    """The id of the request being served, or of the request that started the running task."""
    if has_app_context():
        rid = g.get("request_id")
        if rid:
            return str(rid)
    return _request_id.get()


def current_task() -> tuple[str, str] | None:
    """(task name, task id) of the Celery task or scheduled job running in this context."""
    return _task.get()


@contextmanager
def bind_task_context(name: str, task_id: str, request_id: str | None) -> Iterator[None]:
    """Mark log records made inside the block as coming from this task (and its request)."""
    rid_token = _request_id.set(request_id)
    task_token = _task.set((name, task_id))
    try:
        yield
    finally:
        _task.reset(task_token)
        _request_id.reset(rid_token)


class ContextFilter(logging.Filter):
    """Adds `request_id`, `task` and `task_id` to every record (`-`/None when there are none)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id() or "-"
        task = _task.get()
        record.task, record.task_id = task if task else (None, None)
        return True


class OneLineFormatter(logging.Formatter):
    """Development format: the message on one line; a traceback, if any, follows as usual."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "request_id"):
            record.request_id = "-"
        return sanitize_text(super().formatMessage(record), 10_000)


class JsonFormatter(logging.Formatter):
    """Production format: one JSON object per line (json.dumps escapes control characters)."""

    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id and request_id != "-":
            payload["request_id"] = request_id
        if getattr(record, "task", None):
            payload["task"] = record.task
            payload["task_id"] = record.task_id
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload, ensure_ascii=False)


class QiHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The platform's handler (stderr). A record already written by another `QiHandler` further
    down the logger hierarchy (the `core` logger, then the root logger in a worker) is not
    written again."""

    def handle(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_qi_written", False):
            return False
        written = bool(super().handle(record))
        if written:
            record._qi_written = True
        return written


def make_handler(production: bool) -> QiHandler:
    handler = QiHandler()
    handler.setFormatter(JsonFormatter() if production else OneLineFormatter(DEV_FORMAT))
    handler.addFilter(ContextFilter())
    return handler


def init_app(app: Flask) -> None:
    app.logger.handlers[:] = [make_handler(app.config["QI_ENV"] == "production")]
    app.logger.setLevel(logging.INFO)


def configure_process_logging(production: bool, level: int | str = logging.INFO) -> None:
    """Put the platform's handler on the root logger (the Celery worker and beat call this from
    Celery's `setup_logging` signal). A root logger that has handlers already (pytest's) is left
    alone."""
    root = logging.getLogger()
    if root.handlers:
        return
    root.addHandler(make_handler(production))
    root.setLevel(level)
