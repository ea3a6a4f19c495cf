"""Approving many units at once and automatically (tasks_app/services/review/): each
decided once, the same ledger rows as one approval, bounded queries, batched sends."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from providers.mock import MockProvider
from qualifications_app.models import WorkerReview
from tasks_app import services, tasks
from tasks_app.exceptions import ReviewError
from tasks_app.models import Agent, AgentStatus, Payment, PaymentState, Unit, UnitStatus
from tests.factories import TaskRunFactory
from tests.review_calls import calls_fixture as calls_fixture
from tests.review_calls import reviewer, submitted_unit
from tests.threads import race
from tests.worker_calls import agent_id_for

pytestmark = pytest.mark.django_db


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
        decided.pk: f"unit {decided.pk} was already rejected (overriding the "
        "rejection approves it anyway)",
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


# --- auto-approval --------------------------------------------------------------------


def test_units_not_reviewed_in_time_are_approved_automatically(
    execute, calls, time_machine
):
    from datetime import timedelta

    from django.utils import timezone

    time_machine.move_to(timezone.now(), tick=False)
    old = submitted_unit(worker="w1")
    time_machine.shift(timedelta(days=7, seconds=1))
    fresh = submitted_unit(worker="w2")

    approved = execute(services.auto_approve_due)
    again = execute(services.auto_approve_due)

    old.refresh_from_db()
    fresh.refresh_from_db()
    assert (approved, again) == (1, 0)
    assert old.status == UnitStatus.ACCEPTED
    assert fresh.status == UnitStatus.COMPLETED
    review = WorkerReview.objects.get(unit=old)
    assert review.reason == "Approved automatically: not reviewed within 7 days."
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
