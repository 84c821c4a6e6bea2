"""计量 (Metrology): 计量校准、检定与测试服务."""

from core.categories import Category, QuotaGroup
from core.plugin_kit import category_hooks
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

register_categories, annual_order_quota, service_item_fields, required_documents = (
    category_hooks(CATEGORY, item_fields=ITEM_FIELDS,
                   required_kinds=("metrology_authorisation", "cnas_calibration")))
