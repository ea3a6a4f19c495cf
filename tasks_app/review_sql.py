"""A bulk approval's inserts, in plain SQL.

Approving 10,000 units writes an audit row and a reward row (and a fee row) per
unit; built as model instances, those rows cost more than everything else the
approval does. These statements insert the same rows from plain tuples: on
PostgreSQL in one statement whose columns are array parameters (unnest), elsewhere
many rows per INSERT. The service decides what is inserted; nothing here decides.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any, NamedTuple

from django.db import connection

from qualifications_app.models import WorkerReview
from tasks_app.models import Payment
from tasks_app.worker_sql import db_now, table

# Rows per INSERT: 500 rows of 12 values stay far below SQLite's 32,766.
ROWS_PER_INSERT = 500


class ReviewRow(NamedTuple):
    worker_id: int
    unit_id: int
    agent_id: int


class PaymentRow(NamedTuple):
    kind: str
    amount: Decimal
    run_id: int
    unit_id: int
    agent_id: int
    worker_id: int
    review_id: int
    idempotency_key: str


def insert_reviews(
    rows: Sequence[ReviewRow], *, action: str, reason: str, created_by_id: Any
) -> None:
    """One WorkerReview row per `rows` entry, all of `action`."""
    now = db_now()
    if connection.vendor == "postgresql" and rows:
        # One statement: each column one array parameter, the rest constants.
        workers, units, agents = (list(column) for column in zip(*rows, strict=True))
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table(WorkerReview)} (worker_id, action, unit_id, "
                "agent_id, qualification_id, value, amount, reason, created_by_id, "
                "created_at) SELECT w, %s, u, a, NULL, NULL, NULL, %s, %s, %s "
                "FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[]) AS r(w, u, a)",
                [action, reason, created_by_id, now, workers, units, agents],
            )
        return
    _insert(
        f"INSERT INTO {table(WorkerReview)} (worker_id, action, unit_id, agent_id, "
        "qualification_id, value, amount, reason, created_by_id, created_at) VALUES ",
        "(%s, %s, %s, %s, NULL, NULL, NULL, %s, %s, %s)",
        [
            (row.worker_id, action, row.unit_id, row.agent_id, reason)
            + (created_by_id, now)
            for row in rows
        ],
    )


def insert_payments(
    rows: Sequence[PaymentRow], *, reason: str, created_by_id: Any
) -> None:
    """One pending Payment row per `rows` entry."""
    now = db_now()
    adapt = connection.ops.adapt_decimalfield_value
    if connection.vendor == "postgresql" and rows:
        columns = [list(column) for column in zip(*rows, strict=True)]
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table(Payment)} (kind, amount, currency, run_id, "
                "unit_id, agent_id, worker_id, review_id, state, idempotency_key, "
                "reason, created_by_id, provider_response, error, created_at, "
                "updated_at) SELECT k, m, 'USD', r, u, a, w, v, 'pending', i, %s, "
                "%s, NULL, '', %s, %s FROM unnest(%s::text[], %s::numeric[], "
                "%s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[], "
                "%s::bigint[], %s::text[]) AS p(k, m, r, u, a, w, v, i)",
                [reason, created_by_id, now, now, *columns],
            )
        return
    _insert(
        f"INSERT INTO {table(Payment)} (kind, amount, currency, run_id, unit_id, "
        "agent_id, worker_id, review_id, state, idempotency_key, reason, "
        "created_by_id, provider_response, error, created_at, updated_at) VALUES ",
        "(%s, %s, 'USD', %s, %s, %s, %s, %s, 'pending', %s, %s, %s, NULL, '', %s, %s)",
        [
            (row.kind, adapt(row.amount, 10, 2), row.run_id, row.unit_id)
            + (row.agent_id, row.worker_id, row.review_id, row.idempotency_key)
            + (reason, created_by_id, now, now)
            for row in rows
        ],
    )


def _insert(head: str, row_sql: str, values: list[tuple]) -> None:
    """`head` and then `row_sql` once per row, ROWS_PER_INSERT rows a statement."""
    with connection.cursor() as cursor:
        for start in range(0, len(values), ROWS_PER_INSERT):
            batch = values[start : start + ROWS_PER_INSERT]
            cursor.execute(
                head + ", ".join([row_sql] * len(batch)),
                [value for row in batch for value in row],
            )
