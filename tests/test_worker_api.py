"""The worker wire protocol (DESIGN §5) end to end over HTTP, as a page speaks it."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from rest_framework.test import APIClient

from qualifications_app.models import GrantedQualification
from tasks_app.models import (
    Agent,
    AgentStatus,
    OnboardingAgent,
    OnboardingStatus,
    Unit,
    UnitStatus,
    Worker,
)
from tasks_app.run_config import load_run_config
from tasks_app.services import launch_run
from tests.conftest import EXAMPLE_CONF
from tests.factories import QualificationFactory, TaskRunFactory

pytestmark = pytest.mark.django_db

ON_POSTGRES = connection.vendor == "postgresql"
ONBOARDING_QUAL = "sentence-rating-onboarding-local"
NOT_PASSED = "You did not pass the onboarding for this task, so you can't work on it."
# The first rows of examples/static_react_task/data/sentences.csv.
FIRST_ROW = {"text": "This text is good text!"}
SECOND_ROW = {"text": "This text is bad text!"}
PNG_BYTES = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06"
    b"\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01"
    b"\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82"
)


@pytest.fixture
def client() -> APIClient:
    # A 5xx must show up as a response to assert on, not as a raised exception.
    return APIClient(raise_request_exception=False)


@pytest.fixture
def launch(django_capture_on_commit_callbacks):
    """Launch the example task's local_testing config; units end up `launched`."""

    def _launch(*overrides: str):
        config = load_run_config(EXAMPLE_CONF / "local_testing.yaml", list(overrides))
        with django_capture_on_commit_callbacks(execute=True):
            run = launch_run(config=config)
        run.refresh_from_db()
        return run

    return _launch


@pytest.fixture
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def request_agent(client, run, worker="worker-1", registration=None, **extra):
    provider_data = {
        "worker_name": worker,
        "assignment_id": "assignment-1",
        "agent_registration_id": registration or f"{worker}-assignment-1",
        "provider_type": run.provider_type,
        **extra,
    }
    return client.post(
        f"/request_agent?task_run_id={run.pk}",
        {"provider_data": provider_data, "client_timestamp": 1700000000.0},
        format="json",
    )


def agent_id_for(client, run, worker="worker-1", registration=None) -> str:
    response = request_agent(client, run, worker, registration)
    agent_id = response.json()["data"]["agent_id"]
    assert agent_id, response.json()
    return agent_id


def submit_onboarding(client, run, agent_id, answer):
    return client.post(
        f"/submit_onboarding?task_run_id={run.pk}",
        {
            "provider_data": {
                "USED_AGENT_ID": agent_id,
                "onboarding_data": {"answer": answer},
            },
            "client_timestamp": 1700000001.0,
        },
        format="json",
    )


def submit_task(client, run, agent_id, final_data):
    return client.post(
        f"/submit_task?task_run_id={run.pk}",
        {
            "USED_AGENT_ID": agent_id,
            "final_data": final_data,
            "client_timestamp": 1700000002.0,
        },
        format="json",
    )


def grant_value(worker_name: str, qualification: str) -> int | None:
    grant = GrantedQualification.objects.filter(
        worker__worker_name=worker_name, qualification__name=qualification
    ).first()
    return None if grant is None else grant.value


# --- GET /task_config.json ------------------------------------------------------------


def test_task_config_describes_the_run_with_the_mephisto_task_version(client, launch):
    run = launch()

    response = client.get(f"/task_config.json?task_run_id={run.pk}")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "task_title": "Rate a sentence as good or bad",
        "task_description": "You'll be shown a sentence. Say whether it reads well.",
        "task_reward": 0.05,
        "task_tags": "test,simple,button",
        "frame_height": 0,
        "chat_title": "Rate a sentence as good or bad",
        "block_mobile": False,
        "has_onboarding": True,
        "provider_type": "mock",
        "task_run_id": run.pk,
        "mephisto_task_version": "2.0.4",
    }


def test_task_config_passes_block_mobile_from_the_blueprint(client, launch):
    run = launch("mephisto.blueprint.block_mobile=true")

    config = client.get(f"/task_config.json?task_run_id={run.pk}").json()

    assert config["block_mobile"] is True


