"""`manage.py review_run`'s interactive review on stdin: one submission at a time,
with its inputs and worker, decisions, bonuses, blocks and the allowlist grant."""

from __future__ import annotations

import io
import json
from decimal import Decimal

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from qualifications_app.models import GrantedQualification, ReviewAction, WorkerReview
from tasks_app.models import (
    Agent,
    AgentStatus,
    Payment,
    PaymentKind,
    UnitStatus,
    Worker,
)
from tests.factories import QualificationFactory, TaskRunFactory
from tests.review_run_calls import ALLOWLIST, pilot, statuses
from tests.worker_calls import agent_id_for, submit_task

pytestmark = pytest.mark.django_db


def interactive(*args: str, keys: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("review_run", *args, stdin=io.StringIO(keys), stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


# --- interactive ------------------------------------------------------------------


def test_interactive_review_decides_one_submission_at_a_time_from_stdin():
    task_run, units = pilot()
    QualificationFactory(name=ALLOWLIST)
    keys = "\n".join(
        [
            "a",  # alice: approve, on to bob
            "r",  # bob: reject ...
            "",  # ... without feedback: refused, still bob
            "r",
            "Empty answer",  # bob rejected, on to carol
            "b",
            "0.25",
            "Careful work",  # carol: a bonus, still carol
            "s",
            "Too short",  # carol soft-rejected
            "g",  # grant the allowlist to alice
            "q",
        ]
    )

    out, _ = interactive("--run", str(task_run.pk), keys=keys + "\n")

    assert statuses(units) == {
        "alice": (UnitStatus.ACCEPTED, AgentStatus.APPROVED),
        "bob": (UnitStatus.REJECTED, AgentStatus.REJECTED),
        "carol": (UnitStatus.SOFT_REJECTED, AgentStatus.SOFT_REJECTED),
    }
    assert WorkerReview.objects.get(action=ReviewAction.REJECT).reason == (
        "Empty answer"
    )
    bonus = Payment.objects.get(kind=PaymentKind.BONUS)
    assert (bonus.unit_id, bonus.amount, bonus.reason) == (
        units["carol"].pk,
        Decimal("0.25"),
        "Careful work",
    )
    assert list(
        GrantedQualification.objects.values_list("worker__worker_name", flat=True)
    ) == ["alice"]
    assert "Refused: unit" in out and "needs feedback" in out
    assert "Granted 'pilot-allowlist' to 1 approved worker(s)" in out
    assert "Done: 3 of 3 submission(s) decided" in out


def test_interactive_review_shows_inputs_submission_worker_and_standing():
    task_run, units = pilot(["alice"])
    QualificationFactory(name="english")
    GrantedQualification.objects.create(
        worker=units["alice"].worker,
        qualification=QualificationFactory(name="english"),
        value=4,
    )

    out, _ = interactive("--run", str(task_run.pk), keys="q\n")

    assert f"Submission 1 of 1: unit {units['alice'].pk}" in out
    assert "Worker: mock:alice" in out
    assert "no reviewed units yet; holds english=4" in out
    assert '"text": "row 0"' in out
    assert '"rating": "alice says good"' in out
    assert "Status: unit completed, agent completed" in out
    assert not WorkerReview.objects.exists()


def test_interactive_review_flags_a_late_submission():
    task_run = TaskRunFactory(units=1)
    client = APIClient()
    agent_id = agent_id_for(client, task_run)
    client.post(
        f"/return_unit?task_run_id={task_run.pk}", {"USED_AGENT_ID": agent_id}, "json"
    )
    submit_task(client, task_run, agent_id, {"rating": "late but good"})

    out, _ = interactive("--run", str(task_run.pk), keys="a\n")

    assert "LATE (submitted after its time ran out)" in out
    assert Agent.objects.get().status == AgentStatus.APPROVED


def test_interactive_next_previous_and_the_end_of_input():
    task_run, units = pilot(["alice", "bob"])

    # n to bob, p back to alice, p again (the first), approve alice; then the
    # input ends, which quits.
    out, _ = interactive("--run", str(task_run.pk), keys="n\np\np\na\n")

    assert "That is the first submission." in out
    assert out.count(f"unit {units['alice'].pk} (assignment") == 2
    assert statuses(units) == {
        "alice": (UnitStatus.ACCEPTED, AgentStatus.APPROVED),
        "bob": (UnitStatus.COMPLETED, AgentStatus.COMPLETED),
    }
    assert "Done: 1 of 2 submission(s) decided (approved 1); 1 left undecided." in out


def test_interactive_review_of_a_worker_and_with_nothing_to_review():
    task_run, units = pilot(["alice", "bob"])

    out, _ = interactive(
        "--run", str(task_run.pk), "--worker", "mock:bob", keys="a\nq\n"
    )
    empty, _ = interactive("--run", str(TaskRunFactory(units=1).pk), keys="a\n")

    assert "1 submission(s) awaiting review" in out
    assert statuses(units)["alice"] == (UnitStatus.COMPLETED, AgentStatus.COMPLETED)
    assert statuses(units)["bob"] == (UnitStatus.ACCEPTED, AgentStatus.APPROVED)
    assert "No submissions awaiting review in run" in empty


def test_interactive_grant_on_a_run_without_an_allowlist_is_refused():
    task_run, units = pilot(["alice"], allowlist=None)

    out, _ = interactive("--run", str(task_run.pk), keys="a\ng\nq\n")

    assert "Refused: run" in out and "has no allowlist qualification" in out
    assert statuses(units)["alice"] == (UnitStatus.ACCEPTED, AgentStatus.APPROVED)
    assert not GrantedQualification.objects.exists()


def test_interactive_with_grant_allowlist_grants_on_quitting():
    task_run, units = pilot(["alice", "bob"])
    QualificationFactory(name=ALLOWLIST)

    interactive("--run", str(task_run.pk), "--grant-allowlist", keys="a\nn\nq\n")

    assert list(
        GrantedQualification.objects.values_list("worker__worker_name", flat=True)
    ) == ["alice"]


def test_interactive_bad_bonus_is_refused_and_nothing_is_paid():
    task_run, units = pilot(["alice"])

    out, _ = interactive(
        "--run",
        str(task_run.pk),
        keys="b\n-1\nthanks\nb\nNaN\nthanks\nb\n0\nthanks\nq\n",
    )

    assert "must be more than 0 (got -1)" in out
    assert "must be a finite number (got NaN)" in out
    assert "must be more than 0 (got 0)" in out
    assert not Payment.objects.exists()
    assert not WorkerReview.objects.exists()


def test_interactive_with_json_prints_one_object_on_stdout():
    task_run, units = pilot(["alice", "bob"])

    out, err = interactive("--run", str(task_run.pk), "--json", keys="a\nq\n")

    report = json.loads(out)
    assert report["run"] == task_run.pk
    assert report["undecided"] == 1
    assert report["granted"] == []
    [decision] = report["decisions"]
    assert decision["action"] == "approve"
    assert decision["unit_id"] == units["alice"].pk
    assert decision["worker"] == "alice"
    assert decision["amount"] == "0.50"
    assert "Submission 1 of 2" in err


def test_interactive_block_blocks_the_worker_and_leaves_the_unit_to_decide():
    task_run, units = pilot(["alice"])

    out, _ = interactive(
        "--run",
        str(task_run.pk),
        "--json",
        keys="x\n\nx\ncopy-paste answers\nx\nagain\nq\n",
    )

    report = json.loads(out)
    assert report["blocked"] == ["mock:alice"]
    assert report["undecided"] == 1
    assert Worker.objects.get(worker_name="alice").is_blocked
    assert WorkerReview.objects.get(action="block").reason == "copy-paste answers"
    assert not Payment.objects.exists()


def test_interactive_block_says_what_it_did_and_refuses_no_reason():
    task_run, units = pilot(["alice"])

    out, _ = interactive("--run", str(task_run.pk), keys="x\n \nx\nspam\nx\nspam\nq\n")

    assert "blocking a worker needs a reason" in out
    assert (
        "Blocked mock:alice: they get no more units, and their provider is told. "
        f"Unit {units['alice'].pk} is still to be decided." in out
    )
    assert "mock:alice was already blocked." in out
    assert WorkerReview.objects.filter(action="block").count() == 1
