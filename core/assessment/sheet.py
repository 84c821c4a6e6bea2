"""The Annex 2 score sheet computed from a cycle's inputs (R-ASM-02, R-ASM-03, R-ASM-04).

`compute_items` is pure: each item answers "deduct?" and says why (`evidence`: which records,
which numbers). Item numbers and points are those of the seed's form (附件2). The score is 100
less the deductions, never below 0; 60 passes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l

from core.assessment.sources import Inputs
from core.plugins import PluginError, plugins

FULL_MARKS = 100
PASS_MARK = 60
COMPLAINTS_ALLOWED = 3  # item 2: "more than 3" verified complaints deduct
CASES_REQUIRED = 10  # item 6
AGENTS_REQUIRED = 1  # item 7
EVIDENCE_IDS_MAX = 100  # ids listed per item; the count is always complete

# Number → (points deducted, the form's question). The titles are the seed's rows.
ITEMS: dict[int, tuple[int, Any]] = {
    1: (10, _l("Violations in the last 3 years, on the abnormal-operation or serious-dishonesty "
               "list, or at least one administrative penalty")),
    2: (20, _l("More than 3 verified complaints within the year")),
    3: (10, _l("Institution profile not completed as required")),
    4: (10, _l("Qualification documents not uploaded")),
    5: (10, _l("Service items and contents not written to the specification")),
    6: (10, _l("Fewer than 10 success cases reported in the year")),
    7: (10, _l("Fewer than 1 customer-service agent")),
    8: (10, _l("Customer-service replies not timely and effective")),
    9: (10, _l("Effective consultations and orders below the annual quota")),
    10: (10, _l("A bad-review follow-up left the client unsatisfied")),
}


@dataclass(frozen=True)
class ItemResult:
    number: int
    deducted: bool
    evidence: dict[str, Any]

    @property
    def points(self) -> int:
        return ITEMS[self.number][0]


def score_of(deductions: list[int]) -> int:
    return max(0, FULL_MARKS - sum(deductions))


def passes(score: int) -> bool:
    return score >= PASS_MARK


def _ids(rows: list[Any]) -> list[int]:
    return [r.id for r in rows[:EVIDENCE_IDS_MAX]]


def quota_for(inputs: Inputs) -> tuple[str | None, int | None]:
    """The category whose quota applies and the quota (R-ASM-03): the main category's by
    default; `ASSESSMENT_QUOTA_RULE` = highest / lowest takes that of all its categories.
    None when the institution has no category the plugins know."""
    known = plugins.categories()
    categories = [c for c in inputs.categories if c in known]
    main = inputs.institution.main_category_code
    if main in known and main not in categories:
        categories.insert(0, main)
    if not categories:
        return None, None
    year = inputs.cycle.service_year
    rule = current_app.config.get("ASSESSMENT_QUOTA_RULE", "main")
    if rule == "main":
        chosen = main if main in known else categories[0]
        return chosen, plugins.quota(chosen, year)
    if rule not in ("highest", "lowest"):
        raise PluginError(f"ASSESSMENT_QUOTA_RULE must be main, highest or lowest, not {rule!r}")
    quotas = {c: plugins.quota(c, year) for c in categories}
    pick = max if rule == "highest" else min
    chosen = pick(categories, key=lambda c: (quotas[c], -categories.index(c)))
    return chosen, quotas[chosen]


def _compliance(i: Inputs) -> ItemResult:
    records = [{"id": r.id, "kind": r.kind.value, "occurredOn": r.occurred_on.isoformat(),
                "endedOn": r.ended_on.isoformat() if r.ended_on else None, "source": r.source,
                "reference": r.reference} for r in i.compliance]
    return ItemResult(1, bool(records), {"on": i.cycle.end.isoformat(), "records": records})


def _complaints(i: Inputs) -> ItemResult:
    return ItemResult(2, len(i.complaints) > COMPLAINTS_ALLOWED,
                      {"count": len(i.complaints), "allowed": COMPLAINTS_ALLOWED,
                       "complaintIds": _ids(i.complaints)})


def _profile(i: Inputs) -> ItemResult:
    return ItemResult(3, bool(i.profile), {"missing": [p.field for p in i.profile],
                                           "messages": [str(p.message) for p in i.profile]})


def _qualifications(i: Inputs) -> ItemResult:
    checks = [{"rule": r.code, "subject": r.subject, "passed": r.passed, "message": str(r.message),
               "documents": r.evidence.get("documents", [])} for r in i.qualifications]
    return ItemResult(4, any(not c["passed"] for c in checks),
                      {"on": i.cycle.end.isoformat(), "checks": checks})


def _items(i: Inputs) -> ItemResult:
    off = [{"id": item.id, "title": item.title, "fields": [p.field for p in problems]}
           for item, problems in i.published_items if problems]
    return ItemResult(5, not i.published_items or bool(off),
                      {"published": len(i.published_items), "offSpecification": off})


def _cases(i: Inputs) -> ItemResult:
    return ItemResult(6, len(i.cases) < CASES_REQUIRED,
                      {"count": len(i.cases), "required": CASES_REQUIRED,
                       "caseReportIds": _ids(i.cases)})


def _agents(i: Inputs) -> ItemResult:
    return ItemResult(7, i.agents < AGENTS_REQUIRED,
                      {"agents": i.agents, "required": AGENTS_REQUIRED})


def _sla(i: Inputs) -> ItemResult:
    """Met only if R-OPS-03 was met in every month of the assessed span (a month without a
    consultation is met); the evidence lists the months missed and why."""
    missed = []
    for month in i.sla:
        if month.met:
            continue
        missed.append({
            "month": f"{month.year:04d}-{month.month:02d}",
            "averageSeconds": round(month.average_seconds) if month.average_seconds else None,
            "averageWithin": month.average_within,
            "consultations": len(month.working_window) + len(month.non_working_daytime),
            "lateNonWorkingDayIds": [e.consultation_id
                                     for e in month.non_working_missed[:EVIDENCE_IDS_MAX]]})
    months = [f"{m.year:04d}-{m.month:02d}" for m in i.sla]
    return ItemResult(8, bool(missed), {"months": months, "missed": missed})


def _orders(i: Inputs) -> ItemResult:
    category, quota = quota_for(i)
    evidence = {"count": i.orders, "quota": quota, "category": category,
                "serviceYear": i.cycle.service_year}
    return ItemResult(9, quota is None or i.orders < quota, evidence)


def _follow_ups(i: Inputs) -> ItemResult:
    return ItemResult(10, bool(i.follow_ups), {"count": len(i.follow_ups),
                                               "followUpIds": _ids(i.follow_ups)})


RULES: tuple[Callable[[Inputs], ItemResult], ...] = (
    _compliance, _complaints, _profile, _qualifications, _items, _cases, _agents, _sla, _orders,
    _follow_ups)


def compute_items(inputs: Inputs) -> list[ItemResult]:
    """The ten items of one cycle, in the form's order."""
    return [rule(inputs) for rule in RULES]
