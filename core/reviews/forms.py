"""Web forms for reviews and follow-ups. Labels are English msgids translated by the zh_CN
catalogue; the services check everything again."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import RadioField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from core.reviews.service import COMMENT_MAX, RESPONSE_MAX

STAR_CHOICES = [SelectChoice(5, _l("5 stars: very satisfied")),  # type: ignore[arg-type]
                SelectChoice(4, _l("4 stars: satisfied")),  # type: ignore[arg-type]
                SelectChoice(3, _l("3 stars: acceptable")),  # type: ignore[arg-type]
                SelectChoice(2, _l("2 stars: dissatisfied")),  # type: ignore[arg-type]
                SelectChoice(1, _l("1 star: very dissatisfied"))]  # type: ignore[arg-type]


class ReviewForm(FlaskForm):
    stars = RadioField(_l("Rating"), choices=STAR_CHOICES, coerce=int, validators=[InputRequired()])
    comment = TextAreaField(_l("Comment (required for 1 or 2 stars)"),
                            validators=[Optional(), Length(max=COMMENT_MAX)])


class RespondForm(FlaskForm):
    response = TextAreaField(_l("What the institution did about this review"),
                             validators=[DataRequired(), Length(max=RESPONSE_MAX)])


class JudgeForm(FlaskForm):
    verdict = RadioField(_l("Are you satisfied with how it was handled?"),
                         choices=[SelectChoice("satisfied", _l("Satisfied")),
                                  SelectChoice("unsatisfied", _l("Not satisfied"))],
                         validators=[InputRequired()])
    comment = TextAreaField(_l("Your opinion (required when not satisfied)"),
                            validators=[Optional(), Length(max=COMMENT_MAX)])
