"""The worker cycle's hot statements, in plain SQL.

Every arrival (`request_agent`) and every submission runs these, so each is as
few statements as the database allows: the ORM can't say UPDATE ... RETURNING,
nor a data-modifying WITH. The services decide when each applies; the rules the
arrival statement checks are those of `tasks_app.eligibility`, where the reasons
for a refusal are worded.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, models, transaction
from django.utils import timezone

from qualifications_app.models import GrantedQualification, Qualification
from tasks_app import eligibility
from tasks_app.db import fetch_one, prepared_cursor
from tasks_app.models import (
    AGENT_LIVE_STATUSES,
    Agent,
    AgentStatus,
    Assignment,
    LiveCall,
    TaskRun,
    TaskRunStatus,
    Unit,
    UnitStatus,
    Worker,
)


def table(model: type[models.Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def db_now() -> Any:
    """Now, as a raw query must pass a DateTimeField value on this database."""
    return connection.ops.adapt_datetimefield_value(timezone.now())


def _assignment_data(raw: Any) -> Any:
    field = Assignment._meta.get_field("data")
    return field.from_db_value(raw, None, connection)  # type: ignore[arg-type,union-attr]


@dataclass(frozen=True)
class ClaimedUnit:
    """A unit just handed to a worker, with its assignment's data."""

    unit_id: int
    assignment_data: Any


def lock_worker(*, provider_type: str, worker_name: str) -> Worker:
    """Find or create the Worker and lock its row, in one statement.

    Must run inside a transaction. An upsert whose no-op UPDATE takes the row lock
    on PostgreSQL (and the write lock on SQLite): a worker's second request waits
    here until the first one commits.
    """
    worker = table(Worker)
    with prepared_cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {worker} (provider_type, worker_name, is_blocked, created_at)"
            " VALUES (%s, %s, %s, %s)"
            " ON CONFLICT (provider_type, worker_name)"
            f" DO UPDATE SET is_blocked = {worker}.is_blocked"
            " RETURNING id, is_blocked",
            [provider_type, worker_name, False, db_now()],
        )
        pk, is_blocked = cursor.fetchone()
    # As the ORM would build it; created_at is deferred (read on access).
    return Worker.from_db(
        connection.alias,
        ["id", "provider_type", "worker_name", "is_blocked"],
        [pk, provider_type, worker_name, bool(is_blocked)],
    )


def claim_first_unit(
    *, run_id: int, worker_id: int, provider_unit_id: str
) -> ClaimedUnit | None:
    """Take the first free unit of a running run for a worker whose row is locked."""
    # One statement: the first free unit in unit_claim_order_idx order, locked
    # with SKIP LOCKED so concurrent claims pass each other, and taken by a
    # conditional UPDATE (on SQLite, which has no row locks, the status check is
    # what keeps a unit from being handed out twice).
    unit, run = table(Unit), table(TaskRun)
    skip_locked = (
        " FOR UPDATE SKIP LOCKED"
        if connection.features.has_select_for_update_skip_locked
        else ""
    )
    only_hit = " AND u.provider_unit_id = %s" if provider_unit_id else ""
    sql = (
        f"UPDATE {unit} SET status = %s, worker_id = %s, updated_at = %s"
        f" WHERE status = %s AND id = (SELECT u.id {_free_units('%s')}{only_hit}"
        f"  AND EXISTS (SELECT 1 FROM {run} r WHERE r.id = u.run_id AND r.status = %s)"
        f"  ORDER BY u.unit_index, u.id LIMIT 1{skip_locked}"
        f") RETURNING id, (SELECT data FROM {table(Assignment)} a"
        f" WHERE a.id = {unit}.assignment_id)"
    )
    params = [UnitStatus.ASSIGNED, worker_id, db_now(), UnitStatus.LAUNCHED]
    params += [run_id, UnitStatus.LAUNCHED, worker_id]
    params += [provider_unit_id] if provider_unit_id else []
    params += [TaskRunStatus.RUNNING]
    with prepared_cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    return ClaimedUnit(unit_id=row[0], assignment_data=_assignment_data(row[1]))


