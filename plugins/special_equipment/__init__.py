"""特种设备 (Special equipment): 锅炉、压力容器、电梯、起重机械等的检验检测与安全服务."""

from core.categories import Category, QuotaGroup
from core.plugin_kit import category_hooks
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

register_categories, annual_order_quota, service_item_fields, required_documents = (
    category_hooks(CATEGORY, item_fields=ITEM_FIELDS))
