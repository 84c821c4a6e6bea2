"""SECURITY.md 9 and robustness: an id that can name no row — "²" (a digit to `str.isdigit`, not
to `int`), past a 32-bit key, negative or zero — is "not found" on every web route and every
GraphQL field that takes one, never a server error or SQL text. On PostgreSQL a number past
2**31 - 1 used to reach SQL and fail with `integer out of range`: run this file there too.

The routes come from `app.url_map` and the fields from the composed schema (core and plugins),
so a new route or field is covered without touching this file.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    Undefined,
    get_named_type,
    is_list_type,
    is_non_null_type,
)
from werkzeug.routing import IntegerConverter

from core.catalogue.testing import add_item, listed_institution
from core.clock import local_today
from core.identity.models import Role, User
from core.ids import ID_MAX, PAGE_NUMBER_MAX, IdConverter, clamp_number, page_number, parse_id
from core.testing import TEST_PASSWORD

BAD_IDS = ("²", "99999999999999999999", "-1", "0")
WEB_BAD_IDS = (*BAD_IDS, str(ID_MAX + 1), "٣")  # one past the largest key; an Arabic-Indic 3
SERVER_ERROR_SIGNS = ("out of range", "psycopg", "sqlalchemy", "Traceback", "Unexpected error",
                      "invalid literal")


# ---------------------------------------------------------------- the one rule


def test_parse_id_takes_ascii_digits_naming_a_32_bit_key():
    assert parse_id("42") == 42 and parse_id(" 42 ") == 42 and parse_id(42) == 42
    assert parse_id(str(ID_MAX)) == ID_MAX == 2**31 - 1
    for bad in (*BAD_IDS, "", "  ", None, "abc", "4 2", "1_0", "+1", "٣", "1.0", "0x1",
                str(ID_MAX + 1), "1" * 5000, True, 0, -1, ID_MAX + 1, 4.0):
        assert parse_id(bad) is None, repr(bad)


def test_page_numbers_are_clamped_never_refused():
    assert page_number("3") == 3 and page_number(None) == 1 and page_number("") == 1
    for odd in ("²", "-1", "0", "abc", "1_0", "٣"):
        assert page_number(odd) == 1, odd
    assert page_number("99999999999999999999") == PAGE_NUMBER_MAX
    assert page_number("1" * 5000) == 1  # not a number we read: int() would raise on it
    assert page_number("0", first=0) == 0 and page_number("-5", first=0) == 0
    assert clamp_number("500", low=1, high=100, default=20) == 100
    assert clamp_number("x", low=1, high=100, default=20) == 20


def test_every_integer_in_a_url_is_a_bounded_id(app):
    """The app factory puts `IdConverter` behind `<int:…>`: no route escapes it, plugins' too."""
    found = [(rule.rule, name) for rule in app.url_map.iter_rules()
             for name, converter in rule._converters.items()  # werkzeug keeps them per rule
             if isinstance(converter, IntegerConverter)]
    assert len(found) > 40
    assert all(isinstance(rule._converters[name], IdConverter)
               for rule in app.url_map.iter_rules() for name in rule._converters
               if isinstance(rule._converters[name], IntegerConverter))


# ---------------------------------------------------------------- a world with one of each


class World:
    """A live lab with an item, its admin, an enterprise with a demand, an order and a
    consultation, and an operator: the ids a field needs besides the one under test."""

    def __init__(self, app: Any, make_user: Any) -> None:
        from core.consultations import service as consultations
        from core.demands import service as demands
        from core.enterprises.service import create_enterprise
        from core.orders import service as orders

        self.app = app
        self.lab, self.admin = listed_institution(make_user, "佛山市顺德区计量检测所",
                                                  categories=("metrology",))
        self.item = add_item(self.lab, "压力表计量校准", category="metrology",
                             fields={"measured_quantities": ["压力"], "uncertainty": "U=0.1%"})
        self.customer = make_user(Role.ENTERPRISE, name="何志强", phone="13631000001")
        create_enterprise({"name": "佛山市顺德区美达电器有限公司", "uscc": "91440606MA52K8RX8D",
                           "contactName": "何志强", "contactPhone": "13631000001"},
                          actor=self.customer)
        self.operator = make_user(Role.OPERATOR, name="运维中心 黄晓婷")
        self.demand = demands.post(actor=self.customer, category="metrology",
                                   title="压力表年度校准", description="车间压力表共40只需年度校准",
                                   budget="6000", deadline=local_today() + timedelta(days=10))
        self.order = orders.place(self.lab, title="压力表校准", actor=self.customer)
        self.consultation = consultations.ask(self.lab, subject="校准周期", body="多久能出证书？",
                                              actor=self.customer)
        self.valid = {"institutionId": self.lab.id, "demandId": self.demand.id,
                      "orderId": self.order.id, "consultationId": self.consultation.id,
                      "serviceItemId": self.item.id}

    def login(self, user: User) -> Any:
        client = self.app.test_client()
        token = client.post("/graphql", json={"query": "{ csrfToken }"}).get_json()
        body = client.post("/graphql", headers={"X-CSRFToken": token["data"]["csrfToken"]}, json={
            "query": "mutation($i: LoginInput!) { login(input: $i) { __typename } }",
            "variables": {"i": {"identifier": user.email, "password": TEST_PASSWORD}}}).get_json()
        assert body["data"]["login"]["__typename"] == "LoginSuccess", body
        client.csrf = client.post("/graphql", json={"query": "{ csrfToken }"}).get_json()[
            "data"]["csrfToken"]  # the session's token after login
        return client


