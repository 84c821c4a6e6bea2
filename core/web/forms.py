"""Showing a service's refusal on a web form, and running a button's service call."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeVar

from flask import abort, flash
from flask_wtf import FlaskForm

from core.db import db
from core.errors import DomainError, InvalidInput, PermissionDenied

T = TypeVar("T")


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


def run_action(call: Callable[[], T], *, success: str | Callable[[T], str], denied: int = 403) -> bool:
    """Run the service call behind a button and flash its outcome; True when it succeeded.

    A refusal ends the request with `denied` (the service has audited it); any other domain error
    is rolled back, so nothing of the step is kept, and flashed. `success` is the message, or
    builds it from the call's result."""
    try:
        result = call()
    except PermissionDenied:
        abort(denied)
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return False
    flash(success(result) if callable(success) else success, "success")
    return True
