"""The Flask view serving /graphql."""

from __future__ import annotations

from typing import Any

import strawberry
from flask import Flask, Response, current_app
from flask_wtf.csrf import CSRFProtect
from strawberry.flask.views import GraphQLView

from api.schema import build_schema
from core.plugins import plugins

_SCHEMA = "qi.graphql_schema"
_VIEW = "qi.graphql_view"


def current_schema(app: Flask | None = None) -> strawberry.Schema:
    """The app's schema, composed on first use from core and every registered plugin."""
    app = app or current_app
    schema = app.extensions.get(_SCHEMA)
    if schema is None:
        with app.app_context():
            schema = app.extensions[_SCHEMA] = build_schema(plugins.pm, app.config)
    return schema


def reset_schema(app: Flask) -> None:
    """Forget the composed schema, so plugins registered since are included (tests use it)."""
    app.extensions.pop(_SCHEMA, None)
    app.extensions.pop(_VIEW, None)


def _view(app: Flask) -> Any:
    view = app.extensions.get(_VIEW)
    if view is None:
        development = app.config["QI_ENV"] == "development"
        view = app.extensions[_VIEW] = GraphQLView.as_view(
            "graphql_inner",
            schema=current_schema(app),
            graphql_ide="graphiql" if development else None,
            allow_queries_via_get=development,  # GraphiQL needs GET; mutations over GET are refused
            multipart_uploads_enabled=False,  # CVE-2024-47082: files never travel through GraphQL
        )
    return view


def init_app(app: Flask, csrf: CSRFProtect) -> None:
    current_schema(app)  # compose now, so a plugin's schema collision stops start-up
    def graphql() -> Response:
        return _view(current_app)()

    # CSRF for GraphQL is checked per operation by CsrfForCookieMutations, not per request.
    app.add_url_rule("/graphql", "graphql", csrf.exempt(graphql), methods=["GET", "POST"])
