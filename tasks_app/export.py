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
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

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
CENT = Decimal("0.01")


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
        with _snapshot():
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

    def _fetch(self) -> Iterator[list[tuple]]:
        where, params = self._where()
        sql = (
            f"SELECT {_row_columns()} FROM {_units_with_agents()} "
            f"LEFT JOIN {table(Worker)} w "
            "ON w.id = COALESCE(ag.worker_id, u.worker_id) "
            f"LEFT JOIN {table(WorkerReview)} rv ON rv.agent_id = ag.id "
            f"AND rv.action IN ({_decisions()}) "
            f"WHERE {where} ORDER BY u.run_id, u.id"
        )
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
        agents = _units_with_agents()
        submitted = f"{where} AND ag.submitted_at IS NOT NULL"
        parts = [
            _keys_of("i", "a.data", units, where),
            _other_values("i", "a.data", units, where),
            _keys_of("o", "ag.submission", agents, submitted),
            _other_values("o", "ag.submission", agents, submitted),
        ]
        with connection.cursor() as cursor:
            cursor.execute(" UNION ".join(parts), params * len(parts))
            found = cursor.fetchall()
        inputs = sorted({key for side, key in found if side == "i"}, key=_key_order)
        answers = sorted({key for side, key in found if side == "o"}, key=_key_order)
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
            f"(SELECT SUM(p.amount) FROM {table(Payment)} p WHERE p.agent_id = ag.id "
            f"AND p.kind = '{PaymentKind.BONUS.value}' "
            f"AND p.state <> '{PaymentState.FAILED.value}')",
            "ag.created_at",
            "ag.submitted_at",
            "ag.is_late",
        ]
    )


def _units_with_agents() -> str:
    """Units with their assignment, run, task and exported agent (`ag`, or NULLs).

    The agent is picked by a subquery per unit, on the agent's unit index:
    submitted first, then decided, the holder's, on time, latest. (Its ORDER BY
    names columns of a derived table: SQLite's ORDER BY can't see the outer row.)
    """
    agents, reviews = table(Agent), table(WorkerReview)
    return (
        f"{table(Unit)} u "
        f"JOIN {table(Assignment)} a ON a.id = u.assignment_id "
        f"JOIN {table(TaskRun)} r ON r.id = u.run_id "
        f"JOIN {table(Task)} t ON t.id = r.task_id "
        f"LEFT JOIN {agents} ag ON ag.id = (SELECT ranked.id FROM ("
        "SELECT c.id, "
        "CASE WHEN c.submitted_at IS NULL THEN 1 ELSE 0 END AS unsubmitted, "
        f"CASE WHEN EXISTS (SELECT 1 FROM {reviews} d WHERE d.agent_id = c.id "
        f"AND d.action IN ({_decisions()})) THEN 0 ELSE 1 END AS undecided, "
        "CASE WHEN c.worker_id = u.worker_id THEN 0 ELSE 1 END AS not_holders, "
        f"c.is_late FROM {agents} c WHERE c.unit_id = u.id "
        "AND (c.submitted_at IS NOT NULL OR c.worker_id = u.worker_id)"
        ") ranked "
        "ORDER BY unsubmitted, undecided, not_holders, is_late, id DESC LIMIT 1)"
    )


def _keys_of(side: str, column: str, source: str, where: str) -> str:
    """The keys of `column`'s JSON objects, as rows ('side', key)."""
    if _postgres():
        objects = (
            f"CASE WHEN jsonb_typeof({column}) = 'object' "
            f"THEN {column} ELSE '{{}}'::jsonb END"
        )
        return (
            f"SELECT '{side}' AS side, k.key AS key FROM {source} "
            f"CROSS JOIN LATERAL jsonb_object_keys({objects}) AS k(key) "
            f"WHERE {where}"
        )
    objects = f"CASE WHEN json_type({column}) = 'object' THEN {column} ELSE '{{}}' END"
    return (
        f"SELECT '{side}' AS side, k.key AS key FROM {source}, "
        f"json_each({objects}) AS k WHERE {where}"
    )


