"""`claim_once(key, ttl)`: true for the first caller only, so a side effect the database cannot
deduplicate (a plugin hook) happens once per key even when a job runs twice.

With a shared Redis (`core.shared_redis`: `REDIS_URL`, else a Redis broker) the claim is a Redis
key (`SET NX EX`), shared by every process and host. Without one there is one machine and one
scheduler thread (`core.tasks.scheduler` holds a file lock), so the claim is kept in the app's
memory.
"""

from __future__ import annotations

import os
import threading
from datetime import timedelta

from flask import current_app

from core.shared_redis import redis_client

_LOCAL = "qi.tasks.once"
_lock = threading.Lock()
PREFIX = "qi:once:"


def claim_once(key: str, ttl: timedelta) -> bool:
    """Claim `key` for `ttl`; false when it was claimed already."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    client = redis_client(app)
    if client is not None:
        return bool(client.set(PREFIX + key, str(os.getpid()), nx=True,
                               ex=max(int(ttl.total_seconds()), 1)))
    with _lock:
        claimed: set[str] = app.extensions.setdefault(_LOCAL, set())
        if key in claimed:
            return False
        claimed.add(key)
        return True


def release(key: str) -> None:
    """Give a claim back (the work it guarded failed and should be retried)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    client = redis_client(app)
    if client is not None:
        client.delete(PREFIX + key)
        return
    with _lock:
        app.extensions.setdefault(_LOCAL, set()).discard(key)
