"""The directory's demo data: the demo laboratory's shared-instrument service, so that every
kind of directory search (keyword, category, standard number, instrument, rating) finds it."""

from __future__ import annotations

from core.identity.models import User
from core.institutions.models import Institution

SHARED_INSTRUMENT_ITEM = {
    "categoryCode": "equipment_sharing", "title": "电感耦合等离子体发射光谱仪（ICP-OES）共享",
    "description": "面向佛山五金、陶瓷、家电企业开放岛津 ICPE-9820 光谱仪，可测定金属材料和原料中 70 余种"
                   "元素含量，含一名操作员，出具原始数据记录。",
    "scope": "金属材料、陶瓷原料、电镀液等样品的元素分析；佛山市内企业优先安排",
    "pricingKind": "from", "price": "180", "turnaroundDays": 3,
    "fields": {"instrument_name": "电感耦合等离子体发射光谱仪", "charging_unit": "per_sample",
               "booking_lead_days": 3},
}


def demo(institutions: dict[str, Institution], users: dict[str, User]) -> list[str]:
    from core.catalogue.service import create_item, publish_item

    lab = institutions["佛山市质量计量监督检测中心"]
    admin = users["13922000001"]
    publish_item(create_item(lab, SHARED_INSTRUMENT_ITEM, actor=admin), actor=admin)
    return [f"{lab.legal_name}: a shared-instrument service item; try /directory?keyword=计量, "
            "?standard=GB/T 2828.1, ?instrument=光谱仪 or ?sort=rating"]
