"""A category plugin that lives only in the test suite (`proof_plugin`, 食品安全) adds its
category, a required document, a check, a service-item field, a GraphQL type and its quota, and
each shows up where the platform's own categories do — with no change to core. And the reverse:
a built-in plugin switched off leaves the rest of the platform working."""

from __future__ import annotations

import re
import tomllib
from datetime import date
from pathlib import Path

import proof_plugin
import pytest

from api.view import current_schema
from core.app import create_app
from core.onboarding.eligibility import evaluate
from core.plugins import PluginError, plugins
from core.service_fields import clean_item_values, item_fields
from core.testing import compile_catalogues

ON = date(2026, 11, 21)


@pytest.fixture
def food_safety(register_plugin):
    return register_plugin(proof_plugin)


def test_before_registration_the_category_does_not_exist(app, client):
    assert "food_safety" not in plugins.categories()
    assert client.get("/categories/food_safety").status_code == 404
    with pytest.raises(PluginError):
        plugins.quota("food_safety", 1)


@pytest.mark.usefixtures("food_safety")
def test_its_category_is_listed_in_graphql_on_the_home_page_and_has_a_page(gql, client):
    body = gql('{ categories { code name quotaGroup } }', csrf=False)
    assert {"code": "food_safety", "name": "食品安全", "quotaGroup": "B"} in body["data"]["categories"]
    assert 'href="/categories/food_safety"' in client.get("/").get_data(as_text=True)
    page = client.get("/categories/food_safety").get_data(as_text=True)
    assert '<h1 id="category-name" data-code="food_safety">食品安全</h1>' in page
    assert 'data-kinds="cma"' in page


@pytest.mark.usefixtures("food_safety")
def test_its_required_document_and_check_join_the_eligibility_report(build):
    org = build.institution("food_safety", name="佛山市食品检验检测中心有限公司")
    report = evaluate(org.institution, ON)
    failed = {(r.code, r.subject): r for r in report.failures}
    assert set(failed) == {("R-ELIG-02", "food_safety"), ("FOOD-01", "food_safety")}
    assert "CMA" in failed[("R-ELIG-02", "food_safety")].message  # the document is named

    build.upload(org, kind="cma", categoryCode="food_safety", certificateNumber="202419123456",
                 issuer="广东省市场监督管理局", validFrom=date(2024, 1, 1), validTo=date(2030, 1, 1),
                 scope="食品及食品添加剂：乳制品、焙烤食品、调味品的理化与微生物检验")
    report = evaluate(org.institution, ON)
    assert report.eligible, [r.message for r in report.failures]
    check = next(r for r in report.results if r.code == "FOOD-01")
    assert check.evidence["documents"] and check.subject == "food_safety"


@pytest.mark.usefixtures("food_safety")
def test_its_item_field_is_in_the_forms_validation_and_the_specification(client):
    assert [f.name for f in item_fields("food_safety")] == ["food_categories", "test_kind"]
    _values, problems = clean_item_values("food_safety", {})
    assert [p.field for p in problems] == ["fields.food_categories"]
    values, problems = clean_item_values("food_safety", {"food_categories": "乳制品\n焙烤食品",
                                                         "test_kind": "sampling"})
    assert problems == [] and values["food_categories"] == ["乳制品", "焙烤食品"]
    page = client.get("/categories/food_safety").get_data(as_text=True)
    assert 'data-field="food_categories"' in page and "食品类别" in page


@pytest.mark.usefixtures("food_safety")
def test_its_graphql_type_is_in_the_schema_and_its_query_works(app, gql):
    sdl = current_schema(app).as_str()
    assert "type FoodSafetyFoodCategory" in sdl
    assert "foodSafetyFoodCategories: [FoodSafetyFoodCategory!]!" in sdl
    body = gql("{ foodSafetyFoodCategories { code name } }", csrf=False)
    assert body["data"]["foodSafetyFoodCategories"][0] == {"code": "01", "name": "乳与乳制品"}
    fields = gql('{ category(code: "food_safety") { itemFields { name required } '
                 'requiredDocuments { kinds } quota(serviceYear: 2) } }', csrf=False)
    assert fields["data"]["category"] == {
        "itemFields": [{"name": "food_categories", "required": True},
                       {"name": "test_kind", "required": False}],
        "requiredDocuments": [{"kinds": ["cma"]}], "quota": 5}


@pytest.mark.usefixtures("food_safety")
def test_its_quota_comes_from_the_plugin_R_ASM_03(app):
    assert [plugins.quota("food_safety", year) for year in (1, 2, 3)] == [5, 5, 5]


# ---------------------------------------------------------------- a built-in plugin switched off


def _contributed_names(module) -> set[str]:
    """The GraphQL type and root field names a plugin module contributes through its hooks."""
    names: set[str] = set()
    for hook in ("graphql_query_types", "graphql_mutation_types", "graphql_extra_types"):
        fn = getattr(module, hook, None)
        for cls in fn() if fn else []:
            definition = cls.__strawberry_definition__
            names.add(definition.name)
            if hook != "graphql_extra_types":
                names |= {f.name for f in definition.fields}
    return names


def _sdl_names(sdl: str) -> set[str]:
    return set(re.findall(r"^(?:type|input|enum|union|interface) (\w+)", sdl, re.M)) | set(
        re.findall(r"^  (\w+)[(:]", sdl, re.M))