def _free_units(worker: str) -> str:
    """FROM and WHERE of a run's launched units that `worker` (SQL) may take.

    Parameters: the run's id, then the launched status (and any in `worker`).
    """
    unit = table(Unit)
    # NOT EXISTS, served by unit_one_per_worker_per_assignment: never two units
    # of one assignment for one worker.
    return (
        f"FROM {unit} u WHERE u.run_id = %s AND u.status = %s AND u.unit_index >= 0"
        f" AND NOT EXISTS (SELECT 1 FROM {unit} mine WHERE mine.worker_id = {worker}"
        " AND mine.assignment_id = u.assignment_id)"
    )


def insert_agent(
    *,
    public_id: str,
    unit_id: int,
    worker_id: int,
    run: TaskRun,
    registration_id: str,
    provider_assignment_id: str,
) -> None:
    """Create the live agent of a unit just claimed."""
    # A plain INSERT: Agent.objects.create() costs several times more Python here.
    now = timezone.now()
    deadline = now + timedelta(seconds=run.assignment_duration_in_seconds)
    adapt = connection.ops.adapt_datetimefield_value
    with prepared_cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table(Agent)} (public_id, unit_id, worker_id, run_id,"
            " status, registration_id, provider_assignment_id, is_late, created_at,"
            " deadline_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [
                public_id,
                unit_id,
                worker_id,
                run.pk,
                AgentStatus.ACCEPTED,
                registration_id,
                provider_assignment_id,
                False,
                adapt(now),
                adapt(deadline),
            ],
        )


# ---------------------------------------------------------------------------
# An arrival in one statement (PostgreSQL)
# ---------------------------------------------------------------------------

# Where each run's next claim in this process starts looking: just past the unit
# it claimed last, as (unit_index, id). The claim index keeps an entry for every
# unit already claimed until VACUUM removes it, so a scan from the start would
# walk past all of them; from here it passes only the few claimed since by other
# processes. Units freed behind it (timeouts, returns) are found when the
# position is forgotten: at every sweep, and whenever a claim from here finds
# nothing.
_claim_from: dict[int, tuple[int, int]] = {}
START = (-1, 0)


def forget_claim_positions(run_id: int | None = None) -> None:
    """Let the next claim on `run_id` (or every run) look from the first unit."""
    if run_id is None:
        _claim_from.clear()
    else:
        _claim_from.pop(run_id, None)


def can_claim_on_arrival() -> bool:
    """Whether arrivals are taken in one statement (site setting, PostgreSQL)."""
    # Data-modifying WITH and FOR UPDATE SKIP LOCKED: PostgreSQL's.
    return (
        connection.vendor == "postgresql" and settings.CROWDSITE_ONE_STATEMENT_ARRIVAL
    )


