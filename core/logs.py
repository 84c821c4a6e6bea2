"""Logging set-up. Every record is written on one line: control characters in messages (user
input included) are escaped, so nobody can forge a log line (SECURITY.md 14)."""

from __future__ import annotations

import json
import logging

from flask import Flask

from core.audit.service import sanitize_text


class OneLineFormatter(logging.Formatter):
    """Development format: the message on one line; a traceback, if any, follows as usual."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return sanitize_text(super().formatMessage(record), 10_000)


class JsonFormatter(logging.Formatter):
    """Production format: one JSON object per line (json.dumps escapes control characters)."""

    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload, ensure_ascii=False)


def init_app(app: Flask) -> None:
    handler = logging.StreamHandler()
    if app.config["QI_ENV"] == "production":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(OneLineFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    app.logger.handlers[:] = [handler]
    app.logger.setLevel(logging.INFO)
