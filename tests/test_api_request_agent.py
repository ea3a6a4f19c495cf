"""POST /request_agent: a worker's page asks for an agent and the unit to work on."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tasks_app.models import Agent, AgentStatus, Unit, UnitStatus, Worker
from tests.factories import QualificationFactory, TaskRunFactory
from tests.worker_calls import (
    agent_id_for,
    request_agent,
    submit_onboarding,
    submit_task,
)
from tests.worker_calls import client_fixture as client_fixture

pytestmark = pytest.mark.django_db


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


def test_a_reconnect_after_submitting_gets_the_same_agent(client):
    run = TaskRunFactory(units=2)
    first = request_agent(client, run, "worker-1").json()
    submit_task(client, run, first["data"]["agent_id"], {"rating": "good"})

    again = request_agent(client, run, "worker-1").json()

    assert again == first


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
