"""Database tuning that Django 5.2 leaves on the table."""

import sqlite3

from django.db.backends.signals import connection_created
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
