"""The directory (R-G-01, R-OPS-01): what the public finds, and at what SQL cost."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import event, select

from core.catalogue import directory
from core.catalogue.models import ItemStatus
from core.catalogue.testing import METROLOGY_FIELDS, add_certificate, add_item, listed_institution
from core.db import db
from core.documents.models import CertificateStatusRecord, Document, RecordedStatus
from core.errors import InvalidInput
from core.institutions.models import InstitutionStatus

QUERY = """query($keyword: String, $category: String, $cityCode: String, $districtCode: String,
                  $first: Int!, $offset: Int!) {
  directory(keyword: $keyword, category: $category, cityCode: $cityCode,
            districtCode: $districtCode, first: $first, offset: $offset) {
    total first offset
    institutions { id name categories { code name }
      items { id title pricingKind priceYuan turnaroundDays fields status }
      certificates { kind kindName certificateNumber validTo status } } } }"""


@pytest.fixture
def world(app, make_user):
    metrology, metrology_admin = listed_institution(
        make_user, "佛山市质量计量监督检测中心", categories=("metrology", "testing"),
        introduction="承担全市计量检定校准、产品质量监督检验和能力验证工作。")
    add_item(metrology, "压力表检定校准", category="metrology", fields=METROLOGY_FIELDS)
    add_certificate(metrology, metrology_admin, "cnas_calibration", number="CNAS L1234")
    certification, _a = listed_institution(
        make_user, "佛山市顺德区认证有限公司", categories=("certification",),
        introduction="质量管理体系认证服务。", district_code="440606")
    add_item(certification, "质量管理体系认证", category="certification")
    testing, testing_admin = listed_institution(
        make_user, "佛山市家电检测有限公司", categories=("testing",), introduction="家电安全检测。")
    add_item(testing, "家用电器安全检测")
    add_certificate(testing, testing_admin, "cma")
    return {"metrology": metrology, "certification": certification, "testing": testing,
            "testing_admin": testing_admin}


def names(page: directory.DirectoryPage) -> list[str]:
    return [e.institution.legal_name for e in page.entries]


def test_r_g_01_two_character_chinese_keyword_计量_finds_the_metrology_centre_only(world):
    page = directory.search(directory.DirectoryQuery(keyword="计量"))
    assert names(page) == ["佛山市质量计量监督检测中心"] and page.total == 1
    entry = page.entries[0]
    assert entry.categories == ["metrology", "testing"]
    assert [i.title for i in entry.items] == ["压力表检定校准"]
    assert [c.document.kind for c in entry.certificates] == ["cnas_calibration"]


def test_r_g_01_keyword_检测_matches_names_items_and_ranks_name_hits_first(world):
    page = directory.search(directory.DirectoryQuery(keyword="检测"))
    # both have 检测 in the name; the certification body has it nowhere
    assert set(names(page)) == {"佛山市质量计量监督检测中心", "佛山市家电检测有限公司"}
    by_item = directory.search(directory.DirectoryQuery(keyword="体系认证"))
    assert names(by_item) == ["佛山市顺德区认证有限公司"]
    by_category_name = directory.search(directory.DirectoryQuery(keyword="认证"))
    assert names(by_category_name) == ["佛山市顺德区认证有限公司"]
    assert directory.search(directory.DirectoryQuery(keyword="100%_")).total == 0  # LIKE escaped


def test_r_g_01_filters_by_category_region_and_valid_certificate(world):
    q = directory.DirectoryQuery
    assert names(directory.search(q(category="testing", sort="name"))) == [
        "佛山市家电检测有限公司", "佛山市质量计量监督检测中心"]
    assert names(directory.search(q(district_code="440606"))) == ["佛山市顺德区认证有限公司"]
    assert directory.search(q(city_code="440100")).total == 0
    assert names(directory.search(q(certificate_kind="cma"))) == ["佛山市家电检测有限公司"]
    # a suspension recorded by the operator takes the certificate out of the filter and the page
    cma = world["testing"].id
    doc = db.session.scalar(select(Document).where(Document.institution_id == cma))
    db.session.add(CertificateStatusRecord(document_id=doc.id, status=RecordedStatus.SUSPENDED,
                                           effective_on=date(2020, 1, 1), source="CNCA 公告",
                                           recorded_by_id=world["testing_admin"].id))
    db.session.commit()
    assert directory.search(q(certificate_kind="cma")).total == 0
    assert directory.institution_page(cma).certificates == []


def test_r_ops_01_drafts_withdrawn_items_and_unlisted_institutions_are_not_public(app, make_user, world):
    add_item(world["metrology"], "计量草稿项目", category="metrology", status=ItemStatus.DRAFT)
    add_item(world["metrology"], "计量撤回项目", category="metrology", status=ItemStatus.WITHDRAWN)
    for status in (InstitutionStatus.DRAFT, InstitutionStatus.REMOVED, InstitutionStatus.EXITED):
        hidden, _admin = listed_institution(make_user, f"计量{status.value}机构",
                                            categories=("metrology",), status=status)
        add_item(hidden, "计量校准", category="metrology")
        assert directory.institution_page(hidden.id) is None
    page = directory.search(directory.DirectoryQuery(keyword="计量"))
    assert names(page) == ["佛山市质量计量监督检测中心"]
    assert [i.title for i in page.entries[0].items] == ["压力表检定校准"]
    assert directory.search(directory.DirectoryQuery(keyword="草稿")).total == 0


def test_directory_pagination_with_total_and_page_size_limit(world):
    first = directory.search(directory.DirectoryQuery(sort="name", first=2))
    second = directory.search(directory.DirectoryQuery(sort="name", first=2, offset=2))
    assert first.total == second.total == 3
    assert len(first.entries) == 2 and len(second.entries) == 1
    assert not set(names(first)) & set(names(second))
    with pytest.raises(InvalidInput):
        directory.search(directory.DirectoryQuery(first=101))


def _count_statements(gql, variables):
    statements: list[str] = []

    def listener(conn, cursor, statement, *args):
        statements.append(statement)

    engine = db.engine
    event.listen(engine, "before_cursor_execute", listener)
    try:
        body = gql(QUERY, variables, csrf=False)
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert "errors" not in body, body
    return body, statements


def test_graphql_directory_uses_a_fixed_number_of_sql_statements(app, make_user, gql):
    """SECURITY.md 11 / issue 8: the statement count does not grow with the page size."""
    for n in range(60):
        institution, admin = listed_institution(make_user, f"佛山市第{n:02d}检测站",
                                                categories=("testing", "metrology"))
        add_item(institution, f"检测项目{n}")
        add_item(institution, f"计量项目{n}", category="metrology", fields=METROLOGY_FIELDS)
        add_certificate(institution, admin, "cma")
    small, five = _count_statements(gql, {"first": 5, "offset": 0, "keyword": "检测"})
    large, fifty = _count_statements(gql, {"first": 50, "offset": 0, "keyword": "检测"})
    assert len(small["data"]["directory"]["institutions"]) == 5
    page = large["data"]["directory"]
    assert page["total"] == 60 and len(page["institutions"]) == 50
    assert all(len(i["items"]) == 2 and len(i["certificates"]) == 1 for i in page["institutions"])
    assert len(five) == len(fifty), (five, fifty)
    assert len(fifty) <= 8


def test_graphql_institution_page_and_public_web_pages(app, client, gql, make_user, world):
    metrology = world["metrology"]
    body = gql("""query($id: ID!) { institutionPage(id: $id) { name items { title }
                 certificates { kind status } } }""", {"id": str(metrology.id)}, csrf=False)
    page = body["data"]["institutionPage"]
    assert page["name"] == "佛山市质量计量监督检测中心"
    assert page["certificates"] == [{"kind": "cnas_calibration", "status": "VALID"}]
    html = client.get("/directory?keyword=计量").get_data(as_text=True)
    assert "佛山市质量计量监督检测中心" in html and "佛山市家电检测有限公司" not in html
    assert '<html lang="zh-CN">' in html
    html = client.get(f"/institutions/{metrology.id}").get_data(as_text=True)
    assert "压力表检定校准" in html and "CNAS L1234" in html
    draft, _a = listed_institution(make_user, "草稿机构", status=InstitutionStatus.DRAFT)
    assert client.get(f"/institutions/{draft.id}").status_code == 404
