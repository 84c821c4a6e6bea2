"""gunicorn settings for production (README, "Production"). gunicorn reads this file from the
working directory; every value can be overridden on the command line or through the environment.

    QI_ENV=production SECRET_KEY=… DATABASE_URL=… STORAGE_URL=… CELERY_BROKER_URL=… \\
        .venv/bin/gunicorn -c gunicorn.conf.py

Environment: QI_WEB_BIND (0.0.0.0:8000), QI_WEB_WORKERS (2 × CPUs + 1), QI_WEB_THREADS (4),
QI_WEB_TIMEOUT (60), QI_FORWARDED_ALLOW_IPS (127.0.0.1,::1: the proxies gunicorn believes about
the scheme), PROMETHEUS_MULTIPROC_DIR (metrics summed over the workers; wiped at start).
"""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path
from typing import Any

wsgi_app = "core.app:create_app()"
bind = os.environ.get("QI_WEB_BIND", "0.0.0.0:8000")

# Workers: processes for CPU-bound work (password hashing, rendering), threads to overlap waits on
# PostgreSQL and object storage. No preload: each worker builds its own app and database pool.
workers = int(os.environ.get("QI_WEB_WORKERS") or 2 * multiprocessing.cpu_count() + 1)
threads = int(os.environ.get("QI_WEB_THREADS") or 4)
worker_class = "gthread"
timeout = int(os.environ.get("QI_WEB_TIMEOUT") or 60)  # a request stuck longer: worker restarted
graceful_timeout = 30  # on SIGTERM/HUP: finish requests in flight for up to 30 s
# Seconds an idle keep-alive connection stays open. It must be LONGER than the load balancer's
# idle timeout (nginx upstream keepalive_timeout, ELB idle timeout …), or the server may close a
# connection just as the balancer reuses it, and a request is lost as a 502.
keepalive = int(os.environ.get("QI_WEB_KEEPALIVE") or 75)
max_requests = 5000  # recycle workers now and then (bounded memory), staggered by the jitter
max_requests_jitter = 500

# Reverse proxy: the app itself reads X-Forwarded-For/-Proto/-Host through ProxyFix with
# QI_PROXY_TRUSTED_HOPS; gunicorn only needs to know which peers may set the scheme.
forwarded_allow_ips = os.environ.get("QI_FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

# Logs: both to stdout/stderr (the service manager collects them); the access log is one JSON
# object per line with the request id (core.observability.gunicorn).
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("QI_WEB_LOGLEVEL", "info")
logger_class = "core.observability.gunicorn.JsonAccessLogger"


def on_starting(server: Any) -> None:
    """Start the Prometheus multiprocess directory empty: files of dead processes would count.
    One directory per gunicorn instance (and another for a Celery worker)."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink()


def child_exit(server: Any, worker: Any) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
