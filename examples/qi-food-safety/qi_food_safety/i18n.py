"""The plugin's own catalogue (domain `qi_food_safety`), beside the platform's: msgids in
English, zh_CN in `translations/zh_Hans_CN/LC_MESSAGES/qi_food_safety.po` (Babel expands zh_CN
to zh_Hans_CN). Without the compiled .mo the English msgid is shown."""

from __future__ import annotations

from pathlib import Path

from flask_babel import Domain

domain = Domain(translation_directories=str(Path(__file__).parent / "translations"),
                domain="qi_food_safety")
gettext = domain.gettext
lazy_gettext = domain.lazy_gettext
