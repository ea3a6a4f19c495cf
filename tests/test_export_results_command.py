"""`manage.py export_results`: one row per unit as JSONL or CSV, its fields, its
filters, a fixed number of queries whatever the size, and every refusal leaving
no file behind."""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from datetime import UTC
from decimal import Decimal

import pytest
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tasks_app import services
from tasks_app.models import (
    AgentStatus,
    Payment,
    PaymentState,
    TaskRun,
    UnitStatus,
)
from tasks_app.selectors.export import CSV_COLUMNS, ResultsExport
from tests.command_calls import run_from_terminal
from tests.export_calls import export, submitted
from tests.factories import (
    AgentFactory,
    TaskFactory,
    TaskRunFactory,
    UnitFactory,
    WorkerFactory,
)

pytestmark = pytest.mark.django_db

KEYS = [
    "unit_id",
    "task_run_id",
    "task_name",
    "assignment_id",
    "inputs",
    "outputs",
    "files",
    "worker",
    "status",
    "review",
    "timings",
    "late",
]
UPLOAD = {
    "name": "photo.png",
    "path": "submissions/run-1/agent-1/photo.png",
    "size": 68,
    "content_type": "image/png",
}


def jsonl(*args: str) -> list[dict]:
    return [json.loads(line) for line in export(*args).splitlines()]