def _assert_platform_works_without_equipment_sharing(app, build, login, gql, client):
    # Blocked, not loaded (core's `plugin_names()` still lists a blocked name).
    assert plugins.pm.is_blocked("equipment_sharing")
    assert plugins.pm.get_plugin("equipment_sharing") is None
    assert "equipment_sharing" not in plugins.categories()
    assert "equipment_sharing" not in app.blueprints
    with pytest.raises(PluginError):
        plugins.quota("equipment_sharing", 1)

    home = client.get("/")
    assert home.status_code == 200
    assert 'data-code="equipment_sharing"' not in home.get_data(as_text=True)
    assert 'data-code="metrology"' in home.get_data(as_text=True)
    assert client.get("/categories/equipment_sharing").status_code == 404
    assert client.get("/categories/metrology").status_code == 200

    codes = [c["code"] for c in gql("{ categories { code } }", csrf=False)["data"]["categories"]]
    assert "equipment_sharing" not in codes and "testing" in codes

    import plugins.equipment_sharing as equipment_sharing

    contributed = _contributed_names(equipment_sharing)
    camel = {re.sub(r"_(\w)", lambda m: m.group(1).upper(), n) for n in contributed}
    assert not (contributed | camel) & _sdl_names(current_schema(app).as_str())

    org = build.institution("metrology", name="佛山市计量检测技术服务有限公司")
    login(org.admin_phone)
    body = gql("""query { eligibilityReport { __typename ... on EligibilityReport {
        eligible failures { code subject } } } }""", csrf=False)
    report = body["data"]["eligibilityReport"]
    assert report["__typename"] == "EligibilityReport", body
    assert report["failures"] == [{"code": "R-ELIG-02", "subject": "metrology"}]


@pytest.fixture
def equipment_sharing_off(app_config):
    app_config["QI_DISABLED_PLUGINS"] = ["equipment_sharing"]
    return app_config


def test_removing_a_built_in_plugin_leaves_the_rest_of_the_platform_working(
        equipment_sharing_off, app, build, login, gql, client):
    _assert_platform_works_without_equipment_sharing(app, build, login, gql, client)


@pytest.fixture
def equipment_sharing_off_by_environment(app_config, monkeypatch):
    monkeypatch.setenv("QI_DISABLED_PLUGINS", "equipment_sharing")
    assert "QI_DISABLED_PLUGINS" not in app_config  # the environment decides
    return app_config


def test_the_environment_can_switch_a_built_in_plugin_off(
        equipment_sharing_off_by_environment, app, build, login, gql, client):
    _assert_platform_works_without_equipment_sharing(app, build, login, gql, client)


def test_with_every_plugin_on_equipment_sharing_is_there(app, client):
    """The control for the two tests above: the same probes find it when it is installed."""
    assert "equipment_sharing" in plugins.categories()
    assert 'data-code="equipment_sharing"' in client.get("/").get_data(as_text=True)


def test_an_app_can_be_created_with_a_plugin_switched_off_and_one_added(app_config):
    """Switching off and adding go together: no built-in plugin is needed by another."""
    application = create_app({**app_config, "QI_DISABLED_PLUGINS": ["equipment_sharing", "ip"]},
                             extra_plugins=[proof_plugin])
    with application.app_context():
        codes = set(plugins.categories())
    assert "food_safety" in codes and not {"equipment_sharing", "ip"} & codes


def test_its_own_page_comes_from_its_blueprint_and_the_category_page_links_it(app_config):
    """Blueprints are mounted when the app is built, so this one is added at creation (the
    `register_plugin` fixture registers hooks into an app already serving)."""
    application = create_app(app_config, extra_plugins=[proof_plugin])
    client = application.test_client()
    category_page = client.get("/categories/food_safety").get_data(as_text=True)
    assert '<a id="plugin-page" href="/food-safety/">' in category_page
    page = client.get("/food-safety/").get_data(as_text=True)
    assert '<h1 id="food-safety-page">食品安全检测服务</h1>' in page
    assert 'id="lang-switch"' in page  # the platform's layout around it
    assert 'id="plugin-page"' not in client.get("/categories/metrology").get_data(as_text=True)


# ---------------------------------------------------------------- the worked example of the guide


EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "qi-food-safety"


@pytest.fixture
def example_plugin(register_plugin, monkeypatch):
    """docs/plugins.md's example package, imported from its folder (not installed) and
    registered for one test, its catalogue compiled as its build would."""
    compile_catalogues(EXAMPLE / "qi_food_safety" / "translations")
    monkeypatch.syspath_prepend(str(EXAMPLE))
    import qi_food_safety

    return register_plugin(qi_food_safety)


def test_the_guides_worked_example_declares_every_part(example_plugin, build, gql, client):
    assert tomllib.loads((EXAMPLE / "pyproject.toml").read_text())["project"]["entry-points"][
        "qi_onestop.plugins"] == {"food_safety": "qi_food_safety"}
    assert plugins.quota("food_safety", 3) == 5
    assert 'data-field="test_kind"' in client.get("/categories/food_safety").get_data(as_text=True)
    body = gql('{ foodSafetyTestItems(foodCategory: "乳制品") { item standard } }', csrf=False)
    assert [i["item"] for i in body["data"]["foodSafetyTestItems"]] == ["蛋白质", "菌落总数"]

    org = build.institution("food_safety", name="佛山市食品检验检测中心有限公司")
    check = next(r for r in evaluate(org.institution, ON).results if r.code == "FOOD-01")
    assert not check.passed
    assert check.message == "没有覆盖食品检验的有效 CMA 证书：其资质认定范围须包含“食品”。"
