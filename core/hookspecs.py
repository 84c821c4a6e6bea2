"""The hooks a category plugin can implement.

Every hook is called with keyword arguments only and returns data, never performs side effects.
A plugin implements a hook by decorating a module-level function with `hookimpl` and naming the
module in the `qi_onestop.plugins` entry point group. `docs/plugins.md` documents each hook with
its exact signature; a test keeps the two in step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from datetime import date

    from flask import Blueprint

    from core.catalogue.filters import DirectoryFilter
    from core.categories import Category
    from core.documents.service import ExpiryReminder
    from core.identity.models import User
    from core.institutions.models import Institution
    from core.migrate import PluginMigrations
    from core.notifications.channels import NotificationChannel
    from core.onboarding.eligibility import CheckResult, DocumentRequirement, OpenMatter
    from core.service_fields import ItemField

PROJECT = "qi_onestop"
ENTRY_POINT_GROUP = "qi_onestop.plugins"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_categories() -> list[Category]:
    """Return the service categories this plugin provides (code, names, quota group)."""
    ...  # a spec has no body; pluggy never calls it


@hookspec
def graphql_query_types() -> list[type[Any]]:
    """Return strawberry types whose fields are merged into the root `Query` type."""
    ...


@hookspec
def graphql_mutation_types() -> list[type[Any]]:
    """Return strawberry types whose fields are merged into the root `Mutation` type."""
    ...


@hookspec
def graphql_extra_types() -> list[type[Any]]:
    """Return strawberry types the schema must include though no root field names them."""
    ...


@hookspec
def register_blueprints() -> list[Blueprint]:
    """Return Flask blueprints to mount (one per plugin, named after the plugin)."""
    ...


@hookspec(firstresult=True)
def annual_order_quota(category: str, service_year: int) -> int | None:
    """Return the yearly effective-order quota of `category` in `service_year` (R-ASM-03)."""
    ...


@hookspec
def service_item_fields(category: str) -> list[ItemField]:
    """Return the fields a service item of `category` carries beyond the common ones."""
    ...


@hookspec
def plugin_migrations() -> list[PluginMigrations]:
    """Return the plugin's own Alembic script folder and version table (its own tables)."""
    ...


@hookspec
def directory_filters() -> list[DirectoryFilter]:
    """Return filters the directory offers on the plugin's own tables (R-G-01), each turning a
    term into a SQL selectable of institution ids."""
    ...


@hookspec
def required_documents(category: str) -> list[DocumentRequirement]:
    """Return the qualification documents `category` requires (R-ELIG-02/09); [] for others."""
    ...


@hookspec
def eligibility_checks(institution: Institution, on: date) -> list[CheckResult]:
    """Return every result of the plugin's own eligibility checks on day `on` (R-ELIG-10)."""
    ...


@hookspec
def open_matters(institution: Institution) -> list[OpenMatter]:
    """Return the institution's matters still open; any of them blocks its exit (R-ONB-06)."""
    ...


@hookspec
def demo_data(institutions: dict[str, Institution], users: dict[str, User]) -> list[str]:
    """Add the plugin's rows to the demo data set (`qi demo`, once, on an empty database) for
    the demo institutions (by legal name) and users (by mobile number); return lines to print."""
    ...


@hookspec
def certificates_expiring(reminders: list[ExpiryReminder]) -> None:
    """Receive the day's certificate-expiry reminders (notification plugins deliver them)."""
    ...


@hookspec
def notification_channels() -> list[NotificationChannel]:
    """Return delivery channels (code, send); several plugins may add channels; core merges them
    by code, later registrations cannot silently replace an existing code."""
    ...
