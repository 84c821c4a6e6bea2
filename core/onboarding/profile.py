"""The institution's profile, its service categories and advantage items, and the regulator's
recorded exceptions (R-ONB-01, R-ELIG-06, R-OPS-01).

`profile_problems` is the one place that says whether a profile is complete: the eligibility
engine (R-ONB-01) and assessment item 3 both call it. `advantage_item_problems` is the one place
for the 2-3 advantage items rule, which `set_categories` also enforces when items are saved.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any
from urllib.parse import urlsplit

from flask_babel import gettext as _
from sqlalchemy import delete, func, select
from stdnum.cn import uscc as uscc_number
from stdnum.exceptions import ValidationError as StdnumError

from core.audit import record_audit, sanitize_text
from core.db import db, utcnow
from core.errors import ErrorCode, InvalidInput, PermissionDenied, Problem
from core.identity.models import Role, User
from core.identity.service import mask_identifier, normalize_email, normalize_phone
from core.institutions.access import can_manage_institution
from core.institutions.models import Institution, InstitutionStatus, InstitutionType
from core.onboarding.models import AdvantageItem, InstitutionCategory, RuleException
from core.plugins import plugins

ADVANTAGE_ITEMS_RULE = "R-ELIG-06"
ADVANTAGE_ITEMS_IN_PRINCIPLE = (2, 3)
# With the regulator's recorded exception any reasonable count is accepted.
ADVANTAGE_ITEMS_WITH_EXCEPTION = (1, 10)
# Only rules the measures state "in principle" can be excepted; the others are hard limits.
EXCEPTIONABLE_RULES = frozenset({ADVANTAGE_ITEMS_RULE})

INTRODUCTION_MIN_CHARS = 50
INTRODUCTION_MAX_CHARS = 5000
DESCRIPTION_MAX_CHARS = 2000
REASON_MAX_CHARS = 2000

# A credit code is unique among institutions still on, or applying to, the platform; one that
# was removed or has exited may share it (the same company applying again).
ACTIVE_STATUSES = (InstitutionStatus.DRAFT, InstitutionStatus.LIVE)

# Prefecture-level cities with no county-level division (their towns sit directly under the
# city): 东莞 441900, 中山 442000, 儋州 460400, 嘉峪关 620200. They need no district code.
CITIES_WITHOUT_DISTRICTS = frozenset({"441900", "442000", "460400", "620200"})

# The profile's input fields (camelCase, as in the API) and the Institution attributes they set.
PROFILE_FIELDS: dict[str, str] = {
    "legalName": "legal_name",
    "uscc": "uscc",
    "institutionType": "institution_type",
    "legalRepresentative": "legal_representative",
    "registeredAddress": "registered_address",
    "provinceCode": "province_code",
    "cityCode": "city_code",
    "districtCode": "district_code",
    "contactPhone": "contact_phone",
    "contactEmail": "contact_email",
    "introduction": "introduction",
    "website": "website",
    "mainCategoryCode": "main_category_code",
}
_MAX_CHARS = {"legalName": 200, "legalRepresentative": 100, "registeredAddress": 300,
              "introduction": INTRODUCTION_MAX_CHARS, "website": 300, "mainCategoryCode": 40}

_WHITESPACE = re.compile(r"\s+")
_CONTROL_BUT_NEWLINE_AND_TAB = re.compile(
    r"[\x00-\x08\x0b-\x1f\x7f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_PROVINCE = re.compile(r"\d{2}0000")
_CITY = re.compile(r"\d{4}00")
_DISTRICT = re.compile(r"\d{6}")
# Area code 010 / 02x (three digits) or 0xxx (four); a local number of 7-8 digits; an extension.
_LANDLINE = re.compile(r"(0(?:10|2\d|[3-9]\d{2}))-?([2-9]\d{6,7})(?:-(\d{1,6}))?")


# ---------------------------------------------------------------- permission


def require_institution_admin(institution: Institution, actor: User | None, action: str) -> None:
    """Only the institution's own administrator changes its records; a refusal is audited
    under `action` with result "denied" (SECURITY.md 9)."""
    if can_manage_institution(actor, institution.id):
        return
    record_audit(action, object_type="institution", object_id=institution.id, result="denied",
                 actor=actor)
    db.session.commit()
    raise PermissionDenied(_("Only the institution's administrator can do this."))


# ---------------------------------------------------------------- text and field checks


def clean_line(value: Any) -> str:
    """One line of text: runs of whitespace (newlines too) become one space; control
    characters are escaped so they cannot forge anything downstream."""
    if value is None:
        return ""
    return sanitize_text(_WHITESPACE.sub(" ", str(value)).strip(), 100_000)


def clean_paragraphs(value: Any) -> str:
    """Multi-line text: line breaks and tabs kept, other control characters dropped."""
    if value is None:
        return ""
    text = str(value).replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL_BUT_NEWLINE_AND_TAB.sub("", text).strip()


def _too_long(field: str, limit: int) -> Problem:
    return Problem(ErrorCode.INVALID_INPUT, _("Enter at most %(n)d characters.", n=limit), field)


def _missing(field: str) -> Problem:
    messages = {
        "legalName": _("Enter the institution's legal name."),
        "uscc": _("Enter the unified social credit code."),
        "institutionType": _("Choose the institution type."),
        "legalRepresentative": _("Enter the legal representative."),
        "registeredAddress": _("Enter the registered address."),
        "provinceCode": _("Choose the province."),
        "cityCode": _("Choose the city."),
        "districtCode": _("Choose the district or county."),
        "contactPhone": _("Enter a contact telephone number."),
        "introduction": _("Write an introduction of at least %(n)d characters.",
                          n=INTRODUCTION_MIN_CHARS),
        "categories": _("Choose at least one service category."),
    }
    return Problem(ErrorCode.REQUIRED, messages[field], field)


def normalize_uscc(raw: Any) -> str:
    """A credit code without spaces or dashes, upper case (not yet checked)."""
    return uscc_number.compact(str(raw)) if raw else ""


def uscc_problem(value: str, institution_id: int | None, *,
                 taken: bool | None = None) -> Problem | None:
    """The credit code's check digit, then its uniqueness among active institutions (`taken`:
    already known whether another active institution has it, e.g. read for a whole list)."""
    try:
        uscc_number.validate(value)
    except StdnumError:
        return Problem(ErrorCode.INVALID_NUMBER,
                       _("A unified social credit code has 18 characters and a valid check digit."),
                       "uscc")
    if taken is None:
        query = select(Institution.id).where(Institution.uscc == value,
                                             Institution.status.in_(ACTIVE_STATUSES))
        if institution_id is not None:
            query = query.where(Institution.id != institution_id)
        taken = db.session.scalar(query.limit(1)) is not None
    if taken:
        return Problem(ErrorCode.DUPLICATE,
                       _("Another institution on the platform already has this credit code."), "uscc")
    return None


def normalize_contact_phone(raw: str) -> str | None:
    """A mainland mobile number (11 digits) or a landline as `0757-83331234[-ext]`."""
    mobile = normalize_phone(raw)
    if mobile:
        return mobile
    compact = re.sub(r"[\s()（）]", "", raw)
    match = _LANDLINE.fullmatch(compact)
    if match is None:
        return None
    area, number, extension = match.groups()
    return f"{area}-{number}" + (f"-{extension}" if extension else "")


def _is_web_address(value: str) -> bool:
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:  # a malformed IPv6 literal, for one
        return False
    return (parts.scheme in ("http", "https") and bool(host) and "." in (host or "")
            and parts.username is None and not any(c.isspace() for c in value))


def region_problems(province: str | None, city: str | None, district: str | None) -> list[Problem]:
    """GB/T 2260 codes: each well formed, the city inside the province (first 2 digits), the
    district inside the city (first 4 digits)."""
    problems: list[Problem] = []
    if province and not _PROVINCE.fullmatch(province):
        problems.append(Problem(ErrorCode.INVALID_INPUT,
                                _("A province code has 6 digits ending in 0000, such as 440000."),
                                "provinceCode"))
        province = None
    if city and (not _CITY.fullmatch(city) or city.endswith("0000")):
        problems.append(Problem(ErrorCode.INVALID_INPUT,
                                _("A city code has 6 digits ending in 00, such as 440600."), "cityCode"))
        city = None
    if district and (not _DISTRICT.fullmatch(district) or district.endswith("00")):
        problems.append(Problem(ErrorCode.INVALID_INPUT,
                                _("A district or county code has 6 digits, such as 440606."),
                                "districtCode"))
        district = None
    if province and city and city[:2] != province[:2]:
        problems.append(Problem(ErrorCode.INVALID_INPUT,
                                _("The city %(city)s is not in the province %(province)s.",
                                  city=city, province=province), "cityCode"))
    if city and district and district[:4] != city[:4]:
        problems.append(Problem(ErrorCode.INVALID_INPUT,
                                _("The district %(district)s is not in the city %(city)s.",
                                  district=district, city=city), "districtCode"))
    return problems


def _check_field(field: str, raw: Any) -> tuple[Any, Problem | None]:
    """One profile field's value as stored (None when cleared), or the problem with it."""
    if field == "introduction":
        value: Any = clean_paragraphs(raw) or None
    elif field == "uscc":
        value = normalize_uscc(raw) or None
    else:
        value = clean_line(raw) or None
    if value is None:
        return None, (_missing(field) if field in ("legalName", "uscc") else None)
    limit = _MAX_CHARS.get(field)
    if limit is not None and len(value) > limit:
        return None, _too_long(field, limit)
    if field == "institutionType":
        try:
            return InstitutionType(value), None
        except ValueError:
            return None, Problem(ErrorCode.INVALID_INPUT, _("Choose one of the institution types."),
                                 field)
    if field == "contactPhone":
        phone = normalize_contact_phone(value)
        if phone is None:
            return None, Problem(
                ErrorCode.INVALID_INPUT,
                _("Enter a mainland mobile number or a landline number such as 0757-83331234."), field)
        return phone, None
    if field == "contactEmail":
        email = normalize_email(value)
        if email is None:
            return None, Problem(ErrorCode.INVALID_INPUT, _("Enter a valid email address."), field)
        return email, None
    if field == "website" and not _is_web_address(value):
        return None, Problem(ErrorCode.INVALID_INPUT,
                             _("Enter a web address starting with http:// or https://."), field)
    return value, None


