"""Test builders for service items and the directory (used by tests/operations and benchmarks)."""

from __future__ import annotations

from datetime import date
from itertools import count
from typing import Any

from stdnum.cn import uscc as uscc_number

from core.catalogue.models import ItemStatus, PricingKind, ServiceItem
from core.db import db, utcnow
from core.documents.models import Document, Verification
from core.identity.models import Role
from core.institutions.models import Institution, InstitutionStaff, InstitutionStatus, StaffRole
from core.onboarding.models import InstitutionCategory

_serial = count(1)

METROLOGY_FIELDS = {"measured_quantities": ["压力", "温度"], "uncertainty": "U=0.05%（k=2）"}


def make_uscc(n: int) -> str:
    base = f"9144060{n:05d}MA4W0"[:17]
    return base + uscc_number.calc_check_digit(base)


def listed_institution(make_user: Any, name: str, *, categories: tuple[str, ...] = ("testing",),
                       status: InstitutionStatus = InstitutionStatus.LIVE,
                       introduction: str = "", city_code: str = "440600",
                       district_code: str = "440604") -> tuple[Institution, Any]:
    """An institution with an admin and chosen categories, written directly (no onboarding)."""
    n = next(_serial)
    admin = make_user(Role.INSTITUTION_ADMIN, name=f"{name}管理员")
    institution = Institution(legal_name=name, uscc=make_uscc(n), status=status,
                              introduction=introduction, province_code=city_code[:2] + "0000",
                              city_code=city_code, district_code=district_code,
                              contact_phone="0757-83031234", went_live_at=utcnow())
    institution.staff.append(InstitutionStaff(user_id=admin.id, role=StaffRole.ADMIN))
    db.session.add(institution)
    db.session.flush()
    for code in categories:
        db.session.add(InstitutionCategory(institution_id=institution.id, category_code=code))
    db.session.commit()
    return institution, admin


def add_item(institution: Institution, title: str, *, category: str | None = None,
             status: ItemStatus = ItemStatus.PUBLISHED, description: str = "",
             fields: dict[str, Any] | None = None) -> ServiceItem:
    """An item written to the specification, stored directly in `status`."""
    item = ServiceItem(
        institution_id=institution.id, category_code=category or "testing", title=title,
        description=description or f"{title}：依据国家标准开展，出具具有法律效力的报告。",
        scope="佛山市及周边制造企业", pricing_kind=PricingKind.FROM, price_yuan=350,
        turnaround_days=5, fields=fields or {}, status=status,
        published_at=utcnow() if status is ItemStatus.PUBLISHED else None)
    db.session.add(item)
    db.session.commit()
    return item


def add_certificate(institution: Institution, uploader: Any, kind: str = "cma", *,
                    valid_to: date = date(2030, 1, 1), number: str = "201919123456") -> Document:
    """A certificate row without a stored file (the directory reads only its metadata)."""
    n = next(_serial)
    document = Document(
        institution_id=institution.id, kind=kind, certificate_number=number, issuer="广东省市场监督管理局",
        valid_from=date(2023, 1, 1), valid_to=valid_to, object_key=f"test/{n}.pdf",
        original_filename=f"{kind}.pdf", content_type="application/pdf", size=1, sha256="0" * 64,
        uploaded_by_id=uploader.id, verification=Verification.VERIFIED)
    db.session.add(document)
    db.session.commit()
    return document


def add_review(institution: Institution, enterprise_user: Any, stars: int) -> Any:
    """A completed order of `enterprise_user` with its review, written directly (the directory
    reads only the stars)."""
    from core.orders.models import Order, OrderSource, OrderStatus
    from core.reviews.models import Review

    order = Order(institution_id=institution.id, enterprise_user_id=enterprise_user.id,
                  placed_by_id=enterprise_user.id, source=OrderSource.NONE, title="检测服务",
                  status=OrderStatus.COMPLETED, completed_at=utcnow())
    db.session.add(order)
    db.session.flush()
    review = Review(order_id=order.id, institution_id=institution.id,
                    enterprise_user_id=enterprise_user.id, stars=stars, comment="服务专业，出报告快")
    db.session.add(review)
    db.session.commit()
    return review


def hide_homepage(institution: Institution, reason: str = "no_item") -> None:
    """Set the R-OPS-05 flag as `core.visibility` does (without its checks)."""
    institution.homepage_hidden_at = utcnow()
    institution.homepage_hidden_reason = reason
    db.session.commit()