@pytest.mark.parametrize(
    "query, status, reason",
    [
        ("", 400, "the task_run_id query parameter is missing or not a number"),
        ("?task_run_id=", 400, "the task_run_id query parameter is missing"),
        ("?task_run_id=abc", 400, "the task_run_id query parameter is missing"),
        ("?task_run_id=-1", 400, "the task_run_id query parameter is missing"),
        ("?task_run_id=1.5", 400, "the task_run_id query parameter is missing"),
        ("?task_run_id=99999999", 404, "there is no task run 99999999"),
    ],
)
@pytest.mark.parametrize("endpoint", ["task_config.json", "request_agent"])
def test_a_bad_or_unknown_task_run_id_is_a_json_error_with_a_reason(
    client, endpoint, query, status, reason
):
    TaskRunFactory(units=1)
    url = f"/{endpoint}{query}"
    body = {"provider_data": {"worker_name": "w", "assignment_id": "a"}}

    if endpoint == "task_config.json":
        response = client.get(url)
    else:
        response = client.post(url, body, format="json")

    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    assert reason in response.json()["error"]


def test_a_task_run_id_of_superscript_digits_is_a_400_not_a_server_error(client):
    TaskRunFactory(units=1)

    response = client.get("/task_config.json?task_run_id=²")

    assert response.status_code == 400


# --- POST /request_agent --------------------------------------------------------------


def test_request_agent_answers_agent_details_with_the_rows_data(client):
    run = TaskRunFactory(units=1)

    response = request_agent(client, run, "worker-1")

    assert response.status_code == 200
    packet = response.json()
    worker = Worker.objects.get(worker_name="worker-1", provider_type="mock")
    agent = Agent.objects.get(worker=worker)
    assert packet == {
        "packet_type": "agent_details",
        "data": {
            "worker_id": worker.pk,
            "agent_id": agent.public_id,
            "init_task_data": {"text": "row 0"},
            "failure_reason": None,
        },
    }
    assert agent.status == AgentStatus.ACCEPTED
    assert agent.unit.status == UnitStatus.ASSIGNED
    assert agent.unit.worker == worker


def test_worker_endpoints_need_no_csrf_token_or_session():
    run = TaskRunFactory(units=1)
    strict = APIClient(enforce_csrf_checks=True, raise_request_exception=False)

    response = request_agent(strict, run, "worker-1")

    assert response.status_code == 200
    assert response.json()["data"]["agent_id"]


def test_agent_ids_are_long_random_tokens(client):
    run = TaskRunFactory(units=2)

    first = agent_id_for(client, run, "worker-1")
    second = agent_id_for(client, run, "worker-2")

    assert first != second
    assert len(first) >= 32 and len(second) >= 32


def test_the_same_registration_gets_the_same_agent_back(client):
    run = TaskRunFactory(units=2)
    first = request_agent(client, run, "worker-1", registration="reg-1").json()

    again = request_agent(client, run, "worker-1", registration="reg-1").json()

    assert again == first
    assert Agent.objects.count() == 1
    assert Unit.objects.filter(status=UnitStatus.LAUNCHED).count() == 1


def test_without_a_registration_id_the_worker_and_assignment_ids_name_the_agent(
    client,
):
    run = TaskRunFactory(units=2)
    body = {"provider_data": {"worker_name": "worker-1", "assignment_id": "A1"}}
    url = f"/request_agent?task_run_id={run.pk}"

    first = client.post(url, body, format="json").json()
    again = client.post(url, body, format="json").json()

    assert again["data"]["agent_id"] == first["data"]["agent_id"]
    assert Agent.objects.get().registration_id == "worker-1-A1"


def test_a_worker_who_may_not_work_gets_a_reason_not_an_http_error(client):
    run = TaskRunFactory(units=0)

    response = request_agent(client, run, "worker-1")

    assert response.status_code == 200
    assert response.json()["data"]["agent_id"] is None
    assert response.json()["data"]["failure_reason"] == (
        "There are no units left in this task for you right now."
    )


def test_a_sandbox_worker_is_kept_apart_from_the_live_worker_of_the_same_name(
    client,
):
    run = TaskRunFactory(units=1, provider_type="mturk_sandbox")

    request_agent(client, run, "A1B2C3")

    assert Worker.objects.get().worker_name == "A1B2C3_sandbox"


def test_another_worker_presenting_a_registration_id_does_not_get_its_agent(client):
    run = TaskRunFactory(units=2)
    first = request_agent(client, run, "worker-1", registration="worker-1-A1").json()

    other = request_agent(client, run, "worker-2", registration="worker-1-A1")

    assert other.status_code == 409
    assert first["data"]["agent_id"] not in other.content.decode()
    assert "another worker" in other.json()["error"]


