"""Prolific listings and the run's end against the stateful fake: submissions
awaiting review and abandoned ones, listed across pages; what the provider says
it does; the fake refusing what Prolific refuses; ending the run."""

from __future__ import annotations

import pytest

from providers.base import ProviderError
from providers.prolific import ProlificProvider
from tasks_app.selectors import run_spec
from tests.prolific_fake import prolific_fixture as prolific_fixture
from tests.prolific_provider_calls import BLOCK, launch, make_run
from tests.prolific_provider_calls import public_url_fixture as public_url_fixture
from tests.prolific_provider_calls import study_fixture as study_fixture

pytestmark = pytest.mark.django_db


# --- submissions Prolific lists --------------------------------------------------


def test_submissions_awaiting_review_are_listed_across_pages(prolific):
    study_id = launch(make_run(units=6), [BLOCK])
    waiting = [prolific.submit(study_id, f"P{n}") for n in range(3)]
    prolific.submit(study_id, "R1", status="RETURNED")
    prolific.submit(study_id, "T1", status="TIMED-OUT")
    prolific.submit(study_id, "A1", status="ACTIVE")

    found = ProlificProvider().submitted_work(provider_unit_ids=[study_id, study_id])

    assert [w.provider_assignment_id for w in found] == waiting
    assert [w.worker_name for w in found] == ["P0", "P1", "P2"]
    assert all(w.provider_unit_id == study_id and w.submitted_at for w in found)
    assert prolific.count("GET", r"^submissions/$") == 3  # 6 items, pages of 2


def test_returned_and_timed_out_submissions_are_listed_as_abandoned(prolific):
    study_id = launch(make_run(units=4), [BLOCK])
    prolific.submit(study_id, "P1")
    returned = prolific.submit(study_id, "R1", status="RETURNED")
    timed_out = prolific.submit(study_id, "T1", status="TIMED-OUT")

    found = ProlificProvider().abandoned_work(provider_unit_ids=[study_id])

    assert [(w.provider_assignment_id, w.worker_name, w.status) for w in found] == [
        (returned, "R1", "RETURNED"),
        (timed_out, "T1", "TIMED-OUT"),
    ]


@pytest.mark.parametrize("kind", ["throttle", "server_error"])
def test_a_listing_that_fails_is_transient(prolific, study, kind):
    prolific.fail_next(1, kind, path=r"^submissions/$")

    with pytest.raises(ProviderError) as raised:
        ProlificProvider().submitted_work(provider_unit_ids=[study])

    assert raised.value.transient


def test_the_providers_flags_say_what_it_does():
    assert ProlificProvider.verifies_arrivals
    assert ProlificProvider.lists_submitted_work
    assert ProlificProvider.lists_abandoned_work
    assert ProlificProvider.mirrors_qualifications


def test_notifying_workers_is_not_yet_supported_and_sends_nothing(prolific):
    with pytest.raises(ProviderError) as raised:
        ProlificProvider().notify_workers(
            worker_names=["P1"], subject="Hi", message="More work soon"
        )

    assert "not yet supported" in str(raised.value)
    assert prolific.requests == []


def test_the_fake_refuses_what_prolific_would_refuse(prolific):
    from providers.prolific import client as provider_module

    with pytest.raises(ProviderError) as unknown:
        provider_module._request(
            "POST", "workspaces/", operation="create workspace", json={"name": "x"}
        )
    with pytest.raises(ProviderError) as missing:
        provider_module._request(
            "POST", "submissions/bonus-payments/", operation="set up", json={}
        )

    assert "HTTP 400" in str(unknown.value)
    assert "title: This field is required." in str(unknown.value)
    assert "name: Unknown field." in str(unknown.value)
    assert "csv_bonuses: This field is required." in str(missing.value)
    assert not unknown.value.transient


def test_ending_the_run_stops_its_study_once(prolific, study):
    run = make_run()
    provider = ProlificProvider()

    result = provider.end_run(run=run_spec(run), provider_unit_ids=[study, study])
    provider.end_run(run=run_spec(run), provider_unit_ids=[study])

    assert result == {"stopped": [study]}
    assert prolific.studies[study]["status"] == "AWAITING REVIEW"
    assert prolific.bodies("POST", r"^studies/.+/transition/$")[-2:] == [
        {"action": "STOP"},
        {"action": "STOP"},
    ]
