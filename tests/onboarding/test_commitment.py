"""The commitment letter of Annex 1: its text, online signing and re-signing (R-COM-01, R-COM-02,
R-ELIG-04)."""

from __future__ import annotations

import hashlib
import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.audit.models import AuditEvent
from core.db import db, utcnow
from core.errors import DomainError, ErrorCode, InvalidInput, NotFound, PermissionDenied
from core.identity.models import Role, User
from core.institutions.models import Institution, InstitutionStatus, StaffRole
from core.institutions.service import add_staff, create_institution
from core.onboarding import commitment
from core.onboarding.models import CommitmentSignature, CommitmentVersion

# SHA-256 of the canonical text of version 1 (Annex 1 as published on 2023-03-15). It changes
# only if the official text or the way it is laid out changes: both would need a new version.
V1_SHA256 = "7e8675e39283785043721a13e9fb4922b78718f1ce546755e094d6608d6d4d27"
UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) MicroMessenger/8.0.49"


def _org(make_user: Any, name: str = "佛山市顺德区检测认证有限公司", *,
         status: InstitutionStatus = InstitutionStatus.LIVE,
         admin_name: str = "陈晓峰") -> tuple[Institution, User]:
    admin = make_user(Role.INSTITUTION_ADMIN, name=admin_name)
    return create_institution(legal_name=name, uscc=None, admin=admin, status=status), admin


def _sign(institution: Institution, admin: User, version: CommitmentVersion | None = None,
          **overrides: Any) -> CommitmentSignature:
    version = version or commitment.current_version()
    args: dict[str, Any] = {"signer_name": "陈晓峰", "signer_title": "总经理",
                            "version_id": version.id, "actor": admin, "ip": "113.108.21.7",
                            "user_agent": UA, **overrides}
    return commitment.sign(institution, **args)


def _v2(actor: User) -> CommitmentVersion:
    v1 = commitment.current_version()
    items = [*v1.items, "承诺按平台要求及时更新机构信息、服务项目和资质证书，确保信息真实有效。"]
    return commitment.publish_version(title=v1.title, preamble=v1.preamble, items=items,
                                      closing=v1.closing, actor=actor)


def _audits(action: str, result: str | None = None) -> list[AuditEvent]:
    db.session.expire_all()
    query = select(AuditEvent).where(AuditEvent.action == action)
    if result is not None:
        query = query.where(AuditEvent.result == result)
    return list(db.session.scalars(query.order_by(AuditEvent.id)))


