"""The plugin as installed with `pip install`: the platform finds it through its entry point."""

from __future__ import annotations

import io
from datetime import date

from core.demo import sample_pdf
from core.documents import service as documents
from core.identity.models import Role
from core.institutions.service import create_institution
from core.onboarding import profile
from core.onboarding.eligibility import evaluate
from core.plugins import plugins
from core.service_fields import clean_item_values


def test_the_category_is_installed_with_its_quota(app):
    assert plugins.pm.get_plugin("food_safety") is not None  # the entry point's name
    assert plugins.categories()["food_safety"].name_zh == "食品安全"
    assert [plugins.quota("food_safety", year) for year in (1, 2, 3)] == [5, 5, 5]


def test_its_page_item_fields_and_graphql(client, gql):
    assert 'href="/categories/food_safety"' in client.get("/").get_data(as_text=True)
    assert 'data-field="food_categories"' in client.get("/categories/food_safety").get_data(
        as_text=True)
    body = gql('{ foodSafetyTestItems(foodCategory: "焙烤食品") { item standard } }', csrf=False)
    assert body["data"]["foodSafetyTestItems"] == [{"item": "过氧化值", "standard": "GB 5009.227-2023"}]
    _values, problems = clean_item_values("food_safety", {"food_categories": "乳制品"})
    assert [p.field for p in problems] == ["fields.test_kind"]


def test_a_laboratory_needs_a_cma_covering_food(app, make_user):
    admin = make_user(Role.INSTITUTION_ADMIN)
    lab = create_institution(legal_name="佛山市食品检验检测中心有限公司", uscc="91440604MA51XK3R27",
                             admin=admin)
    profile.set_categories(lab, categories=["food_safety"], main_category="food_safety",
                           advantage_items=[{"categoryCode": "food_safety", "title": t}
                                            for t in ("乳制品检验", "焙烤食品检验")], actor=admin)
    failed = {(r.code, r.subject) for r in evaluate(lab, date(2026, 11, 21)).failures}
    assert {("R-ELIG-02", "food_safety"), ("FOOD-01", "food_safety")} <= failed

    meta = documents.validate_meta({
        "kind": "cma", "categoryCode": "food_safety", "certificateNumber": "202419123456",
        "issuer": "广东省市场监督管理局", "validFrom": date(2024, 1, 1), "validTo": date(2030, 1, 1),
        "scope": "食品：乳制品、焙烤食品的理化与微生物检验"}, lab)
    documents.store_upload(lab, meta, io.BytesIO(sample_pdf("cma")), filename="cma.pdf", actor=admin)
    passed = {(r.code, r.subject) for r in evaluate(lab, date(2026, 11, 21)).results if r.passed}
    assert {("R-ELIG-02", "food_safety"), ("FOOD-01", "food_safety")} <= passed
