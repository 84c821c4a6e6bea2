"""质量管理 (Quality management): 管理体系建设、质量提升与卓越绩效等咨询服务.

Management-consulting institutions hold no statutory qualification, so the category requires no
document; R-ELIG-07 asks for the client list of quality-management, brand or quality-improvement
services within the last two years, each with its photo evidence (`core.cases`).
"""

from datetime import date

from core.cases.models import CaseKind
from core.cases.service import case_list_check
from core.categories import Category, QuotaGroup
from core.hookspecs import hookimpl
from core.institutions.models import Institution
from core.onboarding.eligibility import CheckResult
from core.onboarding.profile import institution_categories
from core.plugin_kit import category_hooks
from core.service_fields import FieldChoice, ItemField

CATEGORY = Category(
    code="quality_management",
    name_zh="质量管理",
    name_en="Quality management",
    quota_group=QuotaGroup.B,
    sort_order=70,
)

# M Art. 8: "从事过质量管理、品牌打造、质量提升等服务的客户名录".
CASE_KINDS = (CaseKind.QUALITY_MANAGEMENT, CaseKind.BRAND_CULTIVATION, CaseKind.QUALITY_IMPROVEMENT)

ITEM_FIELDS = [
    ItemField("service_type", "服务类型", "Service type", kind="choice", required=True,
              choices=(FieldChoice("management_system", "管理体系建设辅导",
                                   "Management system consulting"),
                       FieldChoice("quality_improvement", "质量提升诊断", "Quality improvement"),
                       FieldChoice("performance_excellence", "卓越绩效与质量奖申报辅导",
                                   "Performance excellence and quality awards"),
                       FieldChoice("quality_tools", "质量工具与六西格玛培训",
                                   "Quality tools and Six Sigma"))),
    ItemField("standards", "依据标准", "Standards applied", kind="list",
              help_zh="每行一个，如：GB/T 19001-2016、GB/T 19580-2012。",
              example="GB/T 19001-2016"),
]

register_categories, annual_order_quota, service_item_fields, required_documents = (
    category_hooks(CATEGORY, item_fields=ITEM_FIELDS))


@hookimpl
def eligibility_checks(institution: Institution, on: date) -> list[CheckResult]:
    """R-ELIG-07: recent successful consulting cases with evidence, for institutions that chose
    this category."""
    if CATEGORY.code not in institution_categories(institution):
        return []
    return [case_list_check(institution, CATEGORY.code, on, kinds=CASE_KINDS)]
