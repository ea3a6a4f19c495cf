"""`manage.py review_run`'s scripted forms: approving named units, all of a run or
of one worker, rejecting and soft-rejecting, each paid and recorded as decided."""

from __future__ import annotations

from decimal import Decimal

import pytest

from qualifications_app.models import ReviewAction, WorkerReview
from tasks_app.models import (
    Agent,
    AgentStatus,
    Payment,
    PaymentKind,
    PaymentState,
    Unit,
    UnitStatus,
)
from tests.command_calls import run, run_json
from tests.factories import TaskRunFactory
from tests.review_run_calls import pilot, statuses, user
from tests.worker_calls import client_fixture as client_fixture
from tests.worker_calls import submit_late_beside_holder

pytestmark = pytest.mark.django_db


# --- scripted forms ---------------------------------------------------------------


def test_approving_named_units_accepts_them_and_pays_each_reward():
    task_run, units = pilot()

    text = run(
        "review_run",
        "--run",
        str(task_run.pk),
        "--approve",
        str(units["alice"].pk),
        str(units["bob"].pk),
    )

    assert statuses(units) == {
        "alice": (UnitStatus.ACCEPTED, AgentStatus.APPROVED),
        "bob": (UnitStatus.ACCEPTED, AgentStatus.APPROVED),
        "carol": (UnitStatus.COMPLETED, AgentStatus.COMPLETED),
    }
    rewards = Payment.objects.filter(kind=PaymentKind.REWARD)
    assert sorted(p.unit_id for p in rewards) == [units["alice"].pk, units["bob"].pk]
    assert {p.amount for p in rewards} == {Decimal("0.50")}
    reviews = WorkerReview.objects.filter(action=ReviewAction.APPROVE)
    assert [(r.worker.worker_name, r.created_by) for r in reviews.order_by("pk")] == [
        ("alice", None),
        ("bob", None),
    ]
    assert f"Approved unit {units['alice'].pk} by mock:alice, paid $0.50." in text


def test_approving_one_unit_pays_it_through_the_provider(
    django_capture_on_commit_callbacks,
):
    task_run, units = pilot(["alice"])

    with django_capture_on_commit_callbacks(execute=True):
        run(
            "review_run", "--run", str(task_run.pk), "--approve", str(units["alice"].pk)
        )

    payment = Payment.objects.get(kind=PaymentKind.REWARD)
    assert (payment.unit_id, payment.state) == (units["alice"].pk, PaymentState.PAID)


def test_approve_all_approves_every_submission_waiting_in_the_run():
    task_run, units = pilot()
    other_run, other_units = pilot(["dave"])

    report = run_json("review_run", "--run", str(task_run.pk), "--approve-all")

    assert set(statuses(units).values()) == {
        (UnitStatus.ACCEPTED, AgentStatus.APPROVED)
    }
    assert statuses(other_units)["dave"] == (UnitStatus.COMPLETED, "completed")
    assert report == {
        "run": task_run.pk,
        "action": "approve-all",
        "decided": sorted(unit.pk for unit in units.values()),
        "refused": {},
        "amount": "1.50",
        "undecided_agents": [],
        "granted": None,
    }
    assert Payment.objects.filter(kind=PaymentKind.REWARD).count() == 3


def test_approve_all_of_one_worker_leaves_the_others_waiting():
    task_run, units = pilot()

    run(
        "review_run",
        "--run",
        str(task_run.pk),
        "--approve-all",
        "--worker",
        "mock:bob",
    )

    assert statuses(units) == {
        "alice": (UnitStatus.COMPLETED, AgentStatus.COMPLETED),
        "bob": (UnitStatus.ACCEPTED, AgentStatus.APPROVED),
        "carol": (UnitStatus.COMPLETED, AgentStatus.COMPLETED),
    }


