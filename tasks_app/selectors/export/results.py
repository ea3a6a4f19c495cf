"""Which runs and units to export, and the export streamed as JSONL or CSV."""

from __future__ import annotations

import csv
import difflib
from collections.abc import Iterable, Iterator
from typing import Any

from django.db import connection

from crowdsite import csv_safety
from tasks_app.models import Task, TaskRun, UnitStatus
from tasks_app.selectors.export import rows, sql
from tasks_app.selectors.live import LIVE_BLUEPRINT

FORMATS = ("jsonl", "csv")
CONTENT_TYPES = {
    "jsonl": "application/x-ndjson; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
}
# Rows fetched from the database at a time, and written out as one piece.
CHUNK_SIZE = 2000
STATUSES = tuple(UnitStatus.values)
# The CSV's first columns; its Input.<field> and Answer.<field> columns follow.
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
    "agent_id",
    "provider_unit_id",
    "provider_assignment_id",
    "reward",
    "decided_at",
    "metadata",
)
# The column after CSV_COLUMNS when quality units are exported: "screening",
# "gold", or empty for a data unit.
QUALITY_COLUMN = "quality"
# A live task's CSV: the calls its pages made, as JSON, after the fixed columns.
LIVE_CALLS_COLUMN = "live_calls"
# The CSV's last columns, always empty: filled in by a reviewer working offline
# (MTurk's batch-results way) and read back by `review_run --from-csv`.
OFFLINE_REVIEW_COLUMNS = ("Approve", "Reject")
# What tells a spreadsheet that a CSV is UTF-8 (Excel and LibreOffice read it as
# their locale's code page without it, garbling anything not ASCII).
BOM = "\ufeff"


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


def check_format(format: str, *, bom: bool = False) -> None:
    """Refuse an unknown format, and a byte-order mark on anything but CSV."""
    if format not in FORMATS:
        raise ExportError(
            f"{format!r} is not an export format; valid: {', '.join(FORMATS)}"
        )
    if bom and format != "csv":
        raise ExportError(
            "a byte-order mark is written only before CSV, for spreadsheets; "
            f"a {format} export has none"
        )


class ResultsExport:
    """The results of runs `run_ids` (their units of `statuses`, or all), streamed.

    Screening and gold units are not data: they are left out unless
    `include_quality_units`, and then every row says which it is (`quality`:
    "screening", "gold" or null; a CSV column of that name).

    `chunks(format)` yields the export as text, a chunk of rows at a time;
    `rows` counts the units written so far.
    """

    def __init__(
        self,
        *,
        run_ids: Iterable[int],
        statuses: Iterable[str] = (),
        include_quality_units: bool = False,
    ):
        self.run_ids = tuple(run_ids)
        self.statuses = tuple(statuses)
        self.include_quality_units = include_quality_units
        # A live task's rows also carry the calls its pages made.
        self.live = TaskRun.objects.filter(
            pk__in=self.run_ids, blueprint_type=LIVE_BLUEPRINT
        ).exists()
        self.rows = 0

    def chunks(self, format: str, *, bom: bool = False) -> Iterator[str]:
        """The export as text; with `bom` (CSV only) a byte-order mark first."""
        check_format(format, bom=bom)
        if bom:
            yield BOM
        with sql.snapshot():
            yield from self._jsonl() if format == "jsonl" else self._csv()

    def _jsonl(self) -> Iterator[str]:
        line = (
            rows.jsonl_line_with_quality
            if self.include_quality_units
            else rows.jsonl_line
        )
        for chunk in self._fetch():
            self.rows += len(chunk)
            if self.live:
                yield "".join([rows.with_live_calls(line(row), row) for row in chunk])
            else:
                yield "".join([line(row) for row in chunk])

    def _csv(self) -> Iterator[str]:
        input_keys, answer_keys = self._keys()
        quality = self.include_quality_units
        header = [
            *CSV_COLUMNS,
            *([QUALITY_COLUMN] if quality else []),
            *([LIVE_CALLS_COLUMN] if self.live else []),
            *(f"Input.{key}" if key is not None else "Input" for key in input_keys),
            *(f"Answer.{key}" if key is not None else "Answer" for key in answer_keys),
            *OFFLINE_REVIEW_COLUMNS,
        ]
        out = rows.Lines()
        csv_safety.writer(out).writerow(header)
        yield out.take()
        # csv_cells escapes the cells that need it.
        writer = csv.writer(out)
        for chunk in self._fetch():
            self.rows += len(chunk)
            writer.writerows(
                [
                    rows.csv_cells(
                        row, input_keys, answer_keys, quality=quality, live=self.live
                    )
                    for row in chunk
                ]
            )
            yield out.take()

    def rows_sql(self) -> tuple[str, list[Any]]:
        """The SELECT of the exported rows, one per submission (or per unit
        without one), and its parameters."""
        where, params = self._where()
        return (
            sql.exported_rows(len(self.run_ids), where, live=self.live),
            [*self.run_ids, *params],
        )

    def _fetch(self) -> Iterator[list[tuple]]:
        query, params = self.rows_sql()
        # A server-side cursor on PostgreSQL; SQLite's steps through the rows.
        with connection.chunked_cursor() as cursor:
            cursor.execute(query, params)
            while chunk := cursor.fetchmany(CHUNK_SIZE):
                yield chunk

    def _keys(self) -> tuple[list[str | None], list[str | None]]:
        """The keys of the exported inputs and submissions (sorted); None stands
        for a value that is not a JSON object, which gets a column of its own."""
        where, params = self._where()
        with connection.cursor() as cursor:
            cursor.execute(sql.input_and_answer_keys(where), [*params, *params])
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
        if not self.include_quality_units:
            where += " AND u.unit_index >= 0"
        params: list[Any] = list(self.run_ids)
        if self.statuses:
            where += f" AND u.status IN ({', '.join(['%s'] * len(self.statuses))})"
            params += list(self.statuses)
        return where, params


def content_type(format: str) -> str:
    return CONTENT_TYPES[format]


def _key_order(key: str | None) -> tuple[int, str]:
    return (0, "") if key is None else (1, key)
