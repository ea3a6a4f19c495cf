"""`/return_unit` against `/submit_task` of the same agent: whichever comes second
is told what the first did, and no worker is told "Returned" for a submitted unit."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from tasks_app import services
from tasks_app.models import Agent, AgentStatus, UnitStatus
from tests.factories import TaskRunFactory
from tests.worker_calls import agent_id_for, submit_task
from tests.worker_calls import client_fixture as client_fixture

pytestmark = pytest.mark.django_db


def return_unit(client, run, agent_id):
    return client.post(
        f"/return_unit?task_run_id={run.pk}", {"USED_AGENT_ID": agent_id}, "json"
    )


def test_a_return_after_the_submission_is_told_it_was_submitted(client):
    run = TaskRunFactory(units=1)
    agent_id = agent_id_for(client, run)
    submit_task(client, run, agent_id, {"rating": "good"})

    response = return_unit(client, run, agent_id)

    assert response.status_code == 409
    assert "already submitted" in response.json()["error"]
    assert Agent.objects.get(public_id=agent_id).status == AgentStatus.COMPLETED


def test_a_submission_after_the_return_is_kept_as_late(client):
    run = TaskRunFactory(units=1)
    agent_id = agent_id_for(client, run)
    assert return_unit(client, run, agent_id).json() == {"status": "Returned"}

    response = submit_task(client, run, agent_id, {"rating": "good"})

    assert response.json() == {"status": "Submitted!"}
    agent = Agent.objects.select_related("unit").get(public_id=agent_id)
    assert agent.submission == {"rating": "good"}
    assert agent.is_late is True
    assert agent.unit.status == UnitStatus.COMPLETED


def test_a_unit_whose_time_ran_out_cant_be_returned(client):
    run = TaskRunFactory(units=1)
    agent_id = agent_id_for(client, run)
    Agent.objects.filter(public_id=agent_id).update(
        deadline_at=timezone.now() - timedelta(seconds=1)
    )
    services.expire_overdue_agents(run_id=run.pk)

    response = return_unit(client, run, agent_id)

    assert response.status_code == 409
    assert "no longer yours (the agent is timeout)" in response.json()["error"]


@pytest.mark.django_db(transaction=True)
def test_racing_return_and_submit_never_tell_returned_for_a_submitted_unit(postgres):
    agents = 24
    run = TaskRunFactory(units=agents)
    setup = APIClient()
    ids = [agent_id_for(setup, run, worker=f"w{n}") for n in range(agents)]
    answers: dict[tuple[str, str], int] = {}
    barrier = threading.Barrier(2 * agents, timeout=60)

    def act(kind: str, agent_id: str) -> None:
        client = APIClient(raise_request_exception=False)
        try:
            barrier.wait()
            if kind == "return":
                answers[kind, agent_id] = return_unit(client, run, agent_id).status_code
            else:
                response = submit_task(client, run, agent_id, {"rating": "good"})
                answers[kind, agent_id] = response.status_code
        finally:
            connection.close()

    threads = [
        threading.Thread(target=act, args=(kind, agent_id))
        for agent_id in ids
        for kind in ("return", "submit")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert all(answers["submit", a] == 200 for a in ids)
    for agent in Agent.objects.filter(public_id__in=ids):
        assert agent.submission == {"rating": "good"}
        returned = answers["return", agent.public_id]
        assert returned in (200, 409)
        # "Returned" only when the return came first: the submission after it
        # is then a late one. A 409 only when the submission came first.
        assert agent.is_late is (returned == 200)
