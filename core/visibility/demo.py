"""Demo data for spot checks and the visibility rule (R-OPS-04, R-OPS-05): the operator's first
spot check of the live demo lab, and one run of the visibility job (it hides any live demo
institution past its first month without a published item or an agent)."""

from __future__ import annotations

from core.identity.models import User
from core.institutions.models import Institution
from core.visibility.service import apply_rules
from core.visibility.spot_checks import record_spot_check

FINDINGS = ("抽查机构主页、服务项目和近期咨询记录：机构基本信息完整，已发布的计量检定校准、家用电器安全"
            "检测服务项目均按规范填写并明示收费方式；在线客服已配置，近期咨询均在2小时内首次响应。"
            "未发现违规情形。")


def demo(institutions: dict[str, Institution], users: dict[str, User]) -> list[str]:
    lab = institutions["佛山市质量计量监督检测中心"]
    operator = users["13800000002"]  # 企质通运维中心 黄晓婷
    check = record_spot_check(lab, result="ok", findings=FINDINGS, actor=operator)
    lines = [f"spot check #{check.id} of {lab.legal_name}: ok "
             f"(operator {operator.phone}: /operations/spot-checks)"]
    hidden = [c.institution_id for c in apply_rules() if c.action == "hide"]
    if hidden:
        lines.append(f"homepages hidden under R-OPS-05 (no item or no agent): {hidden}")
    return lines