def claim_on_arrival(
    *,
    run: TaskRun,
    agent_id: str,
    registration_id: str,
    provider_assignment_id: str,
    provider_unit_id: str,
    worker_name: str = "",
    worker: Worker | None = None,
) -> tuple[int, ClaimedUnit] | None:
    """Claim a unit and create its agent, if every rule lets the worker have one.

    One statement that finds (or creates) the worker by `worker_name`, checks the
    rules of `eligibility.arrival_rules(run)` (each must pass without a word to
    the worker), takes the first free unit (the HIT's own first, for MTurk) and
    inserts the agent with id `agent_id`. Returns (worker id, claimed unit), or
    None when any rule fails or no unit is free: the caller then takes the full
    path, which says why.

    With `worker` (found and row-locked earlier in this transaction) it also
    checks the run's limits: those count the worker's units, and only a statement
    that starts after the lock sees the units their other requests just took.
    """
    unit = table(Unit)
    params: list[Any] = []
    if worker is None:
        # New workers are inserted; known ones are read (no row version written).
        head = (
            f"w_new AS (INSERT INTO {table(Worker)} (provider_type, worker_name,"
            " is_blocked, created_at) VALUES (%s, %s, %s, %s)"
            " ON CONFLICT (provider_type, worker_name) DO NOTHING"
            " RETURNING id, is_blocked),"
            " w AS (SELECT id, is_blocked FROM w_new UNION ALL"
            f" SELECT id, is_blocked FROM {table(Worker)}"
            " WHERE provider_type = %s AND worker_name = %s LIMIT 1)"
        )
        params += [run.provider_type, worker_name, False, db_now()]
        params += [run.provider_type, worker_name]
    else:
        head = "w AS (SELECT %s::bigint AS id, %s::boolean AS is_blocked)"
        params += [worker.pk, worker.is_blocked]
    gate, gate_params = _rules_sql(
        run, registration_id=registration_id, limits=worker is not None
    )
    free = _free_units("(SELECT id FROM w)")
    # Served by unit_claim_order_idx, from this process's claim position.
    first_free = (
        f"(SELECT u.id {free} AND (u.unit_index, u.id) > (%s, %s)"
        " ORDER BY u.unit_index, u.id LIMIT 1 FOR UPDATE SKIP LOCKED)"
    )
    first_params = [run.pk, UnitStatus.LAUNCHED, *_claim_from.get(run.pk, START)]
    if provider_unit_id:
        # Served by unit_provider_unit_idx; COALESCE looks no further if found.
        hit = (
            f"(SELECT u.id {free} AND u.provider_unit_id = %s"
            " LIMIT 1 FOR UPDATE SKIP LOCKED)"
        )
        target = f"COALESCE({hit}, {first_free})"
        target_params = [run.pk, UnitStatus.LAUNCHED, provider_unit_id, *first_params]
    else:
        target, target_params = first_free, first_params
    now = timezone.now()
    deadline = now + timedelta(seconds=run.assignment_duration_in_seconds)
    adapt = connection.ops.adapt_datetimefield_value
    sql = (
        f"WITH {head},"
        f" claimed AS (UPDATE {unit} SET status = %s, worker_id = (SELECT id FROM w),"
        f" updated_at = %s WHERE {gate} AND status = %s AND id = {target}"
        " RETURNING id, unit_index, assignment_id),"
        f" agent AS (INSERT INTO {table(Agent)} (public_id, unit_id, worker_id,"
        " run_id, status, registration_id, provider_assignment_id, is_late,"
        " created_at, deadline_at) SELECT %s, claimed.id, (SELECT id FROM w), %s,"
        " %s, %s, %s, %s, %s, %s FROM claimed)"
        " SELECT (SELECT id FROM w), claimed.id, claimed.unit_index, a.data"
        f" FROM claimed JOIN {table(Assignment)} a ON a.id = claimed.assignment_id"
    )
    params += [UnitStatus.ASSIGNED, adapt(now), *gate_params, UnitStatus.LAUNCHED]
    params += target_params
    params += [agent_id, run.pk, AgentStatus.ACCEPTED, registration_id]
    params += [provider_assignment_id, False, adapt(now), adapt(deadline)]
    row = fetch_one(sql, params)
    if row is None:
        return None
    worker_id, unit_id, unit_index, data = row
    _claim_from[run.pk] = (unit_index, unit_id)
    return worker_id, ClaimedUnit(
        unit_id=unit_id, assignment_data=_assignment_data(data)
    )