def mturk_run_with_hits(**kwargs):
    run = TaskRunFactory(units=2, provider_type="mturk_sandbox", **kwargs)
    for index, unit in enumerate(Unit.objects.filter(run=run).order_by("pk")):
        unit.provider_unit_id = f"HIT-{index}"
        unit.save(update_fields=["provider_unit_id"])
    return run


def test_an_mturk_worker_gets_the_unit_of_the_hit_they_accepted(client):
    run = mturk_run_with_hits()

    data = request_agent(
        client, run, "A1", assignment_id="ASSIGN-1", hit_id="HIT-1"
    ).json()["data"]

    agent = Agent.objects.select_related("unit").get(public_id=data["agent_id"])
    assert agent.unit.provider_unit_id == "HIT-1"
    assert agent.provider_assignment_id == "ASSIGN-1"
    assert data["init_task_data"] == {"text": "row 1"}


def test_after_onboarding_an_mturk_agent_keeps_its_assignment_and_hit(client):
    QualificationFactory(name="onboarded")
    run = mturk_run_with_hits(
        resolved_config={
            "mephisto": {"blueprint": {"onboarding_qualification": "onboarded"}}
        }
    )
    onboarding_id = request_agent(
        client, run, "A1", assignment_id="ASSIGN-1", hit_id="HIT-1"
    ).json()["data"]["agent_id"]

    data = submit_onboarding(client, run, onboarding_id, "anything").json()["data"]

    agent = Agent.objects.select_related("unit").get(public_id=data["agent_id"])
    assert agent.provider_assignment_id == "ASSIGN-1"
    assert agent.unit.provider_unit_id == "HIT-1"


def test_request_agent_without_worker_name_or_assignment_is_a_400(client):
    run = TaskRunFactory(units=1)
    url = f"/request_agent?task_run_id={run.pk}"

    no_worker = client.post(url, {"provider_data": {"assignment_id": "a"}}, "json")
    no_ids = client.post(url, {"provider_data": {"worker_name": "w"}}, "json")

    assert no_worker.status_code == 400
    assert "worker_name" in no_worker.json()["fields"]["provider_data"]
    assert no_ids.status_code == 400
    assert no_ids.json()["fields"]["provider_data"] == {
        "non_field_errors": ["give agent_registration_id or assignment_id"]
    }
    assert not Agent.objects.exists()


def test_long_worker_and_assignment_ids_without_registration_id_are_not_a_500(
    client,
):
    run = TaskRunFactory(units=1)

    response = client.post(
        f"/request_agent?task_run_id={run.pk}",
        {"provider_data": {"worker_name": "w" * 200, "assignment_id": "a" * 200}},
        format="json",
    )

    assert response.status_code < 500


# --- onboarding -----------------------------------------------------------------------


def test_a_new_worker_gets_an_onboarding_agent_first(client, launch):
    run = launch()

    data = request_agent(client, run, "worker-1").json()["data"]

    assert data["agent_id"].startswith("onboarding")
    assert data["failure_reason"] is None
    onboarding = OnboardingAgent.objects.get(public_id=data["agent_id"])
    assert onboarding.status == OnboardingStatus.ONBOARDING
    assert not Agent.objects.exists()
    assert not Unit.objects.filter(status=UnitStatus.ASSIGNED).exists()


def test_passing_onboarding_answers_with_a_real_agent_and_grants_the_qualification(
    client, launch
):
    run = launch()
    onboarding_id = agent_id_for(client, run, "worker-1")

    response = submit_onboarding(client, run, onboarding_id, "good")

    assert response.status_code == 200
    data = response.json()["data"]
    assert response.json()["packet_type"] == "agent_details"
    assert not data["agent_id"].startswith("onboarding")
    assert data["init_task_data"] == FIRST_ROW
    assert data["failure_reason"] is None
    agent = Agent.objects.get(public_id=data["agent_id"])
    assert agent.unit.status == UnitStatus.ASSIGNED
    assert grant_value("worker-1", ONBOARDING_QUAL) == 1
    assert grant_value("worker-1", f"{ONBOARDING_QUAL}-failed") is None
    onboarding = OnboardingAgent.objects.get(public_id=onboarding_id)
    assert onboarding.status == OnboardingStatus.APPROVED
    assert onboarding.submission == {"answer": "good"}


