"""Database tuning that Django 5.2 leaves on the table."""

import sqlite3

from django.db import connection as default_connection
from django.db.backends.signals import connection_created
from django.db.backends.utils import CursorWrapper
from django.dispatch import receiver


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
    return connection.make_cursor(cursor)
