"""Builders for the assessment tests: a Foshan lab that loses no point in a cycle, and the rows
that cost each Annex 2 item (written directly through the models, as the services would)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from itertools import count
from typing import Any

from core.assessment.cycles import Cycle
from core.assessment.models import OpeningSource
from core.case_reports.models import CaseReport
from core.catalogue.testing import add_certificate, add_item, listed_institution
from core.clock import CHINA
from core.complaints.models import Complaint, ComplaintStatus
from core.consultations.models import Consultation
from core.db import db
from core.identity.models import Role
from core.institutions.models import Institution, InstitutionStaff, InstitutionType, StaffRole
from core.onboarding.models import ComplianceKind, ComplianceRecord
from core.orders.models import Order, OrderSource, OrderStatus
from core.reviews.models import FollowUp, FollowUpStatus, Review

_n = count(1)
INTRO = ("佛山市顺德区质量检测有限公司成立于2008年，具备CMA资质，提供家电、五金、塑料制品的"
         "安全性能与材料检测服务，服务顺德及周边制造企业。")
ITEM_FIELDS = {
    "testing": {"standards": ["GB 4706.1-2005"], "sample_types": ["家用电器"]},
    "certification": {"certification_type": "voluntary", "scope": "GB/T 19001-2016 质量管理体系认证"},
}


def add_required_documents(lab_institution: Institution, admin: Any, category: str) -> None:
    """A valid certificate of each kind `category` requires (R-ELIG-02/09)."""
    from core.plugins import plugins

    for batch in plugins.pm.hook.required_documents(category=category):
        for requirement in batch:
            add_certificate(lab_institution, admin, requirement.kinds[0])


def at(day: date, hour: int = 10) -> datetime:
    """A Beijing-time moment of `day` (stored in UTC by the models)."""
    return datetime.combine(day, time(hour), tzinfo=CHINA)


@dataclass
class Lab:
    institution: Institution
    admin: Any
    agent: Any
    client: Any  # an enterprise user

    def cycle(self, number: int) -> Cycle:
        opening = self.institution.service_opening_date
        assert opening is not None
        return Cycle(self.institution.id, number, opening, OpeningSource.SERVICE_OPENING)


def clean_lab(make_user: Any, opening: date, *, category: str = "testing",
              name: str | None = None) -> Lab:
    """A live lab with a complete profile, its licence and CMA, one item to specification and
    one agent: it loses nothing for items 1, 3, 4, 5, 7, 8, 10 in any cycle."""
    institution, admin = listed_institution(
        make_user, name or f"佛山市顺德区第{next(_n)}检测有限公司", categories=(category,),
        introduction=INTRO)
    institution.institution_type = InstitutionType.ENTERPRISE
    institution.legal_representative = "陈志强"
    institution.registered_address = "佛山市顺德区大良街道凤翔路38号"
    institution.main_category_code = category
    institution.service_opening_date = opening
    agent = make_user(Role.INSTITUTION_AGENT, name="客服黄小敏")
    institution.staff.append(InstitutionStaff(user_id=agent.id, role=StaffRole.AGENT))
    db.session.commit()
    add_certificate(institution, admin, "business_licence", number="91440606MA4W0LAB01")
    add_required_documents(institution, admin, category)
    add_item(institution, "家用电器安全性能检测", category=category,
             fields=ITEM_FIELDS.get(category, {}))
    client = make_user(Role.ENTERPRISE, name="佛山美的配件厂采购")
    return Lab(institution, admin, agent, client)


def add_cases(lab: Lab, n: int, day: date) -> None:
    for k in range(n):
        db.session.add(CaseReport(
            institution_id=lab.institution.id, consulted_at=at(day, 9), client_name="佛山某五金厂",
            client_contact="13612345678", item="电器安全检测", content=f"咨询第{k + 1}件样品的检测项目",
            reply="已答复检测依据与周期", reported_by_id=lab.admin.id, reported_at=at(day)))
    db.session.commit()


def add_orders(lab: Lab, n: int, day: date, *, status: OrderStatus = OrderStatus.COMPLETED,
               placed_by_staff: bool = False) -> None:
    for _k in range(n):
        db.session.add(Order(
            institution_id=lab.institution.id, enterprise_user_id=lab.client.id,
            placed_by_id=lab.client.id, source=OrderSource.NONE, title="电源适配器安全检测",
            status=status, placed_by_staff=placed_by_staff,
            completed_at=at(day) if status is OrderStatus.COMPLETED else None))
    db.session.commit()


def add_complaints(lab: Lab, n: int, day: date,
                   status: ComplaintStatus = ComplaintStatus.VERIFIED) -> None:
    for _k in range(n):
        db.session.add(Complaint(
            institution_id=lab.institution.id, enterprise_user_id=lab.client.id,
            filed_by_id=lab.client.id, subject="报告延期", body="承诺5个工作日出报告，实际拖延两周。",
            status=status, filed_at=at(day)))
    db.session.commit()


def add_unsatisfied_follow_up(lab: Lab, day: date) -> FollowUp:
    order = Order(institution_id=lab.institution.id, enterprise_user_id=lab.client.id,
                  placed_by_id=lab.client.id, source=OrderSource.NONE, title="材料检测",
                  status=OrderStatus.COMPLETED, completed_at=at(day - timedelta(days=20)))
    db.session.add(order)
    db.session.flush()
    review = Review(order_id=order.id, institution_id=lab.institution.id,
                    enterprise_user_id=lab.client.id, stars=1, comment="报告错漏", at=at(day))
    db.session.add(review)
    db.session.flush()
    follow_up = FollowUp(review_id=review.id, institution_id=lab.institution.id,
                         status=FollowUpStatus.UNSATISFIED, opened_at=at(day),
                         response="已重新出具报告", closed_at=at(day + timedelta(days=3)))
    db.session.add(follow_up)
    db.session.commit()
    return follow_up


def add_unanswered_consultation(lab: Lab, day: date) -> Consultation:
    """Received on a working morning and never answered: that month misses R-OPS-03."""
    consultation = Consultation(institution_id=lab.institution.id, enterprise_user_id=lab.client.id,
                                filed_by_id=lab.client.id, subject="检测周期咨询",
                                received_at=at(day))
    db.session.add(consultation)
    db.session.commit()
    return consultation


def add_compliance(lab: Lab, day: date,
                   kind: ComplianceKind = ComplianceKind.ADMINISTRATIVE_PENALTY) -> ComplianceRecord:
    record = ComplianceRecord(institution_id=lab.institution.id, kind=kind, occurred_on=day,
                              source="国家企业信用信息公示系统", reference="佛市监罚〔2025〕12号",
                              recorded_by_id=lab.admin.id)
    db.session.add(record)
    db.session.commit()
    return record


def fulfil(lab: Lab, cycle: Cycle, *, orders: int) -> None:
    """The cycle's activity that keeps items 6 and 9: 10 case reports and `orders` orders."""
    day = cycle.assessed_from + timedelta(days=40)
    add_cases(lab, 10, day)
    add_orders(lab, orders, day)
