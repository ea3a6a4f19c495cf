"""Prolific provider contract tests: `responses` stands in for api.prolific.com."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
import requests
import responses
from responses import matchers

from providers.base import ProviderError
from providers.prolific import ProlificProvider
from providers.prolific.client import API_URL
from providers.prolific.provider import completion_code, study_internal_name
from tasks_app import services
from tasks_app.models import TaskRun, Unit, UnitStatus
from tasks_app.run_config import ConfigError
from tasks_app.selectors import run_spec, task_url
from tests.factories import TaskRunFactory

pytestmark = pytest.mark.django_db

TASK_URL_BASE = "https://crowd.example.org"
STUDIES = f"{API_URL}studies/"
AUTH = matchers.header_matcher({"Authorization": "Token test-token"})


def launch(run: TaskRun, unit_ids: list[int]) -> dict[int, str]:
    """The provider's launch of `unit_ids`, given what launch_units gives it."""
    launched_before = (
        Unit.objects.filter(run=run)
        .exclude(provider_unit_id="")
        .exclude(pk__in=unit_ids)
        .order_by("pk")
        .values_list("provider_unit_id", flat=True)
    )
    return ProlificProvider().launch_units(
        run=run_spec(run),
        unit_ids=unit_ids,
        task_url=task_url(run),
        launched_before=list(launched_before),
    )


@pytest.fixture(autouse=True)
def prolific_settings(settings):
    settings.PUBLIC_URL = TASK_URL_BASE
    settings.PROLIFIC_API_KEY = "test-token"


@pytest.fixture
def prolific():
    """Prolific's API, faked; every registered call must be made."""
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


def make_run(*, units: int = 3) -> TaskRun:
    return TaskRunFactory(
        units=units,
        launching=True,
        provider_type="prolific",
        architect_type="server",
        resolved_config={
            "mephisto": {
                "provider": {
                    "requester_name": "lab",
                    "prolific_estimated_completion_time_in_minutes": 12,
                }
            }
        },
        task_title="Rate some sentences",
        task_description="Say how natural each sentence sounds.",
        task_reward=Decimal("1.75"),
        assignment_duration_in_seconds=1800,
    )


def unit_ids(run: TaskRun) -> list[int]:
    return list(run.units.order_by("pk").values_list("pk", flat=True))


def expected_draft(run: TaskRun, places: int) -> dict:
    return {
        "name": "Rate some sentences",
        "internal_name": study_internal_name(run_spec(run)),
        "description": "Say how natural each sentence sounds.",
        "external_study_url": (
            f"{TASK_URL_BASE}/?task_run_id={run.pk}"
            "&participant_id={{%PROLIFIC_PID%}}"
            "&study_id={{%STUDY_ID%}}"
            "&submission_id={{%SESSION_ID%}}"
        ),
        "prolific_id_option": "url_parameters",
        "completion_codes": [
            {
                "code": completion_code(run_spec(run)),
                "code_type": "COMPLETED",
                "actions": [{"action": "MANUALLY_REVIEW"}],
            }
        ],
        "estimated_completion_time": 12,
        "reward": 175,
        "total_available_places": places,
        "device_compatibility": ["desktop"],
        "filters": [],
    }


def expect_publish(prolific, study_id: str = "S1") -> None:
    prolific.post(
        f"{STUDIES}{study_id}/transition/",
        json={"id": study_id, "status": "PUBLISHING"},
        match=[AUTH, matchers.json_params_matcher({"action": "PUBLISH"})],
    )


def test_launch_creates_a_draft_study_with_a_place_per_unit_and_publishes_it(
    prolific,
):
    run = make_run(units=3)
    ids = unit_ids(run)
    prolific.get(STUDIES, json={"results": []}, match=[AUTH])
    prolific.post(
        STUDIES,
        status=201,
        json={"id": "S1", "status": "UNPUBLISHED", "total_available_places": 3},
        match=[AUTH, matchers.json_params_matcher(expected_draft(run, places=3))],
    )
    expect_publish(prolific)

    result = launch(run, ids)

    assert result == dict.fromkeys(ids, "S1")


