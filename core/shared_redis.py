"""The Redis every process of the platform shares (rate-limit windows, `claim_once` claims).

`REDIS_URL` when set; otherwise the broker's Redis (`CELERY_BROKER_URL` when it is a Redis URL),
so a deployment with a Redis broker needs nothing more. Without either (the embedded `make run`)
there is no shared Redis and callers keep their state in the process.
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, current_app

_KEY = "qi.shared_redis"
_SCHEMES = ("redis://", "rediss://", "unix://")


def redis_url(app: Flask | None = None) -> str | None:
    config = (app or current_app).config
    for key in ("REDIS_URL", "CELERY_BROKER_URL"):
        url = str(config.get(key) or "")
        if url.startswith(_SCHEMES):
            return url
    return None


def redis_client(app: Flask | None = None) -> Any:
    """A client on the shared Redis (one per app and process), or None when there is none."""
    import redis

    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    url = redis_url(app)
    if url is None:
        return None
    cached = app.extensions.get(_KEY)
    if cached is None or cached[0] != os.getpid():  # a client is not shared across a fork
        # Short timeouts: a login must not hang on a Redis that stopped answering.
        client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        cached = app.extensions[_KEY] = (os.getpid(), client)
    return cached[1]
