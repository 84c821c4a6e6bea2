"""Plain helpers for the onboarding tests: realistic Foshan data and a complete profile.
Imported by `conftest.py` and the test modules."""

from __future__ import annotations

import re
from typing import Any

# USCCs that pass python-stdnum's check digit.
SHUNDE_CO = "佛山市顺德区检测认证有限公司"
USCC_SHUNDE_CO = "91440606MA4UHF0X17"
METROLOGY_CENTRE = "佛山市质量计量监督检测中心"
USCC_METROLOGY_CENTRE = "12440600455848786R"
USCC_BAD_CHECK_DIGIT = "91440606MA4UHF0X18"

GUANGDONG = "440000"
FOSHAN = "440600"
SHUNDE = "440606"
NANHAI = "440605"
GUANGZHOU = "440100"
TIANHE = "440106"  # 广州市天河区
BEIJING = "110000"
DONGGUAN = "441900"  # no county-level division

INTRODUCTION = (
    "佛山市顺德区检测认证有限公司成立于2016年，是经广东省市场监督管理局资质认定（CMA）的第三方"
    "检测机构，实验室面积3200平方米，主要开展家用电器、五金制品、建筑材料和环境监测等领域的检验"
    "检测服务，为顺德及周边制造业企业提供一站式质量技术服务。"
)

CSRF_INPUT_RE = re.compile(r'<input[^>]*name="csrf_token"[^>]*>')
VALUE_RE = re.compile(r'value="([^"]+)"')


def full_profile(**overrides: Any) -> dict[str, Any]:
    """Every profile field, valid, for 佛山市顺德区检测认证有限公司 (camelCase, as the API sends)."""
    data: dict[str, Any] = {
        "legalName": SHUNDE_CO,
        "uscc": USCC_SHUNDE_CO,
        "institutionType": "enterprise",
        "legalRepresentative": "陈志强",
        "registeredAddress": "广东省佛山市顺德区大良街道德和社区新城区观绿路4号",
        "provinceCode": GUANGDONG,
        "cityCode": FOSHAN,
        "districtCode": SHUNDE,
        "contactPhone": "0757-22321234",
        "contactEmail": "service@sdtest.com.cn",
        "introduction": INTRODUCTION,
        "website": "https://www.sdtest.com.cn",
    }
    data.update(overrides)
    return data


def advantage(category: str, title: str, description: str | None = None) -> dict[str, Any]:
    return {"categoryCode": category, "title": title, "description": description}


ITEMS = [
    advantage("testing", "家用电器安全性能检测", "GB 4706 系列标准全项检测"),
    advantage("testing", "建筑材料物理性能检测"),
    advantage("testing", "室内空气质量检测"),
    advantage("testing", "五金制品盐雾试验"),
]