def test_after_passing_onboarding_the_worker_goes_straight_to_work(client, launch):
    run = launch()
    submit_onboarding(client, run, agent_id_for(client, run, "worker-1"), "good")

    data = request_agent(client, run, "worker-1", registration="second-tab").json()

    assert not data["data"]["agent_id"].startswith("onboarding")
    assert data["data"]["init_task_data"] == SECOND_ROW


def test_failing_onboarding_refuses_with_a_reason_and_marks_the_worker_failed(
    client, launch
):
    run = launch()
    onboarding_id = agent_id_for(client, run, "worker-1")

    response = submit_onboarding(client, run, onboarding_id, "bad")

    assert response.status_code == 200
    data = response.json()["data"]
    assert data["agent_id"] is None
    assert "onboarding" in data["failure_reason"]
    assert grant_value("worker-1", ONBOARDING_QUAL) == 0
    assert grant_value("worker-1", f"{ONBOARDING_QUAL}-failed") == 1
    assert (
        OnboardingAgent.objects.get(public_id=onboarding_id).status
        == OnboardingStatus.REJECTED
    )
    assert not Agent.objects.exists()


def test_a_worker_who_failed_onboarding_is_refused_later_in_the_same_run(
    client, launch
):
    run = launch()
    submit_onboarding(client, run, agent_id_for(client, run, "worker-1"), "bad")

    same = request_agent(client, run, "worker-1").json()["data"]
    new_tab = request_agent(client, run, "worker-1", registration="tab-2").json()

    assert same["agent_id"] is None
    assert same["failure_reason"] == NOT_PASSED
    assert new_tab["data"]["agent_id"] is None
    assert new_tab["data"]["failure_reason"] == NOT_PASSED
    assert OnboardingAgent.objects.count() == 1


def test_a_worker_who_failed_onboarding_is_refused_by_another_run_using_it(
    client, launch
):
    first_run = launch()
    second_run = launch("mephisto.task.task_name=sentence-rating-second-task")
    onboarding_id = agent_id_for(client, first_run, "worker-1")
    submit_onboarding(client, first_run, onboarding_id, "bad")

    data = request_agent(client, second_run, "worker-1").json()["data"]

    assert data["agent_id"] is None
    assert data["failure_reason"] == NOT_PASSED
    assert not OnboardingAgent.objects.filter(run=second_run).exists()


def test_a_worker_who_passed_onboarding_skips_it_in_another_run_using_it(
    client, launch
):
    first_run = launch()
    second_run = launch("mephisto.task.task_name=sentence-rating-second-task")
    submit_onboarding(client, first_run, agent_id_for(client, first_run), "good")

    data = request_agent(client, second_run, "worker-1").json()["data"]

    assert not data["agent_id"].startswith("onboarding")
    assert data["init_task_data"] == FIRST_ROW


def test_submitting_onboarding_twice_answers_with_the_same_agent(client, launch):
    run = launch()
    onboarding_id = agent_id_for(client, run, "worker-1")
    first = submit_onboarding(client, run, onboarding_id, "good").json()

    again = submit_onboarding(client, run, onboarding_id, "bad").json()

    assert again == first
    assert grant_value("worker-1", ONBOARDING_QUAL) == 1
    assert Agent.objects.count() == 1


def test_submit_onboarding_with_a_task_agent_id_is_a_400(client):
    run = TaskRunFactory(units=1)
    agent_id = agent_id_for(client, run)

    response = submit_onboarding(client, run, agent_id, "good")

    assert response.status_code == 400
    assert response.json() == {"error": "USED_AGENT_ID is not an onboarding agent id"}


def test_submit_onboarding_with_an_unknown_onboarding_id_is_a_404(client):
    run = TaskRunFactory(units=1)

    response = submit_onboarding(client, run, "onboarding-forged", "good")

    assert response.status_code == 404
    assert response.json() == {"error": "unknown onboarding agent id"}


def test_onboarding_data_the_hook_cannot_read_is_not_a_server_error(client, launch):
    run = launch()
    onboarding_id = agent_id_for(client, run, "worker-1")

    response = client.post(
        f"/submit_onboarding?task_run_id={run.pk}",
        {"provider_data": {"USED_AGENT_ID": onboarding_id, "onboarding_data": ["x"]}},
        format="json",
    )

    assert response.status_code < 500


