"""The testing (检验检测) plugin: a valid CMA certificate (R-ELIG-09), quota group A (R-ASM-03),
its service-item fields, and the scope annex searchable by standard number — the institutions'
qualifications as part of the platform's databases (R-G-01) — in its own table and migrations."""

from __future__ import annotations

import io
from datetime import date, timedelta
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select, text

from core import migrate
from core.audit.models import AuditEvent
from core.db import db, make_engine
from core.demo import sample_pdf
from core.documents import service as documents
from core.documents.models import Document
from core.errors import InvalidInput, PermissionDenied
from core.identity.models import Role, User
from core.institutions.models import Institution, InstitutionStatus, StaffRole
from core.institutions.service import add_staff, create_institution
from core.models import load_all_models
from core.onboarding import profile
from core.onboarding.eligibility import evaluate
from core.plugins import plugins
from core.service_fields import clean_item_values, item_fields
from core.testing import TEST_PASSWORD, GraphQLClient
from plugins.testing import scope

ON = date(2029, 6, 30)  # the day eligibility is evaluated for
PLUGIN = "testing"


# ---------------------------------------------------------------- helpers


def _institution(make_user: Any, name: str = "佛山市顺德区检测认证有限公司", *,
                 status: InstitutionStatus = InstitutionStatus.LIVE) -> tuple[Institution, User]:
    """An institution in the testing category with its administrator (no documents yet)."""
    admin = make_user(Role.INSTITUTION_ADMIN, name="陈晓峰")
    institution = create_institution(legal_name=name, uscc=None, admin=admin, status=status)
    items = [{"categoryCode": PLUGIN, "title": title, "description": "顺德家电企业常用检测项目"}
             for title in ("家用电器安全检测", "电器能效检测")]
    profile.set_categories(institution, categories=[PLUGIN], advantage_items=items,
                           main_category=PLUGIN, actor=admin)
    return institution, admin


def _upload_cma(institution: Institution, admin: User, valid_to: date) -> Document:
    meta = documents.validate_meta({
        "kind": "cma", "categoryCode": PLUGIN, "certificateNumber": "201919123456",
        "issuer": "广东省市场监督管理局", "validFrom": date(2023, 1, 1), "validTo": valid_to,
    }, institution)
    return documents.store_upload(institution, meta, io.BytesIO(sample_pdf("cma")),
                                  filename="cma.pdf", actor=admin)


def _result(institution: Institution, code: str, subject: str | None) -> Any:
    matches = [r for r in evaluate(institution, ON).results
               if r.code == code and r.subject == subject]
    assert len(matches) == 1, f"expected one {code} result about {subject}"
    return matches[0]


def _logged_in(app: Any, user: User) -> GraphQLClient:
    gql = GraphQLClient(app.test_client())
    body = gql("mutation($i: LoginInput!) { login(input: $i) { __typename } }",
               {"i": {"identifier": user.email, "password": TEST_PASSWORD}})
    assert body["data"]["login"]["__typename"] == "LoginSuccess", body
    return gql


ANNEX = [
    {"standardNumber": "GB/T 2828.1-2012", "standardTitle": "计数抽样检验程序 第1部分",
     "parameters": "抽样检验", "limits": "只做正常检验"},
    {"standardNumber": "gb/t2828.11—2008", "standardTitle": "计数抽样检验程序 第11部分"},
    {"standardNumber": "GB/T 2829-2002", "standardTitle": "周期检验计数抽样程序"},
    {"standardNumber": "GB 4706.1-2005", "standardTitle": "家用和类似用途电器的安全 第1部分：通用要求",
     "parameters": "对触及带电部件的防护；泄漏电流和电气强度"},
]


# ---------------------------------------------------------------- eligibility (R-ELIG-09)


