"""The built-in categories (M Art. 2, G §5): every service the seeds name has a plugin with its
names, quota (R-ASM-03), required documents (R-ELIG-09) and service-item specification (Annex 2
item 5); the category page and GraphQL show them."""

from __future__ import annotations

import ast
import re
from datetime import date, timedelta
from pathlib import Path

import pytest

from core.categories import QuotaGroup
from core.documents import service as documents
from core.documents.models import RecordedStatus
from core.identity.models import Role
from core.onboarding.eligibility import evaluate
from core.plugins import PluginError, plugins
from core.service_fields import clean_item_values, item_fields

ROOT = Path(__file__).resolve().parents[2]

# R-ASM-03 (Annex 2 note): inspection & testing, metrology and special equipment rise 20 / 30 /
# 50; every other category needs 5 effective orders a year.
GROUP_A = {"testing", "metrology", "special_equipment"}
GROUP_B = {"certification", "standards", "ip", "quality_management", "coding", "brand",
           "equipment_sharing", "general"}
NAMES = {
    "metrology": "计量", "standards": "标准", "certification": "认证认可", "testing": "检验检测",
    "quality_management": "质量管理", "special_equipment": "特种设备", "coding": "编码",
    "ip": "知识产权", "brand": "品牌培育", "equipment_sharing": "设备共享/实验室共享",
    "general": "其他质量服务",
}


def test_every_category_of_the_seeds_has_a_plugin(app):
    categories = plugins.categories()
    assert {code: c.name_zh for code, c in categories.items() if code in NAMES} == NAMES
    assert {c for c in categories if categories[c].quota_group is QuotaGroup.A} >= GROUP_A
    assert {c for c in GROUP_B if categories[c].quota_group is QuotaGroup.B} == GROUP_B
    assert list(categories)[:5] == ["metrology", "testing", "certification", "ip",
                                    "equipment_sharing"]
    assert list(categories)[-1] == "general"  # the catch-all comes last


def test_the_general_category_is_home_to_the_remaining_services_of_G_5_2(app):
    (service_type,) = item_fields("general")
    labels = {c.label_zh for c in service_type.choices}
    assert {"企业规划", "产品设计", "原材料采购", "科技金融", "专业培训", "专家服务", "政策咨询"} <= labels
    assert service_type.required


# ---------------------------------------------------------------- quotas (R-ASM-03)


@pytest.mark.parametrize("code", sorted(GROUP_A))
def test_group_a_quotas_rise_over_the_first_three_service_years_R_ASM_03(app, code):
    assert [plugins.quota(code, year) for year in (1, 2, 3, 4, 10)] == [20, 30, 50, 50, 50]


@pytest.mark.parametrize("code", sorted(GROUP_B))
def test_group_b_quotas_are_five_every_year_R_ASM_03(app, code):
    assert [plugins.quota(code, year) for year in (1, 2, 3, 4, 10)] == [5, 5, 5, 5, 5]


def test_a_service_year_starts_at_one_and_an_unknown_category_has_no_quota_R_ASM_03(app):
    with pytest.raises(ValueError, match="start at 1"):
        plugins.quota("metrology", 0)
    with pytest.raises(PluginError, match="food_safety"):
        plugins.quota("food_safety", 1)


# ---------------------------------------------------------------- required documents (R-ELIG-09)


def _kinds(code):
    return [r.kinds for batch in plugins.pm.hook.required_documents(category=code) for r in batch]


def test_each_category_requires_its_qualification_R_ELIG_09(app):
    assert _kinds("metrology") == [("metrology_authorisation", "cnas_calibration")]
    assert _kinds("testing") == [("cma",)]
    assert _kinds("certification") == [("cnca_approval",)]
    # No statutory qualification: the client case list (R-ELIG-07) stands in for one.
    assert _kinds("ip") == [] and _kinds("quality_management") == []


def _document_result(report, category):
    found = [r for r in report.results if r.code == "R-ELIG-02" and r.subject == category]
    assert len(found) == 1
    return found[0]


TODAY = date(2026, 11, 21)


