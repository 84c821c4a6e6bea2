"""The plugin manager, built inside the app factory (never at import time)."""

from __future__ import annotations

from collections.abc import Iterable

import pluggy
from flask import Flask, current_app

from core import hookspecs
from core.categories import Category


class PluginError(RuntimeError):
    """A plugin is broken (bad hook, duplicate category); the app refuses to start."""


def build_plugin_manager(extra_plugins: Iterable[object] = (),
                         disabled: Iterable[str] = ()) -> pluggy.PluginManager:
    """Load every plugin of the entry point group (but the `disabled` names) plus
    `extra_plugins`, then validate hooks."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    for name in disabled:
        pm.set_blocked(name)  # an operator can switch a category off without uninstalling it
    pm.load_setuptools_entrypoints(hookspecs.ENTRY_POINT_GROUP)
    from core.consultations.hooks import consultation_hooks  # here: it imports core.plugins' users

    pm.register(consultation_hooks, name="core.consultations")  # core's open matters (R-ONB-06)
    from core.orders.hooks import order_hooks

    pm.register(order_hooks, name="core.orders")  # open orders block exit too (R-ONB-06)
    from core.complaints.hooks import complaint_hooks

    pm.register(complaint_hooks, name="core.complaints")  # so do complaints waiting (R-ONB-06)
    from core.reviews.hooks import review_hooks

    pm.register(review_hooks, name="core.reviews")  # so do bad-review follow-ups (R-ONB-06)
    for plugin in extra_plugins:
        pm.register(plugin)
    pm.check_pending()  # a misspelt hook name fails loudly here
    return pm


def collect_categories(pm: pluggy.PluginManager) -> dict[str, Category]:
    """All categories by code, refusing two plugins claiming the same code."""
    found: dict[str, Category] = {}
    for batch in pm.hook.register_categories():
        for category in batch:
            if category.code in found:
                raise PluginError(f"two plugins register the category {category.code!r}")
            found[category.code] = category
    return dict(sorted(found.items(), key=lambda kv: (kv[1].sort_order, kv[0])))


class Plugins:
    """Access to the app's plugin manager and what the plugins declared."""

    _key = "qi.plugins"

    def init_app(self, app: Flask, extra_plugins: Iterable[object] = ()) -> None:
        app.extensions[self._key] = build_plugin_manager(
            extra_plugins, disabled=app.config["QI_DISABLED_PLUGINS"])

    def manager_for(self, app: Flask) -> pluggy.PluginManager:
        return app.extensions[self._key]

    @property
    def pm(self) -> pluggy.PluginManager:
        return self.manager_for(current_app)

    def categories(self) -> dict[str, Category]:
        # Computed per call: a plugin registered in a test shows up at once.
        return collect_categories(self.pm)

    def quota(self, category: str, service_year: int) -> int:
        """The yearly effective-order quota of `category` (R-ASM-03), from its plugin."""
        quota = self.pm.hook.annual_order_quota(category=category, service_year=service_year)
        if quota is None:
            raise PluginError(f"no plugin gives the quota of category {category!r}")
        return quota

    def plugin_names(self) -> list[str]:
        return sorted(name for name, plugin in self.pm.list_name_plugin() if name and plugin)



plugins = Plugins()