@pytest.fixture
def world(app: Any, make_user: Any) -> World:
    return World(app, make_user)


# ---------------------------------------------------------------- every web route


def _routes_with_ids(app: Any) -> list[tuple[str, str, list[str]]]:
    """(rule, method, names of its id parts) for every route with an integer part."""
    found = []
    for rule in app.url_map.iter_rules():
        ids = [n for n, c in rule._converters.items() if isinstance(c, IntegerConverter)]
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}) if ids else ():
            found.append((rule.rule, method, ids))
    return found


def _url(rule: str, values: dict[str, str]) -> str:
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", lambda m: values.get(m.group(1), "x"), rule)


@pytest.mark.parametrize("bad", WEB_BAD_IDS)
def test_every_web_route_answers_an_impossible_id_with_404_SECURITY_9(world, bad):
    routes = _routes_with_ids(world.app)
    assert any(r.startswith("/orders/") for r, _m, _i in routes)
    client = world.login(world.operator)
    failures = []
    for rule, method, ids in routes:
        for name in ids:  # that part impossible, the others naming real rows
            url = _url(rule, {**{n: str(world.lab.id) for n in ids}, name: bad})
            response = client.open(url, method=method, data={"csrf_token": client.csrf},
                                   headers={"X-CSRFToken": client.csrf})
            if response.status_code != 404:
                failures.append((method, url, response.status_code))
    assert not failures, "\n".join(map(str, failures))


def test_every_web_route_answers_an_unknown_id_without_a_server_error(world):
    """The largest id that can exist (ID_MAX) reaches the views: they find no row, never fail."""
    client = world.login(world.operator)
    failures = []
    for rule, method, ids in _routes_with_ids(world.app):
        url = _url(rule, dict.fromkeys(ids, str(ID_MAX)))
        response = client.open(url, method=method, data={"csrf_token": client.csrf},
                               headers={"X-CSRFToken": client.csrf})
        text = response.get_data(as_text=True)
        if response.status_code >= 500 or any(s in text for s in SERVER_ERROR_SIGNS):
            failures.append((method, url, response.status_code))
    assert not failures, "\n".join(map(str, failures))


def test_huge_page_numbers_are_a_last_page_not_a_server_error(world):
    client = world.login(world.operator)
    lists = [r.rule for r in world.app.url_map.iter_rules()
             if "GET" in (r.methods or ()) and not r.arguments and not r.rule.startswith("/static")]
    failures = []
    for url in lists:
        for page in ("99999999999999999999", "²", "-1", "1" * 5000):
            response = client.get(url, query_string={"page": page, "per_page": page, "year": page})
            if response.status_code >= 500:
                failures.append((url, page, response.status_code))
    assert not failures, "\n".join(map(str, failures))


def test_ids_typed_into_forms_are_a_field_error_not_a_server_error(world):
    """Ids posted in a form (the item asked about, the responding institution) go through the
    same rule: the form comes back naming the field."""
    client = world.login(world.customer)
    url = f"/institutions/{world.lab.id}/consult"
    for bad in (*BAD_IDS, str(ID_MAX)):
        response = client.post(url, data={"subject": "校准周期", "body": "多久能出证书？",
                                           "service_item_id": bad, "csrf_token": client.csrf})
        assert response.status_code in (200, 400), (bad, response.status_code)
        assert 'id="service_item_id-error"' in response.get_data(as_text=True), bad
    staff = world.login(world.admin)
    for bad in (*BAD_IDS, str(ID_MAX)):
        response = staff.post(f"/demands/{world.demand.id}/respond", data={
            "institution_id": bad, "message": "可以承接", "csrf_token": staff.csrf})
        assert response.status_code == 403, (bad, response.status_code)  # not its institution


# ---------------------------------------------------------------- every GraphQL field


SCALAR_LITERALS = {"String": '"x"', "Int": "1", "Float": "1", "Boolean": "false",
                   "Date": '"2026-06-01"', "DateTime": '"2026-06-01T09:00:00+08:00"',
                   "Decimal": '"1"', "JSON": "{}"}


def _id_paths(type_: Any, prefix: str, seen: tuple[str, ...] = ()) -> list[str]:
    named = get_named_type(type_)
    if named.name == "ID":
        return [prefix]
    if isinstance(named, GraphQLInputObjectType) and named.name not in seen:
        return [p for n, f in named.fields.items()
                for p in _id_paths(f.type, f"{prefix}.{n}", (*seen, named.name))]
    return []


