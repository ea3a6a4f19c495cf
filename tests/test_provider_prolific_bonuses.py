"""Prolific bonuses against the stateful fake: set up then paid once, never
repeated when the outcome is unknown, retried when throttled, paid once however
many processes pay it at once (PostgreSQL)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from providers.base import ProviderError, WorkRef
from providers.calllog import run_logged_call
from providers.models import CallStatus, ProviderCall
from providers.prolific import ProlificProvider
from tests.prolific_fake import prolific_fixture as prolific_fixture
from tests.prolific_provider_calls import BLOCK, launch, make_run, work
from tests.prolific_provider_calls import public_url_fixture as public_url_fixture
from tests.prolific_provider_calls import study_fixture as study_fixture
from tests.threads import race

pytestmark = pytest.mark.django_db


def pay(ref: WorkRef, token: str = "review:1", amount: str = "0.75"):
    """A bonus through the call log, as crowdsite's review service makes it."""
    provider = ProlificProvider()
    return run_logged_call(
        provider_type="prolific",
        operation="bonus",
        # As crowdsite's review service calls it for Prolific.
        repeatable=ProlificProvider.bonus_is_repeatable,
        key=token,
        run_id=None,
        request={},
        call=lambda: provider.pay_bonus(
            work=ref, amount=Decimal(amount), reason="great work", token=token
        ),
    )


# --- bonuses ---------------------------------------------------------------------


def test_a_bonus_is_set_up_then_paid_once(prolific, study):
    ref = work(prolific, study)

    result = pay(ref)

    assert prolific.bodies("POST", r"^submissions/bonus-payments/$") == [
        {"study_id": study, "csv_bonuses": "P1,0.75\n"}
    ]
    assert prolific.count("POST", r"^bulk-bonus-payments/.+/pay/$") == 1
    assert prolific.paid_to("P1") == [Decimal("0.75")]
    assert result["amount"] == "0.75"
    assert ProlificProvider().paid_bonuses(work=ref) == [Decimal("0.75")]


def test_replaying_a_paid_bonus_pays_nothing_more(prolific, study):
    ref = work(prolific, study)

    for _ in range(3):
        pay(ref, token="review:7")

    assert prolific.paid_to("P1") == [Decimal("0.75")]
    assert prolific.count("POST", r"^submissions/bonus-payments/$") == 1


def test_two_bonuses_on_one_submission_are_both_paid(prolific, study):
    ref = work(prolific, study)

    pay(ref, token="review:1", amount="0.50")
    pay(ref, token="review:2", amount="1.25")

    assert ProlificProvider().paid_bonuses(work=ref) == [
        Decimal("0.5"),
        Decimal("1.25"),
    ]


@pytest.mark.parametrize("kind", ["drop", "timeout", "server_error"])
def test_a_pay_call_of_unknown_outcome_is_ambiguous_and_never_repeated(
    prolific, study, kind
):
    ref = work(prolific, study)
    prolific.fail_next(1, kind, path=r"/pay/$")

    with pytest.raises(ProviderError) as raised:
        pay(ref)

    assert raised.value.ambiguous and not raised.value.transient
    outer = ProviderCall.objects.get(idempotency_key="review:1")
    assert outer.status == CallStatus.AMBIGUOUS

    # Run again: the review's call log refuses to repeat it, and so does the
    # provider itself, asked directly under the same token.
    with pytest.raises(ProviderError) as again:
        pay(ref)
    with pytest.raises(ProviderError) as direct:
        ProlificProvider().pay_bonus(
            work=ref, amount=Decimal("0.75"), reason="great work", token="review:1"
        )

    assert again.value.ambiguous and not again.value.transient
    assert direct.value.ambiguous and not direct.value.transient
    assert "paying again would pay twice" in str(direct.value)
    assert prolific.count("POST", r"/pay/$") == 1
    paid = [Decimal("0.75")] if kind != "server_error" else []
    assert ProlificProvider().paid_bonuses(work=ref) == paid


def test_a_throttled_pay_call_is_transient_and_a_retry_pays_once(prolific, study):
    ref = work(prolific, study)
    prolific.fail_next(1, "throttle", path=r"/pay/$")

    with pytest.raises(ProviderError) as raised:
        pay(ref)
    assert raised.value.transient and not raised.value.ambiguous

    pay(ref)

    assert prolific.paid_to("P1") == [Decimal("0.75")]
    assert prolific.count("POST", r"^submissions/bonus-payments/$") == 1


def test_a_bonus_set_up_whose_answer_was_lost_is_set_up_again_and_paid_once(
    prolific, study
):
    ref = work(prolific, study)
    prolific.fail_next(1, "drop", path=r"^submissions/bonus-payments/$")

    with pytest.raises(ProviderError) as raised:
        pay(ref)
    assert raised.value.transient and not raised.value.ambiguous

    pay(ref)

    assert prolific.paid_to("P1") == [Decimal("0.75")]


def test_a_bonus_of_nothing_is_refused_before_any_call(prolific, study):
    ref = work(prolific, study)
    before = len(prolific.requests)

    with pytest.raises(ProviderError):
        pay(ref, amount="0")

    assert len(prolific.requests) == before


# --- at once (PostgreSQL) --------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_same_bonus_paid_from_many_processes_at_once_is_paid_once(
    postgres, prolific
):
    study_id = launch(make_run(), [BLOCK])
    ref = work(prolific, study_id)

    outcomes = race([lambda: pay(ref, token="review:5")] * 6)

    assert prolific.paid_to("P1") == [Decimal("0.75")]
    assert prolific.count("POST", r"/pay/$") == 1
    paid = [o for o in outcomes if isinstance(o, dict)]
    refused = [o for o in outcomes if isinstance(o, ProviderError)]
    assert paid and len(paid) + len(refused) == 6, outcomes
    assert all(o.ambiguous and not o.transient for o in refused)
