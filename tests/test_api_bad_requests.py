"""Bad run ids, agent ids and bodies on every worker endpoint: a JSON refusal."""

from __future__ import annotations

import json
import logging

import pytest
from django.core.exceptions import SuspiciousFileOperation

from tasks_app import services
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


# --- refusals Django or DRF raise, and failures: JSON too ----------------------------


def test_a_multipart_body_with_too_many_fields_is_a_json_413_and_stores_nothing(
    client, settings
):
    run = TaskRunFactory(units=1)
    agent_id = agent_id_for(client, run)
    before = Agent.objects.get(public_id=agent_id).status
    fields = {f"field{i}": "x" for i in range(5000)}

    response = client.post(
        f"/submit_task?task_run_id={run.pk}",
        {"USED_AGENT_ID": agent_id, "final_data": "{}", **fields},
        format="multipart",
    )

    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert f"more than {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS} fields" in error
    assert "DATA_UPLOAD_MAX_NUMBER_FIELDS" in error
    assert "nothing was stored" in error
    agent = Agent.objects.get(public_id=agent_id)
    assert (agent.submission, agent.submitted_at) == (None, None)
    assert agent.status == before


def test_a_query_string_with_too_many_parameters_is_a_json_413(client):
    run = TaskRunFactory(units=1)
    query = "&".join(f"p{i}=1" for i in range(5000))

    response = client.get(f"/task_config.json?task_run_id={run.pk}&{query}")

    assert response.status_code == 413
    assert "more than 1000 fields" in response.json()["error"]


def test_a_suspicious_operation_is_a_json_400(client, monkeypatch):
    run = TaskRunFactory(units=1)
    agent_id = agent_id_for(client, run)

    def suspicious(**kwargs):
        raise SuspiciousFileOperation("Detected path traversal attempt")

    monkeypatch.setattr(services, "submit_unit", suspicious)

    response = submit_task(client, run, agent_id, {"rating": "good"})

    assert response.status_code == 400
    assert response.json() == {
        "error": "the request can't be accepted: Detected path traversal attempt"
    }


def test_an_unexpected_exception_is_a_json_500_logged_with_its_traceback(
    client, monkeypatch, caplog
):
    run = TaskRunFactory(units=1)
    agent_id = agent_id_for(client, run)

    def broken(**kwargs):
        raise RuntimeError("a bug in the service")

    monkeypatch.setattr(services, "submit_unit", broken)

    with caplog.at_level(logging.ERROR, logger="tasks_app.api"):
        response = submit_task(client, run, agent_id, {"rating": "good"})

    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "error": "the server failed to handle this request; it is safe to send it again"
    }
    [logged] = [r for r in caplog.records if r.name == "tasks_app.api"]
    assert logged.getMessage() == "worker request POST /submit_task failed"
    assert logged.exc_info is not None
    assert isinstance(logged.exc_info[1], RuntimeError)
    assert Agent.objects.get(public_id=agent_id).submission is None


class BrokenBody:
    """A request body whose connection drops while it is read."""

    def read(self, *args):
        raise OSError("connection reset by peer")

    def readline(self, *args):
        raise OSError("connection reset by peer")


MULTIPART = "multipart/form-data; boundary=BOUNDARY"


@pytest.mark.parametrize(
    "method, content_type, body, status",
    [
        ("GET", None, b"", 405),
        ("PUT", "application/json", b"{}", 405),
        ("POST", "application/json", b'{"USED_AGENT_ID": "a", "final_data": {', 400),
        ("POST", "multipart/form-data", b"--BOUNDARY--\r\n", 400),
        ("POST", MULTIPART, b"--BOUNDARY\r\nContent-Disposition: form-da", 400),
        ("POST", MULTIPART, b"--BOUNDARY\r\n" + b"X" * 20_000, 400),
        ("POST", MULTIPART, BrokenBody(), 400),
        ("POST", "application/json", BrokenBody(), 400),
    ],
    ids=[
        "wrong-method",
        "another-wrong-method",
        "truncated-json",
        "multipart-without-boundary",
        "multipart-cut-in-a-header",
        "multipart-header-never-ending",
        "multipart-connection-lost",
        "json-connection-lost",
    ],
)
def test_a_body_that_cant_be_read_is_a_json_refusal_and_stores_nothing(
    client, method, content_type, body, status
):
    run = TaskRunFactory(units=1)
    agent_id = agent_id_for(client, run)
    extra = {}
    if isinstance(body, BrokenBody):
        extra, body = {"wsgi.input": body, "CONTENT_LENGTH": "100"}, b"x" * 100

    response = client.generic(
        method,
        f"/submit_task?task_run_id={run.pk}",
        body,
        content_type=content_type or "application/octet-stream",
        **extra,
    )

    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    assert response.json()
    assert Agent.objects.get(public_id=agent_id).submission is None
