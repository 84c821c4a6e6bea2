"""The institution's profile, categories and advantage items (R-ONB-01, R-ELIG-06, R-OPS-01;
SECURITY.md 9: refusals are audited)."""

from __future__ import annotations

import pytest
from onboarding_support import (
    BEIJING,
    DONGGUAN,
    FOSHAN,
    GUANGDONG,
    GUANGZHOU,
    INTRODUCTION,
    ITEMS,
    METROLOGY_CENTRE,
    NANHAI,
    SHUNDE,
    SHUNDE_CO,
    TIANHE,
    USCC_BAD_CHECK_DIGIT,
    USCC_METROLOGY_CENTRE,
    USCC_SHUNDE_CO,
    advantage,
    full_profile,
)

from core.errors import ErrorCode, InvalidInput, PermissionDenied
from core.identity.models import Role
from core.institutions.models import InstitutionStatus, InstitutionType
from core.onboarding.profile import (
    advantage_item_problems,
    advantage_items,
    exception_for,
    grant_exception,
    institution_categories,
    profile_problems,
    set_categories,
    update_profile,
)


def _fields(err: pytest.ExceptionInfo[InvalidInput]) -> set[str | None]:
    return {p.field for p in err.value.problems}


def _codes(err: pytest.ExceptionInfo[InvalidInput]) -> dict[str | None, ErrorCode]:
    return {p.field: p.code for p in err.value.problems}


def _choose_testing(org, items=ITEMS[:2], **kwargs):
    set_categories(org.institution, categories=["testing"], advantage_items=items,
                   main_category=kwargs.pop("main_category", None), actor=org.admin, **kwargs)


# ------------------------------------------------------------------ writing the profile (R-ONB-01)


def test_R_ONB_01_admin_fills_in_the_profile_and_the_change_is_audited(world, org):
    update_profile(org.institution, full_profile(contactPhone="(0757) 2232 1234"), actor=org.admin)

    institution = world.reload(org)
    assert institution.legal_name == SHUNDE_CO
    assert institution.uscc == USCC_SHUNDE_CO
    assert institution.institution_type is InstitutionType.ENTERPRISE
    assert (institution.province_code, institution.city_code, institution.district_code) == (
        GUANGDONG, FOSHAN, SHUNDE)
    assert institution.contact_phone == "0757-22321234"  # landline normalised
    assert institution.website == "https://www.sdtest.com.cn"
    (event,) = world.audits("institution.profile_update")
    assert event.actor_id == org.admin.id and event.result == "success"
    # Only the changed fields; the legal name and credit code were already these.
    assert "legalName" not in event.after and "uscc" not in event.after
    assert event.before["districtCode"] is None and event.after["districtCode"] == SHUNDE
    assert event.after["contactEmail"] == "s***@sdtest.com.cn"  # contacts masked
    assert event.after["introduction"].endswith(f"({len(INTRODUCTION)})")  # shortened


def test_R_ONB_01_a_partial_update_keeps_the_other_fields_and_unchanged_writes_no_audit(world, org):
    update_profile(org.institution, full_profile(), actor=org.admin)
    update_profile(org.institution, {"contactPhone": "+86 139-2233-4455", "website": None},
                   actor=org.admin)
    institution = world.reload(org)
    assert institution.contact_phone == "13922334455"
    assert institution.website is None
    assert institution.registered_address == full_profile()["registeredAddress"]
    (_first, second) = world.audits("institution.profile_update")
    assert second.before == {"contactPhone": "0757-****1234", "website": "https://www.sdtest.com.cn"}
    assert second.after == {"contactPhone": "139****4455", "website": None}

    update_profile(org.institution, {"legalName": f"  {SHUNDE_CO} "}, actor=org.admin)
    assert len(world.audits("institution.profile_update")) == 2  # nothing changed


