"""Review decisions and bonuses (tasks_app/services/review/): statuses, audit rows,
the money ledger, the provider call, and nothing decided or paid twice."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from providers.base import ProviderError
from providers.mock import MockProvider
from providers.models import CallStatus, ProviderCall
from qualifications_app.models import ReviewAction, WorkerReview
from tasks_app import selectors, services, tasks
from tasks_app.exceptions import ReviewError
from tasks_app.models import (
    Agent,
    AgentStatus,
    Payment,
    PaymentKind,
    PaymentState,
    Unit,
    UnitStatus,
)
from tests.factories import TaskRunFactory
from tests.threads import race
from tests.worker_calls import agent_id_for, submit_task

pytestmark = pytest.mark.django_db


@pytest.fixture
def calls(monkeypatch):
    """The mock provider's review calls, as made (one entry per real call)."""
    made: list[tuple[str, dict]] = []
    for name in ("approve_work", "reject_work", "pay_bonus"):
        original = getattr(MockProvider, name)

        def record(self, *, _name=name, _original=original, **kwargs):
            made.append((_name, kwargs))
            return _original(self, **kwargs)

        monkeypatch.setattr(MockProvider, name, record)
    return made


def submitted_unit(provider_type="mock", worker="w1", reward="0.50") -> Unit:
    """A unit of a one-unit run whose worker has submitted."""
    run = TaskRunFactory(units=1, provider_type=provider_type, task_reward=reward)
    client = APIClient()
    agent_id = agent_id_for(client, run, worker=worker)
    submit_task(client, run, agent_id, {"rating": "good"})
    return Unit.objects.get(run=run)


def reviewer(name="rita", *, allowed=True) -> User:
    user = User.objects.create_user(name, is_staff=True)
    if allowed:
        user.user_permissions.add(Permission.objects.get(codename="review_unit"))
    return User.objects.get(pk=user.pk)  # permissions are cached per instance


# --- approve, reject, soft-reject -----------------------------------------------------


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


# --- bonuses --------------------------------------------------------------------------


def test_a_bonus_is_a_payment_of_its_own_sent_with_its_reason(execute, calls):
    unit = submitted_unit()

    decision = execute(
        lambda: services.pay_bonus(unit_id=unit.pk, amount="0.25", reason="Great work")
    )

    [payment] = Payment.objects.all()
    assert (payment.kind, payment.amount, payment.state) == (
        "bonus",
        Decimal("0.25"),
        "paid",
    )
    assert decision.paid == Decimal("0.25")
    [(name, sent)] = calls
    assert name == "pay_bonus"
    assert (sent["amount"], sent["reason"]) == (Decimal("0.25"), "Great work")
    review = WorkerReview.objects.get(action=ReviewAction.BONUS)
    assert (review.amount, review.reason) == (Decimal("0.25"), "Great work")


def test_several_bonuses_are_paid_but_the_same_one_again_is_refused(execute, calls):
    unit = submitted_unit()
    execute(lambda: services.pay_bonus(unit_id=unit.pk, amount="0.25", reason="fast"))
    execute(
        lambda: services.pay_bonus(unit_id=unit.pk, amount="0.25", reason="careful")
    )

    with pytest.raises(ReviewError, match="refused as a replay"):
        services.pay_bonus(unit_id=unit.pk, amount="0.250", reason="fast")

    assert Payment.objects.filter(kind=PaymentKind.BONUS).count() == 2
    assert len(calls) == 2


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("-1", "more than 0"),
        ("0", "more than 0"),
        ("NaN", "finite"),
        ("Infinity", "finite"),
        ("abc", "not a number"),
        ("0.005", "whole cents"),
        ("1e12", "too large"),
    ],
)
def test_a_bad_bonus_amount_is_refused_and_nothing_is_written(amount, message):
    unit = submitted_unit()

    with pytest.raises(ReviewError, match=message):
        services.pay_bonus(unit_id=unit.pk, amount=amount, reason="thanks")

    assert not Payment.objects.exists()
    assert not WorkerReview.objects.exists()


def test_a_bonus_needs_a_reason_and_is_refused_for_rejected_work(execute):
    unit = submitted_unit()

    with pytest.raises(ReviewError, match="needs a reason"):
        services.pay_bonus(unit_id=unit.pk, amount="1", reason="")
    execute(lambda: services.reject_unit(unit_id=unit.pk, feedback="spam"))
    with pytest.raises(ReviewError, match="was rejected"):
        services.pay_bonus(unit_id=unit.pk, amount="1", reason="sorry")

    assert not Payment.objects.exists()


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


