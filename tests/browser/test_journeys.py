"""What a person does in the browser: register, log in and out, switch language, get locked out,
look at the service categories. Chinese is the default language (ARCHITECTURE.md, Conventions)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect

from core.identity.models import Role
from core.testing import TEST_PASSWORD

from .harness import (
    PHONE_WIDTH,
    LiveServer,
    PageFactory,
    horizontal_overflow,
    page_width,
    save_screenshot,
    stylesheet_rules,
)

pytestmark = pytest.mark.browser

BEIJING = ZoneInfo("Asia/Shanghai")


def _assert_fits_phone(page: Page) -> None:
    """The stylesheet applies and nothing makes a 390 px wide phone scroll sideways."""
    assert stylesheet_rules(page) > 0, f"{page.url} has no stylesheet (is /static/site.css served?)"
    assert page_width(page) <= PHONE_WIDTH, f"{page.url} is {page_width(page)} px wide"
    assert horizontal_overflow(page) == 0


def _submit_login(page: Page, identifier: str, password: str) -> None:
    page.fill("#identifier", identifier)
    page.fill("#password", password)
    page.click("#login-submit")


def test_register_enterprise_user_on_a_phone(new_page: PageFactory, live_server: LiveServer) -> None:
    """An enterprise registers through the Chinese form on a phone and lands logged in on its
    account page with the role 企业用户; neither page scrolls sideways at 390 px."""
    page = new_page(phone=True)
    page.goto("/register")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator("h1")).to_have_text("注册")
    expect(page.locator("label[for=display_name]")).to_have_text("名称")
    expect(page.locator("#register-submit")).to_have_text("注册账号")
    expect(page.locator(f"input[name=role][value={Role.ENTERPRISE.value}]")).to_be_checked()
    _assert_fits_phone(page)
    save_screenshot(page, "register-phone")

    page.fill("#display_name", "佛山市禅城区精工检测设备有限公司")
    page.fill("#phone", "138 0013 8000")
    page.fill("#password", TEST_PASSWORD)
    page.click("#register-submit")

    expect(page).to_have_url(f"{live_server.url}/account")
    expect(page.locator(".flash-success")).to_have_text("注册成功，欢迎使用！")
    expect(page.locator("#account-name")).to_have_text("佛山市禅城区精工检测设备有限公司")
    expect(page.locator(".facts .tag")).to_have_text(["企业用户"])
    expect(page.locator("#nav-logout")).to_have_text("退出登录")
    _assert_fits_phone(page)
    save_screenshot(page, "account-phone")


def test_log_out_with_the_header_button_then_back_in_with_the_mobile_number(
    new_page: PageFactory, live_server: LiveServer, make_user: Callable[..., Any]
) -> None:
    """Log in with the email, log out with the header button (the account page then asks for a
    login again), and log back in with the mobile number, returning to the account page."""
    make_user(name="李晓梅", email="lixiaomei@example.cn", phone="13900139000")
    page = new_page()
    page.goto("/")
    page.click("#nav-login")
    _submit_login(page, "lixiaomei@example.cn", TEST_PASSWORD)
    expect(page.locator("#nav-account")).to_have_text("李晓梅")

    page.click("#nav-logout")
    expect(page.locator(".flash-success")).to_have_text("您已安全退出。")
    expect(page.locator("#nav-login")).to_have_text("登录")
    expect(page.locator("#nav-account")).to_have_count(0)

    page.goto("/account")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    _submit_login(page, "13900139000", TEST_PASSWORD)
    expect(page).to_have_url(f"{live_server.url}/account")
    expect(page.locator("#account-name")).to_have_text("李晓梅")


def test_switch_language_to_english_and_back(new_page: PageFactory, live_server: LiveServer) -> None:
    """The header switch turns the page English and back to Chinese, staying on the same page;
    the choice sticks for the next pages (cookie `lang`)."""
    page = new_page()
    page.goto("/login")
    expect(page.locator("h1")).to_have_text("登录")
    expect(page.locator("label[for=identifier]")).to_have_text("手机号或邮箱")
    expect(page.locator("#lang-switch")).to_have_text("English")

    page.click("#lang-switch")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page).to_have_url(re.compile(rf"^{re.escape(live_server.url)}/login\??$"))
    expect(page.locator("h1")).to_have_text("Log in")
    expect(page.locator("label[for=identifier]")).to_have_text("Mobile number or email")
    expect(page.locator("#lang-switch")).to_have_text("中文")

    page.goto("/")
    expect(page.locator("#nav-login")).to_have_text("Log in")
    expect(page.locator("#categories [data-code=metrology]")).to_have_text("Metrology")

    page.click("#lang-switch")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator("#nav-login")).to_have_text("登录")
    expect(page.locator("#categories [data-code=metrology]")).to_have_text("计量")


def test_wrong_passwords_show_the_error_then_lock_the_account(
    new_page: PageFactory, make_user: Callable[..., Any]
) -> None:
    """SECURITY.md item 6: a wrong password gets the Chinese error (the same one an unknown
    account gets); the 5th failure locks the account for 15 minutes and says until when, in
    Beijing time; during the lock even the right password is refused."""
    make_user(phone="13700137000")
    page = new_page()
    error = page.locator(".flash-error")

    # A fresh login page for each attempt, so the message seen answers this attempt.
    page.goto("/login")
    _submit_login(page, "13600136000", "Wrong-password-1")  # nobody has this number
    expect(error).to_have_text("手机号/邮箱或密码错误。")
    for _attempt in range(4):
        page.goto("/login")
        _submit_login(page, "13700137000", "Wrong-password-1")
        expect(error).to_have_text("手机号/邮箱或密码错误。")
    page.goto("/login")
    _submit_login(page, "13700137000", "Wrong-password-1")
    locked = re.compile(r"^登录失败次数过多，账号已被锁定，请于 (\d\d):(\d\d) 后再试。$")
    expect(error).to_have_text(locked)
    until = locked.match(error.inner_text())
    assert until is not None
    expected = datetime.now(BEIJING) + timedelta(minutes=15)
    shown = expected.replace(hour=int(until[1]), minute=int(until[2]), second=0, microsecond=0)
    assert abs((shown - expected).total_seconds()) <= 90, f"{until[0]} is not now + 15 min"

    page.goto("/login")
    _submit_login(page, "13700137000", TEST_PASSWORD)
    expect(error).to_contain_text("账号已被锁定")
    expect(page.locator("#nav-logout")).to_have_count(0)


def test_home_page_lists_the_five_categories_on_a_phone(new_page: PageFactory) -> None:
    """The home page offers the five categories asked for, in Chinese, and fits a phone."""
    page = new_page(phone=True)
    page.goto("/")
    expect(page.locator("h2")).to_have_text("服务类别")
    names = {
        "metrology": "计量",
        "testing": "检验检测",
        "certification": "认证认可",
        "ip": "知识产权",
        "equipment_sharing": "设备共享/实验室共享",
    }
    for code, name in names.items():
        expect(page.locator(f"#categories .category[data-code={code}]")).to_have_text(name)
    _assert_fits_phone(page)
    save_screenshot(page, "home-phone")
