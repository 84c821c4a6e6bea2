"""Issue 8 item 3: the GraphQL directory over 10,000 institutions and 100,000 published items.

Targets: a directory page of 50 institutions with their items, certificates and rating answers in
a median of at most 50 ms, at most 4x the time of the same data read with ONE hand-written SQL
query plus `json.dumps`; the SQL statements per request are the same at page size 10 and 50.

Everything happens in this process, on PostgreSQL: a scratch database (`qi_bench_directory` by
default, dropped first if a previous run left it, and dropped at the end unless
`--keep-database`) is migrated with the project's migrations, then bulk-loaded with COPY —
10,000 live institutions (about 1 % of them with their homepage hidden under R-OPS-05, so the
visibility clause does real work), their categories, 100,000 published service items, their
certificates, the testing plugin's scope annexes, the equipment-sharing instrument registers and
about 20,000 reviews with their completed orders. `ANALYZE` follows, as autovacuum would.

The application is then asked through the Flask test client (no network, no gunicorn: the figure
is the application's own time) for several searches — keyword 计量, keyword 检测, category,
district, sort by rating, a standard number — each at page size 10 and 50. Every request is checked
(no error, the right number of institutions, each with its items) and its SQL statements counted.
The baseline is one hand-written PostgreSQL query per search that returns the same page (the
institutions with categories, published items, valid public certificates and rating as JSON, and
the total) followed by `json.dumps`, run in the same process on the same connection pool.

    .venv/bin/python benchmarks/directory.py [--repeat 30] [--keep-database]
        [--pg-server postgresql://postgres@127.0.0.1:5432/postgres]   (or QI_BENCH_PG_SERVER)

Exit status 0 when every target is met, 2 when one is missed, 1 when something broke.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.testing_processes import run_benchmark  # noqa: E402

DEFAULT_SERVER = os.environ.get("QI_BENCH_PG_SERVER", "postgresql://postgres@127.0.0.1:5432/postgres")
DATABASE = "qi_bench_directory"
MEDIAN_TARGET_MS = 50.0
RATIO_TARGET = 4.0
SEED = 20260315
PASSWORD = "Bench#2026-dir"  # two throw-away accounts in a scratch database

DISTRICTS = [("440604", "禅城区"), ("440605", "南海区"), ("440606", "顺德区"), ("440607", "三水区"),
             ("440608", "高明区")]
BRANDS = ("华信", "粤通", "立德", "中科", "正和", "恒准", "精测", "新锐", "百川", "广信", "诚安", "宏达",
          "众诚", "金桥", "安信", "博远", "德众", "天衡", "海德", "汇通", "联创", "佳禾", "泰和", "瑞德",
          "永信", "明鉴", "中衡", "科正", "同创", "鼎诚", "华测", "恒信", "国泰", "通标", "美达", "嘉信")
# (category, trade word in the name, certificate kind, item titles)
TRADES: list[tuple[str, str, str, tuple[str, ...]]] = [
    ("metrology", "计量检测", "cnas_calibration", (
        "压力表检定校准", "温度计校准", "电子天平检定", "卡尺千分尺校准", "流量计检定", "万用表校准",
        "砝码检定", "扭矩扳手校准", "硬度计检定", "衡器现场检定", "水表检定", "电能表检定")),
    ("testing", "检验检测", "cma", (
        "家用电器安全检测", "电线电缆检测", "五金制品盐雾试验", "塑料材料理化检测", "LED灯具光电性能检测",
        "电磁兼容（EMC）检测", "家具甲醛释放量检测", "陶瓷砖吸水率检测", "纺织品色牢度检测",
        "食品接触材料迁移量检测", "不锈钢成分分析", "包装材料跌落试验")),
    ("certification", "认证", "cnca_approval", (
        "质量管理体系认证", "环境管理体系认证", "职业健康安全管理体系认证", "产品认证（CQC自愿性）",
        "能源管理体系认证", "知识产权管理体系认证", "绿色产品认证", "服务认证（售后服务）")),
    ("standards", "标准化服务", "other_qualification", (
        "企业标准编写与自我声明", "团体标准制定咨询", "标准查新与有效性确认", "标准化良好行为企业创建",
        "标准体系建设咨询", "对标达标技术服务")),
    ("equipment_sharing", "仪器共享", "cnas_laboratory", (
        "电感耦合等离子体发射光谱仪共享", "万能材料试验机共享", "恒温恒湿试验箱共享", "盐雾试验箱共享",
        "三坐标测量机共享", "扫描电子显微镜共享")),
    ("ip", "知识产权", "other_qualification", (
        "发明专利申请代理", "商标注册代理", "专利检索分析", "知识产权贯标咨询", "专利无效宣告代理")),
    ("quality_management", "质量技术服务", "other_qualification", (
        "卓越绩效管理咨询", "六西格玛培训", "质量管理小组（QC）辅导", "首席质量官培训", "质量成本分析")),
    ("special_equipment", "特种设备检验", "other_qualification", (
        "电梯定期检验", "压力容器定期检验", "起重机械检验", "锅炉能效测试", "压力管道检验")),
]
SUFFIXES = ("有限公司", "技术有限公司", "研究院", "服务中心", "科技有限公司")
STANDARDS = ("GB 4706.1-2005", "GB 4706.21-2008", "GB/T 2828.1-2012", "GB/T 5023.1-2008",
             "GB 21456-2014", "GB/T 2423.17-2008", "GB 4943.1-2022", "GB/T 17626.2-2018",
             "GB 7000.1-2015", "GB/T 1040.2-2022", "GB/T 3810.3-2016", "GB 18580-2017",
             "GB/T 3920-2008", "GB 4806.7-2016", "GB/T 11170-2008", "GB/T 4857.5-1992")
INSTRUMENTS = (("电感耦合等离子体发射光谱仪", "ICPE-9820", "岛津"), ("万能材料试验机", "UTM5105", "三思纵横"),
               ("紫外可见分光光度计", "UV-2600", "岛津"), ("恒温恒湿试验箱", "TH-800", "广州五所"),
               ("盐雾试验箱", "SH-60", "庆声"), ("三坐标测量机", "Global S", "海克斯康"))

QUERY = """query($keyword: String, $category: String, $districtCode: String,
  $filters: [DirectoryFilterInput!], $sort: String!, $first: Int!) {
  directory(keyword: $keyword, category: $category, districtCode: $districtCode,
            filters: $filters, sort: $sort, first: $first) {
    total
    institutions { id name introduction districtCode contactPhone
      categories { code name } rating { average count }
      items { id title categoryCode pricingKind priceYuan }
      certificates { kind kindName certificateNumber validTo status } } } }"""


@dataclass(frozen=True)
class Search:
    name: str
    variables: dict[str, Any]
    where: str  # the hand-written query's condition on `i` (an institution)
    order: str  # its ORDER BY
    params: dict[str, Any]
    rating_join: bool = False


def _kw(term: str, category: str) -> str:
    return f"""(i.legal_name LIKE %(kw)s OR i.introduction LIKE %(kw)s
      OR i.id IN (SELECT s.institution_id FROM service_item s WHERE s.status = 'published'
                  AND (s.title LIKE %(kw)s OR s.description LIKE %(kw)s OR s.scope LIKE %(kw)s))
      OR i.id IN (SELECT c.institution_id FROM institution_category c
                  WHERE c.category_code = '{category}'))"""


_RELEVANCE = ("(i.legal_name LIKE %(kw)s)::int DESC, (i.introduction LIKE %(kw)s)::int DESC, "
              "i.legal_name, i.id")
SEARCHES = [
    Search("keyword 计量", {"keyword": "计量", "sort": "relevance"}, _kw("计量", "metrology"),
           _RELEVANCE, {"kw": "%计量%"}),
    Search("keyword 检测", {"keyword": "检测", "sort": "relevance"}, _kw("检测", "testing"),
           _RELEVANCE, {"kw": "%检测%"}),
    Search("category testing", {"category": "testing", "sort": "name"},
           "EXISTS (SELECT 1 FROM institution_category c WHERE c.institution_id = i.id "
           "AND c.category_code = 'testing')", "i.legal_name, i.id", {}),
    Search("district 顺德区", {"districtCode": "440606", "sort": "name"}, "i.district_code = '440606'",
           "i.legal_name, i.id", {}),
    Search("sort by rating", {"sort": "rating"}, "TRUE",
           "r.average IS NULL, r.average DESC, r.n DESC, i.legal_name, i.id", {}, rating_join=True),
    Search("standard GB 4706.1", {"filters": [{"name": "standard", "term": "GB 4706.1"}],
                                  "sort": "name"},
           "i.id IN (SELECT t.institution_id FROM testing_scope_entry t WHERE "
           "t.standard_number = 'GB 4706.1' OR t.standard_number LIKE 'GB 4706.1-%%' OR "
           "t.standard_number LIKE 'GB 4706.1:%%' OR t.standard_number LIKE 'GB 4706.1.%%' OR "
           "t.standard_number LIKE 'GB 4706.1/%%' OR t.standard_number LIKE 'GB 4706.1 %%')",
           "i.legal_name, i.id", {}),
]

HAND_WRITTEN = """
WITH page AS (
  SELECT i.id, i.legal_name, i.introduction, i.district_code, i.contact_phone,
         count(*) OVER () AS total, row_number() OVER (ORDER BY {order}) AS position
  FROM institution i {rating_join}
  WHERE i.status = 'live' AND i.homepage_hidden_at IS NULL AND {where}
  ORDER BY {order} LIMIT %(first)s)
