"""The in-process scheduler: runs the periodic jobs of `core.tasks.PERIODIC_JOBS` in a daemon
thread of the web process when there is no broker (the single-machine setup).

Started by `qi run` (development, no broker configured) or, under another server, by
`QI_INLINE_SCHEDULER=1` with the first request. Several processes on the one machine (gunicorn
workers) may each start it: a file lock (`<instance>/inline-scheduler.lock`) lets exactly one run
jobs at a time, and another takes over if that process ends. Every job runs once shortly after
start (a machine that was off at 00:15 catches up; the jobs are idempotent), then on its schedule.
With a broker, Celery beat and workers do this instead.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO

from flask import Flask

from core.db import utcnow
from core.tasks import PERIODIC_JOBS, PeriodicJob, run_job

log = logging.getLogger("core.tasks")
_KEY = "qi.inline_scheduler"
_lock = threading.Lock()
LOCK_RETRY_SECONDS = 60.0
MAX_SLEEP_SECONDS = 60.0


class InlineScheduler:
    def __init__(self, app: Flask, jobs: Sequence[PeriodicJob] = PERIODIC_JOBS, *,
                 start_delay: float = 5.0, lock_path: Path | None = None,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.app = app
        self.jobs = tuple(jobs)
        self.clock = clock
        self.lock_path = lock_path or Path(app.instance_path) / "inline-scheduler.lock"
        first = clock() + timedelta(seconds=start_delay)
        self.next_run: dict[str, datetime] = {job.name: first for job in self.jobs}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock_file: IO[str] | None = None

    # -- one step, callable without the thread (tests)

    def run_pending(self, now: datetime | None = None) -> list[str]:
        """Run every job that is due at `now`; returns their names. A failing job is logged and
        tried again at its next time."""
        now = now or self.clock()
        ran = []
        for job in self.jobs:
            if self.next_run[job.name] > now:
                continue
            try:
                run_job(job, self.app)
            except Exception:
                log.exception("scheduled job %s failed; next try %s", job.name,
                              job.schedule.describe(self.app.config))
            self.next_run[job.name] = job.schedule.next_after(self.clock(), self.app.config)
            ran.append(job.name)
        return ran

    def seconds_to_next(self) -> float:
        soonest = min(self.next_run.values())
        return max(0.0, min((soonest - self.clock()).total_seconds(), MAX_SLEEP_SECONDS))

    # -- the thread

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="qi-inline-scheduler", daemon=True)
        self._thread.start()
        log.info("in-process scheduler started: %s",
                 ", ".join(f"{j.name} ({j.schedule.describe(self.app.config)})" for j in self.jobs))

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._lock_file is not None:
            self._lock_file.close()  # releases the lock
            self._lock_file = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            if not self._hold_lock():
                self._stop.wait(LOCK_RETRY_SECONDS)
                continue
            self.run_pending()
            self._stop.wait(self.seconds_to_next())

    def _hold_lock(self) -> bool:
        """True while this process holds the machine's scheduler lock."""
        if self._lock_file is not None:
            return True
        try:
            import fcntl
        except ImportError:  # not POSIX: one process is assumed
            return True
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.lock_path.open("a")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._lock_file = handle
        log.info("in-process scheduler: this process (%d) runs the periodic jobs", os.getpid())
        return True


def start_inline_scheduler(app: Flask, **kwargs: object) -> InlineScheduler:
    """Start the app's scheduler thread (once per app; later calls return the running one)."""
    with _lock:
        scheduler = app.extensions.get(_KEY)
        if scheduler is None:
            scheduler = app.extensions[_KEY] = InlineScheduler(app, **kwargs)  # type: ignore[arg-type]
            scheduler.start()
    return scheduler  # type: ignore[no-any-return]


def stop_inline_scheduler(app: Flask) -> None:
    scheduler = app.extensions.pop(_KEY, None)
    if scheduler is not None:
        scheduler.stop()