@pytest.mark.django_db(transaction=True)
def test_a_double_clicked_bonus_is_paid_once(postgres):
    unit = submitted_unit()

    outcomes = race(
        [lambda: services.pay_bonus(unit_id=unit.pk, amount="2", reason="x")] * 6
    )

    assert sum(isinstance(o, services.Decision) for o in outcomes) == 1
    assert all(
        isinstance(o, services.Decision) or "replay" in str(o) for o in outcomes
    ), outcomes
    assert Payment.objects.filter(kind=PaymentKind.BONUS).count() == 1
    assert Payment.objects.get(kind=PaymentKind.BONUS).state == PaymentState.PAID


# --- many units at once ---------------------------------------------------------------


def test_approving_many_units_approves_each_and_says_why_not_the_rest(execute, calls):
    units = [submitted_unit(worker=f"w{n}") for n in range(3)]
    decided = submitted_unit(worker="w9")
    execute(lambda: services.reject_unit(unit_id=decided.pk, feedback="spam"))
    waiting = TaskRunFactory(units=1)
    agent_id_for(APIClient(), waiting)
    not_submitted = Unit.objects.get(run=waiting)
    ids = [u.pk for u in units] + [decided.pk, not_submitted.pk, 99999999]

    result = execute(lambda: services.approve_units(unit_ids=ids, reviewer=reviewer()))

    assert result.approved == [u.pk for u in units]
    assert result.refused == {
        decided.pk: f"unit {decided.pk} was already rejected",
        not_submitted.pk: (
            f"unit {not_submitted.pk} has no submission to review (status assigned)"
        ),
        99999999: "there is no unit 99999999",
    }
    assert result.paid == Decimal("1.50")
    assert set(
        Unit.objects.filter(pk__in=result.approved).values_list("status", flat=True)
    ) == {UnitStatus.ACCEPTED}
    assert WorkerReview.objects.filter(action="approve").count() == 3
    assert Payment.objects.filter(kind="reward", state="paid").count() == 3
    assert [name for name, _ in calls] == ["reject_work"] + ["approve_work"] * 3


def test_a_bulk_approval_writes_the_ledger_rows_one_approval_writes(
    execute, monkeypatch
):
    monkeypatch.setattr(MockProvider, "fee_rate", Decimal("0.20"))
    alone = submitted_unit(worker="w1", reward="0.55")
    many = [submitted_unit(worker=f"w{n}", reward=r) for n, r in enumerate("123")]
    free = submitted_unit(worker="w5", reward="0")

    execute(lambda: services.approve_unit(unit_id=alone.pk))
    execute(lambda: services.approve_units(unit_ids=[u.pk for u in [*many, free]]))

    def ledger(unit):
        return sorted(
            (p.kind, p.amount, p.state, p.idempotency_key.split("=")[0], p.review_id)
            for p in Payment.objects.filter(unit=unit)
        )

    review = WorkerReview.objects.get(unit=alone).pk
    assert ledger(alone) == [
        ("fee", Decimal("0.11"), "paid", "fee:reward:agent", review),
        ("reward", Decimal("0.55"), "paid", "reward:agent", review),
    ]
    for unit, reward in zip(many, "123", strict=True):
        review = WorkerReview.objects.get(unit=unit).pk
        agent = Agent.objects.get(unit=unit).pk
        assert ledger(unit) == [
            ("fee", Decimal(reward) / 5, "paid", "fee:reward:agent", review),
            ("reward", Decimal(reward), "paid", "reward:agent", review),
        ]
        assert Payment.objects.get(unit=unit, kind="reward").idempotency_key == (
            f"reward:agent={agent}"
        )
    assert not Payment.objects.filter(unit=free).exists()


def test_approving_many_units_takes_the_same_queries_for_ten_or_forty(
    django_capture_on_commit_callbacks,
):
    few = [submitted_unit(worker=f"a{n}").pk for n in range(10)]
    many = [submitted_unit(worker=f"b{n}").pk for n in range(40)]
    counts = []
    for ids in (few, many):
        # The provider calls are sent by Celery at commit, not counted here.
        with (
            django_capture_on_commit_callbacks(execute=False),
            CaptureQueriesContext(connection) as captured,
        ):
            services.approve_units(unit_ids=ids)
        counts.append(len(captured.captured_queries))

    assert counts[0] == counts[1]
    assert Agent.objects.filter(status=AgentStatus.APPROVED).count() == 50