def _rules_sql(
    run: TaskRun, *, registration_id: str, limits: bool
) -> tuple[str, list[Any]]:
    """The rules an arrival must pass, as one SQL condition on the worker `w`.

    The terms are those of `eligibility.arrival_rules(run)`, each true exactly
    when its rule passes without a word to the worker (tests generated from
    `eligibility.ARRIVAL_RULES` check every rule both ways); those counting the
    worker's units only with `limits`. None depends on the unit, so PostgreSQL
    evaluates them once, before it looks for one.
    """
    tables = {
        "run": table(TaskRun),
        "unit": table(Unit),
        "granted": table(GrantedQualification),
        "qualification": table(Qualification),
    }
    # A new registration (a reconnect gets its own agent back, on the full path).
    terms = [
        f"NOT EXISTS (SELECT 1 FROM {table(Agent)} WHERE run_id = %s"
        " AND registration_id = %s)"
    ]
    params: list[Any] = [run.pk, registration_id]
    for rule in eligibility.arrival_rules(run):
        if rule.sql is None or (rule.counts_units and not limits):
            continue
        terms.append(rule.sql.format(**tables))
        params += rule.params
    return "(" + " AND ".join(terms) + ")", params


# ---------------------------------------------------------------------------
# A submission
# ---------------------------------------------------------------------------


def submit_live_agent(*, agent_id: str, submission: Any) -> tuple[int, int] | None:
    """Store a live agent's first submission; (run_id, unit_id), or None if not live.

    Atomic: on PostgreSQL one statement (the agent's and its unit's conditional
    UPDATEs in one WITH), elsewhere the two in a transaction.
    """
    now = db_now()
    agent_params = [
        AgentStatus.COMPLETED,
        Agent._meta.get_field("submission").get_db_prep_save(submission, connection),
        now,
        now,
        agent_id,
        *AGENT_LIVE_STATUSES,
    ]
    # The agent's status and submitted_at say whether this is its first.
    update_agent = (
        f"UPDATE {table(Agent)} SET status = %s, submission = %s,"
        " submitted_at = %s, is_late = (deadline_at < %s)"
        " WHERE public_id = %s AND submitted_at IS NULL AND status IN (%s, %s, %s)"
        " RETURNING run_id, unit_id, worker_id"
    )
    unit_params = [UnitStatus.COMPLETED, now, UnitStatus.ASSIGNED]
    if connection.vendor == "postgresql":
        row = fetch_one(
            f"WITH agent AS ({update_agent}),"
            # The unit by its id (scalar subqueries, not a join: the planner
            # would pick a scan of the run's units that grows with every claim).
            f" unit AS (UPDATE {table(Unit)} SET status = %s, updated_at = %s"
            " WHERE id = (SELECT unit_id FROM agent) AND status = %s"
            " AND worker_id = (SELECT worker_id FROM agent))"
            " SELECT run_id, unit_id FROM agent",
            agent_params + unit_params,
        )
        return (row[0], row[1]) if row is not None else None
    with transaction.atomic(), prepared_cursor() as cursor:
        cursor.execute(update_agent, agent_params)
        row = cursor.fetchone()
        if row is None:
            return None
        run_id, unit_id, worker_id = row
        cursor.execute(
            f"UPDATE {table(Unit)} SET status = %s, updated_at = %s"
            " WHERE id = %s AND status = %s AND worker_id = %s",
            [UnitStatus.COMPLETED, now, unit_id, UnitStatus.ASSIGNED, worker_id],
        )
    return run_id, unit_id


def live_agent_states(agent_ids: list[int]) -> dict[int, tuple[str, bool, bool]]:
    """{agent id: (status, within its time, submitted)} of live agents."""
    marks = ", ".join(["%s"] * len(agent_ids))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, status, deadline_at > %s, submitted_at IS NOT NULL "
            f"FROM {table(Agent)} WHERE id IN ({marks})",
            [db_now(), *agent_ids],
        )
        return {row[0]: (row[1], bool(row[2]), bool(row[3])) for row in cursor}