def _outbox() -> list[Any]:
    from core.notifications.models import OutboxMessage

    db.session.expire_all()
    return list(db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


# ------------------------------------------------------------------ the text


def test_r_com_01_letter_has_the_eight_commitments_of_annex_1_and_a_stable_hash(app):
    """R-COM-01: a fresh database has version 1, the eight commitments shown in full; its text
    and SHA-256 are stable."""
    assert db.session.scalar(select(CommitmentVersion)) is None
    v1 = commitment.current_version()
    db.session.commit()
    assert v1.version == 1 and v1.published_by_id is None
    assert v1.title == "佛山市质量基础设施“一站式”服务线上平台机构入驻承诺书"
    assert len(v1.items) == 8
    assert v1.items[0].startswith("承诺在平台提交的所有资料合法规范、真实有效")
    assert v1.items[7].endswith("否则由本机构承担全部法律责任。")

    text = commitment.canonical_text(v1)
    lines = text.split("\n")
    assert lines[0] == v1.title
    assert lines[1].startswith("为规范机构入驻") and lines[1].endswith("现作出以下承诺：")
    assert [line[:3] for line in lines[2:10]] == [f"{n}. " for n in range(1, 9)]
    assert lines[-1].startswith("以上承诺如有不实之处") and len(lines) == 11
    assert v1.text_sha256 == hashlib.sha256(text.encode("utf-8")).hexdigest() == V1_SHA256

    assert commitment.current_version().id == v1.id  # created once, not again
    assert len(db.session.scalars(select(CommitmentVersion)).all()) == 1


# ------------------------------------------------------------------ signing (R-COM-01)


def test_r_com_01_signing_records_signer_time_ip_version_and_hash_of_the_text(app, make_user):
    """R-COM-01 / R-ELIG-04: name, title, time, IP, user agent (sanitised), version and the
    SHA-256 of the exact canonical text are recorded, and audited."""
    institution, admin = _org(make_user)
    assert commitment.current_signature(institution) is None
    before = utcnow()
    signature = _sign(institution, admin, user_agent=UA + "\r\nX-Forged: 1")

    db.session.expire_all()
    stored = db.session.get(CommitmentSignature, signature.id)
    version = commitment.current_version()
    assert (stored.signer_name, stored.signer_title) == ("陈晓峰", "总经理")
    assert stored.signed_by_id == admin.id and stored.institution_id == institution.id
    assert before - timedelta(seconds=1) <= stored.signed_at <= utcnow()
    assert stored.ip == "113.108.21.7"
    assert stored.user_agent == UA + "\\x0d\\x0aX-Forged: 1"
    assert stored.version_id == version.id and stored.version.version == 1
    expected = hashlib.sha256(commitment.canonical_text(version).encode("utf-8")).hexdigest()
    assert stored.text_sha256 == expected == version.text_sha256

    assert commitment.current_signature(institution).id == signature.id
    assert [s.id for s in commitment.signatures(institution)] == [signature.id]
    [event] = _audits("commitment.sign")
    assert event.actor_id == admin.id and event.object_id == str(institution.id)
    assert event.after["text_sha256"] == expected and event.after["version"] == 1


@pytest.mark.parametrize(("name", "title", "fields"), [
    ("", "  ", {"signerName", "signerTitle"}),
    ("陈" * 101, "总经理", {"signerName"}),
    ("陈晓峰", "总经理\n（已授权）", {"signerTitle"}),
])
def test_r_com_01_signer_name_and_title_are_required(app, make_user, name, title, fields):
    """R-COM-01: the signer's name and title are required (at most 100 characters, one line);
    every problem is listed and nothing is signed."""
    institution, admin = _org(make_user)
    with pytest.raises(InvalidInput) as err:
        _sign(institution, admin, signer_name=name, signer_title=title)
    assert {p.field for p in err.value.problems} == fields
    assert commitment.current_signature(institution) is None


def test_r_com_01_only_the_institutions_own_admin_can_sign(app, make_user):
    """R-COM-01: an agent, another institution's admin and platform staff cannot sign; each
    refusal is audited."""
    institution, _admin = _org(make_user)
    _other, other_admin = _org(make_user, "佛山市南海区计量检测有限公司", admin_name="黄伟")
    agent = make_user(Role.INSTITUTION_AGENT, name="客服 李敏")
    add_staff(institution, agent, StaffRole.AGENT, actor=_admin)
    regulator = make_user(Role.REGULATOR, name="质量发展科 林科长")
    for intruder in (agent, other_admin, regulator):
        with pytest.raises(PermissionDenied):
            _sign(institution, intruder)
    assert commitment.signatures(institution) == []
    denied = _audits("commitment.denied", "denied")
    assert [e.actor_id for e in denied] == [agent.id, other_admin.id, regulator.id]


def test_r_com_01_the_same_version_is_signed_once(app, make_user):
    institution, admin = _org(make_user)
    _sign(institution, admin)
    with pytest.raises(commitment.AlreadySigned) as err:
        _sign(institution, admin)
    assert err.value.code is ErrorCode.ALREADY_SIGNED
    assert len(commitment.signatures(institution)) == 1


def test_r_com_02_signing_an_old_version_is_refused(app, make_user):
    """R-COM-02: once version 2 is published, a form still showing version 1 cannot be signed."""
    institution, admin = _org(make_user)
    v1 = commitment.current_version()
    _v2(make_user(Role.REGULATOR, name="林科长"))
    with pytest.raises(commitment.CommitmentOutdated) as err:
        _sign(institution, admin, version=v1)
    assert err.value.code is ErrorCode.COMMITMENT_OUTDATED and err.value.field == "versionId"
    assert "2" in err.value.message
    with pytest.raises(NotFound):
        _sign(institution, admin, version_id=9999)
    assert commitment.signatures(institution) == []


def test_r_com_01_a_version_altered_after_publication_is_never_signed(app, make_user):
    """R-COM-01: the hash is recomputed when signing; a row changed behind the platform's back
    (its text no longer matching its published hash) cannot be signed."""
    institution, admin = _org(make_user)
    version = commitment.current_version()
    db.session.commit()
    db.session.execute(update(CommitmentVersion).where(CommitmentVersion.id == version.id)
                       .values(closing="以上承诺仅供参考。"))
    db.session.commit()
    db.session.expire_all()
    with pytest.raises(RuntimeError):
        _sign(institution, admin)
    db.session.rollback()
    assert commitment.signatures(institution) == []


# ------------------------------------------------------------------ new versions (R-COM-02)


def test_r_com_02_a_new_version_flags_every_live_institution_until_it_signs_again(app, make_user):
    """R-COM-02: publishing version 2 flags every live institution (not drafts, not removed
    ones) until it signs version 2; one reminder per admin is queued with the publication."""
    signed, signed_admin = _org(make_user, "佛山市顺德区检测认证有限公司", admin_name="陈晓峰")
    second_admin = make_user(Role.INSTITUTION_ADMIN, name="陈晓峰的同事 周婷")
    add_staff(signed, second_admin, StaffRole.ADMIN, actor=signed_admin)
    unsigned, _unsigned_admin = _org(make_user, "佛山市南海区计量检测有限公司", admin_name="黄伟")
    draft, draft_admin = _org(make_user, "佛山市禅城区标准化研究院", admin_name="梁静",
                              status=InstitutionStatus.DRAFT)
    removed, _removed_admin = _org(make_user, "佛山市三水区某检测站", admin_name="何军",
                                   status=InstitutionStatus.REMOVED)
    _sign(signed, signed_admin)
    _sign(draft, draft_admin, signer_name="梁静", signer_title="院长")
    assert [i.id for i in commitment.institutions_needing_signature()] == [unsigned.id]

    regulator = make_user(Role.REGULATOR, name="质量发展科 林科长")
    v2 = _v2(regulator)
    assert v2.version == 2 and len(v2.items) == 9 and v2.published_by_id == regulator.id
    assert v2.text_sha256 == hashlib.sha256(
        commitment.canonical_text(v2).encode("utf-8")).hexdigest()
    assert commitment.current_version().id == v2.id
    assert [i.id for i in commitment.institutions_needing_signature()] == [signed.id, unsigned.id]
    assert commitment.current_signature(signed) is None
    assert commitment.current_signature(draft) is None  # drafts sign before applying (R-ELIG-04)

    messages = [m for m in _outbox() if m.template == "commitment_resign"]
    recipients = {m.recipient_user_id for m in messages}
    assert recipients == {signed_admin.id, second_admin.id, _unsigned_admin.id}
    assert {m.channel for m in messages} == {"sms", "inbox"}
    per_admin = {(m.recipient_user_id, m.channel) for m in messages}
    assert len(per_admin) == len(messages) == 2 * len(recipients)  # one per admin and channel
    assert all("2" in m.body for m in messages)
    assert draft_admin.id not in recipients and _removed_admin.id not in recipients

    [event] = _audits("commitment.publish")
    assert event.actor_id == regulator.id
    assert event.after["flagged_institutions"] == [signed.id, unsigned.id]

    _sign(signed, signed_admin, version=v2)
    assert [i.id for i in commitment.institutions_needing_signature()] == [unsigned.id]
    history = commitment.signatures(signed)
    assert [s.version.version for s in history] == [2, 1]
    assert history[0].text_sha256 == v2.text_sha256 != history[1].text_sha256
    assert removed.id not in {i.id for i in commitment.institutions_needing_signature()}


def test_r_com_02_reminders_are_not_queued_twice_for_the_same_version(app, make_user):
    """R-COM-02: queuing the reminders for a version again (a retried publication, a repeated
    run) adds nothing: the dedupe key names the institution and the version."""
    _org(make_user)
    _org(make_user, "佛山市南海区计量检测有限公司", admin_name="黄伟")
    v2 = _v2(make_user(Role.REGULATOR, name="林科长"))
    first = [m.id for m in _outbox()]
    assert first
    commitment._queue_reminders(v2)
    db.session.commit()
    assert [m.id for m in _outbox()] == first


def test_r_com_02_only_the_regulator_or_a_system_admin_publishes(app, make_user):
    """R-COM-02: operators and institutions cannot publish a version; refusals are audited."""
    _institution, admin = _org(make_user)
    for intruder in (make_user(Role.OPERATOR, name="运维 张工"), admin):
        with pytest.raises(PermissionDenied):
            _v2(intruder)
    assert commitment.current_version().version == 1
    assert len(_audits("commitment.denied", "denied")) == 2
    assert _v2(make_user(Role.SYSADMIN, name="系统管理员")).version == 2


@pytest.mark.parametrize("items", [
    [],
    [f"承诺第{n}条" for n in range(1, 22)],
    ["承诺一", "  ", "承诺三"],
    ["承诺一", "承诺二\n9. 伪造的第九条"],  # a line break would forge a numbered line
])
def test_r_com_02_a_version_has_1_to_20_non_empty_one_line_commitments(app, make_user, items):
    regulator = make_user(Role.REGULATOR, name="林科长")
    with pytest.raises(InvalidInput) as err:
        commitment.publish_version(title="承诺书", preamble="现作出以下承诺：", items=items,
                                   closing="以上承诺如有不实之处，愿负相应的法律责任。",
                                   actor=regulator)
    assert {p.field for p in err.value.problems} == {"items"}
    assert commitment.current_version().version == 1


def test_r_com_02_republishing_the_same_text_is_refused(app, make_user):
    """Every live institution would have to sign again for nothing."""
    regulator = make_user(Role.REGULATOR, name="林科长")
    v1 = commitment.current_version()
    with pytest.raises(DomainError) as err:
        commitment.publish_version(title=v1.title, preamble=v1.preamble, items=list(v1.items),
                                   closing=v1.closing, actor=regulator)
    assert err.value.code is ErrorCode.DUPLICATE
    assert commitment.current_version().version == 1


# ------------------------------------------------------------------ races (PostgreSQL)


def _version_row(number: int, closing: str) -> CommitmentVersion:
    data = commitment.letter_v1()
    row = CommitmentVersion(version=number, title=data["title"], preamble=data["preamble"],
                            items=list(data["items"]), closing=closing)
    row.text_sha256 = commitment.text_sha256(row)
    return row


def test_r_com_01_two_first_uses_create_version_1_once(app, postgres_url):
    """PostgreSQL: a request that finds the table empty while another is creating version 1
    waits for it and returns that row instead of failing."""
    first = Session(db.engine)
    first.add(_version_row(1, commitment.letter_v1()["closing"]))
    first.flush()
    timer = threading.Timer(0.3, first.commit)
    timer.start()
    started = time.monotonic()
    try:
        version = commitment.current_version()
        assert time.monotonic() - started >= 0.2  # it waited for the other transaction
        db.session.commit()
    finally:
        timer.join()
        first.close()
    assert version.version == 1
    assert len(db.session.scalars(select(CommitmentVersion)).all()) == 1


def test_r_com_02_two_publications_of_the_same_number_leave_one_and_no_extra_reminders(
        app, make_user, postgres_url):
    """PostgreSQL: while one publication of version 2 is in flight, a second one with the same
    number waits, then fails with DUPLICATE; its reminders roll back with it."""
    _org(make_user)
    commitment.current_version()
    db.session.commit()
    first = Session(db.engine)
    first.add(_version_row(2, "以上承诺如有不实之处，愿负相应的法律责任。"))
    first.flush()
    timer = threading.Timer(0.3, first.commit)
    timer.start()
    try:
        with pytest.raises(DomainError) as err:
            _v2(make_user(Role.REGULATOR, name="林科长"))
    finally:
        timer.join()
        first.close()
    assert err.value.code is ErrorCode.DUPLICATE
    assert [v.version for v in commitment.versions()] == [2, 1]
    assert _outbox() == [] and _audits("commitment.publish") == []
