"""The export's SQL: the row columns, the agent exported for each unit, the JSON
keys of the CSV's header, and the snapshot all of its statements read in.

PostgreSQL and SQLite differ in their JSON and date functions; each helper
writes its term in the dialect of the connection.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, transaction

from qualifications_app.models import DECISION_ACTIONS, WorkerReview
from tasks_app.models import (
    Agent,
    Assignment,
    LiveCall,
    Payment,
    PaymentKind,
    PaymentState,
    Task,
    TaskRun,
    Unit,
    Worker,
)
from tasks_app.worker_sql import table


def _postgres() -> bool:
    return connection.vendor == "postgresql"


def _json_text(column: str) -> str:
    """`column` (a JSONField) as JSON text, to write into a JSONL row unparsed."""
    return f"{column}::text" if _postgres() else column


def _files(column: str) -> str:
    """The list under `column`'s "files" key, as JSON text (NULL if not a list)."""
    if _postgres():
        return (
            f"CASE WHEN jsonb_typeof({column} -> 'files') = 'array' "
            f"THEN ({column} -> 'files')::text END"
        )
    return (
        f"CASE WHEN json_type({column}, '$.files') = 'array' "
        f"THEN json_extract({column}, '$.files') END"
    )


def _without_files(column: str) -> str:
    """`column` (an agent's metadata) as JSON text, without its "files" key: the
    stored uploads are exported under `files` already."""
    if _postgres():
        return (
            f"CASE WHEN jsonb_typeof({column}) = 'object' "
            f"THEN ({column} - 'files')::text ELSE {column}::text END"
        )
    return (
        f"CASE WHEN json_type({column}) = 'object' "
        f"THEN json_remove({column}, '$.files') ELSE {column} END"
    )


def _decisions() -> str:
    return ", ".join(f"'{action.value}'" for action in DECISION_ACTIONS)


def _decision_in_force(alias: str) -> str:
    """The join condition of `alias`'s review being the agent's decision: one of
    the decisions, not overridden (a rejection undone by a later approval stays
    on record beside it)."""
    return f"{alias}.action IN ({_decisions()}) AND {alias}.overridden_at IS NULL"


def row_columns(*, live: bool = False) -> str:
    """The SELECT list of an exported row, in ExportRow's order; with `live`
    the agent's calls last (NULL otherwise)."""
    return ", ".join(
        [
            "u.id",
            "u.run_id",
            "t.task_name",
            "u.assignment_id",
            _json_text("a.data"),
            # The submission of an agent that submitted; NULL otherwise.
            f"CASE WHEN ag.submitted_at IS NOT NULL "
            f"THEN {_json_text('ag.submission')} END",
            f"CASE WHEN ag.submitted_at IS NOT NULL THEN {_files('ag.submission')} END",
            _files("ag.metadata"),
            "w.provider_type",
            "w.worker_name",
            "u.status",
            "rv.action",
            "rv.reason",
            # Bonuses not failed: paid, pending, or ambiguous (maybe paid).
            _dollars(
                f"(SELECT SUM(p.amount) FROM {table(Payment)} p "
                "WHERE p.agent_id = ag.id "
                f"AND p.kind = '{PaymentKind.BONUS.value}' "
                f"AND p.state <> '{PaymentState.FAILED.value}')"
            ),
            _iso("ag.created_at"),
            _iso("ag.submitted_at"),
            _seconds_between("ag.created_at", "ag.submitted_at"),
            "ag.is_late",
            "ag.id",
            # The mock provider keeps no ids of its own: "" there, NULL here.
            "NULLIF(u.provider_unit_id, '')",
            "NULLIF(ag.provider_assignment_id, '')",
            _dollars("u.pay_amount"),
            _iso("rv.created_at"),
            _without_files("ag.metadata"),
            # Negative for a screening or gold unit (selectors.quality).
            "u.unit_index",
            _live_calls("ag.id") if live else "NULL",
        ]
    )


