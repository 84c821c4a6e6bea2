"""检验检测 (Inspection and testing): 产品检验检测服务.

Requires a valid CMA certificate (R-ELIG-09); quota group A (R-ASM-03). Its service items name
the standards or methods, sample types and turnaround; the institution's scope annex (the
standards its CMA certificate covers) is its own table, searchable by standard number.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.catalogue.filters import DirectoryFilter
from core.categories import Category, QuotaGroup
from core.hookspecs import hookimpl
from core.migrate import PluginMigrations
from core.plugin_kit import category_hooks
from core.service_fields import ItemField
from plugins.testing import models as _models  # noqa: F401  (its table joins the metadata)
from plugins.testing.api import TestingMutation, TestingQuery

CATEGORY = Category(
    code="testing",
    name_zh="检验检测",
    name_en="Inspection and testing",
    quota_group=QuotaGroup.A,
    sort_order=20,
)

ITEM_FIELDS = [
    ItemField("standards", "检测标准或方法", "Standards or methods", kind="list", required=True,
              example="GB/T 2828.1-2012", help_zh="每行一个标准编号或方法，如 GB/T 2828.1-2012。"),
    ItemField("sample_types", "样品类型", "Sample types", kind="list", required=True,
              example="家用电器", help_zh="每行一种样品。"),
    ItemField("turnaround_days", "检测周期（工作日）", "Turnaround (working days)", kind="number"),
    ItemField("on_site_sampling", "提供上门取样", "On-site sampling", kind="boolean"),
]

register_categories, annual_order_quota, service_item_fields, required_documents = (
    category_hooks(CATEGORY, item_fields=ITEM_FIELDS, required_kinds=("cma",)))


@hookimpl
def plugin_migrations() -> list[PluginMigrations]:
    """The scope annex table `testing_scope_entry`, in `alembic_version_testing`."""
    return [PluginMigrations(CATEGORY.code, Path(__file__).resolve().parent / "migrations")]


@hookimpl
def directory_filters() -> list[DirectoryFilter]:
    """`standard`: institutions whose CMA scope annex covers a standard number, with or without
    its year (`GB/T 2828.1` finds every edition, `GB/T 2828.1-2012` that one)."""
    from plugins.testing.scope import institutions_for_standard

    return [DirectoryFilter("standard", "检测标准编号", "Standard number", institutions_for_standard,
                            example="GB/T 2828.1-2012")]


@hookimpl
def graphql_query_types() -> list[type[Any]]:
    """`testingScopeSearch`."""
    return [TestingQuery]


@hookimpl
def graphql_mutation_types() -> list[type[Any]]:
    """`addTestingScopeEntries`."""
    return [TestingMutation]


DEMO_SCOPE = [
    ("GB 4706.1-2005", "家用和类似用途电器的安全 第1部分：通用要求", "全部参数"),
    ("GB 4706.21-2008", "家用和类似用途电器的安全 微波炉的特殊要求", "全部参数"),
    ("GB/T 2828.1-2012", "计数抽样检验程序 第1部分：按接收质量限检索的逐批检验抽样计划", "抽样方案"),
    ("GB/T 5023.1-2008", "额定电压450/750V及以下聚氯乙烯绝缘电缆 第1部分：一般要求", "结构尺寸、电性能"),
    ("GB 21456-2014", "家用电磁灶能效限定值及能效等级", "能效等级"),
]


@hookimpl
def demo_data(institutions, users) -> list[str]:
    """The scope annex of the demo institution that tests household appliances."""
    from core.onboarding.profile import institution_categories
    from plugins.testing.scope import add_scope_entries

    lines = []
    for institution in institutions.values():
        if CATEGORY.code not in institution_categories(institution):
            continue
        admin = next(s.user for s in institution.staff if s.role.value == "admin")
        add_scope_entries(institution, [
            {"standardNumber": n, "standardTitle": t, "parameters": p} for n, t, p in DEMO_SCOPE],
            actor=admin)
        lines.append(f"{institution.legal_name}: {len(DEMO_SCOPE)} standards in its CMA scope")
    return lines
