"""A unit's review through the requester API: approve, reject (with feedback),
soft-reject and bonus (a string of dollars, a large one confirmed); a second
decision is 409 naming the first; money is paid and the provider called once."""

from __future__ import annotations

from decimal import Decimal

import pytest

from qualifications_app.models import WorkerReview
from tasks_app.models import Agent, AgentStatus, Payment, UnitStatus
from tests.api_calls import (
    api_client,
    post,
    reviewer_client,
    submitted_run,
    unit_of,
)
from tests.factories import TaskRunFactory
from tests.review_calls import calls_fixture as calls_fixture

pytestmark = pytest.mark.django_db


@pytest.fixture
def decide(django_capture_on_commit_callbacks):
    """POST a decision as `client`, running what it enqueues at commit (the
    provider call) as a worker would."""

    def _decide(client, unit, action, body=None, **headers):
        with django_capture_on_commit_callbacks(execute=True):
            return post(client, f"/units/{unit.pk}/{action}/", body, **headers)

    return _decide


def one_unit(reward: str = "0.50"):
    return unit_of(submitted_run("w1", reward=reward), "w1")


# --- the decisions -------------------------------------------------------------------


def test_approving_accepts_the_unit_pays_its_reward_and_calls_the_provider_once(
    decide, calls
):
    unit = one_unit(reward="0.50")

    response = decide(reviewer_client(), unit, "approve", {"feedback": "Thanks!"})

    assert response.status_code == 200
    body = response.json()
    assert (body["action"], body["unit_id"], body["amount"]) == (
        "approve",
        unit.pk,
        "0.50",
    )
    unit.refresh_from_db()
    assert unit.status == UnitStatus.ACCEPTED
    [reward] = Payment.objects.filter(kind="reward")
    assert (reward.amount, reward.state) == (Decimal("0.50"), "paid")
    assert [name for name, _ in calls] == ["approve_work"]
    review = WorkerReview.objects.get(pk=body["review_id"])
    assert (review.reason, review.created_by.username) == ("Thanks!", "rita")


def test_rejecting_refuses_the_work_unpaid_with_the_feedback(decide, calls):
    unit = one_unit()

    response = decide(reviewer_client(), unit, "reject", {"feedback": "Empty answer"})

    assert response.status_code == 200
    assert response.json()["amount"] == "0"
    unit.refresh_from_db()
    assert unit.status == UnitStatus.REJECTED
    assert not Payment.objects.exists()
    assert [(name, kwargs["feedback"]) for name, kwargs in calls] == [
        ("reject_work", "Empty answer")
    ]


@pytest.mark.parametrize("body", [{}, {"feedback": ""}, {"feedback": "   "}])
def test_a_rejection_without_feedback_is_refused_naming_it(decide, calls, body):
    unit = one_unit()

    response = decide(reviewer_client(), unit, "reject", body)

    assert response.status_code == 400
    assert response.json()["field"] == "feedback"
    assert Agent.objects.get(unit=unit).status == AgentStatus.COMPLETED
    assert calls == []


def test_soft_rejecting_pays_the_reward_without_a_provider_rejection(decide, calls):
    unit = one_unit(reward="0.50")

    response = decide(reviewer_client(), unit, "soft-reject", {"feedback": "short"})

    assert response.status_code == 200
    unit.refresh_from_db()
    assert unit.status == UnitStatus.SOFT_REJECTED
    assert Payment.objects.get(kind="reward").amount == Decimal("0.50")
    assert [name for name, _ in calls] == ["approve_work"]


def test_approving_can_override_a_rejection(decide):
    unit = one_unit(reward="0.50")
    client = reviewer_client()
    decide(client, unit, "reject", {"feedback": "Empty answer"})

    response = decide(client, unit, "approve", {"override_rejection": True})

    assert response.status_code == 200
    assert Agent.objects.get(unit=unit).status == AgentStatus.APPROVED
    assert Payment.objects.get(kind="reward").amount == Decimal("0.50")


def test_a_unit_without_a_submission_is_refused_and_an_unknown_one_is_404(decide):
    run = TaskRunFactory(units=1)
    client = reviewer_client()

    unsubmitted = decide(client, run.units.get(), "approve")
    unknown = post(client, "/units/999999/approve/")

    assert unsubmitted.status_code == 400
    assert "no submission" in unsubmitted.json()["detail"]
    assert unknown.status_code == 404


# --- a second decision ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "body"),
    [
        ("approve", {}),
        ("reject", {"feedback": "Too late"}),
        ("soft-reject", {}),
    ],
)
def test_a_second_decision_is_a_conflict_naming_the_first(decide, calls, action, body):
    unit = one_unit(reward="0.50")
    decide(reviewer_client("ann"), unit, "approve", {"feedback": "Good"})

    response = decide(reviewer_client("bob"), unit, action, body)

    assert response.status_code == 409
    decision = response.json()["decision"]
    assert (decision["action"], decision["by"], decision["feedback"]) == (
        "approve",
        "ann",
        "Good",
    )
    review = WorkerReview.objects.get(unit=unit)
    assert decision["at"] == review.created_at.isoformat(timespec="seconds")
    assert "already approved by ann" in response.json()["detail"]
    assert Payment.objects.filter(kind="reward").count() == 1
    assert [name for name, _ in calls] == ["approve_work"]


