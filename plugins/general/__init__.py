"""其他质量服务 (Other quality services): the remaining services of G §5.2 — enterprise
planning, product design, raw-material procurement, tech finance, professional training, expert
services, policy consulting and industry / supply-chain services — so that every service the
seeds name has a home."""

from core.categories import Category, QuotaGroup
from core.plugin_kit import category_hooks
from core.service_fields import FieldChoice, ItemField

CATEGORY = Category(
    code="general",
    name_zh="其他质量服务",
    name_en="Other quality services",
    quota_group=QuotaGroup.B,
    sort_order=990,  # last: the catch-all
)

SERVICE_TYPES = (
    FieldChoice("enterprise_planning", "企业规划", "Enterprise planning"),
    FieldChoice("product_design", "产品设计", "Product design"),
    FieldChoice("procurement", "原材料采购", "Raw-material procurement"),
    FieldChoice("tech_finance", "科技金融", "Technology finance"),
    FieldChoice("training", "专业培训", "Professional training"),
    FieldChoice("expert_services", "专家服务", "Expert services"),
    FieldChoice("policy_consulting", "政策咨询", "Policy consulting"),
    FieldChoice("supply_chain", "产业链供应链服务", "Industry and supply-chain services"),
)

ITEM_FIELDS = [
    ItemField("service_type", "服务类型", "Service type", kind="choice", required=True,
              choices=SERVICE_TYPES),
]

register_categories, annual_order_quota, service_item_fields, required_documents = (
    category_hooks(CATEGORY, item_fields=ITEM_FIELDS))
