"""The directory (R-G-01, R-OPS-01, R-OPS-05): what the public finds, and at what SQL cost."""

from __future__ import annotations

import re
from datetime import date, datetime

import pytest
from sqlalchemy import event, select

from core.audit.models import AuditEvent
from core.catalogue import directory
from core.catalogue.institution_page import institution_page, last_full_months, response_times
from core.catalogue.models import ItemStatus, ServiceItem
from core.catalogue.testing import (
    METROLOGY_FIELDS,
    add_certificate,
    add_item,
    add_review,
    hide_homepage,
    listed_institution,
)
from core.clock import local_today
from core.consultations import service as consultations
from core.db import db
from core.documents.models import CertificateStatusRecord, Document, RecordedStatus
from core.errors import InvalidInput, NotFound
from core.identity.models import Role
from core.institutions.models import InstitutionStatus
from core.testing import TEST_PASSWORD
from core.workcalendar.service import SHANGHAI
from plugins.equipment_sharing.instruments import (
    get_instrument,
    register_instrument,
    search_instruments,
    update_instrument,
)
from plugins.testing.scope import add_scope_entries, search_scope

QUERY = """query($keyword: String, $category: String, $cityCode: String, $districtCode: String,
                  $minRating: Float, $filters: [DirectoryFilterInput!], $sort: String! = "relevance",
                  $first: Int!, $offset: Int!) {
  directory(keyword: $keyword, category: $category, cityCode: $cityCode,
            districtCode: $districtCode, minRating: $minRating, filters: $filters, sort: $sort,
            first: $first, offset: $offset) {
    total first offset
    institutions { id name categories { code name } rating { average count }
      items { id title categoryCode pricingKind priceYuan turnaroundDays }
      certificates { kind kindName certificateNumber validTo status } } } }"""
PAGE = """query($id: ID!) { institutionPage(id: $id) { name hidden hiddenReason
  rating { average count } items { title } certificates { kind status }
  responseTimes { year month consultations averageSeconds averageWithinLimit } } }"""
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


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
    return {"metrology": metrology, "metrology_admin": metrology_admin,
            "certification": certification, "testing": testing, "testing_admin": testing_admin}


def names(page: directory.DirectoryPage) -> list[str]:
    return [e.institution.legal_name for e in page.entries]


def find(**kwargs) -> list[str]:
    return names(directory.search(directory.DirectoryQuery(**kwargs)))


def login(app, user):
    client = app.test_client()
    token = CSRF.search(client.get("/login").get_data(as_text=True)).group(1)
    response = client.post("/login", data={"identifier": user.email, "password": TEST_PASSWORD,
                                            "csrf_token": token})
    assert response.status_code == 302
    return client


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
    assert institution_page(cma).entry.certificates == []


@pytest.fixture
def scopes(world, make_user):
    """Scope annexes: editions, parts and a look-alike number (R-G-01, testing plugin)."""
    add_scope_entries(world["testing"], [{"standardNumber": "GB/T 2828.1-2012"},
                                         {"standardNumber": "GB 4706.1-2005"}],
                      actor=world["testing_admin"])
    add_scope_entries(world["metrology"], [{"standardNumber": "GB/T 2828.1-2003"}],
                      actor=world["metrology_admin"])
    lookalike, admin = listed_institution(make_user, "佛山市南海区抽样检验有限公司")
    add_scope_entries(lookalike, [{"standardNumber": "GB/T 2828.11-2008"}], actor=admin)
    hidden, hidden_admin = listed_institution(make_user, "佛山市三水区隐藏检测站")
    add_scope_entries(hidden, [{"standardNumber": "GB/T 2828.1-2012"}], actor=hidden_admin)
    hide_homepage(hidden)
    return lookalike


def test_r_g_01_standard_number_with_year_finds_that_edition_only(world, scopes):
    assert find(filters=(("standard", "GB/T 2828.1-2012"),)) == ["佛山市家电检测有限公司"]
    # written the way people type it: lower case, full-width slash, a long dash
    assert find(filters=(("standard", "gb／t 2828.1—2012"),)) == ["佛山市家电检测有限公司"]
    assert find(filters=(("standard", "GB/T 2828.1-2003"),)) == ["佛山市质量计量监督检测中心"]


