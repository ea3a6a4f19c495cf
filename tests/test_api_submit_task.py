"""POST /submit_task: a worker's final data, kept once, completing the unit."""

from __future__ import annotations

import json

import pytest

from tasks_app import services
from tasks_app.models import Agent, AgentStatus, UnitStatus
from tests.factories import TaskRunFactory
from tests.worker_calls import agent_id_for, submit_task
from tests.worker_calls import client_fixture as client_fixture

pytestmark = pytest.mark.django_db


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


def test_a_first_submission_without_final_data_is_kept_too(client):
    run = TaskRunFactory(units=1)
    agent_id = agent_id_for(client, run)
    client.post("/submit_task", {"USED_AGENT_ID": agent_id}, format="json")

    response = submit_task(client, run, agent_id, {"rating": "bad"})

    assert response.status_code == 200
    agent = Agent.objects.get(public_id=agent_id)
    assert agent.submission is None
    assert agent.is_late is False


def test_submitting_for_an_agent_already_approved_is_a_409_and_changes_nothing(
    client,
):
    run = TaskRunFactory(units=1)
    agent_id = agent_id_for(client, run)
    submit_task(client, run, agent_id, {"rating": "good"})
    services.approve_unit(unit_id=Agent.objects.get(public_id=agent_id).unit_id)

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
