"""A run's results read for export, one row per unit, as JSONL or CSV (DESIGN §8).

`manage.py export_results` and the run's admin downloads stream what this module
yields. It only reads. Rows come from one SELECT that joins each unit to its
assignment, the agent whose submission it exports, that agent's worker, review
decision and bonuses, read through a chunked cursor (a server-side cursor on
PostgreSQL), so an export takes a fixed number of queries and constant memory
whatever the number of units. The CSV's `Input.` and `Answer.` columns are found
first by a query that reads only the JSON keys. Both statements run in one
snapshot, so the header always has a column for every key the rows hold.

The agent exported for a unit: of its agents that submitted, the one its review
decision is about, else its holder's (the worker the unit is assigned to), else
an on-time one, else the latest; a unit nobody submitted shows its holder's
agent, still working, or no agent at all (outputs null).
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from json.encoder import encode_basestring
from typing import Any, NamedTuple

from django.db import connection, transaction

from crowdsite import csv_safety
from qualifications_app.models import DECISION_ACTIONS, WorkerReview
from tasks_app.models import (
    Agent,
    Assignment,
    Payment,
    PaymentKind,
    PaymentState,
    Task,
    TaskRun,
    Unit,
    UnitStatus,
    Worker,
)
from tasks_app.uploads import is_file_record
from tasks_app.worker_sql import table

FORMATS = ("jsonl", "csv")
CONTENT_TYPES = {
    "jsonl": "application/x-ndjson; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
}
# Rows fetched from the database at a time, and written out as one piece.
CHUNK_SIZE = 2000
STATUSES = tuple(UnitStatus.values)
CSV_COLUMNS = (
    "unit_id",
    "task_run_id",
    "task_name",
    "assignment_id",
    "worker_provider",
    "worker_id",
    "status",
    "review_decision",
    "review_feedback",
    "bonus",
    "accepted_at",
    "submitted_at",
    "duration_s",
    "late",
)


class ExportError(Exception):
    """An export that can't be made (unknown run, bad filter), saying why."""


