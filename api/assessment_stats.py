"""`assessmentStatistics(year, status)`: the regulator dashboard's figures in GraphQL (issue 6
item 7) — the same `core.assessment.statistics` the web page draws, so both agree. Operators and
regulators only; a refusal is audited and answered as PermissionDeniedError."""

from __future__ import annotations

from typing import Annotated

import strawberry

from api.assessment import SheetStatusEnum
from api.errors import (
    InvalidInputError,
    NotAuthenticatedError,
    PermissionDeniedError,
    to_graphql_error,
)
from api.identity import require_viewer
from core.assessment import statistics as stats_mod
from core.assessment.sheet import ITEMS, PASS_MARK
from core.errors import DomainError


@strawberry.type(name="AssessmentScoreBand", description="Score sheets in a 10-point band.")
class ScoreBandType:
    low: int
    high: int
    sheets: int


@strawberry.type(name="AssessmentDeduction", description="Score sheets that lost an Annex 2 item "
                                                         "(the answer in force after review).")
class DeductionType:
    number: int
    title: str
    points: int
    sheets: int


@strawberry.type(name="AssessmentGroupStatistics")
class GroupType:
    code: str | None = strawberry.field(description="Category or region code; null: none.")
    name: str
    sheets: int
    passed: int
    failed: int
    pass_rate: float | None = strawberry.field(description="0-1; null without sheets.")
    average_score: float | None
    score_bands: list[ScoreBandType] = strawberry.field(description="0–9 … 90–100.")
    deductions: list[DeductionType] = strawberry.field(description="Most frequent first.")


@strawberry.type(name="AssessmentYearStatistics")
class YearType:
    year: int
    final: int
    draft: int
    sheets: int
    passed: int
    failed: int
    pass_rate: float | None
    average_score: float | None


@strawberry.type(name="AssessmentStatistics")
class StatisticsType:
    year: int = strawberry.field(description="The calendar year the cycles ended in.")
    status: SheetStatusEnum | None  # type: ignore[valid-type]
    pass_mark: int
    overall: GroupType
    categories: list[GroupType] = strawberry.field(description="By the category whose quota the "
                                                               "sheet used; most sheets first.")
    regions: list[GroupType] = strawberry.field(description="By district (else city) code.")
    years: list[YearType] = strawberry.field(description="Every year with a sheet, oldest first.")


StatisticsResult = Annotated[
    StatisticsType | InvalidInputError | PermissionDeniedError | NotAuthenticatedError,
    strawberry.union("AssessmentStatisticsResult")]


def _group(f: stats_mod.Figures) -> GroupType:
    return GroupType(
        code=f.key, name=f.name, sheets=f.sheets, passed=f.passed, failed=f.failed,
        pass_rate=f.pass_rate, average_score=f.average,
        score_bands=[ScoreBandType(low=low, high=high, sheets=f.bands[b])
                     for b in range(stats_mod.BANDS)
                     for low, high in [stats_mod.band_bounds(b)]],
        deductions=[DeductionType(number=n, title=stats_mod.item_title(n), points=ITEMS[n][0],
                                  sheets=count) for n, count in f.top_deductions()])


@strawberry.type
class AssessmentStatisticsQuery:
    @strawberry.field(description="Score distribution, pass rate, most frequent deductions, per "
                                  "category, per region and year over year of the sheets whose "
                                  "cycle ended in `year` (default: the latest with sheets): "
                                  "operators and regulators.")
    def assessment_statistics(self, year: int | None = None,
                              status: SheetStatusEnum | None = None,  # type: ignore[valid-type]
                              ) -> StatisticsResult:
        try:
            found = stats_mod.statistics(require_viewer(), year=year, status=status)
        except DomainError as exc:
            return to_graphql_error(exc)  # type: ignore[return-value]
        return StatisticsType(
            year=found.year, status=found.status, pass_mark=PASS_MARK,
            overall=_group(found.overall), categories=[_group(c) for c in found.categories],
            regions=[_group(r) for r in found.regions],
            years=[YearType(year=y.year, final=y.final, draft=y.draft, sheets=y.sheets,
                            passed=y.passed, failed=y.failed, pass_rate=y.pass_rate,
                            average_score=y.average) for y in found.years])