def test_R_ONB_01_every_problem_is_listed_at_once_and_nothing_is_written(world, org):
    bad = {
        "legalName": " ",
        "uscc": USCC_BAD_CHECK_DIGIT,
        "institutionType": "sole_trader",
        "legalRepresentative": "陈" * 101,
        "provinceCode": "44000",
        "contactPhone": "12345",
        "contactEmail": "service@",
        "introduction": "介" * 5001,
        "website": "javascript:alert(1)",
        "mainCategoryCode": "testing",  # not chosen yet
    }
    with pytest.raises(InvalidInput) as err:
        update_profile(org.institution, bad, actor=org.admin)
    assert _codes(err) == {
        "legalName": ErrorCode.REQUIRED,
        "uscc": ErrorCode.INVALID_NUMBER,
        "institutionType": ErrorCode.INVALID_INPUT,
        "legalRepresentative": ErrorCode.INVALID_INPUT,
        "provinceCode": ErrorCode.INVALID_INPUT,
        "contactPhone": ErrorCode.INVALID_INPUT,
        "contactEmail": ErrorCode.INVALID_INPUT,
        "introduction": ErrorCode.INVALID_INPUT,
        "website": ErrorCode.INVALID_INPUT,
        "mainCategoryCode": ErrorCode.INVALID_INPUT,
    }
    institution = world.reload(org)
    assert institution.legal_name == SHUNDE_CO and institution.contact_phone is None
    assert world.audits("institution.profile_update") == []


@pytest.mark.parametrize("website", [
    "ftp://www.sdtest.com.cn", "www.sdtest.com.cn", "https://", "http://localhost/",
    "https://admin:secret@www.sdtest.com.cn", "https://www.sd test.com.cn",
])
def test_R_ONB_01_website_must_be_an_http_or_https_address(org, website):
    with pytest.raises(InvalidInput) as err:
        update_profile(org.institution, {"website": website}, actor=org.admin)
    assert _fields(err) == {"website"}


@pytest.mark.parametrize(("raw", "stored"), [
    ("13922334455", "13922334455"),
    ("0757-83331234", "0757-83331234"),
    ("075783331234", "0757-83331234"),
    ("020-38881234", "020-38881234"),
    ("010 6588 1234-8021", "010-65881234-8021"),
])
def test_R_ONB_01_contact_phone_accepts_mobiles_and_landlines(world, org, raw, stored):
    update_profile(org.institution, {"contactPhone": raw}, actor=org.admin)
    assert world.reload(org).contact_phone == stored


def test_unknown_profile_keys_are_a_programming_error(org):
    with pytest.raises(TypeError, match="legalname"):
        update_profile(org.institution, {"legalname": SHUNDE_CO}, actor=org.admin)


# ------------------------------------------------------------------ credit code


def test_R_ONB_01_the_credit_code_check_digit_is_verified(org):
    with pytest.raises(InvalidInput) as err:
        update_profile(org.institution, {"uscc": USCC_BAD_CHECK_DIGIT}, actor=org.admin)
    assert _codes(err) == {"uscc": ErrorCode.INVALID_NUMBER}
    with pytest.raises(InvalidInput) as err:
        update_profile(org.institution, {"uscc": None}, actor=org.admin)
    assert _codes(err) == {"uscc": ErrorCode.REQUIRED}


def test_R_ONB_01_the_credit_code_is_normalised(world):
    centre = world.institution(METROLOGY_CENTRE, uscc=None)
    update_profile(centre.institution, {"uscc": " 12440600-455848786r "}, actor=centre.admin)
    assert world.reload(centre).uscc == USCC_METROLOGY_CENTRE


@pytest.mark.parametrize("status", [InstitutionStatus.DRAFT, InstitutionStatus.LIVE])
def test_R_ONB_01_a_credit_code_used_by_an_active_institution_is_refused(world, org, world_second,
                                                                         status):
    world.set_status(org, status)
    with pytest.raises(InvalidInput) as err:
        update_profile(world_second.institution, {"uscc": USCC_SHUNDE_CO}, actor=world_second.admin)
    assert _codes(err) == {"uscc": ErrorCode.DUPLICATE}
    assert world.reload(world_second).uscc == USCC_METROLOGY_CENTRE


@pytest.mark.parametrize("status", [InstitutionStatus.REMOVED, InstitutionStatus.EXITED])
def test_R_ONB_01_a_removed_or_exited_institution_may_share_the_credit_code(world, org, world_second,
                                                                           status):
    world.set_status(org, status)
    update_profile(world_second.institution, {"uscc": USCC_SHUNDE_CO}, actor=world_second.admin)
    assert world.reload(world_second).uscc == USCC_SHUNDE_CO


# ------------------------------------------------------------------ region codes (GB/T 2260)


