"""The assessment workflow (R-ASM-01…06, R-ONB-07): compute → operator review → regulator
finalises → the institution is notified and reads its sheet → a failed cycle gets a removal
notice. Service summaries (R-ASM-06) live in `core.assessment.summaries`.

The API the rest of the platform (exports, dashboard, benchmark, GraphQL, web, CLI) calls:

* `compute_batch(cycles, institutions, actor=None)` — THE computation: one batch of cycles (one
  per institution) read with a fixed number of statements, drafts created or recomputed in place
  (same rows: idempotent), final sheets left alone. Everything below goes through it.
* `compute_assessment(institution, actor=, cycle_number=None, on=None)` — one institution (the
  per-institution path): its latest ended cycle, or `cycle_number`.
* `assess_due(first_end, last_end, …)` — every live institution whose cycle ended within
  [first_end, last_end], in batches of `batch_size` (the CLI and the daily task).
* `override_item`, `finalise` — the review and the regulator's decision.
* `get_sheet`, `list_sheets`, `cycles_of` — reading, with the permission checks.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta

from flask_babel import gettext as _
from sqlalchemy import Select, func, insert, select
from sqlalchemy.orm import selectinload

from core.assessment import cycles as cycles_mod
from core.assessment import sheet as sheet_mod
from core.assessment.cycles import Cycle
from core.assessment.models import AssessmentItem, AssessmentSheet, SheetStatus
from core.assessment.sources import load
from core.audit import record_audit, sanitize_text
from core.clock import local_today
from core.db import db, utcnow
from core.errors import DomainError, ErrorCode, InvalidInput, NotFound, PermissionDenied, Problem
from core.identity.models import Role, User
from core.ids import get_by_id
from core.institutions.access import is_platform_staff, staff_role
from core.institutions.models import Institution, InstitutionStaff, InstitutionStatus

REASON_MIN = 5
REASON_MAX = 2000
PAGE_MAX = 100
DEFAULT_BATCH = 500


# ---------------------------------------------------------------- permissions


def _denied(action: str, object_type: str, object_id: int | None, actor: User | None,
            message: str) -> PermissionDenied:
    """Refusals are audited (SECURITY.md 9) and committed even though the caller raises."""
    record_audit(action, object_type=object_type, object_id=object_id, result="denied",
                 actor=actor)
    db.session.commit()
    return PermissionDenied(message)


def _require_role(actor: User | None, role: Role, action: str, object_type: str,
                  object_id: int | None, message: str) -> None:
    if actor is None or not actor.is_active or not actor.has_role(role):
        raise _denied(action, object_type, object_id, actor, message)


def can_compute(actor: User | None) -> bool:
    return actor is not None and actor.is_active and actor.has_role(Role.OPERATOR, Role.REGULATOR)


def can_view_sheet(viewer: User | None, sheet: AssessmentSheet) -> bool:
    """Operators and regulators read every sheet; the institution's own staff read it once
    final (a draft is still under review)."""
    if viewer is None or not viewer.is_active:
        return False
    if is_platform_staff(viewer):
        return True
    return sheet.is_final and staff_role(viewer, sheet.institution_id) is not None


def _not_final(sheet: AssessmentSheet) -> None:
    """A final sheet never changes (R-ASM-02): every write path asks this first."""
    if sheet.is_final:
        raise DomainError(_("This score sheet is final and can no longer change."),
                          code=ErrorCode.ASSESSMENT_FINAL, field="sheetId")


# ---------------------------------------------------------------- computing


def _lock_sheets(cycles: Sequence[Cycle]) -> dict[int, AssessmentSheet]:
    """The batch's existing sheets (and items), locked on PostgreSQL so two runs don't race."""
    if not cycles:
        return {}
    wanted = {(c.institution_id, c.number) for c in cycles}
    query = (select(AssessmentSheet)
             .where(AssessmentSheet.institution_id.in_({c.institution_id for c in cycles}),
                    AssessmentSheet.cycle_number.in_({c.number for c in cycles}))
             .options(selectinload(AssessmentSheet.items)).with_for_update(of=AssessmentSheet))
    return {s.institution_id: s for s in db.session.scalars(query)
            if (s.institution_id, s.cycle_number) in wanted}


def _apply(sheet: AssessmentSheet, results: list[sheet_mod.ItemResult]) -> None:
    items = {item.number: item for item in sheet.items}
    for result in results:
        item = items.get(result.number)
        if item is None:
            sheet.items.append(AssessmentItem(
                number=result.number, points=result.points, computed_deducted=result.deducted,
                evidence=result.evidence))
        else:  # recompute in place: the override (and its reason) stays beside the new value
            item.points, item.computed_deducted = result.points, result.deducted
            item.evidence = result.evidence
    _rescore(sheet)


def _rescore(sheet: AssessmentSheet) -> None:
    sheet.score = sheet_mod.score_of([item.deduction for item in sheet.items])
    sheet.passed = sheet_mod.passes(sheet.score)


def _insert_items(new: list[tuple[AssessmentSheet, list[sheet_mod.ItemResult]]]) -> None:
    """The new sheets' ten items in one executemany (ten thousand sheets are a hundred thousand
    rows: building them as ORM objects cost more than computing the sheets)."""
    if new:
        db.session.execute(insert(AssessmentItem), [
            {"sheet_id": sheet.id, "number": r.number, "points": r.points,
             "computed_deducted": r.deducted, "evidence": r.evidence}
            for sheet, results in new for r in results])


def compute_batch(cycles: Sequence[Cycle], institutions: dict[int, Institution], *,
                  actor: User | None = None) -> list[AssessmentSheet]:
    """Compute (or recompute) the draft sheet of each cycle — at most one per institution — in
    a fixed number of statements; final sheets are returned untouched. Commits."""
    try:
        existing = _lock_sheets(cycles)
        todo = [c for c in cycles if not (c.institution_id in existing
                                          and existing[c.institution_id].is_final)]
        now = utcnow()
        sheets: list[AssessmentSheet] = []
        new: list[tuple[AssessmentSheet, list[sheet_mod.ItemResult]]] = []
        deducted: dict[int, list[int]] = {}  # python id of the sheet → items deducted (audit)
        for inputs in load(todo, institutions):
            c = inputs.cycle
            results = sheet_mod.compute_items(inputs)
            sheet = existing.get(c.institution_id)
            is_new = sheet is None
            if sheet is None:  # its items are inserted in bulk below; `items` loads on access
                sheet = AssessmentSheet(institution_id=c.institution_id, cycle_number=c.number)
                db.session.add(sheet)
                new.append((sheet, results))
            sheet.opening_date, sheet.opening_source = c.opening_date, c.opening_source
            sheet.period_start, sheet.period_end = c.start, c.end
            sheet.assessed_from, sheet.service_year = c.assessed_from, c.service_year
            sheet.quota_category = results[8].evidence["category"]
            sheet.status = SheetStatus.DRAFT
            sheet.computed_at, sheet.computed_by_id = now, actor.id if actor else None
            if is_new:
                sheet.score = sheet_mod.score_of([r.points for r in results if r.deducted])
                sheet.passed = sheet_mod.passes(sheet.score)
            else:
                _apply(sheet, results)
            deducted[id(sheet)] = [r.number for r in results if r.deducted]
            sheets.append(sheet)
        db.session.flush()
        _insert_items(new)
        created = {id(sheet) for sheet, _results in new}
        for sheet in sheets:
            record_audit("assessment.computed", object_type="assessment_sheet", object_id=sheet.id,
                         after={"institution_id": sheet.institution_id,
                                "cycle": sheet.cycle_number, "score": sheet.score,
                                "recomputed": id(sheet) not in created,
                                "deducted": deducted[id(sheet)]},
                         actor=actor)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    finals = [existing[c.institution_id] for c in cycles
              if c.institution_id in existing and existing[c.institution_id].is_final]
    return sheets + finals


def due_cycle(institution: Institution, on: date) -> Cycle:
    """The cycle to assess on day `on`: the latest ended one (R-ASM-01). Raises
    ASSESSMENT_NOT_DUE with the reason when there is none."""
    current = cycles_mod.current_cycle(institution, on)
    if current is None:
        raise DomainError(_("The institution has no service opening date yet: nothing to assess."),
                          code=ErrorCode.ASSESSMENT_NOT_DUE, field="institutionId")
    if cycles_mod.in_adaptation(institution, on):
        raise DomainError(_("The institution is still in its 6-month adaptation period "
                            "(until %(day)s): it is not assessed yet.",
                            day=current.assessed_from.isoformat()),
                          code=ErrorCode.ASSESSMENT_NOT_DUE, field="institutionId")
    if current.number == 1:
        raise DomainError(_("The first assessment cycle ends on %(day)s: it can be assessed "
                            "from the next day.", day=current.end.isoformat()),
                          code=ErrorCode.ASSESSMENT_NOT_DUE, field="cycleNumber")
    return cycles_mod.cycle(institution, current.number - 1)  # type: ignore[return-value]


def compute_assessment(institution: Institution, *, actor: User | None,
                       cycle_number: int | None = None, on: date | None = None) -> AssessmentSheet:
    """Compute one institution's draft sheet (the per-institution path of the same code):
    its latest ended cycle, or `cycle_number` if that one has ended. Operators and regulators."""
    if not can_compute(actor):
        raise _denied("assessment.compute", "institution", institution.id, actor,
                      _("Only the platform operator or regulator can compute an assessment."))
    on = on or local_today()
    if cycle_number is None:
        chosen = due_cycle(institution, on)
    else:
        chosen = cycles_mod.cycle(institution, cycle_number)  # type: ignore[assignment]
        if chosen is None or not chosen.ended(on):
            raise DomainError(_("That cycle has not ended yet: it cannot be assessed."),
                              code=ErrorCode.ASSESSMENT_NOT_DUE, field="cycleNumber")
    sheet = compute_batch([chosen], {institution.id: institution}, actor=actor)[0]
    _not_final(sheet)  # a final sheet was left alone: say so rather than pretend
    return sheet


@dataclass
class RunSummary:
    """What `assess_due` did (the CLI prints it as a table)."""

    computed: int = 0
    recomputed: int = 0
    final_unchanged: int = 0
    skipped_existing: int = 0
    passed: int = 0
    failed: int = 0
    scores: dict[int, int] = field(default_factory=dict)  # institution id → score


def _live_institutions(after_id: int, limit: int) -> list[Institution]:
    return list(db.session.scalars(
        select(Institution).where(Institution.status == InstitutionStatus.LIVE,
                                  Institution.id > after_id)
        .order_by(Institution.id).limit(limit)))


def count_live() -> int:
    return db.session.scalar(select(func.count(Institution.id)).where(
        Institution.status == InstitutionStatus.LIVE)) or 0


@contextmanager
def _frozen_heap() -> Iterator[None]:
    """Keep the objects alive before a long run (the app, its modules) out of the garbage
    collector's full passes during it: each batch allocates tens of thousands of objects, and
    every full pass walked the whole heap again (about a fifth of the run's CPU). They go back
    to the collector afterwards."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def assess_due(first_end: date, last_end: date, *, only_missing: bool = False,
               batch_size: int = DEFAULT_BATCH, actor: User | None = None,
               progress: Callable[[int], None] | None = None) -> RunSummary:
    """Compute the drafts of every live institution whose cycle ended within [first_end,
    last_end] (never a cycle not yet over). `only_missing` leaves existing drafts alone (the
    daily task); otherwise drafts are recomputed (same rows). `progress(n)` is told how many
    institutions each batch looked at."""
    last_end = min(last_end, local_today() - timedelta(days=1))
    summary = RunSummary()
    after = 0
    with _frozen_heap():
        while True:
            institutions = _live_institutions(after, batch_size)
            if not institutions:
                return summary
            after = institutions[-1].id
            due = [c for c in (cycles_mod.cycle_ending_within(i, first_end, last_end)
                               for i in institutions) if c is not None]
            if only_missing and due:
                have = _existing_keys(due)
                summary.skipped_existing += sum((c.institution_id, c.number) in have for c in due)
                due = [c for c in due if (c.institution_id, c.number) not in have]
            before = _existing_keys(due)
            by_id = {i.id: i for i in institutions}
            for sheet in compute_batch(due, by_id, actor=actor):
                key = (sheet.institution_id, sheet.cycle_number)
                if sheet.is_final:
                    summary.final_unchanged += 1
                    continue
                if key in before:
                    summary.recomputed += 1
                else:
                    summary.computed += 1
                summary.passed += sheet.passed
                summary.failed += not sheet.passed
                summary.scores[sheet.institution_id] = sheet.score
            db.session.expunge_all()  # keep the memory of a 10,000-institution run flat
            if actor is not None:
                db.session.add(actor)
            if progress:
                progress(len(institutions))


