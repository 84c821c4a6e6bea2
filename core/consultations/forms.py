"""Web forms for consultations. Labels are English msgids translated by the zh_CN catalogue."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import IntegerField, StringField, TelField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional


class AskForm(FlaskForm):
    subject = StringField(_l("Subject of the consultation"), validators=[DataRequired(), Length(max=200)])
    body = TextAreaField(_l("Your question"), validators=[DataRequired(), Length(max=5000)])
    service_item_id = IntegerField(_l("Service item (optional)"),
                                   validators=[Optional(), NumberRange(min=1)])
    # Operators only: the enterprise user the question is filed for (R-G-08).
    enterprise_phone = TelField(_l("Enterprise user's mobile number"),
                                validators=[Optional(), Length(max=20)])


class ReplyForm(FlaskForm):
    body = TextAreaField(_l("Your reply"), validators=[DataRequired(), Length(max=5000)])
