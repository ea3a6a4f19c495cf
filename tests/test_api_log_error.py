"""POST /log_error: the errors a page reports, kept with the agent."""

from __future__ import annotations

import pytest

from tasks_app.models import Agent
from tests.factories import TaskRunFactory
from tests.worker_calls import agent_id_for
from tests.worker_calls import client_fixture as client_fixture
from tests.worker_calls import launch_fixture as launch_fixture

pytestmark = pytest.mark.django_db


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
