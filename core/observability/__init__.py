"""Request ids, metrics and the health probes (`core.observability.health`).

Request id: `X-Request-ID` from the reverse proxy when it is sane (1-64 characters of
`A-Z a-z 0-9 . _ -`), otherwise a fresh one; kept in `g.request_id`, echoed in the response's
`X-Request-ID`, written on every log record of the request (`core.logs`), in gunicorn's access
log, and handed to the Celery tasks the request starts (`core.tasks.signals`).
"""

from __future__ import annotations

import re
import time
import uuid

from flask import Flask, Response, current_app, g, request

from core.config import ConfigError
from core.observability import metrics
from core.observability.health import ProbeMiddleware, parse_networks

REQUEST_ID_HEADER = "X-Request-ID"
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def request_id_from(value: str | None) -> str:
    """The proxy's request id when it is sane, else a new one."""
    if value and _SANE_REQUEST_ID.fullmatch(value):
        return value
    return uuid.uuid4().hex


def init_app(app: Flask) -> None:
    """Call first in the factory, so every later hook's log lines carry the request id."""
    _check_config(app)
    metrics.init_app(app)
    app.before_request(_begin_request)
    app.after_request(_end_request)
    app.wsgi_app = ProbeMiddleware(app, app.wsgi_app)  # type: ignore[method-assign]


def _check_config(app: Flask) -> None:
    parse_networks(str(app.config.get("METRICS_ALLOW", "")))  # raises ConfigError when malformed
    if int(app.config.get("PROXY_TRUSTED_HOPS", 0)) < 0:
        raise ConfigError("QI_PROXY_TRUSTED_HOPS must be 0 (not behind a proxy) or more")
    token = str(app.config.get("METRICS_TOKEN") or "")
    if token and app.config["QI_ENV"] == "production" and len(token) < 24:
        raise ConfigError("QI_METRICS_TOKEN must be at least 24 characters in production")


def _begin_request() -> None:
    g.request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))
    request.environ["qi.request_id"] = g.request_id  # for gunicorn's access log
    g.qi_request_started = time.perf_counter()


def _end_request(response: Response) -> Response:
    request_id = g.get("request_id")
    if request_id:
        response.headers[REQUEST_ID_HEADER] = request_id
    started = g.get("qi_request_started")
    if started is not None:
        metrics.record_request(current_app, request.endpoint or "unmatched", request.method,
                               response.status_code, time.perf_counter() - started)
    return response
