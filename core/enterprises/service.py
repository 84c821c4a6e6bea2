"""Enterprises (服务对象, R-G-01): an enterprise user registers its organisation or joins one
with the code its admin hands out; operators and regulators see the whole database.

Contact details are personal data: they come back masked to viewers not entitled to them
(R-G-05, SECURITY.md 10) — entitled are the enterprise's own users and operators, who act for
enterprises (R-G-08).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from stdnum.cn import uscc as uscc_number
from stdnum.exceptions import ValidationError as StdnumError

from core.audit import record_audit
from core.db import db, utcnow
from core.enterprises.models import Enterprise, EnterpriseMember, EnterpriseSize, MemberRole
from core.errors import DomainError, ErrorCode, InvalidInput, NotFound, PermissionDenied, Problem
from core.identity.models import Role, User
from core.masking import mask_contact
from core.onboarding.profile import clean_line, normalize_contact_phone, normalize_uscc, region_problems

PAGE_MAX = 100
INPUTS = {"name": "name", "uscc": "uscc", "industry": "industry", "provinceCode": "province_code",
          "cityCode": "city_code", "districtCode": "district_code", "size": "size",
          "contactName": "contact_name", "contactPhone": "contact_phone"}
_LIMITS = {"name": 200, "industry": 100, "contactName": 100}


def _hash(code: str) -> str:
    return hashlib.sha256(code.strip().upper().encode()).hexdigest()


def _new_join_code() -> str:
    return secrets.token_hex(4).upper()  # 8 characters, read out over the phone


def membership(user: User | None) -> EnterpriseMember | None:
    if user is None:
        return None
    return db.session.scalar(select(EnterpriseMember).where(EnterpriseMember.user_id == user.id))


def enterprise_of(user: User | None) -> Enterprise | None:
    member = membership(user)
    return member.enterprise if member else None


def is_member(user: User | None, enterprise: Enterprise) -> bool:
    member = membership(user)
    return member is not None and member.enterprise_id == enterprise.id


def sees_contacts(user: User | None, enterprise: Enterprise) -> bool:
    return is_member(user, enterprise) or (user is not None and user.has_role(Role.OPERATOR))


def names_by_user(user_ids: set[int]) -> dict[int, str]:
    """The name of the enterprise each of `user_ids` acts for (one statement; users of none
    are left out)."""
    if not user_ids:
        return {}
    return dict(db.session.execute(select(EnterpriseMember.user_id, Enterprise.name).join(
        Enterprise, Enterprise.id == EnterpriseMember.enterprise_id)
        .where(EnterpriseMember.user_id.in_(user_ids))).all())


def masked_phone(phone: str | None) -> str | None:
    """138****8000, or 0757-****1234 for a landline (`core.masking`)."""
    return mask_contact(phone)


def _clean(data: Mapping[str, Any], current: Enterprise | None) -> dict[str, Any]:
    problems: list[Problem] = []
    values: dict[str, Any] = {}
    for name, attr in INPUTS.items():
        if name not in data and current is not None:
            continue
        raw = data.get(name)
        value: Any = clean_line(raw) or None
        limit = _LIMITS.get(name)
        if value and limit and len(value) > limit:
            problems.append(Problem(ErrorCode.INVALID_INPUT,
                                    _("Enter at most %(n)d characters.", n=limit), name))
            continue
        if name == "uscc":
            value = normalize_uscc(raw) or None
            try:
                uscc_number.validate(value or "")
            except StdnumError:
                problems.append(Problem(ErrorCode.INVALID_NUMBER, _(
                    "A unified social credit code has 18 characters and a valid check digit."),
                    "uscc"))
                continue
        elif name == "name" and not value:
            problems.append(Problem(ErrorCode.REQUIRED, _("Enter the enterprise's name."), "name"))
            continue
        elif name == "size" and value:
            try:
                value = EnterpriseSize(value)
            except ValueError:
                problems.append(Problem(ErrorCode.INVALID_INPUT,
                                        _("Choose the enterprise's size."), "size"))
                continue
        elif name == "contactPhone" and value:
            value = normalize_contact_phone(value)
            if value is None:
                problems.append(Problem(ErrorCode.INVALID_INPUT, _(
                    "Enter a mobile number or a landline with its area code."), "contactPhone"))
                continue
        values[attr] = value
    region = {k: values.get(k, getattr(current, k, None))
              for k in ("province_code", "city_code", "district_code")}
    problems += region_problems(region["province_code"], region["city_code"], region["district_code"])
    if problems:
        raise InvalidInput(problems)
    return values


def _require_enterprise_user(actor: User | None, action: str) -> User:
    if actor is None or not actor.has_role(Role.ENTERPRISE):
        record_audit(action, object_type="enterprise", result="denied", actor=actor)
        db.session.commit()
        raise PermissionDenied(_("Only an enterprise user can do this."))
    if membership(actor) is not None:
        raise DomainError(_("You already act for an enterprise."), code=ErrorCode.DUPLICATE)
    return actor


@dataclass(frozen=True)
class Created:
    enterprise: Enterprise
    join_code: str  # shown once to the creator, to hand to colleagues


def create_enterprise(data: Mapping[str, Any], *, actor: User | None) -> Created:
    """An enterprise user registers its organisation and becomes its admin."""
    user = _require_enterprise_user(actor, "enterprise.create")
    values = _clean(data, None)
    if db.session.scalar(select(Enterprise.id).where(Enterprise.uscc == values["uscc"])):
        raise InvalidInput([Problem(ErrorCode.DUPLICATE, _(
            "This enterprise is already registered; ask its administrator for the join code."),
            "uscc")])
    code = _new_join_code()
    enterprise = Enterprise(join_code_hash=_hash(code), created_by_id=user.id, **values)
    enterprise.members.append(EnterpriseMember(user_id=user.id, role=MemberRole.ADMIN))
    db.session.add(enterprise)
    try:
        db.session.flush()
    except IntegrityError as exc:  # a concurrent registration of the same credit code
        db.session.rollback()
        raise InvalidInput([Problem(ErrorCode.DUPLICATE, _(
            "This enterprise is already registered; ask its administrator for the join code."),
            "uscc")]) from exc
    record_audit("enterprise.create", object_type="enterprise", object_id=enterprise.id,
                 after={"name": enterprise.name, "uscc": enterprise.uscc}, actor=user)
    db.session.commit()
    return Created(enterprise, code)


def join_enterprise(uscc: str, join_code: str, *, actor: User | None) -> Enterprise:
    """Join a registered enterprise with its credit code and the code its admin handed out."""
    user = _require_enterprise_user(actor, "enterprise.join")
    enterprise = db.session.scalar(select(Enterprise).where(Enterprise.uscc == normalize_uscc(uscc)))
    if enterprise is None or not hmac.compare_digest(enterprise.join_code_hash, _hash(join_code or "")):
        record_audit("enterprise.join", object_type="enterprise",
                     object_id=enterprise.id if enterprise else None, result="denied", actor=user)
        db.session.commit()
        raise InvalidInput([Problem(ErrorCode.INVALID_INPUT,
                                    _("The credit code or the join code is wrong."), "joinCode")])
    db.session.add(EnterpriseMember(enterprise_id=enterprise.id, user_id=user.id,
                                    role=MemberRole.MEMBER))
    record_audit("enterprise.join", object_type="enterprise", object_id=enterprise.id, actor=user)
    db.session.commit()
    return enterprise


def _require_admin(enterprise: Enterprise, actor: User | None, action: str) -> None:
    member = membership(actor)
    if member is None or member.enterprise_id != enterprise.id or member.role is not MemberRole.ADMIN:
        record_audit(action, object_type="enterprise", object_id=enterprise.id, result="denied",
                     actor=actor)
        db.session.commit()
        raise PermissionDenied(_("Only the enterprise's administrator can do this."))


def update_enterprise(enterprise: Enterprise, data: Mapping[str, Any], *, actor: User | None) -> Enterprise:
    _require_admin(enterprise, actor, "enterprise.update")
    data = {k: v for k, v in data.items() if k != "uscc"}  # the credit code identifies it
    values = _clean(data, enterprise)
    before = {k: str(getattr(enterprise, k)) for k in values}
    for name, value in values.items():
        setattr(enterprise, name, value)
    enterprise.updated_at = utcnow()
    record_audit("enterprise.update", object_type="enterprise", object_id=enterprise.id,
                 before=before, after={k: str(v) for k, v in values.items()}, actor=actor)
    db.session.commit()
    return enterprise


def new_join_code(enterprise: Enterprise, *, actor: User | None) -> str:
    """A fresh join code; the previous one stops working."""
    _require_admin(enterprise, actor, "enterprise.join_code")
    code = _new_join_code()
    enterprise.join_code_hash = _hash(code)
    record_audit("enterprise.join_code", object_type="enterprise", object_id=enterprise.id,
                 actor=actor)
    db.session.commit()
    return code


def get_enterprise(enterprise_id: int, viewer: User | None) -> Enterprise:
    """Its own users and platform staff see an enterprise; anybody else gets "not found"."""
    enterprise = db.session.get(Enterprise, enterprise_id)
    if enterprise is not None and (is_member(viewer, enterprise) or (
            viewer is not None and viewer.has_role(Role.OPERATOR, Role.REGULATOR))):
        return enterprise
    record_audit("enterprise.access_denied", object_type="enterprise", object_id=enterprise_id,
                 result="denied", actor=viewer)
    db.session.commit()
    raise NotFound(_("No such enterprise."))


def enterprise_database(viewer: User | None, *, keyword: str = "", city_code: str | None = None,
                        first: int = 20, offset: int = 0) -> tuple[int, list[Enterprise]]:
    """The operator's enterprise database (R-G-01): every enterprise, filtered and paginated."""
    if viewer is None or not viewer.has_role(Role.OPERATOR, Role.REGULATOR):
        record_audit("enterprise.list", object_type="enterprise", result="denied", actor=viewer)
        db.session.commit()
        raise PermissionDenied(_("Only platform staff see the enterprise database."))
    if not 1 <= first <= PAGE_MAX or offset < 0:
        raise InvalidInput([Problem(ErrorCode.INVALID_INPUT, "first: 1-100, offset >= 0", "first")])
    conditions = []
    term = clean_line(keyword)[:50]
    if term:
        pattern = "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        conditions.append(or_(Enterprise.name.like(pattern, escape="\\"),
                              Enterprise.uscc.like(pattern, escape="\\"),
                              Enterprise.industry.like(pattern, escape="\\")))
    if city_code:
        conditions.append(Enterprise.city_code == city_code)
    total = db.session.scalar(select(func.count(Enterprise.id)).where(*conditions)) or 0
    rows = list(db.session.scalars(select(Enterprise).where(*conditions)
                                   .order_by(Enterprise.name, Enterprise.id)
                                   .limit(first).offset(offset)))
    return total, rows
