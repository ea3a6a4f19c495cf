"""`POST /completion_code`: Prolific's completion code, only for a participant
whose submission is stored; the task page itself never holds it."""

from __future__ import annotations

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from providers.prolific.provider import completion_code
from tasks_app.selectors import run_spec
from tests.factories import AgentFactory, TaskRunFactory, UnitFactory, WorkerFactory

pytestmark = pytest.mark.django_db


def prolific_agent(run, participant: str, submission: str, *, submitted: bool):
    worker = WorkerFactory(provider_type="prolific", worker_name=participant)
    unit = UnitFactory(run=run, assignment__run=run, worker=worker, status="assigned")
    return AgentFactory(
        unit=unit,
        worker=worker,
        provider_assignment_id=submission,
        status="completed" if submitted else "in_task",
        submitted_at=timezone.now() if submitted else None,
        submission={"answer": 1} if submitted else None,
    )


def ask(run, participant: str, submission: str):
    return APIClient().post(
        f"/completion_code?task_run_id={run.pk}",
        {"worker_name": participant, "assignment_id": submission},
        format="json",
    )


def test_a_participant_whose_submission_is_stored_gets_the_code():
    run = TaskRunFactory(provider_type="prolific")
    prolific_agent(run, "P1", "S1", submitted=True)

    response = ask(run, "P1", "S1")

    assert response.status_code == 200
    assert response.json() == {"completion_code": completion_code(run_spec(run))}


def test_before_submitting_the_code_is_refused_with_words():
    run = TaskRunFactory(provider_type="prolific")
    prolific_agent(run, "P1", "S1", submitted=False)

    response = ask(run, "P1", "S1")

    assert response.status_code == 409
    assert "submit the task first" in response.json()["error"]
    assert completion_code(run_spec(run)) not in response.content.decode()


@pytest.mark.parametrize(
    ("participant", "submission"), [("P2", "S1"), ("P1", "S2"), ("P2", "S2")]
)
def test_another_participant_or_submission_gets_no_code(participant, submission):
    run = TaskRunFactory(provider_type="prolific")
    prolific_agent(run, "P1", "S1", submitted=True)

    assert ask(run, participant, submission).status_code == 409


def test_a_provider_without_completion_codes_says_so():
    run = TaskRunFactory(provider_type="mock")

    response = ask(run, "w1", "a1")

    assert response.status_code == 400
    assert "takes no completion code" in response.json()["error"]


@pytest.mark.parametrize(
    "query", ["", "&participant_id=P1&study_id=ST&submission_id=S1"]
)
def test_the_task_page_never_holds_the_code(client, query):
    run = TaskRunFactory(units=1, provider_type="prolific")
    prolific_agent(run, "P1", "S1", submitted=True)

    page = client.get(f"/?task_run_id={run.pk}{query}")

    assert page.status_code == 200
    assert completion_code(run_spec(run)) not in page.content.decode()


def test_a_request_without_the_participant_is_a_400():
    run = TaskRunFactory(provider_type="prolific")

    response = APIClient().post(
        f"/completion_code?task_run_id={run.pk}", {}, format="json"
    )

    assert response.status_code == 400
