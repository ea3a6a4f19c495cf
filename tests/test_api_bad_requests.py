"""Bad run ids, agent ids and bodies on every worker endpoint: a JSON refusal."""

from __future__ import annotations

import json

import pytest

from tasks_app.models import Agent
from tests.factories import TaskRunFactory
from tests.worker_calls import agent_id_for, submit_task
from tests.worker_calls import client_fixture as client_fixture

pytestmark = pytest.mark.django_db


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
