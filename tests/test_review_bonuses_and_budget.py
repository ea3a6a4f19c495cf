"""Review bonuses (tasks_app/services/review/): a payment of their own with a
reason, checked amounts, paid once even when double-clicked, and kept within the
run's budget."""

from __future__ import annotations

from decimal import Decimal

import pytest

from providers.mock import MockProvider
from qualifications_app.models import ReviewAction, WorkerReview
from tasks_app import services
from tasks_app.exceptions import ReviewError
from tasks_app.models import Payment, PaymentKind, PaymentState, Unit
from tests.review_calls import calls_fixture as calls_fixture
from tests.review_calls import submitted_unit
from tests.threads import race

pytestmark = pytest.mark.django_db


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


# --- races (PostgreSQL) ---------------------------------------------------------------


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


# --- the run's budget -----------------------------------------------------------------


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
