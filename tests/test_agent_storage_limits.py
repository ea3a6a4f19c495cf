"""What one agent may store through `/submit_metadata` and `/log_error`: bounded,
refused whole past the bound, never trimmed quietly."""

from __future__ import annotations

import logging

import pytest

from tasks_app.models import Agent
from tests.factories import OnboardingAgentFactory, TaskRunFactory
from tests.worker_calls import agent_id_for
from tests.worker_calls import client_fixture as client_fixture

pytestmark = pytest.mark.django_db


def post(client, run, endpoint, body):
    return client.post(f"/{endpoint}?task_run_id={run.pk}", body, format="json")


def test_metadata_past_the_agents_limit_is_a_413_and_changes_nothing(client, settings):
    settings.CROWDSITE_MAX_AGENT_METADATA_BYTES = 80
    run = TaskRunFactory(units=1)
    agent_id = agent_id_for(client, run)
    kept = post(
        client,
        run,
        "submit_metadata",
        {"USED_AGENT_ID": agent_id, "metadata": {"a": "x" * 40}},
    )

    refused = post(
        client,
        run,
        "submit_metadata",
        {"USED_AGENT_ID": agent_id, "metadata": {"b": "y" * 40}},
    )

    assert kept.status_code == 200
    assert refused.status_code == 413
    assert "the limit is 80 bytes, so nothing was changed" in refused.json()["error"]
    assert Agent.objects.get(public_id=agent_id).metadata == {"a": "x" * 40}


def test_error_reports_past_the_count_limit_are_a_413_and_the_first_are_kept(
    client, settings
):
    settings.CROWDSITE_MAX_ERROR_REPORTS = 3
    run = TaskRunFactory(units=1)
    agent_id = agent_id_for(client, run)

    answers = [
        post(client, run, "log_error", {"USED_AGENT_ID": agent_id, "error_data": n})
        for n in range(5)
    ]

    assert [a.status_code for a in answers] == [200, 200, 200, 413, 413]
    assert "sent 3 error reports, the most that are kept" in answers[3].json()["error"]
    errors = Agent.objects.get(public_id=agent_id).metadata["errors"]
    assert [e["error_data"] for e in errors] == [0, 1, 2]


def test_error_reports_count_towards_the_metadata_limit(client, settings):
    settings.CROWDSITE_MAX_AGENT_METADATA_BYTES = 400
    run = TaskRunFactory(units=1)
    agent_id = agent_id_for(client, run)
    body = {"USED_AGENT_ID": agent_id, "error_data": "e" * 100}

    answers = [post(client, run, "log_error", body) for _ in range(3)]

    assert [a.status_code for a in answers] == [200, 200, 413]
    assert len(Agent.objects.get(public_id=agent_id).metadata["errors"]) == 2


def test_onboarding_errors_are_kept_with_the_agent_and_bounded_in_the_log(
    client, settings, caplog
):
    settings.CROWDSITE_MAX_ERROR_REPORTS = 2
    run = TaskRunFactory(units=1)
    onboarding = OnboardingAgentFactory(public_id="onboarding-abc", run=run)
    body = {"USED_AGENT_ID": "onboarding-abc", "error_data": "z" * 100_000}

    with caplog.at_level(logging.WARNING, logger="tasks_app.services"):
        answers = [post(client, run, "log_error", body) for _ in range(3)]

    assert [a.status_code for a in answers] == [200, 200, 413]
    onboarding.refresh_from_db()
    assert [len(e["error_data"]) for e in onboarding.metadata["errors"]] == [
        100_000,
        100_000,
    ]
    logged = [r.getMessage() for r in caplog.records if "reported" in r.getMessage()]
    assert len(logged) == 2
    assert all(len(line) < 600 for line in logged)