def test_R_ONB_01_foshan_shunde_is_a_consistent_region(world, org):
    update_profile(org.institution, {"provinceCode": GUANGDONG, "cityCode": FOSHAN,
                                     "districtCode": SHUNDE}, actor=org.admin)
    assert world.reload(org).district_code == SHUNDE


@pytest.mark.parametrize(("codes", "field"), [
    ((BEIJING, FOSHAN, SHUNDE), "cityCode"),  # Foshan is not in Beijing
    ((GUANGDONG, GUANGZHOU, SHUNDE), "districtCode"),  # Shunde is not in Guangzhou
    ((GUANGDONG, FOSHAN, TIANHE), "districtCode"),  # Tianhe is not in Foshan
    ((GUANGDONG, GUANGDONG, SHUNDE), "cityCode"),  # a province code is not a city code
    ((FOSHAN, FOSHAN, SHUNDE), "provinceCode"),  # a city code is not a province code
    ((GUANGDONG, FOSHAN, FOSHAN), "districtCode"),
    ((GUANGDONG, FOSHAN, "44060A"), "districtCode"),
])
def test_R_ONB_01_region_codes_must_nest(world, org, codes, field):
    province, city, district = codes
    with pytest.raises(InvalidInput) as err:
        update_profile(org.institution, {"provinceCode": province, "cityCode": city,
                                         "districtCode": district}, actor=org.admin)
    assert field in _fields(err)
    assert world.reload(org).province_code is None


def test_R_ONB_01_a_district_alone_is_checked_against_the_stored_city(world, org):
    update_profile(org.institution, {"provinceCode": GUANGDONG, "cityCode": FOSHAN,
                                     "districtCode": SHUNDE}, actor=org.admin)
    update_profile(org.institution, {"districtCode": NANHAI}, actor=org.admin)
    with pytest.raises(InvalidInput) as err:
        update_profile(org.institution, {"districtCode": TIANHE}, actor=org.admin)
    assert _fields(err) == {"districtCode"}
    assert world.reload(org).district_code == NANHAI


# ------------------------------------------------------------------ completeness (R-ONB-01, R-OPS-01)


def test_R_ONB_01_profile_problems_lists_each_missing_field(world):
    bare = world.institution("待完善机构", uscc=None)
    bare.institution.legal_name = ""  # creation requires a name; a blank one must still be named
    problems = profile_problems(bare.institution)
    assert [p.field for p in problems] == [
        "legalName", "uscc", "institutionType", "legalRepresentative", "registeredAddress",
        "provinceCode", "cityCode", "districtCode", "contactPhone", "introduction", "categories"]
    assert all(p.code is ErrorCode.REQUIRED and p.message for p in problems)


def test_R_ONB_01_a_complete_profile_has_no_problems(org):
    update_profile(org.institution, full_profile(), actor=org.admin)
    assert [p.field for p in profile_problems(org.institution)] == ["categories"]
    _choose_testing(org)
    assert profile_problems(org.institution) == []


def test_R_ONB_01_an_introduction_under_50_characters_is_not_enough(org):
    update_profile(org.institution, full_profile(introduction="专业检测" * 12), actor=org.admin)  # 48
    _choose_testing(org)
    assert [(p.field, p.code) for p in profile_problems(org.institution)] == [
        ("introduction", ErrorCode.REQUIRED)]
    update_profile(org.institution, {"introduction": "专业检测" * 13}, actor=org.admin)  # 52
    assert profile_problems(org.institution) == []


def test_R_ONB_01_a_stored_invalid_credit_code_is_a_problem(world):
    """Creation refuses a bad code and the database refuses a duplicate among applying or live
    institutions; a row changed behind the services' back is still reported."""
    bad = world.institution(uscc=None)
    bad.institution.uscc = USCC_BAD_CHECK_DIGIT
    assert ("uscc", ErrorCode.INVALID_NUMBER) in [(p.field, p.code) for p in profile_problems(
        bad.institution)]
    missing = world.institution(uscc=None)
    assert ("uscc", ErrorCode.REQUIRED) in [(p.field, p.code) for p in profile_problems(
        missing.institution)]


def test_R_ONB_01_a_city_without_districts_needs_no_district_code(org):
    update_profile(org.institution, full_profile(cityCode=DONGGUAN, districtCode=None), actor=org.admin)
    _choose_testing(org)
    assert profile_problems(org.institution) == []


