"""POST /submit_metadata: what a page reports about itself, kept with the agent."""

from __future__ import annotations

import pytest

from tasks_app.models import Agent
from tests.factories import TaskRunFactory
from tests.worker_calls import agent_id_for, submit_task
from tests.worker_calls import client_fixture as client_fixture

pytestmark = pytest.mark.django_db


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


@pytest.mark.django_db(transaction=True)
def test_metadata_is_stored_by_a_request_outside_any_test_transaction(client):
    """As in production: no transaction around the request but the service's
    own (PostgreSQL refuses a row lock outside one; CI runs this there)."""
    run = TaskRunFactory(units=1)
    agent_id = agent_id_for(client, run)
    url = f"/submit_metadata?task_run_id={run.pk}"

    json_answer = client.post(
        url, {"USED_AGENT_ID": agent_id, "metadata": {"browser": "firefox"}}, "json"
    )
    form_answer = client.post(
        url,
        {"USED_AGENT_ID": agent_id, "metadata": '{"width": 1024}'},
        format="multipart",
    )

    assert json_answer.status_code == form_answer.status_code == 200
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


def test_metadata_as_a_form_field_of_json_text_is_decoded(client):
    run = TaskRunFactory(units=1)
    agent_id = agent_id_for(client, run)

    response = client.post(
        f"/submit_metadata?task_run_id={run.pk}",
        {"USED_AGENT_ID": agent_id, "metadata": '{"browser": "firefox"}'},
        format="multipart",
    )

    assert response.status_code == 200
    assert Agent.objects.get(public_id=agent_id).metadata == {"browser": "firefox"}


def test_a_plain_form_without_a_metadata_field_is_kept_field_by_field(client):
    run = TaskRunFactory(units=1)
    agent_id = agent_id_for(client, run)

    response = client.generic(
        "POST",
        f"/submit_metadata?task_run_id={run.pk}",
        f"USED_AGENT_ID={agent_id}&client_timestamp=1.5&mood=happy&tag=a&tag=b",
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 200
    assert Agent.objects.get(public_id=agent_id).metadata == {
        "mood": "happy",
        "tag": ["a", "b"],
    }


def test_form_metadata_that_is_not_json_is_a_400_naming_metadata(client):
    run = TaskRunFactory(units=1)
    agent_id = agent_id_for(client, run)

    response = client.post(
        f"/submit_metadata?task_run_id={run.pk}",
        {"USED_AGENT_ID": agent_id, "metadata": "[object Object]"},
        format="multipart",
    )

    assert response.status_code == 400
    assert "'[object Object]'" in response.json()["fields"]["metadata"][0]
    assert Agent.objects.get(public_id=agent_id).metadata is None
