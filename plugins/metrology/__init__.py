"""计量 (Metrology): 计量校准、检定与测试服务."""

from core.categories import Category, QuotaGroup, group_quota
from core.hookspecs import hookimpl
from core.onboarding.eligibility import DocumentRequirement

CATEGORY = Category(
    code="metrology",
    name_zh="计量",
    name_en="Metrology",
    quota_group=QuotaGroup.A,
    sort_order=10,
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
    """R-ELIG-09: a valid metrology authorisation or CNAS calibration accreditation."""
    if category != CATEGORY.code:
        return []
    return [DocumentRequirement(category=CATEGORY.code,
                                kinds=("metrology_authorisation", "cnas_calibration"),
                                rule="R-ELIG-09")]
