"""The public pages: home and language switch."""

from __future__ import annotations

from flask import Blueprint, current_app, make_response, redirect, render_template, request

from core.plugins import plugins
from core.web.urls import safe_next

bp = Blueprint("web", __name__, template_folder="templates", static_folder="static",
               static_url_path="/static")


@bp.route("/")
def home():  # type: ignore[no-untyped-def]
    return render_template("home.html", categories=list(plugins.categories().values()))


@bp.route("/lang/<code>")
def switch_language(code: str):  # type: ignore[no-untyped-def]
    target = safe_next(request.args.get("next"))
    response = make_response(redirect(target))
    if code in current_app.config["QI_LANGUAGES"]:
        response.set_cookie("lang", code, max_age=365 * 24 * 3600, samesite="Lax",
                            secure=current_app.config["SESSION_COOKIE_SECURE"], httponly=True)
    return response
