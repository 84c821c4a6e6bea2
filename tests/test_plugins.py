"""The plugin manager and the built-in categories (R-ASM-03 quota groups)."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pluggy
import pytest
import strawberry

from core import hookspecs
from core.categories import Category, QuotaGroup
from core.hookspecs import hookimpl
from core.plugins import PluginError, build_plugin_manager, collect_categories, plugins

DOCS = Path(__file__).resolve().parent.parent / "docs" / "plugins.md"
HOOKS = [name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
         if hasattr(fn, "qi_onestop_spec")]


def test_the_five_built_in_categories_come_from_entry_points(app):
    pm = plugins.pm
    names = {name for name, _plugin in pm.list_name_plugin()}
    assert {"metrology", "testing", "certification", "ip", "equipment_sharing"} <= names
    cats = plugins.categories()
    assert cats["metrology"].name_zh == "计量" and cats["metrology"].quota_group is QuotaGroup.A
    assert cats["testing"].quota_group is QuotaGroup.A
    assert cats["certification"].quota_group is QuotaGroup.B  # R-ASM-03
    assert cats["ip"].quota_group is QuotaGroup.B
    assert cats["equipment_sharing"].name_en == "Equipment and laboratory sharing"


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_documented_with_its_signature(hook):
    """Datasette's rule: docs/plugins.md names each hook with its exact signature."""
    fn = getattr(hookspecs, hook)
    signature = f"{hook}{inspect.signature(fn)}".replace("'", "")
    assert fn.__doc__ and fn.__doc__.strip(), f"{hook} has no docstring"
    headings = re.findall(r"^### `(.+)`$", DOCS.read_text(), re.M)
    assert signature in headings, f"docs/plugins.md lacks a heading `{signature}`"


def test_docs_document_no_hook_that_does_not_exist():
    headings = re.findall(r"^### `(\w+)\(", DOCS.read_text(), re.M)
    assert sorted(headings) == sorted(HOOKS)


def test_a_misspelt_hook_fails_loudly_at_start_up():
    class Typo:
        @hookimpl
        def register_categorys(self):
            return []

    with pytest.raises(pluggy.PluginValidationError):
        build_plugin_manager([Typo()])


def test_two_plugins_claiming_one_category_code_are_refused():
    class Twin:
        @hookimpl
        def register_categories(self):
            return [Category("metrology", "计量", "Metrology", QuotaGroup.A)]

    pm = build_plugin_manager([Twin()])
    with pytest.raises(PluginError, match="metrology"):
        collect_categories(pm)


# A category plugin that exists only in the test suite.
FOOD = Category(code="food_safety", name_zh="食品安全", name_en="Food safety",
                quota_group=QuotaGroup.B, sort_order=5)


@strawberry.type
class FoodSafetyLab:
    name: str


@strawberry.type
class FoodSafetyQuery:
    @strawberry.field
    def food_safety_labs(self) -> list[FoodSafetyLab]:
        return [FoodSafetyLab(name="佛山市食品检验检测中心")]


class FoodSafetyPlugin:
    @hookimpl
    def register_categories(self):
        return [FOOD]

    @hookimpl
    def graphql_query_types(self):
        return [FoodSafetyQuery]


def test_a_test_only_plugin_appears_in_graphql_and_on_the_home_page(register_plugin, gql, client):
    register_plugin(FoodSafetyPlugin())
    body = gql("{ categories { code name quotaGroup } foodSafetyLabs { name } }", csrf=False)
    assert body["data"]["categories"][0] == {"code": "food_safety", "name": "食品安全",
                                             "quotaGroup": "B"}
    assert body["data"]["foodSafetyLabs"] == [{"name": "佛山市食品检验检测中心"}]
    assert 'data-code="food_safety"' in client.get("/").get_data(as_text=True)


def test_the_fixture_removes_the_plugin_after_the_test(gql):
    body = gql("{ categories { code } }", csrf=False)
    assert "food_safety" not in [c["code"] for c in body["data"]["categories"]]


@strawberry.type
class Hijack:
    @strawberry.field
    def viewer(self) -> str:
        return "not you"


class HijackPlugin:
    @hookimpl
    def graphql_query_types(self):
        return [Hijack]


def test_a_plugin_field_colliding_with_core_stops_start_up(app_config):
    from api.schema import SchemaCollision
    from core.app import create_app

    with pytest.raises(SchemaCollision, match=r"Query\.viewer .*IdentityQuery.*Hijack"):
        create_app(app_config, extra_plugins=[HijackPlugin()])
