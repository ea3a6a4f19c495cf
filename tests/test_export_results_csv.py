"""`manage.py export_results --format csv`: the fixed columns, the input and answer
fields, the empty Approve and Reject; text a spreadsheet would run as a formula
escaped, numbers written as numbers."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest

from tasks_app import services
from tasks_app.selectors.export import CSV_COLUMNS, OFFLINE_REVIEW_COLUMNS
from tests.export_calls import export, iso, submitted
from tests.export_calls import run_fixture as run_fixture
from tests.factories import TaskRunFactory, WorkerFactory

FIELDS_FROM = len(CSV_COLUMNS)

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
        "Approve",
        "Reject",
    ]
    review = agent.reviews.get()
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
        "agent_id": str(agent.pk),
        "provider_unit_id": "",
        "provider_assignment_id": "",
        "reward": "0.50",
        "decided_at": iso(review.created_at),
        "metadata": "",
        "Input.id": "7",
        "Input.text": "Hi",
        "Answer.comment": "",
        "Answer.ok": "true",
        "Answer.rating": "4",
        "Answer.tags": '["a", "b"]',
        "Approve": "",
        "Reject": "",
    }
    assert (rows[1]["unit_id"], rows[1]["Answer.comment"]) == (
        str(other.unit_id),
        "fine",
    )
    assert rows[1]["Answer.rating"] == ""


def test_csv_of_a_unit_nobody_submitted_has_its_inputs_and_empty_answers():
    run = TaskRunFactory(units=1)

    header, [row] = csv_rows("--run", str(run.pk))

    assert header == [*CSV_COLUMNS, "Input.text", *OFFLINE_REVIEW_COLUMNS]
    assert row["Input.text"] == "row 0"
    assert (row["worker_id"], row["late"], row["accepted_at"]) == ("", "", "")
    assert (row["agent_id"], row["reward"], row["decided_at"]) == ("", "0.05", "")


def test_csv_cells_that_a_spreadsheet_would_run_as_formulas_are_escaped(run):
    agent = submitted(
        run,
        WorkerFactory(worker_name="@evil"),
        {"answer": '=HYPERLINK("http://x")', "=cmd": "+1"},
        inputs={"text": "-2+3"},
    )
    services.reject_unit(unit_id=agent.unit_id, feedback="=1+1 is not an answer")

    header, [row] = csv_rows("--run", str(run.pk))

    assert header[FIELDS_FROM:-2] == ["Input.text", "Answer.=cmd", "Answer.answer"]
    assert row["worker_id"] == "'@evil"
    assert row["review_feedback"] == "'=1+1 is not an answer"
    assert row["Input.text"] == "'-2+3"
    assert row["Answer.answer"] == '\'=HYPERLINK("http://x")'
    assert row["Answer.=cmd"] == "'+1"


def test_csv_text_from_outside_in_the_fixed_columns_is_escaped_too():
    run = TaskRunFactory(task__task_name="+pilot")
    submitted(
        run,
        "alice",
        provider_unit_id='=HYPERLINK("http://x")',
        provider_assignment_id="@SUM(A1)",
    )

    _, [row] = csv_rows("--run", str(run.pk))

    assert row["task_name"] == "'+pilot"
    assert row["provider_unit_id"] == '\'=HYPERLINK("http://x")'
    assert row["provider_assignment_id"] == "'@SUM(A1)"


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

    assert header[FIELDS_FROM:-2] == ["Input.text", "Answer", "Answer.rating"]
    assert [(r["Answer"], r["Answer.rating"]) for r in rows] == [
        ('["first", "second"]', ""),
        ("", "good"),
    ]


def test_csv_header_counts_only_the_units_the_status_filter_keeps(run):
    accepted = submitted(run, "alice", {"rating": "good"})
    services.approve_unit(unit_id=accepted.unit_id)
    submitted(run, "bob", {"comment": "left out"}, inputs={"other": "x"})

    header, rows = csv_rows("--run", str(run.pk), "--status", "accepted")

    assert header[FIELDS_FROM:-2] == ["Input.text", "Answer.rating"]
    assert len(rows) == 1


# --- numbers ----------------------------------------------------------------------


def test_json_numbers_are_written_as_numbers_negative_ones_included(run):
    submitted(
        run,
        "alice",
        {"score": -3, "delta": -0.25, "count": 12, "nested": [-1, 2]},
        inputs={"id": -7, "text": "Hi"},
    )

    _, [row] = csv_rows("--run", str(run.pk))

    assert (row["Input.id"], row["Answer.score"]) == ("-7", "-3")
    assert (row["Answer.delta"], row["Answer.count"]) == ("-0.25", "12")
    assert row["Answer.nested"] == "[-1, 2]"


def test_text_that_looks_like_a_signed_number_is_still_escaped(run):
    submitted(run, "alice", {"score": "-3", "bonus": "+1"}, inputs={"id": "-7"})

    _, [row] = csv_rows("--run", str(run.pk))

    assert (row["Input.id"], row["Answer.score"]) == ("'-7", "'-3")
    assert row["Answer.bonus"] == "'+1"


def test_a_submission_that_is_a_negative_number_is_written_as_one(run):
    submitted(run, "alice", -3, inputs=-1.5)

    header, [row] = csv_rows("--run", str(run.pk))

    assert header[FIELDS_FROM:-2] == ["Input", "Answer"]
    assert (row["Input"], row["Answer"]) == ("-1.5", "-3")


def test_true_false_and_null_are_written_as_json_words(run):
    submitted(run, "alice", {"ok": False, "skip": None}, inputs={"gold": True})

    _, [row] = csv_rows("--run", str(run.pk))

    assert (row["Input.gold"], row["Answer.ok"], row["Answer.skip"]) == (
        "true",
        "false",
        "",
    )


def test_the_exports_own_numeric_columns_are_never_escaped(run):
    # A submission stamped before its agent's creation (clocks of two servers
    # that disagree) has a negative work time: still a number.
    agent = submitted(run, "alice", took=-timedelta(seconds=2))

    _, [row] = csv_rows("--run", str(run.pk))

    assert row["duration_s"] == "-2.0"
    assert (row["unit_id"], row["agent_id"]) == (str(agent.unit_id), str(agent.pk))


def test_csv_header_has_the_answer_keys_of_a_late_submission_too(run):
    holder = submitted(run, "alice", {"rating": "good"})
    submitted(run, "bob", {"late_note": "sorry"}, late=True, unit=holder.unit)

    header, rows = csv_rows("--run", str(run.pk))

    assert header[FIELDS_FROM:-2] == ["Input.text", "Answer.late_note", "Answer.rating"]
    assert [(r["Answer.rating"], r["Answer.late_note"]) for r in rows] == [
        ("good", ""),
        ("", "sorry"),
    ]