def _existing_keys(cycles: Sequence[Cycle]) -> set[tuple[int, int]]:
    if not cycles:
        return set()
    return {(i, n) for i, n in db.session.execute(select(
        AssessmentSheet.institution_id, AssessmentSheet.cycle_number).where(
        AssessmentSheet.institution_id.in_([c.institution_id for c in cycles])))}


def period_bounds(year: int) -> tuple[date, date]:
    """`--period YYYY`: the cycles that ended in calendar year YYYY (2000-2200, as the dashboard;
    beyond, `date()` itself fails)."""
    if not 2000 <= year <= 2200:
        raise InvalidInput([Problem(ErrorCode.INVALID_INPUT, _(
            "Choose a year from %(low)d to %(high)d.", low=2000, high=2200), "year")])
    return date(year, 1, 1), date(year, 12, 31)


def on_bounds(on: date) -> tuple[date, date]:
    """`--on DATE`: the latest cycle ended before `on` (ended within the year before it)."""
    return cycles_mod.add_months(on, -12), on - timedelta(days=1)


# ---------------------------------------------------------------- review and finalisation


def _clean_reason(reason: str | None) -> str:
    text = (reason or "").strip()
    if len(text) < REASON_MIN:
        raise InvalidInput([Problem(ErrorCode.REQUIRED, _(
            "Give the reason for the override (at least %(n)d characters).", n=REASON_MIN),
            "reason")])
    if len(text) > REASON_MAX:
        raise InvalidInput([Problem(ErrorCode.INVALID_INPUT,
                                    _("At most %(n)d characters.", n=REASON_MAX), "reason")])
    return sanitize_text(text, REASON_MAX)


