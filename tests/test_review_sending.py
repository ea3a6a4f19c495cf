"""Sending review decisions to the provider a batch at a time: the queries don't
grow with the batch, a replay pays nothing more, a transient error stops the
batch without losing what was done, and batches racing pay once."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from providers.base import ProviderError
from providers.mock import MockProvider
from providers.models import CallStatus, ProviderCall
from qualifications_app.models import ReviewAction, WorkerReview
from tasks_app import services
from tasks_app.models import Payment, PaymentKind, PaymentState
from tests.review_calls import calls_fixture as calls_fixture
from tests.review_calls import submitted_unit
from tests.threads import race

pytestmark = pytest.mark.django_db


def approved(count: int) -> list[int]:
    """`count` approvals whose provider calls have not been made yet."""
    units = [submitted_unit(worker=f"w{n}") for n in range(count)]
    services.approve_units(unit_ids=[unit.pk for unit in units])
    return list(
        WorkerReview.objects.filter(action=ReviewAction.APPROVE)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def queries_to_send(review_ids: list[int]) -> int:
    with CaptureQueriesContext(connection) as queries:
        services.send_reviews(review_ids=review_ids)
    return len(queries)


def rewards(state: PaymentState) -> int:
    return Payment.objects.filter(kind=PaymentKind.REWARD, state=state).count()


def test_a_batch_is_sent_in_the_same_queries_whatever_its_size(calls):
    small, large = approved(3), None
    few = queries_to_send(small)
    large = [pk for pk in approved(20) if pk not in small]

    many = queries_to_send(large)

    assert many == few
    assert len(calls) == 23
    assert rewards(PaymentState.PAID) == 23


def test_sending_a_batch_again_makes_no_call_and_pays_nothing_more(calls):
    reviews = approved(5)
    services.send_reviews(review_ids=reviews)

    outcome = services.send_reviews(review_ids=reviews)

    assert len(calls) == 5
    assert len(outcome.results) == 5 and not outcome.errors
    assert rewards(PaymentState.PAID) == 5
    assert set(ProviderCall.objects.values_list("attempts", flat=True)) == {1}


def test_a_transient_error_stops_the_batch_and_the_retry_sends_the_rest_once(
    calls, monkeypatch
):
    reviews = approved(4)
    original = MockProvider.approve_work
    throttled = {"left": 1}

    def approve(self, *, work, token, **options):
        if token == f"review:{reviews[2]}" and throttled["left"]:
            throttled["left"] -= 1
            raise ProviderError("throttled", transient=True)
        return original(self, work=work, token=token)

    monkeypatch.setattr(MockProvider, "approve_work", approve)

    with pytest.raises(ProviderError, match="throttled"):
        services.send_reviews(review_ids=reviews)
    calls_log = {
        row.idempotency_key: row for row in ProviderCall.objects.order_by("pk")
    }
    assert [calls_log[f"review:{pk}"].status for pk in reviews] == [
        CallStatus.SUCCEEDED,
        CallStatus.SUCCEEDED,
        CallStatus.AMBIGUOUS,  # a transient error may have been done
        CallStatus.PENDING,  # never made: left as it was
    ]
    assert calls_log[f"review:{reviews[3]}"].attempts == 0
    assert rewards(PaymentState.PAID) == 2

    services.send_reviews(review_ids=reviews)

    assert rewards(PaymentState.PAID) == 4
    made = [kwargs["token"] for name, kwargs in calls]
    assert sorted(made) == sorted(f"review:{pk}" for pk in reviews)


def test_a_refusal_fails_its_payment_and_the_rest_of_the_batch_is_sent(
    calls, monkeypatch
):
    reviews = approved(3)
    original = MockProvider.approve_work

    def approve(self, *, work, token, **options):
        if token == f"review:{reviews[0]}":
            raise ProviderError("not this worker's assignment", transient=False)
        return original(self, work=work, token=token)

    monkeypatch.setattr(MockProvider, "approve_work", approve)

    outcome = services.send_reviews(review_ids=reviews)

    assert list(outcome.errors) == [f"review:{reviews[0]}"]
    failed = Payment.objects.get(review_id=reviews[0], kind=PaymentKind.REWARD)
    assert (failed.state, failed.error) == (
        PaymentState.FAILED,
        "not this worker's assignment",
    )
    assert rewards(PaymentState.PAID) == 2


@pytest.mark.django_db(transaction=True)
def test_batches_racing_on_the_same_reviews_pay_each_once(postgres):
    reviews = approved(10)

    outcomes = race([lambda: services.send_reviews(review_ids=reviews)] * 4)

    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    assert rewards(PaymentState.PAID) == 10
    assert Payment.objects.filter(kind=PaymentKind.REWARD).count() == 10
    assert set(ProviderCall.objects.values_list("status", flat=True)) == {
        CallStatus.SUCCEEDED
    }
