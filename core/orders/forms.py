"""Web forms for orders. Labels are English msgids translated by the zh_CN catalogue."""

from __future__ import annotations

import secrets

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import FileField, HiddenField, SelectField, StringField, TelField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional


class PlaceOrderForm(FlaskForm):
    # Operators only: the enterprise user the order is placed for (R-G-08).
    enterprise_phone = TelField(_l("Enterprise user's mobile number"),
                                validators=[Optional(), Length(max=20)])
    title = StringField(_l("What the order is for"), validators=[DataRequired(), Length(max=200)])
    # Checked by the service (it names the rule in Chinese), so a plain text field.
    amount = StringField(_l("Agreed amount in yuan (optional)"), validators=[Length(max=20)])
    service_item_id = HiddenField(validators=[Optional()])
    consultation_id = HiddenField(validators=[Optional()])


class AdvanceForm(FlaskForm):
    """One step of the order; `reason` is asked for when cancelling."""

    action = HiddenField(validators=[DataRequired()])
    reason = TextAreaField(_l("Reason for cancelling"), validators=[Length(max=2000)])


class AttachmentForm(FlaskForm):
    """Parsed from the stream by the view: the file comes last, after the checked fields."""

    # Stored on the document (64 characters at most): a longer one is refused, not a server error.
    idempotency_key = HiddenField(default=lambda: secrets.token_urlsafe(24),
                                  validators=[Optional(), Length(max=64)])
    kind = SelectField(_l("Attachment"), validators=[DataRequired()], choices=[
        SelectChoice("order_contract", _l("Order contract")),
        SelectChoice("test_report", _l("Test report"))])
    file = FileField(_l("File (PDF, JPEG or PNG)"))
