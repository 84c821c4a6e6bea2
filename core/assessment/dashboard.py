"""The regulator's assessment dashboard (issue 6 item 7): score distribution, pass rate, the most
frequent deductions, per category and per region, year over year — charts drawn here as inline
SVG, each followed by its data table. Operators and regulators only (others: 403, audited).

The figures are `core.assessment.statistics` (three aggregate statements); GraphQL
`assessmentStatistics` returns the same ones.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, render_template, request
from flask_babel import gettext as _
from flask_login import current_user, login_required

from core.assessment import charts
from core.assessment.models import SheetStatus
from core.assessment.sheet import ITEMS, PASS_MARK
from core.assessment.statistics import (
    BANDS,
    PASS_BAND,
    YEAR_MAX,
    YEAR_MIN,
    Figures,
    Statistics,
    band_label,
    item_title,
    statistics,
)
from core.errors import InvalidInput, PermissionDenied

bp = Blueprint("assessment_dashboard", __name__, template_folder="templates")


def percent(rate: float | None) -> str:
    return "–" if rate is None else f"{rate * 100:.1f}%"


def average(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def _distribution(figures: Figures) -> Any:
    data = [charts.Column(band_label(b), (figures.bands[b], 0) if b >= PASS_BAND
                          else (0, figures.bands[b]), str(figures.bands[b]))
            for b in range(BANDS)]
    return charts.columns(
        "chart-distribution", _("Score distribution"),
        _("Score sheets by 10-point band; %(n)d points and more pass.", n=PASS_MARK), data,
        series=(_("Pass"), _("Fail")))


def _deductions(figures: Figures) -> Any:
    data = [charts.Bar(f"{n}. {item_title(n)}", count,
                       f"{count} ({percent(count / figures.sheets)})", f"{n}. {item_title(n)}")
            for n, count in figures.top_deductions()]
    return charts.bars("chart-deductions", _("Most frequent deductions"),
                       _("Score sheets that lost each item, most frequent first."), data)


def _pass_rates(chart_id: str, title: str, groups: list[Figures]) -> Any:
    data = [charts.Bar(g.name, (g.pass_rate or 0) * 100,
                       f"{percent(g.pass_rate)} ({g.passed}/{g.sheets})", g.name) for g in groups]
    return charts.bars(chart_id, title, _("Pass rate of each group: sheets passed out of all."),
                       data, max_value=100)


def _years(stats: Statistics) -> Any:
    data = [charts.Column(str(y.year), (y.passed, y.failed), percent(y.pass_rate))
            for y in stats.years]
    return charts.columns(
        "chart-years", _("Year over year"),
        _("Score sheets of each year the cycles ended in, passed and failed, with the pass rate."),
        data, series=(_("Pass"), _("Fail")))


@bp.route("/assessment/dashboard")
@login_required
def dashboard():  # type: ignore[no-untyped-def]
    """The figures of one year (default: the latest with sheets), all sheets or one status."""
    raw_status = request.args.get("status", "")
    status = SheetStatus(raw_status) if raw_status in SheetStatus._value2member_map_ else None
    year = request.args.get("year", type=int)
    problem = None
    try:
        stats = statistics(current_user, year=year, status=status)
    except PermissionDenied:
        abort(403)  # audited by `statistics`
    except InvalidInput as exc:  # a year out of range: say so and show the default year
        problem = exc.problems[0].message
        stats = statistics(current_user, status=status)
    return render_template(
        "assessment/dashboard.html", stats=stats, problem=problem, percent=percent,
        average=average, items=ITEMS, item_title=item_title, band_label=band_label, bands=BANDS,
        year_min=YEAR_MIN, year_max=YEAR_MAX, pass_mark=PASS_MARK,
        status_labels={SheetStatus.DRAFT: _("Draft (under review)"), SheetStatus.FINAL: _("Final")},
        charts={"distribution": _distribution(stats.overall),
                "deductions": _deductions(stats.overall),
                "categories": _pass_rates("chart-categories", _("Pass rate per category"),
                                          stats.categories),
                "regions": _pass_rates("chart-regions", _("Pass rate per region"), stats.regions),
                "years": _years(stats)})
