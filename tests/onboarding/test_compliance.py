"""Compliance records and the rule that reads them (R-ELIG-03; assessment item 1 of Annex 2)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from core.audit.models import AuditEvent
from core.clock import local_today
from core.db import db
from core.errors import InvalidInput, PermissionDenied
from core.identity.models import Role, User
from core.institutions.models import Institution, InstitutionStatus
from core.institutions.service import create_institution
from core.onboarding import compliance
from core.onboarding.compliance import blocking_records, three_years_before
from core.onboarding.models import ComplianceKind, ComplianceRecord

ON = date(2025, 6, 10)  # the day of the check in most tests (in the past, so recordable)
SOURCE = "国家企业信用信息公示系统"
PENALTY_SOURCE = "佛山市市场监督管理局行政处罚决定书"


@pytest.fixture
def operator(make_user: Any) -> User:
    return make_user(Role.OPERATOR, name="运维 张工")


@pytest.fixture
def institution(make_user: Any) -> Institution:
    admin = make_user(Role.INSTITUTION_ADMIN, name="陈晓峰")
    return create_institution(legal_name="佛山市顺德区检测认证有限公司", uscc=None, admin=admin,
                              status=InstitutionStatus.LIVE)


def _record(institution: Institution, operator: User, kind: ComplianceKind, occurred_on: date,
            **kwargs: Any) -> ComplianceRecord:
    kwargs.setdefault("source", PENALTY_SOURCE if kind is ComplianceKind.ADMINISTRATIVE_PENALTY
                      else SOURCE)
    return compliance.record(institution, kind=kind, occurred_on=occurred_on, actor=operator,
                             **kwargs)


def _ids(records: list[ComplianceRecord]) -> list[int]:
    return [r.id for r in records]


# ------------------------------------------------------------------ the rule


def test_r_elig_03_three_years_before_handles_the_leap_day():
    assert three_years_before(date(2025, 6, 10)) == date(2022, 6, 10)
    assert three_years_before(date(2024, 2, 29)) == date(2021, 2, 28)
    assert three_years_before(date(2027, 2, 28)) == date(2024, 2, 28)
    assert three_years_before(date(2028, 2, 29)) == date(2025, 2, 28)


def test_r_elig_03_a_penalty_counts_for_three_years_even_once_ended(app, institution, operator):
    """R-ELIG-03 / Annex 2 item 1: a penalty 3 years and 1 day before the check (fulfilled) no
    longer blocks; one exactly 3 years before, or 2 years before, does."""
    too_old = _record(institution, operator, ComplianceKind.ADMINISTRATIVE_PENALTY,
                      date(2022, 6, 9), ended_on=date(2022, 7, 9), reference="佛顺市监罚〔2022〕118号",
                      description="检验检测报告未按规定签发，罚款人民币三万元")
    assert blocking_records(institution.id, ON) == []
    boundary = _record(institution, operator, ComplianceKind.ADMINISTRATIVE_PENALTY,
                       date(2022, 6, 10), ended_on=date(2022, 7, 1))
    recent = _record(institution, operator, ComplianceKind.ADMINISTRATIVE_PENALTY,
                     date(2023, 6, 10), ended_on=date(2023, 7, 10), reference="佛顺市监罚〔2023〕56号")
    assert _ids(blocking_records(institution.id, ON)) == [boundary.id, recent.id]
    assert too_old.id not in _ids(blocking_records(institution.id, ON))
    # The day after the boundary penalty's third anniversary only the 2023 one is left.
    assert _ids(blocking_records(institution.id, ON + timedelta(days=1))) == [recent.id]


def test_r_elig_03_an_ended_violation_older_than_three_years_does_not_block(app, institution,
                                                                           operator):
    _record(institution, operator, ComplianceKind.VIOLATION, date(2021, 3, 1),
            ended_on=date(2021, 4, 1))
    assert blocking_records(institution.id, ON) == []
    recent = _record(institution, operator, ComplianceKind.VIOLATION, date(2024, 12, 1),
                     ended_on=date(2024, 12, 20))
    assert _ids(blocking_records(institution.id, ON)) == [recent.id]


def test_r_elig_03_an_active_list_entry_blocks_until_it_ends(app, institution, operator):
    """R-ELIG-03: an abnormal-operation-list entry from 5 years ago blocks while it is in effect;
    ended yesterday, it no longer blocks (list kinds have no three-year tail)."""
    entry = _record(institution, operator, ComplianceKind.ABNORMAL_OPERATION_LIST,
                    date(2020, 6, 10), description="通过登记的住所或者经营场所无法联系")
    assert _ids(blocking_records(institution.id, ON)) == [entry.id]

    compliance.end_record(entry, ended_on=ON, actor=operator)  # removed from the list today
    assert blocking_records(institution.id, ON) == []
    assert _ids(blocking_records(institution.id, ON - timedelta(days=1))) == [entry.id]

    compliance.end_record(entry, ended_on=ON - timedelta(days=1), actor=operator)  # yesterday
    assert blocking_records(institution.id, ON) == []
    assert _ids(blocking_records(institution.id, ON - timedelta(days=2))) == [entry.id]
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "compliance.end")
                               .order_by(AuditEvent.id.desc())).first()
    assert event.before == {"ended_on": ON.isoformat()}
    assert event.after == {"ended_on": (ON - timedelta(days=1)).isoformat()}


@pytest.mark.parametrize("kind", [ComplianceKind.DISHONEST_LIST, ComplianceKind.BAD_INDUSTRY_RECORD,
                                  ComplianceKind.VIOLATION])
def test_r_elig_03_any_record_in_effect_blocks(app, institution, operator, kind):
    row = _record(institution, operator, kind, date(2015, 1, 5))
    assert _ids(blocking_records(institution.id, ON)) == [row.id]
    assert blocking_records(institution.id, date(2015, 1, 4)) == []  # not yet on that day


def test_r_elig_03_leap_day_penalty(app, institution, operator):
    """A penalty on 29 Feb 2024 blocks until 28 Feb 2027 and not from 1 Mar 2027; checked on
    29 Feb 2024, a penalty of 28 Feb 2021 still counts and one of 27 Feb 2021 does not."""
    leap = _record(institution, operator, ComplianceKind.ADMINISTRATIVE_PENALTY, date(2024, 2, 29),
                   ended_on=date(2024, 3, 15))
    assert _ids(blocking_records(institution.id, date(2027, 2, 28))) == [leap.id]
    assert blocking_records(institution.id, date(2027, 3, 1)) == []

    on_leap_day = date(2024, 2, 29)
    counted = _record(institution, operator, ComplianceKind.ADMINISTRATIVE_PENALTY,
                      date(2021, 2, 28), ended_on=date(2021, 3, 1))
    _record(institution, operator, ComplianceKind.ADMINISTRATIVE_PENALTY, date(2021, 2, 27),
            ended_on=date(2021, 3, 1))
    assert _ids(blocking_records(institution.id, on_leap_day)) == [counted.id, leap.id]


def test_r_elig_03_records_are_per_institution_and_listed_newest_first(app, institution, operator,
                                                                        make_user):
    other_admin = make_user(Role.INSTITUTION_ADMIN, name="黄伟")
    other = create_institution(legal_name="佛山市南海区计量检测有限公司", uscc=None,
                               admin=other_admin, status=InstitutionStatus.LIVE)
    old = _record(institution, operator, ComplianceKind.VIOLATION, date(2019, 5, 1),
                  ended_on=date(2019, 6, 1))
    new = _record(institution, operator, ComplianceKind.ADMINISTRATIVE_PENALTY, date(2024, 5, 1))
    _record(other, operator, ComplianceKind.DISHONEST_LIST, date(2023, 1, 1))
    assert _ids(compliance.records_of(institution.id)) == [new.id, old.id]
    assert _ids(blocking_records(institution.id, ON)) == [new.id]


# ------------------------------------------------------------------ recording


def test_r_elig_03_the_operator_records_with_a_source_and_it_is_audited(app, institution,
                                                                         operator):
    row = _record(institution, operator, ComplianceKind.ADMINISTRATIVE_PENALTY, date(2024, 9, 3),
                  reference="佛顺市监罚〔2024〕77号", description="超出资质认定范围出具检验检测报告")
    db.session.expire_all()
    stored = db.session.get(ComplianceRecord, row.id)
    assert stored.source == PENALTY_SOURCE and stored.recorded_by_id == operator.id
    assert stored.active and stored.ended_on is None
    [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "compliance.record"))
    assert event.actor_id == operator.id and event.object_id == str(row.id)
    assert event.after["kind"] == "administrative_penalty"
    assert event.after["occurred_on"] == "2024-09-03"


def test_r_elig_03_only_the_operator_records_or_ends(app, institution, operator, make_user):
    admin = db.session.get(User, institution.staff[0].user_id)
    regulator = make_user(Role.REGULATOR, name="林科长")
    for intruder in (admin, regulator):
        with pytest.raises(PermissionDenied):
            _record(institution, intruder, ComplianceKind.VIOLATION, date(2024, 1, 1))
    assert compliance.records_of(institution.id) == []
    row = _record(institution, operator, ComplianceKind.ABNORMAL_OPERATION_LIST, date(2024, 1, 1))
    with pytest.raises(PermissionDenied):
        compliance.end_record(row, ended_on=date(2024, 2, 1), actor=admin)
    db.session.expire_all()
    assert db.session.get(ComplianceRecord, row.id).ended_on is None
    denied = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "compliance.denied",
                                                         AuditEvent.result == "denied")).all()
    assert [e.actor_id for e in denied] == [admin.id, regulator.id, admin.id]


def test_r_elig_03_dates_and_source_are_checked_all_at_once(app, institution, operator):
    """A future date of occurrence, an end before it and a missing source are all reported."""
    tomorrow = local_today() + timedelta(days=1)
    with pytest.raises(InvalidInput) as err:
        _record(institution, operator, ComplianceKind.VIOLATION, tomorrow, source="  ")
    assert {p.field for p in err.value.problems} == {"occurredOn", "source"}
    with pytest.raises(InvalidInput) as err:
        _record(institution, operator, ComplianceKind.VIOLATION, date(2024, 5, 1),
                ended_on=date(2024, 4, 30))
    assert {p.field for p in err.value.problems} == {"endedOn"}
    row = _record(institution, operator, ComplianceKind.VIOLATION, date(2024, 5, 1),
                  ended_on=date(2024, 5, 1))  # ended the same day: allowed
    with pytest.raises(InvalidInput):
        compliance.end_record(row, ended_on=date(2024, 4, 1), actor=operator)
    assert _ids(compliance.records_of(institution.id)) == [row.id]