def _audit_value(field: str, value: Any) -> Any:
    """What the audit row keeps of a value: contacts masked, the introduction shortened."""
    if value is None:
        return None
    if isinstance(value, enum.Enum):
        return value.value
    if field in ("contactPhone", "contactEmail"):
        return mask_identifier(value)
    if field == "introduction" and len(value) > 60:
        return f"{value[:60]}… ({len(value)})"
    return value


# ---------------------------------------------------------------- the profile


def update_profile(institution: Institution, data: Mapping[str, Any], *, actor: User | None) -> None:
    """Validate and save the profile fields present in `data` (camelCase keys, see
    `PROFILE_FIELDS`); a field left out keeps its value, None or "" clears an optional one.

    Only the institution's administrator may do it. Every problem is reported at once and
    nothing is written unless all are fixed; the change is audited with the changed fields'
    before and after values (contacts masked).
    """
    unknown = set(data) - set(PROFILE_FIELDS)
    if unknown:
        raise TypeError(f"unknown profile fields: {', '.join(sorted(unknown))}")
    require_institution_admin(institution, actor, "institution.profile_update")

    problems: list[Problem] = []
    new: dict[str, Any] = {}
    for field, raw in data.items():
        value, problem = _check_field(field, raw)
        if problem is not None:
            problems.append(problem)
        else:
            new[field] = value
    bad = {p.field for p in problems}

    def merged(field: str) -> Any:
        return new[field] if field in data else getattr(institution, PROFILE_FIELDS[field])

    for field in ("legalName", "uscc"):  # required: they may not stay empty either
        if field not in data and not merged(field):
            problems.append(_missing(field))
    if new.get("uscc"):
        problem = uscc_problem(new["uscc"], institution.id)
        if problem is not None:
            problems.append(problem)
    region = ("provinceCode", "cityCode", "districtCode")
    if any(f in data for f in region):
        problems += [p for p in region_problems(*(None if f in bad else merged(f) for f in region))
                     if p.field not in bad]
    if new.get("mainCategoryCode") and new["mainCategoryCode"] not in institution_categories(institution):
        problems.append(Problem(
            ErrorCode.INVALID_INPUT,
            _("The main category must be one of the institution's service categories."),
            "mainCategoryCode"))
    if problems:
        raise InvalidInput(problems)

    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for field, value in new.items():
        attr = PROFILE_FIELDS[field]
        if getattr(institution, attr) != value:
            before[field] = _audit_value(field, getattr(institution, attr))
            after[field] = _audit_value(field, value)
            setattr(institution, attr, value)
    if not after:
        return
    try:
        record_audit("institution.profile_update", object_type="institution",
                     object_id=institution.id, before=before, after=after, actor=actor)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise


