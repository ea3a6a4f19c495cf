"""POST /return_unit (crowdsite's own endpoint): a worker gives a unit back."""

from __future__ import annotations

import pytest

from tasks_app.models import Agent, AgentStatus, Unit, UnitStatus
from tests.factories import TaskRunFactory
from tests.worker_calls import client_fixture as client_fixture
from tests.worker_calls import request_agent, return_unit, submit_task

pytestmark = pytest.mark.django_db


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
