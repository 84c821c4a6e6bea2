"""The working-day calendar and the response SLA (R-ONB-04, R-OPS-01, R-OPS-03; SECURITY.md 17).

Facts of chinesecalendar 1.11 used here (checked against the package): 2026 National Day is off
1-7 October with Sunday 20 September and Saturday 10 October worked; Spring Festival is off
15-23 February with Saturdays 14 and 28 February worked; the package knows 2004-2026 and
raises NotImplementedError for 2027.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from core.audit.models import AuditEvent
from core.config import load_config
from core.db import db
from core.errors import InvalidInput, PermissionDenied
from core.identity.models import Role
from core.workcalendar import service
from core.workcalendar.models import CalendarOverride
from core.workcalendar.service import (
    DaySource,
    ResponseSla,
    SlaRule,
    WorkCalendar,
    first_response_seconds,
    window_seconds,
)

SH = ZoneInfo("Asia/Shanghai")
MIN = 60
HOUR = 3600


def sh(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    """A Shanghai wall-clock time, given to the service in UTC as stored."""
    return datetime(y, m, d, hh, mm, tzinfo=SH).astimezone(UTC)


@pytest.fixture(autouse=True)
def _fresh_warnings(monkeypatch):
    """Each test sees the "once per year per process" warning state of a new process."""
    monkeypatch.setattr(service, "_warned_years", set())
    monkeypatch.setattr(service, "_uncovered_years", set())


def policy(overrides: dict[date, bool] | None = None, **kw) -> ResponseSla:
    return ResponseSla(WorkCalendar(overrides or {}), **kw)


def _audit(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)
                                   .order_by(AuditEvent.id)))


# ------------------------------------------------------------------ which days are working days


def test_statutory_holidays_and_adjusted_working_weekends_2026():
    """R-OPS-01 / R-OPS-03: the statutory calendar, adjusted working weekends included."""
    cal = WorkCalendar()
    for day in (date(2026, 10, 1), date(2026, 10, 5), date(2026, 10, 7), date(2026, 2, 16),
                date(2026, 2, 23), date(2026, 1, 1)):
        assert not cal.is_working_day(day), day
    for day in (date(2026, 10, 10), date(2026, 9, 20), date(2026, 2, 14), date(2026, 2, 28),
                date(2026, 10, 8)):
        assert cal.is_working_day(day), day
    info = cal.explain(date(2026, 10, 10))
    assert (info.is_working_day, info.source, info.detail) == (True, DaySource.STATUTORY,
                                                               "National Day")
    assert service.statutory_years() == range(2004, 2027)


def test_override_beats_the_statutory_calendar():
    """R-OPS-01: an operator override wins over the package, both ways."""
    cal = WorkCalendar({date(2026, 10, 8): False, date(2026, 10, 3): True},
                       notes={date(2026, 10, 8): "更正"})
    assert not cal.is_working_day(date(2026, 10, 8))
    assert cal.is_working_day(date(2026, 10, 3))
    assert cal.explain(date(2026, 10, 8)) == service.DayInfo(
        date(2026, 10, 8), False, DaySource.OVERRIDE, "更正")


def test_uncovered_year_falls_back_to_weekdays_with_one_warning(caplog):
    """SECURITY.md 17: 2027 is unknown to the package; Mon-Fri rule, warned once, no crash."""
    with pytest.raises(NotImplementedError):
        import chinese_calendar

        chinese_calendar.is_workday(date(2027, 1, 1))
    cal = WorkCalendar()
    with caplog.at_level(logging.WARNING, logger="core.workcalendar"):
        assert cal.explain(date(2027, 1, 1)).source is DaySource.WEEKDAY_FALLBACK
        assert cal.is_working_day(date(2027, 1, 1))  # a Friday
        assert not cal.is_working_day(date(2027, 1, 2))  # a Saturday
        assert WorkCalendar().add_working_days(date(2027, 3, 5), 10) == date(2027, 3, 19)
        assert cal.is_working_day(date(1990, 1, 1))  # before the package's years: same rule
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2  # 2027 and 1990, each once however often asked
    assert sum("2027" in w for w in warnings) == 1 and sum("1990" in w for w in warnings) == 1


def test_calendar_refuses_a_datetime_where_a_date_is_meant():
    with pytest.raises(TypeError):
        WorkCalendar().is_working_day(datetime(2026, 10, 1, tzinfo=UTC))


# ------------------------------------------------------------------ working-day deadlines


def test_r_onb_04_fifteen_working_days_across_national_day():
    """R-ONB-04: 15 working days from Mon 2026-09-28 skip 1-7 Oct and count Sat 10 Oct."""
    cal = WorkCalendar()
    due = cal.add_working_days(date(2026, 9, 28), 15)
    assert due == date(2026, 10, 23)
    assert cal.working_days_between(date(2026, 9, 28), due) == 15
    assert cal.working_days_between(due, date(2026, 9, 28)) == -15
    assert cal.add_working_days(date(2026, 9, 28), 0) == date(2026, 9, 28)
    with pytest.raises(ValueError):
        cal.add_working_days(date(2026, 9, 28), -1)


def test_r_ops_01_five_working_days_after_going_live():
    """R-OPS-01: live on Thu 2026-02-12: Fri 13, Sat 14 (adjusted), 24, 25, 26 Feb."""
    cal = WorkCalendar()
    assert cal.add_working_days(date(2026, 2, 12), 5) == date(2026, 2, 26)
    assert cal.add_working_days(date(2026, 3, 13), 5) == date(2026, 3, 20)  # an ordinary week
    assert cal.next_working_day(date(2026, 9, 30)) == date(2026, 10, 8)
    assert cal.next_working_day(date(2026, 10, 8), inclusive=True) == date(2026, 10, 8)
    assert cal.next_working_day(date(2026, 10, 4), inclusive=True) == date(2026, 10, 8)


# ------------------------------------------------------------------ response SLA (R-OPS-03)


def test_r_ops_03_friday_1730_to_monday_0810_counts_40_minutes():
    """R-OPS-03: only the working window counts; the weekend of 14-15 March 2026 does not."""
    m = first_response_seconds(sh(2026, 3, 13, 17, 30), sh(2026, 3, 16, 8, 10), policy=policy())
    assert (m.seconds_counted, m.rule, m.limit_seconds) == (40 * MIN, "working_window", None)
    assert m.within_limit is None


def test_r_ops_03_question_at_2000_counts_from_0800_next_working_day():
    """R-OPS-03: asked Tue 20:00, answered Wed 09:00 → 1 h; before 08:00 nothing counts."""
    p = policy()
    m = first_response_seconds(sh(2026, 3, 17, 20), sh(2026, 3, 18, 9), policy=p)
    assert (m.seconds_counted, m.rule) == (HOUR, SlaRule.WORKING_WINDOW)
    assert first_response_seconds(sh(2026, 3, 17, 20), sh(2026, 3, 18, 7, 59),
                                  policy=p).seconds_counted == 0
    # Asked at 20:00 on 30 Sept, the eve of National Day: the clock starts 8 Oct 08:00.
    m = first_response_seconds(sh(2026, 9, 30, 20), sh(2026, 10, 8, 8, 30), policy=p)
    assert m.seconds_counted == 30 * MIN


def test_r_ops_03_night_on_a_non_working_day_counts_from_next_working_day():
    """R-OPS-03: asked Sat 22:00, answered Mon 08:30 → working-window rule, 30 min."""
    m = first_response_seconds(sh(2026, 3, 14, 22), sh(2026, 3, 16, 8, 30), policy=policy())
    assert (m.seconds_counted, m.rule) == (30 * MIN, SlaRule.WORKING_WINDOW)


def test_r_ops_03_national_day_daytime_question_has_a_6_hour_limit():
    """R-OPS-03: received in daytime during National Day 2026 → 6 h rule, daytime counting."""
    p = policy()
    m = first_response_seconds(sh(2026, 10, 3, 10), sh(2026, 10, 3, 15), policy=p)
    assert (m.seconds_counted, m.rule, m.limit_seconds) == (5 * HOUR, "non_working_daytime",
                                                            6 * HOUR)
    assert m.within_limit
    # Fri 2 Oct (a weekday, but a holiday) 16:00 → Sat 3 Oct 10:00: 2 h + 2 h daytime.
    m = first_response_seconds(sh(2026, 10, 2, 16), sh(2026, 10, 3, 10), policy=p)
    assert (m.seconds_counted, m.rule, m.within_limit) == (4 * HOUR, SlaRule.NON_WORKING_DAYTIME,
                                                           True)
    # Answered on the first working day after the holiday: every daytime hour counts.
    m = first_response_seconds(sh(2026, 10, 7, 17), sh(2026, 10, 8, 9), policy=p)
    assert (m.seconds_counted, m.within_limit) == (2 * HOUR, True)
    m = first_response_seconds(sh(2026, 10, 3, 9), sh(2026, 10, 3, 15, 1), policy=p)
    assert m.within_limit is False


def test_r_ops_03_non_working_day_counting_elapsed_is_configurable():
    """R-OPS-03: SLA_NON_WORKING_DAY_COUNTING=elapsed counts wall-clock time."""
    p = policy(non_working_day_counting="elapsed")
    m = first_response_seconds(sh(2026, 10, 2, 16), sh(2026, 10, 3, 10), policy=p)
    assert (m.seconds_counted, m.rule, m.within_limit) == (18 * HOUR, SlaRule.NON_WORKING_DAYTIME,
                                                           False)
    p = policy(non_working_day_limit_hours=4, window_start_hour=9, window_end_hour=17)
    m = first_response_seconds(sh(2026, 10, 3, 8, 30), sh(2026, 10, 5, 9), policy=p)
    assert m.rule is SlaRule.WORKING_WINDOW  # 08:30 is night for a 09:00-17:00 window
    assert m.seconds_counted == 0


def test_r_ops_03_adjusted_working_saturday_counts_as_working():
    """R-OPS-03: Sat 10 Oct 2026 is a working day: working-window rule, its hours count."""
    p = policy()
    m = first_response_seconds(sh(2026, 10, 10, 10), sh(2026, 10, 10, 11, 30), policy=p)
    assert (m.seconds_counted, m.rule, m.limit_seconds) == (90 * MIN, SlaRule.WORKING_WINDOW, None)
    # Fri 27 Feb 17:00 → Mon 2 Mar 09:00 crosses the worked Saturday 28 Feb: 1 + 10 + 1 h.
    assert window_seconds(sh(2026, 2, 27, 17), sh(2026, 3, 2, 9), policy=p) == 12 * HOUR


def test_r_ops_03_new_year_2027_weekday_fallback_and_override(caplog):
    """R-OPS-03 / SECURITY.md 17: 31 Dec 2026 17:00 → 4 Jan 2027 09:00; 2027 is not covered."""
    received, answered = sh(2026, 12, 31, 17), sh(2027, 1, 4, 9)
    with caplog.at_level(logging.WARNING, logger="core.workcalendar"):
        # No override: Fri 1 Jan 2027 is a working day by the weekday rule: 1 + 10 + 1 h.
        m = first_response_seconds(received, answered, policy=policy())
        assert (m.seconds_counted, m.rule) == (12 * HOUR, SlaRule.WORKING_WINDOW)
        # The operator records the holiday: 1 h on 31 Dec + 1 h on 4 Jan.
        m = first_response_seconds(received, answered,
                                   policy=policy({date(2027, 1, 1): False}))
        assert m.seconds_counted == 2 * HOUR
    assert any("2027" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)


def test_r_ops_03_window_seconds_over_years_never_crashes():
    """SECURITY.md 17: a span across covered and uncovered years is still counted."""
    seconds = window_seconds(sh(2026, 12, 1), sh(2029, 1, 1), policy=policy())
    assert seconds > 0 and seconds % HOUR == 0


def test_r_ops_03_refuses_naive_and_reversed_times():
    p = policy()
    with pytest.raises(ValueError, match="naive"):
        p.measure(datetime(2026, 3, 13, 9), sh(2026, 3, 13, 10))
    with pytest.raises(ValueError, match="before"):
        p.measure(sh(2026, 3, 13, 10), sh(2026, 3, 13, 9))
    with pytest.raises(ValueError):
        policy(window_start_hour=18, window_end_hour=8)
    with pytest.raises(ValueError):
        policy(non_working_day_counting="wallclock")


def test_r_ops_03_policy_from_config_and_environment(tmp_path):
    """R-OPS-03: the window, limit and counting mode come from QI_… environment variables."""
    cfg = load_config(tmp_path, env={"QI_SERVICE_WINDOW_START_HOUR": "9",
                                     "QI_SLA_NON_WORKING_DAY_LIMIT_HOURS": "4",
                                     "QI_SLA_NON_WORKING_DAY_COUNTING": "elapsed"})
    p = ResponseSla.from_config(cfg, calendar=WorkCalendar())
    assert (p.window_start_hour, p.window_end_hour, p.non_working_day_limit_hours,
            p.non_working_day_counting) == (9, 18, 4, "elapsed")
    defaults = ResponseSla.from_config(load_config(tmp_path, env={}), calendar=WorkCalendar())
    assert (defaults.window_start_hour, defaults.window_end_hour,
            defaults.non_working_day_limit_hours, defaults.non_working_day_counting) == (
        8, 18, 6, "daytime")


# ------------------------------------------------------------------ the override table


def test_r_ops_01_set_override_permissions(app, make_user):
    """R-OPS-01: only an operator or a system admin changes the calendar; refusals audited."""
    for role in (Role.ENTERPRISE, Role.INSTITUTION_ADMIN, Role.INSTITUTION_AGENT, Role.REGULATOR):
        with pytest.raises(PermissionDenied):
            service.set_override(date(2027, 1, 1), False, "2027年元旦放假", make_user(role))
    assert db.session.scalar(select(func.count()).select_from(CalendarOverride)) == 0
    assert len(_audit("calendar.denied")) == 4
    operator, admin = make_user(Role.OPERATOR), make_user(Role.SYSADMIN)
    service.set_override(date(2027, 1, 1), False, "2027年元旦放假", operator)
    service.set_override(date(2027, 2, 7), True, "调休上班", admin)
    with pytest.raises(PermissionDenied):
        service.remove_override(date(2027, 1, 1), make_user(Role.ENTERPRISE))
    inactive = make_user(Role.OPERATOR)
    inactive.is_active = False
    with pytest.raises(PermissionDenied):
        service.set_override(date(2027, 1, 2), False, "x", inactive)
    assert db.session.scalar(select(func.count()).select_from(CalendarOverride)) == 2


def test_r_ops_01_system_actor_only_outside_web_requests(app):
    """R-OPS-01: `actor=None` is the CLI's system actor; inside a request it is refused."""
    service.set_override(date(2027, 1, 1), False, "2027年元旦放假", None)
    with app.test_request_context("/"), pytest.raises(PermissionDenied):
        service.set_override(date(2027, 1, 2), False, "x", None)
    assert [e.actor_id for e in _audit("calendar.override_set")] == [None]


