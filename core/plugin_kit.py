"""The hook implementations every category plugin has, written once.

A category plugin module gets them with one assignment, naming them after the hooks so pluggy
finds them (pluggy registers a module's attributes by name):

    register_categories, annual_order_quota, service_item_fields, required_documents = (
        category_hooks(CATEGORY, item_fields=ITEM_FIELDS, required_kinds=("cma",)))

It keeps its own hooks (eligibility checks, tables, GraphQL, demo data) as module functions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from core.categories import Category, group_quota
from core.hookspecs import hookimpl


def category_hooks(
    own: Category, *, item_fields: Sequence[Any] = (), required_kinds: Sequence[str] = (),
    rule: str = "R-ELIG-09",
) -> tuple[Callable[..., Any], Callable[..., Any], Callable[..., Any], Callable[..., Any]]:
    """Hooks declaring the category `own`, its quota (R-ASM-03, by its quota group), its service-item
    fields and — when `required_kinds` is given — the document of any of those kinds it requires
    (R-ELIG-02 with the category's own rule, R-ELIG-08/09)."""
    from core.onboarding.eligibility import DocumentRequirement

    @hookimpl
    def register_categories() -> list[Category]:
        return [own]

    @hookimpl
    def annual_order_quota(category: str, service_year: int) -> int | None:
        return group_quota(own.quota_group, service_year) if category == own.code else None

    @hookimpl
    def service_item_fields(category: str) -> list[Any]:
        return list(item_fields) if category == own.code else []

    @hookimpl
    def required_documents(category: str) -> list[DocumentRequirement]:
        if category != own.code or not required_kinds:
            return []
        return [DocumentRequirement(category=own.code, kinds=tuple(required_kinds), rule=rule)]

    return register_categories, annual_order_quota, service_item_fields, required_documents