def _other_values(side: str, column: str, source: str, where: str) -> str:
    """One row ('side', NULL) if some `column` value is neither an object nor null."""
    kind = f"jsonb_typeof({column})" if _postgres() else f"json_type({column})"
    return (
        f"SELECT '{side}', NULL FROM {source} "
        f"WHERE {where} AND {kind} NOT IN ('object', 'null')"
    )


def _key_order(key: str | None) -> tuple[int, str]:
    return (0, "") if key is None else (1, key)


@contextmanager
def _snapshot() -> Iterator[None]:
    """One view of the database for all of the export's statements, without
    blocking anyone who writes meanwhile."""
    if connection.in_atomic_block:
        yield  # the caller's transaction
        return
    if _postgres():
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(
                    "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"
                )
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

_encode = json.JSONEncoder(ensure_ascii=False).encode


def _jsonl_line(row: tuple) -> str:
    """One unit as a JSONL line. The inputs and outputs are the database's own
    JSON text, written unparsed: parsing and re-encoding them would be most of
    the export's time."""
    (
        unit_id,
        run_id,
        task_name,
        assignment_id,
        inputs,
        outputs,
        _,
        _,
        provider,
        worker_name,
        status,
        decision,
        feedback,
        bonus,
        accepted,
        submitted,
        late,
    ) = row
    worker = (
        "null"
        if provider is None
        else f'{{"provider": {_encode(provider)}, "id": {_encode(worker_name)}}}'
    )
    accepted_at, submitted_at, duration = _timings(accepted, submitted)
    return (
        f'{{"unit_id": {unit_id}, "task_run_id": {run_id}, '
        f'"task_name": {_encode(task_name)}, "assignment_id": {assignment_id}, '
        f'"inputs": {inputs or "null"}, "outputs": {outputs or "null"}, '
        f'"files": {_encode(_file_records(row))}, "worker": {worker}, '
        f'"status": {_encode(status)}, '
        f'"review": {{"decision": {_encode(decision)}, '
        f'"feedback": {_encode(_feedback(decision, feedback))}, '
        f'"bonus": {_encode(_dollars(bonus))}}}, '
        f'"timings": {{"accepted_at": {_encode(accepted_at)}, '
        f'"submitted_at": {_encode(submitted_at)}, '
        f'"duration_s": {_encode(duration)}}}, '
        f'"late": {_encode(None if accepted is None else bool(late))}}}\n'
    )


def _csv_cells(
    row: tuple, input_keys: list[str | None], answer_keys: list[str | None]
) -> list[Any]:
    (
        unit_id,
        run_id,
        task_name,
        assignment_id,
        inputs,
        outputs,
        _,
        _,
        provider,
        worker_name,
        status,
        decision,
        feedback,
        bonus,
        accepted,
        submitted,
        late,
    ) = row
    accepted_at, submitted_at, duration = _timings(accepted, submitted)
    cells = [
        unit_id,
        run_id,
        task_name,
        assignment_id,
        provider,
        worker_name,
        status,
        decision,
        _feedback(decision, feedback),
        _dollars(bonus),
        accepted_at,
        submitted_at,
        duration,
        None if accepted is None else _cell(bool(late)),
    ]
    cells += _fields(inputs, input_keys)
    cells += _fields(outputs, answer_keys)
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


def _file_records(row: tuple) -> list[dict[str, Any]]:
    """The stored files of the submission, then of the metadata (as the review
    pages list them)."""
    records = []
    for text in (row[6], row[7]):
        if text is not None:
            records += [entry for entry in json.loads(text) if is_file_record(entry)]
    return records


def _feedback(decision: str | None, reason: str | None) -> str | None:
    return None if decision is None else reason or ""


def _dollars(amount: Any) -> str | None:
    """A sum of payments as dollars and cents ("0.50"); SQLite sums as floats."""
    if amount is None:
        return None
    return str(Decimal(str(amount)).quantize(CENT, ROUND_HALF_UP))


def _timings(
    accepted: datetime | None, submitted: datetime | None
) -> tuple[str | None, str | None, float | None]:
    duration = (
        round((submitted - accepted).total_seconds(), 3)
        if accepted is not None and submitted is not None
        else None
    )
    return _iso(accepted), _iso(submitted), duration


def _iso(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC ("2025-01-31T12:00:00.000000Z"). SQLite's are naive UTC."""
    if moment is None:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="microseconds") + "Z"


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
