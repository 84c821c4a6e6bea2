"""`qi calendar …`: the operator's working-day overrides, recorded as the system (actor None).

    qi calendar set 2027-01-01 --holiday --note "2027年元旦放假"
    qi calendar remove 2027-01-01
    qi calendar show 2027-01          (or a whole year: 2027)
    qi calendar import notice.csv     (columns day,is_working_day,note; a header row is allowed)
"""

from __future__ import annotations

import calendar as stdlib_calendar
import csv
import re
from datetime import date, timedelta
from pathlib import Path

import click
from flask.cli import with_appcontext

from core.errors import InvalidInput
from core.workcalendar import service
from core.workcalendar.service import OverrideRow, WorkCalendar

_TRUE = {"1", "true", "yes", "y", "work", "workday", "working", "班", "上班", "工作日"}
_FALSE = {"0", "false", "no", "n", "off", "holiday", "rest", "休", "休息", "放假", "休息日", "节假日"}
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _fail(lines: list[str]) -> None:
    for line in lines:
        click.echo(f"  {line}", err=True)
    raise SystemExit(1)


def _fail_on_invalid(exc: InvalidInput) -> None:
    _fail([f"{p.field}: {p.message}" for p in exc.problems])


def _parse_day(value: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not a date like 2027-01-01") from exc


@click.group("calendar", help="The working-day calendar: statutory holidays plus overrides.")
def calendar_group() -> None:
    pass


@calendar_group.command("set", help="Mark one day as a holiday or a working day (an override).")
@click.argument("day")
@click.option("--holiday/--workday", "holiday", default=None,
              help="--holiday: not a working day; --workday: a working day (e.g. 调休上班).")
@click.option("--note", required=True, help="Where this comes from, e.g. 2027年元旦放假.")
@with_appcontext
def calendar_set(day: str, holiday: bool | None, note: str) -> None:
    if holiday is None:
        raise click.UsageError("say --holiday or --workday")
    when = _parse_day(day)
    try:
        service.set_override(when, not holiday, note, actor=None)
    except InvalidInput as exc:
        _fail_on_invalid(exc)
    click.echo(f"{when.isoformat()} {'holiday' if holiday else 'working day'} (override recorded)")


@calendar_group.command("remove", help="Delete one day's override.")
@click.argument("day")
@with_appcontext
def calendar_remove(day: str) -> None:
    when = _parse_day(day)
    removed = service.remove_override(when, actor=None)
    click.echo(f"{when.isoformat()}: {'override removed' if removed else 'no override recorded'}")


def _period(value: str) -> tuple[date, date]:
    try:
        if len(value) == 4:
            year = int(value)
            return date(year, 1, 1), date(year, 12, 31)
        year_s, month_s = value.split("-")
        year, month = int(year_s), int(month_s)
        return date(year, month, 1), date(year, month, stdlib_calendar.monthrange(year, month)[1])
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not a month like 2027-01 or a year like 2027") from exc


@calendar_group.command("show", help="Print each day of a month (2027-01) or year (2027).")
@click.argument("period")
@with_appcontext
def calendar_show(period: str) -> None:
    start, end = _period(period)
    cal = WorkCalendar.load(start, end)
    day = start
    while day <= end:
        info = cal.explain(day)
        status = "working" if info.is_working_day else "non-working"
        line = f"{day.isoformat()} {_WEEKDAYS[day.weekday()]}  {status:<11}  {info.source.value}"
        click.echo(line + (f"  {info.detail}" if info.detail else ""))
        day += timedelta(days=1)
    covered = service.statutory_years()
    if covered:
        click.echo(f"(statutory data: {covered.start}-{covered.stop - 1})")


def read_csv(path: Path) -> list[tuple[int, OverrideRow]]:
    """Parse `day,is_working_day,note` rows with their line numbers; every bad line is
    reported (and the command fails), none is skipped."""
    problems: list[str] = []
    rows: list[tuple[int, OverrideRow]] = []
    seen: dict[date, int] = {}
    with path.open(encoding="utf-8-sig", newline="") as f:
        for line_no, record in enumerate(csv.reader(f), start=1):
            if not record or all(not cell.strip() for cell in record):
                continue
            if line_no == 1 and record[0].strip().lower() == "day":
                continue  # header
            if len(record) != 3:
                problems.append(f"line {line_no}: expected 3 columns (day,is_working_day,note), "
                                f"got {len(record)}")
                continue
            day_s, flag_s, note = (cell.strip() for cell in record)
            try:
                day = date.fromisoformat(day_s)
            except ValueError:
                problems.append(f"line {line_no}: {day_s!r} is not a date like 2027-01-01")
                continue
            flag = flag_s.lower()
            if flag not in _TRUE | _FALSE:
                problems.append(f"line {line_no}: is_working_day {flag_s!r} is not one of "
                                "1/0, true/false, workday/holiday, 班/休")
                continue
            if day in seen:
                problems.append(f"line {line_no}: {day.isoformat()} already given on line "
                                f"{seen[day]}")
                continue
            seen[day] = line_no
            rows.append((line_no, OverrideRow(day, flag in _TRUE, note)))
    if problems:
        _fail(problems)
    return rows


def _where(field: str | None, numbered: list[tuple[int, OverrideRow]]) -> str:
    """`rows[3].note` (the service's name for the 4th row) → `line 5, note: `."""
    match = re.fullmatch(r"rows\[(\d+)\]\.(\w+)", field or "")
    if match is None:
        return f"{field}: " if field else ""
    return f"line {numbered[int(match.group(1))][0]}, {match.group(2)}: "


@calendar_group.command("import", help="Record the days of a CSV file (day,is_working_day,note): "
                                       "all of them, or none if a line is wrong.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@with_appcontext
def calendar_import(file: Path) -> None:
    numbered = read_csv(file)
    try:
        count = service.import_overrides([row for _line, row in numbered], actor=None)
    except InvalidInput as exc:
        _fail([_where(p.field, numbered) + p.message for p in exc.problems])
    click.echo(f"{count} day(s) recorded")
