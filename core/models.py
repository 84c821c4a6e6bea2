"""Imports every model module so that `metadata` is complete (migrations and the drift test)."""

from sqlalchemy import MetaData

from core.assessment import models as _assessment  # noqa: F401
from core.audit import models as _audit  # noqa: F401
from core.case_reports import models as _case_reports  # noqa: F401
from core.cases import models as _cases  # noqa: F401
from core.catalogue import models as _catalogue  # noqa: F401
from core.complaints import models as _complaints  # noqa: F401
from core.consultations import models as _consultations  # noqa: F401
from core.db import Base
from core.demands import models as _demands  # noqa: F401
from core.documents import models as _documents  # noqa: F401
from core.enterprises import models as _enterprises  # noqa: F401
from core.identity import models as _identity  # noqa: F401
from core.institutions import models as _institutions  # noqa: F401
from core.notifications import models as _notifications  # noqa: F401
from core.onboarding import models as _onboarding  # noqa: F401
from core.orders import models as _orders  # noqa: F401
from core.reviews import models as _reviews  # noqa: F401
from core.visibility import models as _visibility  # noqa: F401
from core.workcalendar import models as _workcalendar  # noqa: F401

metadata = Base.metadata


def load_all_models() -> MetaData:
    """Core's models plus those of every installed plugin (loading the plugins imports them)."""
    from core.plugins import build_plugin_manager

    build_plugin_manager()
    return metadata