def write_live_batch(
    answers: list[tuple[int, str | None, str, str]],
    calls: list[tuple[int, str, str, str, str, str, bool]],
) -> dict[tuple[int, str], int]:
    """Set the answers of live calls that ran (id, response JSON text, error,
    error_kind) and keep new calls (agent_id, request_id, target, args JSON
    text, error, error_kind, answered now) of agents that still work (live,
    within their time, not submitted), a call kept before left alone: one
    statement on PostgreSQL (a data-modifying WITH), one transaction of two on
    SQLite. {(agent_id, request_id): id} of the calls kept."""
    postgres = connection.vendor == "postgresql"
    now = db_now()
    update, update_params = (
        _answer_calls(answers, now, postgres) if answers else ("", [])
    )
    insert, insert_params = _keep_calls(calls, now, postgres) if calls else ("", [])
    if postgres and update and insert:
        statements = [
            (f"WITH answered AS ({update}) {insert}", [*update_params, *insert_params])
        ]
    else:
        statements = [
            (sql, p)
            for sql, p in ((update, update_params), (insert, insert_params))
            if sql
        ]
    kept: dict[tuple[int, str], int] = {}
    with (
        transaction.atomic() if not postgres else nullcontext(),
        connection.cursor() as cursor,
    ):
        for sql, params in statements:
            cursor.execute(sql, params)
            if "INSERT INTO" in sql:
                kept = {(row[1], row[2]): row[0] for row in cursor.fetchall()}
    return kept


def _answer_calls(
    answers: list[tuple[int, str | None, str, str]], now: Any, postgres: bool
) -> tuple[str, list[Any]]:
    calls = table(LiveCall)
    params: list[Any] = [now]
    for row in answers:
        params += list(row)
    if postgres:
        values = ", ".join(["(%s::bigint, %s::jsonb, %s, %s)"] * len(answers))
        return (
            f"UPDATE {calls} SET response = v.response, error = v.error, "
            "error_kind = v.kind, answered_at = %s "
            f"FROM (VALUES {values}) AS v(id, response, error, kind) "
            f"WHERE {calls}.id = v.id RETURNING {calls}.id",
            params,
        )
    values = ", ".join(["(%s, %s, %s, %s)"] * len(answers))
    return (
        f"UPDATE {calls} SET response = v.column2, error = v.column3, "
        "error_kind = v.column4, answered_at = %s "
        f"FROM (VALUES {values}) AS v WHERE {calls}.id = v.column1",
        params,
    )


def _keep_calls(
    rows: list[tuple[int, str, str, str, str, str, bool]], now: Any, postgres: bool
) -> tuple[str, list[Any]]:
    live = ", ".join(f"'{status.value}'" for status in AGENT_LIVE_STATUSES)
    if postgres:
        values = ", ".join(
            ["(%s::bigint, %s, %s, %s::jsonb, %s, %s, %s::boolean)"] * len(rows)
        )
        source = (
            f"(VALUES {values}) AS v(agent_id, request_id, target, args, error, "
            "kind, answered)"
        )
        columns = "v.agent_id, v.request_id, v.target, v.args, v.error, v.kind"
        answered, agent = "v.answered", "v.agent_id"
    else:
        values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s)"] * len(rows))
        source = f"(VALUES {values}) AS v"
        columns = "v.column1, v.column2, v.column3, v.column4, v.column5, v.column6"
        answered, agent = "v.column7", "v.column1"
    params: list[Any] = [now, now]
    for row in rows:
        params += list(row)
    params.append(now)
    return (
        f"INSERT INTO {table(LiveCall)} (agent_id, request_id, target, args, "
        "error, error_kind, requested_at, answered_at) "
        f"SELECT {columns}, %s, CASE WHEN {answered} THEN %s END FROM {source} "
        f"JOIN {table(Agent)} a ON a.id = {agent} WHERE a.status IN ({live}) "
        "AND a.deadline_at > %s AND a.submitted_at IS NULL "
        "ON CONFLICT (agent_id, request_id) DO NOTHING "
        "RETURNING id, agent_id, request_id",
        params,
    )
