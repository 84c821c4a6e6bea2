"""Service categories as plugins declare them: names, quota group, the documents they require,
the fields of their service items ("written to specification", Annex 2 item 5) and their
yearly quota (R-ASM-03)."""

from __future__ import annotations

import strawberry
from flask_babel import get_locale
from flask_babel import gettext as _
from graphql import GraphQLError

from core.categories import Category, QuotaGroup
from core.documents.kinds import get_kind
from core.onboarding.eligibility import DocumentRequirement
from core.plugins import PluginError, plugins
from core.service_fields import FieldChoice, ItemField, item_fields

QuotaGroupEnum = strawberry.enum(QuotaGroup, name="QuotaGroup")


def _english() -> bool:
    locale = get_locale()
    return locale is not None and locale.language == "en"


@strawberry.type(name="RequiredDocument",
                 description="One current, valid document of any of `kinds` is needed "
                             "(R-ELIG-02, R-ELIG-09).")
class RequiredDocumentType:
    kinds: list[str] = strawberry.field(description="Document kind codes, any one suffices.")
    kind_names: list[str] = strawberry.field(description="Their names in the request's language.")
    rule: str = strawberry.field(description="The rule id, e.g. R-ELIG-09.")

    @classmethod
    def from_requirement(cls, r: DocumentRequirement) -> RequiredDocumentType:
        names = [str(kind.name) if (kind := get_kind(k)) else k for k in r.kinds]
        return cls(kinds=list(r.kinds), kind_names=names, rule=r.rule)


@strawberry.type(name="ServiceItemFieldChoice")
class FieldChoiceType:
    value: str
    label: str = strawberry.field(description="In the request's language.")

    @classmethod
    def from_choice(cls, c: FieldChoice) -> FieldChoiceType:
        return cls(value=c.value, label=c.label_en if _english() else c.label_zh)


@strawberry.type(name="ServiceItemField",
                 description="A field a service item of the category must or may carry; the "
                             "specification items are checked against (Annex 2 item 5).")
class ItemFieldType:
    name: str
    label: str = strawberry.field(description="In the request's language.")
    kind: str = strawberry.field(description="text, textarea, number, boolean, choice or list "
                                             "(several short texts).")
    required: bool
    choices: list[FieldChoiceType]
    help: str
    example: str
    max_length: int

    @classmethod
    def from_field(cls, f: ItemField) -> ItemFieldType:
        return cls(name=f.name, label=f.label, kind=f.kind, required=f.required,
                   choices=[FieldChoiceType.from_choice(c) for c in f.choices], help=f.help_zh,
                   example=f.example, max_length=f.max_length)


def required_documents(code: str) -> list[DocumentRequirement]:
    """What every plugin says category `code` requires."""
    return [r for batch in plugins.pm.hook.required_documents(category=code) for r in batch]


@strawberry.type(name="Category")
class CategoryType:
    code: str
    name: str = strawberry.field(description="The name in the request's language.")
    name_zh: str
    name_en: str
    quota_group: QuotaGroupEnum  # type: ignore[valid-type]

    @strawberry.field(description="The qualification documents the category requires; empty "
                                  "when it has no statutory qualification (R-ELIG-07 applies).")
    def required_documents(self) -> list[RequiredDocumentType]:
        return [RequiredDocumentType.from_requirement(r) for r in required_documents(self.code)]

    @strawberry.field(description="The fields of the category's service items.")
    def item_fields(self) -> list[ItemFieldType]:
        return [ItemFieldType.from_field(f) for f in item_fields(self.code)]

    @strawberry.field(description="Effective orders a year required in service year "
                                  "`serviceYear` (1, 2, 3 …; R-ASM-03).")
    def quota(self, service_year: int) -> int:
        if service_year < 1:
            raise GraphQLError(_("Service years start at 1."))
        try:
            return plugins.quota(self.code, service_year)
        except PluginError as exc:
            raise GraphQLError(_("No quota is defined for this category.")) from exc

    @classmethod
    def from_category(cls, c: Category) -> CategoryType:
        return cls(code=c.code, name=c.name, name_zh=c.name_zh, name_en=c.name_en,
                   quota_group=c.quota_group)


@strawberry.type
class CategoryQuery:
    @strawberry.field(description="Every service category the installed plugins provide.")
    def categories(self) -> list[CategoryType]:
        return [CategoryType.from_category(c) for c in plugins.categories().values()]

    @strawberry.field(description="One service category by its code; null when none has it.")
    def category(self, code: str) -> CategoryType | None:
        found = plugins.categories().get(code)
        return CategoryType.from_category(found) if found else None
