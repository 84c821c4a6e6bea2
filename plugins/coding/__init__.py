"""编码 (Coding): 商品条码、追溯编码与物品编码服务."""

from core.categories import Category, QuotaGroup
from core.plugin_kit import category_hooks
from core.service_fields import FieldChoice, ItemField

CATEGORY = Category(
    code="coding",
    name_zh="编码",
    name_en="Coding",
    quota_group=QuotaGroup.B,
    sort_order=90,
)

ITEM_FIELDS = [
    ItemField("service_type", "服务类型", "Service type", kind="choice", required=True,
              choices=(FieldChoice("barcode_registration", "商品条码注册与续展",
                                   "Barcode registration and renewal"),
                       FieldChoice("barcode_quality", "条码质量检测", "Barcode quality testing"),
                       FieldChoice("traceability", "产品追溯编码", "Traceability coding"),
                       FieldChoice("consulting", "编码应用咨询", "Coding consulting"))),
]

register_categories, annual_order_quota, service_item_fields, required_documents = (
    category_hooks(CATEGORY, item_fields=ITEM_FIELDS))
