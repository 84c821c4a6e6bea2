"""Errors as data: each mutation returns its payload or one of these types (ARCHITECTURE.md)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from core import errors as core_errors

ErrorCode = strawberry.enum(core_errors.ErrorCode, name="ErrorCode",
                            description="Stable machine-readable error codes.")


@strawberry.interface(description="A refusal the user can fix; nothing was changed.")
class UserError:
    code: ErrorCode
    message: str
    field: str | None = strawberry.field(description="The input field at fault, if one is.")


@strawberry.type
class FieldProblem:
    code: ErrorCode
    message: str
    field: str | None


@strawberry.type(description="One or more inputs are wrong; `problems` lists every one.")
class InvalidInputError(UserError):
    problems: list[FieldProblem]


@strawberry.type
class AuthenticationFailedError(UserError):
    pass


@strawberry.type
class AccountLockedError(UserError):
    retry_after: datetime = strawberry.field(description="When the account unlocks (UTC).")


@strawberry.type(description="Refused for now (RATE_LIMITED: too many attempts from this address; "
                             "SERVICE_BUSY: no capacity now); the same request may succeed later. "
                             "The HTTP answer carries Retry-After too.")
class TryAgainLaterError(UserError):
    retry_after_seconds: int = strawberry.field(description="Seconds to wait before trying again.")


@strawberry.type
class NotAuthenticatedError(UserError):
    pass


@strawberry.type
class PermissionDeniedError(UserError):
    pass


@strawberry.type
class NotFoundError(UserError):
    pass


def to_graphql_error(exc: core_errors.DomainError) -> UserError:
    """Map a service's DomainError to its GraphQL type."""
    code = ErrorCode(exc.code)
    if isinstance(exc, core_errors.InvalidInput):
        return InvalidInputError(
            code=code, message=exc.message, field=exc.field,
            problems=[FieldProblem(code=ErrorCode(p.code), message=p.message, field=p.field)
                      for p in exc.problems],
        )
    if isinstance(exc, core_errors.TryAgainLater):
        return TryAgainLaterError(code=code, message=exc.message, field=None,
                                  retry_after_seconds=exc.retry_after)
    if isinstance(exc, core_errors.AccountLocked):
        return AccountLockedError(code=code, message=exc.message, field=None, retry_after=exc.until)
    by_class: dict[type[core_errors.DomainError], type[UserError]] = {
        core_errors.AuthenticationFailed: AuthenticationFailedError,
        core_errors.NotAuthenticated: NotAuthenticatedError,
        core_errors.PermissionDenied: PermissionDeniedError,
        core_errors.NotFound: NotFoundError,
    }
    cls = by_class.get(type(exc))
    if cls is None:
        return InvalidInputError(code=code, message=exc.message, field=exc.field,
                                 problems=[FieldProblem(code=code, message=exc.message, field=exc.field)])
    return cls(code=code, message=exc.message, field=exc.field)