def _locked(sheet: AssessmentSheet) -> AssessmentSheet:
    """Re-read the sheet under a row lock (PostgreSQL) so a concurrent finalise is seen."""
    db.session.refresh(sheet, with_for_update=True)
    return sheet


def override_item(sheet: AssessmentSheet, number: int, *, deducted: bool | None, reason: str,
                  actor: User | None) -> AssessmentItem:
    """The operator overrides item `number` (R-ASM-04): `deducted` True/False replaces the
    computed answer, None returns to it. Always with a recorded reason; the computed value and
    its evidence stay beside the override; audited with before and after."""
    _require_role(actor, Role.OPERATOR, "assessment.override", "assessment_sheet", sheet.id,
                  _("Only the platform operator can override an assessment item."))
    try:
        _not_final(_locked(sheet))
        item = next((i for i in sheet.items if i.number == number), None)
        if item is None:
            raise InvalidInput([Problem(ErrorCode.INVALID_INPUT,
                                        _("Choose an item from 1 to 10."), "number")])
        text = _clean_reason(reason)
        before = {"override": item.override_deducted, "reason": item.override_reason,
                  "score": sheet.score}
        item.override_deducted = deducted
        item.override_reason = text
        item.overridden_by_id = actor.id  # type: ignore[union-attr]
        item.overridden_at = utcnow()
        _rescore(sheet)
        record_audit("assessment.override", object_type="assessment_sheet", object_id=sheet.id,
                     before=before, after={"item": number, "computed": item.computed_deducted,
                                           "override": deducted, "reason": text,
                                           "score": sheet.score}, actor=actor)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return item


