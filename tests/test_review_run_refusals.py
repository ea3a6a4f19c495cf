"""`manage.py review_run` refuses what it can't do, says why, and writes nothing:
missing feedback, unknown or foreign or undecidable units, permissions, flags."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from qualifications_app.models import GrantedQualification, WorkerReview
from tasks_app.models import AgentStatus, Payment, Unit, UnitStatus
from tests.command_calls import run, run_from_terminal
from tests.factories import QualificationFactory, TaskRunFactory
from tests.review_run_calls import ALLOWLIST, pilot, refused, statuses, user
from tests.worker_calls import agent_id_for, submit_task

pytestmark = pytest.mark.django_db


# --- refusals: each says why, and nothing is written -------------------------------


def test_reject_without_feedback_is_refused_and_nothing_is_written():
    task_run, units = pilot()

    error = refused("--run", str(task_run.pk), "--reject", str(units["bob"].pk))
    blank = refused(
        "--run", str(task_run.pk), "--reject", str(units["bob"].pk), "--feedback", " "
    )

    assert "--reject needs --feedback TEXT" in str(error)
    assert "--reject needs --feedback TEXT" in str(blank)
    assert statuses(units)["bob"] == (UnitStatus.COMPLETED, AgentStatus.COMPLETED)
    assert not WorkerReview.objects.exists()


@pytest.mark.parametrize("form", ["--approve", "--reject", "--soft-reject"])
def test_one_unknown_unit_among_named_ones_changes_nothing(form):
    task_run, units = pilot()
    feedback = ["--feedback", "why"] if form != "--approve" else []

    error = refused(
        "--run",
        str(task_run.pk),
        form,
        str(units["alice"].pk),
        str(units["bob"].pk),
        "99999999",
        *feedback,
    )

    assert f"there is no unit 99999999 in run {task_run.pk}" in str(error)
    assert set(statuses(units).values()) == {
        (UnitStatus.COMPLETED, AgentStatus.COMPLETED)
    }
    assert not WorkerReview.objects.exists()
    assert not Payment.objects.exists()


def test_a_unit_of_another_run_is_refused():
    task_run, _ = pilot(["alice"])
    _, other_units = pilot(["bob"])

    error = refused("--run", str(task_run.pk), "--approve", str(other_units["bob"].pk))

    assert f"there is no unit {other_units['bob'].pk} in run {task_run.pk}" in str(
        error
    )
    assert not WorkerReview.objects.exists()


def test_a_decision_on_a_unit_that_isnt_completed_is_refused():
    task_run = TaskRunFactory(units=1)
    agent_id_for(APIClient(), task_run, worker="bob")  # holds it, not submitted
    held = Unit.objects.get(run=task_run)

    error = refused("--run", str(task_run.pk), "--approve", str(held.pk))

    assert f"unit {held.pk} has no submission to review (status assigned)" in str(error)
    assert Unit.objects.get(pk=held.pk).status == UnitStatus.ASSIGNED
    assert not WorkerReview.objects.exists()


def test_several_named_units_one_not_completed_changes_nothing():
    task_run = TaskRunFactory(units=2, task_reward="0.50")
    client = APIClient()
    submit_task(
        client, task_run, agent_id_for(client, task_run, worker="alice"), {"r": 1}
    )
    agent_id_for(client, task_run, worker="bob")  # holds the second, unsubmitted
    done, held = Unit.objects.filter(run=task_run).order_by("pk")

    error = refused("--run", str(task_run.pk), "--approve", str(done.pk), str(held.pk))

    assert "nothing was changed" in str(error)
    assert f"unit {held.pk} has no submission to review (status assigned)" in str(error)
    assert Unit.objects.get(pk=done.pk).status == UnitStatus.COMPLETED
    assert not WorkerReview.objects.exists()
    assert not Payment.objects.exists()


def test_a_unit_already_decided_is_refused_with_who_decided():
    task_run, units = pilot(["alice"])
    run("review_run", "--run", str(task_run.pk), "--approve", str(units["alice"].pk))

    error = refused(
        "--run",
        str(task_run.pk),
        "--reject",
        str(units["alice"].pk),
        "--feedback",
        "changed my mind",
    )

    assert "was already approved by the operator" in str(error)
    assert WorkerReview.objects.count() == 1
    assert statuses(units)["alice"] == (UnitStatus.ACCEPTED, AgentStatus.APPROVED)


def test_a_reviewer_without_the_permission_is_refused_and_nothing_is_written():
    task_run, units = pilot()
    user("visitor")

    error = refused("--run", str(task_run.pk), "--approve-all", "--reviewer", "visitor")

    assert "visitor may not review units (needs the tasks_app.review_unit" in str(error)
    assert set(statuses(units).values()) == {
        (UnitStatus.COMPLETED, AgentStatus.COMPLETED)
    }
    assert not WorkerReview.objects.exists()
    assert not Payment.objects.exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--reviewer", "nobody", "--approve-all"], "there is no user 'nobody'"),
        (["--worker", "mock:ghost", "--approve-all"], "unknown worker mock:ghost"),
        (["--worker", "ghost", "--approve-all"], "is not PROVIDER:ID"),
        (["--approve", "1", "--feedback", "x"], "--feedback goes with --reject"),
        (["--approve", "1", "--worker", "mock:alice"], "--worker goes with"),
        (["--reject", "1", "--feedback", "x", "--grant-allowlist"], "approves nobody"),
        (
            ["--approve-all", "--grant-allowlist", "--grant", ALLOWLIST],
            "not both",
        ),
    ],
)
def test_flags_that_dont_go_together_or_name_nobody_are_refused(args, message):
    task_run, units = pilot()
    QualificationFactory(name=ALLOWLIST)

    error = refused("--run", str(task_run.pk), *args)

    assert message in str(error)
    assert not WorkerReview.objects.exists()
    assert not GrantedQualification.objects.exists()


def test_an_unknown_run_is_refused():
    error = refused("--run", "99999999", "--approve-all")

    assert str(error) == "there is no task run 99999999"


def test_decision_flags_are_exclusive():
    task_run, units = pilot(["alice"])

    with pytest.raises(CommandError, match="not allowed with argument"):
        call_command(
            "review_run",
            "--run",
            str(task_run.pk),
            "--approve-all",
            "--soft-reject",
            str(units["alice"].pk),
        )


def test_from_the_terminal_a_refusal_exits_1_with_the_reason_on_stderr(
    monkeypatch, capsys
):
    task_run, units = pilot(["alice"])

    status, out, err = run_from_terminal(
        monkeypatch,
        capsys,
        "tasks_app",
        "review_run",
        "--run",
        str(task_run.pk),
        "--reject",
        str(units["alice"].pk),
    )

    assert status == 1
    assert out == ""
    assert "CommandError: --reject needs --feedback TEXT" in err
    assert not WorkerReview.objects.exists()
