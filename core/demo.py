"""The demo data set: realistic Foshan accounts, institutions and certificates, so that `make run`
shows the platform working to a newcomer."""

from __future__ import annotations

import io
from datetime import date
from typing import Any

from core.documents import service as documents
from core.identity import service
from core.identity.models import Role, User
from core.institutions.models import Institution
from core.institutions.service import create_institution
from core.onboarding import agents, commitment, profile, workflow
from core.plugins import plugins

DEMO_PASSWORD = "Foshan#2026"

# (role, display name, mobile, email)
DEMO_USERS: list[tuple[Role, str, str, str]] = [
    (Role.SYSADMIN, "系统管理员", "13800000000", "admin@qi-demo.cn"),
    (Role.REGULATOR, "佛山市市场监督管理局 陈立新", "13800000001", "regulator@qi-demo.cn"),
    (Role.OPERATOR, "企质通运维中心 黄晓婷", "13800000002", "operator@qi-demo.cn"),
    (Role.INSTITUTION_ADMIN, "佛山市质量计量监督检测中心 李建国", "13922000001", "lab@qi-demo.cn"),
    (Role.INSTITUTION_ADMIN, "佛山市顺德区检测认证有限公司 陈晓峰", "13922000003",
     "cert@qi-demo.cn"),
    (Role.ENTERPRISE, "佛山市顺德区美达电器有限公司 何志强", "13631000001", "buyer@qi-demo.cn"),
]


def sample_pdf(title: str) -> bytes:
    """A small, valid one-page PDF standing in for a scanned certificate."""
    text = title.encode("ascii", "replace")
    stream = b"BT /F1 18 Tf 72 720 Td (" + text + b") Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n".encode() + body + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n"
              .encode())
    return out.getvalue()


# Each demo institution goes through the real onboarding services: profile, categories and
# advantage items, an invited agent, its documents, the commitment letter, and the application
# taken as far as `stage` (live: approved by the regulator; screening: in the operator's queue).
DEMO_INSTITUTIONS: list[dict[str, Any]] = [
    {
        "stage": "live", "admin": "13922000001", "agent": ("佛山市质量计量监督检测中心 客服 周静",
                                                          "13922000002"),
        "profile": {
            "legalName": "佛山市质量计量监督检测中心", "uscc": "12440600455848786R",
            "institutionType": "public_institution", "legalRepresentative": "李建国",
            "registeredAddress": "佛山市禅城区季华五路18号", "provinceCode": "440000",
            "cityCode": "440600", "districtCode": "440604", "contactPhone": "0757-83031234",
            "contactEmail": "service@fsjl.example.cn", "website": "https://www.fsjl.example.cn",
            "introduction": "佛山市质量计量监督检测中心是佛山市市场监督管理局直属的公益类事业单位，"
                            "承担全市计量检定校准、产品质量监督检验和能力验证工作，拥有长度、热工、"
                            "力学、电学等计量标准装置120余项，检验检测能力覆盖家用电器、电线电缆、"
                            "五金制品等领域。",
        },
        "categories": ["metrology", "testing", "equipment_sharing"], "main": "metrology",
        "advantages": [("metrology", "计量器具检定校准", "长度、热工、力学、电学计量器具的检定与校准"),
                       ("testing", "家用电器安全检测", "依据GB 4706系列标准开展家电安全检测"),
                       ("testing", "电线电缆检测", "依据GB/T 5023、GB/T 19666等标准检测")],
        "documents": [
            {"kind": "legal_person_certificate", "certificateNumber": "12440600455848786R",
             "issuer": "佛山市事业单位登记管理局", "validFrom": date(2023, 6, 1),
             "validTo": date(2028, 5, 31), "file": "事业单位法人证书.pdf"},
            {"kind": "cma", "categoryCode": "testing", "certificateNumber": "201919123456",
             "issuer": "广东省市场监督管理局", "validFrom": date(2024, 3, 1),
             "validTo": date(2030, 2, 28), "scope": "家用电器安全、电线电缆、五金制品等 326 项参数",
             "file": "CMA资质认定证书.pdf"},
            {"kind": "cnas_calibration", "categoryCode": "metrology",
             "certificateNumber": "CNAS L1234", "issuer": "中国合格评定国家认可委员会",
             "validFrom": date(2020, 12, 11), "validTo": date(2026, 12, 10),
             "scope": "长度、热工、力学、电学计量校准", "file": "CNAS校准实验室认可证书.pdf"},
            {"kind": "cnas_laboratory", "categoryCode": "equipment_sharing",
             "certificateNumber": "CNAS L5678", "issuer": "中国合格评定国家认可委员会",
             "validFrom": date(2022, 3, 15), "validTo": date(2028, 3, 14),
             "scope": "电气安全、电磁兼容、材料理化检测", "file": "CNAS实验室认可证书.pdf"},
        ],
    },
    {
        "stage": "screening", "admin": "13922000003", "agent": ("顺德检测认证 客服 梁美玲",
                                                              "13922000004"),
        "profile": {
            "legalName": "佛山市顺德区检测认证有限公司", "uscc": "91440606MA4UHF0X17",
            "institutionType": "enterprise", "legalRepresentative": "陈晓峰",
            "registeredAddress": "佛山市顺德区大良街道观绿路4号", "provinceCode": "440000",
            "cityCode": "440600", "districtCode": "440606", "contactPhone": "0757-22381234",
            "contactEmail": "service@sdjc.example.cn",
            "introduction": "佛山市顺德区检测认证有限公司是经国家认证认可监督管理委员会批准的认证机构，"
                            "主要为顺德家电、家具制造企业提供质量管理体系、环境管理体系认证和产品认证服务，"
                            "已服务企业400余家。",
        },
        "categories": ["certification"], "main": "certification",
        "advantages": [("certification", "质量管理体系认证", "GB/T 19001-2016 质量管理体系认证"),
                       ("certification", "环境管理体系认证", "GB/T 24001-2016 环境管理体系认证")],
        "documents": [
            {"kind": "business_licence", "certificateNumber": "91440606MA4UHF0X17",
             "issuer": "佛山市顺德区市场监督管理局", "validFrom": date(2019, 4, 18), "longTerm": True,
             "file": "营业执照.pdf"},
            {"kind": "cnca_approval", "categoryCode": "certification",
             "certificateNumber": "CNCA-R-2021-123", "issuer": "国家认证认可监督管理委员会",
             "validFrom": date(2021, 9, 1), "validTo": date(2027, 8, 31),
             "scope": "质量管理体系认证、环境管理体系认证", "file": "认证机构批准书.pdf"},
        ],
    },
]