def _literal(type_: Any, path: str, target: str, bad: str, valid: dict[str, int]) -> str:
    """A GraphQL literal: `bad` at `target`, real ids or plain values for the required rest."""
    if is_non_null_type(type_):
        type_ = type_.of_type
    if is_list_type(type_):
        return "[" + _literal(type_.of_type, path, target, bad, valid) + "]"
    if type_.name == "ID":
        return json.dumps(bad if path == target else str(valid.get(path.rsplit(".", 1)[-1], 1)))
    if isinstance(type_, GraphQLEnumType):
        return next(iter(type_.values))
    if isinstance(type_, GraphQLInputObjectType):
        parts = [f"{name}: {_literal(f.type, f'{path}.{name}', target, bad, valid)}"
                 for name, f in type_.fields.items()
                 if f"{path}.{name}" == target or target.startswith(f"{path}.{name}.")
                 or (is_non_null_type(f.type) and f.default_value is Undefined)]
        return "{" + ", ".join(parts) + "}"
    return SCALAR_LITERALS[type_.name]


def _selection(schema: GraphQLSchema, type_: Any) -> str:
    named = get_named_type(type_)
    if not isinstance(named, GraphQLObjectType | GraphQLInterfaceType | GraphQLUnionType):
        return ""
    possible = (schema.get_possible_types(named)
                if isinstance(named, GraphQLInterfaceType | GraphQLUnionType) else [named])
    error = any(i.name == "UserError" for t in possible for i in t.interfaces)
    return " { __typename" + (" ... on UserError { code field }" if error else "") + " }"


def _cases(schema: GraphQLSchema, valid: dict[str, int]) -> list[tuple[str, str, str]]:
    """(operation, field, path) for every ID an operation's field takes, anywhere in its input."""
    cases = []
    for operation, root in (("query", schema.query_type), ("mutation", schema.mutation_type)):
        for name, field in root.fields.items() if root else ():
            for arg_name, arg in field.args.items():
                for path in _id_paths(arg.type, arg_name):
                    cases.append((operation, name, path))
    return cases


def _document(schema: GraphQLSchema, operation: str, name: str, path: str, bad: str,
              valid: dict[str, int]) -> str:
    root = schema.query_type if operation == "query" else schema.mutation_type
    field = root.fields[name]  # type: ignore[union-attr]
    args = [f"{a}: {_literal(arg.type, a, path, bad, valid)}" for a, arg in field.args.items()
            if a == path.split(".")[0] or (is_non_null_type(arg.type)
                                           and arg.default_value is Undefined)]
    call = f"{name}({', '.join(args)})" if args else name
    return f"{operation} {{ {call}{_selection(schema, field.type)} }}"


def test_every_graphql_field_answers_an_impossible_id_with_not_found_SECURITY_9(world):
    """Each role gets NOT_FOUND (or null, or an empty list), or PERMISSION_DENIED where it may
    not take the step at all; and for every field at least one role gets "not found", so the
    id itself was read and refused."""
    from api.view import current_schema

    schema = current_schema(world.app)._schema
    cases = _cases(schema, world.valid)
    assert ("mutation", "placeOrder", "input.enterpriseUserId") in cases
    assert any(name.startswith("equipmentSharing") for _o, name, _p in cases)  # plugins' too
    clients = {role: world.login(getattr(world, role)) for role in ("operator", "admin", "customer")}
    failures = []
    for operation, name, path in cases:
        for bad in BAD_IDS:
            document = _document(schema, operation, name, path, bad, world.valid)
            answers = {}
            for role, client in clients.items():
                response = client.post("/graphql", json={"query": document},
                                       headers={"X-CSRFToken": client.csrf})
                body = response.get_json() or {}
                value = (body.get("data") or {}).get(name)
                text = json.dumps(body, ensure_ascii=False)
                if response.status_code != 200 or "errors" in body or any(
                        s in text for s in SERVER_ERROR_SIGNS):
                    failures.append((role, name, path, bad, response.status_code, text[:300]))
                answers[role] = ("NOT_FOUND" if value is None or value == [] else
                                 value.get("code") if isinstance(value, dict) else repr(value))
            # The operator may act for an enterprise user; anybody else naming one is refused
            # before the id is looked up, whatever it is (R-G-08: no probing of user ids).
            expected = ({"operator": "NOT_FOUND", "admin": "PERMISSION_DENIED",
                         "customer": "PERMISSION_DENIED"} if path.endswith("enterpriseUserId")
                        else None)
            if (set(answers.values()) - {"NOT_FOUND", "PERMISSION_DENIED"}
                    or "NOT_FOUND" not in answers.values()
                    or (expected is not None and answers != expected)):
                failures.append((name, path, bad, answers))
    assert not failures, "\n".join(map(str, failures))
