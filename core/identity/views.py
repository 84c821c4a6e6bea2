"""Login, registration, logout and the account page."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from core.errors import DomainError, TryAgainLater
from core.identity import auth, service
from core.identity.forms import (
    ChangePasswordForm,
    EmptyForm,
    IssueTokenForm,
    LoginForm,
    RegisterForm,
)
from core.identity.models import Role
from core.institutions.access import visible_institutions
from core.web.forms import attach_problems
from core.web.urls import safe_next

bp = Blueprint("identity", __name__, template_folder="templates")

# Form field names of the service's problems (GraphQL uses camelCase names).
_FIELDS = {"displayName": "display_name", "currentPassword": "current_password",
           "newPassword": "new_password", "expiresInDays": "expires_in_days"}


@bp.route("/login", methods=["GET", "POST"])
def login():  # type: ignore[no-untyped-def]
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        try:
            user = service.authenticate(form.identifier.data or "", form.password.data or "")
        except DomainError as exc:
            flash(exc.message, "error")
            # 429 (this address is throttled) or 503 (busy), with Retry-After; else the form again
            status = exc.http_status if isinstance(exc, TryAgainLater) else 200
        else:
            auth.log_in(user)
            return redirect(safe_next(request.args.get("next")))
    return render_template("identity/login.html", form=form), status


@bp.route("/register", methods=["GET", "POST"])
def register():  # type: ignore[no-untyped-def]
    form = RegisterForm()
    status = 200
    if form.validate_on_submit():
        try:
            user = service.register(
                display_name=form.display_name.data or "",
                password=form.password.data or "",
                role=Role(form.role.data),
                email=form.email.data or None,
                phone=form.phone.data or None,
            )
        except DomainError as exc:
            attach_problems(form, exc, _FIELDS)
            status = exc.http_status if isinstance(exc, TryAgainLater) else 200
        else:
            auth.log_in(user)
            flash(_("Welcome! Your account has been created."), "success")
            return redirect(url_for("identity.account"))
    return render_template("identity/register.html", form=form), status


@bp.route("/logout", methods=["POST"])
def logout():  # type: ignore[no-untyped-def]
    if EmptyForm().validate_on_submit():
        auth.log_out(current_user if current_user.is_authenticated else None)
        flash(_("You have logged out."), "success")
    return redirect(url_for("web.home"))


def _account_page(*, password_form: ChangePasswordForm | None = None,
                  token_form: IssueTokenForm | None = None, new_token: str | None = None,
                  status: int = 200):  # type: ignore[no-untyped-def]
    return render_template(
        "identity/account.html",
        password_form=password_form or ChangePasswordForm(),
        token_form=token_form or IssueTokenForm(),
        empty_form=EmptyForm(),
        tokens=service.user_tokens(current_user),
        sessions=service.live_sessions(current_user),
        institutions=visible_institutions(current_user),
        new_token=new_token,
    ), status


@bp.route("/account", methods=["GET"])
@login_required
def account():  # type: ignore[no-untyped-def]
    return _account_page()


@bp.route("/account/password", methods=["POST"])
@login_required
def change_password():  # type: ignore[no-untyped-def]
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            service.change_password(current_user, current=form.current_password.data or "",
                                    new=form.new_password.data or "", keep_sid=auth.current_sid())
        except DomainError as exc:
            attach_problems(form, exc, _FIELDS)
        else:
            flash(_("Password changed. Your other sessions and API tokens have been ended."), "success")
            return redirect(url_for("identity.account"))
    return _account_page(password_form=form, status=400)


@bp.route("/account/tokens", methods=["POST"])
@login_required
def issue_token():  # type: ignore[no-untyped-def]
    form = IssueTokenForm()
    new_token = None
    if form.validate_on_submit():
        try:
            identifier = current_user.email or current_user.phone
            user = service.authenticate(identifier, form.password.data or "")
            _token, new_token = service.issue_token(user, name=form.name.data or "",
                                                    days=form.expires_in_days.data)
        except DomainError as exc:
            attach_problems(form, exc, _FIELDS)
    return _account_page(token_form=form, new_token=new_token, status=200 if new_token else 400)


@bp.route("/account/tokens/<int:token_id>/revoke", methods=["POST"])
@login_required
def revoke_token(token_id: int):  # type: ignore[no-untyped-def]
    if EmptyForm().validate_on_submit():
        try:
            service.revoke_token(current_user, token_id)
        except DomainError as exc:
            flash(exc.message, "error")
        else:
            flash(_("The token has been revoked."), "success")
    return redirect(url_for("identity.account"))