def _onboard(spec: dict[str, Any], users: dict[str, User]) -> Institution:
    admin = users[spec["admin"]]
    institution = create_institution(legal_name=spec["profile"]["legalName"],
                                     uscc=spec["profile"]["uscc"], admin=admin)
    profile.update_profile(institution, spec["profile"], actor=admin)
    profile.set_categories(institution, categories=spec["categories"], main_category=spec["main"],
                           advantage_items=[{"categoryCode": c, "title": t, "description": d}
                                            for c, t, d in spec["advantages"]], actor=admin)
    name, phone = spec["agent"]
    _invitation, token = agents.invite_agent(institution, display_name=name, phone=phone,
                                             actor=admin)
    agents.accept_invitation(token, password=DEMO_PASSWORD, current_user=None)
    for doc in spec["documents"]:
        meta = documents.validate_meta(doc, institution)
        documents.store_upload(institution, meta, io.BytesIO(sample_pdf(f"{doc['kind']} demo")),
                               filename=str(doc["file"]), actor=admin)
    letter = commitment.current_version()
    commitment.sign(institution, signer_name=spec["profile"]["legalRepresentative"],
                    signer_title="法定代表人", version_id=letter.id, actor=admin, ip="127.0.0.1",
                    user_agent="qi demo")
    return institution


def _apply(spec: dict[str, Any], institution: Institution, users: dict[str, User]) -> None:
    """Take the application as far as the spec's stage."""
    workflow.transition(institution.id, "submit", actor=users[spec["admin"]])
    operator, regulator = users["13800000002"], users["13800000001"]
    workflow.transition(institution.id, "start_screening", actor=operator)
    if spec["stage"] == "live":
        workflow.transition(institution.id, "pass_screening", actor=operator,
                            reason="资质、技术能力与服务信誉审查通过")
        workflow.transition(institution.id, "approve", actor=regulator,
                            reason="符合入驻条件，同意入驻")