# ------------------------------------------------------------------ categories and items (R-ELIG-06)


@pytest.mark.parametrize("count", [2, 3])
def test_R_ELIG_06_two_or_three_advantage_items_are_accepted(org, count):
    _choose_testing(org, ITEMS[:count])
    assert [i.title for i in advantage_items(org.institution)] == [i["title"] for i in ITEMS[:count]]
    assert institution_categories(org.institution) == ["testing"]
    assert org.institution.main_category_code == "testing"
    assert advantage_item_problems(org.institution) == []


@pytest.mark.parametrize("count", [0, 1, 4])
def test_R_ELIG_06_fewer_than_two_or_more_than_three_items_are_refused(world, org, count):
    with pytest.raises(InvalidInput) as err:
        _choose_testing(org, ITEMS[:count])
    assert _codes(err) == {"advantageItems": ErrorCode.ADVANTAGE_ITEM_COUNT}
    assert advantage_items(org.institution) == [] and institution_categories(org.institution) == []
    assert world.audits("institution.categories_update") == []


def test_R_ELIG_06_one_item_is_accepted_with_a_regulator_exception(world, org):
    regulator = world.regulator()
    exception = grant_exception(org.institution, rule="R-ELIG-06", actor=regulator,
                                reason="该机构为计量专项服务机构，仅开展一项优势服务，经局务会研究同意。")
    assert exception_for(org.institution, "R-ELIG-06").id == exception.id
    assert exception.granted_by_id == regulator.id
    _choose_testing(org, ITEMS[:1])
    assert len(advantage_items(org.institution)) == 1
    assert advantage_item_problems(org.institution) == []
    (event,) = world.audits("institution.exception_grant")
    assert event.actor_id == regulator.id and event.after["rule"] == "R-ELIG-06"


def test_R_ELIG_06_an_exception_still_refuses_none_or_more_than_ten(world, org):
    grant_exception(org.institution, rule="R-ELIG-06", reason="专项服务机构", actor=world.regulator())
    many = [advantage("testing", f"检测项目{n}") for n in range(11)]
    for items in ([], many):
        with pytest.raises(InvalidInput) as err:
            _choose_testing(org, items)
        assert _codes(err)["advantageItems"] is ErrorCode.ADVANTAGE_ITEM_COUNT


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.INSTITUTION_ADMIN, Role.ENTERPRISE])
def test_R_ELIG_06_only_the_regulator_can_grant_an_exception(world, org, role):
    actor = org.admin if role is Role.INSTITUTION_ADMIN else world.user(role)
    with pytest.raises(PermissionDenied):
        grant_exception(org.institution, rule="R-ELIG-06", reason="运维机构认为可以", actor=actor)
    assert exception_for(org.institution, "R-ELIG-06") is None
    (event,) = world.audits("institution.exception_grant")
    assert event.result == "denied" and event.actor_id == actor.id


def test_R_ELIG_06_an_exception_needs_a_reason_and_a_rule_stated_in_principle(world, org):
    with pytest.raises(InvalidInput) as err:
        grant_exception(org.institution, rule="R-ELIG-05", reason="  ", actor=world.regulator())
    assert _codes(err) == {"rule": ErrorCode.INVALID_INPUT, "reason": ErrorCode.REQUIRED}


def test_R_ELIG_06_granting_again_replaces_the_reason(world, org):
    regulator = world.regulator()
    first = grant_exception(org.institution, rule="r-elig-06", reason="初次说明", actor=regulator)
    second = grant_exception(org.institution, rule="R-ELIG-06", reason="补充说明", actor=regulator)
    assert first.id == second.id and exception_for(org.institution, "R-ELIG-06").reason == "补充说明"
    assert world.audits("institution.exception_grant")[-1].before == {"rule": "R-ELIG-06",
                                                                       "reason": "初次说明"}


