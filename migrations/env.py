"""Alembic environment: the URL comes from `qi db upgrade` or, for plain `alembic`, DATABASE_URL."""

from __future__ import annotations

import os

from alembic import context

from core.db import make_engine
from core.models import metadata

config = context.config
url = config.attributes.get("database_url") or os.environ.get("DATABASE_URL")
if not url:
    raise SystemExit("set DATABASE_URL or run `qi db upgrade`")


def run_migrations() -> None:
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations()
