"""Web forms of the assessment pages. Labels are English msgids translated by the zh_CN
catalogue; the rules (reason length, summary length, whose document) live in the services,
which name the field at fault."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, RadioField, SelectField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length

# The override's choice → `service.override_item(deducted=…)`.
DECISIONS = {"deduct": True, "keep": False, "computed": None}


class OverrideForm(FlaskForm):
    """One per item on the review page (prefix `item<n>-`)."""

    decision = RadioField(_l("Answer in force"), default="computed", validate_choice=False,
                          choices=[SelectChoice("deduct", _l("Yes: deduct the points")),
                                   SelectChoice("keep", _l("No: no deduction")),
                                   SelectChoice("computed", _l("As computed"))])
    reason = TextAreaField(_l("Reason for the override"), validators=[Length(max=2000)])


class FinaliseForm(FlaskForm):
    confirm = BooleanField(_l("I have reviewed every item: the score sheet is final and can no "
                              "longer change"))


class SummaryForm(FlaskForm):
    """The institution's yearly service summary for one cycle (R-ASM-06)."""

    body = TextAreaField(_l("Service summary of the cycle"), validators=[Length(max=20000)])
    document_id = SelectField(_l("Attached document (optional)"), choices=[], coerce=str,
                              validate_choice=False)