@pytest.mark.parametrize(("valid_to", "passes"), [(ON, True), (ON - timedelta(days=1), False)])
def test_a_cma_certificate_valid_until_today_passes_until_yesterday_fails_R_ELIG_09(
        app, make_user, valid_to, passes):
    institution, admin = _institution(make_user)
    _upload_cma(institution, admin, valid_to)
    result = _result(institution, "R-ELIG-02", PLUGIN)
    assert result.passed is passes
    assert result.evidence["documents"][0]["valid_to"] == valid_to.isoformat()


def test_a_missing_cma_certificate_is_named_R_ELIG_09(app, make_user):
    institution, _admin = _institution(make_user)
    result = _result(institution, "R-ELIG-02", PLUGIN)
    assert not result.passed and "CMA" in result.message


# ---------------------------------------------------------------- quota and item fields


def test_testing_is_quota_group_a_rising_20_30_50_R_ASM_03(app):
    assert [plugins.quota(PLUGIN, year) for year in (1, 2, 3, 4)] == [20, 30, 50, 50]


def test_service_items_name_standards_sample_types_turnaround_and_sampling(app):
    fields = {f.name: f for f in item_fields(PLUGIN)}
    assert list(fields) == ["standards", "sample_types", "turnaround_days", "on_site_sampling"]
    assert fields["standards"].kind == "list" and fields["standards"].required
    assert fields["standards"].example == "GB/T 2828.1-2012"
    cleaned, problems = clean_item_values(PLUGIN, {
        "standards": "GB/T 2828.1-2012\nGB 4706.1-2005\n", "sample_types": ["家用电器", "电线电缆"],
        "turnaround_days": "7", "on_site_sampling": True})
    assert problems == []
    assert cleaned == {"standards": ["GB/T 2828.1-2012", "GB 4706.1-2005"],
                       "sample_types": ["家用电器", "电线电缆"], "turnaround_days": 7.0,
                       "on_site_sampling": True}
    _cleaned, problems = clean_item_values(PLUGIN, {"turnaround_days": "七天"})
    assert {p.field for p in problems} == {"fields.standards", "fields.sample_types",
                                           "fields.turnaround_days"}


# ---------------------------------------------------------------- the scope annex (R-G-01)


@pytest.mark.parametrize(("raw", "normalised"), [
    ("GB/T 2828.1-2012", "GB/T 2828.1-2012"),
    ("gb/t2828.1-2012", "GB/T 2828.1-2012"),
    ("  GB / T   2828.1 — 2012 ", "GB/T 2828.1-2012"),
    ("ＧＢ／Ｔ　２８２８．１－２０１２", "GB/T 2828.1-2012"),  # full-width, as pasted from a PDF
    ("GB4706.1–2005", "GB 4706.1-2005"),
    ("iso 9001:2015", "ISO 9001:2015"),
    ("JJG 1036-2008", "JJG 1036-2008"),
])
def test_standard_numbers_are_normalised(raw, normalised):
    assert scope.normalise_standard(raw) == normalised


def test_the_scope_annex_is_searchable_with_or_without_the_year_R_G_01(app, make_user):
    live, admin = _institution(make_user)
    entries = scope.add_scope_entries(live, ANNEX, actor=admin)
    assert [e.standard_number for e in entries] == [
        "GB/T 2828.1-2012", "GB/T 2828.11-2008", "GB/T 2829-2002", "GB 4706.1-2005"]
    applying, other_admin = _institution(make_user, "佛山市南海区质量检测有限公司",
                                         status=InstitutionStatus.DRAFT)
    scope.add_scope_entries(applying, [{"standardNumber": "GB/T 2828.1-2012"}], actor=other_admin)

    def numbers(query: str, viewer: User | None = None) -> list[tuple[int, str]]:
        return [(iid, e.standard_number) for iid, e in scope.search_scope(query, viewer=viewer)]

    assert numbers("GB/T 2828.1") == [(live.id, "GB/T 2828.1-2012")]  # not 2828.11, not a draft
    assert numbers("GB/T 2828.1-2012") == [(live.id, "GB/T 2828.1-2012")]
    assert numbers("gb/t 2828.1—2012") == [(live.id, "GB/T 2828.1-2012")]
    assert numbers("GB/T 2828.1-2003") == []  # another edition
    assert numbers("GB/T 2828") == [(live.id, "GB/T 2828.1-2012"), (live.id, "GB/T 2828.11-2008")]
    assert numbers("GB/T 282") == []  # a number is never cut in the middle
    assert numbers("GB/T 2828%") == [] and numbers("") == []
    # The applying institution's own staff and platform staff see its entries too.
    assert numbers("GB/T 2828.1", other_admin) == [(live.id, "GB/T 2828.1-2012"),
                                                   (applying.id, "GB/T 2828.1-2012")]
    assert len(numbers("GB/T 2828.1", make_user(Role.OPERATOR))) == 2
    assert len(scope.search_scope("GB", limit=2)) == 2


