"""Service categories as plugins declare them."""

from __future__ import annotations

import strawberry

from core.categories import Category, QuotaGroup
from core.plugins import plugins

QuotaGroupEnum = strawberry.enum(QuotaGroup, name="QuotaGroup")


@strawberry.type(name="Category")
class CategoryType:
    code: str
    name: str = strawberry.field(description="The name in the request's language.")
    name_zh: str
    name_en: str
    quota_group: QuotaGroupEnum  # type: ignore[valid-type]

    @classmethod
    def from_category(cls, c: Category) -> CategoryType:
        return cls(code=c.code, name=c.name, name_zh=c.name_zh, name_en=c.name_en,
                   quota_group=c.quota_group)


@strawberry.type
class CategoryQuery:
    @strawberry.field(description="Every service category the installed plugins provide.")
    def categories(self) -> list[CategoryType]:
        return [CategoryType.from_category(c) for c in plugins.categories().values()]
