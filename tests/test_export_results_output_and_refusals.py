"""`manage.py export_results --output`: the file written whole, or, on any refusal,
exit status 1, a clear message and no file behind."""

from __future__ import annotations

import json
import os
import tempfile
from decimal import Decimal

import pytest
from django.core.management.base import CommandError
from django.db import connection

from tasks_app.selectors.export import ResultsExport
from tests.command_calls import run_from_terminal
from tests.export_calls import export, submitted
from tests.export_calls import run_fixture as run_fixture
from tests.factories import TaskFactory, TaskRunFactory

pytestmark = pytest.mark.django_db


def refused(*args: str) -> str:
    with pytest.raises(CommandError) as caught:
        export(*args)
    assert caught.value.returncode == 1
    return str(caught.value)


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

    assert said.strip() == f"Wrote 1 row(s) of run(s) {run.pk} to {target} (jsonl)."


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


def test_bom_writes_a_byte_order_mark_before_the_csv(run, tmp_path):
    submitted(run, "alice", {"answer": "très bien"})
    target = tmp_path / "results.csv"

    export("--run", str(run.pk), "--output", str(target), "--bom")

    data = target.read_bytes()
    assert data.startswith(b"\xef\xbb\xbfunit_id,task_run_id,")
    assert data[3:].decode("utf-8") == export("--run", str(run.pk), "--format", "csv")
    assert "très bien" in data.decode("utf-8-sig")


def test_bom_on_standard_output_starts_the_csv_with_the_mark(run):
    submitted(run, "alice")

    text = export("--run", str(run.pk), "--format", "csv", "--bom")

    assert text.startswith("\ufeffunit_id,")


def test_without_bom_the_csv_has_no_byte_order_mark(run, tmp_path):
    target = tmp_path / "results.csv"

    export("--run", str(run.pk), "--output", str(target))

    assert target.read_bytes().startswith(b"unit_id,")


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


BOM_REFUSED = (
    "--bom: a byte-order mark is written only before CSV, for spreadsheets; "
    "a jsonl export has none; nothing was written"
)


def test_bom_with_format_jsonl_is_refused_by_name(run, tmp_path):
    submitted(run, "alice")
    target = tmp_path / "results.csv"

    message = refused(
        "--run", str(run.pk), "--format", "jsonl", "--output", str(target), "--bom"
    )

    assert message == BOM_REFUSED
    assert os.listdir(tmp_path) == []


def test_bom_on_an_output_that_makes_jsonl_is_refused_by_name(run, tmp_path):
    submitted(run, "alice")

    message = refused(
        "--run", str(run.pk), "--output", str(tmp_path / "results.jsonl"), "--bom"
    )

    assert message == BOM_REFUSED
    assert os.listdir(tmp_path) == []


def test_from_the_terminal_bom_on_jsonl_exits_1_and_prints_nothing(
    run, monkeypatch, capsys
):
    status, out, err = run_from_terminal(
        monkeypatch,
        capsys,
        "tasks_app",
        "export_results",
        "--run",
        str(run.pk),
        "--bom",
    )

    assert status == 1
    assert out == ""
    assert BOM_REFUSED in err


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

    def chunks_then_full_disk(self, format, bom=False):
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
        .endswith("Input.text,Answer.rating,Approve,Reject")
    )
    assert not connection.in_atomic_block
    if connection.vendor == "sqlite":
        assert not connection.connection.in_transaction
    else:
        import psycopg

        status = connection.connection.info.transaction_status
        assert status == psycopg.pq.TransactionStatus.IDLE
