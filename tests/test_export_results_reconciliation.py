"""`manage.py export_results`: what a payments person reconciles a run with — our
submission id, the provider's ids, the reward, when the decision was made, the
page's metadata — each row its own submission's, in JSONL and in CSV; the CSV
ends with the empty Approve and Reject columns `review_run --from-csv` reads."""

from __future__ import annotations

import csv
import io
import json

import pytest

from tasks_app import services
from tasks_app.selectors.export import CSV_COLUMNS
from tests.export_calls import export, iso, submitted
from tests.export_calls import run_fixture as run_fixture
from tests.factories import TaskRunFactory

pytestmark = pytest.mark.django_db

RECONCILIATION = [
    "agent_id",
    "provider_unit_id",
    "provider_assignment_id",
    "reward",
    "decided_at",
    "metadata",
]


def jsonl(*args: str) -> list[dict]:
    return [json.loads(line) for line in export(*args).splitlines()]


def csv_rows(*args: str) -> tuple[list[str], list[dict[str, str]]]:
    rows = list(csv.reader(io.StringIO(export("--format", "csv", *args), newline="")))
    return rows[0], [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def on_mturk(run, worker: str, **kwargs):
    """A submission as MTurk's arrival leaves it: the HIT on the unit, the
    assignment on the agent."""
    return submitted(
        run,
        worker,
        provider_unit_id=f"3HIT{worker.upper()}",
        provider_assignment_id=f"3ASG{worker.upper()}",
        **kwargs,
    )


# --- JSONL ------------------------------------------------------------------------


def test_a_jsonl_row_names_our_submission_the_providers_ids_and_the_reward(run):
    agent = on_mturk(run, "alice")
    decision = services.approve_unit(unit_id=agent.unit_id)

    [row] = jsonl("--run", str(run.pk))

    assert row["agent_id"] == agent.pk
    assert row["provider_unit_id"] == "3HITALICE"
    assert row["provider_assignment_id"] == "3ASGALICE"
    assert row["reward"] == "0.50"
    assert row["review"]["decided_at"] == iso(
        agent.reviews.get(pk=decision.review_id).created_at
    )
    assert row["assignment_id"] == agent.unit.assignment_id


def test_metadata_is_what_the_page_sent_and_the_errors_it_logged_not_the_files(run):
    upload = {
        "name": "photo.png",
        "path": "submissions/run-1/agent-1/photo.png",
        "size": 68,
        "content_type": "image/png",
    }
    agent = submitted(run, "alice", metadata={"files": [upload]})
    services.submit_metadata(
        agent_id=agent.public_id, metadata={"feedback": "Fun task", "rating": 5}
    )
    services.log_agent_error(agent_id=agent.public_id, error_data={"msg": "boom"})

    [row] = jsonl("--run", str(run.pk))

    errors = row["metadata"].pop("errors")
    assert row["metadata"] == {"feedback": "Fun task", "rating": 5}
    assert [error["error_data"] for error in errors] == [{"msg": "boom"}]
    assert row["files"] == [upload]


def test_an_agent_without_metadata_or_provider_ids_exports_them_as_null(run):
    submitted(run, "alice")

    [row] = jsonl("--run", str(run.pk))

    assert (row["metadata"], row["provider_unit_id"]) == (None, None)
    assert row["provider_assignment_id"] is None


def test_a_unit_nobody_took_has_its_reward_and_no_agent():
    run = TaskRunFactory(units=1)

    [row] = jsonl("--run", str(run.pk))

    assert (row["agent_id"], row["metadata"], row["reward"]) == (None, None, "0.05")


def test_each_submission_of_a_unit_carries_its_own_ids_metadata_and_decision(run):
    holder = on_mturk(run, "alice", metadata={"feedback": "on time"})
    late = submitted(
        run,
        "bob",
        late=True,
        unit=holder.unit,
        provider_assignment_id="3ASGBOB",
        metadata={"feedback": "late"},
    )
    services.approve_unit(unit_id=holder.unit_id, agent_id=late.pk)

    rows = {row["worker"]["id"]: row for row in jsonl("--run", str(run.pk))}

    assert (rows["alice"]["agent_id"], rows["bob"]["agent_id"]) == (holder.pk, late.pk)
    assert rows["alice"]["provider_assignment_id"] == "3ASGALICE"
    assert rows["bob"]["provider_assignment_id"] == "3ASGBOB"
    assert rows["alice"]["provider_unit_id"] == rows["bob"]["provider_unit_id"]
    assert rows["alice"]["metadata"] == {"feedback": "on time"}
    assert rows["bob"]["metadata"] == {"feedback": "late"}
    assert rows["alice"]["review"]["decided_at"] is None
    assert rows["bob"]["review"]["decided_at"] == iso(late.reviews.get().created_at)


def test_an_overridden_rejection_exports_as_the_approval_that_undid_it(run):
    agent = submitted(run, "alice")
    services.reject_unit(unit_id=agent.unit_id, feedback="Looked empty")
    approval = services.approve_unit(unit_id=agent.unit_id, override_rejection=True)

    [row] = jsonl("--run", str(run.pk))
    _, [cells] = csv_rows("--run", str(run.pk))

    assert row["status"] == "accepted"
    decided_at = iso(agent.reviews.get(pk=approval.review_id).created_at)
    assert row["review"] == {
        "decision": "approve",
        "feedback": "",
        "bonus": None,
        "decided_at": decided_at,
    }
    assert (cells["review_decision"], cells["decided_at"]) == ("approve", decided_at)


# --- CSV --------------------------------------------------------------------------


def test_the_csv_has_the_reconciliation_columns_of_each_submission(run):
    holder = on_mturk(run, "alice", metadata={"feedback": "Fun"})
    late = submitted(run, "bob", late=True, unit=holder.unit)
    decision = services.reject_unit(unit_id=holder.unit_id, feedback="Empty")

    header, [first, second] = csv_rows("--run", str(run.pk))

    assert header[len(CSV_COLUMNS) - len(RECONCILIATION) : len(CSV_COLUMNS)] == (
        RECONCILIATION
    )
    assert {name: first[name] for name in RECONCILIATION} == {
        "agent_id": str(holder.pk),
        "provider_unit_id": "3HITALICE",
        "provider_assignment_id": "3ASGALICE",
        "reward": "0.50",
        "decided_at": iso(holder.reviews.get(pk=decision.review_id).created_at),
        "metadata": '{"feedback": "Fun"}',
    }
    assert {name: second[name] for name in RECONCILIATION} == {
        "agent_id": str(late.pk),
        "provider_unit_id": "3HITALICE",
        "provider_assignment_id": "",
        "reward": "0.50",
        "decided_at": "",
        "metadata": "",
    }


def test_the_csv_ends_with_empty_approve_and_reject_columns(run):
    # A task whose own answers are named so keeps them under Answer.
    agent = submitted(run, "alice", {"Approve": "yes", "Reject": "no"})
    services.approve_unit(unit_id=agent.unit_id)
    submitted(run, "bob", {"Approve": "", "Reject": "maybe"})

    header, rows = csv_rows("--run", str(run.pk))

    assert header[-4:] == ["Answer.Approve", "Answer.Reject", "Approve", "Reject"]
    assert [(row["Approve"], row["Reject"]) for row in rows] == [("", ""), ("", "")]
    assert [row["Answer.Reject"] for row in rows] == ["no", "maybe"]


def test_metadata_is_a_json_text_cell_escaped_as_text(run):
    # The page's metadata is an object; anything else stored there is still
    # written as JSON text, and text a spreadsheet would run is escaped.
    submitted(run, "alice", metadata=-3)
    submitted(run, "bob", metadata={"note": "=1+1", "files": []})

    _, rows = csv_rows("--run", str(run.pk))

    assert [row["metadata"] for row in rows] == ["'-3", '{"note": "=1+1"}']
