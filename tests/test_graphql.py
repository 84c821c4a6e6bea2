"""The GraphQL endpoint: contract, auth mutations, guard rails (SECURITY.md 6, 11, 12)."""

from __future__ import annotations

from pathlib import Path

import pytest
import strawberry
from sqlalchemy import func, select

from core.audit.models import AuditEvent
from core.db import db
from core.hookspecs import hookimpl
from core.identity.models import Role
from core.testing import TEST_PASSWORD

LOGIN = """mutation($i: LoginInput!) { login(input: $i) {
  __typename
  ... on LoginSuccess { user { id roles } }
  ... on UserError { code message field }
  ... on AccountLockedError { retryAfter }
} }"""


def test_viewer_and_categories_answer_with_the_five_categories(gql):
    body = gql("{ viewer { id } categories { code name } }", csrf=False)
    assert body["data"]["viewer"] is None
    assert [c["code"] for c in body["data"]["categories"]][:5] == [
        "metrology", "testing", "certification", "ip", "equipment_sharing"]
    assert body["data"]["categories"][0]["name"] == "计量"


def test_register_login_and_viewer_over_graphql(gql):
    register = gql("""mutation { register(input: {displayName: "佛山美达电器 何志强",
        phone: "13631000001", password: "Meida-2026", role: ENTERPRISE}) {
        __typename ... on RegisterSuccess { user { id roles } } } }""")
    assert register["data"]["register"]["__typename"] == "RegisterSuccess"
    login = gql(LOGIN, {"i": {"identifier": "13631000001", "password": "Meida-2026"}})
    assert login["data"]["login"]["__typename"] == "LoginSuccess"
    viewer = gql("{ viewer { displayName roles phone } }", csrf=False)["data"]["viewer"]
    assert viewer == {"displayName": "佛山美达电器 何志强", "roles": ["ENTERPRISE"],
                      "phone": "13631000001"}


def test_invalid_registration_is_typed_data_naming_every_field(gql):
    body = gql("""mutation { register(input: {displayName: "", phone: "123", password: "short",
        role: REGULATOR}) { __typename ... on InvalidInputError { code problems { field code } } } }""")
    result = body["data"]["register"]
    assert result["__typename"] == "InvalidInputError"
    fields = {p["field"] for p in result["problems"]}
    assert {"role"} <= fields or {"displayName", "phone", "password"} <= fields


def test_logout_over_graphql_ends_the_session(gql, make_user):
    make_user(Role.ENTERPRISE, phone="13912345678")
    gql(LOGIN, {"i": {"identifier": "13912345678", "password": TEST_PASSWORD}})
    out = gql("mutation { logout { __typename } }")
    assert out["data"]["logout"]["__typename"] == "LogoutSuccess"
    assert gql("{ viewer { id } }", csrf=False)["data"]["viewer"] is None


def test_aliases_cannot_multiply_login_attempts(gql, make_user):
    """SECURITY.md 6: aliases batch inside one request; each counts as one attempt."""
    make_user(Role.ENTERPRISE, phone="13912345678")
    aliases = " ".join(
        f'a{i}: login(input: {{identifier: "13912345678", password: "Wrong-{i}x"}}) '
        "{ __typename }" for i in range(10))
    body = gql(f"mutation {{ {aliases} }}")
    kinds = [body["data"][f"a{i}"]["__typename"] for i in range(10)]
    assert kinds[:4] == ["AuthenticationFailedError"] * 4
    assert set(kinds[4:]) == {"AccountLockedError"}
    right = gql(LOGIN, {"i": {"identifier": "13912345678", "password": TEST_PASSWORD}})
    assert right["data"]["login"]["__typename"] == "AccountLockedError"
    assert right["data"]["login"]["retryAfter"]
    attempts = db.session.scalar(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "auth.login"))
    assert attempts == 11


def test_cookie_authenticated_mutation_without_csrf_token_is_refused(gql, make_user):
    make_user(Role.ENTERPRISE, phone="13912345678")
    gql(LOGIN, {"i": {"identifier": "13912345678", "password": TEST_PASSWORD}})
    body = gql('mutation { issueApiToken(input: {name: "x", password: "%s"}) { __typename } }'
               % TEST_PASSWORD, csrf=False)
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "CSRF_FAILED"
    with_token = gql('mutation { issueApiToken(input: {name: "x", password: "%s"}) { __typename } }'
                     % TEST_PASSWORD)
    assert with_token["data"]["issueApiToken"]["__typename"] == "IssueApiTokenSuccess"


