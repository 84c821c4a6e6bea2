"""食品安全 (Food safety): food testing laboratories, as a category installed with `pip install`.

Everything the platform knows about the category comes from the hooks below; nothing runs at
import time, and the package imports the platform's public modules only (`core.*`), never
another plugin.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select

from core.categories import Category, QuotaGroup, group_quota
from core.db import db
from core.documents.models import Document, Verification
from core.documents.service import status_of
from core.hookspecs import hookimpl
from core.institutions.models import Institution
from core.onboarding.eligibility import CheckResult, DocumentRequirement
from core.onboarding.profile import institution_categories
from core.service_fields import FieldChoice, ItemField
from qi_food_safety.api import FoodSafetyQuery, FoodSafetyTestItem
from qi_food_safety.i18n import gettext as _

CODE = "food_safety"
RULE = "FOOD-01"  # the plugin's own rule: the CMA scope covers food testing

CATEGORY = Category(code=CODE, name_zh="食品安全", name_en="Food safety",
                    quota_group=QuotaGroup.B, sort_order=45)

ITEM_FIELDS = [
    ItemField("food_categories", "食品类别", "Food categories", kind="list", required=True,
              help_zh="每行一个，按 GB 2760 食品分类，如：乳制品、焙烤食品。", example="乳制品"),
    ItemField("test_kind", "检验类型", "Kind of test", kind="choice", required=True,
              choices=(FieldChoice("entrusted", "委托检验", "Entrusted test"),
                       FieldChoice("sampling", "抽样检验", "Sampling test"),
                       FieldChoice("rapid", "快速检测", "Rapid test"))),
]


@hookimpl
def register_categories() -> list[Category]:
    return [CATEGORY]


@hookimpl
def annual_order_quota(category: str, service_year: int) -> int | None:
    """R-ASM-03: quota group B (5 a year)."""
    return group_quota(CATEGORY.quota_group, service_year) if category == CODE else None


@hookimpl
def required_documents(category: str) -> list[DocumentRequirement]:
    """R-ELIG-09: a food laboratory holds a valid CMA certificate."""
    if category != CODE:
        return []
    return [DocumentRequirement(category=CODE, kinds=("cma",), rule="R-ELIG-09")]


@hookimpl
def service_item_fields(category: str) -> list[ItemField]:
    return list(ITEM_FIELDS) if category == CODE else []


@hookimpl
def graphql_query_types() -> list[type[Any]]:
    return [FoodSafetyQuery]


@hookimpl
def graphql_extra_types() -> list[type[Any]]:
    return [FoodSafetyTestItem]


@hookimpl
def eligibility_checks(institution: Institution, on: date) -> list[CheckResult]:
    """FOOD-01: one current, usable CMA certificate whose scope names food (食品)."""
    if CODE not in institution_categories(institution):
        return []
    certificates = list(db.session.scalars(select(Document).where(
        Document.institution_id == institution.id, Document.kind == "cma",
        Document.superseded_by_id.is_(None), Document.deleted_at.is_(None))))
    covering = [d.id for d in certificates
                if status_of(d, on).status.usable and d.verification is not Verification.REJECTED
                and "食品" in (d.scope or "")]
    message = (_("The CMA scope covers food testing.") if covering else
               _("No valid CMA certificate covers food testing: its scope must name 食品."))
    return [CheckResult(RULE, bool(covering), message,
                        {"covering": covering, "looked_at": [d.id for d in certificates]}, CODE)]