def test_r_g_01_standard_number_without_year_finds_every_edition_but_not_look_alikes(world, scopes):
    assert find(filters=(("standard", "GB/T 2828.1"),), sort="name") == [
        "佛山市家电检测有限公司", "佛山市质量计量监督检测中心"]  # not GB/T 2828.11, not the hidden one
    assert find(filters=(("standard", "GB/T 2828.11"),)) == ["佛山市南海区抽样检验有限公司"]
    assert len(find(filters=(("standard", "GB/T 2828"),))) == 3  # every part, still not the hidden one
    assert find(filters=(("standard", "GB/T 282"),)) == []  # not a prefix of the number
    # combined with the other criteria (all must hold)
    assert find(filters=(("standard", "GB/T 2828.1"),), keyword="计量") == ["佛山市质量计量监督检测中心"]
    assert find(filters=(("standard", "GB/T 2828.1"),), category="certification") == []
    assert find(filters=(("standard", "  "),), sort="name") == find(sort="name")  # blank: no filter


def test_r_g_01_instrument_register_search(world, make_user):
    lab, admin = listed_institution(make_user, "佛山市禅城区共享实验室", categories=("equipment_sharing",))
    register_instrument(lab, {"name": "紫外可见分光光度计", "model": "UV-2600",
                              "manufacturer": "岛津", "indicators": "波长范围 185-900 nm"}, actor=admin)
    retired = register_instrument(world["testing"], {"name": "原子吸收分光光度计"},
                                  actor=world["testing_admin"])
    update_instrument(retired, {"status": "retired"}, actor=world["testing_admin"])
    assert find(filters=(("instrument", "分光光度计"),)) == ["佛山市禅城区共享实验室"]
    assert find(filters=(("instrument", "岛津 UV-2600"),)) == ["佛山市禅城区共享实验室"]
    assert find(filters=(("instrument", "质谱仪"),)) == []
    assert find(filters=(("instrument", "分光"), ("standard", "GB 4706.1"))) == []


def test_unknown_or_oversized_filter_is_refused_naming_the_field(world, gql):
    with pytest.raises(InvalidInput) as refused:
        find(filters=(("standard", "GB 4706.1"), ("colour", "red")))
    assert [p.field for p in refused.value.problems] == ["filters[1].name"]
    with pytest.raises(InvalidInput) as refused:
        find(filters=(("standard", "G" * 101),), min_rating=6)
    assert {p.field for p in refused.value.problems} == {"filters[0].term", "minRating"}
    body = gql(QUERY, {"first": 5, "offset": 0, "filters": [{"name": "colour", "term": "red"}]},
               csrf=False)
    error = body["errors"][0]
    assert body["data"] is None
    assert error["extensions"]["code"] == "INVALID_INPUT"
    assert error["extensions"]["problems"][0]["field"] == "filters[0].name"
    listed = gql("{ directoryFilters { name label example } }", csrf=False)["data"]["directoryFilters"]
    assert {f["name"]: f["label"] for f in listed} == {"instrument": "仪器设备", "standard": "检测标准编号"}


@pytest.fixture
def rated(world, make_user):
    buyer = make_user(Role.ENTERPRISE, name="佛山市美达电器有限公司 何志强")
    for stars in (5, 4):  # 4.5 from two reviews
        add_review(world["certification"], buyer, stars)
    add_review(world["testing"], buyer, 5)  # 5.0 from one
    for stars in (5, 4, 4, 5):  # 4.5 from four: ties with certification, more reviews
        add_review(world["metrology"], buyer, stars)
    return buyer


