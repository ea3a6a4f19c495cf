"""MTurk launch contract tests: one HIT type and one HIT per unit, found again
rather than posted twice on a retry, expired and launched through the service.
botocore's Stubber stands in for AWS."""

from __future__ import annotations

from datetime import datetime

import pytest
from botocore.stub import ANY, Stubber

from providers.base import ProviderError
from providers.mturk import MTurkSandboxProvider
from providers.mturk.provider import external_question, hit_request_token
from tasks_app import services
from tasks_app.models import TaskRun, Unit, UnitStatus
from tasks_app.selectors import run_spec, task_url
from tests.mturk_stubber_calls import (
    TASK_URL_BASE,
    expect_hit,
    expect_hit_type,
    make_run,
    unit_ids,
)
from tests.mturk_stubber_calls import fake_aws_fixture as fake_aws_fixture
from tests.mturk_stubber_calls import public_url_fixture as public_url_fixture

pytestmark = pytest.mark.django_db


def test_launch_creates_one_hit_type_and_one_hit_per_unit():
    run = make_run(units=2)
    first, second = unit_ids(run)
    provider = MTurkSandboxProvider()

    with Stubber(provider.client) as stub:
        expect_hit_type(stub)
        expect_hit(stub, run, first, "HIT1")
        expect_hit(stub, run, second, "HIT2")
        result = provider.launch_units(
            run=run_spec(run), unit_ids=[first, second], task_url=task_url(run)
        )
        stub.assert_no_pending_responses()

    assert result == {first: "HIT1", second: "HIT2"}


def test_the_hit_question_points_at_the_task_page_in_a_full_frame():
    run = make_run(units=1)

    question = external_question(f"{TASK_URL_BASE}/?task_run_id={run.pk}&b=2")

    assert (
        f"<ExternalURL>{TASK_URL_BASE}/?task_run_id={run.pk}&amp;b=2</ExternalURL>"
        in (question)
    )
    assert "<FrameHeight>0</FrameHeight>" in question
    assert "ExternalQuestion.xsd" in question


def test_request_tokens_are_stable_distinct_and_short_enough():
    run = make_run(units=2)
    first, second = unit_ids(run)

    token = hit_request_token(run_spec(run), first)

    assert token == hit_request_token(run_spec(TaskRun.objects.get(pk=run.pk)), first)
    assert token != hit_request_token(run_spec(run), second)
    assert token.startswith(f"crowdsite-{run.pk}-")
    assert len(hit_request_token(run_spec(run), 10**12)) <= 64


def test_a_lifetime_missing_from_the_config_defaults_to_31_days():
    run = make_run(units=1)
    run.resolved_config = {"mephisto": {"task": {}}}
    run.save(update_fields=["resolved_config"])
    (only,) = unit_ids(run)
    provider = MTurkSandboxProvider()

    with Stubber(provider.client) as stub:
        expect_hit_type(stub)
        stub.add_response(
            "create_hit_with_hit_type",
            {"HIT": {"HITId": "HIT1"}},
            expected_params={
                "HITTypeId": "HITTYPE1",
                "MaxAssignments": 1,
                "LifetimeInSeconds": 31 * 24 * 3600,
                "Question": ANY,
                "RequesterAnnotation": ANY,
                "UniqueRequestToken": ANY,
            },
        )
        assert provider.launch_units(
            run=run_spec(run), unit_ids=[only], task_url=task_url(run)
        ) == {only: "HIT1"}


def test_a_retry_finds_the_hit_an_earlier_attempt_made_instead_of_posting_again():
    run = make_run(units=2)
    first, second = unit_ids(run)
    provider = MTurkSandboxProvider()

    with Stubber(provider.client) as stub:
        # First attempt: the first HIT is made, then MTurk throttles.
        expect_hit_type(stub)
        expect_hit(stub, run, first, "HIT1")
        stub.add_client_error(
            "create_hit_with_hit_type",
            service_error_code="ThrottlingException",
            service_message="Rate exceeded",
            http_status_code=400,
        )
        with pytest.raises(ProviderError) as first_attempt:
            provider.launch_units(
                run=run_spec(run), unit_ids=[first, second], task_url=task_url(run)
            )
        assert first_attempt.value.transient

        # Retry: MTurk refuses the first token again, the HIT is listed instead.
        expect_hit_type(stub)
        stub.add_client_error(
            "create_hit_with_hit_type",
            service_error_code="RequestError",
            service_message=(
                f'The idempotency token "{hit_request_token(run_spec(run), first)}" '
                "has already been processed. (1626172412406)"
            ),
            http_status_code=400,
        )
        stub.add_response(
            "list_hits",
            {
                "HITs": [
                    {"HITId": "OTHER", "RequesterAnnotation": "someone else's"},
                    {
                        "HITId": "HIT1",
                        "RequesterAnnotation": hit_request_token(run_spec(run), first),
                    },
                ]
            },
            expected_params={"MaxResults": 100},
        )
        expect_hit(stub, run, second, "HIT2")
        result = provider.launch_units(
            run=run_spec(run), unit_ids=[first, second], task_url=task_url(run)
        )
        stub.assert_no_pending_responses()

    assert result == {first: "HIT1", second: "HIT2"}


