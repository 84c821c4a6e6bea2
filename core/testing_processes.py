"""Processes for tests and benchmarks: the platform under gunicorn, a Celery worker, anything that
must run as production runs it, in a process of its own; and the scratch PostgreSQL databases
they run against. Not a conftest on purpose.

Used by `tests/scaleout/` and the benchmarks (`run_benchmark` is every benchmark's `main` body);
SeaweedFS has its own starter (`core.testing_s3.start_seaweed`). Each process starts in a new
session, so `stop()` and `kill()` reach its children too (gunicorn's workers, Celery's pool).
"""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL, make_url

Cleanup = list[Callable[[], None]]

ROOT = Path(__file__).resolve().parent.parent  # gunicorn reads gunicorn.conf.py from here
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Service:
    """A process started in its own session, with its output in `log_path`."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    port: int = 0

    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

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

    def stop(self, timeout: float = 15.0) -> None:
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
    """Start `command` in the repository root; its output is appended to `log_path`."""
    with open(log_path, "ab") as log:
        process = subprocess.Popen(  # noqa: S603 (commands built by the tests and benchmarks)
            list(command), cwd=ROOT, env=dict(env), stdin=subprocess.DEVNULL,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    return Service(name, process, log_path, port)


def gunicorn_command(port: int, *, workers: int | None = None, threads: int | None = None,
                     extra: Sequence[str] = ()) -> list[str]:
    """gunicorn as production runs it: the project's gunicorn.conf.py (read from the repository
    root), with the bind address and, when given, the worker and thread counts overridden."""
    command = [str(VENV_BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--graceful-timeout", "5",
               "--no-control-socket"]
    if workers:
        command += ["--workers", str(workers)]
    if threads:
        command += ["--threads", str(threads)]
    return [*command, *extra, "core.app:create_app()"]


def start_gunicorn(name: str, env: Mapping[str, str], log_path: Path, *, workers: int | None = None,
                   threads: int | None = None, extra: Sequence[str] = ()) -> Service:
    """gunicorn on a free loopback port; wait for it with `wait_for_http`."""
    port = free_port()
    return start_service(name, gunicorn_command(port, workers=workers, threads=threads, extra=extra),
                         env, log_path, port=port)


def http_status(port: int, path: str, timeout: float = 5.0) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    finally:
        conn.close()


def wait_for_http(service: Service, path: str = "/healthz", timeout: float = 90.0) -> None:
    """Until `path` answers 200 on the service's port; raises with the log if it dies or never does."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        if not service.running():
            raise RuntimeError(f"{service.name} exited with {service.process.returncode}:\n"
                               f"{service.log_tail()}")
        try:
            last = http_status(service.port, path)
            if last == 200:
                return
        except OSError as exc:
            last = exc
        time.sleep(0.2)
    raise RuntimeError(f"{service.name} did not answer {path} within {timeout:.0f} s ({last!r}):\n"
                       f"{service.log_tail()}")


def children_of(pid: int) -> list[int]:
    """The direct children of `pid` (gunicorn's workers), from /proc."""
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            children.append(int(entry.name))
    return sorted(children)


# ---------------------------------------------------------------- scratch PostgreSQL databases


def libpq_url(url: str | URL) -> str:
    """A SQLAlchemy URL as libpq (psycopg, pg_dump, pg_restore, psql) reads it: no `+driver`."""
    parsed = make_url(str(url)) if isinstance(url, str) else url
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def database_url(server_url: str, name: str) -> str:
    """The URL of database `name` on the server of `server_url`."""
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def create_database(server_url: str, prefix: str) -> str:
    """A new, empty database named `prefix_<random>` (prefix starting `qi_`); returns its URL."""
    import secrets

    import psycopg

    assert prefix.startswith("qi_"), "scratch databases are named qi_…, so drop_database knows them"
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


def run_benchmark(run: Callable[[Path, Cleanup], bool | None], prefix: str) -> int:
    """A benchmark's run with its scratch folder and teardown: `run(tmp, cleanup)` appends each
    thing it starts or creates to `cleanup`, which is undone in reverse whatever happens (also on
    a plain `kill`, which tears down like Ctrl-C). Exit status: 0, 1 on an exception, 2 when
    `run` returns False (a target missed)."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    cleanup: Cleanup = []
    try:
        ok = run(tmp, cleanup)
    except Exception:
        traceback.print_exc()
        return 1
    finally:
        for step in reversed(cleanup):
            try:
                step()
            except Exception:
                traceback.print_exc()
        shutil.rmtree(tmp, ignore_errors=True)
    return 2 if ok is False else 0
