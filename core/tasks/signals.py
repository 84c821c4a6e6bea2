"""Celery signal handlers: the request id travels in the task's message headers, task runs are
counted in the Prometheus metrics, and the worker logs through the platform's handler.

- `before_task_publish`: a task published while serving a request (or by a task that a request
  started) carries the request id in the header `qi_request_id`.
- `task_prerun` / `task_postrun`: the task's log records carry that request id and the task's
  name and id (`core.logs.bind_task_context`); `qi_task_runs_total{task, outcome}` and
  `qi_task_duration_seconds{task}` count it.
- `setup_logging`: the worker and beat write through `core.logs` (JSON in production).
- `worker_init`: with `QI_WORKER_METRICS_PORT` the worker serves its metrics on that port.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from contextlib import AbstractContextManager
from typing import Any

from celery import signals

from core import logs

HEADER = "qi_request_id"
log = logging.getLogger("core.tasks")

# Running tasks by task id: the log context entered in prerun and the start time.
_running: dict[str, tuple[AbstractContextManager[None], float]] = {}


def request_id_of(task: Any) -> str | None:
    """The request id a task's message carries (`None` when it was not started by a request)."""
    request = getattr(task, "request", None)
    if request is None:
        return None
    value = getattr(request, HEADER, None)
    if not value:
        headers = getattr(request, "headers", None) or {}
        value = headers.get(HEADER) if isinstance(headers, dict) else None
    return str(value) if value else None


@signals.before_task_publish.connect
def _add_request_id(headers: dict[str, Any] | None = None, **_: Any) -> None:
    request_id = logs.current_request_id()
    if request_id and headers is not None:
        headers.setdefault(HEADER, request_id)


@signals.task_prerun.connect
def _task_started(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    if task is None or task_id is None:
        return
    context = logs.bind_task_context(task.name, task_id, request_id_of(task))
    context.__enter__()
    _running[task_id] = (context, time.perf_counter())


@signals.task_postrun.connect
def _task_finished(task_id: str | None = None, task: Any = None, state: str | None = None,
                   **_: Any) -> None:
    entry = _running.pop(task_id or "", None)
    if entry is None:
        return
    context, started = entry
    try:
        flask_app = getattr(getattr(task, "app", None), "flask_app", None)
        if flask_app is not None:
            from core.observability.metrics import record_task

            outcome = {"SUCCESS": "success", "FAILURE": "failure", "RETRY": "retry"}.get(
                state or "", (state or "unknown").lower())
            record_task(flask_app(), task.name, outcome, time.perf_counter() - started)
    finally:
        # ValueError: postrun ran in another context than prerun (an exotic pool); nothing bound.
        with contextlib.suppress(ValueError):
            context.__exit__(None, None, None)


@signals.setup_logging.connect
def _setup_logging(loglevel: int | str | None = None, **_: Any) -> None:
    # Connected, so Celery leaves the root logger alone; ours goes there unless one is set up.
    logs.configure_process_logging(os.environ.get("QI_ENV") == "production",
                                   loglevel or logging.INFO)


@signals.worker_init.connect
def _worker_metrics(sender: Any = None, **_: Any) -> None:
    port = os.environ.get("QI_WORKER_METRICS_PORT", "")
    if not port:
        return
    from core.observability.metrics import start_worker_metrics_server

    flask_app = getattr(getattr(sender, "app", None), "flask_app", None)
    start_worker_metrics_server(int(port), flask_app() if flask_app else None)


@signals.worker_process_shutdown.connect
def _pool_process_gone(pid: int | None = None, **_: Any) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid or os.getpid())
