"""The upload form (rendered by Flask-WTF; parsed from the stream by the view) and staff forms."""

from __future__ import annotations

import secrets

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, FileField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from core.documents.kinds import KINDS
from core.documents.models import RecordedStatus, Verification


class DocumentUploadForm(FlaskForm):
    """Field order matters: the file comes last, so the view can check every other field (and
    the CSRF token) before the first byte of the file is read."""

    idempotency_key = HiddenField(default=lambda: secrets.token_urlsafe(24))
    kind = SelectField(_l("Document type"), validators=[DataRequired()])
    category_code = SelectField(_l("Service category it serves"), validators=[Optional()])
    certificate_number = StringField(_l("Certificate number"), validators=[Length(max=64)])
    issuer = StringField(_l("Issued by"), validators=[Length(max=200)])
    valid_from = DateField(_l("Valid from"), validators=[Optional()])
    valid_to = DateField(_l("Valid until"), validators=[Optional()])
    long_term = BooleanField(_l("Long-term (no end date)"))
    scope = TextAreaField(_l("Scope"), validators=[Length(max=20_000)])
    file = FileField(_l("File (PDF, JPEG or PNG)"))

    def __init__(self, *args, categories=(), **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.kind.choices = [SelectChoice(code, str(k.name)) for code, k in KINDS.items()]
        self.category_code.choices = [SelectChoice("", "—")] + [
            SelectChoice(c.code, c.name) for c in categories]


class VerificationForm(FlaskForm):
    status = SelectField(_l("Verification"), choices=[
        SelectChoice(Verification.VERIFIED.value, _l("Verified")),
        SelectChoice(Verification.REJECTED.value, _l("Rejected")),
        SelectChoice(Verification.UNVERIFIED.value, _l("Unverified")),
    ])
    reason = TextAreaField(_l("Reason"), validators=[Length(max=2000)])


class StatusRecordForm(FlaskForm):
    status = SelectField(_l("Published status"), choices=[
        SelectChoice(RecordedStatus.SUSPENDED.value, _l("Suspended")),
        SelectChoice(RecordedStatus.WITHDRAWN.value, _l("Withdrawn")),
        SelectChoice(RecordedStatus.RESTORED.value, _l("Restored")),
    ])
    effective_on = DateField(_l("Effective on"), validators=[DataRequired()])
    source = StringField(_l("Source"), validators=[DataRequired(), Length(max=500)])
    note = TextAreaField(_l("Note"), validators=[Length(max=2000)])


def upload_meta(form: DocumentUploadForm) -> dict[str, object]:
    """The form's values under the service's field names."""
    return {
        "kind": form.kind.data, "categoryCode": form.category_code.data or None,
        "certificateNumber": form.certificate_number.data, "issuer": form.issuer.data,
        "validFrom": form.valid_from.data, "validTo": form.valid_to.data,
        "longTerm": form.long_term.data, "scope": form.scope.data,
    }
