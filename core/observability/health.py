"""`/healthz`, `/readyz` and `/metrics`, answered by a small WSGI middleware in front of Flask:
no session cookie is read or written, no user is loaded, no CSRF check runs, and a probe costs
next to nothing. `ProxyFix` (when configured) sits outside it, so the metrics allow-list sees the
client's real address.

- `/healthz`: the process is up (200, touches nothing).
- `/readyz`: the database answers `SELECT 1`, object storage is reachable (its bucket exists),
  the broker answers PING (Redis) — each with its own status; 200 when every configured one is
  ok, else 503. The checks run in parallel with a deadline (`QI_READYZ_TIMEOUT_SECONDS`, 3); the
  reasons are logged, the answer names only the status and the kind of failure.
- `/metrics`: Prometheus text format, only from `QI_METRICS_ALLOW` (CIDR list, loopback by
  default) or with `Authorization: Bearer <QI_METRICS_TOKEN>`. A request that came through a proxy
  the app was not told to trust (`X-Forwarded-For` with `QI_PROXY_TRUSTED_HOPS=0`) is never let
  in by its address: the address would be the proxy's.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from flask import Flask
from werkzeug.wrappers import Request, Response

from core.config import ConfigError
from core.observability import metrics as metrics_module

log = logging.getLogger("core.observability")

PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_POOL = "qi.readyz_pool"
_pool_lock = threading.Lock()


def parse_networks(spec: str) -> list[Network]:
    networks = []
    for part in spec.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError as exc:
            raise ConfigError(f"QI_METRICS_ALLOW: {part!r} is not an address or CIDR network") from exc
    return networks


# ---------------------------------------------------------------- readiness checks


def check_database(app: Flask) -> str:
    from sqlalchemy import text

    from core.db import db

    with db.engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    return "ok"


def check_storage(app: Flask) -> str:
    from core.documents.storage import get_storage

    # get_storage ensures the bucket once per process; ask again on every probe (a HEAD).
    get_storage(app).ensure_bucket()
    return "ok"


def check_broker(app: Flask) -> str:
    url = str(app.config.get("CELERY_BROKER_URL") or "")
    if not url:
        return "not configured"
    timeout = float(app.config.get("READYZ_TIMEOUT_SECONDS", 3))
    if url.startswith(("redis://", "rediss://", "unix://")):
        import redis

        client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        try:
            client.ping()
        finally:
            client.close()
        return "ok"
    from kombu import Connection

    with Connection(url, connect_timeout=timeout) as conn:
        conn.ensure_connection(max_retries=1)
    return "ok"


CHECKS: dict[str, Callable[[Flask], str]] = {
    "database": check_database,
    "storage": check_storage,
    "broker": check_broker,
}
OK_STATES = frozenset({"ok", "not configured"})


def _pool(app: Flask) -> ThreadPoolExecutor:
    # Bounded: a check hanging past its deadline occupies a thread, later probes wait and time
    # out (and report it) instead of piling up threads.
    pool = app.extensions.get(_POOL)
    if pool is None:
        with _pool_lock:
            pool = app.extensions.get(_POOL)
            if pool is None:
                pool = app.extensions[_POOL] = ThreadPoolExecutor(
                    max_workers=len(CHECKS) * 2, thread_name_prefix="qi-readyz")
    return pool


def readiness(app: Flask) -> tuple[bool, dict[str, dict[str, str]]]:
    """Run every check in parallel; (all ok, {name: {"status": …, "error"?: kind}})."""
    import time

    timeout = float(app.config.get("READYZ_TIMEOUT_SECONDS", 3))

    def run(check: Callable[[Flask], str]) -> str:
        with app.app_context():
            return check(app)

    futures = {name: _pool(app).submit(run, check) for name, check in CHECKS.items()}
    deadline = time.monotonic() + timeout
    results: dict[str, dict[str, str]] = {}
    for name, future in futures.items():
        try:
            results[name] = {"status": future.result(timeout=max(deadline - time.monotonic(), 0))}
        except FutureTimeout:
            results[name] = {"status": "fail", "error": "timeout"}
            log.warning("readyz: %s did not answer within %.1f s", name, timeout)
        except Exception as exc:
            results[name] = {"status": "fail", "error": type(exc).__name__}
            log.warning("readyz: %s is not ready: %s: %s", name, type(exc).__name__, exc)
    return all(r["status"] in OK_STATES for r in results.values()), results


# ---------------------------------------------------------------- the middleware


class ProbeMiddleware:
    """Answers the three probe paths itself; everything else goes to the Flask app."""

    def __init__(self, app: Flask, wsgi_app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.wsgi_app = wsgi_app
        self.networks = parse_networks(str(app.config.get("METRICS_ALLOW", "")))
        self.token = str(app.config.get("METRICS_TOKEN") or "")
        self.trusted_hops = int(app.config.get("PROXY_TRUSTED_HOPS", 0))

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path not in PATHS:
            return self.wsgi_app(environ, start_response)
        request = Request(environ)
        if request.method not in ("GET", "HEAD"):
            response = Response("method not allowed\n", 405, {"Allow": "GET, HEAD"},
                                mimetype="text/plain")
        elif path == "/healthz":
            response = _json({"status": "ok"}, 200)
        elif path == "/readyz":
            ready, checks = readiness(self.app)
            response = _json({"status": "ok" if ready else "fail", "checks": checks},
                             200 if ready else 503)
        elif not self.metrics_allowed(request):
            response = Response("forbidden\n", 403, mimetype="text/plain")
        else:
            metrics = metrics_module.metrics_for(self.app)
            body = metrics.exposition() if metrics is not None else b""
            response = Response(body, 200, content_type=metrics_module.CONTENT_TYPE)
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response(environ, start_response)

    def metrics_allowed(self, request: Request) -> bool:
        if self.token:
            scheme, _sep, given = request.headers.get("Authorization", "").partition(" ")
            if scheme.lower() == "bearer" and hmac.compare_digest(
                    given.strip().encode(), self.token.encode()):
                return True
        if self.trusted_hops == 0 and request.headers.get("X-Forwarded-For"):
            return False
        try:
            address = ipaddress.ip_address(request.remote_addr or "")
        except ValueError:
            return False
        mapped = getattr(address, "ipv4_mapped", None)
        return any(address in net or (mapped is not None and mapped in net)
                   for net in self.networks)


def _json(payload: dict[str, Any], status: int) -> Response:
    return Response(json.dumps(payload), status, mimetype="application/json")
