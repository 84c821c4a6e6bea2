"""Issue 7: a burst of logins against gunicorn, and what it does to everybody else's reads.

Each login verifies an Argon2id hash at the production cost (RFC 9106 low-memory profile: t=3,
64 MiB, 2 lanes), which takes both cores of a small machine for about 0.15 s. The question is
what `--burst` simultaneous logins do to their own latency and to the reads other users make
meanwhile, with the hashing bound `QI_PASSWORD_HASH_CONCURRENCY` at each value of `--compare`
(0: no bound, the behaviour before the bound existed), each optionally with its own
`QI_PASSWORD_HASH_WAIT_MS` (`1:500`: one slot per process, 500 ms of waiting for it at most).

For each value the script starts the application afresh (one gunicorn instance with the project's
gunicorn.conf.py on a loopback port; `--workers`/`--threads` override it) against a scratch
PostgreSQL database (`qi_login_<random>`, dropped at the end) holding `--burst` accounts made with
production hashing, and local file storage. Then, `--rounds` times:

1. quiet: `--readers` threads read the home page (categories from the database) back to back for
   `--quiet-seconds`: the reads' latency with nobody logging in;
2. burst: every account's browser has fetched the login form beforehand; all post it at the same
   instant (a barrier) while the readers go on. A login refused with 503 (no hashing slot) is
   retried after its Retry-After, as the error page asks a person to; each login's time is from
   its first post to its session, and each attempt's answer is counted.

Reported per configuration: login time to success (p50/p95/max), first answers by status, 503s,
and the reads' p50/p95/p99/max in the quiet windows and during the bursts. Reads suffer in two
ways: CPU taken by the hashes, and request threads all busy with logins (a read sent to a worker
whose every thread is hashing or waiting for a slot queues behind them): the tail shows it.

    .venv/bin/python benchmarks/login.py [--burst 20] [--rounds 3] [--compare 0,1:2000,1:500]
        [--workers N --threads N] [--pg-server postgresql://postgres@127.0.0.1:5432/postgres]

Per-address rate limits are switched off for the run (`QI_RATE_LIMIT_LOGIN=0`): every browser
here has the same address, which no real burst has. Exit status 0, or 1 when something broke.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import secrets
import statistics
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.testing_processes import (  # noqa: E402
    Service,
    create_database,
    drop_database,
    run_benchmark,
    start_gunicorn,
    wait_for_http,
)

PASSWORD = "Login-burst#2026"
_CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
MAX_TRIES = 20


@dataclass
class Browser:
    port: int
    cookies: dict[str, str] = field(default_factory=dict)

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        try:
            all_headers = dict(headers or {})
            if self.cookies:
                all_headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
            conn.request(method, path, body=body, headers=all_headers)
            response = conn.getresponse()
            data = response.read()
            for header in response.headers.get_all("Set-Cookie") or []:
                jar: SimpleCookie = SimpleCookie()
                jar.load(header)
                self.cookies.update({name: morsel.value for name, morsel in jar.items()})
            return response.status, {k.lower(): v for k, v in response.headers.items()}, data
        finally:
            conn.close()


@dataclass
class Login:
    """One browser's login: the answers it got and the time from first post to session."""

    statuses: list[int] = field(default_factory=list)
    seconds: float = 0.0
    ok: bool = False


def log_in(browser: Browser, email: str, token: str, start: threading.Barrier, out: Login) -> None:
    body = urlencode({"csrf_token": token, "identifier": email, "password": PASSWORD}).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    start.wait()
    began = time.perf_counter()
    for _ in range(MAX_TRIES):
        status, answer_headers, _ = browser.request("POST", "/login", body, headers)
        out.statuses.append(status)
        if status != 503:
            break
        time.sleep(float(answer_headers.get("retry-after", "1")))
    out.seconds = time.perf_counter() - began
    out.ok = out.statuses[-1] == 302


class Readers:
    """Threads reading the home page back to back; each read's (end time, seconds)."""

    def __init__(self, port: int, count: int) -> None:
        self.port = port
        self.samples: list[tuple[float, float]] = []
        self.errors: Counter[int] = Counter()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(count)]

    def _run(self) -> None:
        browser = Browser(self.port)
        while not self._stop.is_set():
            began = time.perf_counter()
            status, _, _ = browser.request("GET", "/")
            ended = time.perf_counter()
            with self._lock:
                if status == 200:
                    self.samples.append((ended, ended - began))
                else:
                    self.errors[status] += 1

    def __enter__(self) -> Readers:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)

    def between(self, start: float, end: float) -> list[float]:
        with self._lock:
            return [s for t, s in self.samples if t > start and t - s < end]  # overlapping


