"""Review decisions (tasks_app/services/review/): approving, rejecting, soft-rejecting
and blocking set statuses, write the audit row and the reward, call the provider
once, and nothing is decided twice."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from providers.base import ProviderError
from providers.mock import MockProvider
from providers.models import CallStatus, ProviderCall
from qualifications_app.models import ReviewAction, WorkerReview
from tasks_app import selectors, services
from tasks_app.exceptions import ReviewError
from tasks_app.models import Agent, AgentStatus, Payment, PaymentState, Unit, UnitStatus
from tests.factories import TaskRunFactory
from tests.review_calls import calls_fixture as calls_fixture
from tests.review_calls import reviewer, submitted_unit
from tests.threads import race
from tests.worker_calls import agent_id_for, submit_task

pytestmark = pytest.mark.django_db


# --- approve, reject, soft-reject, block ----------------------------------------------


def test_approving_accepts_the_unit_pays_the_reward_and_audits_who(execute, calls):
    unit = submitted_unit(reward="0.50")
    rita = reviewer()

    decision = execute(lambda: services.approve_unit(unit_id=unit.pk, reviewer=rita))

    unit.refresh_from_db()
    agent = Agent.objects.get(unit=unit)
    assert unit.status == UnitStatus.ACCEPTED
    assert agent.status == AgentStatus.APPROVED
    review = WorkerReview.objects.get(pk=decision.review_id)
    assert (review.action, review.created_by, review.agent) == ("approve", rita, agent)
    [payment] = Payment.objects.all()
    assert (payment.kind, payment.amount, payment.state) == (
        "reward",
        Decimal("0.50"),
        "paid",
    )
    assert payment.idempotency_key == f"reward:agent={agent.pk}"
    assert [name for name, _ in calls] == ["approve_work"]
    assert calls[0][1]["token"] == f"review:{review.pk}"
    assert ProviderCall.objects.get(idempotency_key=f"review:{review.pk}").status == (
        CallStatus.SUCCEEDED
    )


def test_rejecting_needs_feedback_and_sends_it_to_the_provider(execute, calls):
    unit = submitted_unit()

    with pytest.raises(ReviewError, match="needs feedback"):
        services.reject_unit(unit_id=unit.pk, feedback="  ")
    execute(lambda: services.reject_unit(unit_id=unit.pk, feedback="Empty answer"))

    unit.refresh_from_db()
    assert unit.status == UnitStatus.REJECTED
    assert Agent.objects.get(unit=unit).status == AgentStatus.REJECTED
    assert not Payment.objects.exists()
    assert calls == [("reject_work", calls[0][1])]
    assert calls[0][1]["feedback"] == "Empty answer"


def test_soft_rejecting_pays_the_reward_and_leaves_the_approval_rate_alone(
    execute, calls
):
    good = submitted_unit(worker="w1")
    soft = submitted_unit(worker="w1")

    execute(lambda: services.approve_unit(unit_id=good.pk))
    execute(lambda: services.soft_reject_unit(unit_id=soft.pk, reason="too short"))

    soft.refresh_from_db()
    assert soft.status == UnitStatus.SOFT_REJECTED
    assert Payment.objects.filter(unit=soft, kind="reward", state="paid").exists()
    assert [name for name, _ in calls] == ["approve_work", "approve_work"]
    summary = selectors.worker_summary(worker=soft.worker)
    assert summary["approval_rate"] == 1.0
    assert summary["reviewed_units"] == 1


def test_the_providers_fee_is_its_own_ledger_row(execute, monkeypatch):
    monkeypatch.setattr(MockProvider, "fee_rate", Decimal("0.20"))
    unit = submitted_unit(reward="0.55")

    execute(lambda: services.approve_unit(unit_id=unit.pk))

    rows = {p.kind: p for p in Payment.objects.all()}
    assert rows["reward"].amount == Decimal("0.55")
    assert rows["fee"].amount == Decimal("0.11")
    assert rows["fee"].state == PaymentState.PAID


def test_a_second_decision_is_refused_with_who_decided_and_when(execute):
    unit = submitted_unit()
    execute(lambda: services.approve_unit(unit_id=unit.pk, reviewer=reviewer("ann")))

    with pytest.raises(
        ReviewError, match=r"already approved by ann at \d{4}-"
    ) as error:
        services.reject_unit(unit_id=unit.pk, feedback="no", reviewer=reviewer("bob"))

    assert "nothing was changed" in str(error.value)
    assert WorkerReview.objects.count() == 1
    assert Agent.objects.get(unit=unit).status == AgentStatus.APPROVED


def test_a_late_submission_is_reviewable_and_reported_late(execute):
    run = TaskRunFactory(units=1)
    client = APIClient()
    agent_id = agent_id_for(client, run)
    client.post(
        f"/return_unit?task_run_id={run.pk}", {"USED_AGENT_ID": agent_id}, "json"
    )
    submit_task(client, run, agent_id, {"rating": "late but good"})
    unit = Unit.objects.get(run=run)

    decision = execute(lambda: services.approve_unit(unit_id=unit.pk))

    assert decision.late is True
    assert Agent.objects.get(unit=unit).status == AgentStatus.APPROVED


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("unknown", "there is no unit 99999999"),
        ("not submitted", "has no submission to review (status assigned)"),
    ],
)
def test_a_decision_on_a_unit_without_a_submission_is_refused(setup, message):
    run = TaskRunFactory(units=1)
    unit_id = 99999999
    if setup == "not submitted":
        agent_id_for(APIClient(), run)
        unit_id = Unit.objects.get(run=run).pk

    with pytest.raises(ReviewError, match=re.escape(message)):
        services.approve_unit(unit_id=unit_id)

    assert not WorkerReview.objects.exists()


def test_a_reviewer_without_the_permission_is_refused():
    unit = submitted_unit()

    with pytest.raises(ReviewError, match="needs the tasks_app.review_unit permission"):
        services.approve_unit(unit_id=unit.pk, reviewer=reviewer(allowed=False))

    assert Agent.objects.get(unit=unit).status == AgentStatus.COMPLETED
    assert not WorkerReview.objects.exists()


def test_blocking_from_review_blocks_locally_and_on_the_provider_once(execute):
    unit = submitted_unit(worker="spammer")

    first = execute(
        lambda: services.block_from_review(unit_id=unit.pk, reason="copy-paste")
    )
    again = execute(lambda: services.block_from_review(unit_id=unit.pk, reason="x"))

    assert (first, again) == (True, False)
    worker = Agent.objects.get(unit=unit).worker
    assert worker.is_blocked is True
    review = WorkerReview.objects.get(action=ReviewAction.BLOCK)
    assert (review.worker, review.reason, review.unit) == (worker, "copy-paste", unit)
    call = ProviderCall.objects.get(operation="block_worker")
    assert call.status == CallStatus.SUCCEEDED
    assert call.response == {
        "blocked": "spammer",
        "reason": "copy-paste",
        "token": f"review:{review.pk}",
    }
    with pytest.raises(ReviewError, match="needs a reason"):
        services.block_from_review(unit_id=unit.pk, reason=" ")


def test_feedback_prolific_would_refuse_is_refused_before_anything_is_written(
    settings,
):
    settings.PROLIFIC_API_KEY = ""  # nothing can reach Prolific from here
    unit = submitted_unit(provider_type="prolific")

    with pytest.raises(ReviewError, match="at least 100 characters") as caught:
        services.reject_unit(unit_id=unit.pk, feedback="Too short.")

    assert "nothing was changed" in str(caught.value)
    unit.refresh_from_db()
    assert unit.status == UnitStatus.COMPLETED
    assert not WorkerReview.objects.filter(unit=unit).exists()
    assert not ProviderCall.objects.filter(operation="reject_work").exists()


# --- the provider call: replays, failures ---------------------------------------------


def test_replaying_the_provider_call_pays_once(execute, calls):
    unit = submitted_unit()
    approve = execute(lambda: services.approve_unit(unit_id=unit.pk))
    bonus = execute(
        lambda: services.pay_bonus(unit_id=unit.pk, amount="1.00", reason="top")
    )

    for _ in range(3):
        services.send_review(review_id=approve.review_id)
        services.send_review(review_id=bonus.review_id)

    assert [name for name, _ in calls] == ["approve_work", "pay_bonus"]
    assert Payment.objects.filter(state=PaymentState.PAID).count() == 2
    assert ProviderCall.objects.filter(operation="bonus").get().attempts == 1


def test_a_provider_refusing_the_call_fails_the_payment_and_the_decision_stands(
    execute, monkeypatch
):
    unit = submitted_unit()

    def refuse(self, **kwargs):
        raise ProviderError("the provider refused: assignment not found")

    monkeypatch.setattr(MockProvider, "approve_work", refuse)

    execute(lambda: services.approve_unit(unit_id=unit.pk))

    unit.refresh_from_db()
    assert unit.status == UnitStatus.ACCEPTED  # the decision stands
    [payment] = Payment.objects.filter(kind="reward")
    assert payment.state == PaymentState.FAILED
    assert "assignment not found" in payment.error
    call = ProviderCall.objects.get(operation="approve_work")
    assert call.status == CallStatus.FAILED


# --- races (PostgreSQL) ---------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_reviewers_racing_on_one_unit_end_with_exactly_one_decision(postgres):
    units = [submitted_unit(worker=f"w{n}") for n in range(8)]

    for unit in units:
        outcomes = race(
            [
                lambda u=unit: services.approve_unit(unit_id=u.pk),
                lambda u=unit: services.reject_unit(unit_id=u.pk, feedback="no"),
                lambda u=unit: services.soft_reject_unit(unit_id=u.pk),
                lambda u=unit: services.approve_unit(unit_id=u.pk),
            ]
        )
        decided = [o for o in outcomes if isinstance(o, services.Decision)]
        refused = [o for o in outcomes if isinstance(o, ReviewError)]
        assert len(decided) == 1 and len(refused) == 3, outcomes
        assert all("nothing was changed" in str(o) for o in refused)
        assert WorkerReview.objects.filter(unit=unit).count() == 1
        assert Payment.objects.filter(unit=unit, kind="reward").count() <= 1