def profile_problems(institution: Institution, *, categories: list[str] | None = None,
                     uscc_taken: bool | None = None) -> list[Problem]:
    """What the profile still lacks, each with its field (R-ONB-01, R-OPS-01, assessment item 3):
    legal name, a valid and unique credit code, type, legal representative, registered address,
    consistent region codes, contact phone, an introduction of at least 50 characters and at
    least one service category. Empty when the profile is complete. A caller checking a whole
    list passes `categories` and `uscc_taken` read for all of them at once."""
    problems: list[Problem] = []
    if not (institution.legal_name or "").strip():
        problems.append(_missing("legalName"))
    if not institution.uscc:
        problems.append(_missing("uscc"))
    else:
        problem = uscc_problem(institution.uscc, institution.id, taken=uscc_taken)
        if problem is not None:
            problems.append(problem)
    for field in ("institutionType", "legalRepresentative", "registeredAddress",
                  "provinceCode", "cityCode"):
        if not getattr(institution, PROFILE_FIELDS[field]):
            problems.append(_missing(field))
    if not institution.district_code and institution.city_code not in CITIES_WITHOUT_DISTRICTS:
        problems.append(_missing("districtCode"))
    problems += region_problems(institution.province_code, institution.city_code,
                                institution.district_code)
    if not institution.contact_phone:
        problems.append(_missing("contactPhone"))
    if len((institution.introduction or "").strip()) < INTRODUCTION_MIN_CHARS:
        problems.append(_missing("introduction"))
    if not (institution_categories(institution) if categories is None else categories):
        problems.append(_missing("categories"))
    return problems


