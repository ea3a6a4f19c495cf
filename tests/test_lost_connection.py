"""A worker request whose database connection dies is run again once on a new
connection; a second loss is a JSON 503 with Retry-After, never an HTML 500."""

from __future__ import annotations

import pytest
from django.db import OperationalError, connection

from tasks_app import services
from tasks_app.models import Agent, AgentStatus
from tests.conftest import need
from tests.factories import TaskRunFactory
from tests.worker_calls import agent_id_for, submit_task
from tests.worker_calls import client_fixture as client_fixture

pytestmark = pytest.mark.django_db(transaction=True)


def failing(times: int, real):
    """`real`, raising a lost connection on its first `times` calls."""
    calls = {"n": 0}

    def wrapper(**kwargs):
        calls["n"] += 1
        if calls["n"] <= times:
            raise OperationalError("server closed the connection unexpectedly")
        return real(**kwargs)

    return wrapper


def test_a_lost_connection_is_retried_once_and_the_submission_kept(client, monkeypatch):
    run = TaskRunFactory(units=1)
    agent_id = agent_id_for(client, run)
    monkeypatch.setattr(services, "submit_unit", failing(1, services.submit_unit))

    response = submit_task(client, run, agent_id, {"rating": "good"})

    assert response.status_code == 200
    assert response.json() == {"status": "Submitted!"}
    agent = Agent.objects.get(public_id=agent_id)
    assert agent.submission == {"rating": "good"}
    assert agent.status == AgentStatus.COMPLETED


def test_a_second_loss_is_a_json_503_with_retry_after(client, monkeypatch):
    run = TaskRunFactory(units=1)
    agent_id = agent_id_for(client, run)
    monkeypatch.setattr(
        services, "submit_metadata", failing(2, services.submit_metadata)
    )

    response = client.post(
        f"/submit_metadata?task_run_id={run.pk}",
        {"USED_AGENT_ID": agent_id, "metadata": {"a": 1}},
        format="json",
    )

    assert response.status_code == 503
    assert response["Retry-After"] == "1"
    assert "try again" in response.json()["error"]


def test_a_backend_terminated_mid_request_is_answered_and_nothing_is_lost(
    client, monkeypatch
):
    need(
        connection.vendor == "postgresql",
        "needs PostgreSQL: run with DATABASE_URL=postgres://postgres@127.0.0.1:5432/"
        "crowdsite (the test terminates its own server process)",
    )
    run = TaskRunFactory(units=2)
    agent_id = agent_id_for(client, run)
    real = services.submit_unit
    terminated = []

    def terminate_then_submit(**kwargs):
        if not terminated:
            terminated.append(True)
            with connection.cursor() as cursor:
                # The server ends this very backend, as a failover or an
                # administrator's pg_terminate_backend would.
                cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")
        return real(**kwargs)

    monkeypatch.setattr(services, "submit_unit", terminate_then_submit)

    response = submit_task(client, run, agent_id, {"rating": "good"})

    assert terminated
    assert response.status_code == 200
    assert Agent.objects.get(public_id=agent_id).submission == {"rating": "good"}
    assert Agent.objects.filter(run=run).count() == 1
