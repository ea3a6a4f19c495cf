"""Row locks outside a transaction fail in every test, on every database.

PostgreSQL refuses `SELECT ... FOR UPDATE` outside a transaction
(TransactionManagementError). A test usually runs inside the atomic blocks
pytest-django opens for it, so a service that lost its `@transaction.atomic`
still passes there, and SQLite ignores `select_for_update` altogether: the
suite once passed on both while `/submit_metadata` answered 500 on every
production request. This guard counts only the atomic blocks the code under
test opened: a row lock taken with none of them open fails the test as
production would, on SQLite too.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connections
from django.db.models.sql.compiler import SQLCompiler
from django.db.transaction import TransactionManagementError


def in_code_transaction(connection: Any) -> bool:
    """Whether the code under test opened a transaction on `connection`
    (the test case's own atomic blocks don't count)."""
    return any(
        not getattr(block, "_from_testcase", False)
        for block in connection.atomic_blocks
    )


def _refuse() -> None:
    raise TransactionManagementError(
        "select_for_update outside a transaction: PostgreSQL refuses this in "
        "production (wrap the service in @transaction.atomic)"
    )


@contextmanager
def row_locks_need_a_transaction() -> Iterator[None]:
    """Patch the ORM's compiler so that `select_for_update` outside a
    transaction of the code under test raises, as Django does on PostgreSQL.

    Hand-written statements are left alone: PostgreSQL runs a single
    statement's FOR UPDATE in autocommit (worker_sql's one-statement claim)."""
    original_as_sql = SQLCompiler.as_sql

    def as_sql(self: SQLCompiler, *args: Any, **kwargs: Any) -> Any:
        if self.query.select_for_update and not in_code_transaction(
            connections[self.using]
        ):
            _refuse()
        return original_as_sql(self, *args, **kwargs)

    SQLCompiler.as_sql = as_sql  # type: ignore[method-assign]
    try:
        yield
    finally:
        SQLCompiler.as_sql = original_as_sql  # type: ignore[method-assign]