# --- POST /submit_task ----------------------------------------------------------------


def test_submit_task_stores_the_data_and_completes_unit_and_agent(client):
    run = TaskRunFactory(units=1)
    agent_id = agent_id_for(client, run)

    response = submit_task(client, run, agent_id, {"rating": "good"})

    assert response.status_code == 200
    assert response.json() == {"status": "Submitted!"}
    agent = Agent.objects.select_related("unit").get(public_id=agent_id)
    assert agent.submission == {"rating": "good"}
    assert agent.submitted_at is not None
    assert agent.status == AgentStatus.COMPLETED
    assert agent.is_late is False
    assert agent.unit.status == UnitStatus.COMPLETED


def test_submitting_twice_keeps_the_first_data_and_answers_the_same(client):
    run = TaskRunFactory(units=1)
    agent_id = agent_id_for(client, run)
    submit_task(client, run, agent_id, {"rating": "good"})

    response = submit_task(client, run, agent_id, {"rating": "bad"})

    assert response.status_code == 200
    assert response.json() == {"status": "Submitted!"}
    assert Agent.objects.get(public_id=agent_id).submission == {"rating": "good"}


def test_a_reconnect_after_submitting_gets_the_same_agent(client):
    run = TaskRunFactory(units=2)
    first = request_agent(client, run, "worker-1").json()
    submit_task(client, run, first["data"]["agent_id"], {"rating": "good"})

    again = request_agent(client, run, "worker-1").json()

    assert again == first


def test_a_first_submission_without_final_data_is_kept_too(client):
    run = TaskRunFactory(units=1)
    agent_id = agent_id_for(client, run)
    client.post("/submit_task", {"USED_AGENT_ID": agent_id}, format="json")

    response = submit_task(client, run, agent_id, {"rating": "bad"})

    assert response.status_code == 200
    agent = Agent.objects.get(public_id=agent_id)
    assert agent.submission is None
    assert agent.is_late is False


@pytest.mark.parametrize(
    "endpoint, body",
    [
        ("submit_task", {"final_data": {"rating": "good"}}),
        ("submit_metadata", {"metadata": {"browser": "x"}}),
        ("log_error", {"error_data": {"message": "x"}}),
    ],
)
def test_an_unknown_agent_id_is_a_404_with_a_reason(client, endpoint, body):
    run = TaskRunFactory(units=1)
    real = agent_id_for(client, run)

    response = client.post(
        f"/{endpoint}?task_run_id={run.pk}",
        {"USED_AGENT_ID": real[:-1] + ("A" if real[-1] != "A" else "B"), **body},
        format="json",
    )

    assert response.status_code == 404
    assert response.json() == {"error": "unknown agent id"}
    agent = Agent.objects.get(public_id=real)
    assert agent.submission is None
    assert agent.metadata is None


def test_submitting_for_an_agent_already_approved_is_a_409_and_changes_nothing(
    client,
):
    run = TaskRunFactory(units=1)
    agent_id = agent_id_for(client, run)
    submit_task(client, run, agent_id, {"rating": "good"})
    Agent.objects.filter(public_id=agent_id).update(status=AgentStatus.APPROVED)

    response = submit_task(client, run, agent_id, {"rating": "bad"})

    assert response.status_code == 409
    assert response.json() == {
        "error": "this unit was already reviewed; the submission was not changed"
    }
    agent = Agent.objects.get(public_id=agent_id)
    assert agent.submission == {"rating": "good"}
    assert agent.status == AgentStatus.APPROVED


def test_final_data_over_the_submission_limit_is_a_400_naming_final_data(
    client, settings
):
    settings.CROWDSITE_MAX_SUBMISSION_BYTES = 50
    run = TaskRunFactory(units=1)
    agent_id = agent_id_for(client, run)

    response = submit_task(client, run, agent_id, {"text": "x" * 100})

    assert response.status_code == 400
    assert response.json()["error"] == "invalid request"
    assert list(response.json()["fields"]) == ["final_data"]
    assert "the limit is 50 bytes" in json.dumps(response.json()["fields"])
    agent = Agent.objects.select_related("unit").get(public_id=agent_id)
    assert agent.submission is None
    assert agent.unit.status == UnitStatus.ASSIGNED


