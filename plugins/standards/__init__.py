"""标准 (Standards): 标准制修订、标准化咨询与标准信息服务."""

from core.categories import Category, QuotaGroup
from core.plugin_kit import category_hooks
from core.service_fields import FieldChoice, ItemField

CATEGORY = Category(
    code="standards",
    name_zh="标准",
    name_en="Standards",
    quota_group=QuotaGroup.B,
    sort_order=60,
)

ITEM_FIELDS = [
    ItemField("service_type", "服务类型", "Service type", kind="choice", required=True,
              choices=(FieldChoice("drafting", "标准制修订", "Drafting and revising standards"),
                       FieldChoice("consulting", "标准化咨询与体系建设",
                                   "Standardisation consulting"),
                       FieldChoice("information", "标准信息查询与查新",
                                   "Standards information and novelty search"),
                       FieldChoice("self_declaration", "企业标准自我声明公开辅导",
                                   "Enterprise standard self-declaration"))),
    ItemField("standard_level", "标准层级", "Level of standard", kind="choice",
              choices=(FieldChoice("national", "国家标准", "National standard"),
                       FieldChoice("industry", "行业标准", "Industry standard"),
                       FieldChoice("local", "地方标准", "Local standard"),
                       FieldChoice("group", "团体标准", "Group standard"),
                       FieldChoice("enterprise", "企业标准", "Enterprise standard"))),
    ItemField("fields_covered", "专业领域", "Fields covered", kind="list",
              help_zh="每行一个，如：家用电器、五金制品。", example="家用电器"),
]

register_categories, annual_order_quota, service_item_fields, required_documents = (
    category_hooks(CATEGORY, item_fields=ITEM_FIELDS))