# ---------------------------------------------------------------- categories and advantage items


_remembered_categories: ContextVar[dict[int, list[str]] | None] = ContextVar(
    "qi_remembered_categories", default=None)


@contextmanager
def categories_remembered() -> Iterator[None]:
    """Inside the block `institution_categories` reads each institution's categories once.

    One eligibility evaluation asks for them from the profile check, the document checks and
    each plugin's checks (five reads of the same rows); a page asks again. Use it only around
    code that does not change categories (an evaluation, a page's rendering)."""
    if _remembered_categories.get() is not None:
        yield
        return
    token = _remembered_categories.set({})
    try:
        yield
    finally:
        _remembered_categories.reset(token)


def institution_categories(institution: Institution) -> list[str]:
    """The codes of the service categories the institution chose, in the order chosen."""
    remembered = _remembered_categories.get()
    if remembered is not None and institution.id in remembered:
        return list(remembered[institution.id])
    codes = list(db.session.scalars(
        select(InstitutionCategory.category_code)
        .where(InstitutionCategory.institution_id == institution.id)
        .order_by(InstitutionCategory.id)))
    if remembered is not None:
        remembered[institution.id] = codes
    return list(codes)


def advantage_items(institution: Institution) -> list[AdvantageItem]:
    return list(db.session.scalars(
        select(AdvantageItem).where(AdvantageItem.institution_id == institution.id)
        .order_by(AdvantageItem.position, AdvantageItem.id)))


