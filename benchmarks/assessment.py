"""Issue 6: the yearly assessment of 10,000 institutions (`qi assess --period YYYY`).

Targets: a full run over a year of data (about a million rows) takes at most 60 s and its process
peaks at most 500 MB RSS; the per-institution path (`compute_assessment`, one institution at a
time) is measured on the same data for the ratio, and must give the same sheets.

Everything happens on PostgreSQL, in a scratch database (`--database-url`, default
`$QI_BENCH_ASSESSMENT_URL` or postgresql://postgres@127.0.0.1:5432/qi_bench_assessment; its name
must start with `qi_bench_`) that is dropped and created, migrated with the project's migrations,
then bulk-loaded with COPY and ANALYZEd: 10,000 live institutions (and a few drafts) whose
service opening dates are spread from 2021 to the first day of the period, so that one cycle of
each — cycle 1 (adaptation half included), 2 or 3+ — ends in the period; each with categories,
an admin and agents, licence and category certificates (some superseded, some expired), published
service items (some off specification), a cycle of consultations with their first responses and
SLA measures (real working-day calendar: the 2024–2025 State Council holiday notices), orders
(completed, cancelled, in progress, some placed by the institution's own staff), reviews with
bad-review follow-ups, complaints (some verified), case reports and compliance records. A small
share of institutions is weak on purpose, so every Annex 2 item deducts somewhere.

Then, in a child process (so its peak RSS is the run's alone: `getrusage` maxrss):
  1. the full run: `service.assess_due(*service.period_bounds(YEAR))`, what `qi assess --period
     YEAR` calls, creating 10,000 drafts; 2. the same again, recomputing every draft in place.
In this process, `--sample` institutions (seeded random) are assessed one at a time through
`compute_assessment` (the per-institution path, a batch of one); its time is EXTRAPOLATED to
all institutions for the ratio. Each sampled sheet must equal the full run's: score, every
item's computed answer, and its evidence.

    .venv/bin/python benchmarks/assessment.py [--institutions 10000] [--sample 200] [--year 2025]
        [--batch-size 500] [--database-url postgresql://…/qi_bench_assessment] [--keep-database]

Exit status 0 when the targets are met and the sheets agree, 2 when not, 1 when something broke.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.testing_processes import run_benchmark  # noqa: E402

DEFAULT_URL = os.environ.get("QI_BENCH_ASSESSMENT_URL",
                             "postgresql://postgres@127.0.0.1:5432/qi_bench_assessment")
TIME_TARGET_S = 60.0
RSS_TARGET_MIB = 500.0
SEED = 20251231
PASSWORD = "Bench#2026-assess"  # throw-away accounts in a scratch database

# The State Council's notices for 2024 and 2025: holidays and the weekend days worked instead.
HOLIDAYS = {
    2024: ("01-01", "02-10:02-17", "04-04:04-06", "05-01:05-05", "06-10", "09-15:09-17",
           "10-01:10-07"),
    2025: ("01-01", "01-28:02-04", "04-04:04-06", "05-01:05-05", "05-31:06-02", "10-01:10-08"),
}
MAKE_UP_DAYS = {2024: ("02-04", "02-18", "04-07", "04-28", "05-11", "09-14", "09-29", "10-12"),
                2025: ("01-26", "02-08", "04-27", "09-28", "10-11")}

REGIONS = [("440600", "440604", "禅城区", 22), ("440600", "440605", "南海区", 28),
           ("440600", "440606", "顺德区", 26), ("440600", "440607", "三水区", 8),
           ("440600", "440608", "高明区", 6), ("440100", "440106", "天河区", 5),
           ("441900", None, "东莞市", 5)]
ROADS = ("季华五路", "汾江中路", "佛山大道北", "桂澜北路", "南海大道", "大良德和路", "容桂大道",
         "西南街道健民路", "荷城街道三洲路", "体育西路", "东城区鸿福路")
BRANDS = ("华信", "粤通", "立德", "中科", "正和", "恒准", "精测", "新锐", "百川", "广信", "诚安", "宏达",
          "众诚", "金桥", "安信", "博远", "德众", "天衡", "海德", "汇通", "联创", "佳禾", "泰和", "瑞德")
SURNAMES = "陈李黄梁何张罗冯吴林谭邓麦区关潘"
GIVEN = ("志强", "伟明", "嘉欣", "丽华", "国栋", "晓燕", "家豪", "慧敏", "建华", "永康", "婉婷", "锦荣")
# category → (weight as a main category, trade word, its certificate kind or None, item titles)
CATEGORIES: dict[str, tuple[int, str, str | None, tuple[str, ...]]] = {
    "testing": (30, "检验检测", "cma", ("家用电器安全检测", "电线电缆检测", "五金制品盐雾试验",
                                      "LED灯具光电性能检测", "陶瓷砖吸水率检测")),
    "metrology": (22, "计量检测", "cnas_calibration", ("压力表检定校准", "温度计校准", "电子天平检定",
                                                    "卡尺千分尺校准", "衡器现场检定")),
    "special_equipment": (8, "特种设备检验", None, ("电梯定期检验", "压力容器定期检验", "起重机械检验")),
    "certification": (12, "认证", "cnca_approval", ("质量管理体系认证", "环境管理体系认证",
                                                  "产品认证（CQC自愿性）")),
    "standards": (6, "标准化服务", None, ("企业标准编写与自我声明", "团体标准制定咨询", "标准查新")),
    "ip": (9, "知识产权", None, ("发明专利申请代理", "商标注册代理", "专利检索分析")),
    "quality_management": (8, "质量技术服务", None, ("卓越绩效管理咨询", "六西格玛培训", "首席质量官培训")),
    "equipment_sharing": (5, "仪器共享", "cnas_laboratory", ("万能材料试验机共享", "盐雾试验箱共享")),
}
SUBJECTS = ("请问出具报告需要几个工作日？", "能否上门取样？", "报价咨询", "需要准备哪些样品资料？",
            "CNAS报告能否加急？", "出口欧盟需要哪些检测项目？", "校准证书有效期多久？",
            "可以开具增值税专用发票吗？")
SUFFIXES = ("有限公司", "技术有限公司", "研究院", "科技有限公司")


# ---------------------------------------------------------------- the plan of one institution


@dataclass
class Lab:
    """One generated institution and the traits that decide how its sheet comes out."""

    id: int
    name: str
    opening: date
    no_opening_date: bool
    cycle: Any  # core.assessment.cycles.Cycle ending in the period
    categories: list[str]
    quota: int
    admin_id: int = 0
    agent_ids: list[int] = field(default_factory=list)
    item_ids: list[int] = field(default_factory=list)
    traits: set[str] = field(default_factory=set)


TRAITS = {  # share of ordinary institutions with the weakness; weak ones get each with 0.6
    "compliance": 0.015, "complaints": 0.03, "profile": 0.02, "expired": 0.03, "off_spec": 0.03,
    "unpublished": 0.005, "few_cases": 0.10, "no_agent": 0.03, "slow": 0.06, "few_orders": 0.08,
}
WEAK_SHARE = 0.05


def local(day: date, seconds: int) -> datetime:
    from core.workcalendar.service import SHANGHAI

    return datetime(day.year, day.month, day.day, tzinfo=SHANGHAI) + timedelta(seconds=seconds)


def moment(rng: random.Random, first: date, last: date) -> datetime:
    """A time between two days: mostly office hours, now and then the evening or early morning."""
    day = first + timedelta(days=rng.randint(0, (last - first).days))
    if rng.random() < 0.85:
        return local(day, rng.randint(8 * 3600 + 1800, 17 * 3600 + 1800))
    return local(day, rng.randint(7 * 3600, 22 * 3600))


def person(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + rng.choice(GIVEN)


def plan(rng: random.Random, count: int, year: int) -> list[Lab]:
    from core.assessment.cycles import Cycle
    from core.assessment.models import OpeningSource
    from core.plugins import plugins

    first_opening, last_opening = date(year - 4, 1, 2), date(year, 1, 1)
    names = list(CATEGORIES)
    weights = [CATEGORIES[c][0] for c in names]
    labs = []
    for n in range(1, count + 1):
        opening = first_opening + timedelta(days=rng.randint(0, (last_opening - first_opening).days))
        number = 1
        while Cycle(n, number, opening, OpeningSource.SERVICE_OPENING).end < date(year, 1, 1):
            number += 1
        cycle = Cycle(n, number, opening, OpeningSource.SERVICE_OPENING)
        main = rng.choices(names, weights)[0]
        extra = [c for c in rng.sample(names, rng.choice((0, 0, 0, 1, 1, 2))) if c != main]
        weak = rng.random() < WEAK_SHARE
        traits = {t for t, share in TRAITS.items() if rng.random() < (0.6 if weak else share)}
        _w, trade, _kind, _titles = CATEGORIES[main]
        brand = BRANDS[n % len(BRANDS)] + BRANDS[(n // len(BRANDS)) % len(BRANDS)]
        labs.append(Lab(n, f"佛山市{brand}{trade}{SUFFIXES[n % 4]}",
                        opening, rng.random() < 0.03, cycle, [main, *extra],
                        plugins.quota(main, cycle.service_year) or 0, traits=traits))
    return labs


# ---------------------------------------------------------------- bulk loading


def copy_rows(cursor: Any, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """COPY `rows` into `table` (psycopg 3's COPY protocol)."""
    n = 0
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            n += 1
    return n


def item_fields_for(category: str) -> dict[str, Any]:
    """Values for every field the category's plugin declares, written to the specification."""
    from core.service_fields import clean_item_values, item_fields

    values: dict[str, Any] = {}
    for spec in item_fields(category):
        if spec.kind == "list":
            values[spec.name] = (spec.example or "见服务说明").splitlines()
        elif spec.kind == "choice":
            values[spec.name] = spec.choices[0].value
        elif spec.kind == "number":
            values[spec.name] = 5
        elif spec.kind == "boolean":
            values[spec.name] = True
        else:
            values[spec.name] = spec.example or "见服务说明"
    cleaned, problems = clean_item_values(category, values)
    if problems:
        raise RuntimeError(f"generated fields of {category} are off specification: {problems}")
    return cleaned


class Ids:
    """Explicit ids, so that rows can point at each other inside one COPY stream."""

    def __init__(self) -> None:
        self.next: Counter[str] = Counter()

    def take(self, table: str) -> int:
        self.next[table] += 1
        return self.next[table]


def load(cursor: Any, labs: list[Lab], *, year: int, operator_id: int, password_hash: str,
         first_user_id: int, policy: Any) -> dict[str, int]:
    """Bulk-load the data set; the number of rows per table."""
    from core.catalogue.testing import make_uscc

    rng = random.Random(SEED + 1)
    ids = Ids()
    ids.next["user_account"] = first_user_id - 1
    now = datetime.now().astimezone()
    rows: dict[str, list[tuple[Any, ...]]] = {t: [] for t in (
        "user_account", "user_role", "institution", "institution_category", "institution_staff",
        "document", "service_item", "consultation", "service_order", "review", "review_follow_up",
        "complaint", "case_report", "compliance_record")}

    def user(name: str, role: str, since: datetime) -> int:
        uid = ids.take("user_account")
        rows["user_account"].append((uid, None, f"139{uid:08d}", name, password_hash, True, since, since))
        rows["user_role"].append((uid, role, since))
        return uid

    enterprises = [user(f"佛山市{rng.choice(BRANDS)}{rng.choice(('电器', '五金', '陶瓷', '家具', '照明'))}"
                        f"有限公司 {person(rng)}", "enterprise", now - timedelta(days=1500))
                   for _ in range(max(200, len(labs) // 3))]
    fields = {c: item_fields_for(c) for c in CATEGORIES}

    for lab in labs:
        c, t = lab.cycle, lab.traits
        since = local(lab.opening, 9 * 3600) - timedelta(days=rng.randint(20, 90))
        lab.admin_id = user(f"{lab.name} {person(rng)}", "institution_admin", since)
        lab.agent_ids = [user(f"{lab.name} 客服{person(rng)}", "institution_agent", since)
                         for _ in range(0 if "no_agent" in t else rng.choice((1, 1, 2, 2, 3)))]
        city, district, district_name, _w = rng.choices(REGIONS, [r[3] for r in REGIONS])[0]
        _w, trade, _kind, _titles = CATEGORIES[lab.categories[0]]
        intro = (f"{lab.name}位于{district_name}，是具备资质的第三方{trade}机构，为佛山及珠三角制造企业提供"
                 f"{trade}、技术咨询和培训服务，已服务企业{rng.randint(80, 1500)}余家，出具报告真实有效。")
        went_live = local(lab.opening, 10 * 3600) - timedelta(days=0 if lab.no_opening_date
                                                              else rng.randint(0, 30))
        rows["institution"].append((
            lab.id, lab.name, make_uscc(lab.id), "live", since,
            rng.choice(("enterprise",) * 3 + ("public_institution", "research_institute")),
            None if "profile" in t and rng.random() < 0.5 else person(rng),
            f"广东省{district_name}{rng.choice(ROADS)}{rng.randint(1, 300)}号", "440000", city, district,
            f"0757-8{rng.randint(1000000, 9999999)}" if rng.random() < 0.6
            else f"136{rng.randint(0, 99999999):08d}",
            "检测服务。" if "profile" in t else intro, lab.categories[0], went_live,
            None if lab.no_opening_date else lab.opening, went_live))
        rows["institution_category"] += [(lab.id, code) for code in lab.categories]
        staff = [(lab.id, lab.admin_id, "admin", since)]
        staff += [(lab.id, a, "agent", since + timedelta(days=1)) for a in lab.agent_ids]
        rows["institution_staff"] += staff
        answerers = lab.agent_ids or [lab.admin_id]

        # Documents: the licence (an older, superseded one now and then) and each category's.
        docs = []
        expire_main = "expired" in t
        licence_expires = expire_main and CATEGORIES[lab.categories[0]][2] is None
        docs.append(("business_licence", None, date(2015, 3, 1),
                     c.end - timedelta(days=60) if licence_expires else None, not licence_expires))
        for i, code in enumerate(lab.categories):
            kind = CATEGORIES[code][2]
            if kind:
                valid_to = c.end + timedelta(days=-60 if (expire_main and i == 0) else 900)
                docs.append((kind, code, c.start - timedelta(days=700), valid_to, False))
        for kind, category, valid_from, valid_to, long_term in docs:
            doc_id = ids.take("document")
            if rng.random() < 0.15:  # a superseded earlier version of the same certificate
                old = ids.take("document")
                rows["document"].append(_document(old, lab, kind, category, valid_from - timedelta(days=1095),
                                                  valid_from, False, operator_id, doc_id, since))
            rows["document"].append(_document(doc_id, lab, kind, category, valid_from, valid_to,
                                              long_term, operator_id, None, since))

        # Service items: five published (one off specification now and then), some withdrawn.
        lab.item_ids = []
        for k in range(5 + (rng.random() < 0.2)):
            code = lab.categories[k % len(lab.categories)]
            title = CATEGORIES[code][3][(lab.id + k) % len(CATEGORIES[code][3])]
            item_id = ids.take("service_item")
            status = "draft" if "unpublished" in t else ("withdrawn" if k == 5 else "published")
            values = {} if ("off_spec" in t and k == 0) else fields[code]
            rows["service_item"].append((
                item_id, lab.id, code, title,
                f"{title}：依据国家标准和检定规程开展{CATEGORIES[code][1]}服务，出具具有法律效力的报告或证书。",
                "佛山市及珠三角地区制造企业", rng.choice(("fixed", "from", "quotation")),
                rng.choice((150, 300, 350, 800, 1200)), rng.choice((3, 5, 7, 10)), json.dumps(values),
                status, lab.admin_id, since, since, since if status != "draft" else None,
                since + timedelta(days=30) if status == "withdrawn" else None))
            if status == "published":
                lab.item_ids.append(item_id)

        _consultations(rng, ids, lab, rows, enterprises, answerers, policy)
        _orders(rng, ids, lab, rows, enterprises, operator_id, now)
        _complaints(rng, ids, lab, rows, enterprises, operator_id)
        _case_reports(rng, ids, lab, rows)
        _compliance(rng, lab, rows, operator_id)

    # A few institutions that are not live: the run must leave them out.
    for n in range(len(labs) + 1, len(labs) + 1 + max(1, len(labs) // 100)):
        rows["institution"].append((n, f"佛山市待入驻检测机构{n}有限公司", make_uscc(n), "draft", now,
                                    None, None, None, None, None, None, None, None, None, None, None, None))

    columns = {
        "user_account": ("id", "email", "phone", "display_name", "password_hash", "is_active",
                         "created_at", "password_changed_at"),
        "user_role": ("user_id", "role", "granted_at"),
        "institution": ("id", "legal_name", "uscc", "status", "created_at", "institution_type",
                        "legal_representative", "registered_address", "province_code", "city_code",
                        "district_code", "contact_phone", "introduction", "main_category_code",
                        "went_live_at", "service_opening_date", "status_changed_at"),
        "institution_category": ("institution_id", "category_code"),
        "institution_staff": ("institution_id", "user_id", "role", "added_at"),
        "document": ("id", "institution_id", "kind", "category_code", "certificate_number", "issuer",
                     "valid_from", "valid_to", "long_term", "object_key", "original_filename",
                     "content_type", "size", "sha256", "uploaded_by_id", "uploaded_at", "verification",
                     "verified_by_id", "verified_at", "superseded_by_id", "superseded_at"),
        "service_item": ("id", "institution_id", "category_code", "title", "description", "scope",
                         "pricing_kind", "price_yuan", "turnaround_days", "fields", "status",
                         "created_by_id", "created_at", "updated_at", "published_at", "withdrawn_at"),
        "consultation": ("id", "institution_id", "enterprise_user_id", "filed_by_id", "on_behalf",
                         "service_item_id", "subject", "received_at", "status", "first_response_at",
                         "first_response_by_id", "sla_rule", "sla_seconds", "sla_limit_seconds",
                         "closed_at"),
        "service_order": ("id", "institution_id", "enterprise_user_id", "placed_by_id", "on_behalf",
                          "placed_by_staff", "source", "consultation_id", "service_item_id", "title",
                          "amount_yuan", "status", "placed_at", "accepted_at", "started_at",
                          "delivered_at", "completed_at", "cancelled_at", "cancel_reason"),
        "review": ("id", "order_id", "institution_id", "enterprise_user_id", "stars", "comment", "at"),
        "review_follow_up": ("review_id", "institution_id", "status", "opened_at", "response",
                             "responded_by_id", "responded_at", "verdict_comment", "verdict_by_id",
                             "closed_at"),
        "complaint": ("institution_id", "enterprise_user_id", "filed_by_id", "on_behalf", "order_id",
                      "subject", "body", "status", "filed_at", "serious", "verified_by_id",
                      "verified_at", "verification_notes", "withdrawn_at"),
        "case_report": ("institution_id", "consultation_id", "service_item_id", "consulted_at",
                        "client_name", "client_contact", "item", "content", "reply",
                        "business_followed", "amount_saved_yuan", "reported_by_id", "reported_at",
                        "withdrawn_at", "withdrawn_reason"),
        "compliance_record": ("institution_id", "kind", "occurred_on", "ended_on", "source",
                              "reference", "description", "recorded_by_id", "recorded_at"),
    }
    counts = {}
    for table, table_rows in rows.items():
        counts[table] = copy_rows(cursor, table, columns[table], table_rows)
        table_rows.clear()  # let the memory go table by table
    for table in columns:
        cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                       f"(SELECT max(id) FROM {table}))")
    return counts


def _document(doc_id: int, lab: Lab, kind: str, category: str | None, valid_from: date,
              valid_to: date | None, long_term: bool, operator_id: int, superseded_by: int | None,
              since: datetime) -> tuple[Any, ...]:
    at = since + timedelta(days=1 if superseded_by is None else 0)
    return (doc_id, lab.id, kind, category, f"{kind.upper()}-{lab.id:05d}-{doc_id}", "广东省市场监督管理局",
            valid_from, valid_to, long_term, f"bench/{lab.id}/{doc_id}.pdf", f"{kind}.pdf",
            "application/pdf", 204800, "0" * 64, lab.admin_id, at, "verified", operator_id, at,
            superseded_by, since + timedelta(days=1) if superseded_by else None)


def _consultations(rng: random.Random, ids: Ids, lab: Lab, rows: dict[str, list[Any]],
                   enterprises: list[int], answerers: list[int], policy: Any) -> None:
    """About 30 over the cycle, answered in minutes; a slow institution misses two months."""
    c = lab.cycle
    slow_months = set()
    if "slow" in lab.traits:
        months = c.months
        slow_months = set(rng.sample(months, min(2, len(months))))
    received = [moment(rng, c.start, c.end) for _ in range(rng.randint(22, 38))]
    for year, month in slow_months:
        first = date(year, month, 1)
        received += [moment(rng, first, first + timedelta(days=25)) for _ in range(3)]
    for at in sorted(received):
        cid = ids.take("consultation")
        slow = (at.year, at.month) in slow_months
        enterprise = rng.choice(enterprises)
        subject = rng.choice(SUBJECTS)
        if rng.random() < 0.001:  # still unanswered: measured up to now
            rows["consultation"].append((cid, lab.id, enterprise, enterprise, False, None, subject, at,
                                         "open", None, None, None, None, None, None))
            continue
        delay = (rng.randint(3 * 3600, 8 * 3600) if slow
                 else int(min(rng.expovariate(1 / 1500), 4 * 3600)) + 60)
        answered = at + timedelta(seconds=delay)
        m = policy.measure(at, answered)
        closed = rng.random() < 0.7
        rows["consultation"].append((
            cid, lab.id, enterprise, enterprise, False,
            rng.choice(lab.item_ids) if lab.item_ids and rng.random() < 0.5 else None, subject, at,
            "closed" if closed else "answered", answered, rng.choice(answerers), str(m.rule),
            m.seconds_counted, m.limit_seconds,
            answered + timedelta(days=rng.randint(1, 3)) if closed else None))


def _orders(rng: random.Random, ids: Ids, lab: Lab, rows: dict[str, list[Any]],
            enterprises: list[int], operator_id: int, now: datetime) -> None:
    """Effective orders around the quota (below it for a weak institution), with cancelled and
    unfinished ones, some placed by the institution's own staff; reviews and follow-ups."""
    c = lab.cycle
    first, last = c.span
    factor = rng.uniform(0.3, 0.95) if "few_orders" in lab.traits else rng.uniform(1.0, 1.8)
    effective = round(max(lab.quota, 1) * factor)
    plans = [("completed", first, last, False)] * effective
    if c.number == 1:  # the adaptation half has orders too; they do not count
        plans += [("completed", c.start, first - timedelta(days=1), False)] * (effective // 3)
    plans += [("cancelled", c.start, c.end, False)] * (effective // 8 + rng.randint(0, 2))
    plans += [(rng.choice(("placed", "accepted", "in_progress")), c.end - timedelta(days=20), c.end,
               False)] * rng.randint(0, 2)
    if rng.random() < 0.08:  # placed by the institution's own staff: not effective
        plans += [("completed", first, last, True)] * rng.randint(1, 3)
    staff = [lab.admin_id, *lab.agent_ids]
    for status, lo, hi, by_staff in plans:
        oid = ids.take("service_order")
        end = moment(rng, lo, hi)
        placed = end - timedelta(days=rng.randint(3, 25), seconds=rng.randint(0, 20000))
        enterprise = rng.choice(enterprises)
        own_client = by_staff and rng.random() < 0.3  # the "client" is the institution's staff
        item = rng.choice(lab.item_ids) if lab.item_ids and rng.random() < 0.7 else None
        stamps: list[datetime | None] = [placed + timedelta(hours=2), placed + timedelta(days=1),
                                         end - timedelta(days=1), end, None]
        if status == "cancelled":
            stamps = [placed + timedelta(hours=2), None, None, None, end]
        elif status != "completed":
            keep = {"placed": 0, "accepted": 1, "in_progress": 2}[status]
            stamps = [s if i < keep else None for i, s in enumerate(stamps)]
        rows["service_order"].append((
            oid, lab.id, rng.choice(staff) if own_client else enterprise,
            rng.choice(staff) if by_staff else enterprise, by_staff, by_staff,
            "service_item" if item else "none", None, item,
            "委托检测服务" if item is None else "服务项目委托", rng.choice((300, 800, 1500, 3600, 12000)),
            status, placed, *stamps, "客户取消委托" if status == "cancelled" else None))
        if status == "completed" and not by_staff and rng.random() < 0.3:
            _review(rng, ids, lab, rows, oid, enterprise, end, now)


def _review(rng: random.Random, ids: Ids, lab: Lab, rows: dict[str, list[Any]], order_id: int,
            enterprise: int, completed: datetime, now: datetime) -> None:
    rid = ids.take("review")
    at = completed + timedelta(days=rng.randint(0, 5), seconds=rng.randint(60, 30000))
    stars = rng.choice((1, 2)) if rng.random() < 0.03 else rng.choice((3, 4, 4, 5, 5, 5))
    rows["review"].append((rid, order_id, lab.id, enterprise, stars,
                           "报告出具及时，服务专业。" if stars > 2 else "报告延误，沟通不畅。", at))
    if stars > 2:
        return
    outcome = rng.choices(("unsatisfied", "satisfied", "responded", "open"), (15, 60, 15, 10))[0]
    responded = at + timedelta(days=1) if outcome != "open" else None
    closed = at + timedelta(days=rng.randint(3, 10)) if outcome in ("satisfied", "unsatisfied") else None
    rows["review_follow_up"].append((
        rid, lab.id, outcome, at, "已联系客户说明情况并安排复检。" if responded else None,
        lab.admin_id if responded else None, responded,
        ("仍不满意" if outcome == "unsatisfied" else "问题已解决") if closed else None,
        enterprise if closed else None, closed))


def _complaints(rng: random.Random, ids: Ids, lab: Lab, rows: dict[str, list[Any]],
                enterprises: list[int], operator_id: int) -> None:
    c = lab.cycle
    statuses = [rng.choices(("filed", "verified", "unfounded", "withdrawn"), (20, 30, 40, 10))[0]
                for _ in range(rng.choice((0, 0, 1, 1, 2, 3)))]
    if "complaints" in lab.traits:
        statuses += ["verified"] * rng.randint(4, 6)
    for status in statuses:
        filed = moment(rng, c.assessed_from, c.end)
        enterprise = rng.choice(enterprises)
        decided = filed + timedelta(days=rng.randint(2, 10))
        rows["complaint"].append((
            lab.id, enterprise, enterprise, False, None, "检测报告延误",
            "约定5个工作日出具报告，超期两周仍未出具。",
            status, filed, False, operator_id if status in ("verified", "unfounded") else None,
            decided if status in ("verified", "unfounded") else None,
            "经核实属实" if status == "verified" else None,
            decided if status == "withdrawn" else None))


def _case_reports(rng: random.Random, ids: Ids, lab: Lab, rows: dict[str, list[Any]]) -> None:
    c = lab.cycle
    count = rng.randint(2, 9) if "few_cases" in lab.traits else rng.randint(10, 18)
    for _ in range(count):
        reported = moment(rng, c.assessed_from, c.end)
        withdrawn = reported + timedelta(days=2) if rng.random() < 0.02 else None
        rows["case_report"].append((
            lab.id, None, rng.choice(lab.item_ids) if lab.item_ids else None,
            reported - timedelta(days=rng.randint(5, 40)), f"佛山市{rng.choice(BRANDS)}电器有限公司",
            f"{person(rng)} 136{rng.randint(0, 99999999):08d}", "产品出口检测咨询",
            "企业咨询出口欧盟产品需做的安全检测项目。", "说明了适用标准与送样要求，企业随后委托检测。",
            rng.random() < 0.7, rng.choice((None, 2000, 5000)), lab.admin_id, reported,
            withdrawn, "重复上报" if withdrawn else None))


def _compliance(rng: random.Random, lab: Lab, rows: dict[str, list[Any]], operator_id: int) -> None:
    end = lab.cycle.end
    records = []
    if "compliance" in lab.traits:  # an administrative penalty within 3 years: blocks
        records.append(("administrative_penalty", end - timedelta(days=rng.randint(30, 900)), None))
    if rng.random() < 0.03:  # an old penalty and an ended listing: neither blocks
        old = end - timedelta(days=rng.randint(1200, 1800))
        records.append(("administrative_penalty", old, old + timedelta(days=180)))
        records.append(("abnormal_operation_list", end - timedelta(days=700), end - timedelta(days=400)))
    for kind, occurred, ended in records:
        rows["compliance_record"].append((
            lab.id, kind, occurred, ended, "国家企业信用信息公示系统",
            f"佛市监罚〔{occurred.year}〕{lab.id}号",
            "未按规定出具检验检测报告", operator_id, local(occurred + timedelta(days=3), 36000)))


def import_holidays(years: Iterable[int]) -> int:
    from core.workcalendar.service import import_overrides

    entries = []
    for year in years:
        for span in HOLIDAYS.get(year, ()):
            lo, _sep, hi = span.partition(":")
            first = date.fromisoformat(f"{year}-{lo}")
            last = date.fromisoformat(f"{year}-{hi or lo}")
            entries += [(first + timedelta(days=d), False, "法定节假日")
                        for d in range((last - first).days + 1)]
        entries += [(date.fromisoformat(f"{year}-{d}"), True, "调休上班") for d in MAKE_UP_DAYS.get(year, ())]
    return import_overrides(entries, None)


# ---------------------------------------------------------------- the measurements


def app_config(url: str, tmp: Path) -> dict[str, Any]:
    return {"DATABASE_URL": url, "SECRET_KEY": "bench-assessment-" + "x" * 40,
            "INSTANCE_PATH": str(tmp / "instance"), "STORAGE_URL": f"file://{tmp / 'files'}",
            "QI_ENV": "development", "CELERY_BROKER_URL": "", "INLINE_SCHEDULER": False}


class StatementCounter:
    def __init__(self, engine: Any) -> None:
        from sqlalchemy import event

        self.count = 0
        event.listen(engine, "before_cursor_execute", self._listen)

    def _listen(self, *_args: Any) -> None:
        self.count += 1


def vm_status_kib(name: str) -> int:
    """VmRSS or VmHWM (the peak) of this process, in KiB. VmHWM belongs to the process's own
    memory map, so unlike `getrusage`'s maxrss it does not inherit the parent's peak across
    fork + exec (the parent holds the whole generated data set when it starts the child)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(f"{name}:"):
                return int(line.split()[1])
    return 0


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a process on this host (the PostgreSQL backend serving
    the run): with the machine shared, CPU time says more than the wall clock."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def child(url: str, year: int, batch_size: int) -> None:
    """The full run, in its own process: the `qi assess --period YEAR` command itself (its
    progress bar and summary table captured), timed, with the process's peak RSS (imports and
    app start-up included) and its CPU time."""
    from core.app import create_app
    from core.db import db

    with tempfile.TemporaryDirectory(prefix="qi-assess-child-") as tmp:
        app = create_app(app_config(url, Path(tmp)))
        with app.app_context():
            counter = StatementCounter(db.engine)
            backend = db.session.connection().connection.driver_connection.info.backend_pid
            db.session.commit()
            before, backend_cpu = vm_status_kib("VmRSS"), process_cpu(backend)
            started, cpu = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
            result = app.test_cli_runner().invoke(
                args=["assess", "--period", str(year), "--batch-size", str(batch_size)])
            seconds = time.perf_counter() - started
            used = resource.getrusage(resource.RUSAGE_SELF)
            same = db.session.connection().connection.driver_connection.info.backend_pid == backend
            backend_cpu = process_cpu(backend) - backend_cpu if same else None
            db.session.close()
    if result.exit_code != 0:
        raise RuntimeError(f"qi assess failed: {result.output[-2000:]}") from result.exception
    table = {label.strip(): value for label, _sep, value in (
        line.rpartition("  ") for line in result.output.splitlines()) if label.strip()}
    print(json.dumps({"seconds": seconds, "statements": counter.count, "rss_before_kib": before,
                      "peak_kib": vm_status_kib("VmHWM"),
                      "cpu_seconds": used.ru_utime + used.ru_stime - cpu.ru_utime - cpu.ru_stime,
                      "backend_cpu_seconds": backend_cpu,
                      "computed": int(table["computed (new drafts)"]),
                      "recomputed": int(table["recomputed drafts"]),
                      "passed": int(table["passed (≥ 60)"]), "failed": int(table["failed (< 60)"])}))


def full_run(url: str, year: int, batch_size: int) -> dict[str, Any]:
    process = subprocess.run(
        [sys.executable, __file__, "--child", "--database-url", url, "--year", str(year),
         "--batch-size", str(batch_size)], capture_output=True, text=True, check=False)
    if process.returncode != 0:
        raise RuntimeError(f"the full run failed:\n{process.stderr[-4000:]}")
    return json.loads(process.stdout.strip().splitlines()[-1])


def sheet_facts(institution_ids: Sequence[int]) -> dict[int, tuple[Any, ...]]:
    """What must agree between the two paths: score, pass, and each item's computed answer and
    evidence (item 8's months and missed months: an unanswered consultation is measured up to
    the moment of computing, so its seconds move)."""
    from sqlalchemy import select
    from sqlalchemy.orm import selectinload

    from core.assessment.models import AssessmentSheet
    from core.db import db

    facts = {}
    for sheet in db.session.scalars(select(AssessmentSheet).where(
            AssessmentSheet.institution_id.in_(list(institution_ids)))
            .options(selectinload(AssessmentSheet.items))):
        items = []
        for item in sheet.items:
            evidence = item.evidence
            if item.number == 8:
                evidence = {"months": evidence["months"],
                            "missed": [m["month"] for m in evidence["missed"]]}
            items.append((item.number, item.computed_deducted, json.dumps(evidence, sort_keys=True)))
        facts[sheet.institution_id] = (sheet.cycle_number, sheet.score, sheet.passed, tuple(items))
    return facts


def per_institution(sample: list[int], year: int,
                    operator_id: int) -> tuple[float, float, float | None, dict[int, Any]]:
    """The per-institution path, one institution at a time, each in a fresh session as a request
    would be: the institution read, its cycle chosen, `compute_assessment`."""
    from core.assessment import cycles, service
    from core.db import db
    from core.identity.models import User
    from core.institutions.models import Institution

    first, last = service.period_bounds(year)

    def backend_pid() -> int:
        pid = db.session.connection().connection.driver_connection.info.backend_pid
        db.session.close()
        return pid

    backend = backend_pid()  # the pool hands each session the same connection back
    backend_cpu = process_cpu(backend)
    started, cpu = time.perf_counter(), time.process_time()
    for institution_id in sample:
        operator = db.session.get(User, operator_id)
        institution = db.session.get(Institution, institution_id)
        cycle = cycles.cycle_ending_within(institution, first, last)
        service.compute_assessment(institution, actor=operator, cycle_number=cycle.number)
        db.session.close()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    backend_cpu = process_cpu(backend) - backend_cpu if backend_pid() == backend else None
    return seconds, cpu, backend_cpu, sheet_facts(sample)


def distribution() -> tuple[Counter[int], Counter[int], int]:
    from sqlalchemy import func, select

    from core.assessment.models import AssessmentItem, AssessmentSheet
    from core.db import db

    bands = Counter(min(score // 10 * 10, 90) for score in db.session.scalars(
        select(AssessmentSheet.score)))
    items = Counter({number: n for number, n in db.session.execute(
        select(AssessmentItem.number, func.count()).where(AssessmentItem.computed_deducted)
        .group_by(AssessmentItem.number))})
    passed = db.session.scalar(select(func.count()).where(AssessmentSheet.passed)) or 0
    return bands, items, passed


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def run(args: argparse.Namespace, cleanup: list[Callable[[], None]], tmp: Path) -> bool:
    import psycopg
    from sqlalchemy.engine import make_url

    from core import migrate
    from core.app import create_app
    from core.db import db
    from core.identity.models import Role
    from core.identity.service import create_user

    url = make_url(args.database_url)
    name = url.database or ""
    admin_url = url.set(drivername="postgresql", database="postgres").render_as_string(False)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    if not args.keep_database:
        cleanup.append(drop)
    database_url = url.render_as_string(False)
    print(f"database {name}: migrating …", flush=True)
    migrate.upgrade(database_url)
    app = create_app(app_config(database_url, tmp))
    with app.app_context():
        from core.workcalendar.service import ResponseSla, WorkCalendar

        operator = create_user(display_name="平台运营专员 林晓", password=PASSWORD, roles=(Role.OPERATOR,),
                               email="bench-operator@example.cn")
        operator_id, password_hash = operator.id, operator.password_hash
        import_holidays((args.year - 4, args.year - 3, args.year - 2, args.year - 1, args.year))
        policy = ResponseSla.from_config(calendar=WorkCalendar.load(date(args.year - 5, 1, 1),
                                                                    date(args.year, 12, 31)))
        started = time.perf_counter()
        labs = plan(random.Random(SEED), args.institutions, args.year)
        raw = db.engine.raw_connection()
        try:
            cursor = raw.cursor()
            counts = load(cursor, labs, year=args.year, operator_id=operator_id,
                          password_hash=password_hash, first_user_id=operator_id + 1, policy=policy)
            raw.commit()
            loaded = time.perf_counter() - started
            raw.driver_connection.autocommit = True  # VACUUM runs outside a transaction
            raw.driver_connection.execute("VACUUM ANALYZE")
        finally:
            raw.close()
        analysed = time.perf_counter() - started - loaded
        total = sum(counts.values())
        print(f"loaded {total:,} rows in {loaded:.1f} s (+ {analysed:.1f} s VACUUM ANALYZE): "
              + ", ".join(f"{t} {n:,}" for t, n in counts.items()), flush=True)
        cycles = Counter(min(lab.cycle.number, 3) for lab in labs)
        print("cycles ending in the period: " + ", ".join(
            f"{'cycle ' + str(n) if n < 3 else 'cycle 3+'} {cycles[n]:,}" for n in sorted(cycles)))
        db.session.close()
        db.engine.dispose()
    del labs

    print(f"load average before the full runs: {load_average()}", flush=True)
    first = full_run(database_url, args.year, args.batch_size)
    print(f"full run (new drafts): {first['seconds']:.1f} s, peak RSS "
          f"{first['peak_kib'] / 1024:.0f} MiB, {first['statements']:,} statements", flush=True)
    second = full_run(database_url, args.year, args.batch_size)
    print(f"full run (recomputing the drafts): {second['seconds']:.1f} s, peak RSS "
          f"{second['peak_kib'] / 1024:.0f} MiB", flush=True)
    print(f"load average after the full runs: {load_average()}", flush=True)

    with app.app_context():
        bands, items, passed = distribution()
        sample = sorted(random.Random(SEED + 2).sample(range(1, args.institutions + 1), args.sample))
        batch_facts = sheet_facts(sample)
        db.session.close()
        sample_seconds, sample_cpu, sample_backend, single_facts = per_institution(
            sample, args.year, operator_id)
        db.session.close()
        db.engine.dispose()
    mismatched = [i for i in sample if batch_facts.get(i) != single_facts.get(i)]
    return report(args, first, second, bands, items, passed,
                  (sample_seconds, sample_cpu, sample_backend), mismatched, loaded, total)


def report(args: argparse.Namespace, first: dict[str, Any], second: dict[str, Any],
           bands: Counter[int], items: Counter[int], passed: int,
           sample: tuple[float, float, float | None],
           mismatched: list[int], loaded: float, rows: int) -> bool:
    sheets = first["computed"]
    sample_seconds, sample_cpu, sample_backend = sample
    extrapolated = sample_seconds / args.sample * sheets
    scale = sheets / args.sample
    backend = f" + {sample_backend:.1f} s" if sample_backend is not None else ""
    backend_all = f" + {sample_backend * scale:.0f} s" if sample_backend is not None else ""

    def cpu(run: dict[str, Any]) -> str:
        backend = run.get("backend_cpu_seconds")
        return f"{run['cpu_seconds']:.1f} s" + (f" + {backend:.1f} s" if backend is not None else "")

    def mib(kib: float) -> str:
        return f"{kib / 1024:.0f} MiB"

    print(f"\n{args.institutions:,} live institutions, {rows:,} rows loaded in {loaded:.1f} s; "
          f"cycles ended in {args.year}; batches of {args.batch_size}\n")
    print("| | wall time | CPU: process + its PostgreSQL backend | peak RSS (before the run) "
          "| statements |")
    print("|---|---|---|---|---|")
    print(f"| full run, new drafts | **{first['seconds']:.1f} s** | {cpu(first)} | "
          f"**{mib(first['peak_kib'])}** ({mib(first['rss_before_kib'])}) | {first['statements']:,} |")
    print(f"| full run, recomputing | {second['seconds']:.1f} s | {cpu(second)} | "
          f"{mib(second['peak_kib'])} ({mib(second['rss_before_kib'])}) | {second['statements']:,} |")
    print(f"| per institution, {args.sample} measured | {sample_seconds:.1f} s "
          f"({sample_seconds / args.sample * 1000:.0f} ms each) | {sample_cpu:.1f} s{backend} | | |")
    print(f"| per institution, EXTRAPOLATED to {sheets:,} | {extrapolated:.0f} s | "
          f"{sample_cpu * scale:.0f} s{backend_all} | | |")
    ratios = [f"**{extrapolated / first['seconds']:.1f}×** (wall)",
              f"{sample_cpu * scale / first['cpu_seconds']:.1f}× (process CPU)"]
    if sample_backend is not None and first.get("backend_cpu_seconds") is not None:
        whole = first["cpu_seconds"] + first["backend_cpu_seconds"]
        ratios.append(f"{(sample_cpu + sample_backend) * scale / whole:.1f}× (process + backend CPU)")
    print(f"\nratio per-institution (extrapolated) / full run: {', '.join(ratios)}")
    print(f"sheets: {sheets:,} computed, {first['passed']:,} passed, {first['failed']:,} failed "
          f"(pass rate {passed / max(sheets, 1):.1%}); recomputed {second['recomputed']:,}")
    print("scores: " + ", ".join(f"{b}–{b + 9 if b < 90 else 100}: {bands[b]:,}" for b in sorted(bands)))
    print("deducted per item: " + ", ".join(f"{n}: {items[n]:,}" for n in range(1, 11)))
    print(f"sample of {args.sample}: {args.sample - len(mismatched)} identical sheets, "
          f"{len(mismatched)} different{' ' + str(mismatched[:10]) if mismatched else ''}\n")
    checks = [(f"full run {first['seconds']:.1f} s <= {TIME_TARGET_S:.0f} s",
               first["seconds"] <= TIME_TARGET_S),
              (f"peak RSS {mib(first['peak_kib'])} <= {RSS_TARGET_MIB:.0f} MiB",
               first["peak_kib"] / 1024 <= RSS_TARGET_MIB),
              ("recomputing within the same targets", second["seconds"] <= TIME_TARGET_S
               and second["peak_kib"] / 1024 <= RSS_TARGET_MIB),
              ("every sampled sheet identical on both paths", not mismatched),
              (f"every institution assessed ({sheets:,} of {args.institutions:,})",
               sheets == args.institutions)]
    for text, ok in checks:
        print(f"{'MET   ' if ok else 'MISSED'}  {text}")
    return all(ok for _text, ok in checks)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--database-url", default=DEFAULT_URL,
                        help="the scratch database (dropped and created; name starts with qi_bench_)")
    parser.add_argument("--institutions", type=int, default=10_000)
    parser.add_argument("--sample", type=int, default=200,
                        help="institutions assessed one at a time (extrapolated)")
    parser.add_argument("--year", type=int, default=2025, help="the period: cycles that ended in it")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--keep-database", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.database_url, args.year, args.batch_size)
        return 0
    from sqlalchemy.engine import make_url

    if not (make_url(args.database_url).database or "").startswith("qi_bench_"):
        parser.error("the database's name must start with qi_bench_ (it is dropped and created)")
    if not 1 <= args.sample <= args.institutions:
        parser.error("--sample must be between 1 and --institutions")
    return run_benchmark(lambda tmp, cleanup: run(args, cleanup, tmp), "qi-assessment-bench-")


if __name__ == "__main__":
    sys.exit(main())
