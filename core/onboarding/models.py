"""Onboarding records: categories and advantage items, agent invitations, the commitment letter,
compliance records, the application with its history, exit requests and removal notices."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, utcnow


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    return Enum(cls, name=name, values_callable=lambda e: [m.value for m in e])


class InstitutionCategory(Base):
    """A service category the institution chose (a plugin's category code)."""

    __tablename__ = "institution_category"
    __table_args__ = (UniqueConstraint("institution_id", "category_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id", ondelete="CASCADE"),
                                                index=True)
    category_code: Mapped[str] = mapped_column(String(40))


class AdvantageItem(Base):
    """One of the 2-3 advantage service items (优势服务项目, R-ELIG-06)."""

    __tablename__ = "advantage_item"

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id", ondelete="CASCADE"),
                                                index=True)
    category_code: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    position: Mapped[int] = mapped_column(default=0)


class RuleException(Base):
    """A regulator's recorded exception to a rule "in principle" (R-ELIG-06's 2-3 items)."""

    __tablename__ = "rule_exception"
    __table_args__ = (UniqueConstraint("institution_id", "rule"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id", ondelete="CASCADE"))
    rule: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text)
    granted_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    granted_at: Mapped[datetime] = mapped_column(default=utcnow)


class AgentInvitation(Base):
    """An institution admin's invitation to a customer-service agent (R-ELIG-05)."""

    __tablename__ = "agent_invitation"

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id", ondelete="CASCADE"),
                                                index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(20))
    email: Mapped[str | None] = mapped_column(String(254))
    invited_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    accepted_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    accepted_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class CommitmentVersion(Base):
    """A version of the commitment letter (Annex 1), its eight commitments as data."""

    __tablename__ = "commitment_version"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(Integer, unique=True)
    title: Mapped[str] = mapped_column(String(200))
    preamble: Mapped[str] = mapped_column(Text)
    items: Mapped[list[str]] = mapped_column(JSON)
    closing: Mapped[str] = mapped_column(Text)
    text_sha256: Mapped[str] = mapped_column(String(64))
    published_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))


class CommitmentSignature(Base):
    """One signing (R-COM-01): who, with which title, when, from where, which exact text."""

    __tablename__ = "commitment_signature"

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"), index=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("commitment_version.id"))
    signer_name: Mapped[str] = mapped_column(String(100))
    signer_title: Mapped[str] = mapped_column(String(100))
    signed_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    signed_at: Mapped[datetime] = mapped_column(default=utcnow)
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))
    text_sha256: Mapped[str] = mapped_column(String(64))

    version: Mapped[CommitmentVersion] = relationship()


class ComplianceKind(enum.StrEnum):
    VIOLATION = "violation"  # 违法违规行为
    ADMINISTRATIVE_PENALTY = "administrative_penalty"  # 行政处罚
    ABNORMAL_OPERATION_LIST = "abnormal_operation_list"  # 经营异常名录
    DISHONEST_LIST = "dishonest_list"  # 严重违法失信名单
    BAD_INDUSTRY_RECORD = "bad_industry_record"  # 行业不良记录


class ComplianceRecord(Base):
    """An operator's dated record with its source (R-ELIG-03; assessment item 1 reads it)."""

    __tablename__ = "compliance_record"

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"), index=True)
    kind: Mapped[ComplianceKind] = mapped_column(_enum(ComplianceKind, "compliance_kind"))
    occurred_on: Mapped[date]
    # The day it stopped being in effect (removed from the list, penalty fulfilled); None: active.
    ended_on: Mapped[date | None]
    source: Mapped[str] = mapped_column(String(500))  # e.g. 国家企业信用信息公示系统
    reference: Mapped[str | None] = mapped_column(String(100))  # decision number
    description: Mapped[str | None] = mapped_column(Text)
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def active(self) -> bool:
        return self.ended_on is None


class ApplicationState(enum.StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    SCREENING = "screening"  # the operator screens (R-ONB-03)
    REVIEW = "review"  # the regulator decides
    MATERIALS_REQUESTED = "materials_requested"  # R-ONB-04
    ONSITE_SCHEDULED = "onsite_scheduled"  # R-ONB-04
    APPROVED = "approved"  # the institution is live (R-ONB-05)
    REJECTED = "rejected"
    LAPSED = "lapsed"  # materials not provided in time: not approved (R-ONB-04)


class Application(Base):
    """An institution's application to join; one per institution, its rounds in the events."""

    __tablename__ = "application"

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"), unique=True)
    state: Mapped[ApplicationState] = mapped_column(_enum(ApplicationState, "application_state"),
                                                    default=ApplicationState.DRAFT)
    round: Mapped[int] = mapped_column(default=1)
    submitted_at: Mapped[datetime | None]
    state_changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    materials_deadline: Mapped[date | None]
    onsite_at: Mapped[datetime | None]
    onsite_place: Mapped[str | None] = mapped_column(String(300))
    # Optimistic lock: two reviewers deciding at once cannot both succeed.
    lock_version: Mapped[int] = mapped_column(default=1)

    events: Mapped[list[ApplicationEvent]] = relationship(
        back_populates="application", order_by="ApplicationEvent.id")

    __mapper_args__ = {"version_id_col": lock_version}  # noqa: RUF012


class ApplicationEvent(Base):
    """One transition with its actor and reason: the application's full history."""

    __tablename__ = "application_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("application.id"), index=True)
    round: Mapped[int]
    from_state: Mapped[str] = mapped_column(String(30))
    to_state: Mapped[str] = mapped_column(String(30))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    reason: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    at: Mapped[datetime] = mapped_column(default=utcnow)

    application: Mapped[Application] = relationship(back_populates="events")


class ExitRequest(Base):
    """A written request to leave (R-ONB-06); completes once no open matter remains."""

    __tablename__ = "exit_request"

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"), index=True)
    letter: Mapped[str] = mapped_column(Text)
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None]
    withdrawn_at: Mapped[datetime | None]


class RemovalReason(enum.StrEnum):
    FAILED_ASSESSMENT = "failed_assessment"  # R-ASM-05
    PENALTY = "penalty"  # administrative penalty / verified violation
    LOGO_MISUSE = "logo_misuse"  # R-OPS-06
    SERIOUS_COMPLAINT = "serious_complaint"  # verified serious complaint (R-OPS-06)
    NOT_NEEDED = "not_needed"  # the regulator judges it unnecessary (R-ONB-07)


class RemovalNotice(Base):
    """The regulator's removal notice (清退通知); removal completes after the legacy period."""

    __tablename__ = "removal_notice"

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"), index=True)
    reason: Mapped[RemovalReason] = mapped_column(_enum(RemovalReason, "removal_reason"))
    details: Mapped[str] = mapped_column(Text)
    issued_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    legacy_deadline: Mapped[date]  # open matters are handled until then
    completed_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
