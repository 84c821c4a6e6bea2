"""gunicorn's access log as one JSON object per line (`logger_class` in `gunicorn.conf.py`).

Every value is escaped by `json.dumps`, so a quote or a newline in a path or a user agent cannot
break the line or forge another one. `remote_addr` is the client's address after `ProxyFix` (the
app rewrites REMOTE_ADDR in place when `QI_PROXY_TRUSTED_HOPS` is set); `request_id` is the id
the app used for its own log lines and echoed in `X-Request-ID`.
"""

from __future__ import annotations

import json
import traceback
from datetime import UTC, datetime
from typing import Any

from gunicorn.glogging import Logger


def access_record(resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> dict[str, Any]:
    status = resp.status
    if isinstance(status, str):
        status = status.split(None, 1)[0]
    headers = {name.lower(): value for name, value in (getattr(resp, "headers", None) or [])}
    duration_ms = request_time.seconds * 1000 + request_time.microseconds / 1000
    return {
        "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "type": "access",
        "request_id": environ.get("qi.request_id") or headers.get("x-request-id"),
        "remote_addr": environ.get("REMOTE_ADDR"),
        "forwarded_for": environ.get("HTTP_X_FORWARDED_FOR"),
        "method": environ.get("REQUEST_METHOD"),
        "path": environ.get("PATH_INFO"),
        "query": environ.get("QUERY_STRING") or None,
        "status": int(status) if str(status).isdigit() else status,
        "bytes": getattr(resp, "sent", None),
        "duration_ms": round(duration_ms, 1),
        "user_agent": environ.get("HTTP_USER_AGENT"),
        "referer": environ.get("HTTP_REFERER"),
    }


class JsonAccessLogger(Logger):
    """gunicorn's logger with the access line in JSON; the error log is unchanged."""

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        if not self.access_log_enabled:
            return
        try:
            record = access_record(resp, req, environ, request_time)
            self.access_log.info(json.dumps(record, ensure_ascii=False))
        except Exception:
            self.error(traceback.format_exc())