SELECT p.id, p.legal_name, p.introduction, p.district_code, p.contact_phone, p.total,
  (SELECT json_agg(c.category_code ORDER BY c.id) FROM institution_category c
    WHERE c.institution_id = p.id) AS categories,
  (SELECT json_build_object('average', round(avg(v.stars), 2), 'count', count(*)) FROM review v
    WHERE v.institution_id = p.id) AS rating,
  (SELECT json_agg(json_build_object('id', s.id, 'title', s.title, 'categoryCode', s.category_code,
                                     'pricingKind', s.pricing_kind, 'priceYuan', s.price_yuan)
                   ORDER BY s.category_code, s.id)
    FROM service_item s WHERE s.institution_id = p.id AND s.status = 'published') AS items,
  (SELECT json_agg(json_build_object('kind', d.kind, 'certificateNumber', d.certificate_number,
                                     'validTo', d.valid_to) ORDER BY d.kind, d.uploaded_at DESC)
    FROM document d WHERE d.institution_id = p.id AND d.kind IN ({kinds})
      AND d.superseded_by_id IS NULL AND d.deleted_at IS NULL AND d.verification <> 'rejected'
      AND (d.valid_from IS NULL OR d.valid_from <= %(today)s)
      AND (d.long_term OR d.valid_to IS NULL OR d.valid_to >= %(today)s)
      AND NOT EXISTS (SELECT 1 FROM certificate_status_record r WHERE r.document_id = d.id)
  ) AS certificates
