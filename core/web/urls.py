"""URL helpers shared by the web views."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from flask import request, url_for


def safe_next(target: str | None) -> str:
    """Follow only same-site relative paths after login or a language switch (no open redirect)."""
    if (target and target.startswith("/") and not target.startswith("//")
            and "\\" not in target and not urlsplit(target).netloc):
        return target
    return url_for("web.home")


def page_url(endpoint: str, page: int, keep: Iterable[str] = (), **values: Any) -> str:
    """The URL of another page of a list: `values` (path arguments, the view's own filters) and,
    from the query string, only the parameters named in `keep`. Never `request.args` whole: a
    `?_method=x` or `?_external=&_scheme=x` in it would reach `url_for` as its own options and
    crash it (500)."""
    query = {name: request.args.getlist(name) for name in keep
             if not name.startswith("_") and request.args.getlist(name)}  # `_…`: url_for's own
    return url_for(endpoint, **{**query, **values, "page": page})
