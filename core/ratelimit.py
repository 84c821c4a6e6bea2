"""Per-client-address rate limits on the endpoints a script would hammer.

The per-account lock-out (`core.identity.service.authenticate`, rows in PostgreSQL) stops
guessing one account's password; it does nothing against one address trying a password on many
accounts, or unknown identifiers, or creating accounts by the hundred. These limits do:

- `login`: failed password checks (the form, the GraphQL `login` mutation and each of its
  aliases, `issueApiToken`); an attempt that succeeds is given back, so an office behind one NAT
  address is not throttled by its own successful logins;
- `register`: every registration attempt, successful or not (a failed one tells whether an
  address or number is registered already).

Each limit is "N per S seconds" (`QI_RATE_LIMIT_LOGIN=20/600`; `0` switches it off), counted in a
sliding window per client address (an IPv6 client by its /64, which one subscriber gets whole).
The address is `request.remote_addr`, which is the client's own behind a proxy only when
`QI_PROXY_TRUSTED_HOPS` says how many proxies to believe (ProxyFix).

The windows live in the shared Redis (`core.shared_redis`), so every instance counts together:
one sorted set per action and address, updated by a Lua script (atomic, and timed by Redis's
clock, not by the hosts' own). Without Redis (the embedded `make run`) the windows are kept in
the process, which is right for one process and is said in a log line at start. If Redis stops
answering, attempts are let through (the account lock-out still holds) and a warning is logged.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, current_app, g, has_request_context, request
from flask_babel import gettext as _

from core.config import ConfigError
from core.errors import RateLimited
from core.shared_redis import redis_client, redis_url

log = logging.getLogger("core.ratelimit")

# action -> the config key of its limit
LIMITS = {"login": "RATE_LIMIT_LOGIN", "register": "RATE_LIMIT_REGISTER"}
_LOCAL = "qi.ratelimit.local"
_WARNED = "qi.ratelimit.warned_at"
_SCRIPT_KEY = "qi.ratelimit.script"
_RETRY_AFTER = "qi_retry_after"

# KEYS[1]: the window (a sorted set of attempt ids scored by milliseconds);
# ARGV: limit, window in ms, this attempt's id. Returns {1, 0} when the attempt is counted,
# {0, ms until the oldest attempt leaves the window} when it is refused (and not counted).
_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, tonumber(oldest[2]) + window - now}
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], window)
return {1, 0}
"""


@dataclass(frozen=True)
class Limit:
    count: int
    seconds: int


def parse_limit(key: str, raw: str) -> Limit | None:
    """`"20/600"` is 20 attempts per 600 seconds; `"0"`, `"off"` or empty: no limit."""
    text = str(raw).strip().lower()
    if text in {"", "0", "off"}:
        return None
    count, sep, seconds = text.partition("/")
    try:
        limit = Limit(int(count), int(seconds)) if sep else None
    except ValueError:
        limit = None
    if limit is None or limit.count < 1 or limit.seconds < 1:
        raise ConfigError(f"QI_{key} must be 'attempts/seconds' like 20/600, or 0 for no limit; "
                          f"got {raw!r}")
    return limit


@dataclass(frozen=True)
class Ticket:
    """One counted attempt, to give back (`refund`) when it turns out not to count."""

    key: str
    member: str


def client_key() -> str:
    """The client's address as the limits count it: IPv4 whole, IPv6 by its /64."""
    raw = request.remote_addr or "unknown"
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        return raw[:64]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:  # ::ffff:a.b.c.d is an IPv4 client
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def hit(action: str) -> Ticket | None:
    """Count an attempt at `action` from this request's client, or raise `RateLimited`.

    Returns None when nothing was counted (no request, no limit, Redis unreachable)."""
    if not has_request_context():
        return None  # the CLI and jobs are not clients
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    limit = parse_limit(LIMITS[action], app.config[LIMITS[action]])
    if limit is None:
        return None
    ticket = Ticket(f"{app.config['RATE_LIMIT_PREFIX']}{action}:{client_key()}", secrets.token_hex(8))
    client = redis_client(app)
    if client is None:
        retry_ms = _local_window(app).hit(ticket, limit)
    else:
        try:
            allowed, retry_ms = _script(app, client)(
                keys=[ticket.key], args=[limit.count, limit.seconds * 1000, ticket.member])
        except Exception as exc:  # redis.RedisError and socket errors: fail open
            _warn_unreachable(app, exc)
            return None
        retry_ms = 0 if allowed else int(retry_ms)
    if retry_ms:
        _refuse(app, action, max(1, math.ceil(retry_ms / 1000)))
    return ticket


