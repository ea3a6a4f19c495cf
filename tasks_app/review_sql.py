"""A bulk approval's reads and inserts, in plain SQL.

Approving 10,000 units reads a unit and an agent row per unit and writes an audit
row and a reward row (and a fee row) per unit; through model instances, or even
the ORM's row converters, those rows cost more than everything else the approval
does. These statements read plain tuples, and insert from plain tuples in one
statement: on PostgreSQL the ids and columns are array parameters (unnest), on
SQLite one JSON parameter (json_each). The service decides what is read and
inserted; nothing here decides.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, NamedTuple

from django.db import connection

from qualifications_app.models import WorkerReview
from tasks_app.models import Agent, Payment, Unit
from tasks_app.worker_sql import db_now, table


class UnitRow(NamedTuple):
    pk: int
    status: str
    worker_id: int | None
    pay_amount: Decimal
    run_id: int


class AgentRow(NamedTuple):
    pk: int
    unit_id: int
    worker_id: int
    status: str
    is_late: bool
    from_provider_listing: bool


REVIEW_COLUMNS = (
    "worker_id, action, unit_id, agent_id, qualification_id, value, amount, "
    "reason, created_by_id, created_at"
)
PAYMENT_COLUMNS = (
    "kind, amount, currency, run_id, unit_id, agent_id, worker_id, review_id, "
    "state, idempotency_key, reason, created_by_id, provider_response, error, "
    "created_at, updated_at"
)


def lock_for_approval(
    unit_ids: Sequence[int],
) -> tuple[dict[int, UnitRow], dict[int, list[AgentRow]]]:
    """The units of `unit_ids` that exist, and each one's agents that submitted
    ({unit id: [agents]}), locked until commit.

    On PostgreSQL two SELECT ... FOR UPDATE, as the nullable side of an outer
    join can't be locked; on SQLite, whose write transaction is the lock, one
    join.
    """
    ids = _ids_value(unit_ids)
    unit_columns = "u.id, u.status, u.worker_id, u.pay_amount, u.run_id"
    agent_columns = (
        "a.id, a.unit_id, a.worker_id, a.status, a.is_late, a.from_provider_listing"
    )
    units_table, agents_table = table(Unit), table(Agent)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"SELECT {unit_columns} FROM {units_table} u "
                f"WHERE u.id IN ({_ids()}) FOR UPDATE",
                [ids],
            )
            unit_rows = cursor.fetchall()
            cursor.execute(
                f"SELECT {agent_columns} FROM {agents_table} a "
                f"WHERE a.unit_id IN ({_ids()}) AND a.submitted_at IS NOT NULL "
                "FOR UPDATE",
                [ids],
            )
            agent_rows = cursor.fetchall()
        else:  # SQLite
            cursor.execute(
                f"SELECT {unit_columns}, {agent_columns} FROM {units_table} u "
                f"LEFT JOIN {agents_table} a ON a.unit_id = u.id "
                f"AND a.submitted_at IS NOT NULL WHERE u.id IN ({_ids()})",
                [ids],
            )
            rows = cursor.fetchall()
            unit_rows = list({row[0]: row[:5] for row in rows}.values())
            agent_rows = [row[5:] for row in rows if row[5] is not None]
    amounts: dict[Any, Decimal] = {}  # a run's units share a handful of amounts
    units = {
        pk: UnitRow(pk, status, worker_id, _amount(amounts, amount), run_id)
        for pk, status, worker_id, amount, run_id in unit_rows
    }
    agents: dict[int, list[AgentRow]] = {}
    for pk, unit_id, worker_id, status, late, listed in agent_rows:
        agents.setdefault(unit_id, []).append(
            AgentRow(pk, unit_id, worker_id, status, bool(late), bool(listed))
        )
    return units, agents


def insert_reviews(
    agent_ids: Sequence[int], *, action: str, reason: str, created_by_id: Any
) -> dict[int, int]:
    """A WorkerReview row of `action` on each agent of `agent_ids`; {agent id:
    its review id}."""
    if not agent_ids:
        return {}
    sql = (
        f"INSERT INTO {table(WorkerReview)} ({REVIEW_COLUMNS}) "
        "SELECT worker_id, %s, unit_id, id, NULL, NULL, NULL, %s, %s, %s "
        f"FROM {table(Agent)} WHERE id IN ({_ids()}) RETURNING agent_id, id"
    )
    params = [action, reason, created_by_id, db_now(), _ids_value(agent_ids)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return dict(cursor.fetchall())


def insert_rewards(
    review_ids: Sequence[int], *, reason: str, created_by_id: Any
) -> None:
    """A pending reward row for each approval of `review_ids` whose unit pays
    (its `pay_amount`, keyed `reward:agent=N` as `approve_unit` keys it)."""
    _insert_payments(
        "SELECT 'reward', u.pay_amount, 'USD', u.run_id, u.id, r.agent_id, "
        f"r.worker_id, r.id, 'pending', {_key('reward:agent=')}, "
        "%s, %s, NULL, '', %s, %s "
        f"FROM {table(WorkerReview)} r JOIN {table(Unit)} u ON u.id = r.unit_id "
        f"WHERE r.id IN ({_ids()}) AND u.pay_amount > 0",
        [_ids_value(review_ids)],
        reason=reason,
        created_by_id=created_by_id,
    )


def insert_fees(
    review_ids: Sequence[int],
    fees: dict[tuple[int, Decimal], Decimal],
    *,
    reason: str,
    created_by_id: Any,
) -> None:
    """A pending fee row for each approval of `review_ids` whose run and reward
    are in `fees` ({(run id, pay amount): fee}, computed by the service: a run's
    units share a handful of amounts), keyed `fee:reward:agent=N`."""
    if not fees:
        return
    # The fee table: (run id, the reward in cents, the fee) per entry of `fees`.
    entries = [(run, int(amount * 100), fee) for (run, amount), fee in fees.items()]
    if connection.vendor == "postgresql":
        fee_table = "unnest(%s::bigint[], %s::bigint[], %s::numeric[]) AS f(r, c, m)"
        fee_params: list[Any] = [list(column) for column in zip(*entries, strict=True)]
        run, amount, fee = "f.r", "f.c", "f.m"
        cents = "(u.pay_amount * 100)::bigint"
    else:  # SQLite
        fee_table = "json_each(%s) AS f"
        fee_params = [json.dumps([[r, c, str(m)] for r, c, m in entries])]
        run, amount, fee = (f"json_extract(f.value, '$[{i}]')" for i in range(3))
        cents = "CAST(ROUND(u.pay_amount * 100) AS INTEGER)"
    _insert_payments(
        f"SELECT 'fee', {fee}, 'USD', u.run_id, u.id, r.agent_id, r.worker_id, r.id, "
        f"'pending', {_key('fee:reward:agent=')}, "
        "%s, %s, NULL, '', %s, %s "
        f"FROM {table(WorkerReview)} r JOIN {table(Unit)} u ON u.id = r.unit_id "
        f"JOIN {fee_table} ON {run} = u.run_id AND {amount} = {cents} "
        f"WHERE r.id IN ({_ids()})",
        [*fee_params, _ids_value(review_ids)],
        reason=reason,
        created_by_id=created_by_id,
    )


def _insert_payments(
    select: str, params: list[Any], *, reason: str, created_by_id: Any
) -> None:
    now = db_now()
    sql = f"INSERT INTO {table(Payment)} ({PAYMENT_COLUMNS}) {select}"
    with connection.cursor() as cursor:
        # The SELECT's constants come first in it, then its own parameters.
        cursor.execute(sql, [reason, created_by_id, now, now, *params])


def _key(prefix: str) -> str:
    """The idempotency key `prefix` + the agent id of review row `r`, in SQL."""
    return f"'{prefix}' || CAST(r.agent_id AS TEXT)"


def _ids() -> str:
    """The subquery of one parameter, a list of ids (see `tasks_app.db.ids_param`)."""
    if connection.vendor == "postgresql":
        return "SELECT unnest(%s::bigint[])"
    return "SELECT value FROM json_each(%s)"


def _ids_value(ids: Sequence[int]) -> Any:
    if connection.vendor == "postgresql":
        return list(ids)
    return json.dumps(list(ids))


def _amount(seen: dict[Any, Decimal], raw: Any) -> Decimal:
    """A DecimalField value as the database returned it, in cents."""
    if raw not in seen:
        seen[raw] = Decimal(str(raw)).quantize(Decimal("0.01"))
    return seen[raw]