def advantage_item_range(institution: Institution) -> tuple[int, int]:
    """How many advantage items are accepted (R-ELIG-06): 2-3 in principle, 1-10 once the
    regulator has recorded an exception."""
    if exception_for(institution, ADVANTAGE_ITEMS_RULE) is not None:
        return ADVANTAGE_ITEMS_WITH_EXCEPTION
    return ADVANTAGE_ITEMS_IN_PRINCIPLE


def _count_problem(institution: Institution, count: int) -> Problem | None:
    low, high = advantage_item_range(institution)
    if low <= count <= high:
        return None
    return Problem(ErrorCode.ADVANTAGE_ITEM_COUNT,
                   _("Give %(low)d to %(high)d advantage service items (now %(count)d).",
                     low=low, high=high, count=count), "advantageItems")


def advantage_item_problems(institution: Institution) -> list[Problem]:
    """R-ELIG-06 on what is saved: 2-3 advantage items unless a recorded exception allows more
    or fewer (for the eligibility engine)."""
    count = db.session.scalar(select(func.count()).select_from(AdvantageItem)
                              .where(AdvantageItem.institution_id == institution.id)) or 0
    problem = _count_problem(institution, count)
    return [problem] if problem else []


def set_categories(
    institution: Institution, *, categories: Sequence[str],
    advantage_items: Sequence[Mapping[str, Any]], main_category: str | None, actor: User | None,
) -> None:
    """Replace the institution's service categories and advantage items in one step.

    Categories must be installed plugin categories, at least one. Advantage items
    (`categoryCode`, `title`, `description`) number 2-3 (R-ELIG-06; 1-10 with the regulator's
    recorded exception), each in a chosen category, with a title of at most 200 characters.
    `main_category` must be a chosen one; when None the current main category is kept if it is
    still chosen, else the first chosen becomes the main one. Admin only; audited.
    """
    require_institution_admin(institution, actor, "institution.categories_update")
    installed = plugins.categories()
    problems: list[Problem] = []
    chosen: list[str] = []
    for raw in categories:
        code = clean_line(raw)
        if code not in installed:
            problems.append(Problem(ErrorCode.INVALID_INPUT,
                                    _("Unknown service category: %(code)s.", code=code[:40]),
                                    "categories"))
        elif code not in chosen:
            chosen.append(code)
    if not categories:
        problems.append(_missing("categories"))
    main = clean_line(main_category) or None
    if main is not None and main not in chosen:
        problems.append(Problem(ErrorCode.INVALID_INPUT,
                                _("The main category must be one of the chosen categories."),
                                "mainCategoryCode"))

    count_problem = _count_problem(institution, len(advantage_items))
    if count_problem is not None:
        problems.append(count_problem)
    items: list[AdvantageItem] = []
    titles: set[str] = set()
    for position, raw_item in enumerate(advantage_items):
        field = f"advantageItems[{position}]"
        category = clean_line(raw_item.get("categoryCode"))
        title = clean_line(raw_item.get("title"))
        description = clean_paragraphs(raw_item.get("description")) or None
        if category not in chosen:
            problems.append(Problem(ErrorCode.INVALID_INPUT,
                                    _("The item's category must be one of the chosen categories."),
                                    f"{field}.categoryCode"))
        if not title:
            problems.append(Problem(ErrorCode.REQUIRED, _("Enter the item's title."), f"{field}.title"))
        elif len(title) > 200:
            problems.append(_too_long(f"{field}.title", 200))
        elif title.casefold() in titles:
            problems.append(Problem(ErrorCode.DUPLICATE, _("Two advantage items have the same title."),
                                    f"{field}.title"))
        titles.add(title.casefold())
        if description and len(description) > DESCRIPTION_MAX_CHARS:
            problems.append(_too_long(f"{field}.description", DESCRIPTION_MAX_CHARS))
        items.append(AdvantageItem(institution_id=institution.id, category_code=category, title=title,
                                   description=description, position=position))
    if problems:
        raise InvalidInput(problems)

    before = _categories_summary(institution)
    if main is None:
        current = institution.main_category_code
        main = current if current in chosen else chosen[0]
    try:
        # Statements, not ORM deletes: the unit of work would insert before deleting and trip
        # the (institution, category) unique constraint.
        db.session.execute(delete(InstitutionCategory)
                           .where(InstitutionCategory.institution_id == institution.id))
        db.session.execute(delete(AdvantageItem).where(AdvantageItem.institution_id == institution.id))
        db.session.add_all([InstitutionCategory(institution_id=institution.id, category_code=code)
                            for code in chosen])
        db.session.add_all(items)
        institution.main_category_code = main
        db.session.flush()
        record_audit("institution.categories_update", object_type="institution",
                     object_id=institution.id, before=before, after=_categories_summary(institution),
                     actor=actor)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise


