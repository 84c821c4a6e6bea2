"""Core's own hook implementations for complaints, registered like any plugin."""

from __future__ import annotations

from core.hookspecs import hookimpl
from core.institutions.models import Institution
from core.onboarding.eligibility import OpenMatter


class ComplaintHooks:
    @hookimpl
    def open_matters(self, institution: Institution) -> list[OpenMatter]:
        """Complaints waiting for verification block the institution's exit (R-ONB-06)."""
        from core.complaints.service import open_matters_of

        return open_matters_of(institution)


complaint_hooks = ComplaintHooks()
