"""Core's own hook implementations for orders, registered like any plugin."""

from __future__ import annotations

from core.hookspecs import hookimpl
from core.institutions.models import Institution
from core.onboarding.eligibility import OpenMatter


class OrderHooks:
    @hookimpl
    def open_matters(self, institution: Institution) -> list[OpenMatter]:
        """Orders neither completed nor cancelled block the institution's exit (R-ONB-06)."""
        from core.orders.service import open_matters_of

        return open_matters_of(institution)


order_hooks = OrderHooks()