def test_only_the_institutions_administrator_adds_to_its_scope_and_it_is_audited(app, make_user):
    institution, admin = _institution(make_user)
    agent = make_user(Role.INSTITUTION_AGENT, name="客服 李敏")
    add_staff(institution, agent, StaffRole.AGENT, actor=admin)
    for outsider in (agent, make_user(Role.ENTERPRISE), None):
        with pytest.raises(PermissionDenied):
            scope.add_scope_entries(institution, ANNEX[:1], actor=outsider)
    scope.add_scope_entries(institution, ANNEX[:2], actor=admin)
    audits = list(db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "testing.scope_add").order_by(AuditEvent.id)))
    assert [a.result for a in audits] == ["denied", "denied", "denied", "success"]
    assert audits[-1].actor_id == admin.id
    assert [e["standard_number"] for e in audits[-1].after["entries"]] == [
        "GB/T 2828.1-2012", "GB/T 2828.11-2008"]


def test_every_problem_of_every_entry_is_reported_and_nothing_is_added(app, make_user):
    institution, admin = _institution(make_user)
    other, other_admin = _institution(make_user, "佛山市南海区质量检测有限公司")
    foreign_cma = _upload_cma(other, other_admin, date(2030, 1, 1))
    own_cma = _upload_cma(institution, admin, date(2030, 1, 1))
    with pytest.raises(InvalidInput) as refused:
        scope.add_scope_entries(institution, [
            {"standardNumber": "  "},
            {"standardNumber": "GB/T 2828.1-2012", "documentId": foreign_cma.id},
            {"standardNumber": "GB/T 2829-2002", "standardTitle": "周" * 301},
        ], actor=admin)
    assert [p.field for p in refused.value.problems] == [
        "entries[0].standardNumber", "entries[1].documentId", "entries[2].standardTitle"]
    assert scope.institution_scope(institution) == []
    (entry,) = scope.add_scope_entries(institution, [
        {"standardNumber": "GB/T 2828.1-2012", "documentId": own_cma.id}], actor=admin)
    assert entry.document_id == own_cma.id
    with pytest.raises(InvalidInput):
        scope.add_scope_entries(institution, [{"standardNumber": "GB 1"}] * 201, actor=admin)


SEARCH = """query($s: String!, $n: Int) { testingScopeSearch(standard: $s, first: $n) {
  institutionId institutionName standardNumber standardTitle parameters limits documentId } }"""
ADD = """mutation($id: ID!, $e: [TestingScopeEntryInput!]!) {
  addTestingScopeEntries(institutionId: $id, entries: $e) {
    __typename ... on UserError { code field }
    ... on TestingScopeEntriesSuccess { entries { standardNumber institutionName } } } }"""


