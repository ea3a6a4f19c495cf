"""MTurk review and money contract tests: approving, rejecting, bonuses, checks
that the assignment is the worker's, blocks, notices and the balance. botocore's
Stubber stands in for AWS."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from botocore.stub import Stubber

from providers.base import ProviderError, WorkRef
from providers.mturk import MTurkProvider, MTurkSandboxProvider
from providers.mturk.review import bonus_request_token
from tests.mturk_stubber_calls import fake_aws_fixture as fake_aws_fixture
from tests.mturk_stubber_calls import public_url_fixture as public_url_fixture

pytestmark = pytest.mark.django_db

WORK = WorkRef(
    worker_name="A1WORKER_sandbox",
    provider_unit_id="HIT1",
    provider_assignment_id="ASSIGN1",
)


def expect_assignment(
    stub: Stubber, *, worker_id="A1WORKER", hit_id="HIT1", status="Submitted"
) -> None:
    stub.add_response(
        "get_assignment",
        {
            "Assignment": {
                "AssignmentId": "ASSIGN1",
                "WorkerId": worker_id,
                "HITId": hit_id,
                "AssignmentStatus": status,
            }
        },
        expected_params={"AssignmentId": "ASSIGN1"},
    )


def test_approving_reads_the_assignment_then_approves_it():
    provider = MTurkSandboxProvider()

    with Stubber(provider.client) as stub:
        expect_assignment(stub)
        stub.add_response(
            "approve_assignment", {}, expected_params={"AssignmentId": "ASSIGN1"}
        )
        result = provider.approve_work(work=WORK, token="review:1")
        stub.assert_no_pending_responses()

    assert result == {"assignment": "ASSIGN1", "status": "Approved"}


def test_approving_an_approved_assignment_sends_nothing_and_counts_as_done():
    provider = MTurkSandboxProvider()

    with Stubber(provider.client) as stub:
        expect_assignment(stub, status="Approved")
        result = provider.approve_work(work=WORK, token="review:1")
        stub.assert_no_pending_responses()

    assert result["already"] is True


def test_rejecting_sends_the_feedback():
    provider = MTurkSandboxProvider()

    with Stubber(provider.client) as stub:
        expect_assignment(stub)
        stub.add_response(
            "reject_assignment",
            {},
            expected_params={
                "AssignmentId": "ASSIGN1",
                "RequesterFeedback": "The answer is empty.",
            },
        )
        provider.reject_work(work=WORK, feedback="The answer is empty.", token="t")
        stub.assert_no_pending_responses()


def test_rejecting_without_feedback_is_refused_before_any_call():
    provider = MTurkSandboxProvider()

    with Stubber(provider.client), pytest.raises(ProviderError) as raised:
        provider.reject_work(work=WORK, feedback=" ", token="t")

    assert not raised.value.transient


def test_a_bonus_sends_the_worker_assignment_amount_reason_and_a_derived_token():
    provider = MTurkSandboxProvider()
    requested_at = datetime.now(UTC)

    with Stubber(provider.client) as stub:
        expect_assignment(stub)
        stub.add_response(
            "send_bonus",
            {},
            expected_params={
                "WorkerId": "A1WORKER",
                "AssignmentId": "ASSIGN1",
                "BonusAmount": "1.50",
                "Reason": "Great work",
                "UniqueRequestToken": bonus_request_token("review:7", requested_at),
            },
        )
        provider.pay_bonus(
            work=WORK,
            amount=Decimal("1.5"),
            reason="Great work",
            token="review:7",
            requested_at=requested_at,
        )
        stub.assert_no_pending_responses()


def test_bonus_tokens_are_stable_short_and_tell_databases_apart():
    first = datetime(2026, 1, 1, tzinfo=UTC)
    second = datetime(2026, 6, 1, tzinfo=UTC)

    token = bonus_request_token("review:7", first)

    assert token == bonus_request_token("review:7", first)
    assert token == f"crowdsite-review-7-{int(first.timestamp())}"
    assert token != bonus_request_token("review:7", second)
    assert len(bonus_request_token("review:" + "9" * 80, first)) <= 64


def test_money_for_another_workers_assignment_is_refused_and_nothing_sent():
    provider = MTurkSandboxProvider()

    with Stubber(provider.client) as stub:
        expect_assignment(stub, worker_id="A2SOMEONE")
        with pytest.raises(ProviderError) as raised:
            provider.pay_bonus(
                work=WORK, amount=Decimal("1.00"), reason="Thanks", token="t"
            )
        stub.assert_no_pending_responses()

    assert not raised.value.transient
    assert "belongs to worker A2SOMEONE_sandbox" in str(raised.value)


def test_an_assignment_of_another_hit_is_refused():
    provider = MTurkSandboxProvider()

    with Stubber(provider.client) as stub:
        expect_assignment(stub, hit_id="HIT9")
        with pytest.raises(ProviderError, match="on HIT HIT9"):
            provider.approve_work(work=WORK, token="t")


def test_blocking_sends_the_mturk_worker_id_and_the_reason():
    provider = MTurkSandboxProvider()

    with Stubber(provider.client) as stub:
        stub.add_response(
            "create_worker_block",
            {},
            expected_params={"WorkerId": "A1WORKER", "Reason": "Copied answers"},
        )
        provider.block_worker(
            worker_name="A1WORKER_sandbox", reason="Copied answers", token="t"
        )
        stub.assert_no_pending_responses()


def test_notifying_sends_subject_message_and_worker_ids():
    provider = MTurkProvider()

    with Stubber(provider.client) as stub:
        stub.add_response(
            "notify_workers",
            {"NotifyWorkersFailureStatuses": []},
            expected_params={
                "Subject": "New HITs",
                "MessageText": "More work is up.",
                "WorkerIds": ["A1WORKER", "A2WORKER"],
            },
        )
        result = provider.notify_workers(
            worker_names=["A1WORKER", "A2WORKER"],
            subject="New HITs",
            message="More work is up.",
        )

    assert result == {"notified": 2, "failed": {}}


def test_the_balance_is_mturks_available_balance():
    provider = MTurkProvider()

    with Stubber(provider.client) as stub:
        stub.add_response(
            "get_account_balance", {"AvailableBalance": "10.25"}, expected_params={}
        )
        assert provider.account_balance() == Decimal("10.25")
