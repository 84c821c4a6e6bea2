"""Identity in GraphQL: `viewer`, registration, login/logout and API tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf.csrf import generate_csrf

from api.errors import (
    AccountLockedError,
    AuthenticationFailedError,
    InvalidInputError,
    NotAuthenticatedError,
    NotFoundError,
    TryAgainLaterError,
    to_graphql_error,
)
from core.errors import DomainError, NotAuthenticated
from core.identity import auth, models, service

RoleEnum = strawberry.enum(models.Role, name="Role")


@strawberry.type(name="ApiToken", description="A personal API token; the secret itself is never shown again.")
class ApiTokenType:
    id: strawberry.ID
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None

    @classmethod
    def from_model(cls, t: models.ApiToken) -> ApiTokenType:
        return cls(id=strawberry.ID(str(t.id)), name=t.name, prefix=t.prefix,
                   created_at=t.created_at, expires_at=t.expires_at,
                   revoked_at=t.revoked_at, last_used_at=t.last_used_at)


@strawberry.type(name="User")
class UserType:
    id: strawberry.ID
    display_name: str
    roles: list[RoleEnum]  # type: ignore[valid-type]
    _model: strawberry.Private[models.User]

    @strawberry.field(description="The viewer's own email; other users' are not exposed.")
    def email(self) -> str | None:
        return self._model.email

    @strawberry.field(description="The viewer's own mobile number.")
    def phone(self) -> str | None:
        return self._model.phone

    @strawberry.field
    def api_tokens(self) -> list[ApiTokenType]:
        return [ApiTokenType.from_model(t) for t in service.user_tokens(self._model)]

    @classmethod
    def from_model(cls, user: models.User) -> UserType:
        return cls(id=strawberry.ID(str(user.id)), display_name=user.display_name,
                   roles=sorted(user.roles), _model=user)


def viewer_model() -> models.User | None:
    return current_user if current_user.is_authenticated else None


def require_viewer() -> models.User:
    user = viewer_model()
    if user is None:
        raise NotAuthenticated(_("Please log in."))
    return user


@strawberry.input
class RegisterInput:
    display_name: str
    password: str
    role: RoleEnum = strawberry.field(  # type: ignore[valid-type]
        description="ENTERPRISE or INSTITUTION_ADMIN; other roles are granted by a system admin.")
    email: str | None = None
    phone: str | None = None


@strawberry.input
class LoginInput:
    identifier: str = strawberry.field(description="Mobile number or email.")
    password: str


@strawberry.input
class IssueApiTokenInput:
    name: str
    password: str = strawberry.field(description="The password is asked again before a token is issued.")
    identifier: str | None = strawberry.field(
        default=None, description="Needed only when the request is not logged in.")
    expires_in_days: int | None = None


@strawberry.type
class RegisterSuccess:
    user: UserType


@strawberry.type
class LoginSuccess:
    user: UserType


@strawberry.type
class LogoutSuccess:
    ok: bool


@strawberry.type
class IssueApiTokenSuccess:
    token: str = strawberry.field(
        description="The secret, shown this once. Send it as `Authorization: Bearer`.")
    api_token: ApiTokenType


@strawberry.type
class RevokeApiTokenSuccess:
    api_token: ApiTokenType


RegisterResult = Annotated[RegisterSuccess | InvalidInputError | TryAgainLaterError,
                           strawberry.union("RegisterResult")]
LoginResult = Annotated[
    LoginSuccess | AuthenticationFailedError | AccountLockedError | InvalidInputError
    | TryAgainLaterError,
    strawberry.union("LoginResult"),
]
LogoutResult = Annotated[LogoutSuccess | NotAuthenticatedError, strawberry.union("LogoutResult")]
IssueApiTokenResult = Annotated[
    IssueApiTokenSuccess | AuthenticationFailedError | AccountLockedError | InvalidInputError
    | NotAuthenticatedError | TryAgainLaterError,
    strawberry.union("IssueApiTokenResult"),
]
RevokeApiTokenResult = Annotated[
    RevokeApiTokenSuccess | NotFoundError | NotAuthenticatedError,
    strawberry.union("RevokeApiTokenResult"),
]


@strawberry.type
class IdentityQuery:
    @strawberry.field(description="The logged-in user, or null.")
    def viewer(self) -> UserType | None:
        user = viewer_model()
        return UserType.from_model(user) if user else None

    @strawberry.field(description="A CSRF token: cookie-authenticated mutations send it as X-CSRFToken.")
    def csrf_token(self) -> str:
        return generate_csrf()


@strawberry.type
class IdentityMutation:
    @strawberry.mutation
    def register(self, input: RegisterInput) -> RegisterResult:
        try:
            user = service.register(display_name=input.display_name, password=input.password,
                                    role=models.Role(input.role), email=input.email, phone=input.phone)
        except DomainError as exc:
            return to_graphql_error(exc)  # type: ignore[return-value]
        return RegisterSuccess(user=UserType.from_model(user))

    @strawberry.mutation(description="Log in with a browser session cookie.")
    def login(self, input: LoginInput) -> LoginResult:
        try:
            user = service.authenticate(input.identifier, input.password)
        except DomainError as exc:
            return to_graphql_error(exc)  # type: ignore[return-value]
        auth.log_in(user)
        return LoginSuccess(user=UserType.from_model(user))

    @strawberry.mutation
    def logout(self) -> LogoutResult:
        user = viewer_model()
        if user is None:
            return to_graphql_error(NotAuthenticated(_("Please log in.")))  # type: ignore[return-value]
        auth.log_out(user)
        return LogoutSuccess(ok=True)

    @strawberry.mutation(description="Issue a personal API token (password required again).")
    def issue_api_token(self, input: IssueApiTokenInput) -> IssueApiTokenResult:
        try:
            viewer = viewer_model()
            if viewer is None and not input.identifier:
                raise NotAuthenticated(_("Log in or give your mobile number or email."))
            identifier = input.identifier or viewer.email or viewer.phone  # type: ignore[union-attr]
            user = service.authenticate(identifier, input.password)
            if viewer is not None and user.id != viewer.id:
                raise NotAuthenticated(_("Log in or give your mobile number or email."))
            token, raw = service.issue_token(user, name=input.name, days=input.expires_in_days)
        except DomainError as exc:
            return to_graphql_error(exc)  # type: ignore[return-value]
        return IssueApiTokenSuccess(token=raw, api_token=ApiTokenType.from_model(token))

    @strawberry.mutation
    def revoke_api_token(self, id: strawberry.ID) -> RevokeApiTokenResult:
        try:
            user = require_viewer()
            token = service.revoke_token(user, id)
        except DomainError as exc:
            return to_graphql_error(exc)  # type: ignore[return-value]
        return RevokeApiTokenSuccess(api_token=ApiTokenType.from_model(token))