def test_a_body_over_djangos_request_limit_is_a_413(client, settings):
    run = TaskRunFactory(units=1)
    agent_id = agent_id_for(client, run)
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100

    response = submit_task(client, run, agent_id, {"text": "x" * 200})

    assert response.status_code == 413
    assert response.json()["error"].startswith("request too large")
    assert Agent.objects.get(public_id=agent_id).submission is None


def test_malformed_json_is_a_400(client):
    run = TaskRunFactory(units=1)
    agent_id = agent_id_for(client, run)

    response = client.generic(
        "POST",
        f"/submit_task?task_run_id={run.pk}",
        f'{{"USED_AGENT_ID": "{agent_id}", "final_data": {{',
        content_type="application/json",
    )

    assert response.status_code == 400
    assert response.json()["detail"].startswith("JSON parse error")
    assert Agent.objects.get(public_id=agent_id).submission is None


def test_a_json_body_that_is_not_an_object_is_a_400(client):
    run = TaskRunFactory(units=1)

    response = client.post(f"/request_agent?task_run_id={run.pk}", [1, 2], "json")

    assert response.status_code == 400
    assert response.json() == {"error": "the request body must be a JSON object"}


def test_a_body_that_is_not_json_is_a_415(client):
    run = TaskRunFactory(units=1)

    response = client.generic(
        "POST", f"/request_agent?task_run_id={run.pk}", "x", content_type="text/plain"
    )

    assert response.status_code == 415
    assert "Unsupported media type" in response.json()["detail"]


def test_deeply_nested_json_is_a_400_not_a_server_error(client):
    run = TaskRunFactory(units=1)

    response = client.generic(
        "POST",
        f"/request_agent?task_run_id={run.pk}",
        "[" * 100_000 + "]" * 100_000,
        content_type="application/json",
    )

    assert response.status_code == 400


@pytest.mark.parametrize(
    "endpoint, field",
    [
        ("submit_task", "final_data"),
        ("submit_metadata", "metadata"),
        ("log_error", "error_data"),
    ],
)
@pytest.mark.parametrize(
    "escape, reason",
    [
        ("\\u0000", "contains a NUL character"),
        ("\\ud800", "lone surrogate"),
    ],
)
def test_json_data_no_database_can_store_is_refused_with_a_400(
    client, endpoint, field, escape, reason
):
    run = TaskRunFactory(units=1)
    agent_id = agent_id_for(client, run)

    response = client.generic(
        "POST",
        f"/{endpoint}?task_run_id={run.pk}",
        f'{{"USED_AGENT_ID": "{agent_id}", "{field}": {{"text": "a{escape}b"}}}}',
        content_type="application/json",
    )

    assert response.status_code == 400
    assert list(response.json()["fields"]) == [field]
    assert reason in json.dumps(response.json()["fields"])
    agent = Agent.objects.get(public_id=agent_id)
    assert agent.submission is None
    assert agent.metadata is None


# --- POST /submit_metadata and /log_error ---------------------------------------------


def test_submit_metadata_is_kept_with_the_agent_and_merged(client):
    run = TaskRunFactory(units=1)
    agent_id = agent_id_for(client, run)
    url = f"/submit_metadata?task_run_id={run.pk}"

    first = client.post(
        url, {"USED_AGENT_ID": agent_id, "metadata": {"browser": "firefox"}}, "json"
    )
    second = client.post(
        url, {"USED_AGENT_ID": agent_id, "metadata": {"width": 1024}}, "json"
    )

    assert first.status_code == second.status_code == 200
    assert first.json() == {"status": "Submitted metadata"}
    assert Agent.objects.get(public_id=agent_id).metadata == {
        "browser": "firefox",
        "width": 1024,
    }


def test_metadata_that_is_not_an_object_is_kept_under_value(client):
    run = TaskRunFactory(units=1)
    agent_id = agent_id_for(client, run)

    client.post(
        f"/submit_metadata?task_run_id={run.pk}",
        {"USED_AGENT_ID": agent_id, "metadata": [1, 2]},
        format="json",
    )

    assert Agent.objects.get(public_id=agent_id).metadata == {"value": [1, 2]}


def test_metadata_is_accepted_after_the_submission(client):
    run = TaskRunFactory(units=1)
    agent_id = agent_id_for(client, run)
    submit_task(client, run, agent_id, {"rating": "good"})

    response = client.post(
        f"/submit_metadata?task_run_id={run.pk}",
        {"USED_AGENT_ID": agent_id, "metadata": {"feedback": "fun"}},
        format="json",
    )

    assert response.status_code == 200
    agent = Agent.objects.get(public_id=agent_id)
    assert agent.metadata == {"feedback": "fun"}
    assert agent.submission == {"rating": "good"}