def test_r_ops_01_set_override_upserts_and_audits(app, make_user):
    """R-OPS-01: setting a day twice keeps one row; the audit has before and after."""
    operator = make_user(Role.OPERATOR)
    service.set_override(date(2027, 1, 1), True, "草稿", operator)
    row = service.set_override(date(2027, 1, 1), False, "  2027年元旦放假\n", operator)
    assert (row.is_working_day, row.note, row.created_by_id) == (False, "2027年元旦放假",
                                                                 operator.id)
    assert db.session.scalar(select(func.count()).select_from(CalendarOverride)) == 1
    events = _audit("calendar.override_set")
    assert events[0].before is None
    assert events[1].before["is_working_day"] is True and events[1].after["is_working_day"] is False
    assert events[1].actor_id == operator.id and events[1].object_id == "2027-01-01"
    with pytest.raises(InvalidInput) as err:
        service.set_override(date(2027, 1, 1), False, "   ", operator)
    assert err.value.field == "note"
    assert service.remove_override(date(2027, 1, 1), operator) is True
    assert service.remove_override(date(2027, 1, 1), operator) is False
    assert len(_audit("calendar.override_remove")) == 1


def test_r_ops_01_load_reads_overrides_from_the_table(app, make_user, caplog):
    """R-OPS-01 / SECURITY.md 17: the DB-backed calendar reads overrides, also beyond its range."""
    operator = make_user(Role.OPERATOR)
    service.import_overrides([(date(2027, 1, 1), False, "2027年元旦放假"),
                              (date(2026, 10, 8), False, "测试更正")], operator)
    cal = WorkCalendar.load(date(2026, 9, 1), date(2026, 10, 31))
    assert cal.explain(date(2026, 10, 8)) == service.DayInfo(
        date(2026, 10, 8), False, DaySource.OVERRIDE, "测试更正")
    # 1 Jan 2027 lies outside the loaded range: the calendar loads that year when asked.
    assert cal.explain(date(2027, 1, 1)).source is DaySource.OVERRIDE
    p = ResponseSla.from_config(calendar=cal)
    assert p.measure(sh(2026, 12, 31, 17), sh(2027, 1, 4, 9)).seconds_counted == 2 * HOUR
    # Without an explicit calendar the app's own is loaded.
    assert first_response_seconds(sh(2026, 12, 31, 17), sh(2027, 1, 4, 9)).seconds_counted == (
        2 * HOUR)


