"""品牌培育 (Brand cultivation): 品牌策划、品牌评价与品牌建设辅导."""

from core.categories import Category, QuotaGroup
from core.plugin_kit import category_hooks
from core.service_fields import FieldChoice, ItemField

CATEGORY = Category(
    code="brand",
    name_zh="品牌培育",
    name_en="Brand cultivation",
    quota_group=QuotaGroup.B,
    sort_order=100,
)

ITEM_FIELDS = [
    ItemField("service_type", "服务类型", "Service type", kind="choice", required=True,
              choices=(FieldChoice("brand_planning", "品牌策划与定位", "Brand planning"),
                       FieldChoice("brand_evaluation", "品牌价值评价", "Brand valuation"),
                       FieldChoice("brand_system", "品牌培育管理体系建设",
                                   "Brand cultivation management system"),
                       FieldChoice("brand_application", "区域品牌与名优产品申报辅导",
                                   "Regional and quality brand applications"))),
]

register_categories, annual_order_quota, service_item_fields, required_documents = (
    category_hooks(CATEGORY, item_fields=ITEM_FIELDS))