def _live_calls(agent: str) -> str:
    """The calls kept with `agent` (a live task's), in order, as JSON text: a
    list of {request_id, target, args, response, error, error_kind,
    requested_at, answered_at}; NULL for a unit without an agent."""
    calls = table(LiveCall)
    if _postgres():
        record = (
            "json_build_object('request_id', c.request_id, 'target', c.target, "
            "'args', c.args, 'response', c.response, "
            "'error', NULLIF(c.error, ''), 'error_kind', NULLIF(c.error_kind, ''), "
            f"'requested_at', {_iso('c.requested_at')}, "
            f"'answered_at', {_iso('c.answered_at')})"
        )
        listed = (
            f"(SELECT COALESCE(json_agg({record} ORDER BY c.id)::text, '[]') "
            f"FROM {calls} c WHERE c.agent_id = {agent})"
        )
    else:
        record = (
            "json_object('request_id', c.request_id, 'target', c.target, "
            "'args', json(c.args), 'response', json(c.response), "
            "'error', NULLIF(c.error, ''), 'error_kind', NULLIF(c.error_kind, ''), "
            f"'requested_at', {_iso('c.requested_at')}, "
            f"'answered_at', CASE WHEN c.answered_at IS NOT NULL "
            f"THEN {_iso('c.answered_at')} END)"
        )
        listed = (
            f"(SELECT json_group_array({record}) FROM (SELECT * FROM {calls} "
            f"WHERE agent_id = {agent} ORDER BY id) c)"
        )
    return f"CASE WHEN {agent} IS NULL THEN NULL ELSE {listed} END"


# The database formats the timestamps, durations and amounts: converting them to
# Python objects only to write them out again was a third of the export's time.


