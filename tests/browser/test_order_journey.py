"""An order from start to finish in the browser (R-G-03): the enterprise orders a service item
from the institution's page, the institution's administrator accepts, starts, attaches the
contract and delivers, the enterprise downloads the contract, confirms completion and reads the
timeline both sides see."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from core.catalogue.testing import add_item, listed_institution
from core.demo import sample_pdf
from core.identity.models import Role
from core.testing import TEST_PASSWORD

from .harness import LiveServer, PageFactory

pytestmark = pytest.mark.browser


def _log_in(page: Page, identifier: str) -> None:
    page.goto("/login")
    page.fill("#identifier", identifier)
    page.fill("#password", TEST_PASSWORD)
    page.click("#login-submit")
    expect(page.locator("#nav-orders")).to_have_text("订单")


def test_an_order_from_the_item_page_to_completion_R_G_03(
    new_page: PageFactory, live_server: LiveServer, make_user: Callable[..., Any]
) -> None:
    institution, admin = listed_institution(make_user, "佛山市家电检测有限公司")
    item = add_item(institution, "家用电器安全检测（GB 4706系列）")
    make_user(Role.ENTERPRISE, name="美达电器 何志强", email="hezhiqiang@example.cn",
              phone="13631000001")

    enterprise = new_page()
    _log_in(enterprise, "hezhiqiang@example.cn")
    enterprise.goto(f"/institutions/{institution.id}")
    enterprise.click(f"#order-item-{item.id}")
    expect(enterprise.locator("h1")).to_have_text("向佛山市家电检测有限公司下单")
    expect(enterprise.locator("#title")).to_have_value("家用电器安全检测（GB 4706系列）")
    enterprise.fill("#amount", "3800")
    enterprise.click("#order-submit")
    expect(enterprise).to_have_url(re.compile(rf"{re.escape(live_server.url)}/orders/\d+$"))
    expect(enterprise.locator("#order-status")).to_have_text("待机构受理")
    order_url = enterprise.url

    lab = new_page()
    _log_in(lab, admin.email)
    lab.click("#nav-orders")
    lab.click("#orders a:has-text('家用电器安全检测')")
    expect(lab.locator("#customer-phone")).to_have_text("13631000001")  # the admin: R-G-05
    for button, status in (("#accept-submit", "已受理"), ("#start-submit", "服务中")):
        lab.click(button)
        expect(lab.locator("#order-status")).to_have_text(status)
    lab.select_option("#kind", "order_contract")
    lab.set_input_files("#file", files=[{"name": "检测委托合同.pdf", "mimeType": "application/pdf",
                                         "buffer": sample_pdf("Contract")}])
    lab.click("#attachment-submit")
    expect(lab.locator(".flash-success")).to_have_text("附件已添加到订单。")
    lab.click("#deliver-submit")
    expect(lab.locator("#order-status")).to_have_text("已交付")

    enterprise.goto(order_url)
    with enterprise.expect_download() as download:
        enterprise.click("#attachments a.download")
    assert download.value.suggested_filename == "检测委托合同.pdf"
    enterprise.click("#complete-submit")
    expect(enterprise.locator("#order-status")).to_have_text("已完成")
    expect(enterprise.locator("#actions")).to_have_count(0)
    steps = enterprise.locator("#timeline li.event")
    expect(steps).to_have_count(5)
    expect(steps.nth(0)).to_contain_text("美达电器 何志强")
    expect(steps.nth(1)).to_contain_text("机构已受理")
    expect(steps.nth(1)).to_contain_text("佛山市家电检测有限公司管理员")
    expect(steps.nth(4)).to_contain_text("确认完成")
