"""特种设备 (Special equipment): 锅炉、压力容器、电梯、起重机械等的检验检测与安全服务."""

from core.categories import Category, QuotaGroup, group_quota
from core.hookspecs import hookimpl
from core.service_fields import FieldChoice, ItemField

CATEGORY = Category(
    code="special_equipment",
    name_zh="特种设备",
    name_en="Special equipment",
    quota_group=QuotaGroup.A,
    sort_order=80,
)

ITEM_FIELDS = [
    ItemField("equipment_types", "设备种类", "Equipment types", kind="list", required=True,
              help_zh="每行一个，如：锅炉、压力容器、压力管道、电梯、起重机械、场（厂）内专用机动车辆。",
              example="电梯\n起重机械"),
    ItemField("service_type", "服务类型", "Service type", kind="choice", required=True,
              choices=(FieldChoice("periodic_inspection", "定期检验", "Periodic inspection"),
                       FieldChoice("supervisory_inspection", "监督检验", "Supervisory inspection"),
                       FieldChoice("safety_assessment", "安全评估", "Safety assessment"),
                       FieldChoice("operator_training", "作业人员培训", "Operator training"))),
]


@hookimpl
def register_categories() -> list[Category]:
    return [CATEGORY]


@hookimpl
def annual_order_quota(category: str, service_year: int) -> int | None:
    """R-ASM-03: quota group A (20 / 30 / 50)."""
    return group_quota(CATEGORY.quota_group, service_year) if category == CATEGORY.code else None


@hookimpl
def service_item_fields(category: str) -> list[ItemField]:
    """A special-equipment item names the equipment and the kind of service."""
    return list(ITEM_FIELDS) if category == CATEGORY.code else []