def test_bearer_client_needs_no_csrf_and_can_revoke_its_token(app, make_user):
    make_user(Role.ENTERPRISE, phone="13912345678")
    client = app.test_client()  # no cookie at all, as a mobile app
    issued = client.post("/graphql", json={"query": """mutation { issueApiToken(input: {
        name: "企业小程序", identifier: "13912345678", password: "%s", expiresInDays: 7}) {
        ... on IssueApiTokenSuccess { token apiToken { id expiresAt } } } }""" % TEST_PASSWORD}
    ).get_json()["data"]["issueApiToken"]
    headers = {"Authorization": f"Bearer {issued['token']}"}
    assert client.get_cookie("qi_session") is None
    viewer = client.post("/graphql", json={"query": "{ viewer { apiTokens { name prefix } } }"},
                         headers=headers).get_json()["data"]["viewer"]
    assert viewer["apiTokens"][0]["name"] == "企业小程序"
    assert issued["token"] not in str(viewer)
    revoke = client.post("/graphql", headers=headers, json={
        "query": 'mutation { revokeApiToken(id: "%s") { __typename } }' % issued["apiToken"]["id"]})
    assert revoke.get_json()["data"]["revokeApiToken"]["__typename"] == "RevokeApiTokenSuccess"
    after = client.post("/graphql", json={"query": "{ viewer { id } }"}, headers=headers)
    assert after.get_json()["data"]["viewer"] is None


def test_someone_elses_token_cannot_be_revoked(app, gql, make_user):
    from core.identity import service

    owner = make_user(Role.ENTERPRISE)
    token, _raw = service.issue_token(owner, name="别人的")
    make_user(Role.ENTERPRISE, phone="13912345678")
    gql(LOGIN, {"i": {"identifier": "13912345678", "password": TEST_PASSWORD}})
    body = gql('mutation { revokeApiToken(id: "%d") { __typename ... on UserError { code } } }'
               % token.id)
    assert body["data"]["revokeApiToken"] == {"__typename": "NotFoundError", "code": "NOT_FOUND"}


@strawberry.type
class Chain:
    """A recursive type only a test plugin adds: the core schema has no cycle deep enough."""

    @strawberry.field
    def next(self) -> Chain:
        return Chain()

    @strawberry.field
    def label(self) -> str:
        return "链"


@strawberry.type
class ChainQuery:
    @strawberry.field
    def test_chain(self) -> Chain:
        return Chain()


class ChainPlugin:
    @hookimpl
    def graphql_query_types(self):
        return [ChainQuery]


def test_a_query_nested_20_levels_is_refused(gql, register_plugin):
    register_plugin(ChainPlugin())
    nine = "testChain { " + "next { " * 8 + "label" + " }" * 9
    assert gql("{ %s }" % nine, csrf=False)["data"] is not None
    twenty = "testChain { " + "next { " * 19 + "label" + " }" * 20
    body = gql("{ %s }" % twenty, csrf=False)
    assert body["data"] is None
    assert "exceeds maximum operation depth of 10" in body["errors"][0]["message"]


def test_too_many_aliases_and_tokens_are_refused(gql):
    aliases = " ".join(f"c{i}: categories {{ code }}" for i in range(16))
    body = gql("{ %s }" % aliases, csrf=False)
    assert body["data"] is None and "aliases" in body["errors"][0]["message"].lower()
    many = " ".join(["code"] * 2100)
    body = gql("{ categories { %s } }" % many, csrf=False)
    assert body["data"] is None and "token" in body["errors"][0]["message"].lower()


def test_batched_arrays_and_mutations_over_get_are_refused(client):
    batch = client.post("/graphql", json=[{"query": "{ viewer { id } }"}] * 2)
    assert batch.status_code == 400
    get = client.get("/graphql", query_string={"query": "mutation { logout { __typename } }"})
    assert get.status_code in (400, 405)


@pytest.fixture
def production_client(app_config):
    from core.app import create_app
    from core.testing import IsolatedClient

    app_config.update(QI_ENV="production")
    prod = create_app(app_config)
    prod.test_client_class = IsolatedClient
    return prod.test_client()


def test_production_refuses_introspection_and_serves_no_graphiql(production_client):
    body = production_client.post("/graphql", json={"query": "{ __schema { types { name } } }"})
    assert body.get_json()["data"] is None
    assert "introspection" in body.get_json()["errors"][0]["message"].lower()
    ide = production_client.get("/graphql", headers={"Accept": "text/html"})
    assert ide.status_code != 200 or b"graphiql" not in ide.data.lower()
    ok = production_client.post("/graphql", json={"query": "{ categories { code } }"})
    assert len(ok.get_json()["data"]["categories"]) >= 5


def test_development_serves_graphiql(client):
    page = client.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200 and b"graphiql" in page.data.lower()


def test_exported_schema_matches_the_code(app):
    """`qi export-schema` writes graphql/schema.graphql; this fails when it drifts."""
    from core.cli import SCHEMA_PATH, schema_sdl

    assert Path(SCHEMA_PATH).read_text() == schema_sdl(app), "run `make schema` and commit"


def test_front_end_operations_are_valid_against_the_schema(app):
    """Every document in graphql/operations/ validates against the served schema."""
    from graphql import parse, validate

    from api.view import current_schema

    folder = Path(__file__).resolve().parent.parent / "graphql" / "operations"
    files = sorted(folder.glob("*.graphql"))
    assert files
    for path in files:
        errors = validate(current_schema(app)._schema, parse(path.read_text()))
        assert errors == [], f"{path.name}: {errors}"