def _iso(column: str) -> str:
    """`column` (a DateTimeField) as ISO 8601 text in UTC, to the microsecond."""
    if _postgres():
        return (
            f"to_char({column} AT TIME ZONE 'UTC', "
            """'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""
        )
    # Django keeps SQLite's datetimes as UTC text, 'YYYY-MM-DD HH:MM:SS[.ffffff]'.
    return f"replace(substr({column} || '.000000', 1, 26), ' ', 'T') || 'Z'"


def _seconds_between(start: str, end: str) -> str:
    """Seconds from `start` to `end`, to the millisecond (NULL if either is)."""
    if _postgres():
        return f"round(CAST(EXTRACT(EPOCH FROM {end} - {start}) AS numeric), 3)::float8"
    return f"round((julianday({end}) - julianday({start})) * 86400.0, 3)"


def _dollars(amount: str) -> str:
    """An amount or a sum of payments as dollars and cents ('0.50'), NULL if
    there were none."""
    if _postgres():
        return f"to_char({amount}, 'FM999999990.00')"
    # SQLite sums decimals as floats: printf rounds them back to cents.
    return f"CASE WHEN {amount} IS NULL THEN NULL ELSE printf('%%.2f', {amount}) END"


def exported_rows(runs: int, where: str, *, live: bool = False) -> str:
    """The SELECT of the exported rows of the units matching `where`; its first
    `runs` parameters are the run ids (the ranked agents'), then `where`'s."""
    return (
        f"SELECT {row_columns(live=live)} FROM {_units_with_agents(runs)} "
        f"LEFT JOIN {table(Worker)} w "
        "ON w.id = COALESCE(ag.worker_id, u.worker_id) "
        f"LEFT JOIN {table(WorkerReview)} rv ON rv.agent_id = ag.id "
        f"AND {_decision_in_force('rv')} "
        f"WHERE {where} ORDER BY u.run_id, u.id, picked.place"
    )


def _units_with_agents(runs: int) -> str:
    """Units with their assignment, run, task and exported agent (`ag`, or NULLs);
    its `runs` parameters are the run ids."""
    return (
        f"{table(Unit)} u "
        f"JOIN {table(Assignment)} a ON a.id = u.assignment_id "
        f"JOIN {table(TaskRun)} r ON r.id = u.run_id "
        f"JOIN {table(Task)} t ON t.id = r.task_id "
        f"LEFT JOIN {picked_agents(runs)} picked ON picked.unit_id = u.id "
        f"LEFT JOIN {table(Agent)} ag ON ag.id = picked.id"
    )


def picked_agents(runs: int) -> str:
    """(id, unit_id) of the agents exported for the units of the runs: every
    submission (a late one beside the holder's is a row of its own, marked
    late), or for a unit without one its holder's agent; its `runs` parameters
    are the run ids.

    The runs' agents are ranked per unit in one pass (a window): submitted
    first, then decided, the holder's, on time, latest; the first is exported,
    and every other one that submitted.
    """
    ranked = (
        "SELECT c.id, c.unit_id, ROW_NUMBER() OVER (PARTITION BY c.unit_id ORDER BY "
        "CASE WHEN c.submitted_at IS NULL THEN 1 ELSE 0 END, "
        "CASE WHEN d.id IS NULL THEN 1 ELSE 0 END, "
        "CASE WHEN c.worker_id = h.worker_id THEN 0 ELSE 1 END, "
        "c.is_late, c.id DESC) AS place, c.submitted_at "
        f"FROM {table(Agent)} c JOIN {table(Unit)} h ON h.id = c.unit_id "
        # One decision in force per agent at most
        # (workerreview_one_decision_per_agent).
        f"LEFT JOIN {table(WorkerReview)} d ON d.agent_id = c.id "
        f"AND {_decision_in_force('d')} "
        f"WHERE c.run_id IN ({', '.join(['%s'] * runs)}) "
        "AND (c.submitted_at IS NOT NULL OR c.worker_id = h.worker_id)"
    )
    return (
        f"(SELECT id, unit_id, place FROM ({ranked}) ranked "
        "WHERE place = 1 OR submitted_at IS NOT NULL)"
    )


def input_and_answer_keys(where: str) -> str:
    """Rows (side 'i' or 'o', is an object, key) of the keys of the exported
    inputs and submissions of the units matching `where`; its parameters are
    `where`'s, twice.

    Every submission of a unit is exported (picked_agents), so the answers'
    keys are those of all the units' submitted agents, read without ranking
    them: the ranking was half of this statement's time."""
    units = f"{table(Unit)} u JOIN {table(Assignment)} a ON a.id = u.assignment_id"
    agents = f"{table(Unit)} u JOIN {table(Agent)} ag ON ag.unit_id = u.id"
    submitted = f"{where} AND ag.submitted_at IS NOT NULL"
    return " UNION ".join(
        [
            _keys_of("i", "a.data", units, where),
            _keys_of("o", "ag.submission", agents, submitted),
        ]
    )


def _keys_of(side: str, column: str, source: str, where: str) -> str:
    """Rows ('side', is an object, key): the keys of `column`'s JSON objects, and
    (false, NULL) for a value that is not an object (JSON nulls left out)."""
    if _postgres():
        kind = f"jsonb_typeof({column})"
        keys = (
            f"LATERAL jsonb_object_keys(CASE WHEN {kind} = 'object' THEN {column} END)"
        )
        each = f"{keys} AS k(key) ON true"
    else:
        kind = f"json_type({column})"
        each = f"json_each(CASE WHEN {kind} = 'object' THEN {column} END) AS k"
    return (
        f"SELECT DISTINCT '{side}' AS side, {kind} = 'object' AS object, "
        f"k.key AS key FROM {source} LEFT JOIN {each} "
        f"WHERE {where} AND {kind} <> 'null'"
    )


@contextmanager
def snapshot() -> Iterator[None]:
    """One view of the database for all of the export's statements, without
    blocking anyone who writes meanwhile. (benchmarks/export.py measures its
    baseline in one too.)"""
    if connection.in_atomic_block:
        yield  # the caller's transaction
        return
    if _postgres():
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(
                    "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"
                )
                # The per-unit subqueries make the planner's estimates high
                # enough to JIT-compile the query, which costs more (~0.7 s)
                # than it saves on rows this simple; and plan the cursor for
                # all of its rows, as they are all read.
                cursor.execute("SET LOCAL jit = off")
                cursor.execute("SET LOCAL cursor_tuple_fraction = 1")
            # In a transaction the chunked cursor is a plain server-side one that
            # streams; outside one it would be WITH HOLD, materialised at once.
            yield
        return
    # Django's atomic() would BEGIN IMMEDIATE (settings.py), taking SQLite's write
    # lock for the whole export; a deferred transaction that only reads is a
    # snapshot in WAL mode, and writers go on beside it.
    with connection.cursor() as cursor:
        cursor.execute("BEGIN DEFERRED")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("COMMIT")