def find_runs(*, run_id: int | None = None, task_name: str | None = None) -> list[int]:
    """The ids of the runs to export: run `run_id`, or every run of `task_name`."""
    if run_id is not None:
        if not TaskRun.objects.filter(pk=run_id).exists():
            raise ExportError(f"there is no run {run_id}")
        return [run_id]
    if task_name is None:
        raise ExportError("name a run or a task name")
    runs = list(
        TaskRun.objects.filter(task__task_name=task_name)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if runs:
        return runs
    if Task.objects.filter(task_name=task_name).exists():
        raise ExportError(f"task {task_name!r} has no runs")
    names = Task.objects.values_list("task_name", flat=True)
    close = difflib.get_close_matches(task_name, list(names), n=3)
    hint = f"; did you mean {', '.join(repr(n) for n in close)}?" if close else ""
    raise ExportError(f"there is no task named {task_name!r}{hint}")


def parse_statuses(values: Iterable[str]) -> tuple[str, ...]:
    """Unit statuses from `values` (each one status or a comma-separated list)."""
    statuses: list[str] = []
    for value in values:
        for status in (part.strip() for part in value.split(",")):
            if not status:
                continue
            if status not in STATUSES:
                raise ExportError(
                    f"{status!r} is not a unit status; valid: {', '.join(STATUSES)}"
                )
            if status not in statuses:
                statuses.append(status)
    return tuple(statuses)


class ResultsExport:
    """The results of runs `run_ids` (their units of `statuses`, or all), streamed.

    `chunks(format)` yields the export as text, a chunk of rows at a time;
    `rows` counts the units written so far.
    """

    def __init__(self, *, run_ids: Iterable[int], statuses: Iterable[str] = ()):
        self.run_ids = tuple(run_ids)
        self.statuses = tuple(statuses)
        self.rows = 0

    def chunks(self, format: str) -> Iterator[str]:
        if format not in FORMATS:
            raise ExportError(
                f"{format!r} is not an export format; valid: {', '.join(FORMATS)}"
            )
        with snapshot():
            yield from self._jsonl() if format == "jsonl" else self._csv()

    def _jsonl(self) -> Iterator[str]:
        for chunk in self._fetch():
            self.rows += len(chunk)
            yield "".join([_jsonl_line(row) for row in chunk])

    def _csv(self) -> Iterator[str]:
        input_keys, answer_keys = self._keys()
        header = [
            *CSV_COLUMNS,
            *(f"Input.{key}" if key is not None else "Input" for key in input_keys),
            *(f"Answer.{key}" if key is not None else "Answer" for key in answer_keys),
        ]
        out = _Lines()
        writer = csv_safety.writer(out)
        writer.writerow(header)
        yield out.take()
        for chunk in self._fetch():
            self.rows += len(chunk)
            for row in chunk:
                writer.writerow(_csv_cells(row, input_keys, answer_keys))
            yield out.take()

    def rows_sql(self) -> tuple[str, list[Any]]:
        """The SELECT of the exported rows, one per submission (or per unit
        without one), and its parameters."""
        where, params = self._where()
        sql = (
            f"SELECT {_row_columns()} FROM {_units_with_agents(len(self.run_ids))} "
            f"LEFT JOIN {table(Worker)} w "
            "ON w.id = COALESCE(ag.worker_id, u.worker_id) "
            f"LEFT JOIN {table(WorkerReview)} rv ON rv.agent_id = ag.id "
            f"AND rv.action IN ({_decisions()}) "
            f"WHERE {where} ORDER BY u.run_id, u.id, picked.place"
        )
        return sql, [*self.run_ids, *params]

    def _fetch(self) -> Iterator[list[tuple]]:
        sql, params = self.rows_sql()
        # A server-side cursor on PostgreSQL; SQLite's steps through the rows.
        with connection.chunked_cursor() as cursor:
            cursor.execute(sql, params)
            while chunk := cursor.fetchmany(CHUNK_SIZE):
                yield chunk

    def _keys(self) -> tuple[list[str | None], list[str | None]]:
        """The keys of the exported inputs and submissions (sorted); None stands
        for a value that is not a JSON object, which gets a column of its own."""
        where, params = self._where()
        units = f"{table(Unit)} u JOIN {table(Assignment)} a ON a.id = u.assignment_id"
        agents = (
            f"{table(Unit)} u JOIN {_picked_agents(len(self.run_ids))} picked "
            f"ON picked.unit_id = u.id JOIN {table(Agent)} ag ON ag.id = picked.id"
        )
        submitted = f"{where} AND ag.submitted_at IS NOT NULL"
        agent_params = [*self.run_ids, *params]
        parts = [
            _keys_of("i", "a.data", units, where),
            _keys_of("o", "ag.submission", agents, submitted),
        ]
        with connection.cursor() as cursor:
            cursor.execute(" UNION ".join(parts), [*params, *agent_params])
            found = cursor.fetchall()
        # (True, None) is an empty object: no key, no column.
        keys: dict[str, set[str | None]] = {"i": set(), "o": set()}
        for side, is_object, key in found:
            if not is_object or key is not None:
                keys[side].add(key if is_object else None)
        inputs = sorted(keys["i"], key=_key_order)
        answers = sorted(keys["o"], key=_key_order)
        return inputs, answers

    def _where(self) -> tuple[str, list[Any]]:
        where = f"u.run_id IN ({', '.join(['%s'] * len(self.run_ids))})"
        params: list[Any] = list(self.run_ids)
        if self.statuses:
            where += f" AND u.status IN ({', '.join(['%s'] * len(self.statuses))})"
            params += list(self.statuses)
        return where, params


def content_type(format: str) -> str:
    return CONTENT_TYPES[format]


# --- SQL --------------------------------------------------------------------------


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


def _decisions() -> str:
    return ", ".join(f"'{action.value}'" for action in DECISION_ACTIONS)


def _row_columns() -> str:
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
        ]
    )


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
    """A sum of payments as dollars and cents ('0.50'), NULL if there were none."""
    if _postgres():
        return f"to_char({amount}, 'FM999999990.00')"
    # SQLite sums decimals as floats: printf rounds them back to cents.
    return f"CASE WHEN {amount} IS NULL THEN NULL ELSE printf('%%.2f', {amount}) END"


def _units_with_agents(runs: int) -> str:
    """Units with their assignment, run, task and exported agent (`ag`, or NULLs);
    its `runs` parameters are the run ids."""
    return (
        f"{table(Unit)} u "
        f"JOIN {table(Assignment)} a ON a.id = u.assignment_id "
        f"JOIN {table(TaskRun)} r ON r.id = u.run_id "
        f"JOIN {table(Task)} t ON t.id = r.task_id "
        f"LEFT JOIN {_picked_agents(runs)} picked ON picked.unit_id = u.id "
        f"LEFT JOIN {table(Agent)} ag ON ag.id = picked.id"
    )