FROM page p ORDER BY p.position"""
RATING_JOIN = ("LEFT JOIN (SELECT institution_id, avg(stars) AS average, count(*) AS n FROM review "
               "GROUP BY institution_id) r ON r.institution_id = i.id")


# ---------------------------------------------------------------- the data


def copy_rows(cursor: Any, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """COPY `rows` into `table` (psycopg's COPY protocol: the fastest way in)."""
    n = 0
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            n += 1
    return n


def institution_name(rng: random.Random, district: str, trade: str, n: int) -> str:
    brand = BRANDS[n % len(BRANDS)] + BRANDS[(n // len(BRANDS)) % len(BRANDS)]
    return f"佛山市{district}{brand}{trade}{rng.choice(SUFFIXES)}"


def load(cursor: Any, *, institutions: int, items: int, uploader_id: int,
         enterprise_user_id: int) -> dict[str, int]:
    """Bulk-load the data set; the number of rows per table."""
    rng = random.Random(SEED)
    now = datetime.now(UTC)
    counts: dict[str, int] = {}
    plan: list[tuple[int, list[tuple[str, str, str, tuple[str, ...]]]]] = []
    institution_rows = []
    for n in range(1, institutions + 1):
        # Testing and metrology are the most common, as on the real platform.
        main = rng.choices(TRADES, weights=(22, 30, 12, 6, 5, 8, 9, 8))[0]
        extra = [t for t in rng.sample(TRADES, rng.choice((0, 0, 1, 1, 2))) if t is not main]
        plan.append((n, [main, *extra]))
        code, district = DISTRICTS[n % len(DISTRICTS)]
        hidden = now - timedelta(days=3) if n % 97 == 0 else None
        institution_rows.append((
            n, institution_name(rng, district, main[1], n), None, "live", now - timedelta(days=400),
            f"{district}{main[1]}机构，为佛山制造企业提供{main[1]}服务，服务企业{rng.randint(50, 900)}余家。",
            "440000", "440600", code, f"0757-8{rng.randint(1000000, 9999999)}",
            now - timedelta(days=300), hidden, "no_item" if hidden else None))
    counts["institution"] = copy_rows(cursor, "institution", (
        "id", "legal_name", "uscc", "status", "created_at", "introduction", "province_code",
        "city_code", "district_code", "contact_phone", "went_live_at", "homepage_hidden_at",
        "homepage_hidden_reason"), institution_rows)
    counts["institution_category"] = copy_rows(
        cursor, "institution_category", ("institution_id", "category_code"),
        ((n, trade[0]) for n, trades in plan for trade in trades))

    per = items // institutions
    item_rows = []
    item_id = 0
    for n, trades in plan:
        for k in range(per):
            category, word, _kind, titles = trades[k % len(trades)] if k < 2 * len(trades) else trades[0]
            title = titles[(n + k) % len(titles)]
            standard = STANDARDS[(n + k) % len(STANDARDS)]
            item_id += 1
            item_rows.append((
                item_id, n, category, title,
                f"{title}：依据{standard}等标准和规程开展{word}服务，出具具有法律效力的报告或证书，可上门服务。",
                "佛山市及珠三角地区制造企业", rng.choice(("fixed", "from", "quotation")),
                rng.choice((80, 150, 300, 350, 800, 1200)), rng.choice((3, 5, 7, 10, 15)), "{}",
                "published", now - timedelta(days=200), now - timedelta(days=20),
                now - timedelta(days=199)))
    counts["service_item"] = copy_rows(cursor, "service_item", (
        "id", "institution_id", "category_code", "title", "description", "scope", "pricing_kind",
        "price_yuan", "turnaround_days", "fields", "status", "created_at", "updated_at",
        "published_at"), item_rows)

    doc_rows = []
    for n, trades in plan:
        for kind in dict.fromkeys(t[2] for t in trades):
            expired = rng.random() < 0.05
            doc_rows.append((
                n, kind, f"{kind.upper()}-{2020 + n % 6}-{n:05d}", "广东省市场监督管理局",
                date(2023, 1, 1), date(2024, 12, 31) if expired else date(2029, 12, 31), False,
                f"bench/{n}/{kind}.pdf", f"{kind}.pdf", "application/pdf", 1024, "0" * 64,
                uploader_id, now - timedelta(days=300), "verified"))
    counts["document"] = copy_rows(cursor, "document", (
        "institution_id", "kind", "certificate_number", "issuer", "valid_from", "valid_to",
        "long_term", "object_key", "original_filename", "content_type", "size", "sha256",
        "uploaded_by_id", "uploaded_at", "verification"), doc_rows)

    scope_rows = [(n, STANDARDS[(n + k) % len(STANDARDS)], now)
                  for n, trades in plan if any(t[0] == "testing" for t in trades)
                  for k in range(0, len(STANDARDS), 3)]
    counts["testing_scope_entry"] = copy_rows(
        cursor, "testing_scope_entry", ("institution_id", "standard_number", "created_at"), scope_rows)
    instrument_rows = [(n, name, model, maker, "in_service", now, now)
                       for n, trades in plan if any(t[0] == "equipment_sharing" for t in trades)
                       for name, model, maker in INSTRUMENTS[n % 3: n % 3 + 3]]
    counts["equipment_sharing_instrument"] = copy_rows(
        cursor, "equipment_sharing_instrument",
        ("institution_id", "name", "model", "manufacturer", "status", "created_at", "updated_at"),
        instrument_rows)

    order_rows, review_rows = [], []
    for n, _trades in plan:
        if rng.random() < 0.6:
            for _ in range(rng.randint(1, 6)):
                order_id = len(order_rows) + 1
                order_rows.append((order_id, n, enterprise_user_id, enterprise_user_id, False, False,
                                   "none", "检测服务", "completed", now - timedelta(days=60),
                                   now - timedelta(days=30)))
                review_rows.append((order_id, n, enterprise_user_id,
                                    rng.choices((1, 2, 3, 4, 5), weights=(3, 4, 13, 35, 45))[0],
                                    "服务专业，出报告快", now - timedelta(days=29)))
    counts["service_order"] = copy_rows(cursor, "service_order", (
        "id", "institution_id", "enterprise_user_id", "placed_by_id", "on_behalf", "placed_by_staff",
        "source", "title", "status", "placed_at", "completed_at"), order_rows)
    counts["review"] = copy_rows(cursor, "review", (
        "order_id", "institution_id", "enterprise_user_id", "stars", "comment", "at"), review_rows)
    for table in ("institution", "service_item", "service_order"):
        cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                       f"(SELECT max(id) FROM {table}))")
    return counts


# ---------------------------------------------------------------- the measurements


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


class StatementCounter:
    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.count = 0

    def _listen(self, *_args: Any) -> None:
        self.count += 1

    def __enter__(self) -> StatementCounter:
        from sqlalchemy import event

        self.count = 0
        event.listen(self.engine, "before_cursor_execute", self._listen)
        return self

    def __exit__(self, *exc: object) -> None:
        from sqlalchemy import event

        event.remove(self.engine, "before_cursor_execute", self._listen)


def graphql_request(client: Any, search: Search, first: int,
                    cpu: list[float] | None = None) -> tuple[float, dict[str, Any]]:
    """One request; its wall time in ms (and this process's CPU time appended to `cpu`)."""
    started, cpu_started = time.perf_counter(), time.process_time()
    response = client.post("/graphql", json={"query": QUERY,
                                             "variables": {**search.variables, "first": first}})
    body = response.get_json()
    elapsed = (time.perf_counter() - started) * 1000
    if cpu is not None:
        cpu.append((time.process_time() - cpu_started) * 1000)
    if response.status_code != 200 or body.get("errors"):
        raise RuntimeError(f"{search.name}: {response.status_code} {body.get('errors')}")
    return elapsed, body["data"]["directory"]


def hand_written(engine: Any, search: Search, first: int, kinds: Sequence[str]) -> tuple[float, int]:
    sql = HAND_WRITTEN.format(order=search.order, where=search.where,
                              rating_join=RATING_JOIN if search.rating_join else "",
                              kinds=", ".join(f"'{k}'" for k in kinds))
    params = {**search.params, "first": first, "today": date.today()}
    started = time.perf_counter()
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        cursor.execute(sql, params)
        columns = [c.name for c in cursor.description]
        rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
        payload = json.dumps(rows, default=str, ensure_ascii=False)
        connection.commit()
    finally:
        connection.close()
    elapsed = (time.perf_counter() - started) * 1000
    if len(payload) < 100:
        raise RuntimeError(f"hand-written {search.name}: nothing returned")
    return elapsed, len(rows)


def check_page(search: Search, page: dict[str, Any], first: int) -> None:
    institutions = page["institutions"]
    if len(institutions) != min(first, page["total"]) or not institutions:
        raise RuntimeError(f"{search.name}: {len(institutions)} institutions of {page['total']}")
    if not all(i["items"] and i["categories"] for i in institutions):
        raise RuntimeError(f"{search.name}: an institution without items or categories")


def load_average() -> str:
    try:
        return Path("/proc/loadavg").read_text().split(" ", 3)[:3].__str__()
    except OSError:
        return "?"


def run(args: argparse.Namespace, cleanup: list[Callable[[], None]], tmp: Path) -> bool:
    import psycopg
    from sqlalchemy.engine import make_url

    from core import migrate
    from core.app import create_app
    from core.db import db
    from core.documents.kinds import KINDS
    from core.identity.models import Role
    from core.identity.service import create_user

    base = make_url(args.pg_server)
    admin_url = base.set(drivername="postgresql", database="postgres").render_as_string(False)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{args.database}"')

    def drop() -> None:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')

    if not args.keep_database:
        cleanup.append(drop)
    url = base.set(database=args.database).render_as_string(False)
    print(f"database {args.database}: migrating …", flush=True)
    migrate.upgrade(url)
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench-directory-" + "x" * 40,
                      "INSTANCE_PATH": str(tmp / "instance"), "STORAGE_URL": f"file://{tmp / 'files'}",
                      "QI_ENV": "development", "CELERY_BROKER_URL": "", "INLINE_SCHEDULER": False})
    with app.app_context():
        uploader = create_user(display_name="佛山市质量计量监督检测中心 李建国", password=PASSWORD,
                               roles=(Role.INSTITUTION_ADMIN,), email="bench-uploader@example.cn")
        buyer = create_user(display_name="佛山市顺德区美达电器有限公司 何志强", password=PASSWORD,
                            roles=(Role.ENTERPRISE,), email="bench-buyer@example.cn")
        engine = db.engine
        kinds = [code for code, kind in KINDS.items() if kind.public and kind.has_validity]
        started = time.perf_counter()
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            counts = load(cursor, institutions=args.institutions, items=args.items,
                          uploader_id=uploader.id, enterprise_user_id=buyer.id)
            raw.commit()
            cursor.execute("ANALYZE")  # as autovacuum would soon; committed, or its statistics are lost
            raw.commit()
        finally:
            raw.close()
        loaded = time.perf_counter() - started
        print(f"loaded in {loaded:.1f} s: " + ", ".join(f"{t} {n:,}" for t, n in counts.items()),
              flush=True)

    client = app.test_client()
    results: dict[str, dict[str, Any]] = {}
    all_graphql: list[float] = []
    all_hand: list[float] = []
    statements_equal = True
    print(f"load average before the runs: {load_average()}", flush=True)
    with app.app_context():
        engine = db.engine
    for search in SEARCHES:
        counted = {}
        for first in (10, 50):
            with StatementCounter(engine) as counter:
                _ms, page = graphql_request(client, search, first)
            check_page(search, page, first)
            counted[first] = counter.count
        statements_equal &= counted[10] == counted[50]
        for _ in range(3):  # warm-up: plans, caches
            graphql_request(client, search, 50)
            hand_written(engine, search, 50, kinds)
        graphql_ms, hand_ms, cpu_ms = [], [], []
        for _ in range(args.repeat):  # interleaved, so load on the machine hits both alike
            ms, page = graphql_request(client, search, 50, cpu_ms)
            graphql_ms.append(ms)
            ms, rows = hand_written(engine, search, 50, kinds)
            hand_ms.append(ms)
        if rows != len(page["institutions"]):
            raise RuntimeError(f"{search.name}: hand-written query gave {rows} rows, "
                               f"GraphQL {len(page['institutions'])}")
        all_graphql += graphql_ms
        all_hand += hand_ms
        results[search.name] = {
            "total": page["total"], "statements": counted,
            "graphql_median": statistics.median(graphql_ms), "graphql_p95": percentile(graphql_ms, 0.95),
            "cpu_median": statistics.median(cpu_ms),
            "hand_median": statistics.median(hand_ms), "hand_p95": percentile(hand_ms, 0.95)}
    print(f"load average after the runs: {load_average()}", flush=True)
    return report(results, all_graphql, all_hand, statements_equal, args)


