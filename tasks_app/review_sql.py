"""A bulk approval's inserts, in plain SQL.

Approving 10,000 units writes an audit row and a reward row (and a fee row) per
unit; built as model instances, those rows cost more than everything else the
approval does. These statements insert the same rows from plain tuples in one
statement: on PostgreSQL its columns are array parameters (unnest), on SQLite the
rows are one JSON parameter (json_each). The service decides what is inserted;
nothing here decides.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, NamedTuple

from django.db import connection

from qualifications_app.models import WorkerReview
from tasks_app.models import Payment
from tasks_app.worker_sql import db_now, table


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


REVIEW_COLUMNS = (
    "worker_id, action, unit_id, agent_id, qualification_id, value, amount, "
    "reason, created_by_id, created_at"
)
PAYMENT_COLUMNS = (
    "kind, amount, currency, run_id, unit_id, agent_id, worker_id, review_id, "
    "state, idempotency_key, reason, created_by_id, provider_response, error, "
    "created_at, updated_at"
)


def insert_reviews(
    rows: Sequence[ReviewRow], *, action: str, reason: str, created_by_id: Any
) -> None:
    """One WorkerReview row per `rows` entry, all of `action`."""
    if not rows:
        return
    head = f"INSERT INTO {table(WorkerReview)} ({REVIEW_COLUMNS}) "
    constants = [action, reason, created_by_id, db_now()]
    if connection.vendor == "postgresql":
        sql = (
            "SELECT w, %s, u, a, NULL, NULL, NULL, %s, %s, %s "
            "FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[]) AS r(w, u, a)"
        )
        params = constants + [list(column) for column in zip(*rows, strict=True)]
    else:  # SQLite
        sql = (
            f"SELECT {_items(0)}, %s, {_items(1, 2)}, NULL, NULL, NULL, %s, %s, %s "
            "FROM json_each(%s)"
        )
        params = [*constants, json.dumps(rows)]
    with connection.cursor() as cursor:
        cursor.execute(head + sql, params)


def insert_payments(
    rows: Sequence[PaymentRow], *, reason: str, created_by_id: Any
) -> None:
    """One pending Payment row per `rows` entry."""
    if not rows:
        return
    now = db_now()
    head = f"INSERT INTO {table(Payment)} ({PAYMENT_COLUMNS}) "
    constants = [reason, created_by_id, now, now]
    if connection.vendor == "postgresql":
        sql = (
            "SELECT k, m, 'USD', r, u, a, w, v, 'pending', i, %s, %s, NULL, '', %s, "
            "%s FROM unnest(%s::text[], %s::numeric[], %s::bigint[], %s::bigint[], "
            "%s::bigint[], %s::bigint[], %s::bigint[], %s::text[]) "
            "AS p(k, m, r, u, a, w, v, i)"
        )
        params = constants + [list(column) for column in zip(*rows, strict=True)]
    else:  # SQLite
        sql = (
            f"SELECT {_items(0, 1)}, 'USD', {_items(2, 3, 4, 5, 6)}, 'pending', "
            f"{_items(7)}, %s, %s, NULL, '', %s, %s FROM json_each(%s)"
        )
        adapt = connection.ops.adapt_decimalfield_value
        values = [[row.kind, str(adapt(row.amount, 10, 2)), *row[2:]] for row in rows]
        params = [*constants, json.dumps(values)]
    with connection.cursor() as cursor:
        cursor.execute(head + sql, params)


def _items(*indexes: int) -> str:
    """SQLite: the `indexes`-th items of each json_each row, comma-separated."""
    return ", ".join(f"json_extract(value, '$[{index}]')" for index in indexes)
