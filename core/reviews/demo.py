"""Demo data for reviews: the demo enterprise's completed orders with the live lab, one warm
5-star review, and one 2-star review whose follow-up the lab answered and the enterprise judged
satisfied (R-OPS-04, R-G-04)."""

from __future__ import annotations

from core.identity.models import User
from core.institutions.models import Institution
from core.onboarding import agents
from core.orders import service as orders
from core.orders.models import Order
from core.reviews import service


def _completed(lab: Institution, title: str, amount: str, buyer: User, agent: User) -> Order:
    order = orders.place(lab, title=title, amount=amount, actor=buyer)
    for action in ("accept", "start", "deliver"):
        orders.advance(order, action, actor=agent)
    return orders.advance(order, "complete", actor=buyer)


def demo(institutions: dict[str, Institution], users: dict[str, User]) -> list[str]:
    lab = institutions["佛山市质量计量监督检测中心"]
    buyer = users["13631000001"]  # 何志强, 佛山市顺德区美达电器有限公司
    agent = agents.agents_of(lab)[0]
    good = _completed(lab, "车间压力表、温度计年度检定（共48台）", "1440.00", buyer, agent)
    service.review_order(good, 5, "检定人员上门服务，半天就完成了48台压力表、温度计的检定，证书第二天"
                                  "就发到邮箱，服务专业又贴心，明年继续合作。", buyer)
    late = _completed(lab, "电磁灶GB 4706.21安全检测（出口批次）", "6800.00", buyer, agent)
    review = service.review_order(late, 2, "检测报告比约定时间晚了5个工作日，影响了我司出口报关，"
                                           "期间询问进度也没有及时回复。", buyer)
    assert review.follow_up is not None
    service.respond_to_follow_up(review.follow_up, "非常抱歉给贵司带来不便。延误原因是样品温升试验"
                                 "需复测，我们未及时告知。已由业务主管致电何经理致歉，并退还加急费"
                                 "800元；今后检测进度每两天主动通报一次。", agent)
    service.judge_follow_up(review.follow_up, True, "已收到退款和致歉电话，处理及时，认可。", buyer)
    return [f"{lab.legal_name}: 2 completed orders rated (5 stars; 2 stars, follow-up closed "
            "satisfied)"]
