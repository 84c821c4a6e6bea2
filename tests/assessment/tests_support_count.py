"""Counting SQL statements (as tests/operations/test_directory.py does)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import event

from core.db import db


@dataclass
class Counted:
    count: int = 0


@contextmanager
def count_statements(*, reads_only: bool = False) -> Iterator[Counted]:
    """Statements run inside the block; `reads_only`: SELECTs only (SQLite inserts row by row
    where PostgreSQL batches them)."""
    counted = Counted()

    def before(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if not reads_only or statement.lstrip().upper().startswith("SELECT"):
            counted.count += 1

    engine = db.engine
    event.listen(engine, "before_cursor_execute", before)
    try:
        yield counted
    finally:
        event.remove(engine, "before_cursor_execute", before)
