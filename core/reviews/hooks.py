"""Core's own hook implementations for reviews, registered like any plugin."""

from __future__ import annotations

from core.hookspecs import hookimpl
from core.institutions.models import Institution
from core.onboarding.eligibility import OpenMatter


class ReviewHooks:
    @hookimpl
    def open_matters(self, institution: Institution) -> list[OpenMatter]:
        """Bad-review follow-ups not yet judged by the enterprise block exit (R-ONB-06)."""
        from core.reviews.service import open_matters_of

        return open_matters_of(institution)


review_hooks = ReviewHooks()
