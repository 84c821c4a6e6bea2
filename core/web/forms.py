"""Showing a service's refusal on a web form."""

from __future__ import annotations

from collections.abc import Mapping

from flask import flash
from flask_wtf import FlaskForm

from core.errors import DomainError, InvalidInput


def attach_problems(form: FlaskForm, exc: DomainError, field_names: Mapping[str, str]) -> None:
    """Put each problem under its form field (service names mapped by `field_names`, camelCase
    → snake_case); a problem without a matching field is flashed for the page."""
    problems = exc.problems if isinstance(exc, InvalidInput) else []
    if not problems:
        field = getattr(form, field_names.get(exc.field or "", exc.field or ""), None)
        if field is not None:
            field.errors = [*field.errors, exc.message]
        else:
            flash(exc.message, "error")
        return
    for problem in problems:
        name = problem.field or ""
        field = getattr(form, field_names.get(name, name), None)
        if field is not None:
            field.errors = [*field.errors, problem.message]
        else:
            flash(problem.message, "error")