def test_the_earlier_hit_is_looked_for_on_every_page_of_the_listing():
    run = make_run(units=1)
    (only,) = unit_ids(run)
    provider = MTurkSandboxProvider()

    with Stubber(provider.client) as stub:
        expect_hit_type(stub)
        stub.add_client_error(
            "create_hit_with_hit_type",
            service_error_code="RequestError",
            service_message="AWS.MechanicalTurk.HitAlreadyExists",
        )
        stub.add_response(
            "list_hits",
            {"HITs": [{"HITId": "OLD", "RequesterAnnotation": ""}], "NextToken": "p2"},
            expected_params={"MaxResults": 100},
        )
        stub.add_response(
            "list_hits",
            {
                "HITs": [
                    {
                        "HITId": "HIT1",
                        "RequesterAnnotation": hit_request_token(run_spec(run), only),
                    }
                ]
            },
            expected_params={"MaxResults": 100, "NextToken": "p2"},
        )
        result = provider.launch_units(
            run=run_spec(run), unit_ids=[only], task_url=task_url(run)
        )

    assert result == {only: "HIT1"}


def test_a_used_token_whose_hit_is_not_listed_yet_is_a_transient_error():
    run = make_run(units=1)
    (only,) = unit_ids(run)
    provider = MTurkSandboxProvider()

    with Stubber(provider.client) as stub:
        expect_hit_type(stub)
        stub.add_client_error(
            "create_hit_with_hit_type",
            service_error_code="RequestError",
            service_message="The idempotency token has already been processed.",
        )
        stub.add_response("list_hits", {"HITs": []})
        with pytest.raises(ProviderError) as raised:
            provider.launch_units(
                run=run_spec(run), unit_ids=[only], task_url=task_url(run)
            )

    assert raised.value.transient


def test_expire_moves_each_hit_expiry_into_the_past():
    run = make_run(units=2)
    provider = MTurkSandboxProvider()

    with Stubber(provider.client) as stub:
        for hit_id in ("HIT1", "HIT2"):
            stub.add_response(
                "update_expiration_for_hit",
                {},
                expected_params={"HITId": hit_id, "ExpireAt": datetime(2015, 1, 1)},
            )
        provider.expire_units(run=run_spec(run), provider_unit_ids=["HIT1", "HIT2"])
        stub.assert_no_pending_responses()


def test_launching_through_the_service_records_each_units_hit(monkeypatch):
    run = make_run(units=2)
    first, second = unit_ids(run)
    client = MTurkSandboxProvider().client
    monkeypatch.setattr(MTurkSandboxProvider, "client", client)

    with Stubber(client) as stub:
        expect_hit_type(stub)
        expect_hit(stub, run, first, "HIT1")
        expect_hit(stub, run, second, "HIT2")
        launched = services.launch_units(run_id=run.pk)
        # Running it again finds nothing left to launch and calls nothing.
        services.launch_units(run_id=run.pk)

    assert launched == 2
    units = {u.pk: u for u in Unit.objects.filter(run=run)}
    assert units[first].provider_unit_id == "HIT1"
    assert units[second].provider_unit_id == "HIT2"
    assert {u.status for u in units.values()} == {UnitStatus.LAUNCHED}


def test_the_hit_type_auto_approves_after_the_runs_own_delay():
    run = make_run(units=1)
    run.resolved_config["mephisto"]["task"]["auto_approve_delay_in_seconds"] = 3600
    provider = MTurkSandboxProvider()
    stub = Stubber(provider.client)
    stub.add_response(
        "create_hit_type",
        {"HITTypeId": "HITTYPE1"},
        expected_params={
            "AutoApprovalDelayInSeconds": 3600,
            "AssignmentDurationInSeconds": 1800,
            "Reward": "0.50",
            "Title": "Label some images",
            "Description": "Pick the label that fits each image.",
            "Keywords": "images,labels",
        },
    )

    with stub:
        assert provider._create_hit_type(run_spec(run), []) == "HITTYPE1"

    stub.assert_no_pending_responses()
