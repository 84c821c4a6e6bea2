"""食品安全 (Food safety): a category plugin that exists only in the test suite.

It proves a category needs no change to core: everything below arrives through the hooks of
`core.hookspecs` once the plugin is registered (`register_plugin` fixture), and leaves with it.
"""

from __future__ import annotations

from datetime import date

import strawberry
from flask import Blueprint, render_template_string
from sqlalchemy import select

from core.categories import Category, QuotaGroup, group_quota
from core.db import db
from core.documents.models import Document
from core.documents.service import status_of
from core.hookspecs import hookimpl
from core.institutions.models import Institution
from core.onboarding.eligibility import CheckResult, DocumentRequirement
from core.onboarding.profile import institution_categories
from core.service_fields import FieldChoice, ItemField

CODE = "food_safety"
RULE = "FOOD-01"  # the plugin's own rule: the CMA scope covers food
CATEGORY = Category(code=CODE, name_zh="食品安全", name_en="Food safety",
                    quota_group=QuotaGroup.B, sort_order=45)

ITEM_FIELDS = [
    ItemField("food_categories", "食品类别", "Food categories", kind="list", required=True,
              help_zh="每行一个，按 GB 2760 食品分类，如：乳制品、焙烤食品。", example="乳制品"),
    ItemField("test_kind", "检验类型", "Kind of test", kind="choice",
              choices=(FieldChoice("entrusted", "委托检验", "Entrusted test"),
                       FieldChoice("sampling", "抽样检验", "Sampling test"))),
]

FOOD_CATEGORIES = (("01", "乳与乳制品"), ("07", "焙烤食品"), ("12", "调味品"))


@strawberry.type
class FoodSafetyFoodCategory:
    code: str
    name: str


@strawberry.type
class FoodSafetyQuery:
    @strawberry.field(description="The GB 2760 food categories a food-safety item may name.")
    def food_safety_food_categories(self) -> list[FoodSafetyFoodCategory]:
        return [FoodSafetyFoodCategory(code=c, name=n) for c, n in FOOD_CATEGORIES]


# One blueprint, named after the plugin; its page extends the platform's layout.
bp = Blueprint(CODE, __name__, url_prefix="/food-safety")


@bp.route("/")
def index() -> str:
    return render_template_string('{% extends "base.html" %}{% block content %}'
                                  '<h1 id="food-safety-page">食品安全检测服务</h1>{% endblock %}')


@hookimpl
def register_blueprints() -> list[Blueprint]:
    return [bp]


@hookimpl
def register_categories() -> list[Category]:
    return [CATEGORY]


@hookimpl
def annual_order_quota(category: str, service_year: int) -> int | None:
    return group_quota(CATEGORY.quota_group, service_year) if category == CODE else None


@hookimpl
def required_documents(category: str) -> list[DocumentRequirement]:
    return [DocumentRequirement(category=CODE, kinds=("cma",), rule="R-ELIG-09")] if category == CODE else []


@hookimpl
def service_item_fields(category: str) -> list[ItemField]:
    return list(ITEM_FIELDS) if category == CODE else []


@hookimpl
def graphql_query_types() -> list[type]:
    return [FoodSafetyQuery]


@hookimpl
def graphql_extra_types() -> list[type]:
    return [FoodSafetyFoodCategory]


@hookimpl
def eligibility_checks(institution: Institution, on: date) -> list[CheckResult]:
    """FOOD-01: a usable CMA certificate whose scope mentions food (食品)."""
    if CODE not in institution_categories(institution):
        return []
    certificates = db.session.scalars(select(Document).where(
        Document.institution_id == institution.id, Document.kind == "cma",
        Document.superseded_by_id.is_(None), Document.deleted_at.is_(None))).all()
    covering = [d.id for d in certificates
                if status_of(d, on).status.usable and "食品" in (d.scope or "")]
    return [CheckResult(RULE, bool(covering),
                        "CMA 资质认定范围覆盖食品检验。" if covering else "CMA 资质认定范围未覆盖食品检验。",
                        {"documents": covering, "looked_at": [d.id for d in certificates]}, CODE)]
