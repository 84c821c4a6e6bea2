"""设备共享/实验室共享 (Equipment and laboratory sharing): 仪器设备与实验室共享服务.

R-ELIG-08: a currently valid CNAS laboratory accreditation (a required document) and an
instrument register with at least one instrument in service (this plugin's check). The register
is the platform's instrument database (R-G-01): searchable, and enterprises book instruments from
it without double booking. Quota group B (R-ASM-03).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from flask_babel import gettext as _

from core.categories import Category, QuotaGroup, group_quota
from core.hookspecs import hookimpl
from core.institutions.models import Institution
from core.migrate import PluginMigrations
from core.onboarding.eligibility import CheckResult, DocumentRequirement, OpenMatter
from core.service_fields import FieldChoice, ItemField
from plugins.equipment_sharing import bookings, instruments
from plugins.equipment_sharing.api import EquipmentSharingMutation, EquipmentSharingQuery

CATEGORY = Category(
    code="equipment_sharing",
    name_zh="设备共享/实验室共享",
    name_en="Equipment and laboratory sharing",
    quota_group=QuotaGroup.B,
    sort_order=50,
)

ITEM_FIELDS = [
    ItemField("instrument_name", "仪器名称", "Instrument name", required=True,
              example="紫外可见分光光度计"),
    ItemField("charging_unit", "计费方式", "Charging unit", kind="choice", choices=(
        FieldChoice("per_hour", "按机时", "Per hour"),
        FieldChoice("per_sample", "按样品", "Per sample"))),
    ItemField("booking_lead_days", "需提前预约天数", "Booking lead time (days)", kind="number"),
]


@hookimpl
def register_categories() -> list[Category]:
    return [CATEGORY]


@hookimpl
def annual_order_quota(category: str, service_year: int) -> int | None:
    """R-ASM-03: quota group B (5 a year)."""
    return group_quota(CATEGORY.quota_group, service_year) if category == CATEGORY.code else None


@hookimpl
def required_documents(category: str) -> list[DocumentRequirement]:
    """R-ELIG-08: a currently valid CNAS laboratory accreditation."""
    if category != CATEGORY.code:
        return []
    return [DocumentRequirement(category=CATEGORY.code, kinds=("cnas_laboratory",), rule="R-ELIG-08")]


@hookimpl
def eligibility_checks(institution: Institution, on: date) -> list[CheckResult]:
    """R-ELIG-08: the instrument register holds at least one instrument in service."""
    from core.onboarding.profile import institution_categories

    if CATEGORY.code not in institution_categories(institution):
        return []
    ready = instruments.in_service(institution.id)
    message = (_("%(n)d instrument(s) in service in the instrument register.", n=len(ready)) if ready
               else _("The instrument register has no instrument in service."))
    return [CheckResult("R-ELIG-08", bool(ready), message,
                        {"instrument_ids": [i.id for i in ready]}, CATEGORY.code)]


@hookimpl
def open_matters(institution: Institution) -> list[OpenMatter]:
    """Requested or accepted bookings not yet over block a voluntary exit (R-ONB-06)."""
    return [OpenMatter("booking", b.id, _("Instrument booking #%(id)d (%(instrument)s) is still open.",
                                          id=b.id, instrument=b.instrument.name))
            for b in bookings.open_bookings(institution.id)]


@hookimpl
def service_item_fields(category: str) -> list[ItemField]:
    """Instrument name, charging unit (per hour / per sample), booking lead time."""
    return list(ITEM_FIELDS) if category == CATEGORY.code else []


@hookimpl
def plugin_migrations() -> list[PluginMigrations]:
    """The register and the bookings, in `alembic_version_equipment_sharing`."""
    return [PluginMigrations(CATEGORY.code, Path(__file__).resolve().parent / "migrations")]


@hookimpl
def graphql_query_types() -> list[type[Any]]:
    """`equipmentSharingInstruments`, `equipmentSharingBookings`."""
    return [EquipmentSharingQuery]


@hookimpl
def graphql_mutation_types() -> list[type[Any]]:
    """Register / update an instrument; request / accept / decline / cancel a booking."""
    return [EquipmentSharingMutation]

