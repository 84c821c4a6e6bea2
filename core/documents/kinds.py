"""The kinds of document institutions upload (R-ONB-02) and the number formats known for them."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from stdnum.cn import uscc
from stdnum.exceptions import ValidationError as StdnumError


def _check_uscc(number: str) -> str | None:
    try:
        uscc.validate(number)
    except StdnumError:
        return str(_l("A unified social credit code has 18 characters and a valid check digit."))
    return None


def _pattern(regex: str, message: Callable[[], str]) -> Callable[[str], str | None]:
    compiled = re.compile(regex)

    def check(number: str) -> str | None:
        return None if compiled.fullmatch(number) else message()

    return check


_CNAS_LAB = _pattern(r"CNAS ?L\d{1,6}",
                     lambda: str(_l("A CNAS laboratory number looks like CNAS L1234.")))
_CNAS_IB = _pattern(r"CNAS ?IB\d{1,6}",
                    lambda: str(_l("A CNAS inspection body number looks like CNAS IB0123.")))
_CNCA = _pattern(r"CNCA-R-\d{4}-\d{3,4}",
                 lambda: str(_l("A CNCA approval number looks like CNCA-R-2021-123.")))
_CMA = _pattern(r"\d{12}", lambda: str(_l("A CMA certificate number has 12 digits.")))


@dataclass(frozen=True)
class DocumentKind:
    code: str
    name: object  # a lazy translation
    public: bool  # shown on the directory page once the institution is live
    has_validity: bool = True  # certificates have validity dates; photos do not
    check_number: Callable[[str], str | None] | None = None
    has_number: bool = True


KINDS: dict[str, DocumentKind] = {k.code: k for k in (
    # Licences carry the legal representative's name and ID details: never public.
    DocumentKind("business_licence", _l("Business licence"), public=False, check_number=_check_uscc),
    DocumentKind("legal_person_certificate", _l("Public institution legal person certificate"),
                 public=False, check_number=_check_uscc),
    DocumentKind("cma", _l("CMA inspection and testing qualification"), public=True,
                 check_number=_CMA),
    DocumentKind("cnas_laboratory", _l("CNAS laboratory accreditation"), public=True,
                 check_number=_CNAS_LAB),
    DocumentKind("cnas_calibration", _l("CNAS calibration laboratory accreditation"), public=True,
                 check_number=_CNAS_LAB),
    DocumentKind("cnas_inspection", _l("CNAS inspection body accreditation"), public=True,
                 check_number=_CNAS_IB),
    DocumentKind("cnca_approval", _l("CNCA certification body approval"), public=True,
                 check_number=_CNCA),
    DocumentKind("metrology_authorisation", _l("Metrology authorisation certificate"), public=True),
    DocumentKind("other_qualification", _l("Other qualification certificate"), public=True),
    DocumentKind("case_evidence", _l("Case evidence photo"), public=False, has_validity=False,
                 has_number=False),
    DocumentKind("equipment_photo", _l("Equipment photo"), public=True, has_validity=False,
                 has_number=False),
    # An order's contract and test report: between the institution and its client only.
    DocumentKind("order_contract", _l("Order contract"), public=False, has_validity=False,
                 has_number=False),
    DocumentKind("test_report", _l("Test report"), public=False, has_validity=False,
                 has_number=False),
)}

# The documents that prove the institution is a legal person (R-ELIG-01).
LICENCE_KINDS = frozenset({"business_licence", "legal_person_certificate"})


def get_kind(code: str) -> DocumentKind | None:
    return KINDS.get(code)


def normalise_number(number: str) -> str:
    """Certificate numbers compare without spaces and case: `cnas l 1234` is `CNAS L1234`."""
    cleaned = re.sub(r"\s+", " ", number.strip().upper())
    return re.sub(r"^CNAS ?(L|IB)", r"CNAS \1", cleaned)