def test_rating_filter_and_sort_unrated_last_ties_by_review_count_then_relevance(world, rated, make_user):
    listed_institution(make_user, "佛山市未评价检测所")
    assert find(sort="rating") == ["佛山市家电检测有限公司", "佛山市质量计量监督检测中心",
                                   "佛山市顺德区认证有限公司", "佛山市未评价检测所"]
    assert find(min_rating=4.5, sort="name") == ["佛山市家电检测有限公司", "佛山市质量计量监督检测中心",
                                                 "佛山市顺德区认证有限公司"]
    assert find(min_rating=4.8) == ["佛山市家电检测有限公司"]
    # equal rating and review count: relevance (a keyword hit in the name before one in the
    # introduction), then the name
    second, _a = listed_institution(make_user, "佛山市顺德区质量认证中心", categories=("certification",))
    for stars in (5, 4):
        add_review(second, rated, stars)
    assert find(sort="rating", keyword="质量") == [
        "佛山市质量计量监督检测中心", "佛山市顺德区质量认证中心", "佛山市顺德区认证有限公司"]
    assert find(sort="rating")[2:4] == ["佛山市顺德区认证有限公司", "佛山市顺德区质量认证中心"]
    page = directory.search(directory.DirectoryQuery(keyword="质量", sort="name"))
    assert [(e.rating.average, e.rating.count) for e in page.entries] == [(4.5, 4), (4.5, 2), (4.5, 2)]


def test_rating_shown_on_directory_entries_and_the_institution_page(world, rated, client, gql):
    body = gql(QUERY, {"first": 10, "offset": 0, "sort": "rating"}, csrf=False)
    first = body["data"]["directory"]["institutions"][0]
    assert first["name"] == "佛山市家电检测有限公司" and first["rating"] == {"average": 5.0, "count": 1}
    page = gql(PAGE, {"id": str(world["metrology"].id)}, csrf=False)["data"]["institutionPage"]
    assert page["rating"] == {"average": 4.5, "count": 4} and page["hidden"] is False
    html = client.get("/directory?sort=rating&min_rating=4.5").get_data(as_text=True)
    assert "★ 4.5" in html and "4 条评价" in html
    html = client.get(f"/institutions/{world['metrology'].id}").get_data(as_text=True)
    assert "★ 4.5" in html


def _ask_and_answer(world, buyer, asked: datetime, answered: datetime) -> None:
    question = consultations.ask(world["testing"], subject="家电安全检测周期咨询",
                                 body="请问GB 4706.1检测需要多久？", actor=buyer, now=asked)
    consultations.reply(question, body="您好，一般7个工作日出具报告。", actor=world["testing_admin"],
                        now=answered)


def test_r_ops_03_response_times_of_the_last_three_full_months(world, make_user):
    buyer = make_user(Role.ENTERPRISE, name="何志强")
    at = lambda *a: datetime(*a, tzinfo=SHANGHAI)  # noqa: E731
    _ask_and_answer(world, buyer, at(2026, 3, 10, 9, 0), at(2026, 3, 10, 10, 30))  # 90 min
    _ask_and_answer(world, buyer, at(2026, 3, 11, 17, 0), at(2026, 3, 12, 9, 0))  # 17-18 + 8-9: 2 h
    _ask_and_answer(world, buyer, at(2026, 3, 14, 10, 0), at(2026, 3, 14, 11, 0))  # a Saturday
    _ask_and_answer(world, buyer, at(2026, 4, 1, 8, 0), at(2026, 4, 1, 11, 0))  # 3 h
    _ask_and_answer(world, buyer, at(2026, 5, 6, 9, 0), at(2026, 5, 6, 9, 5))  # May: not counted
    assert last_full_months(date(2026, 5, 6)) == [(2026, 2), (2026, 3), (2026, 4)]
    figures = response_times(world["testing"].id, today=date(2026, 5, 6))
    assert [(m.month, m.consultations, m.average_seconds, m.average_within_limit)
            for m in figures] == [(2, 0, None, True), (3, 3, 6300.0, True), (4, 1, 10800.0, False)]
    assert last_full_months(date(2026, 1, 31)) == [(2025, 10), (2025, 11), (2025, 12)]