def test_log_error_keeps_each_error_with_the_agent(client):
    run = TaskRunFactory(units=1)
    agent_id = agent_id_for(client, run)
    url = f"/log_error?task_run_id={run.pk}"

    first = client.post(
        url, {"USED_AGENT_ID": agent_id, "error_data": {"message": "boom"}}, "json"
    )
    client.post(url, {"USED_AGENT_ID": agent_id, "error_data": "again"}, "json")

    assert first.status_code == 200
    assert first.json() == {"status": "Error log sent!"}
    errors = Agent.objects.get(public_id=agent_id).metadata["errors"]
    assert [e["error_data"] for e in errors] == [{"message": "boom"}, "again"]
    assert all(e["at"] for e in errors)


def test_log_error_from_an_onboarding_agent_is_accepted(client, launch):
    run = launch()
    onboarding_id = agent_id_for(client, run)

    response = client.post(
        f"/log_error?task_run_id={run.pk}",
        {"USED_AGENT_ID": onboarding_id, "error_data": "oops"},
        format="json",
    )

    assert response.status_code == 200
    assert response.json() == {"status": "Error log sent!"}


def test_metadata_over_the_submission_limit_is_a_400_naming_metadata(client, settings):
    settings.CROWDSITE_MAX_SUBMISSION_BYTES = 20
    run = TaskRunFactory(units=1)
    agent_id = agent_id_for(client, run)

    response = client.post(
        f"/submit_metadata?task_run_id={run.pk}",
        {"USED_AGENT_ID": agent_id, "metadata": {"text": "x" * 50}},
        format="json",
    )

    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["metadata"]
    assert Agent.objects.get(public_id=agent_id).metadata is None


# --- the task page --------------------------------------------------------------------


def test_the_task_page_loads_the_runs_wrap_script_and_bundle(client):
    run = TaskRunFactory(units=1)

    response = client.get(f"/task/{run.pk}/?worker_id=w1&assignment_id=a1")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert f'<script src="/task/{run.pk}/wrap_crowd_source.js"></script>' in html
    assert f'<script src="/task/{run.pk}/bundle.js"></script>' in html
    assert f'"task_run_id": {run.pk}' in html
    assert "data-preview" not in html


@pytest.mark.parametrize(
    "provider, query",
    [
        ("mock", ""),
        ("mock", "?worker_id=w1"),
        ("mturk", "?workerId=W&assignmentId=ASSIGNMENT_ID_NOT_AVAILABLE&hitId=H"),
        ("prolific", "?participant_id=P&study_id=S"),
    ],
)
def test_without_a_worker_or_assignment_the_page_is_a_preview(client, provider, query):
    run = TaskRunFactory(units=1, provider_type=provider)

    response = client.get(f"/task/{run.pk}/{query}")

    assert 'data-preview="true"' in response.content.decode()


@pytest.mark.parametrize(
    "provider, ancestors",
    [
        ("mock", "*"),
        ("mturk", "https://worker.mturk.com https://www.mturk.com"),
        ("mturk_sandbox", "https://workersandbox.mturk.com"),
        ("prolific", "'self'"),
    ],
)
def test_the_task_page_may_be_framed_by_its_provider_only(client, provider, ancestors):
    run = TaskRunFactory(units=1, provider_type=provider)

    response = client.get(f"/task/{run.pk}/")

    assert response["Content-Security-Policy"] == f"frame-ancestors {ancestors}"
    assert "X-Frame-Options" not in response


@pytest.mark.parametrize("path", ["/admin/login/", "/task_config.json"])
def test_other_pages_refuse_to_be_framed(client, path):
    response = client.get(path)

    assert response["X-Frame-Options"] == "DENY"


def test_an_unknown_run_has_no_task_page(client):
    assert client.get("/task/99999999/").status_code == 404


def test_the_mturk_wrap_script_handles_preview_and_submits_to_mturk(client):
    run = TaskRunFactory(units=1, provider_type="mturk")

    response = client.get(f"/task/{run.pk}/wrap_crowd_source.js")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    script = response.content.decode()
    assert "ASSIGNMENT_ID_NOT_AVAILABLE" in script
    assert "/mturk/externalSubmit" in script
    for function in (
        "getWorkerName",
        "getAssignmentId",
        "getAgentRegistration",
        "handleSubmitToProvider",
        "getProviderURLParams",
    ):
        assert f"function {function}(" in script


