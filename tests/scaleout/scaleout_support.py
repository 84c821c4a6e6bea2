"""What the scale-out tests share: scratch PostgreSQL databases, processes started in their own
process groups, and a small cookie-keeping HTTP client (`http.client`, no `requests`).

Imported by the test modules of this folder (pytest puts the folder on `sys.path`; there is no
`__init__.py`), and by nothing else.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from sqlalchemy.engine import URL, make_url

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
HERE = Path(__file__).resolve().parent

_CSRF_INPUT = re.compile(r'<input[^>]*name="csrf_token"[^>]*>')
_VALUE = re.compile(r'value="([^"]*)"')


# ---------------------------------------------------------------- PostgreSQL


def libpq_url(url: str | URL) -> str:
    """A SQLAlchemy URL as libpq (pg_dump, pg_restore, psql) reads it: no `+driver`."""
    parsed = make_url(str(url)) if isinstance(url, str) else url
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def database_url(server_url: str, name: str) -> str:
    """The URL of database `name` on the server of `server_url`."""
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def create_database(server_url: str, prefix: str) -> str:
    """A new, empty database named `prefix_<random>`; returns its URL."""
    import psycopg

    name = f"{prefix}_{secrets.token_hex(4)}"
    with psycopg.connect(libpq_url(database_url(server_url, "postgres")), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return database_url(server_url, name)


def drop_database(url: str) -> None:
    """Drop the database of `url`, closing whatever still holds a connection to it."""
    import psycopg

    name = make_url(url).database
    assert name and name.startswith("qi_"), f"refusing to drop {name!r}: not a scratch database"
    with psycopg.connect(libpq_url(database_url(url, "postgres")), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# ---------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Service:
    """A process started in its own session, so `stop()` and `kill()` reach all its children."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    port: int = 0

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def running(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL to the whole process group: no clean-up, no acknowledgement, like a crash."""
        if self.running():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM to the process group, SIGKILL if it has not gone within `timeout`."""
        if not self.running():
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            self.kill()


def start_service(name: str, command: Sequence[str], env: Mapping[str, str], log_path: Path,
                  *, port: int = 0) -> Service:
    with open(log_path, "ab") as log:
        process = subprocess.Popen(list(command), cwd=ROOT, env=dict(env), stdin=subprocess.DEVNULL,
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    return Service(name, process, log_path, port)


def gunicorn_command(port: int, *, workers: int = 2, threads: int = 4) -> list[str]:
    """gunicorn with the project's `gunicorn.conf.py` (read from the working directory, the
    repository root), its worker count and bind address overridden for a test-sized run."""
    return [str(VENV_BIN / "gunicorn"), "--workers", str(workers), "--threads", str(threads),
            "--bind", f"127.0.0.1:{port}", "--graceful-timeout", "5", "--no-control-socket",
            "core.app:create_app()"]


def wait_for_http(service: Service, path: str = "/healthz", timeout: float = 60.0) -> None:
    """Until `path` answers 200 on the service's port; raises with the log if it dies or never does."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        if not service.running():
            raise RuntimeError(f"{service.name} exited with {service.process.returncode}:\n"
                               f"{service.log_tail()}")
        try:
            status, _, _ = Browser(service.port).request("GET", path)
            if status == 200:
                return
            last = status
        except OSError as exc:
            last = exc
        time.sleep(0.2)
    raise RuntimeError(f"{service.name} did not answer {path} within {timeout:.0f} s ({last!r}):\n"
                       f"{service.log_tail()}")


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
