"""Screening and gold units are not data: the export (command and admin download)
leaves them out unless asked, and marks each row's kind when they are in."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tasks_app.models import TaskRun, UnitStatus
from tasks_app.selectors.export import CSV_COLUMNS, ResultsExport
from tests.admin_calls import fast_passwords_fixture as fast_passwords_fixture
from tests.export_calls import export, submitted
from tests.factories import WorkerFactory
from tests.quality_units import gold_run, quality_unit, screening_run

pytestmark = pytest.mark.django_db


@pytest.fixture
def run() -> TaskRun:
    """A screening run: alice's data unit, bob's screening unit (its inputs have
    a field of their own), and a gold unit (as a run never has both, only to
    see both marks)."""
    task_run = screening_run(task__task_name="rate-pilot-1")
    submitted(task_run, "alice", {"rating": "good"}, inputs={"text": "Hi"})
    quality_unit(
        task_run,
        worker=WorkerFactory(worker_name="bob"),
        inputs={"text": "Known bad.", "screen_id": 1},
        submission={"rating": "bad", "why": "typo"},
    )
    quality_unit(task_run, "gold", worker=WorkerFactory(worker_name="carol"))
    return task_run


def jsonl(*args: str) -> list[dict]:
    return [json.loads(line) for line in export(*args).splitlines()]


def csv_rows(*args: str) -> tuple[list[str], list[dict[str, str]]]:
    rows = list(csv.reader(io.StringIO(export("--format", "csv", *args), newline="")))
    return rows[0], [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def test_the_export_leaves_quality_units_out_and_has_no_quality_key(run):
    rows = jsonl("--run", str(run.pk))

    assert [row["worker"]["id"] for row in rows] == ["alice"]
    assert "quality" not in rows[0]


def test_the_csv_leaves_quality_units_and_their_fields_out(run):
    header, rows = csv_rows("--run", str(run.pk))

    assert [row["worker_id"] for row in rows] == ["alice"]
    assert "quality" not in header
    assert "Input.screen_id" not in header and "Answer.why" not in header


def test_included_quality_units_are_marked_in_a_last_jsonl_key(run):
    rows = jsonl("--run", str(run.pk), "--include-quality-units")

    assert [(row["worker"]["id"], row["quality"]) for row in rows] == [
        ("alice", None),
        ("bob", "screening"),
        ("carol", "gold"),
    ]
    assert list(rows[1])[-1] == "quality"
    assert rows[1]["inputs"] == {"text": "Known bad.", "screen_id": 1}
    assert rows[1]["outputs"] == {"rating": "bad", "why": "typo"}


def test_included_quality_units_are_marked_in_a_csv_column_after_metadata(run):
    header, rows = csv_rows("--run", str(run.pk), "--include-quality-units")

    assert header[: len(CSV_COLUMNS) + 1] == [*CSV_COLUMNS, "quality"]
    assert [(row["worker_id"], row["quality"]) for row in rows] == [
        ("alice", ""),
        ("bob", "screening"),
        ("carol", "gold"),
    ]
    assert rows[1]["Input.screen_id"] == "1" and rows[1]["Answer.why"] == "typo"


def test_the_status_filter_applies_to_included_quality_units(run):
    quality_unit(run, "gold", status=UnitStatus.LAUNCHED)

    rows = jsonl(
        "--run", str(run.pk), "--include-quality-units", "--status", "launched"
    )

    assert [row["quality"] for row in rows] == ["gold"]


def test_the_written_summary_counts_only_the_rows_written(run, tmp_path):
    output = tmp_path / "results.jsonl"

    data = json.loads(export("--run", str(run.pk), "--output", str(output), "--json"))
    everything = json.loads(
        export(
            "--run",
            str(run.pk),
            "--include-quality-units",
            "--output",
            str(output),
            "--json",
        )
    )

    assert (data["rows"], everything["rows"]) == (1, 3)


def test_a_task_name_export_leaves_out_the_quality_units_of_every_run():
    first = gold_run(task__task_name="rate-live")
    second = gold_run(task=first.task)
    for task_run in (first, second):
        submitted(task_run, WorkerFactory(), {"rating": "good"})
        quality_unit(task_run, "gold", worker=WorkerFactory())

    rows = jsonl("--task-name", "rate-live")
    everything = jsonl("--task-name", "rate-live", "--include-quality-units")

    assert [row["task_run_id"] for row in rows] == [first.pk, second.pk]
    assert [row["quality"] for row in everything] == [None, "gold", None, "gold"]


def test_including_quality_units_takes_the_same_queries(run):
    def queries(**options) -> int:
        export = ResultsExport(run_ids=[run.pk], **options)
        with CaptureQueriesContext(connection) as captured:
            for format in ("jsonl", "csv"):
                "".join(export.chunks(format))
        return len(captured)

    assert queries() == queries(include_quality_units=True)


# --- the admin download -------------------------------------------------------------


def export_url(run: TaskRun, format: str) -> str:
    return f"/admin/tasks_app/taskrun/{run.pk}/export.{format}"


def body(response) -> str:
    return b"".join(response.streaming_content).decode()


def test_the_download_leaves_quality_units_out(admin_client, run):
    text = body(admin_client.get(export_url(run, "jsonl")))

    assert text == export("--run", str(run.pk))


def test_the_download_includes_them_marked_when_asked(admin_client, run):
    response = admin_client.get(export_url(run, "csv") + "?include_quality_units=1")

    assert response.status_code == 200
    assert body(response) == export(
        "--run", str(run.pk), "--format", "csv", "--include-quality-units"
    )
    assert response["Content-Disposition"] == (
        f'attachment; filename="rate-pilot-1-run-{run.pk}-with-quality-units.csv"'
    )


def test_an_include_quality_units_that_is_neither_yes_nor_no_is_a_400(
    admin_client, run
):
    response = admin_client.get(export_url(run, "jsonl") + "?include_quality_units=all")

    assert response.status_code == 400
    assert response.content.decode() == (
        "include_quality_units: 'all' is neither 1 nor 0"
    )
