"""What the ten items read, for a batch of cycles at once (R-ASM-02, R-ASM-04).

Every source is the platform's one definition in its `_many` form (the single-institution
function delegates to it), so assessing one institution and assessing ten thousand run the same
code: `load` issues a fixed number of statements per batch whatever its size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from core.assessment.cycles import Cycle
from core.case_reports.models import CaseReport
from core.case_reports.queries import reported_cases_many
from core.catalogue.models import ItemStatus, ServiceItem
from core.complaints.models import Complaint
from core.complaints.queries import verified_complaints_many
from core.consultations.sla import MonthlySla, monthly_sla_many
from core.db import db
from core.errors import Problem
from core.institutions.models import Institution
from core.onboarding import agents, compliance, eligibility, profile
from core.onboarding.models import ComplianceRecord, InstitutionCategory
from core.orders.service import effective_order_counts
from core.reviews.models import FollowUp
from core.reviews.queries import unsatisfied_follow_ups_many


@dataclass
class Inputs:
    """Everything one cycle's sheet is computed from."""

    cycle: Cycle
    institution: Institution
    categories: list[str]
    compliance: list[ComplianceRecord]
    complaints: list[Complaint]
    profile: list[Problem]
    qualifications: list[eligibility.CheckResult]
    published_items: list[tuple[ServiceItem, list[Problem]]]
    cases: list[CaseReport]
    agents: int
    sla: list[MonthlySla]
    orders: int
    follow_ups: list[FollowUp]


def _published_items(institution_ids: list[int]) -> dict[int, list[ServiceItem]]:
    found: dict[int, list[ServiceItem]] = {i: [] for i in institution_ids}
    if institution_ids:
        for item in db.session.scalars(select(ServiceItem).where(
                ServiceItem.institution_id.in_(institution_ids),
                ServiceItem.status == ItemStatus.PUBLISHED).order_by(ServiceItem.id)):
            found[item.institution_id].append(item)
    return found


def _categories(institution_ids: list[int]) -> dict[int, list[str]]:
    """`profile.institution_categories` of many institutions: the chosen codes in order."""
    found: dict[int, list[str]] = {i: [] for i in institution_ids}
    if institution_ids:
        for institution_id, code in db.session.execute(
                select(InstitutionCategory.institution_id, InstitutionCategory.category_code)
                .where(InstitutionCategory.institution_id.in_(institution_ids))
                .order_by(InstitutionCategory.id)):
            found[institution_id].append(code)
    return found


def _uscc_taken(institutions: Sequence[Institution]) -> dict[int, bool]:
    """Whether another active institution has each one's credit code (profile item 3)."""
    usccs = {i.uscc for i in institutions if i.uscc}
    holders: dict[str, set[int]] = {}
    if usccs:
        for holder_id, code in db.session.execute(select(Institution.id, Institution.uscc).where(
                Institution.uscc.in_(usccs), Institution.status.in_(profile.ACTIVE_STATUSES))):
            holders.setdefault(code, set()).add(holder_id)
    return {i.id: bool(holders.get(i.uscc or "", set()) - {i.id}) for i in institutions}


def load(cycles: Sequence[Cycle], institutions: dict[int, Institution]) -> list[Inputs]:
    """The inputs of each cycle (one cycle per institution), in ~13 statements for the batch."""
    from core.catalogue.service import specification_problems

    ids = [c.institution_id for c in cycles]
    spans: dict[int, Any] = {c.institution_id: c.span for c in cycles}
    categories = _categories(ids)
    taken = _uscc_taken([institutions[i] for i in ids])
    documents = eligibility.current_documents_many(ids)
    records = compliance.blocking_records_many({c.institution_id: c.end for c in cycles})
    complaints = verified_complaints_many(spans)
    items = _published_items(ids)
    cases = reported_cases_many(spans)
    agent_counts = agents.agent_counts(ids)
    sla = monthly_sla_many({c.institution_id: c.months for c in cycles})
    orders = effective_order_counts(spans)
    follow_ups = unsatisfied_follow_ups_many(spans)
    found = []
    for c in cycles:
        i = c.institution_id
        institution = institutions[i]
        found.append(Inputs(
            cycle=c, institution=institution, categories=categories[i],
            compliance=records[i], complaints=complaints[i],
            profile=profile.profile_problems(institution, categories=categories[i],
                                             uscc_taken=taken[i]),
            qualifications=eligibility.qualification_checks(
                institution, c.end, documents=documents[i], categories=categories[i]),
            published_items=[(item, specification_problems(item)) for item in items[i]],
            cases=cases[i], agents=agent_counts[i], sla=sla[i], orders=orders[i],
            follow_ups=follow_ups[i]))
    return found