def quantile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def ms(values: list[float], *, p99: bool = False) -> str:
    qs = (0.5, 0.95, 0.99) if p99 else (0.5, 0.95)
    if not values:
        return "".join(f"{'-':>7}" for _ in range(len(qs) + 1))
    return "".join(f"{quantile(values, q) * 1000:>7.0f}" for q in qs) + f"{max(values) * 1000:>7.0f}"


def seed(database_url: str, tmp: Path, count: int) -> list[str]:
    """Migrate; `count` enterprise accounts with production hashing (the default cost)."""
    from core import migrate
    from core.app import create_app
    from core.db import db
    from core.identity.models import Role
    from core.identity.service import create_user

    migrate.upgrade(database_url)
    app = create_app({"DATABASE_URL": database_url, "STORAGE_URL": f"file://{tmp / 'storage'}",
                      "SECRET_KEY": "seed-" + "s" * 40, "INSTANCE_PATH": str(tmp / "seed"),
                      "CELERY_BROKER_URL": "", "PASSWORD_HASH_CONCURRENCY": 0})
    emails = [f"burst{n}-{secrets.token_hex(3)}@login.example.cn" for n in range(count)]
    with app.app_context():
        for email in emails:
            create_user(display_name="登录压测用户", password=PASSWORD, roles=[Role.ENTERPRISE],
                        email=email)
        db.session.close()
        db.engine.dispose()
    return emails


@dataclass
class Result:
    concurrency: int
    wait_ms: int
    logins: list[Login] = field(default_factory=list)
    quiet_reads: list[float] = field(default_factory=list)
    burst_reads: list[float] = field(default_factory=list)
    read_errors: Counter[int] = field(default_factory=Counter)
    burst_seconds: list[float] = field(default_factory=list)


def measure(args: argparse.Namespace, concurrency: int, wait_ms: int, env: dict[str, str],
            emails: list[str], tmp: Path) -> Result:
    result = Result(concurrency, wait_ms)
    server = start_gunicorn(f"gunicorn (hash concurrency {concurrency}, wait {wait_ms} ms)",
                            {**env, "QI_PASSWORD_HASH_CONCURRENCY": str(concurrency),
                             "QI_PASSWORD_HASH_WAIT_MS": str(wait_ms)},
                            tmp / f"gunicorn-{concurrency}-{wait_ms}.log", workers=args.workers,
                            threads=args.threads)
    try:
        wait_for_http(server, "/login")
        warm = Browser(server.port)  # every worker loads its templates and pool before measuring
        for _ in range(20):
            warm.request("GET", "/")
        with Readers(server.port, args.readers) as readers:
            for _ in range(args.rounds):
                quiet_start = time.perf_counter()
                time.sleep(args.quiet_seconds)
                result.quiet_reads += readers.between(quiet_start, time.perf_counter())
                result.logins += burst(server, emails, readers, result)
                time.sleep(1.0)
        result.read_errors = readers.errors
    except Exception:
        print(f"{server.name} log tail:\n{server.log_tail()}", file=sys.stderr)
        raise
    finally:
        server.stop()
    return result