def _categories_summary(institution: Institution) -> dict[str, Any]:
    return {
        "categories": institution_categories(institution),
        "main_category": institution.main_category_code,
        "advantage_items": [f"{item.category_code}: {item.title}" for item in advantage_items(institution)],
    }


# ---------------------------------------------------------------- recorded exceptions


def exception_for(institution: Institution, rule: str) -> RuleException | None:
    """The regulator's recorded exception to `rule` for this institution, if there is one."""
    return db.session.scalar(select(RuleException).where(
        RuleException.institution_id == institution.id, RuleException.rule == rule))


def grant_exception(institution: Institution, *, rule: str, reason: str,
                    actor: User | None) -> RuleException:
    """Record the regulator's exception to a rule stated "in principle" (R-ELIG-06), with its
    reason. Regulators only; granting again replaces the reason. Audited."""
    if actor is None or not actor.has_role(Role.REGULATOR):
        record_audit("institution.exception_grant", object_type="institution",
                     object_id=institution.id, result="denied", actor=actor)
        db.session.commit()
        raise PermissionDenied(_("Only the regulator can grant an exception to a rule."))
    problems: list[Problem] = []
    rule = clean_line(rule).upper()
    if rule not in EXCEPTIONABLE_RULES:
        problems.append(Problem(ErrorCode.INVALID_INPUT,
                                _("Only these rules allow an exception: %(rules)s.",
                                  rules=", ".join(sorted(EXCEPTIONABLE_RULES))), "rule"))
    reason = clean_paragraphs(reason)
    if not reason:
        problems.append(Problem(ErrorCode.REQUIRED, _("Give the reason for the exception."), "reason"))
    elif len(reason) > REASON_MAX_CHARS:
        problems.append(_too_long("reason", REASON_MAX_CHARS))
    if problems:
        raise InvalidInput(problems)

    row = exception_for(institution, rule)
    before = {"rule": rule, "reason": row.reason} if row is not None else None
    try:
        if row is None:
            row = RuleException(institution_id=institution.id, rule=rule, reason=reason,
                                granted_by_id=actor.id)
            db.session.add(row)
        else:
            row.reason = reason
            row.granted_by_id = actor.id
            row.granted_at = utcnow()
        db.session.flush()
        record_audit("institution.exception_grant", object_type="institution",
                     object_id=institution.id, before=before, after={"rule": rule, "reason": reason},
                     actor=actor)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return row