def _script(app: Flask, client: Any) -> Any:
    """The window script bound to `client` (redis-py sends it by SHA, loading it when missing)."""
    cached = app.extensions.get(_SCRIPT_KEY)
    if cached is None or cached[0] is not client:
        cached = app.extensions[_SCRIPT_KEY] = (client, client.register_script(_SCRIPT))
    return cached[1]


def refund(ticket: Ticket | None) -> None:
    """Give an attempt back: it succeeded, or it never got as far as checking anything."""
    if ticket is None:
        return
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    client = redis_client(app)
    if client is None:
        _local_window(app).refund(ticket)
        return
    try:
        client.zrem(ticket.key, ticket.member)
    except Exception as exc:
        _warn_unreachable(app, exc)


def note_retry_after(seconds: int) -> None:
    """Send `Retry-After: seconds` with this request's response (GraphQL answers 200 with the
    refusal as data; the header still tells a client when to come back)."""
    if has_request_context():
        g.setdefault(_RETRY_AFTER, seconds)


def _refuse(app: Flask, action: str, seconds: int) -> None:
    from core.observability import metrics

    note_retry_after(seconds)
    metrics.record_refusal(app, "rate_limited", action)
    hint = ""
    if "X-Forwarded-For" in request.headers and not app.config.get("PROXY_TRUSTED_HOPS"):
        # Behind a proxy the app was not told about, every client has the proxy's address.
        hint = " (X-Forwarded-For ignored: is QI_PROXY_TRUSTED_HOPS set for the proxy?)"
    log.warning("rate limit: %s refused for %s, retry after %d s%s", action, client_key(), seconds,
                hint)
    raise RateLimited(
        _("Too many attempts from your network. Try again in %(n)d seconds.", n=seconds),
        retry_after=seconds)


def _warn_unreachable(app: Flask, exc: Exception) -> None:
    # At most one warning a minute per process: an attack during an outage must not flood the log.
    now = time.monotonic()
    if now - app.extensions.get(_WARNED, -math.inf) >= 60:
        app.extensions[_WARNED] = now
        log.warning("rate limits not enforced: Redis unreachable (%s: %s)", type(exc).__name__, exc)


class LocalWindows:
    """The same sliding windows in this process's memory (no shared Redis)."""

    MAX_KEYS = 100_000  # beyond this many addresses, idle windows are dropped

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._windows: dict[str, deque[tuple[float, str]]] = {}

    def hit(self, ticket: Ticket, limit: Limit) -> int:
        """0 when counted, else the milliseconds until a slot frees."""
        now = time.monotonic()
        with self._lock:
            window = self._windows.setdefault(ticket.key, deque())
            while window and window[0][0] <= now - limit.seconds:
                window.popleft()
            if len(window) >= limit.count:
                return max(1, math.ceil((window[0][0] + limit.seconds - now) * 1000))
            window.append((now, ticket.member))
            if len(self._windows) > self.MAX_KEYS:
                self._drop_idle(now, limit.seconds)
            return 0

    def refund(self, ticket: Ticket) -> None:
        with self._lock:
            window = self._windows.get(ticket.key)
            if window:
                for entry in window:
                    if entry[1] == ticket.member:
                        window.remove(entry)
                        break

    def _drop_idle(self, now: float, seconds: int) -> None:
        for key in [k for k, w in self._windows.items() if not w or w[-1][0] <= now - seconds]:
            del self._windows[key]


def _local_window(app: Flask) -> LocalWindows:
    return app.extensions[_LOCAL]  # type: ignore[no-any-return]


def _retry_after_header(response: Response) -> Response:
    seconds = g.get(_RETRY_AFTER)
    if seconds:
        response.headers["Retry-After"] = str(seconds)
    return response


def init_app(app: Flask) -> None:
    """Check the limits' syntax (refusing to start on a malformed one) and say where the windows
    are kept."""
    limits = {action: parse_limit(key, app.config[key]) for action, key in LIMITS.items()}
    app.extensions[_LOCAL] = LocalWindows()
    app.after_request(_retry_after_header)
    described = ", ".join(f"{a} {lim.count}/{lim.seconds} s" if lim else f"{a} off"
                          for a, lim in limits.items())
    url = redis_url(app)
    if url:
        log.info("rate limits (%s) kept in Redis, shared by every instance", described)
    else:
        log.warning("rate limits (%s) kept in this process only: no REDIS_URL and no Redis broker; "
                    "every process counts on its own", described)