def csv_rows(*args: str) -> tuple[list[str], list[dict[str, str]]]:
    rows = list(csv.reader(io.StringIO(export("--format", "csv", *args), newline="")))
    return rows[0], [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def iso(moment) -> str:
    return (
        moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds")
        + "Z"
    )


def refused(*args: str) -> str:
    with pytest.raises(CommandError) as caught:
        export(*args)
    assert caught.value.returncode == 1
    return str(caught.value)


@pytest.fixture
def run() -> TaskRun:
    return TaskRunFactory(task_reward=Decimal("0.50"), task__task_name="rate-pilot-1")


# --- the JSONL row ----------------------------------------------------------------


def test_a_submitted_unit_is_one_jsonl_row_with_exactly_the_contract_fields(run):
    agent = submitted(
        run, "alice", {"rating": "good", "why": {"clear": True}}, inputs={"text": "Hi"}
    )

    [row] = jsonl("--run", str(run.pk))

    assert list(row) == KEYS
    assert row == {
        "unit_id": agent.unit_id,
        "task_run_id": run.pk,
        "task_name": "rate-pilot-1",
        "assignment_id": agent.unit.assignment_id,
        "inputs": {"text": "Hi"},
        "outputs": {"rating": "good", "why": {"clear": True}},
        "files": [],
        "worker": {"provider": "mock", "id": "alice"},
        "status": "completed",
        "review": {"decision": None, "feedback": None, "bonus": None},
        "timings": {
            "accepted_at": iso(agent.created_at),
            "submitted_at": iso(agent.submitted_at),
            "duration_s": 42.5,
        },
        "late": False,
    }


def test_a_unit_nobody_took_is_exported_with_null_outputs_worker_and_timings():
    run = TaskRunFactory(units=1)

    [row] = jsonl("--run", str(run.pk))

    assert row["status"] == "launched"
    assert row["inputs"] == {"text": "row 0"}
    assert (row["outputs"], row["worker"], row["files"]) == (None, None, [])
    assert row["timings"] == {
        "accepted_at": None,
        "submitted_at": None,
        "duration_s": None,
    }
    assert row["late"] is None


def test_a_unit_still_being_worked_on_shows_its_worker_and_when_they_took_it(run):
    worker = WorkerFactory(worker_name="bob")
    agent = AgentFactory(
        unit__assignment__run=run, unit__worker=worker, status=AgentStatus.IN_TASK
    )

    [row] = jsonl("--run", str(run.pk))

    assert row["status"] == "assigned"
    assert row["worker"] == {"provider": "mock", "id": "bob"}
    assert row["outputs"] is None
    assert row["timings"]["accepted_at"] == iso(agent.created_at)
    assert row["timings"]["submitted_at"] is None
    assert row["late"] is False


def test_a_worker_who_returned_the_unit_is_not_shown_as_its_worker(run):
    unit = UnitFactory(assignment__run=run, status=UnitStatus.LAUNCHED)
    AgentFactory(unit=unit, worker=WorkerFactory(), status=AgentStatus.RETURNED)

    [row] = jsonl("--run", str(run.pk))

    assert (row["worker"], row["outputs"], row["late"]) == (None, None, None)


def test_an_approved_unit_with_bonuses_shows_the_decision_and_the_bonus_total(run):
    agent = submitted(run, "alice")
    services.approve_unit(unit_id=agent.unit_id)
    services.pay_bonus(unit_id=agent.unit_id, amount="0.50", reason="Careful work")
    services.pay_bonus(unit_id=agent.unit_id, amount="0.25", reason="Fast too")
    failed = services.pay_bonus(unit_id=agent.unit_id, amount="9.00", reason="Oops")
    Payment.objects.filter(review_id=failed.review_id).update(state=PaymentState.FAILED)

    [row] = jsonl("--run", str(run.pk))

    assert row["status"] == "accepted"
    assert row["review"] == {"decision": "approve", "feedback": "", "bonus": "0.75"}


def test_a_rejected_and_a_soft_rejected_unit_show_their_decision_and_feedback(run):
    rejected = submitted(run, "alice")
    soft = submitted(run, "bob")
    services.reject_unit(unit_id=rejected.unit_id, feedback="The answer is empty")
    services.soft_reject_unit(unit_id=soft.unit_id, reason="Too short")

    rows = jsonl("--run", str(run.pk))

    assert [(r["status"], r["review"]) for r in rows] == [
        (
            "rejected",
            {"decision": "reject", "feedback": "The answer is empty", "bonus": None},
        ),
        (
            "soft_rejected",
            {"decision": "soft_reject", "feedback": "Too short", "bonus": None},
        ),
    ]


def test_a_late_submission_is_exported_flagged_late(run):
    submitted(run, "alice", late=True)

    [row] = jsonl("--run", str(run.pk))

    assert row["late"] is True
    assert row["outputs"] == {"rating": "good"}


def test_every_submission_of_a_unit_is_exported_the_holders_first(run):
    holder = submitted(run, "alice", {"rating": "on time"})
    submitted(run, "bob", {"rating": "late"}, late=True, unit=holder.unit)

    on_time, late = jsonl("--run", str(run.pk))

    assert on_time["unit_id"] == late["unit_id"] == holder.unit_id
    assert on_time["worker"]["id"] == "alice"
    assert (on_time["outputs"], on_time["late"]) == ({"rating": "on time"}, False)
    assert late["worker"]["id"] == "bob"
    assert (late["outputs"], late["late"]) == ({"rating": "late"}, True)


def test_a_decision_is_exported_with_the_submission_it_is_about(run):
    holder = submitted(run, "alice", {"rating": "on time"})
    late = submitted(run, "bob", {"rating": "late"}, late=True, unit=holder.unit)
    services.approve_unit(unit_id=holder.unit_id, agent_id=late.pk)

    rows = {row["worker"]["id"]: row for row in jsonl("--run", str(run.pk))}

    assert rows["bob"]["outputs"] == {"rating": "late"}
    assert (rows["bob"]["late"], rows["bob"]["review"]["decision"]) == (True, "approve")
    assert rows["alice"]["review"]["decision"] is None


def test_files_lists_the_stored_uploads_of_the_submission_and_the_metadata(run):
    sent_later = {**UPLOAD, "name": "notes.txt", "content_type": "text/plain"}
    submitted(
        run,
        "alice",
        {"final_data": {"caption": "a cat"}, "files": [UPLOAD, {"name": "no path"}]},
        metadata={"files": [sent_later], "errors": []},
    )

    [row] = jsonl("--run", str(run.pk))

    assert row["files"] == [UPLOAD, sent_later]
    assert row["outputs"]["final_data"] == {"caption": "a cat"}


def test_text_that_is_not_ascii_is_exported_as_it_is(run):
    submitted(run, "alice", {"answer": "très bien ✓"}, inputs={"text": "Ça va?"})

    [row] = jsonl("--run", str(run.pk))

    assert (row["inputs"], row["outputs"]) == (
        {"text": "Ça va?"},
        {"answer": "très bien ✓"},
    )


def test_a_jsonl_row_is_one_line_whatever_line_breaks_its_text_holds(run):
    # Every character str.splitlines() breaks at: JSON escapes those below
    # U+0020; U+0085, U+2028 and U+2029 PostgreSQL's jsonb::text leaves raw, and
    # so does the encoding of the other text (worker name, feedback, file name).
    text = "a\nb\r\nc\x0bd\x0ce\x1cf\x1dg\x1eh\x85i\u2028j\u2029k"
    upload = {**UPLOAD, "name": text}
    agent = submitted(
        run,
        WorkerFactory(worker_name=text),
        {"answer": text, text: [text]},
        inputs={"text": text},
        metadata={"files": [upload]},
    )
    services.reject_unit(unit_id=agent.unit_id, feedback=text)

    lines = export("--run", str(run.pk)).splitlines()

    [row] = [json.loads(line) for line in lines]
    assert row["inputs"] == {"text": text}
    assert row["outputs"] == {"answer": text, text: [text]}
    assert row["files"] == [upload]
    assert row["worker"]["id"] == text
    assert row["review"]["feedback"] == text


# --- which units ------------------------------------------------------------------


def test_task_name_exports_every_run_of_the_task_in_run_order():
    task = TaskFactory(task_name="rate-live")
    first, second = (
        TaskRunFactory(task=task, units=2),
        TaskRunFactory(task=task, units=1),
    )
    TaskRunFactory(units=3)  # another task's run

    rows = jsonl("--task-name", "rate-live")

    assert [row["task_run_id"] for row in rows] == [first.pk, first.pk, second.pk]
    assert {row["task_name"] for row in rows} == {"rate-live"}


def test_status_keeps_only_units_in_those_statuses_repeated_or_comma_listed(run):
    accepted = submitted(run, "alice")
    services.approve_unit(unit_id=accepted.unit_id)
    rejected = submitted(run, "bob")
    services.reject_unit(unit_id=rejected.unit_id, feedback="No")
    submitted(run, "carol")
    UnitFactory(assignment__run=run)

    only_accepted = jsonl("--run", str(run.pk), "--status", "accepted")
    repeated = jsonl(
        "--run", str(run.pk), "--status", "accepted", "--status", "rejected"
    )
    listed = jsonl("--run", str(run.pk), "--status", "accepted, rejected")

    assert [r["unit_id"] for r in only_accepted] == [accepted.unit_id]
    assert [r["unit_id"] for r in repeated] == [accepted.unit_id, rejected.unit_id]
    assert listed == repeated


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


# --- a fixed number of queries ----------------------------------------------------


def queries_to_export(units: int, format: str) -> int:
    run = TaskRunFactory()
    for index in range(units):
        agent = submitted(run, f"w{units}-{index}", {"n": index})
        if index % 2:
            services.approve_unit(unit_id=agent.unit_id)
    with CaptureQueriesContext(connection) as queries:
        lines = export("--run", str(run.pk), "--format", format).splitlines()
    assert len(lines) == units + (format == "csv")
    return len(queries)


@pytest.mark.parametrize("format", ["jsonl", "csv"])
def test_the_export_runs_the_same_queries_for_5_units_and_for_50(format):
    assert queries_to_export(5, format) == queries_to_export(50, format)


def test_rows_are_read_a_chunk_at_a_time(run, monkeypatch):
    monkeypatch.setattr("tasks_app.selectors.export.CHUNK_SIZE", 2)
    for index in range(5):
        submitted(run, f"w{index}")
    export = ResultsExport(run_ids=[run.pk])

    chunks = list(export.chunks("jsonl"))

    assert [chunk.count("\n") for chunk in chunks] == [2, 2, 1]
    assert export.rows == 5


# --- the output file --------------------------------------------------------------


def test_output_writes_the_file_and_json_prints_a_summary(run, tmp_path):
    submitted(run, "alice")
    target = tmp_path / "results.jsonl"

    summary = json.loads(
        export("--run", str(run.pk), "--output", str(target), "--json")
    )

    assert summary == {
        "format": "jsonl",
        "output": str(target),
        "rows": 1,
        "runs": [run.pk],
    }
    [line] = target.read_text(encoding="utf-8").splitlines()
    assert json.loads(line)["outputs"] == {"rating": "good"}
    assert os.listdir(tmp_path) == ["results.jsonl"]


def test_without_json_the_output_is_confirmed_in_words(run, tmp_path):
    submitted(run, "alice")
    target = tmp_path / "results.jsonl"

    said = export("--run", str(run.pk), "--output", str(target))

    assert said.strip() == f"Wrote 1 unit(s) of run(s) {run.pk} to {target} (jsonl)."


def test_the_format_follows_the_output_suffix_unless_given(run, tmp_path):
    submitted(run, "alice")

    export("--run", str(run.pk), "--output", str(tmp_path / "a.csv"))
    export(
        "--run", str(run.pk), "--output", str(tmp_path / "b.csv"), "--format", "jsonl"
    )

    assert (tmp_path / "a.csv").read_text().startswith("unit_id,task_run_id,")
    assert (tmp_path / "b.csv").read_text().startswith('{"unit_id": ')


def test_the_new_file_gets_the_mode_of_a_file_created_normally(run, tmp_path):
    target = tmp_path / "results.jsonl"
    umask = os.umask(0o022)
    try:
        export("--run", str(run.pk), "--output", str(target))
    finally:
        os.umask(umask)

    assert target.stat().st_mode & 0o777 == 0o644


# --- refusals: exit status 1, a clear message, nothing written --------------------


def test_an_unknown_run_is_refused(tmp_path):
    message = refused("--run", "999999", "--output", str(tmp_path / "out.jsonl"))

    assert message == "there is no run 999999; nothing was written"
    assert os.listdir(tmp_path) == []


def test_an_unknown_task_name_is_refused_naming_close_ones(tmp_path):
    TaskRunFactory(task__task_name="rate-pilot-1")

    message = refused("--task-name", "rate-pilot1", "--output", str(tmp_path / "x"))

    assert message == (
        "there is no task named 'rate-pilot1'; did you mean 'rate-pilot-1'?; "
        "nothing was written"
    )
    assert os.listdir(tmp_path) == []


def test_a_task_without_runs_is_refused():
    TaskFactory(task_name="never-launched")

    assert refused("--task-name", "never-launched") == (
        "task 'never-launched' has no runs; nothing was written"
    )


def test_a_bad_format_is_refused_naming_the_valid_ones(run, tmp_path):
    message = refused(
        "--run", str(run.pk), "--format", "xml", "--output", str(tmp_path / "o")
    )

    assert message == (
        "--format 'xml': not an export format; valid: jsonl, csv; nothing was written"
    )
    assert os.listdir(tmp_path) == []


def test_a_bad_status_is_refused_naming_the_valid_ones(run, tmp_path):
    message = refused(
        "--run", str(run.pk), "--status", "accepted,aproved", "--output", str(tmp_path)
    )

    assert message == (
        "'aproved' is not a unit status; valid: created, launched, assigned, "
        "completed, accepted, rejected, soft_rejected, expired; nothing was written"
    )
    assert os.listdir(tmp_path) == []


def test_json_without_output_is_refused(run):
    assert refused("--run", str(run.pk), "--json").startswith(
        "--json needs --output: without it the export itself is written to "
        "standard output"
    )


def test_an_output_in_a_missing_directory_is_refused(run, tmp_path):
    target = tmp_path / "missing" / "results.jsonl"

    message = refused("--run", str(run.pk), "--output", str(target))

    assert message == (
        f"--output {target}: directory '{target.parent}' does not exist; "
        "nothing was written"
    )
    assert os.listdir(tmp_path) == []


def test_an_output_that_is_a_directory_is_refused(run, tmp_path):
    message = refused("--run", str(run.pk), "--output", str(tmp_path))

    assert message == f"--output {tmp_path}: is a directory; nothing was written"
    assert os.listdir(tmp_path) == []


def test_an_output_in_a_directory_without_write_permission_is_refused(
    run, tmp_path, monkeypatch
):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    if os.geteuid() == 0:
        # root may write anywhere: the refusal the system gives others, then.
        def denied(**kwargs):
            raise PermissionError(13, "Permission denied")

        monkeypatch.setattr(tempfile, "mkstemp", denied)
    try:
        message = refused("--run", str(run.pk), "--output", str(locked / "out.jsonl"))
    finally:
        locked.chmod(0o700)

    assert message == (
        f"--output {locked / 'out.jsonl'}: can't write in '{locked}' "
        "(Permission denied); nothing was written"
    )
    assert os.listdir(locked) == []


def test_a_failure_while_writing_leaves_no_file_and_keeps_the_previous_one(
    run, tmp_path, monkeypatch
):
    submitted(run, "alice")
    target = tmp_path / "results.jsonl"
    target.write_text("the previous export\n")

    def chunks_then_full_disk(self, format):
        yield '{"unit_id": 1}\n'
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ResultsExport, "chunks", chunks_then_full_disk)

    message = refused("--run", str(run.pk), "--output", str(target))

    assert message == (
        f"--output {target}: No space left on device; nothing was written"
    )
    assert os.listdir(tmp_path) == ["results.jsonl"]
    assert target.read_text() == "the previous export\n"


