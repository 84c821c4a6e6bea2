"""`claim_once(key, ttl)`: true for the first caller only, so a side effect the database cannot
deduplicate (a plugin hook) happens once per key even when a job runs twice.

With a Redis broker the claim is a Redis key (`SET NX EX`), shared by every process and host.
Without a broker there is one machine and one scheduler thread (`core.tasks.scheduler` holds a
file lock), so the claim is kept in the app's memory.
"""

from __future__ import annotations

import os
import threading
from datetime import timedelta

from flask import Flask, current_app

_LOCAL = "qi.tasks.once"
_REDIS = "qi.tasks.redis"
_lock = threading.Lock()
PREFIX = "qi:once:"


def _redis_url(app: Flask) -> str | None:
    url = str(app.config.get("CELERY_BROKER_URL") or "")
    return url if url.startswith(("redis://", "rediss://", "unix://")) else None


def redis_client(app: Flask | None = None):  # type: ignore[no-untyped-def]
    """A Redis client on the broker's Redis (cached per app), or None without a Redis broker."""
    import redis

    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    url = _redis_url(app)
    if url is None:
        return None
    cached = app.extensions.get(_REDIS)
    if cached is None or cached[0] != os.getpid():  # a client is not shared across a fork
        client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=5)
        cached = app.extensions[_REDIS] = (os.getpid(), client)
    return cached[1]


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