def test_the_mturk_page_says_where_to_submit(client):
    live = TaskRunFactory(units=1, provider_type="mturk")
    sandbox = TaskRunFactory(units=1, provider_type="mturk_sandbox")

    live_page = client.get(f"/task/{live.pk}/").content.decode()
    sandbox_page = client.get(f"/task/{sandbox.pk}/").content.decode()

    assert '"mturk_submit_to": "https://www.mturk.com"' in live_page
    assert '"mturk_submit_to": "https://workersandbox.mturk.com"' in sandbox_page


def test_the_bundle_is_the_runs_task_source(client, launch):
    run = launch()

    response = client.get(f"/task/{run.pk}/bundle.js")

    assert response.status_code == 200
    source = run.resolved_config["mephisto"]["blueprint"]["task_source"]
    with open(source, "rb") as bundle:
        assert response.content == bundle.read()


def test_a_run_without_a_bundle_file_answers_404_for_it(client):
    run = TaskRunFactory(units=1)

    assert client.get(f"/task/{run.pk}/bundle.js").status_code == 404


# --- the whole protocol, as a worker's page runs it -----------------------------------


def test_a_worker_onboards_works_and_reaches_the_per_worker_maximum(client, launch):
    run = launch()
    onboarding_id = agent_id_for(client, run, "worker-1", registration="r0")
    data = submit_onboarding(client, run, onboarding_id, "good").json()["data"]
    submitted = [data["agent_id"]]
    submit_task(client, run, data["agent_id"], {"rating": "good"})

    for registration in ("r1", "r2"):
        agent_id = agent_id_for(client, run, "worker-1", registration=registration)
        submit_task(client, run, agent_id, {"rating": "bad"})
        submitted.append(agent_id)
    fourth = request_agent(client, run, "worker-1", registration="r3").json()["data"]

    assert fourth["agent_id"] is None
    assert fourth["failure_reason"] == (
        "You have reached the maximum of 3 units for this task."
    )
    assert Unit.objects.filter(run=run, status=UnitStatus.COMPLETED).count() == 3
    assert len(set(submitted)) == 3


# --- returning a unit (crowdsite's own endpoint) ---------------------------------


def return_unit(client, agent_id):
    return client.post(
        "/return_unit",
        {"USED_AGENT_ID": agent_id, "client_timestamp": 1.0},
        format="json",
    )


def test_a_returned_unit_goes_to_the_next_worker_at_once(client):
    run = TaskRunFactory(units=1)
    first = request_agent(client, run, worker="w1").json()["data"]["agent_id"]

    response = return_unit(client, first)
    second = request_agent(client, run, worker="w2").json()["data"]

    assert response.status_code == 200
    assert response.json() == {"status": "Returned"}
    assert Agent.objects.get(public_id=first).status == AgentStatus.RETURNED
    assert Agent.objects.get(public_id=second["agent_id"]).unit == Unit.objects.get()


def test_returning_twice_is_harmless_and_the_worker_is_told_on_reconnect(client):
    run = TaskRunFactory(units=2)
    agent_id = request_agent(client, run).json()["data"]["agent_id"]

    assert return_unit(client, agent_id).status_code == 200
    assert return_unit(client, agent_id).status_code == 200
    again = request_agent(client, run).json()["data"]

    assert again["agent_id"] is None
    assert again["failure_reason"] == "You returned this unit. Please accept a new one."
    assert Unit.objects.filter(status=UnitStatus.LAUNCHED).count() == 2


def test_a_submitted_unit_cant_be_returned(client):
    run = TaskRunFactory(units=1)
    agent_id = request_agent(client, run).json()["data"]["agent_id"]
    submit_task(client, run, agent_id, {"rating": 3})

    response = return_unit(client, agent_id)

    assert response.status_code == 409
    assert "already submitted" in response.json()["error"]
    assert Unit.objects.get().status == UnitStatus.COMPLETED


@pytest.mark.parametrize("agent_id", ["no-such-agent", ""])
def test_returning_an_unknown_agent_is_refused(client, agent_id):
    response = return_unit(client, agent_id)

    assert response.status_code in (400, 404)
    assert "error" in response.json()
