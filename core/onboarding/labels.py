"""Display names of onboarding states (translated; code never hard-codes a Chinese label)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from core.onboarding.models import ApplicationState

STATE_LABELS = {
    ApplicationState.DRAFT: _l("Draft"),
    ApplicationState.SUBMITTED: _l("Submitted"),
    ApplicationState.SCREENING: _l("Being screened by the operator"),
    ApplicationState.REVIEW: _l("Under review by the management unit"),
    ApplicationState.MATERIALS_REQUESTED: _l("More materials requested"),
    ApplicationState.ONSITE_SCHEDULED: _l("On-site investigation scheduled"),
    ApplicationState.APPROVED: _l("Approved"),
    ApplicationState.REJECTED: _l("Rejected"),
    ApplicationState.LAPSED: _l("Not approved (materials not provided in time)"),
}


def state_label(state: ApplicationState) -> str:
    return str(STATE_LABELS[state])
