"""The public pages: home, a category's page and the language switch."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    current_app,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import lazy_gettext as _l

from core.documents.kinds import get_kind
from core.plugins import PluginError, plugins
from core.service_fields import item_fields
from core.web.urls import page_url, safe_next

bp = Blueprint("web", __name__, template_folder="templates", static_folder="static",
               static_url_path="/static")
bp.add_app_template_global(page_url)  # for the shared pager, `_pager.html`


@bp.route("/")
def home():  # type: ignore[no-untyped-def]
    return render_template("home.html", categories=list(plugins.categories().values()))


# How the category page names each kind of service-item field.
FIELD_KIND_LABELS = {
    "text": _l("Text"), "textarea": _l("Long text"), "number": _l("Number"),
    "boolean": _l("Yes / no"), "choice": _l("One of a list"), "list": _l("List, one per line"),
}
# Quotas are shown for the first three service years; from the third on they stay the same
# (R-ASM-03: group A 20 / 30 / 50 and later, group B 5 every year).
QUOTA_YEARS = (1, 2, 3)


@bp.route("/categories/<code>")
def category(code: str):  # type: ignore[no-untyped-def]
    """A category's page: what it requires of an institution (its qualification documents), the
    specification its service items are written to (Annex 2 item 5) and its yearly quota."""
    found = plugins.categories().get(code)
    if found is None:
        abort(404)
    requirements = [
        {"kinds": r.kinds, "rule": r.rule,
         "names": [str(kind.name) if (kind := get_kind(k)) else k for k in r.kinds]}
        for batch in plugins.pm.hook.required_documents(category=code) for r in batch]
    quotas = []
    for year in QUOTA_YEARS:
        try:
            quotas.append((year, plugins.quota(code, year)))
        except PluginError:
            quotas.append((year, None))
    # A plugin's own pages hang off its blueprint, named after it; its `index` is linked here.
    endpoint = f"{code}.index"
    plugin_page = url_for(endpoint) if endpoint in current_app.view_functions else None
    return render_template("category.html", category=found, requirements=requirements,
                           fields=item_fields(code), kind_labels=FIELD_KIND_LABELS, quotas=quotas,
                           last_year=QUOTA_YEARS[-1], plugin_page=plugin_page)


@bp.route("/lang/<code>")
def switch_language(code: str):  # type: ignore[no-untyped-def]
    target = safe_next(request.args.get("next"))
    response = make_response(redirect(target))
    if code in current_app.config["QI_LANGUAGES"]:
        response.set_cookie("lang", code, max_age=365 * 24 * 3600, samesite="Lax",
                            secure=current_app.config["SESSION_COOKIE_SECURE"], httponly=True)
    return response
