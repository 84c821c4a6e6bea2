"""Demo assessment: the live demo lab gets a past service opening date (it went live today, so
it would still be in its adaptation period) and the operator computes its first cycle's draft
sheet, so a newcomer sees a sheet with its evidence, ready for review and finalisation."""

from __future__ import annotations

from core.assessment import service
from core.assessment.cycles import add_months
from core.clock import local_today
from core.db import db
from core.identity.models import User
from core.institutions.models import Institution

LAB = "佛山市质量计量监督检测中心"
OPERATOR = "13800000002"


def demo(institutions: dict[str, Institution], users: dict[str, User]) -> list[str]:
    lab = institutions[LAB]
    lab.service_opening_date = add_months(local_today(), -13)  # cycle 1 ended a month ago
    db.session.commit()
    sheet = service.compute_assessment(lab, actor=users[OPERATOR])
    lost = [str(item.number) for item in sheet.items if item.deducted]
    return [f"{lab.legal_name}: assessment draft #{sheet.id} for cycle {sheet.cycle_number} "
            f"({sheet.period_start} … {sheet.period_end}), {sheet.score} points"
            f"{' (items ' + ', '.join(lost) + ' deducted)' if lost else ''}; "
            f"operator {OPERATOR} reviews it, regulator 13800000001 finalises it"]
