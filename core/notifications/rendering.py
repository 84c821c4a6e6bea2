"""Message texts: Jinja2 text templates under `templates/`, one file per template code.

Each file defines a `subject` block and a `body` block, and may define an `sms` block when the
body is too long for a text message. Rendering uses `StrictUndefined`, so a caller that forgets a
variable fails at queue time (its transaction rolls back) instead of sending "您好，的申请…".
Every template sees `platform_name` (QI_PLATFORM_NAME); optional variables use `|default(…)`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template, TemplateNotFound

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
SHANGHAI = ZoneInfo("Asia/Shanghai")
_CODE = re.compile(r"[a-z][a-z0-9_]{0,63}")
_SENTENCE_END = ("。", "！", "？", "；", ".", "!", "?")


class TemplateError(ValueError):
    """An unknown template code or a missing variable: a bug in the caller."""


@dataclass(frozen=True)
class RenderedMessage:
    template: str
    subject: str
    body: str
    sms: str  # one line, without the signature


def cn_date(value: date | datetime | str) -> str:
    """2026年12月1日; a datetime is shown in Asia/Shanghai with its time (times are stored in UTC).
    An ISO string is parsed first (a naive one is taken as Shanghai time already); any other
    text is shown as given."""
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value) if len(value) == 10 else datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, datetime):
        local = value.astimezone(SHANGHAI) if value.tzinfo else value
        return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"
    if isinstance(value, date):
        return f"{value.year}年{value.month}月{value.day}日"
    return str(value)


def sentence(value: Any) -> str:
    """End a free-text reason with a full stop unless it already has one."""
    text = str(value).strip()
    return text if text.endswith(_SENTENCE_END) else text + "。"


@cache
def environment() -> Environment:
    # Plain text for SMS, e-mail and the inbox; the HTML pages that show it escape it themselves.
    env = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        undefined=StrictUndefined,
        autoescape=False,  # noqa: S701
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["cn_date"] = cn_date
    env.filters["sentence"] = sentence
    return env


def template_codes() -> list[str]:
    """Every template code shipped (files starting with `_` are fragments)."""
    return sorted(p.stem for p in TEMPLATE_DIR.glob("*.txt") if not p.name.startswith("_"))


def _template(code: str) -> Template:
    if not _CODE.fullmatch(code) or code.startswith("_"):
        raise TemplateError(f"bad notification template code {code!r}")
    try:
        return environment().get_template(f"{code}.txt")
    except TemplateNotFound as exc:
        raise TemplateError(f"no notification template {code!r}") from exc


def _block(template: Template, name: str, variables: dict[str, Any]) -> str:
    return "".join(template.blocks[name](template.new_context(variables))).strip()


def render(code: str, context: Mapping[str, Any], *, platform_name: str) -> RenderedMessage:
    """Render the template `code` with `context` (plus `platform_name`)."""
    template = _template(code)
    for block in ("subject", "body"):
        if block not in template.blocks:
            raise TemplateError(f"notification template {code!r} lacks a {block!r} block")
    variables = {**context, "platform_name": platform_name}
    try:
        subject = " ".join(_block(template, "subject", variables).split())
        body = _block(template, "body", variables)
        sms = _block(template, "sms", variables) if "sms" in template.blocks else body
    except Exception as exc:  # UndefinedError and friends: name the template
        raise TemplateError(f"notification template {code!r}: {exc}") from exc
    # Chinese needs no spaces between sentences; a text message is one line.
    sms = "".join(line.strip() for line in sms.splitlines())
    return RenderedMessage(code, subject, body, sms)


def email_footer(*, platform_name: str) -> str:
    return environment().get_template("_email_footer.txt").render(platform_name=platform_name)
