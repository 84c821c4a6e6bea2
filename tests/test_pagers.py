"""One pager for every list (`core/web/templates/_pager.html`, `core.web.urls.page_url`): its
links carry the list's own parameters only. Passing `request.args` whole to `url_for` let a
`?_method=x` or `?_external=&_scheme=x` in the address reach `url_for` as its own options: a
server error (SECURITY.md 9, robustness)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from flask import render_template_string

from core.catalogue.testing import listed_institution
from core.web.urls import page_url

ROOT = Path(__file__).resolve().parent.parent
RESERVED = "_method=x&_external=1&_scheme=x&_anchor=y"


def test_no_template_passes_the_query_string_whole():
    """The shared pager is the one way to link to another page of a list."""
    found = [str(path.relative_to(ROOT)) for base in ("core", "plugins")
             for path in (ROOT / base).rglob("*.html")
             if re.search(r"request\.args(?!\.get\()", path.read_text(encoding="utf-8"))]
    assert found == []


def test_page_url_keeps_only_the_named_parameters(app: Any):
    with app.test_request_context(f"/directory?keyword=计量&category=a&category=b&{RESERVED}"
                                  "&page=3"):
        url = page_url("catalogue.search", 4, ("keyword", "category", "_method", "sort"))
        assert url == ("/directory?keyword=%E8%AE%A1%E9%87%8F&category=a&category=b&page=4")
        assert page_url("reviews.institution_reviews", 2, institution_id=7) == (
            "/institutions/7/reviews?page=2")
        html = render_template_string(
            '{% from "_pager.html" import pager %}{{ pager("catalogue.search", 2, 3, '
            'keep=["keyword"]) }}')
        assert 'href="/directory?keyword=%E8%AE%A1%E9%87%8F&amp;page=1" id="page-prev"' in html
        assert 'href="/directory?keyword=%E8%AE%A1%E9%87%8F&amp;page=3" id="page-next"' in html
        assert render_template_string(
            '{% from "_pager.html" import pager %}{{ pager("catalogue.search", 1, 1) }}'
        ).strip() == ""  # one page: no pager


def test_the_directory_pager_ignores_url_for_options_in_the_address(app: Any, client: Any,
                                                                     make_user: Any):
    for n in range(21):  # one more than a page
        listed_institution(make_user, f"佛山市第{n + 1}计量检测所")
    response = client.get(f"/directory?keyword=计量&sort=name&{RESERVED}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    link = re.search(r'href="([^"]+)" id="page-next"', html)
    assert link is not None
    assert "_method" not in link.group(1) and "_scheme" not in link.group(1)
    assert "keyword=%E8%AE%A1%E9%87%8F" in link.group(1) and "page=2" in link.group(1)