DEMO_ITEMS = [
    {"categoryCode": "metrology", "title": "压力表、温度计检定校准",
     "description": "依据JJG 52-2013等检定规程，为企业在用压力表、温度计提供检定和校准，出具检定证书或"
                    "校准证书，可上门服务。",
     "scope": "一般压力表 (0~60) MPa；工业铂热电阻 (-50~420) ℃", "pricingKind": "from",
     "price": "30", "turnaroundDays": 5,
     "fields": {"measured_quantities": ["压力", "温度"], "ranges": "(0~60) MPa；(-50~420) ℃",
                "uncertainty": "U=0.05%（k=2）", "on_site": True}},
    {"categoryCode": "testing", "title": "家用电器安全检测（GB 4706系列）",
     "description": "为顺德、南海家电企业提供电器安全型式试验和出厂前抽样检测，覆盖电磁灶、电饭锅、"
                    "电风扇等产品，出具CMA检验检测报告。",
     "scope": "GB 4706.1-2005 全部参数；GB 4706.21-2008 全部参数", "pricingKind": "quotation",
     "turnaroundDays": 10,
     "fields": {"standards": ["GB 4706.1-2005", "GB 4706.21-2008"], "sample_types": ["家用电器"],
                "turnaround_days": 10, "on_site_sampling": True}},
]


def _operations(institutions: dict[str, Institution], users: dict[str, User]) -> list[str]:
    """Published service items, an enterprise, and a consultation asked and answered."""
    from core.catalogue.service import create_item, publish_item
    from core.consultations.service import ask, reply
    from core.enterprises.service import create_enterprise

    lab = institutions["佛山市质量计量监督检测中心"]
    admin, buyer = users["13922000001"], users["13631000001"]
    agent = agents.agents_of(lab)[0]
    for data in DEMO_ITEMS:
        publish_item(create_item(lab, data, actor=admin), actor=admin)
    create_enterprise({"name": "佛山市顺德区美达电器有限公司", "uscc": "91440606MA52K8RX8D",
                       "industry": "家用电力器具制造", "provinceCode": "440000",
                       "cityCode": "440600", "districtCode": "440606", "size": "medium",
                       "contactName": "何志强", "contactPhone": "13631000001"}, actor=buyer)
    question = ask(lab, subject="电磁灶出口前安全检测咨询",
                   body="我司有一批电磁灶需在出口前做GB 4706.1和GB 4706.21安全检测，请问周期和费用？",
                   actor=buyer)
    reply(question, body="您好，电磁灶安全检测周期约10个工作日，费用按检测项目报价，可安排上门取样。"
                         "请提供产品型号和数量，我们尽快出具报价单。", actor=agent)
    return [f"{lab.legal_name}: {len(DEMO_ITEMS)} published service items, 1 consultation answered",
            "enterprise 佛山市顺德区美达电器有限公司 (user 13631000001)"]


# The service-operation areas' own demo steps, in order (each `demo(institutions, users)` returns
# the lines to print); an area adds its step here, its data lives in its own `demo.py`.
DEMO_STEPS: tuple[str, ...] = (
    "core.orders.demo:demo",
    "core.reviews.demo:demo",
    "core.demands.demo:demo",
    "core.visibility.demo:demo",
    "core.case_reports.demo:demo",
    "core.complaints.demo:demo",
    "core.assessment.demo:demo",
    "core.catalogue.demo:demo",
)


def _run_steps(institutions: dict[str, Institution], users: dict[str, User]) -> list[str]:
    from importlib import import_module

    lines: list[str] = []
    for path in DEMO_STEPS:
        module, _sep, name = path.partition(":")
        lines.extend(getattr(import_module(module), name)(institutions, users))
    return lines


def load_demo() -> list[str]:
    """Create the demo data; returns the lines to print (who can log in with what)."""
    lines = [f"demo password for every account: {DEMO_PASSWORD}"]
    users: dict[str, User] = {}
    for role, name, phone, email in DEMO_USERS:
        users[phone] = service.create_user(display_name=name, password=DEMO_PASSWORD, roles=[role],
                                           email=email, phone=phone, audit_action="user.create_demo")
        lines.append(f"  {role.value:<18} {phone}  {email}  {name}")
    prepared = [(spec, _onboard(spec, users)) for spec in DEMO_INSTITUTIONS]
    # The plugins add their part (scope annexes, instrument registers …) before the institutions
    # apply, since their eligibility checks read it.
    institutions = {institution.legal_name: institution for _spec, institution in prepared}
    for batch in plugins.pm.hook.demo_data(institutions=institutions, users=users):
        lines.extend(f"  {line}" for line in batch)
    for spec, institution in prepared:
        _apply(spec, institution, users)
        lines.append(f"  institution #{institution.id} {institution.legal_name}: {spec['stage']}")
    lines.extend(f"  {line}" for line in _operations(institutions, users))
    lines.extend(f"  {line}" for line in _run_steps(institutions, users))
    lines.append("  agents log in with their mobile number and the same password")
    return lines
