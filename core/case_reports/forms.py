"""Web forms for case reports. Labels are English msgids translated by the zh_CN catalogue; the
rules of each field live in `core.case_reports.service` (one place), which names the field."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, StringField, TextAreaField
from wtforms.validators import Length


class CaseReportForm(FlaskForm):
    consulted_at = StringField(_l("Consultation time"), render_kw={"type": "datetime-local"})
    client_name = StringField(_l("Client name"), validators=[Length(max=200)])
    client_contact = StringField(_l("Client contact (telephone or email)"),
                                 validators=[Length(max=100)])
    item = StringField(_l("Consultation item"), validators=[Length(max=200)])
    content = TextAreaField(_l("Consultation content"), validators=[Length(max=5000)])
    reply = TextAreaField(_l("Reply given"), validators=[Length(max=5000)])
    business_followed = BooleanField(_l("Business followed"))
    amount_saved = StringField(_l("Amount saved for the client (yuan)"),
                               validators=[Length(max=20)])
    consultation_id = HiddenField()
    order_id = HiddenField()
    service_item_id = HiddenField()


class WithdrawForm(FlaskForm):
    reason = TextAreaField(_l("Reason for withdrawing"), validators=[Length(max=2000)])