def two_submissions(client, time_machine, *, holder_late: bool):
    """Through the worker API: alice takes the one unit and times out, bob takes
    it and submits, alice submits late beside him (her agent stays `timeout`);
    with `holder_late`, bob's own is late too (he timed out and got the unit back
    by submitting)."""
    task_run = TaskRunFactory(units=1, task_reward="0.50")
    late_id, holder_id = submit_late_beside_holder(
        client,
        time_machine,
        task_run,
        late="alice",
        holder="bob",
        holder_late=holder_late,
    )
    late = Agent.objects.get(public_id=late_id)
    holder = Agent.objects.get(public_id=holder_id)
    unit = Unit.objects.get(run=task_run)
    assert (late.status, late.is_late) == (AgentStatus.TIMEOUT, True)
    assert (holder.status, holder.is_late) == (AgentStatus.COMPLETED, holder_late)
    assert (unit.status, unit.worker.worker_name) == (UnitStatus.COMPLETED, "bob")
    return task_run, unit, late


def test_approve_all_leaves_a_late_second_submission_for_review(client, time_machine):
    task_run, unit, late = two_submissions(client, time_machine, holder_late=False)

    report = run_json("review_run", "--run", str(task_run.pk), "--approve-all")

    assert report["decided"] == [unit.pk]
    assert report["undecided_agents"] == [late.pk]
    assert Agent.objects.get(pk=late.pk).status == AgentStatus.TIMEOUT
    assert WorkerReview.objects.get().worker.worker_name == "bob"


def test_approve_all_lists_the_units_it_cant_decide_alone(client, time_machine):
    task_run, unit, late = two_submissions(client, time_machine, holder_late=True)

    report = run_json("review_run", "--run", str(task_run.pk), "--approve-all")
    text = run("review_run", "--run", str(task_run.pk), "--approve-all")

    assert report["decided"] == []
    assert "2 submissions" in report["refused"][str(unit.pk)]
    assert f"Left for review one at a time: unit {unit.pk}:" in text
    assert not WorkerReview.objects.exists()


def test_approve_all_with_nothing_waiting_says_so():
    task_run = TaskRunFactory(units=2)

    text = run("review_run", "--run", str(task_run.pk), "--approve-all")

    assert text.strip() == f"No submissions awaiting review in run {task_run.pk}."
    assert not WorkerReview.objects.exists()


def test_rejecting_with_feedback_refuses_the_work_unpaid(
    django_capture_on_commit_callbacks,
):
    task_run, units = pilot()

    with django_capture_on_commit_callbacks(execute=True):
        report = run_json(
            "review_run",
            "--run",
            str(task_run.pk),
            "--reject",
            str(units["carol"].pk),
            "--feedback",
            "The answer is empty",
        )

    assert statuses(units)["carol"] == (UnitStatus.REJECTED, AgentStatus.REJECTED)
    review = WorkerReview.objects.get(action=ReviewAction.REJECT)
    assert (review.unit_id, review.reason) == (units["carol"].pk, "The answer is empty")
    assert not Payment.objects.exists()
    assert report["decided"] == [units["carol"].pk]
    assert report["amount"] == "0"


def test_soft_rejecting_pays_the_reward_and_stays_out_of_the_approval_rate():
    task_run, units = pilot()

    run(
        "review_run",
        "--run",
        str(task_run.pk),
        "--soft-reject",
        str(units["alice"].pk),
        str(units["bob"].pk),
        "--feedback",
        "Too short",
    )

    assert statuses(units)["alice"] == (
        UnitStatus.SOFT_REJECTED,
        AgentStatus.SOFT_REJECTED,
    )
    assert Payment.objects.filter(kind=PaymentKind.REWARD).count() == 2
    assert set(
        WorkerReview.objects.filter(action=ReviewAction.SOFT_REJECT).values_list(
            "reason", flat=True
        )
    ) == {"Too short"}


def test_a_named_reviewer_is_recorded_on_the_decision():
    task_run, units = pilot(["alice"])
    rita = user("rita", "review_unit")

    run(
        "review_run",
        "--run",
        str(task_run.pk),
        "--approve",
        str(units["alice"].pk),
        "--reviewer",
        "rita",
    )

    assert WorkerReview.objects.get().created_by == rita
