"""计量 (Metrology): 计量校准、检定与测试服务."""

from core.categories import Category, QuotaGroup, group_quota
from core.hookspecs import hookimpl
from core.onboarding.eligibility import DocumentRequirement
from core.service_fields import ItemField

CATEGORY = Category(
    code="metrology",
    name_zh="计量",
    name_en="Metrology",
    quota_group=QuotaGroup.A,
    sort_order=10,
)

ITEM_FIELDS = [
    ItemField("measured_quantities", "被测量", "Measured quantities", kind="list", required=True,
              help_zh="每行一个被测量或计量器具，如：长度、压力、温度、电子天平。",
              example="压力\n温度"),
    ItemField("ranges", "测量范围", "Measurement ranges",
              help_zh="各被测量的测量范围，如：压力 (0~60) MPa。", example="(0~60) MPa"),
    ItemField("uncertainty", "测量不确定度", "Measurement uncertainty", required=True,
              help_zh="扩展不确定度或准确度等级/最大允许误差，如：U=0.05%（k=2）。",
              example="U=0.05%（k=2）"),
    ItemField("on_site", "可现场校准", "On-site calibration", kind="boolean",
              help_zh="可派人员携带标准器到企业现场校准时勾选。"),
]


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


@hookimpl
def service_item_fields(category: str) -> list[ItemField]:
    """A calibration item names what it measures, over which range, how well, and where."""
    return list(ITEM_FIELDS) if category == CATEGORY.code else []
