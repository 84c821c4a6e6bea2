"""Web forms for complaints. Labels are English msgids translated by the zh_CN catalogue; the
rules of each field live in `core.complaints.service`, which names the field at fault."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, RadioField, StringField, TelField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, NumberRange, Optional

from core.ids import ID_MAX


class ComplaintForm(FlaskForm):
    subject = StringField(_l("Subject of the complaint"), validators=[Length(max=200)])
    body = TextAreaField(_l("What happened"), validators=[Length(max=5000)])
    order_id = IntegerField(_l("Order number (optional)"),
                            validators=[Optional(), NumberRange(min=1, max=ID_MAX)])
    consultation_id = IntegerField(_l("Consultation number (optional)"),
                                   validators=[Optional(), NumberRange(min=1, max=ID_MAX)])
    # Operators only: the enterprise user the complaint is filed for (R-G-08).
    enterprise_phone = TelField(_l("Enterprise user's mobile number"),
                                validators=[Optional(), Length(max=20)])


class VerifyForm(FlaskForm):
    outcome = RadioField(_l("Finding"), choices=[SelectChoice("verified", _l("Verified as founded")),
                                                 SelectChoice("unfounded", _l("Unfounded"))],
                         validate_choice=False)
    serious = BooleanField(_l("Serious (can lead to removal)"))
    notes = TextAreaField(_l("Verification notes"), validators=[Length(max=5000)])


class RemovalForm(FlaskForm):
    details = TextAreaField(_l("Grounds of the removal"), validators=[Length(max=5000)])
    legacy_days = IntegerField(_l("Days to settle open matters"),
                               validators=[Optional(), NumberRange(min=0, max=365)])
