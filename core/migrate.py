"""Run Alembic programmatically (`qi db upgrade`): core first, then every plugin's own migrations.

A plugin's tables live in its own namespace: names prefixed with the plugin's code, marked
`info={"plugin": code}`, migrated by the plugin's own Alembic folder with its own version table
`alembic_version_<code>` (Indico's way). Core's migrations never see them, and theirs never see
core's tables.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


@dataclass(frozen=True)
class PluginMigrations:
    """A plugin's Alembic folder (with an `env.py` calling `run_plugin_env(name)`)."""

    name: str
    script_location: Path


def alembic_config(database_url: str, plugin: PluginMigrations | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(plugin.script_location if plugin else MIGRATIONS_DIR))
    cfg.attributes["database_url"] = database_url
    return cfg


def plugin_migrations(disabled: Iterable[str] = ()) -> list[PluginMigrations]:
    """The migrations of every installed plugin (entry points), minus `disabled` ones."""
    from core.plugins import build_plugin_manager

    pm = build_plugin_manager(disabled=disabled)
    return [m for batch in pm.hook.plugin_migrations() for m in batch]


def upgrade(database_url: str, revision: str = "head", *, disabled: Iterable[str] = ()) -> None:
    """Migrate core to `revision`; at head, also every plugin to its own head."""
    command.upgrade(alembic_config(database_url), revision)
    if revision == "head":
        for plugin in plugin_migrations(disabled):
            command.upgrade(alembic_config(database_url, plugin), "head")


def downgrade(database_url: str, revision: str) -> None:
    """Step core back; going to `base` first removes every plugin's tables."""
    if revision == "base":
        for plugin in reversed(plugin_migrations()):
            command.downgrade(alembic_config(database_url, plugin), "base")
    command.downgrade(alembic_config(database_url), revision)


def current_revision(database_url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext

    from core.db import make_engine

    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def owner(obj: Any) -> str | None:
    """The plugin owning a table (or an index/constraint of one), None for core."""
    table = getattr(obj, "table", obj)
    info = getattr(table, "info", None) or {}
    return info.get("plugin")


def include_for(plugin: str | None):  # type: ignore[no-untyped-def]
    """Alembic `include_object` keeping only the objects of `plugin` (None: core's). Tables in
    the database that no loaded model describes are left alone, never proposed for dropping."""

    def include(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        if type_ == "table" and reflected and compare_to is None:
            return False
        return owner(obj if compare_to is None or not reflected else compare_to) == plugin

    return include


def run_plugin_env(name: str) -> None:
    """The body of a plugin's `env.py`: migrate only its tables, in its own version table."""
    import os

    from alembic import context

    from core.db import make_engine
    from core.models import load_all_models

    config = context.config
    url = config.attributes.get("database_url") or os.environ.get("DATABASE_URL")
    metadata = load_all_models()
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection, target_metadata=metadata, include_object=include_for(name),
            version_table=f"alembic_version_{name}",
            render_as_batch=connection.dialect.name == "sqlite", compare_type=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()