def finalise(sheet: AssessmentSheet, *, actor: User | None) -> AssessmentSheet:
    """The regulator finalises the sheet: it never changes again; the institution's admins are
    told (inbox + SMS) and can read it; a failed cycle starts removal (R-ASM-05, R-ONB-07)."""
    _require_role(actor, Role.REGULATOR, "assessment.finalise", "assessment_sheet", sheet.id,
                  _("Only the platform management unit can finalise an assessment."))
    from core.notifications.service import notify
    from core.onboarding.exit import issue_removal_notice
    from core.onboarding.models import RemovalReason
    from core.onboarding.workflow import institution_admins

    try:
        _not_final(_locked(sheet))
        institution = db.session.get(Institution, sheet.institution_id)
        assert institution is not None
        sheet.status = SheetStatus.FINAL
        sheet.finalised_at, sheet.finalised_by_id = utcnow(), actor.id  # type: ignore[union-attr]
        context = {"institution_name": institution.legal_name, "score": sheet.score,
                   "passed": sheet.passed, "period_start": sheet.period_start.isoformat(),
                   "period_end": sheet.period_end.isoformat()}
        for admin in institution_admins(institution):
            notify(admin, "assessment_final", context, channels=("sms", "inbox"),
                   dedupe_key=f"assessment.final:{sheet.id}",
                   link=f"/assessment/sheets/{sheet.id}")
        record_audit("assessment.finalise", object_type="assessment_sheet", object_id=sheet.id,
                     before={"status": SheetStatus.DRAFT.value},
                     after={"status": SheetStatus.FINAL.value, "score": sheet.score,
                            "passed": sheet.passed}, actor=actor)
        if sheet.passed or institution.status is not InstitutionStatus.LIVE:
            db.session.commit()
            return sheet
        details = _("Failed the assessment of the cycle %(start)s to %(end)s with %(score)d "
                    "points (a pass needs %(mark)d).", start=sheet.period_start.isoformat(),
                    end=sheet.period_end.isoformat(), score=sheet.score, mark=sheet_mod.PASS_MARK)
        notice = issue_removal_notice(institution, reason=RemovalReason.FAILED_ASSESSMENT,
                                      details=details, actor=actor)  # commits the whole step
        sheet.removal_notice_id = notice.id
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return sheet


