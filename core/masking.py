"""Masking personal data for whoever is not entitled to it (R-G-05, PIPL Art. 51, SECURITY.md 10).

The one set of masks: audit rows, logs, GraphQL fields and pages all use these, so a phone
number looks the same (`138****5678`) wherever it is shown masked. Who is entitled to the full
value is decided elsewhere (a client's contact: `core.institutions.access.sees_client_contact`);
this module only hides. A leaf module: it imports nothing of the platform, so anything may use it.

Every mask hides at least four characters (or everything) and never more than half is shown of
a short value: a value too short to mask is replaced whole. Input is NFKC-normalised first, so
full-width digits (`１３８…`) and separators are masked like ASCII ones.
"""

from __future__ import annotations

import re
import unicodedata

_SEPARATORS = re.compile(r"[\s\-()]")
_MOBILE = re.compile(r"^1[3-9][0-9]{9}$")
# Area codes: 3 digits for 01x/02x (Beijing 010, Guangzhou 020 …), 4 otherwise (Foshan 0757);
# an extension after -, 转, ext or #.
_LANDLINE = re.compile(r"^(0(?:[12][0-9]|[3-9][0-9]{2}))-?([0-9]{7,8})(?:(?:-|转|ext\.?|x|#)[0-9]{1,6})?$",
                       re.IGNORECASE)
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")


def _text(value: str) -> str:
    return unicodedata.normalize("NFKC", value).strip()


def _mobile(value: str) -> str | None:
    """A mainland mobile number behind `+86`, `0086` or `86`, spaces and dashes, or None."""
    compact = _SEPARATORS.sub("", _text(value))
    for prefix in ("+86", "0086", "86"):
        if compact.startswith(prefix) and len(compact) == len(prefix) + 11:
            compact = compact[len(prefix):]
            break
    return compact if _MOBILE.match(compact) else None


def _landline(value: str) -> re.Match[str] | None:
    compact = re.sub(r"[\s()]", "", _text(value))
    if compact.startswith(("+86", "0086")):  # +86 757 8303 1234: the trunk 0 is dropped abroad
        compact = "0" + compact.removeprefix("+86").removeprefix("0086").lstrip("-")
    return _LANDLINE.match(compact)


def _ends(value: str) -> str:
    """Any other number: the first three and last four characters when at least four stay hidden
    between them, only the last four of a shorter one (8-10 characters), nothing of less."""
    if len(value) >= 11:
        return f"{value[:3]}****{value[-4:]}"
    return f"****{value[-4:]}" if len(value) >= 8 else "****"


def mask_phone(phone: str | None) -> str | None:
    """`138****5678` for a mainland mobile number (+86, spaces and dashes allowed); any other
    number as `_ends` says; `None` stays `None`."""
    if not phone:
        return None
    return _ends(_mobile(phone) or _SEPARATORS.sub("", _text(phone)))


def mask_email(email: str | None) -> str | None:
    """`a***@example.com`: the first character of the local part and the domain (`***@x.cn`
    with no local part, `a***` with no domain)."""
    if not email:
        return None
    local, at, domain = _text(email).lower().partition("@")
    return f"{local[:1]}***" + (f"@{domain}" if at and domain else "")


def mask_contact(value: str | None) -> str | None:
    """A contact that may be a mobile number, a landline or an email address, masked by its kind
    (`138****5678`, `0757-****1234` without the extension, `z***@example.com`); anything else
    keeps at most a third of its printable characters, three at most (`sec***`), so a mistyped
    secret never reaches a log."""
    if not value:
        return None
    mobile = _mobile(value)
    if mobile:
        return mask_phone(mobile)
    landline = _landline(value)
    if landline:
        return f"{landline.group(1)}-****{landline.group(2)[-4:]}"
    text = _text(value)
    if "@" in text:
        return mask_email(text)
    printable = "".join(ch for ch in text if ch.isprintable())
    return printable[:min(3, len(printable) // 3)] + "***"


def mask_person_name(name: str | None) -> str | None:
    """A person's name as its first character and `**` (`陈**`); a one-character name wholly."""
    name = _text(name or "")
    if not name:
        return None
    return name[:1] + "**" if len(name) > 1 else "**"


def mask_organisation(name: str | None) -> str:
    """An enterprise's name for whoever may not know who it is — the one mask for it (a
    reviewer on an institution's page, a demand before its pick): the four characters before
    the last two hidden, `佛山市顺德区美达****公司`, so the region and the start of the trade
    name stay readable; a name of 3-6 characters keeps only its first and last (`美***厂`), a
    shorter one its first. A person's name: `mask_person_name`."""
    name = (name or "").strip()
    if len(name) <= 2:
        return (name[:1] + "*") if name else "****"
    if len(name) <= 6:
        return name[0] + "*" * (len(name) - 2) + name[-1]
    return name[:-6] + "****" + name[-2:]
