"""Per-client-address rate limits (core/ratelimit.py; SECURITY.md 6, issue 7 "rate-limit counters
work across processes") and the bound on concurrent password hashes (core/identity/passwords.py).

- Failed logins count against the client's address whatever account they name, unknown ones
  included; past the limit the form answers 429 with Retry-After and a Chinese message, GraphQL
  `TryAgainLaterError` (RATE_LIMITED) for each alias over the limit; nothing is looked up or hashed
  and the refusal is audited. Successful logins are given back; other addresses are not affected.
- Registration attempts count too, successful or not.
- The client is who ProxyFix says behind trusted proxies; an X-Forwarded-For the app does not
  trust changes nothing (a script cannot rotate it to escape).
- With Redis (the real local server, a key prefix of the test's own) two app objects count
  together, as two instances do; the window slides.
- Without Redis the windows are kept in the process, and the start-up log says so; a Redis that
  does not answer lets attempts through with a warning (the account lock-out still holds).
- No free hashing slot: 503 / SERVICE_BUSY with Retry-After at once, nothing counted.
"""

from __future__ import annotations

import logging
import os
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from core.audit.models import AuditEvent
from core.config import ConfigError
from core.db import db
from core.identity import passwords
from core.identity.models import LoginFailure, Role, User
from core.testing import TEST_PASSWORD, IsolatedClient, need_server

THROTTLED = "尝试次数过多"
ATTACKER = {"REMOTE_ADDR": "198.51.100.7"}
NEIGHBOUR = {"REMOTE_ADDR": "198.51.100.8"}
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _csrf(client: Any, environ: dict[str, str] | None = None) -> str:
    html = client.get("/login", environ_base=environ or {}).get_data(as_text=True)
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


def _login(client: Any, identifier: str, password: str, environ: dict[str, str] | None = None,
           headers: dict[str, str] | None = None) -> Any:
    return client.post("/login", data={"identifier": identifier, "password": password,
                                       "csrf_token": _csrf(client, environ)},
                       environ_base=environ or {}, headers=headers or {})


def _count(model: Any, *where: Any) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0


