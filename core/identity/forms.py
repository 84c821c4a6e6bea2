"""Web forms for identity. Labels are English msgids translated by the zh_CN catalogue."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, IntegerField, PasswordField, RadioField, StringField, TelField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from core.identity.models import Role


class LoginForm(FlaskForm):
    identifier = StringField(_l("Mobile number or email"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=128)])


class RegisterForm(FlaskForm):
    role = RadioField(
        _l("I am"),
        choices=[
            SelectChoice(Role.ENTERPRISE.value, _l("An enterprise looking for services")),
            SelectChoice(Role.INSTITUTION_ADMIN.value, _l("A service institution applying to join")),
        ],
        default=Role.ENTERPRISE.value,
        validators=[DataRequired()],
    )
    display_name = StringField(_l("Name"), validators=[DataRequired(), Length(max=100)])
    phone = TelField(_l("Mobile number"), validators=[Optional(), Length(max=20)])
    email = EmailField(_l("Email"), validators=[Optional(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=128)])


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField(_l("Current password"), validators=[DataRequired()])
    new_password = PasswordField(_l("New password"), validators=[DataRequired(), Length(max=128)])


class IssueTokenForm(FlaskForm):
    name = StringField(_l("Token name"), validators=[DataRequired(), Length(max=100)])
    expires_in_days = IntegerField(
        _l("Valid for (days)"), default=90, validators=[DataRequired(), NumberRange(min=1, max=365)]
    )
    password = PasswordField(_l("Password"), validators=[DataRequired()])


class EmptyForm(FlaskForm):
    """A form with only the CSRF token, for POST-only actions such as logout."""
