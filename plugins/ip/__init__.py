"""知识产权 (Intellectual property): 商标、专利代理与知识产权服务."""

from core.categories import Category, QuotaGroup, group_quota
from core.hookspecs import hookimpl

CATEGORY = Category(
    code="ip",
    name_zh="知识产权",
    name_en="Intellectual property",
    quota_group=QuotaGroup.B,
    sort_order=40,
)


@hookimpl
def register_categories() -> list[Category]:
    return [CATEGORY]


@hookimpl
def annual_order_quota(category: str, service_year: int) -> int | None:
    """R-ASM-03: quota group B (5 a year)."""
    return group_quota(CATEGORY.quota_group, service_year) if category == CATEGORY.code else None