def _picked_agents(runs: int) -> str:
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
        # One decision per agent at most (workerreview_one_decision_per_agent).
        f"LEFT JOIN {table(WorkerReview)} d ON d.agent_id = c.id "
        f"AND d.action IN ({_decisions()}) "
        f"WHERE c.run_id IN ({', '.join(['%s'] * runs)}) "
        "AND (c.submitted_at IS NOT NULL OR c.worker_id = h.worker_id)"
    )
    return (
        f"(SELECT id, unit_id, place FROM ({ranked}) ranked "
        "WHERE place = 1 OR submitted_at IS NOT NULL)"
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


def _key_order(key: str | None) -> tuple[int, str]:
    return (0, "") if key is None else (1, key)


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


# --- formatting -------------------------------------------------------------------


class ExportRow(NamedTuple):
    """One row of the export's SELECT, in its column order."""

    unit_id: int
    run_id: int
    task_name: str
    assignment_id: int
    inputs: str | None  # JSON text, as the database holds it
    outputs: str | None
    submission_files: str | None  # JSON text of a list, or NULL
    metadata_files: str | None
    provider: str | None
    worker_name: str | None
    status: str
    decision: str | None
    feedback: str | None
    bonus: str | None
    accepted_at: str | None
    submitted_at: str | None
    duration: float | None
    late: bool | None


_encode = json.JSONEncoder(ensure_ascii=False).encode
# A JSON string of `text` (non-ASCII kept), in C.
_string = encode_basestring


# What str.splitlines() breaks a line at (and so do JSONL readers built on it)
# besides the controls below U+0020, which JSON always escapes: PostgreSQL's
# jsonb::text and encoders with ensure_ascii=False write these raw. In JSON text
# they can only be inside strings, where their escapes mean the same.
_LINE_BREAK_ESCAPES = {0x2028: "\\u2028", 0x2029: "\\u2029", 0x85: "\\u0085"}


def _text(value: str | None) -> str:
    return "null" if value is None else _string(value)


def _jsonl_line(raw: tuple) -> str:
    """One unit as a JSONL line, one line to str.splitlines() too. The inputs and
    outputs are the database's own JSON text, written unparsed: parsing and
    re-encoding them would be most of the export's time."""
    row = ExportRow._make(raw)
    worker = (
        "null"
        if row.provider is None
        else f'{{"provider": {_string(row.provider)}, "id": {_text(row.worker_name)}}}'
    )
    files = _file_records(row)
    duration = "null" if row.duration is None else repr(row.duration)
    line = (
        f'{{"unit_id": {row.unit_id}, "task_run_id": {row.run_id}, '
        f'"task_name": {_string(row.task_name)}, '
        f'"assignment_id": {row.assignment_id}, '
        f'"inputs": {row.inputs or "null"}, "outputs": {row.outputs or "null"}, '
        f'"files": {_encode(files) if files else "[]"}, "worker": {worker}, '
        f'"status": {_string(row.status)}, '
        f'"review": {{"decision": {_text(row.decision)}, '
        f'"feedback": {_text(_feedback(row.decision, row.feedback))}, '
        f'"bonus": {_text(row.bonus)}}}, '
        f'"timings": {{"accepted_at": {_text(row.accepted_at)}, '
        f'"submitted_at": {_text(row.submitted_at)}, '
        f'"duration_s": {duration}}}, '
        f'"late": {_late(row.accepted_at, row.late)}}}\n'
    )
    # Substring tests, not a regex search: about 0.05 µs a line against 2.6 µs.
    if "\u2028" in line or "\u2029" in line or "\x85" in line:
        line = line.translate(_LINE_BREAK_ESCAPES)
    return line


def _csv_cells(
    raw: tuple, input_keys: list[str | None], answer_keys: list[str | None]
) -> list[Any]:
    row = ExportRow._make(raw)
    cells = [
        row.unit_id,
        row.run_id,
        row.task_name,
        row.assignment_id,
        row.provider,
        row.worker_name,
        row.status,
        row.decision,
        _feedback(row.decision, row.feedback),
        row.bonus,
        row.accepted_at,
        row.submitted_at,
        row.duration,
        None if row.accepted_at is None else _late(row.accepted_at, row.late),
    ]
    cells += _fields(row.inputs, input_keys)
    cells += _fields(row.outputs, answer_keys)
    return cells


def _fields(text: str | None, keys: list[str | None]) -> list[Any]:
    """The cells of `keys` (None: the whole value, if it is not an object)."""
    if not keys:
        return []
    value = json.loads(text) if text is not None else None
    if isinstance(value, dict):
        return [None if key is None else _cell(value.get(key)) for key in keys]
    return [_cell(value) if key is None else None for key in keys]


def _cell(value: Any) -> Any:
    """A JSON value as a CSV cell: text as it is, anything else JSON-encoded."""
    if value is None or isinstance(value, str):
        return value
    return _encode(value)


def _file_records(row: ExportRow) -> list[dict[str, Any]]:
    """The stored files of the submission, then of the metadata (as the review
    pages list them)."""
    records = []
    for text in (row.submission_files, row.metadata_files):
        if text is not None:
            records += [entry for entry in json.loads(text) if is_file_record(entry)]
    return records


def _feedback(decision: str | None, reason: str | None) -> str | None:
    return None if decision is None else reason or ""


def _late(accepted_at: str | None, late: bool | None) -> str:
    """The agent's late flag in JSON; null when there is no agent."""
    if accepted_at is None:
        return "null"
    return "true" if late else "false"


class _Lines:
    """What csv.writer writes, kept until taken (a chunk of rows at a time)."""

    def __init__(self) -> None:
        self._parts: list[str] = []

    def write(self, text: str) -> None:
        self._parts.append(text)

    def take(self) -> str:
        text = "".join(self._parts)
        self._parts.clear()
        return text
