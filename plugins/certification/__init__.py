"""认证认可 (Certification and accreditation): 管理体系与产品认证服务."""

from core.categories import Category, QuotaGroup
from core.hookspecs import hookimpl

CATEGORY = Category(
    code="certification",
    name_zh="认证认可",
    name_en="Certification and accreditation",
    quota_group=QuotaGroup.B,
    sort_order=30,
)


@hookimpl
def register_categories() -> list[Category]:
    return [CATEGORY]
