"""The demo data set: realistic Foshan accounts so `make run` shows the platform working."""

from __future__ import annotations

from core.identity import service
from core.identity.models import Role

DEMO_PASSWORD = "Foshan#2026"

# (role, display name, mobile, email)
DEMO_USERS: list[tuple[Role, str, str, str]] = [
    (Role.SYSADMIN, "系统管理员", "13800000000", "admin@qi-demo.cn"),
    (Role.REGULATOR, "佛山市市场监督管理局 陈立新", "13800000001", "regulator@qi-demo.cn"),
    (Role.OPERATOR, "企质通运维中心 黄晓婷", "13800000002", "operator@qi-demo.cn"),
    (Role.INSTITUTION_ADMIN, "广东产品质量监督检验研究院 李建国", "13922000001", "lab@qi-demo.cn"),
    (Role.INSTITUTION_AGENT, "广东产品质量监督检验研究院 客服 周静", "13922000002", "agent@qi-demo.cn"),
    (Role.ENTERPRISE, "佛山市顺德区美达电器有限公司 何志强", "13631000001", "buyer@qi-demo.cn"),
]


def load_demo() -> list[str]:
    """Create the demo users; returns the lines to print (who can log in with what)."""
    lines = [f"demo password for every account: {DEMO_PASSWORD}"]
    for role, name, phone, email in DEMO_USERS:
        service.create_user(display_name=name, password=DEMO_PASSWORD, roles=[role],
                            email=email, phone=phone, audit_action="user.create_demo")
        lines.append(f"  {role.value:<18} {phone}  {email}  {name}")
    return lines
