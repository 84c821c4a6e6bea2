"""知识产权 (Intellectual property): 商标、专利代理与知识产权服务.

IP agencies hold no statutory qualification the platform could check, so the category requires
no document; instead R-ELIG-07 asks for the client list: successful trademark or patent filings
within the last two years, each with its photo evidence (core's client case list, `core.cases`).
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
    code="ip",
    name_zh="知识产权",
    name_en="Intellectual property",
    quota_group=QuotaGroup.B,
    sort_order=40,
)

# The filings that count for an IP agency (M Art. 8: "成功申报过商标、专利等知识产权成果").
CASE_KINDS = (CaseKind.TRADEMARK_REGISTRATION, CaseKind.PATENT_GRANT)

ITEM_FIELDS = [
    ItemField("service_type", "服务类型", "Service type", kind="choice", required=True,
              choices=(FieldChoice("trademark", "商标", "Trademark"),
                       FieldChoice("patent", "专利", "Patent"),
                       FieldChoice("copyright", "版权", "Copyright")),
              help_zh="注册申请、续展、转让、异议、无效宣告、维权等均按对象归类。"),
]

register_categories, annual_order_quota, service_item_fields, required_documents = (
    category_hooks(CATEGORY, item_fields=ITEM_FIELDS))


@hookimpl
def eligibility_checks(institution: Institution, on: date) -> list[CheckResult]:
    """R-ELIG-07: recent successful trademark / patent filings with evidence, for institutions
    that chose this category."""
    if CATEGORY.code not in institution_categories(institution):
        return []
    return [case_list_check(institution, CATEGORY.code, on, kinds=CASE_KINDS)]
