"""Chinese first, English second (ARCHITECTURE.md, Conventions): every message in the code and the
templates has a zh_CN translation, and the pages really render it.

Msgids are English; Chinese labels come from the catalogue, not from code. A new `_()` string
without a translation fails here, naming the string and where it is used.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from babel import Locale
from babel.messages.catalog import PYTHON_FORMAT, Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from flask import Flask
from flask.testing import FlaskClient

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "core" / "translations"
# The same keywords as `pybabel extract -k _l -k lazy_gettext` (flask_babel's lazy_gettext).
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None}
# Flask-Babel finds a catalogue under str(Locale.parse(code)); for zh_CN that is "zh_Hans_CN".
ZH_DIR = TRANSLATIONS / str(Locale.parse("zh_CN")) / "LC_MESSAGES"
ZH_PO = ZH_DIR / "messages.po"


def _read_zh() -> Catalog:
    with ZH_PO.open("rb") as f:
        return read_po(f)


def _source_messages() -> dict[tuple[str, str | None], list[str]]:
    """Every msgid (with its context) that `pybabel extract -F babel.cfg` would find, and where."""
    with (ROOT / "babel.cfg").open() as f:
        method_map, options_map = parse_mapping_cfg(f, "babel.cfg")
    found: dict[tuple[str, str | None], list[str]] = {}
    for filename, lineno, message, _comments, context in extract_from_dir(
        ROOT, method_map, options_map, keywords=KEYWORDS
    ):
        msgid = message[0] if isinstance(message, tuple) else message
        if msgid:
            found.setdefault((msgid, context), []).append(f"{filename}:{lineno}")
    return found


def _placeholders(text: str) -> Counter[str]:
    """The python-format placeholders of `text`, e.g. {"%(n)d": 1}."""
    return Counter(m.group(0) for m in PYTHON_FORMAT.finditer(text))


def _texts(value: str | tuple[str, ...] | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def test_catalogue_lives_where_flask_babel_looks_for_zh_cn() -> None:
    """Babel expands zh_CN to zh_Hans_CN; a catalogue in a `zh_CN` folder is silently ignored."""
    assert ZH_PO.is_file(), f"missing {ZH_PO.relative_to(ROOT)}"
    stray = TRANSLATIONS / "zh_CN"
    assert not stray.exists(), f"{stray.name} is never loaded; the folder is {ZH_DIR.parent.name}"
    catalog = _read_zh()
    assert not catalog.fuzzy, "a fuzzy catalogue header makes `pybabel compile` skip the file"


def test_every_source_message_has_a_chinese_translation() -> None:
    """Each msgid in core/, api/, plugins/ and the templates is translated, not fuzzy, and keeps
    exactly the msgid's placeholders."""
    source = _source_messages()
    assert len(source) > 20, "extraction found almost nothing: is babel.cfg right?"
    catalog = _read_zh()
    problems: list[str] = []
    for (msgid, context), where in sorted(source.items(), key=lambda kv: kv[1][0]):
        label = f"{msgid!r} ({', '.join(where[:3])})"
        entry = catalog.get(msgid, context)
        if entry is None:
            problems.append(f"not in the catalogue, run pybabel extract + update: {label}")
            continue
        strings = _texts(entry.string)
        if entry.fuzzy or not all(s.strip() for s in strings):
            problems.append(f"untranslated or fuzzy: {label}")
            continue
        wanted = _placeholders(msgid)
        for translated in strings:
            if _placeholders(translated) != wanted:
                problems.append(
                    f"placeholders differ: {label} -> {translated!r} (want {sorted(wanted.elements())})"
                )
    assert not problems, "zh_CN catalogue problems:\n" + "\n".join(problems)


# Msgids whose right Chinese rendering has no Han character (e.g. a unit or a code); add with care.
NO_HAN_EXPECTED: frozenset[str] = frozenset()


def test_translations_read_as_chinese() -> None:
    """A translation that is still English (copied msgid) is not a translation."""
    han = re.compile(r"[\u4e00-\u9fff]")
    copied = [
        m.id
        for m in _read_zh()
        if m.id and m.id not in NO_HAN_EXPECTED and not any(han.search(s) for s in _texts(m.string))
    ]
    assert not copied, f"translations without any Chinese: {copied}"


@pytest.mark.usefixtures("compiled_translations")
def test_pages_speak_chinese_first_and_english_after_the_switch(client: FlaskClient) -> None:
    """Default locale zh_CN: / and /login are Chinese; /lang/en switches them to English (cookie
    `lang`), /lang/zh_CN switches back."""
    for path in ("/", "/login"):
        html = client.get(path).get_data(as_text=True)
        assert '<html lang="zh-CN">' in html
        assert "登录" in html and "Log in" not in html, path
    assert "手机号或邮箱" in client.get("/login").get_data(as_text=True)

    switched = client.get("/lang/en?next=/login")
    assert switched.status_code == 302 and switched.headers["Location"].endswith("/login")
    for path in ("/", "/login"):
        html = client.get(path).get_data(as_text=True)
        assert '<html lang="en">' in html
        assert "Log in" in html and "登录" not in html, path
    assert "Mobile number or email" in client.get("/login").get_data(as_text=True)

    client.get("/lang/zh_CN")
    assert "登录" in client.get("/login").get_data(as_text=True)


@pytest.mark.usefixtures("compiled_translations")
def test_role_labels_come_from_the_catalogue(app: Flask) -> None:
    """The roles' display names are English msgids; the Chinese comes from translation."""
    from core.identity.labels import role_label
    from core.identity.models import Role

    # A fresh app context each time: Flask-Babel caches the locale on `g`.
    with app.app_context(), app.test_request_context("/"):
        assert role_label(Role.REGULATOR) == "管理单位"
        assert role_label(Role.OPERATOR) == "运维机构"
        assert role_label(Role.ENTERPRISE) == "企业用户"
    with app.app_context(), app.test_request_context("/", headers={"Cookie": "lang=en"}):
        assert role_label(Role.REGULATOR) == "Platform management unit"


@pytest.fixture
def small_upload_limit(app_config: dict[str, Any]) -> dict[str, Any]:
    """A 1 MB upload limit. Requested before `client`, so the app is built with it."""
    app_config["UPLOAD_MAX_BYTES"] = 1024 * 1024
    return app_config


@pytest.mark.usefixtures("compiled_translations", "small_upload_limit")
def test_upload_too_large_page_names_the_limit_in_chinese(client: FlaskClient) -> None:
    """The 413 page reads naturally in Chinese with the configured limit filled in."""
    response = client.post("/login", data={"identifier": "x" * (2 * 1024 * 1024)})
    assert response.status_code == 413
    assert "上传文件过大，单个文件不得超过 1 MB。" in response.get_data(as_text=True)