def test_from_the_terminal_a_refusal_exits_1_with_the_reason_on_stderr(
    monkeypatch, capsys
):
    status, out, err = run_from_terminal(
        monkeypatch, capsys, "tasks_app", "export_results", "--run", "999999"
    )

    assert status == 1
    assert out == ""
    assert "there is no run 999999; nothing was written" in err


def test_naming_neither_a_run_nor_a_task_is_refused():
    with pytest.raises(CommandError, match="one of the arguments --run --task-name"):
        export()


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_the_export_reads_in_one_and_ends_it(tmp_path):
    # As from the terminal: no test transaction around the command.
    run = TaskRunFactory(task_reward=Decimal("0.50"))
    submitted(run, "alice", {"rating": "good"})

    export("--run", str(run.pk), "--output", str(tmp_path / "a.jsonl"))
    export("--run", str(run.pk), "--output", str(tmp_path / "a.csv"))

    assert json.loads((tmp_path / "a.jsonl").read_text())["outputs"] == {
        "rating": "good"
    }
    assert (
        (tmp_path / "a.csv")
        .read_text()
        .splitlines()[0]
        .endswith("Input.text,Answer.rating")
    )
    assert not connection.in_atomic_block
    if connection.vendor == "sqlite":
        assert not connection.connection.in_transaction
    else:
        import psycopg

        status = connection.connection.info.transaction_status
        assert status == psycopg.pq.TransactionStatus.IDLE