@pytest.mark.parametrize(("valid_to", "passes"), [(TODAY, True), (TODAY - timedelta(days=1), False)])
def test_a_metrology_authorisation_valid_until_today_counts_and_until_yesterday_not_R_ELIG_09(
        build, valid_to, passes):
    org = build.institution("metrology", name="佛山市计量检测技术服务有限公司")
    build.upload(org, kind="metrology_authorisation", categoryCode="metrology",
                 certificateNumber="(粤)法计(2021)060012号", issuer="广东省市场监督管理局",
                 validFrom=date(2021, 3, 1), validTo=valid_to)
    result = _document_result(evaluate(org.institution, TODAY), "metrology")
    assert result.passed is passes
    assert result.evidence["documents"][0]["kind"] == "metrology_authorisation"
    if not passes:
        assert "计量授权证书" in result.message or "Metrology authorisation" in result.message


def test_a_cnas_calibration_accreditation_also_qualifies_for_metrology_R_ELIG_09(build):
    org = build.institution("metrology", name="佛山市计量检测技术服务有限公司")
    assert not _document_result(evaluate(org.institution, TODAY), "metrology").passed
    build.upload(org, kind="cnas_calibration", categoryCode="metrology",
                 certificateNumber="CNAS L5678", issuer="中国合格评定国家认可委员会",
                 validFrom=date(2024, 1, 1), validTo=date(2030, 1, 1))
    assert _document_result(evaluate(org.institution, TODAY), "metrology").passed


def test_a_suspended_cnca_approval_does_not_qualify_a_certification_body_R_ELIG_09(
        build, make_user):
    org = build.institution("certification", name="佛山市认证服务有限公司")
    approval = build.upload(org, kind="cnca_approval", categoryCode="certification",
                            certificateNumber="CNCA-R-2021-123", issuer="国家认证认可监督管理委员会",
                            validFrom=date(2021, 5, 1), validTo=date(2029, 4, 30))
    assert _document_result(evaluate(org.institution, TODAY), "certification").passed
    operator = make_user(Role.OPERATOR)
    documents.record_status(approval, RecordedStatus.SUSPENDED, effective_on=TODAY,
                            source="国家认监委公告 2026年第18号", note=None, actor=operator)
    result = _document_result(evaluate(org.institution, TODAY), "certification")
    assert not result.passed and result.evidence["documents"][0]["status"] == "suspended"
    # The day before the suspension took effect it was still valid.
    assert _document_result(evaluate(org.institution, TODAY - timedelta(days=1)),
                            "certification").passed


# ---------------------------------------------------------------- service item specification


def test_metrology_items_name_quantities_ranges_uncertainty_and_on_site(app):
    fields = {f.name: f for f in item_fields("metrology")}
    assert list(fields) == ["measured_quantities", "ranges", "uncertainty", "on_site"]
    assert fields["measured_quantities"].kind == "list" and fields["measured_quantities"].required
    assert fields["uncertainty"].required and not fields["ranges"].required
    assert fields["on_site"].kind == "boolean"

    _values, problems = clean_item_values("metrology", {"ranges": "(0~60) MPa"})
    assert {p.field for p in problems} == {"fields.measured_quantities", "fields.uncertainty"}
    values, problems = clean_item_values("metrology", {
        "measured_quantities": "压力\n温度\n", "uncertainty": "U=0.05%（k=2）", "on_site": "y"})
    assert problems == []
    assert values == {"measured_quantities": ["压力", "温度"], "ranges": "",
                      "uncertainty": "U=0.05%（k=2）", "on_site": True}


def test_certification_items_give_the_type_and_the_scope(app):
    fields = {f.name: f for f in item_fields("certification")}
    assert [c.value for c in fields["certification_type"].choices] == ["compulsory", "voluntary"]
    assert fields["certification_type"].required and fields["scope"].kind == "textarea"
    _values, problems = clean_item_values("certification", {"certification_type": "honorary",
                                                             "scope": "GB/T 19001-2016"})
    assert [p.field for p in problems] == ["fields.certification_type"]


def test_ip_items_say_trademark_patent_or_copyright(app):
    (service_type,) = item_fields("ip")
    assert [c.value for c in service_type.choices] == ["trademark", "patent", "copyright"]


@pytest.mark.parametrize("code", sorted(NAMES))
def test_every_category_declares_well_formed_item_fields(app, code):
    fields = item_fields(code)
    assert fields, f"{code} declares no service item fields"
    assert len({f.name for f in fields}) == len(fields)
    assert all(re.search(r"[\u4e00-\u9fff]", f.label_zh) and f.label_en for f in fields)


