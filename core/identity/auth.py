"""Flask-Login wiring: who is the current user, from a session cookie or a bearer token."""

from __future__ import annotations

from flask import Flask, g, jsonify, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_login import LoginManager, login_user, logout_user

from core.audit import record_audit
from core.db import db
from core.identity import service
from core.identity.models import User

login_manager = LoginManager()


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "identity.login"
    login_manager.session_protection = "basic"
    app.permanent_session_lifetime = app.config["SESSION_IDLE_MINUTES"] * 60


@login_manager.user_loader
def _load_from_session(user_id: str) -> User | None:
    sid = session.get("sid")
    if not sid:
        return None
    user = service.resolve_session(sid)
    if user is None or str(user.id) != user_id:
        session.clear()
        return None
    g.auth_method = "session"
    return user


@login_manager.request_loader
def _load_from_bearer(req) -> User | None:  # type: ignore[no-untyped-def]
    header = req.headers.get("Authorization", "")
    scheme, _sep, raw = header.partition(" ")
    if scheme.lower() != "bearer" or not raw:
        return None
    user = service.resolve_token(raw.strip())
    if user is not None:
        g.auth_method = "token"
    return user


@login_manager.unauthorized_handler
def _unauthorized():  # type: ignore[no-untyped-def]
    if request.path.startswith("/graphql") or request.accept_mimetypes.best == "application/json":
        return jsonify(error="NOT_AUTHENTICATED", message=_("Please log in.")), 401
    return redirect(url_for("identity.login", next=request.full_path))


def auth_method() -> str | None:
    """'session', 'token' or None: how the current request authenticated."""
    return g.get("auth_method")


def log_in(user: User) -> None:
    """Start a fresh session for `user`: a new session id, so a planted cookie is worthless."""
    session.clear()
    sid = service.start_session(
        user, ip=request.remote_addr, user_agent=request.headers.get("User-Agent")
    )
    session["sid"] = sid
    session.permanent = True
    login_user(user, remember=False)
    g.auth_method = "session"


def log_out(user: User | None) -> None:
    """End the server-side session so every copy of the cookie stops working."""
    sid = session.get("sid")
    if sid:
        service.end_session(sid)
    if user is not None:
        record_audit("auth.logout", object_type="user", object_id=user.id, actor=user)
    db.session.commit()
    logout_user()
    session.clear()


def current_sid() -> str | None:
    return session.get("sid")