def test_response_times_on_the_web_page_and_in_graphql(world, client, gql):
    months = last_full_months(local_today())
    page = gql(PAGE, {"id": str(world["testing"].id)}, csrf=False)["data"]["institutionPage"]
    assert [(m["year"], m["month"]) for m in page["responseTimes"]] == months
    assert all(m["consultations"] == 0 for m in page["responseTimes"])
    html = client.get(f"/institutions/{world['testing'].id}").get_data(as_text=True)
    assert html.count('class="response-month"') == 3 and "咨询" in html


def test_r_ops_05_hidden_institution_is_out_of_the_directory_and_its_pages_404_for_the_public(
        app, world, make_user, client, gql):
    testing, admin = world["testing"], world["testing_admin"]
    item = add_item(testing, "电线电缆检测")
    hide_homepage(testing, "no_agent")
    assert "佛山市家电检测有限公司" not in find(keyword="检测")
    assert find(certificate_kind="cma") == []
    assert institution_page(testing.id) is None
    assert client.get(f"/institutions/{testing.id}").status_code == 404
    enterprise = login(app, make_user(Role.ENTERPRISE, name="企业用户"))
    assert enterprise.get(f"/institutions/{testing.id}").status_code == 404
    assert gql(PAGE, {"id": str(testing.id)}, csrf=False)["data"]["institutionPage"] is None
    items = gql("""query($i: ID!, $id: ID!) { serviceItems(institutionId: $i) { id }
                   serviceItem(id: $id) { id } }""", {"i": str(testing.id), "id": str(item.id)},
                csrf=False)["data"]
    assert items == {"serviceItems": [], "serviceItem": None}
    denied = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "institution_page.access_denied")).all()
    assert len(denied) == 4 and {d.result for d in denied} == {"denied"}
    # its own staff and platform staff still see the page, told that it is hidden and why
    for user in (admin, make_user(Role.OPERATOR, name="运维 黄晓婷")):
        html = login(app, user).get(f"/institutions/{testing.id}").get_data(as_text=True)
        assert 'id="hidden-notice"' in html and "客服" in html and "电线电缆检测" in html
    assert 'id="hidden-notice"' not in client.get(
        f"/institutions/{world['metrology'].id}").get_data(as_text=True)


def test_r_ops_05_hidden_page_in_graphql_for_its_admin(app, world):
    from core.testing import GraphQLClient

    testing = world["testing"]
    hide_homepage(testing, "no_item")
    gql = GraphQLClient(app.test_client())
    gql("""mutation($i: LoginInput!) { login(input: $i) { __typename } }""",
        {"i": {"identifier": world["testing_admin"].email, "password": TEST_PASSWORD}})
    page = gql(PAGE, {"id": str(testing.id)})["data"]["institutionPage"]
    assert page["hidden"] is True and page["hiddenReason"] == "no_item"
    assert page["items"] == [{"title": "家用电器安全检测"}]


def test_r_ops_05_hidden_institution_is_out_of_the_plugins_public_searches(world, make_user):
    lab, lab_admin = listed_institution(make_user, "佛山市禅城区共享实验室",
                                        categories=("equipment_sharing",))
    instrument = register_instrument(lab, {"name": "紫外可见分光光度计"}, actor=lab_admin)
    add_scope_entries(world["testing"], [{"standardNumber": "GB 4706.1-2005"}],
                      actor=world["testing_admin"])
    assert [i for i, _e in search_scope("GB 4706.1")] == [world["testing"].id]
    assert [i.id for i in search_instruments("分光")] == [instrument.id]
    hide_homepage(lab)
    hide_homepage(world["testing"], "no_agent")
    assert search_scope("GB 4706.1") == [] and search_instruments("分光") == []
    with pytest.raises(NotFound):
        get_instrument(instrument.id, None)
    # the institutions' own staff still see their records
    assert len(search_scope("GB 4706.1", viewer=world["testing_admin"])) == 1
    assert get_instrument(instrument.id, lab_admin) == instrument


