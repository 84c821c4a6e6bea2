"""Web forms of the onboarding wizard, the invitation page and the reviewers' pages.

Labels are English msgids translated by the zh_CN catalogue. The forms check only the shape of
the input (required, length); the services decide what is valid and their problems are shown
under the fields (`core.web.forms.attach_problems`).
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    TelField,
    TextAreaField,
    TimeField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from core.institutions.models import InstitutionType
from core.onboarding.models import ApplicationState, ComplianceKind, RemovalReason

ADVANTAGE_ROWS = 3  # R-ELIG-06: 2-3 items in principle

INSTITUTION_TYPES = {
    InstitutionType.ENTERPRISE: _l("Enterprise legal person"),
    InstitutionType.PUBLIC_INSTITUTION: _l("Public institution"),
    InstitutionType.UNIVERSITY: _l("University"),
    InstitutionType.RESEARCH_INSTITUTE: _l("Research institute"),
    InstitutionType.OTHER: _l("Other"),
}

STATE_LABELS = {
    ApplicationState.DRAFT: _l("Draft"),
    ApplicationState.SUBMITTED: _l("Submitted, waiting for screening"),
    ApplicationState.SCREENING: _l("Being screened by the operator"),
    ApplicationState.REVIEW: _l("Waiting for the decision"),
    ApplicationState.MATERIALS_REQUESTED: _l("More materials requested"),
    ApplicationState.ONSITE_SCHEDULED: _l("On-site investigation scheduled"),
    ApplicationState.APPROVED: _l("Approved"),
    ApplicationState.REJECTED: _l("Rejected"),
    ApplicationState.LAPSED: _l("Not approved: materials not provided in time"),
}

REMOVAL_REASONS = {
    RemovalReason.FAILED_ASSESSMENT: _l("Failed the annual assessment"),
    RemovalReason.PENALTY: _l("Administrative penalty or verified violation"),
    RemovalReason.LOGO_MISUSE: _l("Unauthorised use of the platform's name or logo"),
    RemovalReason.SERIOUS_COMPLAINT: _l("Verified serious complaint"),
    RemovalReason.NOT_NEEDED: _l("Judged unnecessary by the platform management unit"),
}

COMPLIANCE_KINDS = {
    ComplianceKind.VIOLATION: _l("Violation of laws or regulations"),
    ComplianceKind.ADMINISTRATIVE_PENALTY: _l("Administrative penalty"),
    ComplianceKind.ABNORMAL_OPERATION_LIST: _l("Abnormal operation list"),
    ComplianceKind.DISHONEST_LIST: _l("Serious illegal and dishonest list"),
    ComplianceKind.BAD_INDUSTRY_RECORD: _l("Bad industry record"),
}

# What the eligibility evidence names, in words (profile fields by their service names).
FIELD_LABELS = {
    "legalName": _l("Legal name of the institution"), "uscc": _l("Unified social credit code"),
    "institutionType": _l("Institution type"), "legalRepresentative": _l("Legal representative"),
    "registeredAddress": _l("Registered address"), "provinceCode": _l("Province code"),
    "cityCode": _l("City code"), "districtCode": _l("District or county code"),
    "contactPhone": _l("Contact telephone"), "contactEmail": _l("Contact email"),
    "website": _l("Website"), "introduction": _l("Introduction"),
    "categories": _l("Service categories"),
}
DOCUMENT_STATUS = {
    "valid": _l("Valid"), "expiring": _l("Expiring soon"), "expired": _l("Expired"),
    "not_yet_valid": _l("Not yet valid"), "suspended": _l("Suspended"), "withdrawn": _l("Withdrawn"),
}
VERIFICATION = {"unverified": _l("Awaiting verification"), "verified": _l("Verified"),
                "rejected": _l("Rejected")}


class MultiCheckboxField(SelectMultipleField):
    """Several choices as a list of checkboxes (easier than a multi-select on a phone)."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


# ---------------------------------------------------------------- the wizard


class StartForm(FlaskForm):
    legal_name = StringField(_l("Legal name of the institution"),
                             validators=[DataRequired(), Length(max=200)])
    uscc = StringField(_l("Unified social credit code"), validators=[DataRequired(), Length(max=30)])


# The profile form's fields → the service's camelCase names.
PROFILE_FORM_FIELDS = {
    "legal_name": "legalName", "uscc": "uscc", "institution_type": "institutionType",
    "legal_representative": "legalRepresentative", "registered_address": "registeredAddress",
    "province_code": "provinceCode", "city_code": "cityCode", "district_code": "districtCode",
    "contact_phone": "contactPhone", "contact_email": "contactEmail", "website": "website",
    "introduction": "introduction",
}


class ProfileForm(FlaskForm):
    legal_name = StringField(_l("Legal name of the institution"),
                             validators=[DataRequired(), Length(max=200)])
    uscc = StringField(_l("Unified social credit code"), validators=[DataRequired(), Length(max=30)])
    institution_type = SelectField(_l("Institution type"), choices=[
        SelectChoice("", "—"), *(SelectChoice(t.value, label) for t, label in INSTITUTION_TYPES.items())])
    legal_representative = StringField(_l("Legal representative"), validators=[Length(max=100)])
    registered_address = StringField(_l("Registered address"), validators=[Length(max=300)])
    province_code = StringField(_l("Province code"), validators=[Length(max=6)])
    city_code = StringField(_l("City code"), validators=[Length(max=6)])
    district_code = StringField(_l("District or county code"), validators=[Length(max=6)])
    contact_phone = TelField(_l("Contact telephone"), validators=[Length(max=30)])
    contact_email = EmailField(_l("Contact email"), validators=[Length(max=254)])
    website = StringField(_l("Website"), validators=[Length(max=300)])
    introduction = TextAreaField(_l("Introduction"), validators=[Length(max=5000)])

    def service_data(self) -> dict[str, str]:
        return {camel: (getattr(self, name).data or "") for name, camel in PROFILE_FORM_FIELDS.items()}


