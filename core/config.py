"""Configuration read from the environment when the app is created (never at import time).

Every setting has a default fit for the embedded single-machine setup (`make run`); production
(`QI_ENV=production`) refuses to start on settings that would be unsafe there.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# R-G-07: a platform name must not claim national scope.
FORBIDDEN_NAME_PARTS = ("国家", "中国", "全国")
DEFAULT_PLATFORM_NAME = "佛山市质量基础设施“一站式”服务平台"


class ConfigError(RuntimeError):
    """The configuration is unsafe or incomplete; the app refuses to start."""


def _int(env: Mapping[str, str], key: str, default: int) -> int:
    raw = env.get(key)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{key} must be an integer, got {raw!r}") from exc


def _bool(env: Mapping[str, str], key: str, default: bool = False) -> bool:
    raw = env.get(key)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def _secret_key(env: Mapping[str, str], instance_path: Path, production: bool) -> str:
    key = env.get("SECRET_KEY", "")
    if key:
        if production and len(key) < 32:
            raise ConfigError("SECRET_KEY must be at least 32 characters in production")
        return key
    if production:
        raise ConfigError("SECRET_KEY must be set in production")
    # Development: generate once and keep it, so sessions survive restarts.
    path = instance_path / "secret_key"
    if path.exists():
        return path.read_text().strip()
    instance_path.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.write_text(key)
    path.chmod(0o600)
    return key


def check_platform_name(name: str) -> None:
    """R-G-07: refuse a platform name containing 国家, 中国 or 全国."""
    for part in FORBIDDEN_NAME_PARTS:
        if part in name:
            raise ConfigError(
                f"QI_PLATFORM_NAME 不得含有“{part}”(R-G-07): 平台名称应为“地区+行业+质量基础设施"
                f"一站式服务平台”"
            )


def load_config(
    instance_path: Path, env: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Build the Flask config mapping from the environment, then apply `overrides`."""
    env = os.environ if env is None else env
    overrides = dict(overrides or {})
    qi_env = str(overrides.get("QI_ENV", env.get("QI_ENV", "development")))
    if qi_env not in {"development", "production"}:
        raise ConfigError(f"QI_ENV must be development or production, got {qi_env!r}")
    production = qi_env == "production"

    default_db = f"sqlite:///{instance_path / 'qi.db'}"
    default_storage = f"file://{instance_path / 'storage'}"
    cfg: dict[str, Any] = {
        "QI_ENV": qi_env,
        "DEBUG": _bool(env, "FLASK_DEBUG") or _bool(env, "QI_DEBUG"),
        "DATABASE_URL": env.get("DATABASE_URL") or default_db,
        "STORAGE_URL": env.get("STORAGE_URL") or default_storage,
        "CELERY_BROKER_URL": env.get("CELERY_BROKER_URL", ""),
        # Background work (core/tasks): without a broker, the in-process scheduler (`qi run`
        # starts it; QI_INLINE_SCHEDULER=1 elsewhere); the outbox sweep's period; Redis's
        # redelivery delay for a message whose worker vanished.
        "INLINE_SCHEDULER": _bool(env, "QI_INLINE_SCHEDULER"),
        "OUTBOX_SWEEP_SECONDS": _int(env, "QI_OUTBOX_SWEEP_SECONDS", 60),
        "CELERY_VISIBILITY_TIMEOUT": _int(env, "QI_CELERY_VISIBILITY_TIMEOUT", 3600),
        # Serving (core/observability): proxies trusted for X-Forwarded-For/-Proto/-Host (0: none),
        # who may read /metrics (CIDR list, or the bearer token), the /readyz deadline.
        "PROXY_TRUSTED_HOPS": _int(env, "QI_PROXY_TRUSTED_HOPS", 0),
        "METRICS_ALLOW": env.get("QI_METRICS_ALLOW", "127.0.0.1/32,::1/128"),
        "METRICS_TOKEN": env.get("QI_METRICS_TOKEN", ""),
        "READYZ_TIMEOUT_SECONDS": _int(env, "QI_READYZ_TIMEOUT_SECONDS", 3),
        "QI_PLATFORM_NAME": env.get("QI_PLATFORM_NAME") or DEFAULT_PLATFORM_NAME,
        # Category plugins switched off without uninstalling them (comma-separated entry points).
        "QI_DISABLED_PLUGINS": [n.strip() for n in env.get("QI_DISABLED_PLUGINS", "").split(",")
                                if n.strip()],
        # Identity (SECURITY.md 5-8); every number configurable.
        "LOGIN_MAX_FAILURES": _int(env, "QI_LOGIN_MAX_FAILURES", 5),
        "LOGIN_FAILURE_WINDOW_MINUTES": _int(env, "QI_LOGIN_FAILURE_WINDOW_MINUTES", 15),
        "LOGIN_LOCK_MINUTES": _int(env, "QI_LOGIN_LOCK_MINUTES", 15),
        "SESSION_IDLE_MINUTES": _int(env, "QI_SESSION_IDLE_MINUTES", 30),
        "PASSWORD_MIN_LENGTH": _int(env, "QI_PASSWORD_MIN_LENGTH", 8),
        "PASSWORD_MIN_CLASSES": _int(env, "QI_PASSWORD_MIN_CLASSES", 2),
        # Per-client-address limits, "attempts/seconds" or 0 (core/ratelimit.py), kept in the
        # shared Redis: REDIS_URL, else the broker's Redis, else in the process.
        "REDIS_URL": env.get("REDIS_URL", ""),
        "RATE_LIMIT_LOGIN": env.get("QI_RATE_LIMIT_LOGIN") or "20/600",  # failed logins
        "RATE_LIMIT_REGISTER": env.get("QI_RATE_LIMIT_REGISTER") or "30/3600",  # every attempt
        "RATE_LIMIT_PREFIX": env.get("QI_RATE_LIMIT_PREFIX") or "qi:rl:",
        # Argon2id hashes run at most this many at once per process (0: no bound); a request
        # that finds no free slot within the wait is answered 503 "busy, retry".
        "PASSWORD_HASH_CONCURRENCY": _int(env, "QI_PASSWORD_HASH_CONCURRENCY", 1),
        "PASSWORD_HASH_WAIT_MS": _int(env, "QI_PASSWORD_HASH_WAIT_MS", 2000),
        "API_TOKEN_DEFAULT_DAYS": _int(env, "QI_API_TOKEN_DEFAULT_DAYS", 90),
        "API_TOKEN_MAX_DAYS": _int(env, "QI_API_TOKEN_MAX_DAYS", 365),
        # GraphQL guard rails (SECURITY.md 11).
        "GRAPHQL_MAX_DEPTH": _int(env, "QI_GRAPHQL_MAX_DEPTH", 10),
        "GRAPHQL_MAX_ALIASES": _int(env, "QI_GRAPHQL_MAX_ALIASES", 15),
        "GRAPHQL_MAX_TOKENS": _int(env, "QI_GRAPHQL_MAX_TOKENS", 2000),
        # Uploads (SECURITY.md 1): the body limit is a little over the file limit for form fields.
        "UPLOAD_MAX_BYTES": _int(env, "QI_UPLOAD_MAX_MB", 20) * 1024 * 1024,
        "MAX_FORM_PARTS": _int(env, "QI_MAX_FORM_PARTS", 50),
        "UPLOAD_URL_MINUTES": _int(env, "QI_UPLOAD_URL_MINUTES", 10),
        # Onboarding (R-ONB-04, R-ONB-07).
        "MATERIALS_DEADLINE_WORKING_DAYS": _int(env, "QI_MATERIALS_DEADLINE_WORKING_DAYS", 15),
        "QI_CASES_REQUIRED": _int(env, "QI_CASES_REQUIRED", 1),  # R-ELIG-07 client cases
        "REMOVAL_LEGACY_DAYS": _int(env, "QI_REMOVAL_LEGACY_DAYS", 30),
        # Assessment item 9 (R-ASM-03) for an institution in several categories: the quota of its
        # "main" category, or the "highest" / "lowest" quota of its categories.
        "ASSESSMENT_QUOTA_RULE": env.get("QI_ASSESSMENT_QUOTA_RULE") or "main",
        # Documents: the "expiring" warning window and the orphan sweep's grace period.
        "CERT_EXPIRING_DAYS": _int(env, "QI_CERT_EXPIRING_DAYS", 30),
        "STORAGE_SWEEP_GRACE_HOURS": _int(env, "QI_STORAGE_SWEEP_GRACE_HOURS", 24),
        # Response SLA (R-OPS-03; docs/working-days.md): the service window in Asia/Shanghai
        # hours, and the non-working-day limit and how it is counted ("daytime" or "elapsed").
        "SERVICE_WINDOW_START_HOUR": _int(env, "QI_SERVICE_WINDOW_START_HOUR", 8),
        "SERVICE_WINDOW_END_HOUR": _int(env, "QI_SERVICE_WINDOW_END_HOUR", 18),
        "SLA_NON_WORKING_DAY_LIMIT_HOURS": _int(env, "QI_SLA_NON_WORKING_DAY_LIMIT_HOURS", 6),
        "SLA_NON_WORKING_DAY_COUNTING": env.get("QI_SLA_NON_WORKING_DAY_COUNTING") or "daytime",
        # Demands (R-G-02): how many institutions the platform proposes for one demand.
        "DEMAND_MATCH_LIMIT": _int(env, "QI_DEMAND_MATCH_LIMIT", 10),
        # Bad-review follow-ups (R-OPS-04): still OPEN this many working days after opening, the
        # institution is reminded once.
        "FOLLOW_UP_REMINDER_WORKING_DAYS": _int(env, "QI_FOLLOW_UP_REMINDER_WORKING_DAYS", 2),
        # Visibility and spot checks (core/visibility): months after going live before a homepage
        # without items or agents is hidden (R-OPS-05) and how often that is checked; working
        # days to complete the profile (R-OPS-01); institutions drawn per spot-check sample.
        "HOMEPAGE_GRACE_MONTHS": _int(env, "QI_HOMEPAGE_GRACE_MONTHS", 1),
        "VISIBILITY_RULES_SECONDS": _int(env, "QI_VISIBILITY_RULES_SECONDS", 900),
        "PROFILE_DEADLINE_WORKING_DAYS": _int(env, "QI_PROFILE_DEADLINE_WORKING_DAYS", 5),
        "SPOT_CHECK_SAMPLE_SIZE": _int(env, "QI_SPOT_CHECK_SAMPLE_SIZE", 5),
        # Notifications (SECURITY.md 16): SMS provider ("log" or "package.module:factory"), the SMS
        # signature 【…】, SMTP (no SMTP_HOST: e-mail off), outbox retries and the worker's lease.
        "SMS_PROVIDER": env.get("QI_SMS_PROVIDER") or "log",
        "SMS_SIGNATURE": env.get("QI_SMS_SIGNATURE") or "佛山企质通",
        "SMTP_HOST": env.get("QI_SMTP_HOST", ""),
        "SMTP_PORT": _int(env, "QI_SMTP_PORT", 25),
        "SMTP_USER": env.get("QI_SMTP_USER", ""),
        "SMTP_PASSWORD": env.get("QI_SMTP_PASSWORD", ""),
        "SMTP_FROM": env.get("QI_SMTP_FROM") or "noreply@localhost",
        "SMTP_STARTTLS": _bool(env, "QI_SMTP_STARTTLS"),
        "SMTP_TIMEOUT": _int(env, "QI_SMTP_TIMEOUT", 30),
        "NOTIFY_INLINE_DELIVERY": _bool(env, "QI_NOTIFY_INLINE_DELIVERY", True),
        "NOTIFY_MAX_ATTEMPTS": _int(env, "QI_NOTIFY_MAX_ATTEMPTS", 20),
        "NOTIFY_BACKOFF_BASE_SECONDS": _int(env, "QI_NOTIFY_BACKOFF_BASE_SECONDS", 30),
        "NOTIFY_BACKOFF_MAX_SECONDS": _int(env, "QI_NOTIFY_BACKOFF_MAX_SECONDS", 3600),
        "NOTIFY_LEASE_SECONDS": _int(env, "QI_NOTIFY_LEASE_SECONDS", 300),
        # Flask / cookies (SECURITY.md 8).
        "SESSION_COOKIE_NAME": "qi_session",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": production,
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SECURE": production,
        "WTF_CSRF_TIME_LIMIT": None,  # the token lives as long as the session does
        "BABEL_DEFAULT_LOCALE": "zh_CN",
        "BABEL_DEFAULT_TIMEZONE": "Asia/Shanghai",
        "QI_LANGUAGES": ["zh_CN", "en"],
    }
    cfg.update(overrides)
    cfg["MAX_CONTENT_LENGTH"] = cfg.get("MAX_CONTENT_LENGTH") or cfg["UPLOAD_MAX_BYTES"] + 256 * 1024
    if "SECRET_KEY" not in cfg:
        cfg["SECRET_KEY"] = _secret_key(env, instance_path, production)

    check_platform_name(cfg["QI_PLATFORM_NAME"])
    if cfg["QI_CASES_REQUIRED"] < 1:
        raise ConfigError("QI_CASES_REQUIRED must be at least 1")
    if production:
        if cfg["DEBUG"]:
            raise ConfigError("debug mode must be off in production (unset FLASK_DEBUG/QI_DEBUG)")
        if not cfg.get("SECRET_KEY"):
            raise ConfigError("SECRET_KEY must be set in production")
    return cfg
