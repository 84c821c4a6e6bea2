"""Proposing institutions for a demand (R-G-02: demand-to-resource matching).

Candidates are the public institutions (live, not hidden under R-OPS-05) with a published
service item of the demand's category. Each candidate's best item is scored by

* region: same district 30, else same city 20, else same province 10;
* keyword overlap: the demand's words found in the item's title (6 each) or description and
  scope (2 each), at most 40 — Chinese has no spaces, so the demand's text is cut into
  two-character words and 计量 in “生产线计量器具校准” is found;
* rating: 1.5 points per average star of its reviews (`core.reviews.queries.ratings`).

The best `DEMAND_MATCH_LIMIT` institutions become `DemandMatch` rows, best first, with the reasons
in Chinese for people to read (stored, so the timeline shows why they were proposed then).
Reading the candidates, their ratings and the staff to notify takes three statements whatever
the number of institutions; the notifications are one outbox row per recipient and channel.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from flask import current_app
from sqlalchemy import delete, insert, select

from core.audit import record_audit
from core.catalogue.directory import keyword_terms
from core.catalogue.models import ItemStatus, ServiceItem
from core.db import db, utcnow
from core.demands.access import public_conditions
from core.demands.models import Demand, DemandEvent, DemandMatch
from core.identity.models import User
from core.institutions.models import Institution, InstitutionStaff
from core.reviews.queries import ratings

REGION_POINTS = (("district_code", 30.0, "同区县"), ("city_code", 20.0, "同地市"),
                 ("province_code", 10.0, "同省份"))
TITLE_HIT, TEXT_HIT, KEYWORD_CAP = 6.0, 2.0, 40.0
POINTS_PER_STAR = 1.5  # at most 7.5: ratings order institutions of one region only
TERMS_MAX = 200
REASON_TERMS = 5
# Two-character words too common in a request to say anything about the service wanted.
STOP_WORDS = frozenset({"我们", "我司", "贵司", "需要", "希望", "请问", "公司", "有限", "企业",
                        "一批", "进行", "提供", "服务", "相关", "要求", "以及", "如果", "可以"})
_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]+")
_LATIN_WORD = re.compile(r"[a-z0-9][a-z0-9.\-/]+")


def demand_terms(title: str, description: str) -> list[str]:
    """The words to look for in item texts: the title's terms as the directory's search box reads
    them (`keyword_terms`), then every two-character Chinese word and every Latin or numeric word
    (GB, 4706.1) of the title and description, without repeats."""
    terms: dict[str, None] = {t.lower(): None for t in keyword_terms(title)}
    text = f"{title}\n{description}".lower()
    for run in _CJK_RUN.findall(text):
        for i in range(len(run) - 1):
            word = run[i:i + 2]
            if word not in STOP_WORDS:
                terms[word] = None
    for word in _LATIN_WORD.findall(text):
        terms[word] = None
    return list(terms)[:TERMS_MAX]


def phrases(text: str, hits: list[str]) -> list[str]:
    """The demand's words that matched, for people: overlapping two-character hits joined back
    into the phrase they came from (压力 + 力表 → 压力表), then the other hits, without repeats."""
    text = text.lower()
    wanted = set(hits)
    found: dict[str, None] = {}
    run = ""
    for i in range(len(text)):
        pair = text[i:i + 2]
        if len(pair) == 2 and pair in wanted and _CJK_RUN.fullmatch(pair):
            run = run + pair[1] if run else pair  # the previous pair ended where this one starts
            continue
        if run:
            found[run] = None
            run = ""
    for hit in hits:
        if not _CJK_RUN.fullmatch(hit) and not any(hit in f for f in found):
            found[hit] = None
    return list(found)


@dataclass
class Candidate:
    institution_id: int
    institution_name: str
    region: dict[str, str | None]
    item_id: int | None = None
    item_title: str = ""
    keyword_points: float = 0.0
    hits: list[str] = field(default_factory=list)


def _keyword_score(terms: list[str], item: Any) -> tuple[float, list[str]]:
    title = (item.title or "").lower()
    rest = f"{item.description or ''}\n{item.scope or ''}".lower()
    points, hits = 0.0, []
    for term in terms:
        if term in title:
            points += TITLE_HIT
            hits.append(term)
        elif term in rest:
            points += TEXT_HIT
            hits.append(term)
    return min(points, KEYWORD_CAP), hits


def _candidates(demand: Demand, terms: list[str]) -> list[Candidate]:
    """Each public institution offering the category, with its best item (one statement)."""
    rows = db.session.execute(
        select(ServiceItem.id, ServiceItem.title, ServiceItem.description, ServiceItem.scope,
               Institution.id.label("institution_id"), Institution.legal_name,
               Institution.province_code, Institution.city_code, Institution.district_code)
        .join(Institution, Institution.id == ServiceItem.institution_id)
        .where(ServiceItem.category_code == demand.category_code,
               ServiceItem.status == ItemStatus.PUBLISHED, *public_conditions())
        .order_by(Institution.id, ServiceItem.id))
    best: dict[int, Candidate] = {}
    for row in rows:
        points, hits = _keyword_score(terms, row)
        current = best.get(row.institution_id)
        if current is None:
            current = best[row.institution_id] = Candidate(
                row.institution_id, row.legal_name,
                {"province_code": row.province_code, "city_code": row.city_code,
                 "district_code": row.district_code})
        if current.item_id is None or points > current.keyword_points:  # ties: the older item
            current.item_id, current.item_title = row.id, row.title
            current.keyword_points, current.hits = points, hits
    return list(best.values())


def _region(demand: Demand, candidate: Candidate) -> tuple[float, str | None]:
    for attr, points, label in REGION_POINTS:
        wanted = getattr(demand, attr)
        if wanted and candidate.region.get(attr) == wanted:
            return points, f"{label}（{wanted}）"
    return 0.0, None


def score(demand: Demand, candidates: list[Candidate]) -> list[tuple[float, Candidate, list[str]]]:
    """(score, candidate, reasons) best first; equal scores by institution id."""
    rated = ratings([c.institution_id for c in candidates])
    scored = []
    for c in candidates:
        reasons: list[str] = []
        region_points, region_reason = _region(demand, c)
        if region_reason:
            reasons.append(region_reason)
        if c.hits:
            words = phrases(f"{demand.title}\n{demand.description}", c.hits)
            reasons.append("关键词匹配：" + "、".join(words[:REASON_TERMS]))
        rating = rated[c.institution_id]
        rating_points = 0.0
        if rating.average is not None:
            rating_points = POINTS_PER_STAR * rating.average
            reasons.append(f"用户评分{rating.average:g}分（{rating.count}条评价）")
        if c.item_title:
            reasons.append(f"推荐服务项目：{c.item_title}")
        total = round(region_points + c.keyword_points + rating_points, 2)
        scored.append((total, c, reasons))
    scored.sort(key=lambda s: (-s[0], s[1].institution_id))
    return scored


def propose_matches(demand: Demand, *, actor: User | None = None) -> list[DemandMatch]:
    """Replace the demand's matches with the best institutions now, record the step on the
    timeline and in the audit log, and queue a message to each matched institution's admins and
    agents (in-app and SMS, once per demand and person). Not committed: the caller's
    transaction (posting the demand) commits it with the rest."""
    from core.notifications.service import notify
    from core.plugins import plugins

    limit = max(0, int(current_app.config.get("DEMAND_MATCH_LIMIT", 10)))
    terms = demand_terms(demand.title, demand.description)
    chosen = score(demand, _candidates(demand, terms))[:limit]
    db.session.execute(delete(DemandMatch).where(DemandMatch.demand_id == demand.id))
    at = utcnow()
    rows = [{"demand_id": demand.id, "institution_id": c.institution_id, "service_item_id": c.item_id,
             "rank": rank, "score": points, "reasons": reasons, "at": at}
            for rank, (points, c, reasons) in enumerate(chosen, start=1)]
    if rows:  # one executemany, not an INSERT per row
        db.session.execute(insert(DemandMatch), rows)
    db.session.expire(demand, ["matches"])
    ids = [r["institution_id"] for r in rows]
    demand.events.append(DemandEvent(action="matched", actor_id=None, at=at,
                                     detail={"institution_ids": ids, "count": len(ids)}))
    db.session.flush()
    record_audit("demand.match", object_type="demand", object_id=demand.id,
                 after={"institution_ids": ids, "scores": [r["score"] for r in rows]}, actor=actor)

    if ids:
        names = {c.institution_id: c.institution_name for _s, c, _r in chosen}
        category = plugins.categories().get(demand.category_code)
        staff = db.session.execute(
            select(User, InstitutionStaff.institution_id)
            .join(InstitutionStaff, InstitutionStaff.user_id == User.id)
            .where(InstitutionStaff.institution_id.in_(ids), User.is_active.is_(True))
            .order_by(InstitutionStaff.institution_id, InstitutionStaff.id))
        recipients: dict[int, list[User]] = defaultdict(list)
        for user, institution_id in staff:
            recipients[institution_id].append(user)
        for institution_id in ids:
            context = {"institution_name": names[institution_id], "title": demand.title,
                       "category": category.name_zh if category else demand.category_code,
                       "deadline": demand.deadline}
            for user in recipients[institution_id]:
                notify(user, "demand_matched", context, link=f"/demands/{demand.id}",
                       dedupe_key=f"demand.matched:{demand.id}:{institution_id}")
    return demand.matches