def test_a_large_bulk_approval_is_one_outbox_row_sent_in_batches(
    execute, calls, monkeypatch
):
    monkeypatch.setattr(services, "SEND_BATCH", 2)
    sent_batches = []
    original = tasks.send_reviews.run

    def spy(review_ids):
        sent_batches.append(list(review_ids))
        return original(review_ids)

    monkeypatch.setattr(tasks.send_reviews, "run", spy)
    ids = [submitted_unit(worker=f"w{n}").pk for n in range(5)]
    reviews = []

    def approve():
        result = services.approve_units(unit_ids=ids)
        reviews.extend(
            WorkerReview.objects.filter(action="approve")
            .order_by("unit_id")
            .values_list("pk", flat=True)
        )
        return result

    execute(approve)

    assert sent_batches == [reviews, reviews[:2], reviews[2:4], reviews[4:]]
    assert [name for name, _ in calls] == ["approve_work"] * 5


def test_a_bulk_approval_then_single_decisions_are_refused(execute):
    unit = submitted_unit()
    execute(lambda: services.approve_units(unit_ids=[unit.pk]))

    with pytest.raises(ReviewError, match="already approved by the operator"):
        services.soft_reject_unit(unit_id=unit.pk)
    again = services.approve_units(unit_ids=[unit.pk])

    assert again.approved == []
    assert again.refused == {unit.pk: f"unit {unit.pk} was already approved"}
    assert Payment.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_bulk_approval_racing_single_rejections_decides_each_unit_once(postgres):
    units = [submitted_unit(worker=f"w{n}") for n in range(10)]
    ids = [u.pk for u in units]

    race(
        [lambda: services.approve_units(unit_ids=ids)]
        + [
            lambda u=unit: services.reject_unit(unit_id=u.pk, feedback="no")
            for unit in units[:5]
        ]
    )

    for unit in units:
        assert WorkerReview.objects.filter(unit=unit).count() == 1
    approved = WorkerReview.objects.filter(action="approve").count()
    assert Payment.objects.filter(kind="reward").count() == approved


# --- budget and auto-approval ---------------------------------------------------------


def budgeted_unit(budget: str, reward="0.50") -> Unit:
    unit = submitted_unit(reward=reward)
    run = unit.run
    run.resolved_config = {"mephisto": {"task": {"budget": float(budget)}}}
    run.save(update_fields=["resolved_config"])
    return unit


def test_a_bonus_past_the_runs_budget_is_refused_with_the_figures(execute):
    unit = budgeted_unit("1.00", reward="0.50")
    execute(lambda: services.pay_bonus(unit_id=unit.pk, amount="0.30", reason="a"))

    with pytest.raises(ReviewError) as error:
        services.pay_bonus(unit_id=unit.pk, amount="0.25", reason="b")

    assert str(error.value) == (
        f"unit {unit.pk}: a bonus of $0.25 ($0.25 with the provider's fee) would "
        f"take run {unit.run_id} to $1.05, past its budget of $1.00 (committed: "
        "$0.80, rewards and bonuses with fees); nothing was paid"
    )
    assert Payment.objects.filter(kind="bonus").count() == 1


def test_a_bonus_within_the_budget_counts_the_providers_fee(execute, monkeypatch):
    monkeypatch.setattr(MockProvider, "fee_rate", Decimal("0.20"))
    unit = budgeted_unit("1.20", reward="0.50")  # committed: $0.60 with the fee

    execute(lambda: services.pay_bonus(unit_id=unit.pk, amount="0.50", reason="a"))
    with pytest.raises(ReviewError, match="past its budget of \\$1.20"):
        services.pay_bonus(unit_id=unit.pk, amount="0.01", reason="b")

    assert Payment.objects.filter(kind="fee").get().amount == Decimal("0.10")


def test_units_not_reviewed_in_time_are_approved_automatically(execute, calls):
    from datetime import timedelta

    from django.utils import timezone

    old = submitted_unit(worker="w1")
    fresh = submitted_unit(worker="w2")
    Agent.objects.filter(unit=old).update(
        submitted_at=timezone.now() - timedelta(days=7, seconds=1)
    )

    approved = execute(services.auto_approve_due)
    again = execute(services.auto_approve_due)

    old.refresh_from_db()
    fresh.refresh_from_db()
    assert (approved, again) == (1, 0)
    assert old.status == UnitStatus.ACCEPTED
    assert fresh.status == UnitStatus.COMPLETED
    review = WorkerReview.objects.get(unit=old)
    assert review.reason == "approved automatically, not reviewed within 604800 seconds"
    assert review.created_by is None
    assert Payment.objects.get(unit=old).state == PaymentState.PAID
    assert [name for name, _ in calls] == ["approve_work"]


def test_a_runs_own_auto_approve_delay_applies(execute):
    unit = submitted_unit()
    run = unit.run
    run.resolved_config = {"mephisto": {"task": {"auto_approve_delay_in_seconds": 0}}}
    run.save(update_fields=["resolved_config"])

    assert execute(services.auto_approve_due) == 1
    assert Agent.objects.get(unit=unit).status == AgentStatus.APPROVED


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
