"""Web forms for spot checks. Labels are English msgids translated by the zh_CN catalogue."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import IntegerField, RadioField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from core.visibility.spot_checks import FINDINGS_MAX, SAMPLE_MAX

RESULT_CHOICES = [
    SelectChoice("ok", _l("OK: nothing to correct")),
    SelectChoice("rectify", _l("Rectify: the institution must correct what was found")),
    SelectChoice("referred", _l("Referred: suspected illegal conduct, referred to the regulator")),
]


class SpotCheckForm(FlaskForm):
    result = RadioField(_l("Result"), choices=RESULT_CHOICES, validators=[InputRequired()])
    findings = TextAreaField(_l("Findings"),
                             validators=[DataRequired(), Length(max=FINDINGS_MAX)])


class SampleForm(FlaskForm):
    size = IntegerField(_l("Number of institutions to draw"),
                        validators=[Optional(), NumberRange(min=1, max=SAMPLE_MAX)])
    seed = IntegerField(_l("Seed (to repeat an earlier draw)"),
                        validators=[Optional(), NumberRange(min=0, max=2**31 - 1)])