# --- bonuses -------------------------------------------------------------------------


def test_a_bonus_is_paid_once_with_its_reason(decide, calls):
    unit = one_unit(reward="0.50")
    client = reviewer_client()
    decide(client, unit, "approve")

    response = decide(client, unit, "bonus", {"amount": "0.25", "reason": "Great"})

    assert response.status_code == 200
    assert (response.json()["action"], response.json()["amount"]) == (
        "bonus",
        "0.25",
    )
    [bonus] = Payment.objects.filter(kind="bonus")
    assert (bonus.amount, bonus.state) == (Decimal("0.25"), "paid")
    bonus_calls = [kwargs for name, kwargs in calls if name == "pay_bonus"]
    assert len(bonus_calls) == 1
    assert Decimal(str(bonus_calls[0]["amount"])) == Decimal("0.25")


def test_the_same_bonus_sent_again_without_a_key_is_refused_not_paid_twice(
    decide, calls
):
    unit = one_unit()
    client = reviewer_client()
    body = {"amount": "0.25", "reason": "Great"}
    decide(client, unit, "bonus", body)

    again = decide(client, unit, "bonus", body)

    assert again.status_code == 400
    assert "already paid" in again.json()["detail"]
    assert Payment.objects.filter(kind="bonus").count() == 1
    assert [name for name, _ in calls].count("pay_bonus") == 1


@pytest.mark.parametrize(
    "amount",
    ["1e3", "1,00", "-1", "0", "0.001", "", " ", "NaN", "$5", "1_000", 0.5, 1, None],
)
def test_a_bonus_amount_must_be_a_string_of_plain_dollars(decide, calls, amount):
    unit = one_unit()

    response = decide(
        reviewer_client(), unit, "bonus", {"amount": amount, "reason": "Great"}
    )

    assert response.status_code == 400
    assert response.json()["field"] == "amount"
    assert not Payment.objects.filter(kind="bonus").exists()
    assert calls == []


def test_a_bonus_needs_a_reason(decide):
    unit = one_unit()

    response = decide(reviewer_client(), unit, "bonus", {"amount": "0.25"})

    assert response.status_code == 400
    assert response.json()["field"] == "reason"


def test_a_bonus_above_ten_times_the_reward_needs_confirm_large(decide, calls):
    unit = one_unit(reward="0.50")
    client = reviewer_client()
    body = {"amount": "5.01", "reason": "Great"}

    refused = decide(client, unit, "bonus", body)
    at_the_limit = decide(client, unit, "bonus", {"amount": "5.00", "reason": "Top"})
    confirmed = decide(client, unit, "bonus", {**body, "confirm_large": True})

    assert refused.status_code == 400
    assert refused.json()["field"] == "confirm_large"
    assert "10 times" in refused.json()["detail"]
    assert at_the_limit.status_code == confirmed.status_code == 200
    amounts = sorted(p.amount for p in Payment.objects.filter(kind="bonus"))
    assert amounts == [Decimal("5.00"), Decimal("5.01")]
    assert [name for name, _ in calls] == ["pay_bonus", "pay_bonus"]


def test_a_rejected_units_worker_gets_no_bonus(decide):
    unit = one_unit()
    client = reviewer_client()
    decide(client, unit, "reject", {"feedback": "Empty"})

    response = decide(client, unit, "bonus", {"amount": "0.25", "reason": "Sorry"})

    assert response.status_code == 400
    assert "rejected" in response.json()["detail"]
    assert not Payment.objects.exists()


def test_deciding_needs_the_review_permission(decide, calls):
    unit = one_unit()
    client = api_client("tasks_app.view_taskrun")

    responses = [
        decide(client, unit, "approve"),
        decide(client, unit, "bonus", {"amount": "0.25", "reason": "Great"}),
    ]

    assert [r.status_code for r in responses] == [403, 403]
    assert "tasks_app.review_unit" in responses[0].json()["detail"]
    assert not Payment.objects.exists()
    assert calls == []


@pytest.mark.parametrize(
    ("action", "body", "field"),
    [
        ("approve", {"override_rejection": "perhaps"}, "override_rejection"),
        ("reject", {"feedback": "x" * 1025}, "feedback"),
        (
            "bonus",
            {"amount": "0.25", "reason": "ok", "confirm_large": []},
            "confirm_large",
        ),
    ],
)
def test_a_malformed_body_is_refused_naming_the_field(decide, action, body, field):
    unit = one_unit()

    response = decide(reviewer_client(), unit, action, body)

    assert response.status_code == 400
    assert response.json()["field"] == field
    assert response.json()["detail"].startswith(f"{field}: ")
    assert Agent.objects.get(unit=unit).status == AgentStatus.COMPLETED


def test_a_unit_id_beyond_any_row_is_404(decide):
    response = post(reviewer_client(), f"/units/{2**64}/approve/")

    assert response.status_code == 404
