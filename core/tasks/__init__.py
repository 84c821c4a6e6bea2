"""Background work: the one registry of periodic jobs, and how they run.

Every periodic job is a plain function in `core.tasks.jobs`, idempotent (a second run the same
day, or a redelivered task after a worker crash, changes nothing twice), listed once in
`PERIODIC_JOBS` with its schedule. The same registry drives both ways the platform runs:

- **With a broker** (`CELERY_BROKER_URL`, production): Celery beat publishes each job on its
  schedule (`beat_schedule` is built from this registry) and Celery workers run it
  (`core.tasks.celery_app`). Notifications are handed to the worker as `qi.deliver_outbox`.
- **Without a broker** (the embedded `make run`): notifications are delivered inline after the
  commit that queued them, and the in-process scheduler (`core.tasks.scheduler`) runs the jobs in
  a background thread of the web process: started by `qi run`, or by `QI_INLINE_SCHEDULER=1`
  under another server (on its first request). `qi jobs run NAME` runs one job now (cron).

A later issue adds its periodic work (SLA reminders, visibility rules, the yearly assessment)
as a function in `core.tasks.jobs` and one `PeriodicJob` line here; nothing else changes.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask, current_app

from core import logs
from core.tasks import jobs

log = logging.getLogger("core.tasks")
CHINA = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True)
class Every:
    """Every `seconds` (or the number of seconds in the config key `setting`, when given)."""

    seconds: int
    setting: str | None = None

    def interval(self, config: Mapping[str, Any]) -> int:
        value = int(config.get(self.setting, self.seconds)) if self.setting else self.seconds
        return max(value, 1)

    def next_after(self, moment: datetime, config: Mapping[str, Any]) -> datetime:
        return moment + timedelta(seconds=self.interval(config))

    def describe(self, config: Mapping[str, Any]) -> str:
        return f"every {self.interval(config)} s"


@dataclass(frozen=True)
class Daily:
    """Once a day at `hour`:`minute`, Asia/Shanghai time (where the platform's days are)."""

    hour: int
    minute: int = 0

    def next_after(self, moment: datetime, config: Mapping[str, Any]) -> datetime:
        local = moment.astimezone(CHINA)
        candidate = local.replace(hour=self.hour, minute=self.minute, second=0, microsecond=0)
        if candidate <= local:
            candidate += timedelta(days=1)
        return candidate.astimezone(moment.tzinfo)

    def describe(self, config: Mapping[str, Any]) -> str:
        return f"daily at {self.hour:02d}:{self.minute:02d} Asia/Shanghai"


Schedule = Every | Daily


@dataclass(frozen=True)
class PeriodicJob:
    name: str  # the Celery task is `qi.<name>`; `qi jobs run <name>`
    func: Callable[[], Any]
    schedule: Schedule
    description: str

    @property
    def task_name(self) -> str:
        return f"qi.{self.name}"


PERIODIC_JOBS: tuple[PeriodicJob, ...] = (
    PeriodicJob("deliver_outbox_due", jobs.deliver_outbox_due,
                Every(60, setting="OUTBOX_SWEEP_SECONDS"),
                "send due notifications: retries after back-off, rows a dead worker left"),
    PeriodicJob("certificate_expiry_reminders", jobs.certificate_expiry_reminders, Daily(8, 30),
                "remind institution admins of expiring and expired certificates"),
    PeriodicJob("sweep_orphan_objects", jobs.sweep_orphan_objects, Daily(3, 30),
                "delete stored objects no document refers to (after STORAGE_SWEEP_GRACE_HOURS)"),
    PeriodicJob("lapse_overdue_applications", jobs.lapse_overdue_applications, Daily(0, 15),
                "applications whose materials deadline passed are not approved (R-ONB-04)"),
    PeriodicJob("assess_ended_cycles", jobs.assess_ended_cycles, Daily(1, 30),
                "draft the score sheets of cycles that ended and have none (R-ASM-01/02)"),
    PeriodicJob("complete_due_removals", jobs.complete_due_removals, Daily(0, 20),
                "institutions whose removal legacy period ended leave the directory"),
    PeriodicJob("complete_clear_exits", jobs.complete_clear_exits, Every(900),
                "exits asked for complete once their open matters are closed (R-ONB-06)"),
    PeriodicJob("consultation_reminders", jobs.consultation_reminders, Every(300),
                "remind agents of consultations close to the response-time limit (R-OPS-03)"),
    PeriodicJob("close_expired_demands", jobs.close_expired_demands, Daily(0, 25),
                "open demands past their deadline are closed, on the timeline (R-G-02, R-G-03)"),
    PeriodicJob("apply_visibility_rules", jobs.apply_visibility_rules,
                Every(900, setting="VISIBILITY_RULES_SECONDS"),
                "hide homepages lacking an item or agent a month after going live; restore "
                "rectified ones (R-OPS-05)"),
    PeriodicJob("profile_deadline_reminders", jobs.profile_deadline_reminders, Daily(9, 10),
                "remind institutions to complete profile and items within 5 working days (R-OPS-01)"),
    PeriodicJob("follow_up_reminders", jobs.follow_up_reminders, Daily(9, 0),
                "remind institutions of bad-review follow-ups still unanswered (R-OPS-04)"),
)

DELIVER_OUTBOX_TASK = "qi.deliver_outbox"


def get_job(name: str) -> PeriodicJob:
    for job in PERIODIC_JOBS:
        if job.name == name:
            return job
    raise KeyError(f"no periodic job {name!r}; known: {', '.join(j.name for j in PERIODIC_JOBS)}")


def broker_configured(app: Flask | None = None) -> bool:
    return bool((app or current_app).config.get("CELERY_BROKER_URL"))


def run_job(job: PeriodicJob, app: Flask | None = None) -> Any:
    """Run one job now in this process, in its own application context, counted in the task
    metrics like a Celery run. Exceptions propagate (the scheduler logs them)."""
    from core.observability.metrics import record_task

    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    started = time.perf_counter()
    with app.app_context(), logs.bind_task_context(job.task_name, f"inline-{uuid.uuid4().hex}",
                                                    logs.current_request_id()):
        try:
            result = job.func()
        except BaseException:
            record_task(app, job.task_name, "failure", time.perf_counter() - started)
            raise
        record_task(app, job.task_name, "success", time.perf_counter() - started)
        if result:
            log.info("job %s: %s", job.name, result)
    return result


def enqueue_delivery(ids: list[int]) -> None:
    """Hand freshly committed outbox rows to a Celery worker (`qi.deliver_outbox`)."""
    from core.tasks.celery_app import get_celery

    get_celery().send_task(DELIVER_OUTBOX_TASK, args=[sorted(ids)])


def init_app(app: Flask) -> None:
    """`QI_INLINE_SCHEDULER=1`: start the in-process scheduler with the first request served
    (never in a CLI command, never in tests unless their config asks for it)."""
    if not app.config.get("INLINE_SCHEDULER"):
        return

    def start_scheduler() -> None:
        from core.tasks.scheduler import start_inline_scheduler

        start_inline_scheduler(app)

    app.before_request(_once(start_scheduler))


def _once(func: Callable[[], None]) -> Callable[[], None]:
    done = False

    def wrapper() -> None:
        nonlocal done
        if not done:
            done = True
            func()

    return wrapper
