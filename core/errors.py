"""Errors a user can fix. Services raise them; web views show `message`, GraphQL returns them as
typed data with the stable `code` (ARCHITECTURE.md "errors as data")."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime


class ErrorCode(enum.StrEnum):
    INVALID_INPUT = "INVALID_INPUT"
    REQUIRED = "REQUIRED"
    DUPLICATE = "DUPLICATE"
    PASSWORD_TOO_SHORT = "PASSWORD_TOO_SHORT"
    PASSWORD_TOO_LONG = "PASSWORD_TOO_LONG"
    PASSWORD_TOO_SIMPLE = "PASSWORD_TOO_SIMPLE"
    PASSWORD_TOO_COMMON = "PASSWORD_TOO_COMMON"
    AUTHENTICATION_FAILED = "AUTHENTICATION_FAILED"
    ACCOUNT_LOCKED = "ACCOUNT_LOCKED"
    NOT_AUTHENTICATED = "NOT_AUTHENTICATED"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    NOT_FOUND = "NOT_FOUND"
    INVALID_NUMBER = "INVALID_NUMBER"
    FILE_TOO_LARGE = "FILE_TOO_LARGE"
    FILE_EMPTY = "FILE_EMPTY"
    FILE_TYPE_NOT_ALLOWED = "FILE_TYPE_NOT_ALLOWED"
    CHECKSUM_MISMATCH = "CHECKSUM_MISMATCH"
    STORAGE_UNAVAILABLE = "STORAGE_UNAVAILABLE"
    UPLOAD_EXPIRED = "UPLOAD_EXPIRED"
    UPLOAD_MISSING = "UPLOAD_MISSING"
    ALREADY_CONFIRMED = "ALREADY_CONFIRMED"
    COMMITMENT_OUTDATED = "COMMITMENT_OUTDATED"
    ALREADY_SIGNED = "ALREADY_SIGNED"
    ADVANTAGE_ITEM_COUNT = "ADVANTAGE_ITEM_COUNT"
    AGENT_LIMIT = "AGENT_LIMIT"
    NOT_ELIGIBLE = "NOT_ELIGIBLE"
    ILLEGAL_TRANSITION = "ILLEGAL_TRANSITION"
    NOT_TAKING_REQUESTS = "NOT_TAKING_REQUESTS"  # homepage hidden: no new business (R-OPS-05/06)
    ASSESSMENT_NOT_DUE = "ASSESSMENT_NOT_DUE"  # the cycle has not ended / adaptation period
    ASSESSMENT_FINAL = "ASSESSMENT_FINAL"  # a finalised sheet never changes (R-ASM-02)
    RATE_LIMITED = "RATE_LIMITED"
    SERVICE_BUSY = "SERVICE_BUSY"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one input field."""

    code: ErrorCode
    message: str
    field: str | None = None


class DomainError(Exception):
    """A refusal the user can understand and act on; nothing was changed."""

    code: ErrorCode = ErrorCode.INVALID_INPUT

    def __init__(self, message: str, *, code: ErrorCode | None = None, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        if code is not None:
            self.code = code


class InvalidInput(DomainError):
    """One or more fields are wrong; every problem is listed, not just the first."""

    def __init__(self, problems: list[Problem]):
        first = problems[0]
        super().__init__(first.message, code=first.code, field=first.field)
        self.problems = problems


class AuthenticationFailed(DomainError):
    code = ErrorCode.AUTHENTICATION_FAILED


class AccountLocked(DomainError):
    code = ErrorCode.ACCOUNT_LOCKED

    def __init__(self, message: str, *, until: datetime):
        super().__init__(message)
        self.until = until


class TryAgainLater(DomainError):
    """Refused for now, not for good: the same request may succeed after `retry_after` seconds.
    Web answers carry `http_status` and a `Retry-After` header."""

    http_status = 429

    def __init__(self, message: str, *, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


class RateLimited(TryAgainLater):
    """Too many attempts from one client address (`core.ratelimit`)."""

    code = ErrorCode.RATE_LIMITED
    http_status = 429


class ServiceBusy(TryAgainLater):
    """The server has no capacity for this now (every password-hashing slot is taken)."""

    code = ErrorCode.SERVICE_BUSY
    http_status = 503


class NotAuthenticated(DomainError):
    code = ErrorCode.NOT_AUTHENTICATED


class PermissionDenied(DomainError):
    code = ErrorCode.PERMISSION_DENIED


class NotFound(DomainError):
    code = ErrorCode.NOT_FOUND