@pytest.fixture
def shared_redis() -> Iterator[dict[str, str]]:
    """The local Redis with a key prefix no other test uses; the test's keys are deleted after.
    The config to give the apps that should share it."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.exceptions.RedisError as exc:
        need_server("Redis", f"{REDIS_URL}: {exc}")  # under CI=true: a failure
    prefix = f"qi-test:{uuid.uuid4().hex}:"
    try:
        yield {"REDIS_URL": REDIS_URL, "RATE_LIMIT_PREFIX": prefix}
    finally:
        for key in client.scan_iter(match=prefix + "*"):
            client.delete(key)
        client.close()


def _other_app(app_config: dict[str, Any], **overrides: Any) -> Flask:
    from core.app import create_app

    other = create_app({**app_config, **overrides})
    other.test_client_class = IsolatedClient
    return other


# ---------------------------------------------------------------- without Redis: in the process


def test_failed_logins_from_one_address_are_throttled_whatever_account_they_name(app, client,
                                                                                  make_user):
    app.config["RATE_LIMIT_LOGIN"] = "3/600"
    make_user(Role.ENTERPRISE, phone="13912345678")
    answers = [_login(client, ident, "Wrong-pass-1", ATTACKER).status_code
               for ident in ("13912345678", "nobody@example.cn", "13700000000")]
    assert answers == [200, 200, 200], "three failures are still answered as failures"

    refused = _login(client, "13912345678", TEST_PASSWORD, ATTACKER)
    assert refused.status_code == 429
    assert THROTTLED in refused.get_data(as_text=True)
    assert 1 <= int(refused.headers["Retry-After"]) <= 600
    # Refused before anything was looked up: no failure charged to the account, one audit row.
    assert _count(LoginFailure) == 1
    rows = db.session.scalars(select(AuditEvent.result).where(AuditEvent.action == "auth.login")
                              .order_by(AuditEvent.id)).all()
    assert rows == ["failed", "failed", "failed", "rate_limited"]

    # Another address is not affected.
    assert _login(client, "13912345678", TEST_PASSWORD, NEIGHBOUR).status_code == 302


def test_successful_logins_do_not_count_against_the_address(app, client, make_user):
    """An office behind one NAT address: many people logging in is not an attack."""
    app.config["RATE_LIMIT_LOGIN"] = "2/600"
    users = [make_user(Role.ENTERPRISE, email=f"staff{n}@example.cn") for n in range(4)]
    for user in users:
        assert _login(client, user.email, TEST_PASSWORD, ATTACKER).status_code == 302
    assert _login(client, users[0].email, "Wrong-pass-1", ATTACKER).status_code == 200


def test_graphql_aliases_each_count_and_the_refusal_is_typed_data(app, gql, make_user):
    """SECURITY.md 6: aliases batch inside one request, so the limit counts each alias."""
    app.config["RATE_LIMIT_LOGIN"] = "3/600"
    aliases = " ".join(
        f'a{i}: login(input: {{identifier: "stranger{i}@example.cn", password: "Wrong-{i}x"}}) '
        "{ __typename ... on UserError { code } ... on TryAgainLaterError { retryAfterSeconds } }"
        for i in range(5))
    token = gql.csrf_token()
    response = gql.client.post("/graphql", json={"query": f"mutation {{ {aliases} }}"},
                               headers={"X-CSRFToken": token})
    data = response.get_json()["data"]
    kinds = [data[f"a{i}"]["__typename"] for i in range(5)]
    assert kinds == ["AuthenticationFailedError"] * 3 + ["TryAgainLaterError"] * 2
    assert {data[f"a{i}"]["code"] for i in (3, 4)} == {"RATE_LIMITED"}
    assert 1 <= data["a3"]["retryAfterSeconds"] <= 600
    assert response.headers["Retry-After"] == str(data["a3"]["retryAfterSeconds"])


def test_registration_attempts_count_successful_or_not(app, client, gql):
    app.config["RATE_LIMIT_REGISTER"] = "2/3600"
    mutation = ("mutation($i: RegisterInput!) { register(input: $i) { __typename "
                "... on UserError { code message } } }")

    def register(email: str) -> dict[str, Any]:
        return gql(mutation, {"i": {"displayName": "张三", "password": TEST_PASSWORD,
                                    "role": "ENTERPRISE", "email": email}})["data"]["register"]

    assert register("first@example.cn")["__typename"] == "RegisterSuccess"
    assert register("first@example.cn")["code"] == "DUPLICATE"  # refused, and counted too
    refused = register("third@example.cn")
    assert refused["code"] == "RATE_LIMITED" and THROTTLED in refused["message"]
    assert _count(User, User.email == "third@example.cn") == 0


def test_web_registration_over_the_limit_is_429(app, client):
    app.config["RATE_LIMIT_REGISTER"] = "1/3600"
    for expected in (302, 429):
        html = client.get("/register").get_data(as_text=True)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
        response = client.post("/register", data={
            "csrf_token": token, "display_name": "李四", "role": "enterprise",
            "email": f"li{expected}@example.cn", "phone": "", "password": TEST_PASSWORD,
            "confirm": TEST_PASSWORD})
        assert response.status_code == expected, response.get_data(as_text=True)[:2000]
    assert THROTTLED in response.get_data(as_text=True)
    assert response.headers["Retry-After"]


@pytest.mark.parametrize("hops", [0, 1])
def test_the_address_is_the_one_trusted_proxies_name(app_config, caplog, hops):
    """Behind one trusted proxy each X-Forwarded-For client has its own window; with no trusted
    proxy the header is ignored, so rotating it does not escape the limit (and the refusal's log
    line points at the setting)."""
    other = _other_app(app_config, PROXY_TRUSTED_HOPS=hops, RATE_LIMIT_LOGIN="2/600")
    with other.app_context(), caplog.at_level(logging.WARNING, logger="core.ratelimit"):
        client = other.test_client()
        statuses = [_login(client, "nobody@example.cn", "Wrong-pass-1",
                           headers={"X-Forwarded-For": f"203.0.113.{n}"}).status_code
                    for n in range(1, 5)]
        db.session.close()
        db.engine.dispose()
    assert statuses == ([200] * 4 if hops else [200, 200, 429, 429])
    assert ("is QI_PROXY_TRUSTED_HOPS set" in caplog.text) == (not hops)


def test_an_ipv6_client_is_counted_by_its_64(app, client):
    app.config["RATE_LIMIT_LOGIN"] = "2/600"
    for host in ("2001:db8:1:2::1", "2001:db8:1:2:ffff::9"):
        assert _login(client, "x@example.cn", "Wrong-pass-1", {"REMOTE_ADDR": host}).status_code == 200
    assert _login(client, "x@example.cn", "Wrong-pass-1",
                  {"REMOTE_ADDR": "2001:db8:1:2::abcd"}).status_code == 429
    assert _login(client, "x@example.cn", "Wrong-pass-1",
                  {"REMOTE_ADDR": "2001:db8:1:3::1"}).status_code == 200


def test_start_up_says_where_the_windows_are_kept(app_config, caplog, shared_redis):
    from core.app import create_app

    with caplog.at_level(logging.INFO, logger="core.ratelimit"):
        create_app(app_config)
        create_app({**app_config, **shared_redis})
    messages = [r.getMessage() for r in caplog.records if r.name == "core.ratelimit"]
    assert "kept in this process only" in messages[0] and "login 20/600 s" in messages[0]
    assert "kept in Redis, shared by every instance" in messages[1]


def test_a_malformed_limit_refuses_to_start(app_config):
    from core.app import create_app

    with pytest.raises(ConfigError, match="QI_RATE_LIMIT_LOGIN must be"):
        create_app({**app_config, "RATE_LIMIT_LOGIN": "twenty a minute"})


# ---------------------------------------------------------------- with Redis: shared


def test_two_instances_sharing_redis_count_together(app, app_config, client, shared_redis):
    """Issue 7: a login throttled on one instance is throttled on the other. Failures alternate
    between two app objects (as a balancer spreads them); each alone saw only two."""
    app.config.update(shared_redis, RATE_LIMIT_LOGIN="4/600")
    other = _other_app(app_config, **shared_redis, RATE_LIMIT_LOGIN="4/600")
    other_client = other.test_client()
    statuses = []
    for n in range(4):
        on = client if n % 2 == 0 else other_client
        statuses.append(_login(on, f"unknown{n}@example.cn", "Wrong-pass-1", ATTACKER).status_code)
    assert statuses == [200] * 4
    for on in (client, other_client):
        refused = _login(on, "unknown@example.cn", "Wrong-pass-1", ATTACKER)
        assert refused.status_code == 429 and refused.headers["Retry-After"]
    assert _login(other_client, "unknown@example.cn", "Wrong-pass-1", NEIGHBOUR).status_code == 200
    with other.app_context():
        db.engine.dispose()


def test_the_redis_window_slides(app, client, shared_redis):
    import redis

    app.config.update(shared_redis, RATE_LIMIT_LOGIN="2/2")
    for _ in range(2):
        assert _login(client, "a@example.cn", "Wrong-pass-1", ATTACKER).status_code == 200
    refused = _login(client, "a@example.cn", "Wrong-pass-1", ATTACKER)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) <= 2
    key = f"{shared_redis['RATE_LIMIT_PREFIX']}login:198.51.100.7"
    server = redis.Redis.from_url(REDIS_URL)
    assert server.zcard(key) == 2, "the refused attempt is not counted"
    assert 0 < server.pttl(key) <= 2000, "the window expires on its own"
    time.sleep(2.1)
    assert _login(client, "a@example.cn", "Wrong-pass-1", ATTACKER).status_code == 200


def test_a_success_is_given_back_in_redis_too(app, client, make_user, shared_redis):
    import redis

    app.config.update(shared_redis, RATE_LIMIT_LOGIN="2/600")
    user = make_user(Role.ENTERPRISE)
    for _ in range(3):
        assert _login(client, user.email, TEST_PASSWORD, ATTACKER).status_code == 302
    key = f"{shared_redis['RATE_LIMIT_PREFIX']}login:198.51.100.7"
    assert redis.Redis.from_url(REDIS_URL).zcard(key) == 0


def test_an_unreachable_redis_lets_attempts_through_with_a_warning(app, client, caplog):
    """Fail open: the per-account lock-out (PostgreSQL) still holds; the log says why."""
    import socket

    with socket.socket() as sock:  # a port with nothing listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    app.config.update(REDIS_URL=f"redis://127.0.0.1:{port}/0", RATE_LIMIT_LOGIN="1/600")
    with caplog.at_level(logging.WARNING, logger="core.ratelimit"):
        statuses = [_login(client, "z@example.cn", "Wrong-pass-1", ATTACKER).status_code
                    for _ in range(3)]
    assert statuses == [200, 200, 200]
    warnings = [r.getMessage() for r in caplog.records if "not enforced" in r.getMessage()]
    assert len(warnings) == 1, "one warning a minute, not one per attempt"


# ---------------------------------------------------------------- hashing slots


@pytest.fixture
def one_hashing_slot(app: Flask) -> Iterator[None]:
    """One slot, a short wait, and the slot held by the test: every hash finds none free."""
    app.config.update(PASSWORD_HASH_CONCURRENCY=1, PASSWORD_HASH_WAIT_MS=50)
    with passwords.hashing_slot():
        yield


def test_no_free_hashing_slot_is_503_at_once_and_charges_nothing(app, client, make_user):
    user = make_user(Role.ENTERPRISE)
    app.config["RATE_LIMIT_LOGIN"] = "1/600"
    token = _csrf(client)
    app.config.update(PASSWORD_HASH_CONCURRENCY=1, PASSWORD_HASH_WAIT_MS=50)
    with passwords.hashing_slot():
        started = time.monotonic()
        responses = [client.post("/login", data={"identifier": user.email, "password": "Wrong-1a",
                                                 "csrf_token": token}) for _ in range(2)]
        elapsed = time.monotonic() - started
    for response in responses:
        assert response.status_code == 503
        assert response.headers["Retry-After"] == str(passwords.BUSY_RETRY_AFTER_SECONDS)
        assert "服务器繁忙" in response.get_data(as_text=True)
    assert elapsed < 2.0, "refused after the short wait, not after a hash"
    assert _count(LoginFailure) == 0, "no password was checked: nothing charged to the account"
    # Nor to the address: with the slot free again the limit of 1 still has its one attempt.
    assert _login(client, user.email, TEST_PASSWORD).status_code == 302


def test_no_free_hashing_slot_over_graphql_is_service_busy(app, gql, one_hashing_slot):
    body = gql(
        'mutation { login(input: {identifier: "a@example.cn", password: "Wrong-1a"}) '
        "{ __typename ... on TryAgainLaterError { code retryAfterSeconds } } }")
    assert body["data"]["login"] == {"__typename": "TryAgainLaterError", "code": "SERVICE_BUSY",
                                     "retryAfterSeconds": passwords.BUSY_RETRY_AFTER_SECONDS}


def test_slots_bound_concurrent_hashes(app):
    """Eight threads hashing through two slots: never more than two at once."""
    import threading

    app.config.update(PASSWORD_HASH_CONCURRENCY=2, PASSWORD_HASH_WAIT_MS=30_000)
    inside = peak = 0
    lock = threading.Lock()

    def work() -> None:
        nonlocal inside, peak
        with app.app_context(), passwords.hashing_slot():
            with lock:
                inside += 1
                peak = max(peak, inside)
            time.sleep(0.05)
            with lock:
                inside -= 1

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert peak == 2
