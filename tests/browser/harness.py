"""Drive the real app in a real browser: a WSGI server thread and a headless system Chromium.

The server is Werkzeug's threaded server on a free port of 127.0.0.1, serving the same app object
the tests build (same migrated test database, SQLite or PostgreSQL). The browser is the system
Chromium (`/usr/bin/chromium`) driven by Playwright; `playwright install` is never run.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Protocol

from flask import Flask
from playwright.sync_api import Browser, Page, Playwright
from werkzeug.serving import BaseWSGIServer, make_server

# The Debian/Ubuntu package's launcher; QI_CHROMIUM points elsewhere on another machine.
CHROMIUM = Path(os.environ.get("QI_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
DESKTOP: dict[str, Any] = {"viewport": {"width": 1280, "height": 800}}
# An ordinary phone (iPhone 12-15 size): the institutions' staff often use WeChat's browser.
PHONE_WIDTH = 390
PHONE: dict[str, Any] = {
    "viewport": {"width": PHONE_WIDTH, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}
# Short waits: everything is local, so a missing element is a failure, not a slow network.
TIMEOUT_MS = 5_000
# When set, journeys save phone screenshots of key pages there (to look at the layout).
SCREENSHOT_DIR_ENV = "QI_SCREENSHOT_DIR"


class PageFactory(Protocol):
    """The `new_page` fixture: a page in a fresh browser context, desktop or phone sized."""

    def __call__(self, *, phone: bool = False) -> Page: ...


class LiveServer:
    """`app` served over HTTP from a background thread until `stop()`."""

    def __init__(self, app: Flask) -> None:
        self._server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="live-server", daemon=True)

    def start(self) -> LiveServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=10)
        self._server.server_close()


def launch_chromium(playwright: Playwright) -> Browser:
    """The system Chromium, headless, with the background chatter switched off."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


def horizontal_overflow(page: Page) -> int:
    """How many CSS pixels the page is wider than the viewport (0 when nothing scrolls sideways)."""
    return int(
        page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
    )


def stylesheet_rules(page: Page) -> int:
    """How many CSS rules the page's stylesheets loaded (0: the page is unstyled)."""
    return int(
        page.evaluate(
            "() => [...document.querySelectorAll('link[rel=stylesheet]')]"
            ".reduce((n, link) => n + (link.sheet ? link.sheet.cssRules.length : 0), 0)"
        )
    )


def page_width(page: Page) -> int:
    return int(page.evaluate("() => document.documentElement.scrollWidth"))


def save_screenshot(page: Page, name: str) -> Path | None:
    """Save a full-page screenshot when `QI_SCREENSHOT_DIR` is set (for a human to look at)."""
    target = os.environ.get(SCREENSHOT_DIR_ENV)
    if not target:
        return None
    path = Path(target) / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    return path
