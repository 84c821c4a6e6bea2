"""The exports of the assessment (issue 6, R-ASM-02, R-ASM-04): the Annex 2 score sheet as a
printable A4 PDF, and the regulator's Excel workbook of a year's results.

The builders are pure (sheets in, bytes out) so a web view, a CLI or a task can use them; they
only need an app context for the translations and the category names. `rows_of_year` reads a
year's sheets in batches (keyset by id) and detaches each batch once it has been used, so an
export of every institution holds one batch in memory, not the year.

The PDF follows the seed's form (附件2): title, institution and assessment period, the ten rows
(number, item, yes/no, the deduction the row carries, the deduction taken, remarks), the score
and the result, then who finalised it. The item texts are `sheet.ITEMS`, worded so that "yes"
always means the deduction applies (the seed's form mixes both senses).
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from datetime import datetime

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from core.assessment.evidence import describe
from core.assessment.models import AssessmentItem, AssessmentSheet, SheetStatus
from core.assessment.service import period_bounds
from core.assessment.sheet import FULL_MARKS, ITEMS, PASS_MARK
from core.clock import CHINA
from core.db import db
from core.institutions.models import Institution
from core.plugins import plugins

CJK_FONT = "STSong-Light"  # one of reportlab's built-in CID fonts: no font file to ship
REMARK_CHARS = 160  # remarks cell of the PDF; the page and the workbook give the whole evidence


def status_label(sheet: AssessmentSheet) -> str:
    return _("Final") if sheet.status is SheetStatus.FINAL else _("Draft (under review)")


def result_label(sheet: AssessmentSheet) -> str:
    return _("Pass") if sheet.passed else _("Fail")


def _local(moment: datetime | None) -> str:
    return moment.astimezone(CHINA).strftime("%Y-%m-%d %H:%M") if moment else ""


def _period(sheet: AssessmentSheet) -> str:
    return _("%(start)s to %(end)s", start=sheet.assessed_from.isoformat(),
             end=sheet.period_end.isoformat())


def _category_name(code: str | None) -> str:
    category = plugins.categories().get(code or "")
    return category.name if category else (code or "")


def _remarks(item: AssessmentItem) -> str:
    parts = []
    if item.override_deducted is not None:
        parts.append(_("Overridden by the operator (computed: %(computed)s): %(reason)s",
                       computed=_("yes") if item.computed_deducted else _("no"),
                       reason=item.override_reason or ""))
    if item.deducted or item.override_deducted is not None:
        parts.append("；".join(describe(item.number, item.evidence)))
    text = "；".join(parts)
    return text if len(text) <= REMARK_CHARS else text[:REMARK_CHARS - 1] + "…"


# ---------------------------------------------------------------- the PDF


def _font() -> str:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    if CJK_FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(CJK_FONT))
    return CJK_FONT


def sheet_pdf(sheet: AssessmentSheet, institution: Institution, *,
              finalised_by: str | None = None) -> bytes:
    """The Annex 2 score sheet of `sheet` as an A4 PDF."""
    from reportlab.lib import colors
    from reportlab.lib.enums import TA_CENTER
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    font = _font()
    body = ParagraphStyle("body", fontName=font, fontSize=10, leading=14)
    small = ParagraphStyle("small", parent=body, fontSize=8.5, leading=11.5)
    title = ParagraphStyle("title", parent=body, fontSize=15, leading=22, alignment=TA_CENTER)
    centre = ParagraphStyle("centre", parent=body, alignment=TA_CENTER)

    def p(text: str, style: ParagraphStyle = body) -> Paragraph:
        from xml.sax.saxutils import escape

        return Paragraph(escape(text), style)

    def tick(on: bool, yes: str, no: str) -> str:
        return f"{'■' if on else '□'}{yes}  {'□' if on else '■'}{no}"

    story: list = [
        p(current_app.config["QI_PLATFORM_NAME"], title),
        p(_("Assessment score sheet of the institutions on the platform (trial)"), title),
        Spacer(1, 4 * mm),
        p(_("Institution: %(name)s", name=institution.legal_name)),
        p(_("Unified social credit code: %(code)s", code=institution.uscc or "-")),
        p(_("Assessment period: %(period)s (cycle %(n)d, service year %(year)d)",
            period=_period(sheet), n=sheet.cycle_number, year=sheet.service_year)),
        Spacer(1, 3 * mm),
    ]
    rows: list[list] = [[p(h, centre) for h in (
        _("No."), _("Assessment item"), _("Yes / no"), _("Deduction rule"), _("Deducted"),
        _("Remarks"))]]
    for item in sheet.items:
        rows.append([
            p(str(item.number), centre), p(str(ITEMS[item.number][1])),
            p(tick(item.deducted, _("yes"), _("no")), centre),
            p(_("Deduct %(n)d points", n=item.points), centre),
            p(str(item.deduction), centre), p(_remarks(item), small)])
    rows.append([p(_("Score: %(score)d points (out of %(full)d)", score=sheet.score,
                     full=FULL_MARKS)), "", "", "", "", ""])
    rows.append([p(_("Result: %(ticks)s", ticks=tick(sheet.passed, _("Pass"), _("Fail")))),
                 "", "", "", "", ""])
    table = Table(rows, colWidths=[13 * mm, 62 * mm, 23 * mm, 20 * mm, 13 * mm, 49 * mm],
                  repeatRows=1)
    table.setStyle(TableStyle([
        ("GRID", (0, 0), (-1, -1), 0.5, colors.black),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")),
        ("SPAN", (0, len(rows) - 2), (-1, len(rows) - 2)),
        ("SPAN", (0, len(rows) - 1), (-1, len(rows) - 1)),
    ]))
    story.append(table)
    story.append(Spacer(1, 4 * mm))
    if sheet.is_final:
        story.append(p(_("Finalised by %(name)s on %(at)s", name=finalised_by or "-",
                         at=_local(sheet.finalised_at))))
    else:
        story.append(p(_("Draft under review: not final, computed on %(at)s",
                         at=_local(sheet.computed_at))))
    story.append(Spacer(1, 3 * mm))
    quota = next((i.evidence for i in sheet.items if i.number == 9), {})
    story.append(p(_("Note: 1. Full marks are %(full)d points; %(mark)d points pass.",
                     full=FULL_MARKS, mark=PASS_MARK), small))
    if quota.get("quota") is not None:
        story.append(p(_("2. Item 9 used the yearly quota of %(quota)d effective orders "
                         "(%(category)s, service year %(year)d).", quota=quota["quota"],
                         category=_category_name(quota.get("category")),
                         year=sheet.service_year), small))
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer, pagesize=A4, leftMargin=15 * mm, rightMargin=15 * mm, topMargin=15 * mm,
        bottomMargin=15 * mm, title=_("Assessment score sheet: %(name)s", name=institution.legal_name),
        author=current_app.config["QI_PLATFORM_NAME"])
    doc.build(story)
    return buffer.getvalue()


# ---------------------------------------------------------------- the workbook


def rows_of_year(year: int, *, batch_size: int = 500) -> Iterator[tuple[AssessmentSheet, Institution]]:
    """Every sheet whose cycle ended in `year` with its institution, by sheet id, read one
    batch at a time (2 statements a batch); a batch is detached once the caller moved on."""
    start, end = period_bounds(year)
    after = 0
    while True:
        rows = db.session.execute(
            select(AssessmentSheet, Institution)
            .join(Institution, Institution.id == AssessmentSheet.institution_id)
            .where(AssessmentSheet.period_end >= start, AssessmentSheet.period_end <= end,
                   AssessmentSheet.id > after)
            .options(selectinload(AssessmentSheet.items))
            .order_by(AssessmentSheet.id).limit(batch_size)).all()
        if not rows:
            return
        yield from rows
        after = rows[-1][0].id
        for sheet, institution in rows:  # keep the session (and memory) to one batch
            db.session.expunge(sheet)
            if institution in db.session:
                db.session.expunge(institution)


def _yes_no(value: bool | None) -> str:
    return "" if value is None else (_("yes") if value else _("no"))


def results_workbook(rows: Iterable[tuple[AssessmentSheet, Institution]]) -> bytes:
    """The year's results: one row per sheet (institution, period, status, score, result and
    each item's deduction) and a second worksheet with the evidence of every deduction and
    every override. Write-only mode: rows go to disk as they come."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    results = book.create_sheet(_("Results"))
    evidence = book.create_sheet(_("Evidence of the deductions"))
    results.append([
        _("Institution name"), _("Unified social credit code"), _("Main category"), _("Region code"),
        _("Cycle start"), _("Cycle end"), _("Assessed from"), _("Service year"), _("Status"),
        _("Score"), _("Assessment result"),
        *[_("Item %(n)d deduction", n=n) for n in ITEMS], _("Finalised at")])
    evidence.append([
        _("Institution name"), _("Unified social credit code"), _("No."), _("Assessment item"),
        _("Deducted"), _("Computed answer"), _("Override"), _("Reason for the override"),
        _("Evidence")])
    for sheet, institution in rows:
        deductions = {item.number: item.deduction for item in sheet.items}
        results.append([
            institution.legal_name, institution.uscc or "",
            _category_name(institution.main_category_code),
            institution.district_code or institution.city_code or "",
            sheet.period_start, sheet.period_end, sheet.assessed_from, sheet.service_year,
            status_label(sheet), sheet.score, result_label(sheet),
            *[deductions.get(n, 0) for n in ITEMS], _local(sheet.finalised_at)])
        for item in sheet.items:
            if not item.deducted and item.override_deducted is None:
                continue
            evidence.append([
                institution.legal_name, institution.uscc or "", item.number,
                str(ITEMS[item.number][1]), item.deduction, _yes_no(item.computed_deducted),
                _yes_no(item.override_deducted), item.override_reason or "",
                "\n".join(describe(item.number, item.evidence))])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
