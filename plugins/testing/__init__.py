"""检验检测 (Inspection and testing): 产品检验检测服务."""

from core.categories import Category, QuotaGroup, group_quota
from core.hookspecs import hookimpl
from core.onboarding.eligibility import DocumentRequirement

CATEGORY = Category(
    code="testing",
    name_zh="检验检测",
    name_en="Inspection and testing",
    quota_group=QuotaGroup.A,
    sort_order=20,
)


@hookimpl
def register_categories() -> list[Category]:
    return [CATEGORY]


@hookimpl
def annual_order_quota(category: str, service_year: int) -> int | None:
    """R-ASM-03: quota group A (20 / 30 / 50)."""
    return group_quota(CATEGORY.quota_group, service_year) if category == CATEGORY.code else None


@hookimpl
def required_documents(category: str) -> list[DocumentRequirement]:
    """R-ELIG-09: a valid CMA certificate."""
    if category != CATEGORY.code:
        return []
    return [DocumentRequirement(category=CATEGORY.code, kinds=("cma",), rule="R-ELIG-09")]