# ---------------------------------------------------------------- the category page


def test_home_page_links_every_category_to_its_page(client):
    html = client.get("/").get_data(as_text=True)
    for code in NAMES:
        assert f'href="/categories/{code}"' in html


def test_the_category_page_shows_documents_specification_and_quota(client):
    response = client.get("/categories/metrology")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert '<h1 id="category-name" data-code="metrology">计量</h1>' in html
    assert 'data-kinds="metrology_authorisation cnas_calibration"' in html
    assert "R-ELIG-09" in html
    for name in ("measured_quantities", "ranges", "uncertainty", "on_site"):
        assert f'data-field="{name}"' in html
    assert "测量不确定度" in html
    quotas = re.findall(r'data-year="(\d)">\s*<td>[^<]*</td>\s*<td>(\d+)</td>', html)
    assert quotas == [("1", "20"), ("2", "30"), ("3", "50")]


def test_a_category_without_a_statutory_qualification_says_so(client):
    html = client.get("/categories/ip").get_data(as_text=True)
    assert 'id="no-documents"' in html
    assert 'data-value="copyright"' in html
    assert re.findall(r'data-year="(\d)">\s*<td>[^<]*</td>\s*<td>(\d+)</td>', html) == [
        ("1", "5"), ("2", "5"), ("3", "5")]


def test_the_category_page_speaks_english_after_the_switch(client):
    client.get("/lang/en")
    html = client.get("/categories/certification").get_data(as_text=True)
    assert ">Certification and accreditation</h1>" in html
    assert "Compulsory product certification (CCC)" in html


def test_an_unknown_category_page_is_not_found(client):
    assert client.get("/categories/astrology").status_code == 404


# ---------------------------------------------------------------- GraphQL


CATEGORY = """{ category(code: "certification") {
  code quotaGroup requiredDocuments { kinds rule }
  itemFields { name label kind required choices { value label } help }
  y1: quota(serviceYear: 1) y3: quota(serviceYear: 3)
} }"""


def test_graphql_gives_documents_fields_and_quota_of_a_category(gql):
    body = gql(CATEGORY, csrf=False)
    category = body["data"]["category"]
    assert category["requiredDocuments"] == [{"kinds": ["cnca_approval"], "rule": "R-ELIG-09"}]
    assert category["itemFields"][0] == {
        "name": "certification_type", "label": "认证类型", "kind": "choice", "required": True,
        "choices": [{"value": "compulsory", "label": "强制性产品认证（CCC）"},
                    {"value": "voluntary", "label": "自愿性认证"}],
        "help": "强制性产品认证须在 CNCA 批准的指定范围内开展。"}
    assert (category["y1"], category["y3"]) == (5, 5)

    metrology = gql('{ categories { code q1: quota(serviceYear: 1) q2: quota(serviceYear: 2) '
                    'q3: quota(serviceYear: 3) } }', csrf=False)["data"]["categories"]
    assert {c["code"]: (c["q1"], c["q2"], c["q3"]) for c in metrology}["special_equipment"] == (
        20, 30, 50)
    bad = gql('{ category(code: "ip") { quota(serviceYear: 0) } }', csrf=False)
    assert bad["errors"][0]["message"]
    assert gql('{ category(code: "astrology") { code } }', csrf=False)["data"]["category"] is None


# ---------------------------------------------------------------- boundaries between plugins


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_core_never_imports_a_plugin_and_a_plugin_never_imports_another():
    for folder in ("core", "api"):
        for path in (ROOT / folder).rglob("*.py"):
            bad = {m for m in _imported_modules(path) if m == "plugins" or m.startswith("plugins.")}
            assert not bad, f"{path.relative_to(ROOT)} imports {bad}"
    for plugin in sorted(p for p in (ROOT / "plugins").iterdir() if (p / "__init__.py").exists()):
        for path in plugin.rglob("*.py"):
            others = {m for m in _imported_modules(path)
                      if m.startswith("plugins.") and m.split(".")[1] != plugin.name}
            assert not others, f"{path.relative_to(ROOT)} imports another plugin: {others}"