def test_a_retry_publishes_the_draft_it_finds_instead_of_creating_another(prolific):
    run = make_run(units=2)
    ids = unit_ids(run)
    prolific.get(
        STUDIES,
        json={
            "results": [
                {"id": "X9", "internal_name": "someone else's", "status": "ACTIVE"},
                {
                    "id": "S1",
                    "internal_name": study_internal_name(run_spec(run)),
                    "status": "UNPUBLISHED",
                    "total_available_places": 2,
                },
            ]
        },
    )
    expect_publish(prolific)

    result = launch(run, ids)

    assert result == dict.fromkeys(ids, "S1")
    assert [call.request.method for call in prolific.calls] == ["GET", "POST"]
    assert prolific.calls[1].request.url == f"{STUDIES}S1/transition/"


def test_a_retry_after_publishing_changes_nothing(prolific):
    run = make_run(units=2)
    ids = unit_ids(run)
    prolific.get(
        STUDIES,
        json={
            "results": [
                {
                    "id": "S1",
                    "internal_name": study_internal_name(run_spec(run)),
                    "status": "ACTIVE",
                    "total_available_places": 2,
                }
            ]
        },
    )

    result = launch(run, ids)

    assert result == dict.fromkeys(ids, "S1")
    assert len(prolific.calls) == 1


def test_the_study_is_looked_for_on_every_page_of_the_listing(prolific):
    run = make_run(units=1)
    ids = unit_ids(run)
    page_2 = f"{STUDIES}?page=2"
    prolific.get(
        STUDIES,
        json={"results": [], "_links": {"next": {"href": page_2}}},
        match=[matchers.query_string_matcher("")],
    )
    prolific.get(
        page_2,
        json={
            "results": [
                {
                    "id": "S1",
                    "internal_name": study_internal_name(run_spec(run)),
                    "status": "ACTIVE",
                    "total_available_places": 1,
                }
            ],
            "_links": {"next": {"href": None}},
        },
        match=[AUTH, matchers.query_param_matcher({"page": "2"})],
    )

    assert launch(run, ids) == {ids[0]: "S1"}


def test_launching_more_units_later_raises_the_places_of_the_same_study(prolific):
    run = make_run(units=3)
    first, second, third = unit_ids(run)
    Unit.objects.filter(pk=first).update(
        provider_unit_id="S1", status=UnitStatus.LAUNCHED
    )
    prolific.get(
        f"{STUDIES}S1/",
        json={"id": "S1", "status": "AWAITING REVIEW", "total_available_places": 1},
        match=[AUTH],
    )
    prolific.patch(
        f"{STUDIES}S1/",
        json={"id": "S1", "status": "ACTIVE", "total_available_places": 3},
        match=[AUTH, matchers.json_params_matcher({"total_available_places": 3})],
    )

    result = launch(run, [second, third])

    assert result == {second: "S1", third: "S1"}


def test_launching_through_the_service_records_the_study_on_each_unit(prolific):
    run = make_run(units=2)
    prolific.get(STUDIES, json={"results": []})
    prolific.post(STUDIES, status=201, json={"id": "S1", "status": "UNPUBLISHED"})
    expect_publish(prolific)

    launched = services.launch_units(run_id=run.pk)

    assert launched == 2
    assert set(
        Unit.objects.filter(run=run).values_list("provider_unit_id", "status")
    ) == {("S1", UnitStatus.LAUNCHED)}


@pytest.mark.parametrize("status", [429, 500, 503])
def test_rate_limits_and_server_errors_are_transient(prolific, status):
    run = make_run(units=1)
    prolific.get(STUDIES, status=status, json={"error": {"title": "Slow down"}})

    with pytest.raises(ProviderError) as raised:
        launch(run, unit_ids(run))

    assert raised.value.transient
    assert str(status) in str(raised.value)


def test_an_unreachable_api_is_transient(prolific):
    run = make_run(units=1)
    prolific.get(STUDIES, body=requests.ConnectionError("connection refused"))

    with pytest.raises(ProviderError) as raised:
        launch(run, unit_ids(run))

    assert raised.value.transient


