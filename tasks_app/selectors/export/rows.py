"""One row of the export's SELECT written as a JSONL line or as CSV cells."""

from __future__ import annotations

import json
from json.encoder import encode_basestring
from typing import Any, NamedTuple

from crowdsite.csv_safety import escape_formula, is_number
from tasks_app.selectors.quality import QUALITY_UNIT_KINDS
from tasks_app.uploads import is_file_record


class ExportRow(NamedTuple):
    """One row of the export's SELECT, in its column order (sql.row_columns)."""

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
    agent_id: int | None
    provider_unit_id: str | None
    provider_assignment_id: str | None
    reward: str
    decided_at: str | None
    metadata: str | None  # JSON text, without the "files" key
    unit_index: int  # < 0: a screening or gold unit
    live_calls: str | None  # JSON text of a live task's calls, else NULL


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


def jsonl_line(raw: tuple) -> str:
    """One unit as a JSONL line, one line to str.splitlines() too. The inputs,
    outputs and metadata are the database's own JSON text, written unparsed:
    parsing and re-encoding them would be most of the export's time."""
    row = ExportRow._make(raw)
    worker = (
        "null"
        if row.provider is None
        else f'{{"provider": {_string(row.provider)}, "id": {_text(row.worker_name)}}}'
    )
    files = _file_records(row)
    duration = "null" if row.duration is None else repr(row.duration)
    agent_id = "null" if row.agent_id is None else str(row.agent_id)
    line = (
        f'{{"unit_id": {row.unit_id}, "task_run_id": {row.run_id}, '
        f'"task_name": {_string(row.task_name)}, '
        f'"assignment_id": {row.assignment_id}, '
        f'"inputs": {row.inputs or "null"}, "outputs": {row.outputs or "null"}, '
        f'"files": {_encode(files) if files else "[]"}, "worker": {worker}, '
        f'"status": {_string(row.status)}, '
        f'"review": {{"decision": {_text(row.decision)}, '
        f'"feedback": {_text(_feedback(row.decision, row.feedback))}, '
        f'"bonus": {_text(row.bonus)}, '
        f'"decided_at": {_text(row.decided_at)}}}, '
        f'"timings": {{"accepted_at": {_text(row.accepted_at)}, '
        f'"submitted_at": {_text(row.submitted_at)}, '
        f'"duration_s": {duration}}}, '
        f'"late": {_late(row.accepted_at, row.late)}, '
        f'"agent_id": {agent_id}, '
        f'"provider_unit_id": {_text(row.provider_unit_id)}, '
        f'"provider_assignment_id": {_text(row.provider_assignment_id)}, '
        f'"reward": {_string(row.reward)}, '
        f'"metadata": {row.metadata or "null"}}}\n'
    )
    # Substring tests, not a regex search: about 0.05 µs a line against 2.6 µs.
    if "\u2028" in line or "\u2029" in line or "\x85" in line:
        line = line.translate(_LINE_BREAK_ESCAPES)
    return line


def with_live_calls(line: str, raw: tuple) -> str:
    """`line` with a last key, `live_calls`: the calls the agent's page made to
    the task's functions, in order (a live task's rows only)."""
    calls = ExportRow._make(raw).live_calls
    calls = "null" if calls is None else calls
    if "\u2028" in calls or "\u2029" in calls or "\x85" in calls:
        calls = calls.translate(_LINE_BREAK_ESCAPES)
    return f'{line[:-2]}, "live_calls": {calls}}}\n'


def jsonl_line_with_quality(raw: tuple) -> str:
    """jsonl_line's line with a last key, `quality`: "screening" or "gold" for
    a quality unit, null for a data unit."""
    line = jsonl_line(raw)
    kind = quality_kind(ExportRow._make(raw).unit_index)
    return f'{line[:-2]}, "quality": {_text(kind)}}}\n'


def quality_kind(unit_index: int) -> str | None:
    """ "screening" or "gold" for a quality unit's index, None for a data unit."""
    return QUALITY_UNIT_KINDS.get(unit_index) if unit_index < 0 else None


def csv_cells(
    raw: tuple,
    input_keys: list[str | None],
    answer_keys: list[str | None],
    *,
    quality: bool = False,
    live: bool = False,
) -> list[Any]:
    """One unit's cells, escaped, for a plain csv.writer: results.CSV_COLUMNS,
    with `quality` a `quality` cell (quality_kind), with `live` a `live_calls`
    cell (the calls as JSON), its input and answer fields,
    and the empty Approve and Reject (results.OFFLINE_REVIEW_COLUMNS).

    Only the text that comes from outside (task and worker names, feedback,
    the provider's ids, metadata, inputs and answers) goes through
    escape_formula, the CSV's largest cost per cell: the other cells are
    crowdsite's own ids, statuses and the database's formatting of times and
    amounts, which never start a formula."""
    row = ExportRow._make(raw)
    cells = [
        row.unit_id,
        row.run_id,
        escape_formula(row.task_name),
        row.assignment_id,
        row.provider,
        escape_formula(row.worker_name),
        row.status,
        row.decision,
        escape_formula(_feedback(row.decision, row.feedback)),
        row.bonus,
        row.accepted_at,
        row.submitted_at,
        row.duration,
        None if row.accepted_at is None else _late(row.accepted_at, row.late),
        row.agent_id,
        escape_formula(row.provider_unit_id),
        escape_formula(row.provider_assignment_id),
        row.reward,
        row.decided_at,
        # Re-encoded, so the cell reads the same whichever database wrote it.
        None
        if row.metadata is None
        else escape_formula(_encode(json.loads(row.metadata))),
    ]
    if quality:
        cells.append(quality_kind(row.unit_index))
    if live:
        cells.append(
            None
            if row.live_calls is None
            else escape_formula(_encode(json.loads(row.live_calls)))
        )
    cells += _fields(row.inputs, input_keys)
    cells += _fields(row.outputs, answer_keys)
    cells += [None, None]
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
    """A JSON value as an escaped CSV cell: a number as it is, text escaped,
    anything else JSON-encoded (and escaped: `-Infinity` is text)."""
    if value is None or is_number(value):
        return value
    return escape_formula(value if isinstance(value, str) else _encode(value))


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


class Lines:
    """What csv.writer writes, kept until taken (a chunk of rows at a time)."""

    def __init__(self) -> None:
        self._parts: list[str] = []

    def write(self, text: str) -> None:
        self._parts.append(text)

    def take(self) -> str:
        text = "".join(self._parts)
        self._parts.clear()
        return text