class AdvantageItemForm(Form):
    """One row of the advantage items; a row left blank is not an item."""

    category_code = SelectField(_l("Category"), validate_choice=False)
    title = StringField(_l("Service item"), validators=[Length(max=200)])
    description = TextAreaField(_l("Description"), validators=[Length(max=2000)])

    @property
    def is_blank(self) -> bool:
        return not (self.title.data or "").strip() and not (self.description.data or "").strip()


class CategoriesForm(FlaskForm):
    categories = MultiCheckboxField(_l("Service categories"), validate_choice=False)
    main_category = SelectField(_l("Main category"), validate_choice=False)
    items = FieldList(FormField(AdvantageItemForm), min_entries=ADVANTAGE_ROWS,
                      max_entries=ADVANTAGE_ROWS)

    def __init__(self, *args, categories=(), **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        choices = [SelectChoice(c.code, c.name) for c in categories]
        self.categories.choices = choices
        self.main_category.choices = [SelectChoice("", "—"), *choices]
        for row in self.items:
            row.form.category_code.choices = [SelectChoice("", "—"), *choices]


class InviteAgentForm(FlaskForm):
    display_name = StringField(_l("Agent's name"), validators=[DataRequired(), Length(max=100)])
    phone = TelField(_l("Mobile number"), validators=[Optional(), Length(max=20)])
    email = EmailField(_l("Email"), validators=[Optional(), Length(max=254)])


class CommitmentForm(FlaskForm):
    version_id = HiddenField()
    signer_name = StringField(_l("Signer's name"), validators=[DataRequired(), Length(max=100)])
    signer_title = StringField(_l("Signer's title"), validators=[DataRequired(), Length(max=100)])
    confirm = BooleanField(_l("I have read the commitment letter in full and sign it on behalf of "
                              "the institution."),
                           validators=[DataRequired(_l("Tick the box to confirm."))])


class ExitForm(FlaskForm):
    letter = TextAreaField(_l("Written exit request"), validators=[DataRequired(), Length(max=5000)])


class AcceptInvitationForm(FlaskForm):
    password = PasswordField(_l("Choose a password"), validators=[Optional(), Length(max=128)])


# ---------------------------------------------------------------- reviewers


class QueueFilterForm(FlaskForm):
    """The review queue's filters, read from the query string (a GET form: no CSRF)."""

    class Meta:
        csrf = False

    state = SelectField(_l("State"), validate_choice=False)
    category = SelectField(_l("Category"), validate_choice=False)

    def __init__(self, *args, categories=(), states=(), **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.state.choices = [SelectChoice("", _l("All waiting")),
                              *(SelectChoice(s.value, STATE_LABELS[s]) for s in states)]
        self.category.choices = [SelectChoice("", _l("All categories")),
                                 *(SelectChoice(c.code, c.name) for c in categories)]


class DecisionForm(FlaskForm):
    """Start or pass screening, approve: nothing to fill in but an optional note."""

    reason = TextAreaField(_l("Note to the institution (optional)"), validators=[Length(max=4000)])


class ReasonDecisionForm(FlaskForm):
    """Reject, record the on-site result: a reason is required."""

    reason = TextAreaField(_l("Reason"), validators=[DataRequired(), Length(max=4000)])


class MaterialsForm(FlaskForm):
    reason = TextAreaField(_l("Materials needed"), validators=[DataRequired(), Length(max=4000)])
    working_days = IntegerField(_l("Deadline (working days)"),
                                validators=[DataRequired(), NumberRange(min=1, max=60)])


class OnsiteForm(FlaskForm):
    onsite_date = DateField(_l("Date of the visit"), validators=[DataRequired()])
    onsite_time = TimeField(_l("Time"), validators=[DataRequired()])
    onsite_place = StringField(_l("Place"), validators=[DataRequired(), Length(max=300)])
    reason = TextAreaField(_l("Note to the institution (optional)"), validators=[Length(max=4000)])


class RemovalForm(FlaskForm):
    reason = SelectField(_l("Reason for removal"), choices=[
        SelectChoice(r.value, label) for r, label in REMOVAL_REASONS.items()])
    details = TextAreaField(_l("Grounds and details"), validators=[DataRequired(), Length(max=5000)])


class ComplianceRecordForm(FlaskForm):
    kind = SelectField(_l("Kind"), choices=[
        SelectChoice(k.value, label) for k, label in COMPLIANCE_KINDS.items()])
    occurred_on = DateField(_l("Occurred on"), validators=[DataRequired()])
    ended_on = DateField(_l("No longer in effect from (optional)"), validators=[Optional()])
    source = StringField(_l("Source"), validators=[DataRequired(), Length(max=500)])
    reference = StringField(_l("Decision or reference number"), validators=[Length(max=100)])
    description = TextAreaField(_l("Description"), validators=[Length(max=5000)])


class ExceptionForm(FlaskForm):
    """The regulator's recorded exception to the 2-3 advantage items (R-ELIG-06)."""

    reason = TextAreaField(_l("Reason for the exception"),
                           validators=[DataRequired(), Length(max=2000)])
