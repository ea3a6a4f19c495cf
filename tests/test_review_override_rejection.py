"""Undoing a rejection (MTurk's ApproveAssignment with OverrideRejection): the
unit is approved, its reward paid once, the rejection kept on record; refused
without the override, on a provider that can't, and twice."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from qualifications_app.models import ReviewAction, WorkerReview
from tasks_app import services
from tasks_app.exceptions import ReviewError
from tasks_app.models import Agent, AgentStatus, Payment, TaskRun, Unit, UnitStatus
from tasks_app.services.review import send_review
from tests.mturk_fake import mturk_fixture as mturk_fixture
from tests.review_calls import calls_fixture as calls_fixture
from tests.review_calls import reviewer, submitted_unit
from tests.test_provider_mturk_review import assignment_of, work
from tests.test_provider_mturk_review import launch as launch  # noqa: F401
from tests.threads import race

pytestmark = pytest.mark.django_db

# Prolific wants a rejection message of 100 characters or more.
FEEDBACK = (
    "The answers were copied from the example and do not rate the sentences "
    "shown; please read each sentence before rating it."
)


def rejected_unit(execute, **kwargs) -> Unit:
    unit = submitted_unit(**kwargs)
    execute(lambda: services.reject_unit(unit_id=unit.pk, feedback=FEEDBACK))
    return unit


def test_overriding_a_rejection_approves_the_unit_and_pays_the_reward_once(
    execute, calls
):
    unit = rejected_unit(execute, reward="0.50")
    rita = reviewer()

    decision = execute(
        lambda: services.approve_unit(
            unit_id=unit.pk,
            override_rejection=True,
            reason="Sorry, our checker was wrong.",
            reviewer=rita,
        )
    )

    unit.refresh_from_db()
    agent = Agent.objects.get(unit=unit)
    assert (unit.status, agent.status) == (UnitStatus.ACCEPTED, AgentStatus.APPROVED)
    assert decision.paid == Decimal("0.50")
    [payment] = Payment.objects.filter(kind="reward")
    assert (payment.amount, payment.state) == (Decimal("0.50"), "paid")
    rejection, approval = WorkerReview.objects.filter(unit=unit).order_by("pk")
    assert rejection.action == ReviewAction.REJECT
    assert rejection.overridden_at is not None
    assert (approval.action, approval.overrides_rejection) == ("approve", True)
    assert approval.created_by == rita
    approve_calls = [kwargs for name, kwargs in calls if name == "approve_work"]
    assert [(c["override_rejection"], c["note"]) for c in approve_calls] == [
        (True, "Sorry, our checker was wrong.")
    ]


def test_approving_a_rejected_unit_without_the_override_stays_refused(execute):
    unit = rejected_unit(execute)

    with pytest.raises(ReviewError, match="already rejected.*override the rejection"):
        services.approve_unit(unit_id=unit.pk)

    assert Agent.objects.get(unit=unit).status == AgentStatus.REJECTED
    assert not Payment.objects.exists()


def test_overriding_twice_is_refused_and_pays_once(execute):
    unit = rejected_unit(execute)
    execute(lambda: services.approve_unit(unit_id=unit.pk, override_rejection=True))

    with pytest.raises(ReviewError, match="is not rejected.*nothing was changed"):
        services.approve_unit(unit_id=unit.pk, override_rejection=True)

    assert Payment.objects.filter(kind="reward").count() == 1
    assert WorkerReview.objects.filter(unit=unit, action="approve").count() == 1


def test_the_override_only_approves_a_rejected_unit(execute):
    unit = submitted_unit()

    with pytest.raises(ReviewError, match="is not rejected"):
        services.approve_unit(unit_id=unit.pk, override_rejection=True)

    assert not WorkerReview.objects.exists()


def test_a_provider_that_cant_undo_a_rejection_is_refused_by_name(execute):
    unit = submitted_unit(provider_type="prolific")
    # Recorded, not sent: on_commit callbacks don't run here.
    services.reject_unit(unit_id=unit.pk, feedback=FEEDBACK)

    with pytest.raises(ReviewError, match="prolific can't approve a submission after"):
        services.approve_unit(unit_id=unit.pk, override_rejection=True)

    assert Agent.objects.get(unit=unit).status == AgentStatus.REJECTED
    assert not Payment.objects.exists()


def test_an_override_that_would_pass_the_budget_is_refused_with_the_figures(
    execute,
):
    unit = rejected_unit(execute, reward="0.50")
    TaskRun.objects.filter(pk=unit.run_id).update(
        resolved_config={"mephisto": {"task": {"budget": 0.25}}}
    )

    with pytest.raises(ReviewError, match=r"past its budget of \$0.25"):
        services.approve_unit(unit_id=unit.pk, override_rejection=True)

    assert not Payment.objects.exists()


def test_a_rejection_overridden_before_it_was_sent_is_never_sent(calls):
    unit = submitted_unit()
    rejection = services.reject_unit(unit_id=unit.pk, feedback=FEEDBACK)
    services.approve_unit(unit_id=unit.pk, override_rejection=True)

    result = send_review(review_id=rejection.review_id)

    assert "overridden" in result["skipped"]
    assert [name for name, _ in calls] == []


# --- on MTurk ---------------------------------------------------------------------


def test_on_mturk_the_override_approves_the_rejected_assignment_once(
    launch,  # noqa: F811
    mturk,
    execute,
):
    run = launch()
    unit = work(mturk, run, "AWORKER1")
    execute(lambda: services.reject_unit(unit_id=unit.pk, feedback="Empty answer"))
    assert mturk.assignments[assignment_of(unit)]["AssignmentStatus"] == "Rejected"

    execute(
        lambda: services.approve_unit(
            unit_id=unit.pk, override_rejection=True, reason="Our mistake, sorry."
        )
    )

    assert mturk.params("ApproveAssignment") == [
        {
            "AssignmentId": assignment_of(unit),
            "RequesterFeedback": "Our mistake, sorry.",
            "OverrideRejection": True,
        }
    ]
    assert mturk.assignments[assignment_of(unit)]["AssignmentStatus"] == "Approved"
    assert Payment.objects.get(unit=unit, kind="reward").state == "paid"


def test_on_mturk_a_rejection_older_than_30_days_is_refused(
    launch,  # noqa: F811
    mturk,
    execute,
):
    run = launch()
    unit = work(mturk, run, "AWORKER1")
    execute(lambda: services.reject_unit(unit_id=unit.pk, feedback="Empty answer"))

    later = timezone.now() + timedelta(days=31)
    with (
        time_machine.travel(later, tick=False),
        pytest.raises(ReviewError, match="only within 30 days"),
    ):
        services.approve_unit(unit_id=unit.pk, override_rejection=True)

    assert mturk.count("ApproveAssignment") == 0


def test_a_note_longer_than_mturk_takes_is_refused_before_anything_is_written(
    launch,  # noqa: F811
    mturk,
):
    run = launch()
    unit = work(mturk, run, "AWORKER1")

    with pytest.raises(ReviewError, match="1025 characters long; mturk_sandbox"):
        services.approve_unit(unit_id=unit.pk, reason="x" * 1025)

    assert not WorkerReview.objects.exists()


# --- races (PostgreSQL) ---------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_overrides_racing_on_one_unit_approve_it_once(postgres):
    units = []
    for n in range(6):
        unit = submitted_unit(worker=f"w{n}")
        services.reject_unit(unit_id=unit.pk, feedback=FEEDBACK)
        units.append(unit)

    for unit in units:
        outcomes = race(
            [
                lambda u=unit: services.approve_unit(
                    unit_id=u.pk, override_rejection=True
                )
                for _ in range(4)
            ]
        )
        decided = [o for o in outcomes if isinstance(o, services.Decision)]
        refused = [o for o in outcomes if isinstance(o, ReviewError)]
        assert len(decided) == 1 and len(refused) == 3, outcomes
        assert Payment.objects.filter(unit=unit, kind="reward").count() == 1
        assert WorkerReview.objects.filter(unit=unit, action="approve").count() == 1
