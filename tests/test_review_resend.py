"""Nothing stuck, nothing twice: decisions and bonuses whose provider call never
finished are sent again by beat, and a bonus payment that can't be repeated
(Prolific's) is settled from the provider's records instead."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from providers.calllog import NotRepeated, run_logged_call
from providers.mock import MockProvider
from providers.models import CallStatus, ProviderCall
from qualifications_app.models import ReviewAction, WorkerReview
from tasks_app import services
from tasks_app.models import Payment, PaymentKind, PaymentState
from tests.review_calls import calls_fixture as calls_fixture
from tests.review_calls import submitted_unit
from tests.threads import race

pytestmark = pytest.mark.django_db

LATER = timedelta(minutes=16)


def review_of(unit, action) -> WorkerReview:
    return WorkerReview.objects.get(unit=unit, action=action)


def bonus_payment(review) -> Payment:
    return review.payments.get(kind=PaymentKind.BONUS)


# --- sending again what never finished -------------------------------------------


def test_a_decision_whose_message_was_lost_is_sent_again_once(execute, calls):
    unit = submitted_unit()
    # Its Celery message never ran (lost with the broker's restart).
    services.approve_unit(unit_id=unit.pk)
    review = review_of(unit, ReviewAction.APPROVE)
    now = timezone.now()

    assert services.stalled_reviews(now=now) == []
    assert services.stalled_reviews(now=now + LATER) == [review.pk]

    execute(lambda: services.send_review(review_id=review.pk))
    assert services.stalled_reviews(now=now + LATER) == []
    assert [name for name, _ in calls] == ["approve_work"]
    assert review.payments.get(kind=PaymentKind.REWARD).state == PaymentState.PAID


def test_a_call_left_pending_by_a_killed_worker_is_sent_again(execute, calls):
    unit = submitted_unit()
    execute(lambda: services.approve_unit(unit_id=unit.pk))
    review = review_of(unit, ReviewAction.APPROVE)
    # As a worker killed mid-call leaves it: attempted, never finished.
    ProviderCall.objects.filter(idempotency_key=f"review:{review.pk}").update(
        status=CallStatus.PENDING
    )

    stalled = services.stalled_reviews(now=timezone.now() + LATER)

    assert stalled == [review.pk]


def test_a_repeatable_bonus_never_sent_is_sent_again():
    unit = submitted_unit()
    services.approve_unit(unit_id=unit.pk)
    services.pay_bonus(unit_id=unit.pk, amount="0.25", reason="careful")
    review = review_of(unit, ReviewAction.BONUS)

    stalled = services.stalled_reviews(now=timezone.now() + LATER)

    assert review.pk in stalled


def test_the_resend_task_sends_each_stalled_review_once(execute, calls, settings):
    unit = submitted_unit()
    services.approve_unit(unit_id=unit.pk)
    review = review_of(unit, ReviewAction.APPROVE)
    WorkerReview.objects.filter(pk=review.pk).update(created_at=timezone.now() - LATER)
    from tasks_app.tasks import resend_stalled_reviews

    assert execute(resend_stalled_reviews) == 1
    assert execute(resend_stalled_reviews) == 0
    assert [name for name, _ in calls] == ["approve_work"]


# --- a bonus payment that is never repeated --------------------------------------


@pytest.fixture
def unrepeatable(monkeypatch):
    """The mock provider pays bonuses as Prolific does: the pay call can't be
    deduplicated, and its records say what was paid."""
    recorded: list[Decimal] = []
    monkeypatch.setattr(MockProvider, "bonus_is_repeatable", False)
    monkeypatch.setattr(
        MockProvider, "paid_bonuses", lambda self, *, work: list(recorded)
    )
    return recorded


def lost_bonus(amount="0.25", reason="careful", unit=None):
    """A bonus whose pay call went out and whose answer was lost."""
    unit = unit or submitted_unit()
    if not WorkerReview.objects.filter(unit=unit, action="approve").exists():
        services.approve_unit(unit_id=unit.pk)
    services.pay_bonus(unit_id=unit.pk, amount=amount, reason=reason)
    review = WorkerReview.objects.filter(unit=unit, action="bonus").latest("pk")
    ProviderCall.objects.create(
        provider_type="mock",
        operation="bonus",
        idempotency_key=f"review:{review.pk}",
        status=CallStatus.AMBIGUOUS,
        attempts=1,
    )
    review.payments.update(state=PaymentState.AMBIGUOUS)
    WorkerReview.objects.filter(pk=review.pk).update(
        created_at=timezone.now() - timedelta(hours=1)
    )
    return unit, review


def test_a_lost_unrepeatable_bonus_is_never_sent_again(unrepeatable, execute, calls):
    unit, review = lost_bonus()

    assert review.pk not in services.stalled_reviews(now=timezone.now() + LATER)
    with pytest.raises(NotRepeated, match="not sent again"):
        services.send_review(review_id=review.pk)

    assert [name for name, _ in calls if name == "pay_bonus"] == []
    assert bonus_payment(review).state == PaymentState.AMBIGUOUS


def test_a_lost_bonus_the_records_show_is_settled_as_paid(unrepeatable, calls):
    unit, review = lost_bonus()
    unrepeatable.append(Decimal("0.25"))

    (settled,) = services.reconcile_lost_bonuses()

    assert (settled.review_id, settled.paid) == (review.pk, True)
    assert bonus_payment(review).state == PaymentState.PAID
    call = ProviderCall.objects.get(idempotency_key=f"review:{review.pk}")
    assert call.status == CallStatus.SUCCEEDED
    assert services.reconcile_lost_bonuses() == []
    assert [name for name, _ in calls if name == "pay_bonus"] == []


def test_a_lost_bonus_the_records_dont_show_is_failed_with_words(unrepeatable):
    unit, review = lost_bonus()

    (settled,) = services.reconcile_lost_bonuses()

    assert settled.paid is False
    payment = bonus_payment(review)
    assert payment.state == PaymentState.FAILED
    assert "records show no such bonus" in payment.error
    assert "pay it again if you mean to" in payment.error


def test_one_record_settles_one_of_two_lost_bonuses_of_the_same_amount(
    unrepeatable,
):
    unit, first = lost_bonus(reason="first")
    unit, second = lost_bonus(reason="second", unit=unit)
    unrepeatable.append(Decimal("0.25"))

    settled = services.reconcile_lost_bonuses()

    assert [(s.review_id, s.paid) for s in settled] == [
        (first.pk, True),
        (second.pk, False),
    ]


def test_a_bonus_paid_before_is_not_counted_as_the_lost_one(unrepeatable, execute):
    unit = submitted_unit()
    execute(lambda: services.approve_unit(unit_id=unit.pk))
    execute(lambda: services.pay_bonus(unit_id=unit.pk, amount="0.25", reason="a"))
    unrepeatable.append(Decimal("0.25"))  # the one paid above
    unit, review = lost_bonus(reason="b", unit=unit)

    (settled,) = services.reconcile_lost_bonuses()

    assert settled.paid is False


def test_a_recent_lost_bonus_waits_for_the_provider_to_record_it(unrepeatable):
    unit, review = lost_bonus()
    WorkerReview.objects.filter(pk=review.pk).update(created_at=timezone.now())

    assert services.reconcile_lost_bonuses() == []
    assert bonus_payment(review).state == PaymentState.AMBIGUOUS


@pytest.mark.django_db(transaction=True)
def test_racing_sends_of_one_unrepeatable_payment_call_it_once(postgres):
    made: list[int] = []

    def pay() -> dict:
        made.append(1)
        return {"paid": True}

    def send():
        return run_logged_call(
            provider_type="mock",
            operation="bonus",
            key="review:race",
            run_id=None,
            request={},
            call=pay,
            repeatable=False,
        )

    outcomes = race([send for _ in range(8)])

    assert len(made) == 1
    # The others found it succeeded, or in flight and refused to repeat it.
    assert all(o == {"paid": True} or isinstance(o, NotRepeated) for o in outcomes)
    assert ProviderCall.objects.get(idempotency_key="review:race").attempts == 1