def report(results: dict[str, dict[str, Any]], graphql_ms: list[float], hand_ms: list[float],
           statements_equal: bool, args: argparse.Namespace) -> bool:
    print(f"\n{args.institutions:,} institutions, {args.items:,} items; page of 50, "
          f"{args.repeat} timed requests per search\n")
    print("| search | matches | statements at 10 / 50 | GraphQL median / p95 ms | app CPU ms | "
          "hand-written median / p95 ms | ratio |")
    print("|---|---|---|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r['total']:,} | {r['statements'][10]} / {r['statements'][50]} | "
              f"{r['graphql_median']:.1f} / {r['graphql_p95']:.1f} | {r['cpu_median']:.1f} | "
              f"{r['hand_median']:.1f} / {r['hand_p95']:.1f} | "
              f"{r['graphql_median'] / r['hand_median']:.2f} |")
    median = statistics.median(graphql_ms)
    ratio = median / statistics.median(hand_ms)
    print(f"| **all** | | | **{median:.1f}** / {percentile(graphql_ms, 0.95):.1f} | | "
          f"{statistics.median(hand_ms):.1f} / {percentile(hand_ms, 0.95):.1f} | **{ratio:.2f}** |\n")
    checks = [(f"median {median:.1f} ms <= {MEDIAN_TARGET_MS:.0f} ms", median <= MEDIAN_TARGET_MS),
              (f"ratio {ratio:.2f} <= {RATIO_TARGET:.0f}", ratio <= RATIO_TARGET),
              ("statements at page size 10 == 50 for every search", statements_equal)]
    for text, ok in checks:
        print(f"{'MET ' if ok else 'MISSED'}  {text}")
    return all(ok for _text, ok in checks)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--pg-server", default=DEFAULT_SERVER,
                        help="the PostgreSQL server the scratch database is created on")
    parser.add_argument("--database", default=DATABASE, help=f"scratch database name ({DATABASE})")
    parser.add_argument("--institutions", type=int, default=10_000)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=30, help="timed requests per search (30)")
    parser.add_argument("--keep-database", action="store_true")
    args = parser.parse_args(argv)
    if not args.database.startswith("qi_bench_"):
        parser.error("--database must start with qi_bench_ (it is dropped and created)")
    return run_benchmark(lambda tmp, cleanup: run(args, cleanup, tmp), "qi-directory-bench-")


if __name__ == "__main__":
    sys.exit(main())
