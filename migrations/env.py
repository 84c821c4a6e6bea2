"""Alembic environment for core's tables: the URL comes from `qi db upgrade` or, for plain
`alembic`, DATABASE_URL. Plugin tables are left to the plugins' own migrations."""

from __future__ import annotations

import os

from alembic import context

from core.db import make_engine
from core.migrate import include_for
from core.models import load_all_models

config = context.config
url = config.attributes.get("database_url") or os.environ.get("DATABASE_URL")
if not url:
    raise SystemExit("set DATABASE_URL or run `qi db upgrade`")


def run_migrations() -> None:
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=load_all_models(),
            include_object=include_for(None),
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations()
