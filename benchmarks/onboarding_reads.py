"""Issue 7: what one onboarding read costs — SQL statements and time per request, in process.

The pages and operations that evaluate the eligibility rules were the slowest reads of the load
benchmark (benchmarks/README.md, "Load"). This measures each of them alone, on PostgreSQL, with
the demo data (`qi demo`: a live institution and one in screening, their documents, agents,
commitment letters, consultations and orders), through the Flask test client: no network, no
gunicorn, one request at a time, so the figures are the application's own cost.

For each read: the number of SQL statements (counted by an engine event), and the median and
minimum time of `--repeat` requests after two warm-up requests. `--profile NAME` prints a cProfile
of one more request of that read (cumulative time, the top `--top` functions); `--statements NAME`
lists the statements of that read.

    .venv/bin/python benchmarks/onboarding_reads.py [--repeat 30] [--profile "GET /review/[id] (live)"]
        [--statements "GraphQL EligibilityReport"]
        [--pg-server postgresql://postgres@127.0.0.1:5432/postgres]

A scratch database `qi_onbreads_<random>` is created, migrated, filled with the demo and dropped.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from graphql_operations import load_operations  # noqa: E402 (benchmarks/, on sys.path)

from core.testing_processes import create_database, drop_database, run_benchmark  # noqa: E402

ADMIN, OPERATOR = "13922000001", "13800000002"  # the live lab's admin, the demo operator
_CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
OPERATIONS = load_operations()  # the documents the front-end apps send


def log_in(client: Any, phone: str) -> None:
    from core.demo import DEMO_PASSWORD

    token = _CSRF.search(client.get("/login").get_data(as_text=True)).group(1)
    response = client.post("/login", data={"identifier": phone, "password": DEMO_PASSWORD,
                                           "csrf_token": token})
    assert response.status_code == 302, f"login of {phone} answered {response.status_code}"


def reads(app: Any) -> dict[str, tuple[Any, Callable[[Any], Any]]]:
    """name -> (logged-in client, request); each request checks its own answer."""
    from sqlalchemy import select

    from core.db import db
    from core.institutions.models import Institution, InstitutionStatus

    with app.app_context():
        live = db.session.scalar(select(Institution.id).where(
            Institution.status == InstitutionStatus.LIVE).order_by(Institution.id))
        waiting = db.session.scalar(select(Institution.id).where(
            Institution.status != InstitutionStatus.LIVE).order_by(Institution.id))
    admin, operator = app.test_client(), app.test_client()
    log_in(admin, ADMIN)
    log_in(operator, OPERATOR)

    def page(path: str) -> Callable[[Any], Any]:
        def get(client: Any) -> Any:
            response = client.get(path)
            assert response.status_code == 200, f"GET {path}: {response.status_code}"
            return response
        return get

    def graphql(operation: str, field: str) -> Callable[[Any], Any]:
        def post(client: Any) -> Any:
            body = client.post("/graphql", json={
                "query": OPERATIONS[operation], "operationName": operation,
                "variables": {"institutionId": str(live)}}).get_json()
            assert not body.get("errors") and body["data"][field], body
            return body
        return post

    return {
        "GraphQL MyInstitution": (admin, graphql("MyInstitution", "myInstitution")),
        "GraphQL EligibilityReport": (admin, graphql("EligibilityReport", "eligibilityReport")),
        "GET /institutions/[id]/documents": (admin, page(f"/institutions/{live}/documents")),
        "GET /institutions/[id]/onboarding/agents": (admin,
                                                     page(f"/institutions/{live}/onboarding/agents")),
        "GET /institutions/[id]/onboarding/check": (admin, page(f"/institutions/{live}/onboarding/check")),
        "GET /review/[id] (live)": (operator, page(f"/review/{live}")),
        "GET /review/[id] (screening)": (operator, page(f"/review/{waiting}")),
    }


class StatementCounter:
    def __init__(self, engine: Any) -> None:
        from sqlalchemy import event

        self.count = 0
        self.statements: list[str] = []
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn: Any, _cursor: Any, statement: str, *args: Any) -> None:
        self.count += 1
        self.statements.append(" ".join(statement.split()))


def run(args: argparse.Namespace, tmp: Path, cleanup: list[Callable[[], None]]) -> None:
    from core import migrate
    from core.app import create_app
    from core.db import db
    from core.demo import load_demo

    database_url = create_database(args.pg_server, "qi_onbreads")
    cleanup.append(lambda: drop_database(database_url))
    migrate.upgrade(database_url)
    app = create_app({"DATABASE_URL": database_url, "STORAGE_URL": f"file://{tmp / 'storage'}",
                      "SECRET_KEY": "reads-" + "r" * 40, "INSTANCE_PATH": str(tmp / "instance"),
                      "CELERY_BROKER_URL": "", "SMS_PROVIDER": "log", "RATE_LIMIT_LOGIN": "0",
                      "PASSWORD_HASH_TIME_COST": 1, "PASSWORD_HASH_MEMORY_KIB": 1024})
    with app.app_context():
        load_demo()
        db.session.close()
        counter = StatementCounter(db.engine)
    print(f"{'read':<44}{'statements':>11}{'median ms':>11}{'min ms':>9}")
    for name, (client, request) in reads(app).items():
        for _ in range(2):
            request(client)
        counter.count = 0
        counter.statements = []
        request(client)
        statements = counter.count
        if args.statements and args.statements == name:
            for n, statement in enumerate(counter.statements, 1):
                print(f"  {n:>3}. {statement[:args.width]}")
        times = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            request(client)
            times.append((time.perf_counter() - started) * 1000)
        print(f"{name:<44}{statements:>11}{statistics.median(times):>11.1f}{min(times):>9.1f}",
              flush=True)
        if args.profile and args.profile == name:
            profiler = cProfile.Profile()
            profiler.enable()
            request(client)
            profiler.disable()
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(args.top)
            print(out.getvalue())
    with app.app_context():
        db.engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repeat", type=int, default=30, help="timed requests per read (30)")
    parser.add_argument("--profile", default="", help="cProfile one request of this read")
    parser.add_argument("--top", type=int, default=40, help="functions shown by --profile (40)")
    parser.add_argument("--statements", default="", help="list the SQL statements of this read")
    parser.add_argument("--width", type=int, default=200, help="characters shown per statement")
    parser.add_argument("--pg-server", default="postgresql://postgres@127.0.0.1:5432/postgres",
                        help="where the scratch database is created")
    args = parser.parse_args(argv)
    return run_benchmark(lambda tmp, cleanup: run(args, tmp, cleanup), "qi-onboarding-reads-")


if __name__ == "__main__":
    sys.exit(main())
