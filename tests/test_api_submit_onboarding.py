"""POST /submit_onboarding, and the onboarding agent a new worker is given first."""

from __future__ import annotations

import pytest

from tasks_app.models import Agent, OnboardingAgent, OnboardingStatus, Unit, UnitStatus
from tests.factories import TaskRunFactory
from tests.worker_calls import (
    FIRST_ROW,
    SECOND_ROW,
    agent_id_for,
    grant_value,
    request_agent,
    submit_onboarding,
)
from tests.worker_calls import client_fixture as client_fixture
from tests.worker_calls import launch_fixture as launch_fixture

pytestmark = pytest.mark.django_db

ONBOARDING_QUAL = "sentence-rating-onboarding-local"
NOT_PASSED = "You did not pass the onboarding for this task, so you can't work on it."


def test_a_new_worker_gets_an_onboarding_agent_first(client, launch):
    run = launch()

    data = request_agent(client, run, "worker-1").json()["data"]

    assert data["agent_id"].startswith("onboarding")
    assert data["failure_reason"] is None
    onboarding = OnboardingAgent.objects.get(public_id=data["agent_id"])
    assert onboarding.status == OnboardingStatus.ONBOARDING
    assert not Agent.objects.exists()
    assert not Unit.objects.filter(status=UnitStatus.ASSIGNED).exists()


def test_passing_onboarding_answers_with_a_real_agent_and_grants_the_qualification(
    client, launch
):
    run = launch()
    onboarding_id = agent_id_for(client, run, "worker-1")

    response = submit_onboarding(client, run, onboarding_id, "good")

    assert response.status_code == 200
    data = response.json()["data"]
    assert response.json()["packet_type"] == "agent_details"
    assert not data["agent_id"].startswith("onboarding")
    assert data["init_task_data"] == FIRST_ROW
    assert data["failure_reason"] is None
    agent = Agent.objects.get(public_id=data["agent_id"])
    assert agent.unit.status == UnitStatus.ASSIGNED
    assert grant_value("worker-1", ONBOARDING_QUAL) == 1
    assert grant_value("worker-1", f"{ONBOARDING_QUAL}-failed") is None
    onboarding = OnboardingAgent.objects.get(public_id=onboarding_id)
    assert onboarding.status == OnboardingStatus.APPROVED
    assert onboarding.submission == {"answer": "good"}


def test_after_passing_onboarding_the_worker_goes_straight_to_work(client, launch):
    run = launch()
    submit_onboarding(client, run, agent_id_for(client, run, "worker-1"), "good")

    data = request_agent(client, run, "worker-1", registration="second-tab").json()

    assert not data["data"]["agent_id"].startswith("onboarding")
    assert data["data"]["init_task_data"] == SECOND_ROW


def test_failing_onboarding_refuses_with_a_reason_and_marks_the_worker_failed(
    client, launch
):
    run = launch()
    onboarding_id = agent_id_for(client, run, "worker-1")

    response = submit_onboarding(client, run, onboarding_id, "bad")

    assert response.status_code == 200
    data = response.json()["data"]
    assert data["agent_id"] is None
    assert "onboarding" in data["failure_reason"]
    assert grant_value("worker-1", ONBOARDING_QUAL) == 0
    assert grant_value("worker-1", f"{ONBOARDING_QUAL}-failed") == 1
    assert (
        OnboardingAgent.objects.get(public_id=onboarding_id).status
        == OnboardingStatus.REJECTED
    )
    assert not Agent.objects.exists()


def test_a_worker_who_failed_onboarding_is_refused_later_in_the_same_run(
    client, launch
):
    run = launch()
    submit_onboarding(client, run, agent_id_for(client, run, "worker-1"), "bad")

    same = request_agent(client, run, "worker-1").json()["data"]
    new_tab = request_agent(client, run, "worker-1", registration="tab-2").json()

    assert same["agent_id"] is None
    assert same["failure_reason"] == NOT_PASSED
    assert new_tab["data"]["agent_id"] is None
    assert new_tab["data"]["failure_reason"] == NOT_PASSED
    assert OnboardingAgent.objects.count() == 1


def test_a_worker_who_failed_onboarding_is_refused_by_another_run_using_it(
    client, launch
):
    first_run = launch()
    second_run = launch("mephisto.task.task_name=sentence-rating-second-task")
    onboarding_id = agent_id_for(client, first_run, "worker-1")
    submit_onboarding(client, first_run, onboarding_id, "bad")

    data = request_agent(client, second_run, "worker-1").json()["data"]

    assert data["agent_id"] is None
    assert data["failure_reason"] == NOT_PASSED
    assert not OnboardingAgent.objects.filter(run=second_run).exists()


def test_a_worker_who_passed_onboarding_skips_it_in_another_run_using_it(
    client, launch
):
    first_run = launch()
    second_run = launch("mephisto.task.task_name=sentence-rating-second-task")
    submit_onboarding(client, first_run, agent_id_for(client, first_run), "good")

    data = request_agent(client, second_run, "worker-1").json()["data"]

    assert not data["agent_id"].startswith("onboarding")
    assert data["init_task_data"] == FIRST_ROW


def test_submitting_onboarding_twice_answers_with_the_same_agent(client, launch):
    run = launch()
    onboarding_id = agent_id_for(client, run, "worker-1")
    first = submit_onboarding(client, run, onboarding_id, "good").json()

    again = submit_onboarding(client, run, onboarding_id, "bad").json()

    assert again == first
    assert grant_value("worker-1", ONBOARDING_QUAL) == 1
    assert Agent.objects.count() == 1


def test_submit_onboarding_with_a_task_agent_id_is_a_400(client):
    run = TaskRunFactory(units=1)
    agent_id = agent_id_for(client, run)

    response = submit_onboarding(client, run, agent_id, "good")

    assert response.status_code == 400
    assert response.json() == {"error": "USED_AGENT_ID is not an onboarding agent id"}


def test_submit_onboarding_with_an_unknown_onboarding_id_is_a_404(client):
    run = TaskRunFactory(units=1)

    response = submit_onboarding(client, run, "onboarding-forged", "good")

    assert response.status_code == 404
    assert response.json() == {"error": "unknown onboarding agent id"}


def test_onboarding_data_the_hook_cannot_read_is_not_a_server_error(client, launch):
    run = launch()
    onboarding_id = agent_id_for(client, run, "worker-1")

    response = client.post(
        f"/submit_onboarding?task_run_id={run.pk}",
        {"provider_data": {"USED_AGENT_ID": onboarding_id, "onboarding_data": ["x"]}},
        format="json",
    )

    assert response.status_code < 500