def test_graphql_adds_entries_and_anybody_searches_them_R_G_01(app, make_user, gql):
    institution, admin = _institution(make_user)
    anonymous = gql(ADD, {"id": str(institution.id), "e": ANNEX})
    assert anonymous["data"]["addTestingScopeEntries"]["code"] == "NOT_AUTHENTICATED"
    enterprise = _logged_in(app, make_user(Role.ENTERPRISE))
    refused = enterprise(ADD, {"id": str(institution.id), "e": ANNEX})["data"]["addTestingScopeEntries"]
    assert refused == {"__typename": "PermissionDeniedError", "code": "PERMISSION_DENIED",
                       "field": None}
    as_admin = _logged_in(app, admin)
    missing = as_admin(ADD, {"id": "999999", "e": ANNEX})["data"]["addTestingScopeEntries"]
    assert missing["__typename"] == "NotFoundError"
    added = as_admin(ADD, {"id": str(institution.id), "e": ANNEX})["data"]["addTestingScopeEntries"]
    assert added["__typename"] == "TestingScopeEntriesSuccess"
    assert added["entries"][1] == {"standardNumber": "GB/T 2828.11-2008",
                                   "institutionName": "佛山市顺德区检测认证有限公司"}

    found = gql(SEARCH, {"s": "GB/T 2828.1"}, csrf=False)["data"]["testingScopeSearch"]
    assert found == [{"institutionId": str(institution.id), "institutionName": "佛山市顺德区检测认证有限公司",
                      "standardNumber": "GB/T 2828.1-2012", "standardTitle": "计数抽样检验程序 第1部分",
                      "parameters": "抽样检验", "limits": "只做正常检验", "documentId": None}]
    assert len(gql(SEARCH, {"s": "GB", "n": 1}, csrf=False)["data"]["testingScopeSearch"]) == 1
    assert gql(SEARCH, {"s": "GB", "n": -5}, csrf=False)["data"]["testingScopeSearch"] == []


def test_the_page_size_is_capped_at_100(app, make_user, gql):
    institution, admin = _institution(make_user)
    scope.add_scope_entries(institution, [{"standardNumber": f"GB/T 20000.{n}-2020"}
                                          for n in range(1, 121)], actor=admin)
    found = gql(SEARCH, {"s": "GB/T 20000", "n": 1000}, csrf=False)["data"]["testingScopeSearch"]
    assert len(found) == 100
    assert len(scope.search_scope("GB/T 20000", limit=1000)) == 100


# ---------------------------------------------------------------- migrations


def _plugin_tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return {t for t in inspect(engine).get_table_names() if t.startswith("testing_")}
    finally:
        engine.dispose()


def _version(url: str) -> list[str]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text("SELECT version_num FROM alembic_version_testing")).scalars())
    finally:
        engine.dispose()


def _roundtrip(url: str) -> None:
    """Upgrade everything, take the testing plugin down to base and up again; core stays."""
    (mine,) = [m for m in migrate.plugin_migrations() if m.name == PLUGIN]
    migrate.upgrade(url)
    assert _plugin_tables(url) == {"testing_scope_entry"}
    assert _version(url) == ["t0001"]
    command.downgrade(migrate.alembic_config(url, mine), "base")
    assert _plugin_tables(url) == set()
    assert _version(url) == []
    assert migrate.current_revision(url) is not None  # core untouched
    command.upgrade(migrate.alembic_config(url, mine), "head")
    assert _plugin_tables(url) == {"testing_scope_entry"} and _version(url) == ["t0001"]
    migrate.downgrade(url, "base")
    assert _plugin_tables(url) == set()


def test_the_plugin_migrates_up_and_down_on_its_own_on_sqlite(tmp_path):
    _roundtrip(f"sqlite:///{tmp_path / 'testing.sqlite'}")


@pytest.mark.postgres
def test_the_plugin_migrates_up_and_down_on_its_own_on_postgresql(scratch_postgres):
    _roundtrip(scratch_postgres)


def test_the_migrated_tables_are_exactly_the_plugins_models(database_url):
    metadata = load_all_models()
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={
                "compare_type": True, "include_object": migrate.include_for(PLUGIN)})
            diff = compare_metadata(context, metadata)
    finally:
        engine.dispose()
    assert diff == [], f"testing's models and migrations differ; add a migration: {diff}"
    assert migrate.owner(metadata.tables["testing_scope_entry"]) == PLUGIN
