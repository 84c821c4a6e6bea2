"""The demo data set: realistic Foshan accounts, institutions and certificates, so that `make run`
shows the platform working to a newcomer."""

from __future__ import annotations

import io
from datetime import date

from core.documents import service as documents
from core.identity import service
from core.identity.models import Role, User
from core.institutions.models import InstitutionStatus, StaffRole
from core.institutions.service import add_staff, create_institution

DEMO_PASSWORD = "Foshan#2026"

# (role, display name, mobile, email)
DEMO_USERS: list[tuple[Role, str, str, str]] = [
    (Role.SYSADMIN, "系统管理员", "13800000000", "admin@qi-demo.cn"),
    (Role.REGULATOR, "佛山市市场监督管理局 陈立新", "13800000001", "regulator@qi-demo.cn"),
    (Role.OPERATOR, "企质通运维中心 黄晓婷", "13800000002", "operator@qi-demo.cn"),
    (Role.INSTITUTION_ADMIN, "佛山市质量计量监督检测中心 李建国", "13922000001", "lab@qi-demo.cn"),
    (Role.INSTITUTION_AGENT, "佛山市质量计量监督检测中心 客服 周静", "13922000002",
     "agent@qi-demo.cn"),
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


# institution → (legal name, USCC, status, admin phone, agent phone, documents)
DEMO_INSTITUTIONS = [
    ("佛山市质量计量监督检测中心", "12440600455848786R", InstitutionStatus.LIVE, "13922000001",
     "13922000002", [
         {"kind": "legal_person_certificate", "certificateNumber": "12440600455848786R",
          "issuer": "佛山市事业单位登记管理局", "validFrom": date(2023, 6, 1),
          "validTo": date(2028, 5, 31), "file": "事业单位法人证书.pdf"},
         {"kind": "cma", "categoryCode": "testing", "certificateNumber": "201919123456",
          "issuer": "广东省市场监督管理局", "validFrom": date(2024, 3, 1),
          "validTo": date(2030, 2, 28), "scope": "家用电器安全、电线电缆、五金制品等 326 项参数",
          "file": "CMA资质认定证书.pdf"},
         {"kind": "cnas_calibration", "categoryCode": "metrology", "certificateNumber": "CNAS L1234",
          "issuer": "中国合格评定国家认可委员会", "validFrom": date(2020, 12, 11),
          "validTo": date(2026, 12, 10), "scope": "长度、热工、力学、电学计量校准",
          "file": "CNAS校准实验室认可证书.pdf"},
     ]),
    ("佛山市顺德区检测认证有限公司", "91440606MA4UHF0X17", InstitutionStatus.DRAFT, "13922000003",
     None, [
         {"kind": "business_licence", "certificateNumber": "91440606MA4UHF0X17",
          "issuer": "佛山市顺德区市场监督管理局", "validFrom": date(2019, 4, 18), "longTerm": True,
          "file": "营业执照.pdf"},
         {"kind": "cnca_approval", "categoryCode": "certification",
          "certificateNumber": "CNCA-R-2021-123", "issuer": "国家认证认可监督管理委员会",
          "validFrom": date(2021, 9, 1), "validTo": date(2027, 8, 31),
          "scope": "质量管理体系认证、环境管理体系认证", "file": "认证机构批准书.pdf"},
     ]),
]


def load_demo() -> list[str]:
    """Create the demo data; returns the lines to print (who can log in with what)."""
    lines = [f"demo password for every account: {DEMO_PASSWORD}"]
    users: dict[str, User] = {}
    for role, name, phone, email in DEMO_USERS:
        users[phone] = service.create_user(display_name=name, password=DEMO_PASSWORD, roles=[role],
                                           email=email, phone=phone, audit_action="user.create_demo")
        lines.append(f"  {role.value:<18} {phone}  {email}  {name}")
    for name, uscc, status, admin_phone, agent_phone, docs in DEMO_INSTITUTIONS:
        admin = users[admin_phone]
        institution = create_institution(legal_name=name, uscc=uscc, admin=admin, status=status)
        if agent_phone:
            add_staff(institution, users[agent_phone], StaffRole.AGENT, actor=admin)
        for doc in docs:
            meta = documents.validate_meta(doc, institution)
            documents.store_upload(institution, meta, io.BytesIO(sample_pdf(f"{uscc} demo")),
                                   filename=str(doc["file"]), actor=admin)
        lines.append(f"  institution #{institution.id} {name} ({status.value}), {len(docs)} documents")
    return lines
