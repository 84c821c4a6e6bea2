"""认证认可 (Certification and accreditation): 管理体系与产品认证服务."""

from core.categories import Category, QuotaGroup, group_quota
from core.hookspecs import hookimpl
from core.onboarding.eligibility import DocumentRequirement

CATEGORY = Category(
    code="certification",
    name_zh="认证认可",
    name_en="Certification and accreditation",
    quota_group=QuotaGroup.B,
    sort_order=30,
)


@hookimpl
def register_categories() -> list[Category]:
    return [CATEGORY]


@hookimpl
def annual_order_quota(category: str, service_year: int) -> int | None:
    """R-ASM-03: quota group B (5 a year)."""
    return group_quota(CATEGORY.quota_group, service_year) if category == CATEGORY.code else None


@hookimpl
def required_documents(category: str) -> list[DocumentRequirement]:
    """R-ELIG-09: a valid CNCA approval."""
    if category != CATEGORY.code:
        return []
    return [DocumentRequirement(category=CATEGORY.code, kinds=("cnca_approval",), rule="R-ELIG-09")]
