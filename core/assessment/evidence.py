"""The evidence of an Annex 2 item in words (R-ASM-04): which records and which numbers made
the answer, for the sheet page, the PDF's remarks and the Excel evidence sheet.

`sheet.compute_items` stores the evidence as JSON; this is the one place that reads it back for
a person. `describe` gives sentences; `links` gives the records behind them for the web page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import url_for
from flask_babel import gettext as _

from core.plugins import plugins

LINKS_MAX = 20  # records linked per item on the page; the sentences always give the full count


def _compliance(e: dict[str, Any]) -> list[str]:
    from core.onboarding.forms import COMPLIANCE_KINDS

    if not e.get("records"):
        return [_("No compliance record in force on %(day)s.", day=e.get("on", ""))]
    lines = []
    for r in e["records"]:
        kind = next((str(label) for k, label in COMPLIANCE_KINDS.items() if k.value == r["kind"]),
                    r["kind"])
        line = _("%(kind)s on %(day)s (source: %(source)s; reference: %(reference)s)",
                 kind=kind, day=r["occurredOn"], source=r.get("source") or "-",
                 reference=r.get("reference") or "-")
        if r.get("endedOn"):
            line += " " + _("ended on %(day)s", day=r["endedOn"])
        lines.append(line)
    return lines


def _complaints(e: dict[str, Any]) -> list[str]:
    return [_("%(count)d verified complaint(s) in the assessed period; more than %(allowed)d "
              "deducts.", count=e["count"], allowed=e["allowed"])]


def _profile(e: dict[str, Any]) -> list[str]:
    if not e.get("missing"):
        return [_("The institution profile is complete.")]
    return [str(m) for m in e.get("messages") or e["missing"]]


def _qualifications(e: dict[str, Any]) -> list[str]:
    failed = [c for c in e.get("checks", []) if not c["passed"]]
    if not failed:
        return [_("All %(n)d qualification checks passed on %(day)s.",
                  n=len(e.get("checks", [])), day=e.get("on", ""))]
    return [f"{c['subject']}: {c['message']}" if c.get("subject") else str(c["message"])
            for c in failed]


def _items(e: dict[str, Any]) -> list[str]:
    if not e.get("published"):
        return [_("No service item is published.")]
    if not e.get("offSpecification"):
        return [_("All %(n)d published service items follow the specification.",
                  n=e["published"])]
    return [_("%(title)s: off the specification in %(fields)s", title=o["title"],
              fields=", ".join(o["fields"])) for o in e["offSpecification"]]


def _cases(e: dict[str, Any]) -> list[str]:
    return [_("%(count)d success case(s) reported in the assessed period; at least %(required)d "
              "are required.", count=e["count"], required=e["required"])]


def _agents(e: dict[str, Any]) -> list[str]:
    return [_("%(n)d customer-service agent(s); at least %(required)d is required.",
              n=e["agents"], required=e["required"])]


def _sla(e: dict[str, Any]) -> list[str]:
    months = e.get("months") or []
    if not months:
        return [_("No calendar month ended within the assessed period.")]
    if not e.get("missed"):
        return [_("The response rule was met in every month from %(first)s to %(last)s.",
                  first=months[0], last=months[-1])]
    lines = []
    for m in e["missed"]:
        if m.get("averageSeconds") is None:
            average = _("no working-hours average")
        else:
            average = _("average first response %(minutes)d minutes",
                        minutes=round(m["averageSeconds"] / 60))
        lines.append(_("%(month)s missed the response rule: %(n)d consultation(s), %(average)s, "
                       "%(late)d late on non-working days.", month=m["month"],
                       n=m["consultations"], average=average,
                       late=len(m.get("lateNonWorkingDayIds") or [])))
    return lines


def _orders(e: dict[str, Any]) -> list[str]:
    if e.get("quota") is None:
        return [_("%(count)d effective order(s); no category of the institution has a quota, "
                  "so it cannot be met.", count=e["count"])]
    category = plugins.categories().get(e.get("category") or "")
    return [_("%(count)d effective order(s) against a quota of %(quota)d (%(category)s, service "
              "year %(year)d).", count=e["count"], quota=e["quota"],
              category=category.name if category else e.get("category"), year=e["serviceYear"])]


def _follow_ups(e: dict[str, Any]) -> list[str]:
    return [_("%(count)d bad-review follow-up(s) left the client unsatisfied.", count=e["count"])]


DESCRIBE: dict[int, Callable[[dict[str, Any]], list[str]]] = {
    1: _compliance, 2: _complaints, 3: _profile, 4: _qualifications, 5: _items, 6: _cases,
    7: _agents, 8: _sla, 9: _orders, 10: _follow_ups}


def describe(number: int, evidence: dict[str, Any]) -> list[str]:
    """The evidence of item `number` as sentences (in the current locale)."""
    try:
        return DESCRIBE[number](evidence or {})
    except (KeyError, TypeError):  # evidence of an older shape: show it as stored
        return [str(evidence)]


def links(number: int, evidence: dict[str, Any], institution_id: int) -> list[tuple[str, str]]:
    """(label, URL) of the records behind item `number`; each page checks its own access."""
    e = evidence or {}
    found: list[tuple[str, str]] = []
    if number == 2:
        found = [(_("Complaint #%(id)d", id=i), url_for("complaints.detail", complaint_id=i))
                 for i in e.get("complaintIds", [])]
    elif number == 5:
        found = [(o["title"], url_for("catalogue.edit_item", institution_id=institution_id,
                                      item_id=o["id"])) for o in e.get("offSpecification", [])]
    elif number == 6:
        found = [(_("Case report #%(id)d", id=i), url_for("case_reports.detail", report_id=i))
                 for i in e.get("caseReportIds", [])]
    elif number == 8:
        found = [(_("Consultation #%(id)d", id=i),
                  url_for("consultations.thread", consultation_id=i))
                 for m in e.get("missed", []) for i in m.get("lateNonWorkingDayIds") or []]
    elif number == 10:
        found = [(_("Follow-up #%(id)d", id=i), url_for("reviews.follow_up", follow_up_id=i))
                 for i in e.get("followUpIds", [])]
    return found[:LINKS_MAX]
