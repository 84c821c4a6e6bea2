"""认证认可 (Certification and accreditation): 管理体系与产品认证服务."""

from core.categories import Category, QuotaGroup
from core.plugin_kit import category_hooks
from core.service_fields import FieldChoice, ItemField

CATEGORY = Category(
    code="certification",
    name_zh="认证认可",
    name_en="Certification and accreditation",
    quota_group=QuotaGroup.B,
    sort_order=30,
)

ITEM_FIELDS = [
    ItemField("certification_type", "认证类型", "Certification type", kind="choice", required=True,
              choices=(FieldChoice("compulsory", "强制性产品认证（CCC）",
                                   "Compulsory product certification (CCC)"),
                       FieldChoice("voluntary", "自愿性认证", "Voluntary certification")),
              help_zh="强制性产品认证须在 CNCA 批准的指定范围内开展。"),
    ItemField("scope", "认证范围", "Certification scope", kind="textarea", required=True,
              max_length=2000,
              help_zh="认证的产品、管理体系或服务及其依据标准，如：GB/T 19001-2016 质量管理体系。",
              example="GB/T 19001-2016 质量管理体系认证"),
]

register_categories, annual_order_quota, service_item_fields, required_documents = (
    category_hooks(CATEGORY, item_fields=ITEM_FIELDS, required_kinds=("cnca_approval",)))