def test_import_writes_all_rows_or_none(app, make_user):
    operator = make_user(Role.OPERATOR)
    with pytest.raises(InvalidInput) as err:
        service.import_overrides([(date(2027, 1, 1), False, "元旦"), (date(2027, 1, 2), False, ""),
                                  (date(2027, 1, 3), False, "x" * 201)], operator)
    assert [p.field for p in err.value.problems] == ["rows[1].note", "rows[2].note"]
    assert db.session.scalar(select(func.count()).select_from(CalendarOverride)) == 0


# ------------------------------------------------------------------ CLI


def test_cli_set_show_and_import(app, tmp_path):
    """R-OPS-01: `qi calendar set/show/import` act as the system and say where answers come from."""
    runner = app.test_cli_runner()
    result = runner.invoke(args=["calendar", "set", "2027-01-01", "--holiday", "--note",
                                 "2027年元旦放假"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["calendar", "show", "2027-01"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["2027-01-01", "Fri", "non-working", "override", "2027年元旦放假"]
    assert lines[3].split() == ["2027-01-04", "Mon", "working", "weekday-fallback"]
    result = runner.invoke(args=["calendar", "show", "2026-10"])
    assert "2026-10-10 Sat  working      statutory  National Day" in result.output

    good = tmp_path / "notice.csv"
    good.write_text("day,is_working_day,note\n2027-02-06,休,2027年春节\n2027-02-20,1,调休上班\n",
                    encoding="utf-8")
    result = runner.invoke(args=["calendar", "import", str(good)])
    assert result.exit_code == 0 and "2 day(s) recorded" in result.output, result.output
    bad = tmp_path / "bad.csv"
    bad.write_text("2027-03-01,0,ok\n2027-13-01,0,bad date\n2027-03-02,maybe,x\n"
                   "2027-03-03,0,\n", encoding="utf-8")
    result = runner.invoke(args=["calendar", "import", str(bad)])
    assert result.exit_code == 1
    assert "line 2" in result.output and "line 3" in result.output
    result = runner.invoke(args=["calendar", "import", str(bad.with_name("bad2.csv"))])
    assert result.exit_code != 0
    bad.write_text("2027-03-01,0,ok\n2027-03-03,0,\n", encoding="utf-8")
    result = runner.invoke(args=["calendar", "import", str(bad)])
    assert result.exit_code == 1 and "line 2, note" in result.output, result.output
    days = db.session.scalars(select(CalendarOverride.day).order_by(CalendarOverride.day)).all()
    assert days == [date(2027, 1, 1), date(2027, 2, 6), date(2027, 2, 20)]
    assert runner.invoke(args=["calendar", "set", "2027-01-05", "--note", "x"]).exit_code != 0
    result = runner.invoke(args=["calendar", "remove", "2027-01-01"])
    assert "override removed" in result.output


def test_shanghai_day_boundaries_are_local(app):
    """R-OPS-03: a UTC timestamp of 23:30 on 9 Oct is 07:30 on Sat 10 Oct (worked) in Shanghai."""
    received = datetime(2026, 10, 9, 23, 30, tzinfo=UTC)
    assert service.local_date(received) == date(2026, 10, 10)
    m = policy().measure(received, received + timedelta(hours=2))
    assert (m.rule, m.seconds_counted) == (SlaRule.WORKING_WINDOW, 90 * MIN)