def test_R_ELIG_06_categories_must_be_installed_and_items_in_a_chosen_category(world, org):
    with pytest.raises(InvalidInput) as err:
        set_categories(org.institution, categories=["testing", "catering"],
                       advantage_items=[advantage("testing", "家用电器安全性能检测"),
                                        advantage("metrology", "长度计量校准"),
                                        advantage("testing", " ")],
                       main_category="metrology", actor=org.admin)
    assert _codes(err) == {
        "categories": ErrorCode.INVALID_INPUT,
        "mainCategoryCode": ErrorCode.INVALID_INPUT,
        "advantageItems[1].categoryCode": ErrorCode.INVALID_INPUT,
        "advantageItems[2].title": ErrorCode.REQUIRED,
    }
    with pytest.raises(InvalidInput) as err:
        set_categories(org.institution, categories=[], advantage_items=ITEMS[:2], main_category=None,
                       actor=org.admin)
    assert "categories" in _fields(err)


def test_R_ELIG_06_item_titles_are_limited_and_not_repeated(org):
    with pytest.raises(InvalidInput) as err:
        _choose_testing(org, [advantage("testing", "家" * 201), advantage("testing", "室内空气质量检测"),
                              advantage("testing", "室内空气质量检测 ")])
    assert _codes(err) == {"advantageItems[0].title": ErrorCode.INVALID_INPUT,
                           "advantageItems[2].title": ErrorCode.DUPLICATE}


def test_R_ELIG_06_saving_replaces_the_previous_set_atomically(world, org):
    set_categories(org.institution, categories=["testing", "metrology"],
                   advantage_items=[advantage("testing", "家用电器安全性能检测"),
                                    advantage("metrology", "长度计量器具校准")],
                   main_category="metrology", actor=org.admin)
    set_categories(org.institution, categories=["testing"], advantage_items=ITEMS[1:4],
                   main_category=None, actor=org.admin)
    assert institution_categories(org.institution) == ["testing"]
    assert [i.title for i in advantage_items(org.institution)] == [i["title"] for i in ITEMS[1:4]]
    assert world.reload(org).main_category_code == "testing"  # metrology is gone
    _first, after = world.audits("institution.categories_update")
    assert after.before["categories"] == ["testing", "metrology"]
    assert after.after["categories"] == ["testing"]

    with pytest.raises(InvalidInput):  # a refused save leaves the previous set whole
        set_categories(org.institution, categories=["metrology"], advantage_items=ITEMS[:1],
                       main_category=None, actor=org.admin)
    assert institution_categories(org.institution) == ["testing"]
    assert len(advantage_items(org.institution)) == 3


def test_R_ONB_01_the_main_category_must_be_a_chosen_one(world, org):
    set_categories(org.institution, categories=["testing", "metrology"],
                   advantage_items=[advantage("testing", "家用电器安全性能检测"),
                                    advantage("metrology", "长度计量器具校准")],
                   main_category=None, actor=org.admin)
    assert world.reload(org).main_category_code == "testing"  # the first chosen
    update_profile(org.institution, {"mainCategoryCode": "metrology"}, actor=org.admin)
    assert world.reload(org).main_category_code == "metrology"
    with pytest.raises(InvalidInput) as err:
        update_profile(org.institution, {"mainCategoryCode": "ip"}, actor=org.admin)
    assert _fields(err) == {"mainCategoryCode"}


# ------------------------------------------------------------------ who may change it (SECURITY.md 9)


@pytest.fixture
def world_second(world):
    """佛山市质量计量监督检测中心, another institution with its own administrator."""
    return world.institution(METROLOGY_CENTRE, uscc=USCC_METROLOGY_CENTRE, admin_name="黄建华")


@pytest.mark.parametrize("who", ["agent", "other_admin", "operator", "regulator", "anonymous"])
def test_only_the_institutions_admin_can_change_profile_and_categories(world, org, world_second, who):
    actor = {
        "agent": lambda: world.agent(org),
        "other_admin": lambda: world_second.admin,
        "operator": world.operator,
        "regulator": world.regulator,
        "anonymous": lambda: None,
    }[who]()
    with pytest.raises(PermissionDenied):
        update_profile(org.institution, full_profile(), actor=actor)
    with pytest.raises(PermissionDenied):
        set_categories(org.institution, categories=["testing"], advantage_items=ITEMS[:2],
                       main_category=None, actor=actor)
    institution = world.reload(org)
    assert institution.introduction is None and institution_categories(institution) == []
    denied = world.audits(result="denied")
    assert [e.action for e in denied] == ["institution.profile_update", "institution.categories_update"]
    assert all(e.object_id == str(org.id) for e in denied)
    assert all(e.actor_id == (actor.id if actor else None) for e in denied)

