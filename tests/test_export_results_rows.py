"""`manage.py export_results`: one JSONL row per unit and submission with exactly the
contract's fields, which units it keeps, and a fixed number of queries whatever
the size."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tasks_app import services
from tasks_app.models import AgentStatus, Payment, PaymentState, UnitStatus
from tasks_app.selectors.export import ResultsExport
from tests.export_calls import export, iso, submitted
from tests.export_calls import run_fixture as run_fixture
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
    "agent_id",
    "provider_unit_id",
    "provider_assignment_id",
    "reward",
    "metadata",
]
UPLOAD = {
    "name": "photo.png",
    "path": "submissions/run-1/agent-1/photo.png",
    "size": 68,
    "content_type": "image/png",
}


def jsonl(*args: str) -> list[dict]:
    return [json.loads(line) for line in export(*args).splitlines()]


# --- the JSONL row ----------------------------------------------------------------


def test_a_submitted_unit_is_one_jsonl_row_with_the_contract_fields_then_ours(run):
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
        "review": {
            "decision": None,
            "feedback": None,
            "bonus": None,
            "decided_at": None,
        },
        "timings": {
            "accepted_at": iso(agent.created_at),
            "submitted_at": iso(agent.submitted_at),
            "duration_s": 42.5,
        },
        "late": False,
        "agent_id": agent.pk,
        "provider_unit_id": None,
        "provider_assignment_id": None,
        "reward": "0.50",
        "metadata": None,
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
    assert (row["agent_id"], row["review"]["decided_at"]) == (None, None)
    assert row["reward"] == "0.05"


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
    assert row["agent_id"] == agent.pk


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
    failed = services.pay_bonus(unit_id=agent.unit_id, amount="4.00", reason="Oops")
    Payment.objects.filter(review_id=failed.review_id).update(state=PaymentState.FAILED)

    [row] = jsonl("--run", str(run.pk))

    assert row["status"] == "accepted"
    assert row["review"] == {
        "decision": "approve",
        "feedback": "",
        "bonus": "0.75",
        "decided_at": iso(agent.reviews.get(action="approve").created_at),
    }


def test_a_rejected_and_a_soft_rejected_unit_show_their_decision_and_feedback(run):
    rejected = submitted(run, "alice")
    soft = submitted(run, "bob")
    services.reject_unit(unit_id=rejected.unit_id, feedback="The answer is empty")
    services.soft_reject_unit(unit_id=soft.unit_id, reason="Too short")

    rows = jsonl("--run", str(run.pk))

    assert [(r["status"], r["review"]) for r in rows] == [
        (
            "rejected",
            {
                "decision": "reject",
                "feedback": "The answer is empty",
                "bonus": None,
                "decided_at": iso(rejected.reviews.get().created_at),
            },
        ),
        (
            "soft_rejected",
            {
                "decision": "soft_reject",
                "feedback": "Too short",
                "bonus": None,
                "decided_at": iso(soft.reviews.get().created_at),
            },
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
    monkeypatch.setattr("tasks_app.selectors.export.results.CHUNK_SIZE", 2)
    for index in range(5):
        submitted(run, f"w{index}")
    export = ResultsExport(run_ids=[run.pk])

    chunks = list(export.chunks("jsonl"))

    assert [chunk.count("\n") for chunk in chunks] == [2, 2, 1]
    assert export.rows == 5
