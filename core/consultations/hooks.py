"""Core's own hook implementations for consultations, registered like any plugin."""

from __future__ import annotations

from core.hookspecs import hookimpl
from core.institutions.models import Institution
from core.onboarding.eligibility import OpenMatter


class ConsultationHooks:
    @hookimpl
    def open_matters(self, institution: Institution) -> list[OpenMatter]:
        """Consultations not yet closed block the institution's exit (R-ONB-06)."""
        from core.consultations.service import open_matters_of

        return open_matters_of(institution)


consultation_hooks = ConsultationHooks()
