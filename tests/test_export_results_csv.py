"""`manage.py export_results --format csv`: the fixed columns then the input and
answer fields, and cells a spreadsheet would run as formulas escaped."""

from __future__ import annotations

import csv
import io

import pytest

from tasks_app import services
from tasks_app.selectors.export import CSV_COLUMNS
from tests.export_calls import export, iso, submitted
from tests.export_calls import run_fixture as run_fixture
from tests.factories import TaskRunFactory, WorkerFactory

pytestmark = pytest.mark.django_db


def csv_rows(*args: str) -> tuple[list[str], list[dict[str, str]]]:
    rows = list(csv.reader(io.StringIO(export("--format", "csv", *args), newline="")))
    return rows[0], [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


# --- CSV --------------------------------------------------------------------------


def test_csv_has_the_fixed_columns_then_input_and_answer_fields(run):
    agent = submitted(
        run,
        "alice",
        {"rating": 4, "tags": ["a", "b"], "ok": True},
        inputs={"text": "Hi", "id": 7},
    )
    other = submitted(run, "bob", {"comment": "fine"}, inputs={"text": "Yo"})
    services.approve_unit(unit_id=agent.unit_id)

    header, rows = csv_rows("--run", str(run.pk))

    assert header == [
        *CSV_COLUMNS,
        "Input.id",
        "Input.text",
        "Answer.comment",
        "Answer.ok",
        "Answer.rating",
        "Answer.tags",
    ]
    assert rows[0] == {
        "unit_id": str(agent.unit_id),
        "task_run_id": str(run.pk),
        "task_name": "rate-pilot-1",
        "assignment_id": str(agent.unit.assignment_id),
        "worker_provider": "mock",
        "worker_id": "alice",
        "status": "accepted",
        "review_decision": "approve",
        "review_feedback": "",
        "bonus": "",
        "accepted_at": iso(agent.created_at),
        "submitted_at": iso(agent.submitted_at),
        "duration_s": "42.5",
        "late": "false",
        "Input.id": "7",
        "Input.text": "Hi",
        "Answer.comment": "",
        "Answer.ok": "true",
        "Answer.rating": "4",
        "Answer.tags": '["a", "b"]',
    }
    assert (rows[1]["unit_id"], rows[1]["Answer.comment"]) == (
        str(other.unit_id),
        "fine",
    )
    assert rows[1]["Answer.rating"] == ""


def test_csv_of_a_unit_nobody_submitted_has_its_inputs_and_empty_answers():
    run = TaskRunFactory(units=1)

    header, [row] = csv_rows("--run", str(run.pk))

    assert header == [*CSV_COLUMNS, "Input.text"]
    assert row["Input.text"] == "row 0"
    assert (row["worker_id"], row["late"], row["accepted_at"]) == ("", "", "")


def test_csv_cells_that_a_spreadsheet_would_run_as_formulas_are_escaped(run):
    agent = submitted(
        run,
        WorkerFactory(worker_name="@evil"),
        {"answer": '=HYPERLINK("http://x")', "=cmd": "+1"},
        inputs={"text": "-2+3"},
    )
    services.reject_unit(unit_id=agent.unit_id, feedback="=1+1 is not an answer")

    header, [row] = csv_rows("--run", str(run.pk))

    assert header[-3:] == ["Input.text", "Answer.=cmd", "Answer.answer"]
    assert row["worker_id"] == "'@evil"
    assert row["review_feedback"] == "'=1+1 is not an answer"
    assert row["Input.text"] == "'-2+3"
    assert row["Answer.answer"] == '\'=HYPERLINK("http://x")'
    assert row["Answer.=cmd"] == "'+1"


def test_csv_cells_with_a_formula_behind_whitespace_or_in_full_width_are_escaped(run):
    submitted(
        run,
        WorkerFactory(worker_name=" @evil"),
        {
            "link": '\n=HYPERLINK("http://x")',
            "sum": "\uff1d1+1",  # full-width equals
            "note": " fine",
        },
        inputs={"text": "\r\n-2+3"},
    )

    _, [row] = csv_rows("--run", str(run.pk))

    assert row["worker_id"] == "' @evil"
    assert row["Input.text"] == "'\r\n-2+3"
    assert row["Answer.link"] == '\'\n=HYPERLINK("http://x")'
    assert row["Answer.sum"] == "'\uff1d1+1"
    assert row["Answer.note"] == " fine"


def test_csv_gives_a_submission_that_is_not_an_object_a_column_of_its_own(run):
    submitted(run, "alice", ["first", "second"])
    submitted(run, "bob", {"rating": "good"})

    header, rows = csv_rows("--run", str(run.pk))

    assert header[len(CSV_COLUMNS) :] == ["Input.text", "Answer", "Answer.rating"]
    assert [(r["Answer"], r["Answer.rating"]) for r in rows] == [
        ('["first", "second"]', ""),
        ("", "good"),
    ]


def test_csv_header_counts_only_the_units_the_status_filter_keeps(run):
    accepted = submitted(run, "alice", {"rating": "good"})
    services.approve_unit(unit_id=accepted.unit_id)
    submitted(run, "bob", {"comment": "left out"}, inputs={"other": "x"})

    header, rows = csv_rows("--run", str(run.pk), "--status", "accepted")

    assert header[len(CSV_COLUMNS) :] == ["Input.text", "Answer.rating"]
    assert len(rows) == 1
