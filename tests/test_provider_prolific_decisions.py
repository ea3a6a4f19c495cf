"""Prolific decisions against the stateful fake: arrivals checked against the
participant's submission, approving and rejecting once, and money refused on
someone else's submission."""

from __future__ import annotations

from decimal import Decimal

import pytest

from providers.base import Arrival, ProviderError, WorkRef
from providers.prolific import ProlificProvider
from tests.prolific_fake import prolific_fixture as prolific_fixture
from tests.prolific_provider_calls import public_url_fixture as public_url_fixture
from tests.prolific_provider_calls import study_fixture as study_fixture
from tests.prolific_provider_calls import work

pytestmark = pytest.mark.django_db

FEEDBACK = (
    "The answers were copied from the example on the instructions page for every "
    "one of the ten sentences, so they tell us nothing."
)


# --- identity --------------------------------------------------------------------


def test_an_arrival_matching_prolifics_submission_is_accepted(prolific, study):
    submission = prolific.submit(study, "P1")

    reason = ProlificProvider().verify_arrival(
        Arrival(worker_id="P1", assignment_id=submission, unit_id=study)
    )

    assert reason == ""


def test_an_arrival_with_someone_elses_submission_is_refused(prolific, study):
    submission = prolific.submit(study, "P1")

    reason = ProlificProvider().verify_arrival(
        Arrival(worker_id="P2", assignment_id=submission, unit_id=study)
    )

    assert "is participant P1's" in reason and "not P2's" in reason


def test_an_arrival_with_an_unknown_submission_is_refused(prolific, study):
    reason = ProlificProvider().verify_arrival(
        Arrival(worker_id="P1", assignment_id="nope", unit_id=study)
    )

    assert "Prolific has no submission nope" in reason


@pytest.mark.parametrize("kind", ["throttle", "server_error", "timeout"])
def test_an_arrival_that_cant_be_checked_is_a_transient_error(prolific, study, kind):
    submission = prolific.submit(study, "P1")
    prolific.fail_next(1, kind)

    with pytest.raises(ProviderError) as raised:
        ProlificProvider().verify_arrival(
            Arrival(worker_id="P1", assignment_id=submission, unit_id=study)
        )

    assert raised.value.transient


def test_money_on_another_participants_submission_is_refused_and_logged(
    prolific, study, caplog
):
    ref = work(prolific, study, "P1")
    forged = WorkRef("P2", study, ref.provider_assignment_id)
    provider = ProlificProvider()

    for attempt in (
        lambda: provider.approve_work(work=forged, token="t"),
        lambda: provider.reject_work(work=forged, feedback=FEEDBACK, token="t"),
        lambda: provider.pay_bonus(
            work=forged, amount=Decimal("1"), reason="r", token="t"
        ),
    ):
        with pytest.raises(ProviderError) as raised:
            attempt()
        assert not raised.value.transient
        assert "nothing was sent" in str(raised.value)

    assert prolific.count("POST", r"transition/$|bonus") == 1  # the study's publish
    assert prolific.submissions[ref.provider_assignment_id]["status"] == (
        "AWAITING REVIEW"
    )
    assert "refused for P2" in caplog.text


# --- approve and reject ----------------------------------------------------------


def test_approving_transitions_the_submission_once(prolific, study):
    ref = work(prolific, study)
    provider = ProlificProvider()

    first = provider.approve_work(work=ref, token="r:1")
    again = provider.approve_work(work=ref, token="r:1")

    assert first == {"submission": ref.provider_assignment_id, "status": "APPROVED"}
    assert again["already"] is True
    assert prolific.bodies("POST", r"^submissions/.+/transition/$") == [
        {"action": "APPROVE"}
    ]


def test_an_approval_whose_answer_was_lost_counts_as_done(prolific, study):
    ref = work(prolific, study)
    prolific.fail_next(1, "drop", path=r"^submissions/.+/transition/$")

    result = ProlificProvider().approve_work(work=ref, token="r:1")

    assert result["already"] is True
    assert prolific.submissions[ref.provider_assignment_id]["status"] == "APPROVED"


def test_rejecting_sends_the_feedback_as_the_message_with_a_category(prolific, study):
    ref = work(prolific, study)

    ProlificProvider().reject_work(work=ref, feedback=FEEDBACK, token="r:1")

    assert prolific.bodies("POST", r"^submissions/.+/transition/$") == [
        {"action": "REJECT", "message": FEEDBACK, "rejection_category": "OTHER"}
    ]


def test_a_category_may_lead_the_feedback(prolific, study):
    ref = work(prolific, study)

    ProlificProvider().reject_work(
        work=ref, feedback=f"LOW_EFFORT: {FEEDBACK}", token="r:1"
    )

    [body] = prolific.bodies("POST", r"^submissions/.+/transition/$")
    assert body["rejection_category"] == "LOW_EFFORT"
    assert body["message"] == FEEDBACK


def test_a_rejection_message_shorter_than_prolific_allows_is_refused_before_any_call(
    prolific, study
):
    ref = work(prolific, study)
    before = len(prolific.requests)

    with pytest.raises(ProviderError) as raised:
        ProlificProvider().reject_work(work=ref, feedback="Too short.", token="r:1")

    assert not raised.value.transient
    assert "at least 100 characters" in str(raised.value)
    assert len(prolific.requests) == before


def test_rejecting_an_approved_submission_is_refused_and_says_why(prolific, study):
    ref = work(prolific, study)
    ProlificProvider().approve_work(work=ref, token="r:1")

    with pytest.raises(ProviderError) as raised:
        ProlificProvider().reject_work(work=ref, feedback=FEEDBACK, token="r:2")

    assert "APPROVED" in str(raised.value) and "can't be taken back" in str(
        raised.value
    )


def test_a_submission_still_processing_a_decision_is_retried_later(prolific, study):
    ref = work(prolific, study)
    prolific.submissions[ref.provider_assignment_id]["status"] = "PROCESSING"

    with pytest.raises(ProviderError) as raised:
        ProlificProvider().approve_work(work=ref, token="r:1")

    assert raised.value.transient
    assert prolific.bodies("POST", r"^submissions/.+/transition/$") == []