def test_r_ops_01_drafts_withdrawn_items_and_unlisted_institutions_are_not_public(app, make_user, world):
    add_item(world["metrology"], "计量草稿项目", category="metrology", status=ItemStatus.DRAFT)
    add_item(world["metrology"], "计量撤回项目", category="metrology", status=ItemStatus.WITHDRAWN)
    for status in (InstitutionStatus.DRAFT, InstitutionStatus.REMOVED, InstitutionStatus.EXITED):
        hidden, _admin = listed_institution(make_user, f"计量{status.value}机构",
                                            categories=("metrology",), status=status)
        add_item(hidden, "计量校准", category="metrology")
        assert institution_page(hidden.id) is None
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


def test_web_directory_form_offers_the_plugin_filters_and_applies_them(world, scopes, client):
    html = client.get("/directory").get_data(as_text=True)
    assert 'name="standard"' in html and 'name="instrument"' in html and 'name="min_rating"' in html
    html = client.get("/directory?standard=GB/T+2828.1-2012").get_data(as_text=True)
    assert "佛山市家电检测有限公司" in html and "佛山市质量计量监督检测中心" not in html
    assert 'value="GB/T 2828.1-2012"' in html
    # a hand-made URL with a wrong rating or an unknown parameter shows the whole directory
    assert client.get("/directory?min_rating=9&colour=red").status_code == 200


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
    """SECURITY.md 11 / issue 8: the statement count does not grow with the page size, with
    items, certificates, ratings, a plugin filter and the rating sort."""
    buyer = make_user(Role.ENTERPRISE, name="何志强")
    for n in range(60):
        institution, admin = listed_institution(make_user, f"佛山市第{n:02d}检测站",
                                                categories=("testing", "metrology"))
        add_item(institution, f"检测项目{n}")
        add_item(institution, f"计量项目{n}", category="metrology", fields=METROLOGY_FIELDS)
        add_certificate(institution, admin, "cma")
        add_scope_entries(institution, [{"standardNumber": "GB 4706.1-2005"}], actor=admin)
        add_review(institution, buyer, 3 + n % 3)
    variables = {"offset": 0, "keyword": "检测", "sort": "rating",
                 "filters": [{"name": "standard", "term": "GB 4706.1"}]}
    small, five = _count_statements(gql, {**variables, "first": 5})
    large, fifty = _count_statements(gql, {**variables, "first": 50})
    assert len(small["data"]["directory"]["institutions"]) == 5
    page = large["data"]["directory"]
    assert page["total"] == 60 and len(page["institutions"]) == 50
    assert all(len(i["items"]) == 2 and len(i["certificates"]) == 1 and i["rating"]["count"] == 1
               for i in page["institutions"])
    assert [i["rating"]["average"] for i in page["institutions"]][:21] == [5.0] * 20 + [4.0]
    assert len(five) == len(fifty), (five, fifty)
    assert len(fifty) <= 6  # page with total, categories, items, certificates + records, ratings


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


def test_r_g_01_directory_lists_lean_items_and_the_institution_page_whole_ones(client, gql, world):
    """A listing carries each item's title, category and price (read as plain rows); the
    description, scope and plugin fields are on the institution's page and `serviceItem`."""
    metrology = world["metrology"]
    item = db.session.scalar(select(ServiceItem).where(ServiceItem.institution_id == metrology.id))
    body = gql(QUERY, {"first": 5, "offset": 0, "keyword": "计量"}, csrf=False)
    [entry] = body["data"]["directory"]["institutions"]
    assert entry["items"] == [{"id": str(item.id), "title": "压力表检定校准", "categoryCode": "metrology",
                               "pricingKind": "FROM", "priceYuan": str(item.price_yuan),
                               "turnaroundDays": 5}]
    assert entry["certificates"][0]["certificateNumber"] == "CNAS L1234"
    page = gql("""query($id: ID!) { institutionPage(id: $id) { items { id description scope fields } } }""",
               {"id": str(metrology.id)}, csrf=False)["data"]["institutionPage"]
    assert page["items"] == [{"id": str(item.id), "description": item.description, "scope": item.scope,
                              "fields": item.fields}]
    html = client.get("/directory?keyword=计量").get_data(as_text=True)  # the web listing, same rows
    assert f"<li>压力表检定校准 · {item.price_yuan} 元起</li>" in html