# ---------------------------------------------------------------- reading


def get_sheet(sheet_id: int, viewer: User | None) -> AssessmentSheet:
    """The sheet if `viewer` may read it; an unknown id is NOT_FOUND, a refusal is audited."""
    sheet = get_by_id(AssessmentSheet, sheet_id)
    if sheet is None:
        raise NotFound(_("No such score sheet."), field="sheetId")
    if not can_view_sheet(viewer, sheet):
        raise _denied("assessment.read", "assessment_sheet", sheet.id, viewer,
                      _("You may not read this score sheet."))
    return sheet


def _visible(query: Select, viewer: User) -> Select:  # type: ignore[type-arg]
    if is_platform_staff(viewer):
        return query
    own = select(InstitutionStaff.institution_id).where(InstitutionStaff.user_id == viewer.id)
    return query.where(AssessmentSheet.institution_id.in_(own),
                       AssessmentSheet.status == SheetStatus.FINAL)


def list_sheets(viewer: User | None, *, year: int | None = None,
                status: SheetStatus | None = None, institution_id: int | None = None,
                passed: bool | None = None, first: int = 20,
                offset: int = 0) -> tuple[list[AssessmentSheet], int]:
    """Sheets the viewer may read (staff: all; an institution: its own final ones), newest cycle
    end first, `year` = the calendar year the cycle ended; items and institutions preloaded."""
    if viewer is None or not viewer.is_active:
        return [], 0
    if not 1 <= first <= PAGE_MAX or offset < 0:
        raise InvalidInput([Problem(ErrorCode.INVALID_INPUT,
                                    _("Ask for 1 to %(n)d rows.", n=PAGE_MAX), "first")])
    query = _visible(select(AssessmentSheet), viewer)
    if year is not None:
        start, end = period_bounds(year)
        query = query.where(AssessmentSheet.period_end >= start, AssessmentSheet.period_end <= end)
    if status is not None:
        query = query.where(AssessmentSheet.status == status)
    if institution_id is not None:
        query = query.where(AssessmentSheet.institution_id == institution_id)
    if passed is not None:
        query = query.where(AssessmentSheet.passed.is_(passed))
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = list(db.session.scalars(
        query.options(selectinload(AssessmentSheet.items))
        .order_by(AssessmentSheet.period_end.desc(), AssessmentSheet.id.desc())
        .limit(first).offset(offset)))
    return rows, total


@dataclass(frozen=True)
class CycleView:
    cycle: Cycle
    sheet: AssessmentSheet | None  # None also when the viewer may not read it yet (a draft)
    summary_submitted: bool
    ended: bool
    in_adaptation: bool


def cycles_of(institution: Institution, viewer: User | None,
              on: date | None = None) -> list[CycleView]:
    """The institution's cycles begun by `on`, newest first, with the sheet and summary state
    the viewer may see: its staff and platform staff only."""
    from core.assessment.models import ServiceSummary

    if not (is_platform_staff(viewer) or staff_role(viewer, institution.id) is not None):
        raise _denied("assessment.cycles", "institution", institution.id, viewer,
                      _("You may not read this institution's assessments."))
    on = on or local_today()
    found = cycles_mod.cycles_until(institution, on)
    sheets = {s.cycle_number: s for s in db.session.scalars(select(AssessmentSheet).where(
        AssessmentSheet.institution_id == institution.id))}
    summaries = set(db.session.scalars(select(ServiceSummary.cycle_number).where(
        ServiceSummary.institution_id == institution.id)))
    views = []
    for c in reversed(found):
        sheet = sheets.get(c.number)
        if sheet is not None and not can_view_sheet(viewer, sheet):
            sheet = None
        views.append(CycleView(c, sheet, c.number in summaries, c.ended(on),
                               c.number == 1 and on < c.assessed_from))
    return views
