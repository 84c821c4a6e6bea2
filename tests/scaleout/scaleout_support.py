"""What the scale-out tests share: scratch PostgreSQL databases and the processes (both from
`core.testing_processes`, re-exported here), and a small cookie-keeping HTTP client
(`http.client`, no `requests`).

Imported by the test modules of this folder (pytest puts the folder on `sys.path`; there is no
`__init__.py`), and by nothing else.
"""

from __future__ import annotations

import http.client
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from core.testing_processes import (
    ROOT,
    VENV_BIN,
    Service,
    create_database,
    database_url,
    drop_database,
    free_port,
    gunicorn_command,
    libpq_url,
    start_service,
    wait_for_http,
)

HERE = Path(__file__).resolve().parent
__all__ = ["HERE", "ROOT", "VENV_BIN", "Browser", "Service", "create_database", "database_url",
           "drop_database", "free_port", "gunicorn_command", "libpq_url", "start_service",
           "wait_for_http"]

_CSRF_INPUT = re.compile(r'<input[^>]*name="csrf_token"[^>]*>')
_VALUE = re.compile(r'value="([^"]*)"')


# ---------------------------------------------------------------- a browser, more or less


@dataclass
class Browser:
    """Cookies kept like a browser (by name; this host only), one connection per request."""

    port: int
    host: str = "127.0.0.1"
    cookies: dict[str, str] = field(default_factory=dict)

    def on(self, port: int) -> Browser:
        """The same cookie jar, pointed at another instance: what a load balancer does."""
        return Browser(port, self.host, self.cookies)

    def _keep(self, response: http.client.HTTPResponse) -> None:
        for header in response.headers.get_all("Set-Cookie") or []:
            jar: SimpleCookie = SimpleCookie()
            jar.load(header)
            for name, morsel in jar.items():
                if (morsel["expires"] and "1970" in morsel["expires"]) or morsel["max-age"] == "0":
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: Mapping[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            all_headers = dict(headers or {})
            if self.cookies:
                all_headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
            conn.request(method, path, body=body, headers=all_headers)
            response = conn.getresponse()
            data = response.read()
            self._keep(response)
            return response.status, {k.lower(): v for k, v in response.headers.items()}, data
        finally:
            conn.close()

    def get(self, path: str) -> tuple[int, str]:
        status, _, body = self.request("GET", path)
        return status, body.decode(errors="replace")

    def csrf(self, path: str) -> str:
        status, page = self.get(path)
        assert status == 200, f"GET {path} answered {status}"
        tag = _CSRF_INPUT.search(page)
        assert tag is not None, f"no CSRF token on {path}"
        value = _VALUE.search(tag.group(0))
        assert value is not None
        return value.group(1)

    def post_form(self, path: str, data: Mapping[str, str], *, page: str | None = None
                  ) -> tuple[int, dict[str, str], str]:
        """Post a form with the CSRF token of the page that shows it (`page`, else `path`)."""
        fields = {"csrf_token": self.csrf(page or path), **data}
        status, headers, body = self.request(
            "POST", path, urlencode(fields).encode(),
            {"Content-Type": "application/x-www-form-urlencoded"})
        return status, headers, body.decode(errors="replace")

    def log_in(self, identifier: str, password: str) -> tuple[int, str]:
        """POST /login through the form; (status, page). 302 is a success."""
        status, _, page = self.post_form("/login", {"identifier": identifier, "password": password})
        return status, page

    def graphql(self, query: str, variables: Mapping[str, Any] | None = None, *,
                mutation: bool = False) -> dict[str, Any]:
        headers = {"Content-Type": "application/json"}
        if mutation:  # a cookie-authenticated mutation carries the CSRF token (SECURITY.md 12)
            token = self.graphql("{ csrfToken }")["data"]["csrfToken"]
            headers["X-CSRFToken"] = token
        body = json.dumps({"query": query, "variables": dict(variables or {})}).encode()
        status, _, data = self.request("POST", "/graphql", body, headers)
        assert status == 200, f"/graphql answered {status}: {data[:300]!r}"
        return json.loads(data)