def test_a_rejected_study_is_not_transient_and_carries_prolifics_message(prolific):
    run = make_run(units=1)
    prolific.get(STUDIES, json={"results": []})
    prolific.post(
        STUDIES,
        status=400,
        json={
            "error": {
                "status": 400,
                "error_code": 140100,
                "title": "Invalid request",
                "detail": {"reward": ["Ensure this value is greater than 0."]},
            }
        },
    )

    with pytest.raises(ProviderError) as raised:
        launch(run, unit_ids(run))

    assert not raised.value.transient
    assert "create study" in str(raised.value)
    assert "reward: Ensure this value is greater than 0." in str(raised.value)


def test_expire_stops_the_study_once_for_all_its_units(prolific):
    run = make_run(units=2)
    prolific.post(
        f"{STUDIES}S1/transition/",
        json={"id": "S1", "status": "AWAITING REVIEW"},
        match=[AUTH, matchers.json_params_matcher({"action": "STOP"})],
    )

    ProlificProvider().expire_units(run=run_spec(run), provider_unit_ids=["S1", "S1"])

    assert len(prolific.calls) == 1


def test_stopping_an_already_stopped_study_is_success(prolific):
    run = make_run(units=1)
    prolific.post(
        f"{STUDIES}S1/transition/",
        status=400,
        json={"error": {"title": "Invalid transition", "detail": "Cannot stop"}},
    )
    prolific.get(f"{STUDIES}S1/", json={"id": "S1", "status": "COMPLETED"})

    ProlificProvider().expire_units(run=run_spec(run), provider_unit_ids=["S1"])


def test_a_refused_stop_of_a_running_study_is_an_error(prolific):
    run = make_run(units=1)
    prolific.post(
        f"{STUDIES}S1/transition/",
        status=400,
        json={"error": {"title": "Invalid transition", "detail": "Cannot stop"}},
    )
    prolific.get(f"{STUDIES}S1/", json={"id": "S1", "status": "ACTIVE"})

    with pytest.raises(ProviderError) as raised:
        ProlificProvider().expire_units(run=run_spec(run), provider_unit_ids=["S1"])

    assert not raised.value.transient
    assert "Cannot stop" in str(raised.value)


def test_the_completion_code_is_stable_per_run_and_differs_between_runs():
    run, other = make_run(units=1), make_run(units=1)

    code = completion_code(run_spec(run))

    assert code == completion_code(run_spec(TaskRun.objects.get(pk=run.pk)))
    assert code != completion_code(run_spec(other))
    assert re.fullmatch(r"[A-Z2-7]{8}", code)


PROVIDER_ARGS = {"_provider_type": "prolific"}


def test_launching_without_an_api_key_is_a_config_error(settings):
    settings.PROLIFIC_API_KEY = ""

    with pytest.raises(ConfigError) as raised:
        ProlificProvider.check_can_launch(provider_args=PROVIDER_ARGS)

    assert raised.value.key == "mephisto.provider"
    assert "PROLIFIC_API_KEY" in str(raised.value)


def test_launching_with_an_api_key_passes_the_check():
    ProlificProvider.check_can_launch(provider_args=PROVIDER_ARGS)


def test_prolific_fee_estimate():
    assert ProlificProvider.fee_rate == Decimal("0.333")


def test_calls_go_to_the_base_url_prolific_api_url_names(prolific, settings):
    # DESIGN §7: PROLIFIC_API_URL points the provider at a stand-in Prolific.
    settings.PROLIFIC_API_URL = "http://prolific-stand-in.test/api/v1"
    prolific.get(
        "http://prolific-stand-in.test/api/v1/users/me/",
        json={"id": "me"},
        match=[AUTH],
    )

    from providers.prolific import client as provider_module

    assert provider_module.api_url() == "http://prolific-stand-in.test/api/v1/"
    assert provider_module._request("GET", "users/me/", operation="users/me") == {
        "id": "me"
    }


def test_without_prolific_api_url_calls_go_to_prolifics_own_api(settings):
    from providers.prolific import client as provider_module

    settings.PROLIFIC_API_URL = ""

    assert provider_module.api_url() == "https://api.prolific.com/api/v1/"
