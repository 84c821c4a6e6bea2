"""计量 (Metrology): 计量校准、检定与测试服务."""

from core.categories import Category, QuotaGroup
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
def required_documents(category: str) -> list[DocumentRequirement]:
    """R-ELIG-09: a valid metrology authorisation or CNAS calibration accreditation."""
    if category != CATEGORY.code:
        return []
    return [DocumentRequirement(category=CATEGORY.code,
                                kinds=("metrology_authorisation", "cnas_calibration"),
                                rule="R-ELIG-09")]
