"""Migrations: the migrated schema is exactly the models' metadata; audit rows are append-only."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from core import migrate
from core.audit import record_audit
from core.db import db, make_engine
from core.migrate import include_for, plugin_migrations
from core.models import load_all_models


@pytest.mark.parametrize("owner", [None, *[m.name for m in plugin_migrations()]])
def test_migrating_an_empty_database_gives_exactly_the_models(database_url, owner):
    """Core's migrations give core's models; each plugin's own migrations give its tables."""
    engine = make_engine(database_url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={
            "compare_type": True, "include_object": include_for(owner)})
        diff = compare_metadata(context, load_all_models())
    engine.dispose()
    assert diff == [], f"models and migrations of {owner or 'core'} differ; add a migration: {diff}"


def test_downgrade_to_base_and_upgrade_again(tmp_path):
    url = f"sqlite:///{tmp_path / 'roundtrip.sqlite'}"
    migrate.upgrade(url)
    migrate.downgrade(url, "base")
    assert migrate.current_revision(url) is None
    migrate.upgrade(url)
    assert migrate.current_revision(url) is not None


def test_audit_rows_cannot_be_updated_or_deleted(app):
    """SECURITY.md 15: the database refuses it (a trigger on both SQLite and PostgreSQL)."""
    record_audit("test.event", object_type="thing", object_id=1)
    db.session.commit()
    for statement in ("UPDATE audit_event SET action = 'forged'", "DELETE FROM audit_event"):
        with pytest.raises(DatabaseError, match="append-only"):
            db.session.execute(text(statement))
        db.session.rollback()
    assert db.session.execute(text("SELECT action FROM audit_event")).scalars().all() == [
        "test.event"]


def test_timestamps_are_stored_and_returned_in_utc(app, make_user):
    user = make_user()
    db.session.expire_all()
    assert user.created_at.utcoffset().total_seconds() == 0
