"""Database tuning that Django 5.2 leaves on the table."""

import json
import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

from django.db import OperationalError
from django.db import connection as default_connection
from django.db.backends.signals import connection_created
from django.db.backends.utils import CursorWrapper
from django.db.models.expressions import RawSQL
from django.dispatch import receiver

T = TypeVar("T")


@receiver(connection_created)
def use_sqlite_real_variable_limit(sender, connection, **kwargs) -> None:
    """Let bulk inserts use SQLite's real bind-variable limit, not Django's 999.

    Django 5.2 assumes the old compile-time default of 999 variables per query,
    so a 10,000-unit launch would take ~100 INSERTs; SQLite >= 3.32 allows 32,766.
    (Django 6.0 reads the limit from the connection the same way.)
    """
    if connection.vendor != "sqlite":
        return
    limit = connection.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    connection.features.max_query_params = limit


def prepared_cursor() -> CursorWrapper:
    """A cursor whose statements PostgreSQL keeps prepared on this connection.

    Django's cursors bind parameters client-side, so PostgreSQL parses and plans
    each statement anew. The worker API runs the same few statements on every
    request; through a server-binding cursor psycopg prepares each of them once
    the connection has run it `prepare_threshold` times (settings.py sets it).
    Elsewhere, with prepared statements turned off, or while queries are being
    logged (DEBUG, tests capturing queries): Django's own cursor.
    """
    connection = default_connection
    if (
        connection.vendor != "postgresql"
        or connection.settings_dict["OPTIONS"].get("prepare_threshold") is None
        # Django's query log shows client-side bound SQL only.
        or connection.queries_logged
    ):
        return connection.cursor()
    import psycopg

    connection.validate_thread_sharing()
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    with connection.wrap_database_errors:
        cursor = psycopg.Cursor(connection.connection)
    # make_cursor wraps a driver cursor; the stubs type it as Django's wrapper.
    return connection.make_cursor(cursor)  # type: ignore[arg-type]


def fetch_one(sql: str, params: list[Any]) -> tuple[Any, ...] | None:
    """Run one statement of the worker API and return its first row (or None)."""
    with prepared_cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def as_health_check(work: Callable[[], T]) -> T:
    """Run `work` (a request's first database work) as the connection's health check.

    Django's per-request health check (CONN_HEALTH_CHECKS) costs a `SELECT 1`
    round trip before every request's first query. Here the work itself is the
    check: if it fails with an OperationalError (a connection the server has
    dropped, say), the connection is reopened and `work` runs once more. Only for
    work that is safe to repeat: a transaction that failed did nothing, and one
    that committed but lost its answer must be found by the second run (a
    repeated arrival gets its agent back, a repeated submission is harmless).
    Inside a transaction, or once the check was done, `work` just runs.
    """
    # health_check_enabled/done are the attributes behind CONN_HEALTH_CHECKS
    # (Django 4.1+), set on every connection but absent from the type stubs.
    connection: Any = default_connection
    stands_in = (
        connection.connection is not None
        and connection.health_check_enabled
        and not connection.health_check_done
        and not connection.in_atomic_block
    )
    if not stands_in:
        return work()
    connection.health_check_done = True
    try:
        return work()
    except OperationalError:
        if connection.in_atomic_block:
            raise
        connection.close()
    return work()


def ids_param(ids: list[int]) -> RawSQL:
    """The right side of an `__in` filter on `ids`, as one parameter however
    many: an array on PostgreSQL, JSON on SQLite. A long IN list costs the
    driver and the ORM more than the query does, and SQLite caps parameters."""
    if default_connection.vendor == "postgresql":
        return RawSQL("SELECT unnest(%s::bigint[])", (ids,))
    return RawSQL("SELECT value FROM json_each(%s)", (json.dumps(ids),))
