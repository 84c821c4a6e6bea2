"""Whether an institution takes NEW business on the platform: the one place for that rule
(R-OPS-05, R-OPS-06, R-ONB-07).

* New business is a new consultation, a new order (direct, from a service item, from a picked
  demand response, and from one of its existing consultations too), a new response to a demand
  and a new instrument booking (plugins such as equipment sharing ask here too).
* Only a public institution (`Institution.is_public`: live, homepage not hidden) takes any. One
  that is not live does not exist for the public: "no such institution", as before. A live one
  whose homepage is hidden — lacking an item or an agent a month after going live (R-OPS-05),
  or closed under a pending removal notice (R-OPS-06) — is refused with a message saying it
  takes no new requests (`ErrorCode.NOT_TAKING_REQUESTS`), so an enterprise with a stale link
  understands why.
* What already exists goes on: replies in open consultations, every step of existing orders,
  follow-ups and complaints, so an institution under a removal notice can finish its legacy
  matters (R-ONB-07). An order from an existing consultation is new business and is refused;
  the client is still served in the consultation's thread.
"""

from __future__ import annotations

from flask import render_template
from flask_babel import gettext as _

from core.errors import DomainError, ErrorCode, InvalidInput, NotFound, Problem
from core.institutions.models import Institution


def takes_new_requests(institution: Institution | None) -> bool:
    return institution is not None and institution.is_public


def refusal(institution: Institution | None, field: str = "institutionId") -> DomainError | None:
    """Why `institution` takes no new request now (NotFound or InvalidInput), or None."""
    if institution is None or not institution.is_live:
        return NotFound(_("No such institution."), field=field)
    if not institution.is_public:
        return InvalidInput([Problem(ErrorCode.NOT_TAKING_REQUESTS, _(
            "This institution is not taking new requests on the platform at the moment."), field)])
    return None


def require_taking_requests(institution: Institution | None, field: str = "institutionId") -> None:
    """Raise `refusal` unless the institution takes new requests."""
    problem = refusal(institution, field)
    if problem is not None:
        raise problem


def refusal_page(institution: Institution | None):  # type: ignore[no-untyped-def]
    """For a page that starts new business (asking, ordering): None when the institution takes
    it; else the answer to give instead — 404 for no such institution, 409 with the message for a
    hidden one."""
    problem = refusal(institution)
    if problem is None:
        return None
    if isinstance(problem, NotFound):
        return render_template("error.html", code=404), 404
    return render_template("error.html", code=409, message=problem.message), 409
