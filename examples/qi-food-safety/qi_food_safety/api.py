"""The plugin's GraphQL: a type and a query field, both prefixed with the category."""

from __future__ import annotations

import strawberry

# Common food tests and the national standards they follow.
TEST_ITEMS = (
    ("乳制品", "蛋白质", "GB 5009.5-2016"),
    ("乳制品", "菌落总数", "GB 4789.2-2022"),
    ("焙烤食品", "过氧化值", "GB 5009.227-2023"),
    ("调味品", "苯甲酸及其钠盐", "GB 5009.28-2016"),
)


@strawberry.type(description="A food test and the standard it follows.")
class FoodSafetyTestItem:
    food_category: str
    item: str
    standard: str


@strawberry.type
class FoodSafetyQuery:
    @strawberry.field(description="Common food tests, of one food category if given.")
    def food_safety_test_items(self, food_category: str | None = None) -> list[FoodSafetyTestItem]:
        return [FoodSafetyTestItem(food_category=c, item=i, standard=s) for c, i, s in TEST_ITEMS
                if food_category is None or c == food_category]
