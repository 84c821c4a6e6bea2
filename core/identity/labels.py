"""Display names of roles (translated; the code never hard-codes a Chinese label)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from core.identity.models import Role

ROLE_LABELS = {
    Role.ENTERPRISE: _l("Enterprise user"),
    Role.INSTITUTION_ADMIN: _l("Institution administrator"),
    Role.INSTITUTION_AGENT: _l("Customer-service agent"),
    Role.OPERATOR: _l("Platform operator"),
    Role.REGULATOR: _l("Platform management unit"),
    Role.SYSADMIN: _l("System administrator"),
}


def role_label(role: Role) -> str:
    return str(ROLE_LABELS[role])
