"""The application factory."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from flask import Flask, current_app, has_request_context, render_template, request
from flask_babel import get_locale
from werkzeug.middleware.proxy_fix import ProxyFix

from core import logs, observability, ratelimit, tasks
from core.config import load_config
from core.db import db
from core.documents import storage as document_storage
from core.extensions import babel, csrf
from core.identity import auth
from core.ids import IdConverter
from core.plugins import plugins

TRANSLATIONS_DIR = Path(__file__).parent / "translations"


def _select_locale() -> str:
    """Chinese first; the `lang` cookie (set by /lang/<code>) switches. CLI and tasks: Chinese."""
    wanted = request.cookies.get("lang", "") if has_request_context() else ""
    return wanted if wanted in current_app.config["QI_LANGUAGES"] else "zh_CN"


def _default_instance_path() -> str:
    return os.environ.get("QI_INSTANCE_PATH") or str(Path(__file__).resolve().parent.parent / "instance")


def create_app(
    config: Mapping[str, Any] | None = None, *, extra_plugins: Iterable[object] = ()
) -> Flask:
    """Build the platform. `config` overrides what the environment says; `extra_plugins` are
    registered beside the entry-point plugins (tests use it to add a plugin for one app)."""
    instance_path = Path((config or {}).get("INSTANCE_PATH") or _default_instance_path())
    # static_folder=None: the web blueprint serves /static; an app-level route would shadow it.
    app = Flask("core", instance_path=str(instance_path), static_folder=None)
    # Before any route: every `<int:…>` is a bounded ASCII id (core/ids.py), so a huge or odd
    # number in a URL is 404 instead of PostgreSQL's `integer out of range` (SECURITY.md 9).
    app.url_map.converters["int"] = IdConverter
    app.config.update(load_config(instance_path, overrides=config))
    logs.init_app(app)
    observability.init_app(app)  # first: request ids, metrics, /healthz /readyz /metrics

    db.init_app(app)
    document_storage.init_app(app)
    auth.init_app(app)
    ratelimit.init_app(app)
    csrf.init_app(app)
    babel.init_app(
        app,
        locale_selector=_select_locale,
        default_translation_directories=str(TRANSLATIONS_DIR),
    )
    plugins.init_app(app, extra_plugins)

    from api.view import init_app as init_graphql
    from core.assessment.dashboard import bp as assessment_dashboard_bp
    from core.assessment.views import bp as assessment_bp
    from core.case_reports.views import bp as case_reports_bp
    from core.catalogue.views import bp as catalogue_bp
    from core.complaints.views import bp as complaints_bp
    from core.consultations.views import bp as consultations_bp
    from core.demands.views import bp as demands_bp
    from core.documents.views import bp as documents_bp
    from core.identity.views import bp as identity_bp
    from core.onboarding import review_views  # noqa: F401 (its routes join the onboarding blueprint)
    from core.onboarding.views import bp as onboarding_bp
    from core.orders.views import bp as orders_bp
    from core.reviews.views import bp as reviews_bp
    from core.visibility.views import bp as visibility_bp
    from core.web.views import bp as web_bp

    app.register_blueprint(web_bp)
    app.register_blueprint(assessment_bp)
    app.register_blueprint(assessment_dashboard_bp)
    app.register_blueprint(identity_bp)
    app.register_blueprint(documents_bp)
    app.register_blueprint(onboarding_bp)
    app.register_blueprint(catalogue_bp)
    app.register_blueprint(consultations_bp)
    app.register_blueprint(demands_bp)
    app.register_blueprint(visibility_bp)
    app.register_blueprint(case_reports_bp)
    app.register_blueprint(complaints_bp)
    app.register_blueprint(orders_bp)
    app.register_blueprint(reviews_bp)
    for batch in plugins.manager_for(app).hook.register_blueprints():
        for blueprint in batch:
            app.register_blueprint(blueprint)
    init_graphql(app, csrf)

    from core.cli import register_commands

    register_commands(app)
    _register_error_pages(app)
    app.after_request(_security_headers)
    tasks.init_app(app)
    hops = int(app.config["PROXY_TRUSTED_HOPS"])
    if hops:  # behind n proxies: the client's address, scheme and host come from their headers
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)

    @app.context_processor
    def _globals() -> dict[str, Any]:
        from core.identity.labels import role_label

        return {
            "platform_name": app.config["QI_PLATFORM_NAME"],
            "role_label": role_label,
            "get_locale": get_locale,
        }

    return app


def _security_headers(response):  # type: ignore[no-untyped-def]
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if request.path != "/graphql":  # GraphiQL (development only) loads its own scripts
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; frame-ancestors 'none'",
        )
    return response


def _register_error_pages(app: Flask) -> None:
    def page(code: int):  # type: ignore[no-untyped-def]
        def handler(_err):  # type: ignore[no-untyped-def]
            return render_template("error.html", code=code), code

        return handler

    for code in (400, 403, 404, 405, 413, 429, 500, 503):
        app.register_error_handler(code, page(code))
