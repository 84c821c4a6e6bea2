"""设备共享/实验室共享 (Equipment and laboratory sharing): 仪器设备与实验室共享服务."""

from core.categories import Category, QuotaGroup, group_quota
from core.hookspecs import hookimpl
from core.onboarding.eligibility import DocumentRequirement

CATEGORY = Category(
    code="equipment_sharing",
    name_zh="设备共享/实验室共享",
    name_en="Equipment and laboratory sharing",
    quota_group=QuotaGroup.B,
    sort_order=50,
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
    """R-ELIG-08: a currently valid CNAS laboratory accreditation."""
    if category != CATEGORY.code:
        return []
    return [DocumentRequirement(category=CATEGORY.code, kinds=("cnas_laboratory",), rule="R-ELIG-08")]
