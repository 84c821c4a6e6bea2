"""Helpers of the assessment page and export tests: a logged-in browser, CSRF tokens from the
pages, and cheap sheets written directly (for the lists and the workbook)."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from core.assessment.models import AssessmentItem, AssessmentSheet, OpeningSource, SheetStatus
from core.assessment.sheet import ITEMS, passes, score_of
from core.catalogue.testing import listed_institution
from core.db import db, utcnow
from core.testing import TEST_PASSWORD


def csrf(html: str, form_id: str | None = None) -> str:
    """The CSRF token of the form `form_id` (the page's first one if None)."""
    if form_id is not None:
        start = html.index(f'id="{form_id}"')
        html = html[start:]
    tag = re.search(r'<input[^>]*name="[^"]*csrf_token"[^>]*>', html)
    assert tag is not None, "no CSRF token on the page"
    return re.search(r'value="([^"]+)"', tag.group(0)).group(1)  # type: ignore[union-attr]


def web(app: Any, user: Any) -> Any:
    """A browser logged in as `user`."""
    browser = app.test_client()
    token = csrf(browser.get("/login").get_data(as_text=True))
    response = browser.post("/login", data={"identifier": user.email, "password": TEST_PASSWORD,
                                            "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return browser


def bare_sheet(make_user: Any, name: str, *, year: int, deducted: tuple[int, ...] = (),
               status: SheetStatus = SheetStatus.DRAFT) -> AssessmentSheet:
    """A sheet written directly (no computation) for an institution with nothing else: the
    lists and the workbook only read what is stored."""
    institution, _admin = listed_institution(make_user, name)
    start, period_end = date(year, 1, 1), date(year, 12, 31)
    score = score_of([ITEMS[n][0] for n in deducted])
    sheet = AssessmentSheet(
        institution_id=institution.id, cycle_number=2, opening_date=start,
        opening_source=OpeningSource.SERVICE_OPENING, period_start=start, period_end=period_end,
        assessed_from=start, service_year=2, quota_category="testing", status=status,
        score=score, passed=passes(score), finalised_at=utcnow() if status is SheetStatus.FINAL
        else None,
        items=[AssessmentItem(number=n, points=ITEMS[n][0], computed_deducted=n in deducted,
                              evidence={}) for n in ITEMS])
    db.session.add(sheet)
    db.session.commit()
    return sheet
