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

from core.catalogue.filters import DirectoryFilter
from core.categories import Category, QuotaGroup
from core.hookspecs import hookimpl
from core.institutions.models import Institution
from core.migrate import PluginMigrations
from core.onboarding.eligibility import CheckResult, OpenMatter
from core.plugin_kit import category_hooks
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

register_categories, annual_order_quota, service_item_fields, required_documents = (
    category_hooks(CATEGORY, item_fields=ITEM_FIELDS, required_kinds=("cnas_laboratory",), rule="R-ELIG-08"))


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
def plugin_migrations() -> list[PluginMigrations]:
    """The register and the bookings, in `alembic_version_equipment_sharing`."""
    return [PluginMigrations(CATEGORY.code, Path(__file__).resolve().parent / "migrations")]


@hookimpl
def directory_filters() -> list[DirectoryFilter]:
    """`instrument`: institutions whose instrument register lists a matching instrument."""
    return [DirectoryFilter("instrument", "仪器设备", "Instrument", instruments.institutions_with_instrument,
                            example="分光光度计")]


@hookimpl
def graphql_query_types() -> list[type[Any]]:
    """`equipmentSharingInstruments`, `equipmentSharingBookings`."""
    return [EquipmentSharingQuery]


@hookimpl
def graphql_mutation_types() -> list[type[Any]]:
    """Register / update an instrument; request / accept / decline / cancel a booking."""
    return [EquipmentSharingMutation]



DEMO_INSTRUMENTS = [
    {"name": "电感耦合等离子体发射光谱仪", "model": "ICPE-9820", "manufacturer": "岛津",
     "indicators": "波长范围 167-800 nm；检出限 ppb 级；可同时测定 70 余种元素",
     "location": "佛山市禅城区季华五路18号 理化实验室", "pricePerSample": "180",
     "lastCalibratedOn": date(2026, 6, 12), "availability": "工作日 9:00-17:00，需提前3个工作日预约"},
    {"name": "电磁兼容测试系统（3米法半电波暗室）", "model": "SAC-3", "manufacturer": "ETS-Lindgren",
     "indicators": "30 MHz-18 GHz 辐射发射；场地电压驻波比 ≤ 6 dB",
     "location": "佛山市禅城区季华五路18号 EMC实验室", "pricePerHour": "800",
     "lastCalibratedOn": date(2026, 3, 2), "availability": "按小时预约，含一名操作员"},
    {"name": "万能材料试验机", "model": "UTM5105", "manufacturer": "深圳三思纵横",
     "indicators": "最大试验力 100 kN；准确度 0.5 级", "location": "力学实验室",
     "pricePerSample": "60", "lastCalibratedOn": date(2026, 9, 20), "availability": "工作日"},
]


@hookimpl
def demo_data(institutions, users) -> list[str]:
    """The instrument register of the demo institution that shares its laboratory (R-G-01)."""
    from core.onboarding.profile import institution_categories
    from plugins.equipment_sharing.instruments import register_instrument

    lines = []
    for institution in institutions.values():
        if CATEGORY.code not in institution_categories(institution):
            continue
        admin = next(s.user for s in institution.staff if s.role.value == "admin")
        for values in DEMO_INSTRUMENTS:
            register_instrument(institution, values, actor=admin)
        lines.append(f"{institution.legal_name}: {len(DEMO_INSTRUMENTS)} instruments registered")
    return lines
