"""Fixtures for the browser journeys: one Chromium per run, one live server and fresh browser
contexts per test, a screenshot of every open page when a test fails."""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser, ConsoleMessage, Error, Page, Playwright, sync_playwright

from core.testing import need_server

from .harness import (
    CHROMIUM,
    DESKTOP,
    PHONE,
    TIMEOUT_MS,
    LiveServer,
    PageFactory,
    launch_chromium,
)

_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep each phase's report on the item, so fixtures can tell a failed test at teardown."""
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    return report


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    manager = sync_playwright().start()
    yield manager
    manager.stop()


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """The system Chromium; skipped when missing (a failure under CI=true)."""
    if not os.access(CHROMIUM, os.X_OK):
        need_server("Chromium", f"{CHROMIUM} not found (apt-get install chromium)")
    try:
        chromium = launch_chromium(playwright)
    except Error as exc:
        need_server("Chromium", f"{CHROMIUM} does not start: {exc.message}")
    yield chromium
    chromium.close()


@pytest.fixture
def live_server(app: Flask, compiled_translations: list[Path]) -> Iterator[LiveServer]:
    """The test's app (its own clean copy of the migrated database) served over HTTP."""
    server = LiveServer(app).start()
    yield server
    server.stop()


@pytest.fixture
def new_page(
    browser: Browser, live_server: LiveServer, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[PageFactory]:
    """`new_page(phone=False)`: a page in a fresh browser context (its own cookies) on the live
    server, Chinese browser locale and Beijing time. Browser-side errors (a script error, a
    resource the CSP blocks) fail the test."""
    pages: list[Page] = []
    problems: list[str] = []

    def open_page(*, phone: bool = False) -> Page:
        context = browser.new_context(
            base_url=live_server.url,
            locale="zh-CN",
            timezone_id="Asia/Shanghai",
            **(PHONE if phone else DESKTOP),
        )
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()

        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                problems.append(f"console: {message.text} ({message.location.get('url')})")

        page.on("console", on_console)
        page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
        pages.append(page)
        return page

    yield open_page

    call = request.node.stash.get(_REPORTS, {}).get("call")
    if call is not None and call.failed:
        for index, page in enumerate(pages):
            shot = tmp_path / f"failure-{index}.png"
            try:
                page.screenshot(path=str(shot), full_page=True)
            except Error as exc:  # a crashed page must not hide the test's own failure
                print(f"no screenshot of {page.url}: {exc.message}")
            else:
                print(f"screenshot of {page.url}: {shot}")
    for page in pages:
        page.context.close()
    if problems and (call is None or call.passed):
        pytest.fail("browser reported errors:\n" + "\n".join(problems))