def burst(server: Service, emails: list[str], readers: Readers, result: Result) -> list[Login]:
    browsers = [Browser(server.port) for _ in emails]
    tokens = []
    for browser in browsers:
        status, _, page = browser.request("GET", "/login")
        match = _CSRF.search(page.decode(errors="replace"))
        if status != 200 or match is None:
            raise RuntimeError(f"GET /login answered {status} without a form")
        tokens.append(match.group(1))
    start = threading.Barrier(len(emails) + 1)
    logins = [Login() for _ in emails]
    threads = [threading.Thread(target=log_in, args=(b, e, t, start, out))
               for b, e, t, out in zip(browsers, emails, tokens, logins, strict=True)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join(600)
    ended = time.perf_counter()
    result.burst_seconds.append(ended - began)
    result.burst_reads += readers.between(began, ended)
    for browser in browsers:  # log out, so the next round starts from nothing again
        if "qi_session" in browser.cookies:
            browser.cookies.clear()
    return logins


def report(args: argparse.Namespace, results: list[Result]) -> None:
    workers = f"--workers {args.workers}" if args.workers else "gunicorn.conf.py's workers"
    threads = f"--threads {args.threads}" if args.threads else "its threads"
    print()
    print(f"Bursts of {args.burst} simultaneous logins, {args.rounds} rounds, one instance "
          f"({workers}, {threads}), {args.readers} readers of GET / ; {os.cpu_count()} cores; "
          f"load average now {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
    print(f"  {'slots:wait ms':<14}{'login p50':>10}{'p95':>7}{'max':>7}  {'first answers':<18}"
          f"{'503s':>5}{'fail':>5}  {'quiet p50':>9}{'p95':>7}{'p99':>7}{'max':>7}"
          f"  {'burst p50':>9}{'p95':>7}{'p99':>7}{'max':>7}")
    for r in results:
        seconds = [login.seconds for login in r.logins if login.ok]
        first = Counter(login.statuses[0] for login in r.logins)
        busy = sum(s == 503 for login in r.logins for s in login.statuses)
        failed = sum(not login.ok for login in r.logins)
        label = f"{r.concurrency}:{r.wait_ms}" if r.concurrency else "0 (no bound)"
        answers = ", ".join(f"{status}×{n}" for status, n in sorted(first.items()))
        print(f"  {label:<14}   {ms(seconds)}  {answers:<18}{busy:>5}{failed:>5}    "
              f"{ms(r.quiet_reads, p99=True)}    {ms(r.burst_reads, p99=True)}")
        if r.read_errors:
            print(f"    reads answered other than 200: {dict(r.read_errors)}")
        print(f"    bursts took {', '.join(f'{s:.1f}' for s in r.burst_seconds)} s; reads measured: "
              f"{len(r.quiet_reads)} quiet, {len(r.burst_reads)} during bursts; "
              f"mean login {statistics.mean(seconds) * 1000 if seconds else 0:.0f} ms")


def run(args: argparse.Namespace, tmp: Path, cleanup: list[Any]) -> None:
    database_url = create_database(args.pg_server, "qi_login")
    cleanup.append(lambda: drop_database(database_url))
    print(f"seeding {args.burst} accounts (production Argon2id) in {database_url} …", flush=True)
    emails = seed(database_url, tmp, args.burst)
    env = {**os.environ, "DATABASE_URL": database_url, "STORAGE_URL": f"file://{tmp / 'storage'}",
           "SECRET_KEY": secrets.token_urlsafe(48), "QI_ENV": "development",
           "QI_INSTANCE_PATH": str(tmp / "instance"), "QI_RATE_LIMIT_LOGIN": "0"}
    for name in ("CELERY_BROKER_URL", "REDIS_URL", "PROMETHEUS_MULTIPROC_DIR", "QI_INLINE_SCHEDULER"):
        env.pop(name, None)
    results = []
    for concurrency, wait_ms in args.compare:
        print(f"hash slots {concurrency or 'unbounded'}, wait {wait_ms} ms: {args.rounds} bursts …",
              flush=True)
        results.append(measure(args, concurrency, wait_ms, env, emails, tmp))
    report(args, results)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--burst", type=int, default=20, help="simultaneous logins (20)")
    parser.add_argument("--rounds", type=int, default=3, help="bursts per configuration (3)")
    parser.add_argument("--compare", default="0,1:2000,1:500",
                        help="configurations: QI_PASSWORD_HASH_CONCURRENCY[:QI_PASSWORD_HASH_WAIT_MS], "
                             "0 = no bound (0,1:2000,1:500)")
    parser.add_argument("--wait-ms", type=int, default=2000,
                        help="QI_PASSWORD_HASH_WAIT_MS where --compare gives none (2000)")
    parser.add_argument("--readers", type=int, default=2, help="threads reading GET / (2)")
    parser.add_argument("--quiet-seconds", type=float, default=5.0,
                        help="reads measured before each burst (5)")
    parser.add_argument("--workers", type=int, default=None, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=None, help="threads per worker")
    parser.add_argument("--pg-server", default="postgresql://postgres@127.0.0.1:5432/postgres",
                        help="where the scratch database is created")
    args = parser.parse_args(argv)
    try:
        args.compare = [(int(c), int(w or args.wait_ms)) for c, _, w in
                        (v.strip().partition(":") for v in args.compare.split(",") if v.strip())]
    except ValueError:
        parser.error("--compare: slots[:wait_ms],… like 0,1:2000,1:500")
    if args.burst < 1 or args.rounds < 1 or not args.compare or min(c for c, _ in args.compare) < 0:
        parser.error("--burst and --rounds at least 1; --compare: slots of 0 or more")
    return run_benchmark(lambda tmp, cleanup: run(args, tmp, cleanup), "qi-login-bench-")


if __name__ == "__main__":
    sys.exit(main())
