"""Web forms for demands. Labels are English msgids translated by the zh_CN catalogue; the
service checks every value (and names the field at fault), the forms only carry them."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, TelField, TextAreaField
from wtforms.validators import Length, Optional


class DemandForm(FlaskForm):
    category = SelectField(_l("Service category"), choices=[], validate_choice=False)
    title = StringField(_l("What do you need?"), validators=[Optional(), Length(max=200)])
    description = TextAreaField(_l("Describe the need"), validators=[Optional(), Length(max=5000)])
    province_code = StringField(_l("Province code"), validators=[Optional(), Length(max=6)])
    city_code = StringField(_l("City code"), validators=[Optional(), Length(max=6)])
    district_code = StringField(_l("District code"), validators=[Optional(), Length(max=6)])
    budget = StringField(_l("Budget in yuan (optional)"), validators=[Optional(), Length(max=20)])
    deadline = StringField(_l("Responses wanted by"), validators=[Optional(), Length(max=10)])
    # Operators only: the enterprise user the need is for and how it reached them (R-G-08).
    enterprise_phone = TelField(_l("Enterprise user's mobile number"),
                                validators=[Optional(), Length(max=20)])
    channel = SelectField(_l("How the need reached the platform"), choices=[], validate_choice=False)


class RespondForm(FlaskForm):
    institution_id = SelectField(_l("Responding institution"), choices=[], validate_choice=False)
    message = TextAreaField(_l("Your response"), validators=[Optional(), Length(max=2000)])
    service_item_id = SelectField(_l("Service item offered (optional)"), choices=[],
                                  validate_choice=False)
    quote = StringField(_l("Quote in yuan (optional)"), validators=[Optional(), Length(max=20)])


class CloseForm(FlaskForm):
    reason = TextAreaField(_l("Why close the demand?"), validators=[Optional(), Length(max=1000)])
