"""Celery on the Redis broker, bound to the Flask app factory.

    celery -A core.tasks.celery_app worker --loglevel INFO
    celery -A core.tasks.celery_app beat --loglevel INFO --schedule instance/celerybeat-schedule

`celery` below is the worker's and beat's app: its configuration comes from the Flask config
(`create_app()` reads the environment, as the web processes do), and each worker process builds
its own Flask app once (after the fork, so no database connection is shared between processes).
Every task runs inside `flask_app.app_context()`.

The web processes use `get_celery(app)`: a Celery app per Flask app with the same configuration
and tasks, used to publish (`schedule_delivery` → `qi.deliver_outbox`).

Delivery guarantees: `task_acks_late` with `task_reject_on_worker_lost` — a message is
acknowledged when its task has finished, so a worker that dies mid-task leaves it to be delivered
again; every task is idempotent, so a second run changes nothing twice. Transient failures (the
database, Redis or object storage unreachable) are retried with exponential back-off and jitter;
what a task leaves undone the periodic `deliver_outbox_due` job and the outbox lease pick up.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from datetime import timedelta
from typing import Any

from celery import Celery, Task
from flask import Flask, current_app

from core.config import ConfigError
from core.tasks import signals as _signals  # noqa: F401  (connects the signal handlers)

log = logging.getLogger("core.tasks")
_KEY = "qi.celery"
_lock = threading.Lock()

RETRY_OPTIONS: dict[str, Any] = {
    "retry_backoff": 5,  # 5 s, 10 s, 20 s … with jitter
    "retry_backoff_max": 600,  # below the broker's visibility timeout
    "retry_jitter": True,
    "max_retries": 8,
}


def transient_errors() -> tuple[type[BaseException], ...]:
    """Failures worth retrying: a server briefly unreachable, not a bug."""
    import redis.exceptions
    import sqlalchemy.exc

    from core.storage import StorageUnavailable

    return (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError,
            redis.exceptions.ConnectionError, redis.exceptions.TimeoutError,
            ConnectionError, TimeoutError, StorageUnavailable)


def beat_schedule(config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Celery beat's schedule: one entry per job of the registry (`core.tasks.PERIODIC_JOBS`)."""
    from celery.schedules import crontab

    from core.tasks import PERIODIC_JOBS, Every

    schedule: dict[str, dict[str, Any]] = {}
    for job in PERIODIC_JOBS:
        entry: dict[str, Any] = {"task": job.task_name}
        if isinstance(job.schedule, Every):
            seconds = job.schedule.interval(config)
            entry["schedule"] = timedelta(seconds=seconds)
            entry["options"] = {"expires": seconds}  # a backlog of sweeps is pointless
        else:  # Daily, in the app's timezone (Asia/Shanghai); a late run still runs
            entry["schedule"] = crontab(minute=str(job.schedule.minute), hour=str(job.schedule.hour))
        schedule[job.name] = entry
    return schedule


def celery_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """Celery settings from the Flask config."""
    broker = config.get("CELERY_BROKER_URL")
    if not broker:
        raise ConfigError("CELERY_BROKER_URL is not set: the Celery worker and beat need a broker "
                          "(without one, background work runs inline in the web process)")
    visibility = int(config.get("CELERY_VISIBILITY_TIMEOUT", 3600))
    return {
        "broker_url": broker,
        "broker_connection_retry_on_startup": True,
        "broker_connection_timeout": 3,
        # Redis: a message taken by a worker that vanished is handed out again after this.
        "broker_transport_options": {"visibility_timeout": visibility,
                                     "socket_connect_timeout": 3},
        # Publishing from a request must not hang when Redis is down: a few quick retries, then
        # the error (the outbox rows stay pending for the periodic sweep).
        "task_publish_retry_policy": {"max_retries": 2, "interval_start": 0,
                                      "interval_step": 0.2, "interval_max": 0.5},
        "task_serializer": "json",
        "accept_content": ["json"],
        "task_ignore_result": True,
        "result_backend": None,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "worker_hijack_root_logger": False,
        "worker_redirect_stdouts": False,
        "task_time_limit": 3600,
        "timezone": "Asia/Shanghai",
        "enable_utc": True,
        "beat_schedule": beat_schedule(config),
    }


class FlaskTask(Task):  # type: ignore[misc]
    """Runs the task inside an application context of its Celery app's Flask app."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with self.app.flask_app().app_context():
            return super().__call__(*args, **kwargs)


class _LazyConfig(Mapping[str, Any]):
    """Celery reads this the first time it needs its configuration (not at import time)."""

    def __init__(self, celery: QiCelery) -> None:
        self._celery = celery
        self._data: dict[str, Any] | None = None

    def _settings(self) -> dict[str, Any]:
        if self._data is None:
            self._data = celery_config(self._celery.flask_app().config)
        return self._data

    def __getitem__(self, key: str) -> Any:
        return self._settings()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._settings())

    def __len__(self) -> int:
        return len(self._settings())


class QiCelery(Celery):  # type: ignore[misc]
    """A Celery app whose configuration and task context come from a Flask app."""

    def __init__(self, flask_app: Callable[[], Flask], **kwargs: Any) -> None:
        kwargs.setdefault("set_as_current", False)
        super().__init__("qi", task_cls=FlaskTask, **kwargs)
        self._flask_app = flask_app
        self.config_from_object(_LazyConfig(self))
        register_tasks(self)

    def flask_app(self) -> Flask:
        return self._flask_app()


def register_tasks(celery: Celery) -> None:
    """`qi.deliver_outbox(ids)` and one task per periodic job of the registry."""
    from core.tasks import DELIVER_OUTBOX_TASK, PERIODIC_JOBS

    # shared=False: each Celery app gets its own copies, nothing global accumulates.
    options = {**RETRY_OPTIONS, "autoretry_for": transient_errors(), "shared": False}

    @celery.task(name=DELIVER_OUTBOX_TASK, **options)
    def deliver_outbox(ids: list[int]) -> dict[str, int]:
        """Send these outbox rows if they are still due. Idempotent: a row is claimed under a
        lease and marked sent in a commit fenced on it, so a redelivered message sends nothing
        that was sent (a row claimed by a worker that died waits for its lease to expire)."""
        from core.notifications.service import deliver_messages

        report = deliver_messages([int(i) for i in ids])
        if report.claimed:
            log.info("outbox %s: %s", ",".join(map(str, ids)), report)
        return {"sent": report.sent, "retrying": report.retrying, "dead": report.dead,
                "lost": report.lost}

    for job in PERIODIC_JOBS:
        celery.task(name=job.task_name, **options)(job.func)


def get_celery(app: Flask | None = None) -> QiCelery:
    """The Celery app the web process publishes with (one per Flask app, built on first use)."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    celery = app.extensions.get(_KEY)
    if celery is None:
        with _lock:
            celery = app.extensions.get(_KEY)
            if celery is None:
                celery = app.extensions[_KEY] = QiCelery(lambda: app)
    return celery


# ---------------------------------------------------------------- the worker's and beat's app

_worker_state: dict[str, Any] = {"pid": None, "app": None}


def _worker_flask_app() -> Flask:
    """The worker process's Flask app, built once per process (a forked pool process builds its
    own: an engine's connections must not cross a fork)."""
    if _worker_state["pid"] != os.getpid():
        with _lock:
            if _worker_state["pid"] != os.getpid():
                from core.app import create_app

                _worker_state["app"] = create_app()
                _worker_state["pid"] = os.getpid()
    return _worker_state["app"]  # type: ignore[no-any-return]


celery = QiCelery(_worker_flask_app)
