"""计量 (Metrology): 计量校准、检定与测试服务."""

from core.categories import Category, QuotaGroup
from core.hookspecs import hookimpl

CATEGORY = Category(
    code="metrology",
    name_zh="计量",
    name_en="Metrology",
    quota_group=QuotaGroup.A,
    sort_order=10,
)


@hookimpl
def register_categories() -> list[Category]:
    return [CATEGORY]
