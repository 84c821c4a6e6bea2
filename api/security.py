"""Request-level guards for GraphQL that strawberry does not provide itself."""

from __future__ import annotations

from collections.abc import Iterator

from flask import current_app, request
from flask_wtf.csrf import validate_csrf
from graphql import ExecutionResult, GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType
from wtforms import ValidationError


class CsrfForCookieMutations(SchemaExtension):
    """A mutation sent with the session cookie must carry the CSRF token (`X-CSRFToken`).

    Bearer-token clients have no cookie and need no token; a forged cross-site request always
    brings the cookie, so it is refused before any resolver runs (SECURITY.md 12).
    """

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        cookie = current_app.config["SESSION_COOKIE_NAME"]
        if context.operation_type == OperationType.MUTATION and request.cookies.get(cookie):
            try:
                validate_csrf(request.headers.get("X-CSRFToken", ""))
            except ValidationError:
                context.result = ExecutionResult(
                    data=None,
                    errors=[GraphQLError("CSRF token missing or invalid: send X-CSRFToken.",
                                         extensions={"code": "CSRF_FAILED"})],
                )
        yield
