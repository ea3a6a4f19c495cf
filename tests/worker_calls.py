"""The worker API calls a task page makes (uploads too), and what the API tests share.

A test module takes a fixture by importing it under its function name with a
redundant alias (`from tests.worker_calls import client_fixture as client_fixture`),
so linters see the import as used; its tests ask for it by the fixture's name
(`client`), which shadows nothing.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from rest_framework.test import APIClient

from qualifications_app.models import GrantedQualification
from tasks_app.run_config import load_run_config
from tasks_app.services import expire_overdue_agents, launch_run
from tests.conftest import EXAMPLE_CONF
from tests.factories import TaskRunFactory

# The first rows of examples/static_react_task/data/sentences.csv.
FIRST_ROW = {"text": "This text is good text!"}
SECOND_ROW = {"text": "This text is bad text!"}
PNG_BYTES = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06"
    b"\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01"
    b"\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82"
)


@pytest.fixture(name="client")
def client_fixture() -> APIClient:
    # A 5xx must show up as a response to assert on, not as a raised exception.
    return APIClient(raise_request_exception=False)


@pytest.fixture(name="launch")
def launch_fixture(django_capture_on_commit_callbacks):
    """Launch the example task's local_testing config; units end up `launched`."""

    def _launch(*overrides: str):
        config = load_run_config(EXAMPLE_CONF / "local_testing.yaml", list(overrides))
        with django_capture_on_commit_callbacks(execute=True):
            run = launch_run(config=config)
        run.refresh_from_db()
        return run

    return _launch


@pytest.fixture(name="media_root")
def media_root_fixture(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def request_agent(client, run, worker="worker-1", registration=None, **extra):
    provider_data = {
        "worker_name": worker,
        "assignment_id": "assignment-1",
        "agent_registration_id": registration or f"{worker}-assignment-1",
        "provider_type": run.provider_type,
        **extra,
    }
    return client.post(
        f"/request_agent?task_run_id={run.pk}",
        {"provider_data": provider_data, "client_timestamp": 1700000000.0},
        format="json",
    )


def arrive(client, run, worker: str, assignment: str, unit: str = ""):
    """`worker` arriving from the provider's URL with that assignment and the
    provider's unit (MTurk's HIT, Prolific's study), as the wrap script sends it."""
    return request_agent(
        client,
        run,
        worker,
        registration=f"{worker}-{assignment}",
        assignment_id=assignment,
        hit_id=unit or None,
    )


def agent_id_for(client, run, worker="worker-1", registration=None) -> str:
    response = request_agent(client, run, worker, registration)
    agent_id = response.json()["data"]["agent_id"]
    assert agent_id, response.json()
    return agent_id


def time_out(time_machine, run) -> int:
    """Let the run's assignment time run out and time out the overdue agents, as
    the beat does; how many timed out. The clock must have been moved to (and is
    best frozen: `time_machine.move_to(timezone.now(), tick=False)`)."""
    time_machine.shift(timedelta(seconds=run.assignment_duration_in_seconds + 1))
    return expire_overdue_agents()


def submit_late_beside_holder(
    client,
    time_machine,
    run,
    *,
    late: str,
    holder: str,
    holder_late: bool = False,
    late_answer=None,
    holder_answer=None,
) -> tuple[str, str]:
    """Through the worker API, on `run`'s one unit: `late` takes it and times out,
    `holder` takes it and submits, then `late` submits late, so `late`'s agent
    stays `timeout` with `is_late` while the unit is `holder`'s. With
    `holder_late`, `holder` times out too and gets the unit back by submitting
    late (the unit was free again). The agents' public ids: (late's, holder's)."""
    time_machine.move_to(timezone.now(), tick=False)
    late_id = agent_id_for(client, run, late)
    assert time_out(time_machine, run) == 1
    holder_id = agent_id_for(client, run, holder)
    if holder_late:
        assert time_out(time_machine, run) == 1
    answer = holder_answer if holder_answer is not None else {"rating": "on time"}
    assert submit_task(client, run, holder_id, answer).status_code == 200
    answer = late_answer if late_answer is not None else {"rating": "late"}
    assert submit_task(client, run, late_id, answer).status_code == 200
    return late_id, holder_id


def submit_onboarding(client, run, agent_id, answer):
    return client.post(
        f"/submit_onboarding?task_run_id={run.pk}",
        {
            "provider_data": {
                "USED_AGENT_ID": agent_id,
                "onboarding_data": {"answer": answer},
            },
            "client_timestamp": 1700000001.0,
        },
        format="json",
    )


def submit_task(client, run, agent_id, final_data):
    return client.post(
        f"/submit_task?task_run_id={run.pk}",
        {
            "USED_AGENT_ID": agent_id,
            "final_data": final_data,
            "client_timestamp": 1700000002.0,
        },
        format="json",
    )


def return_unit(client, agent_id):
    return client.post(
        "/return_unit",
        {"USED_AGENT_ID": agent_id, "client_timestamp": 1.0},
        format="json",
    )


def grant_value(worker_name: str, qualification: str) -> int | None:
    grant = GrantedQualification.objects.filter(
        worker__worker_name=worker_name, qualification__name=qualification
    ).first()
    return None if grant is None else grant.value


def upload_run(**uploads):
    """A one-unit run whose config turns uploads on (with `uploads` as limits)."""
    config = {"mephisto": {"blueprint": {"uploads": {"enabled": True, **uploads}}}}
    return TaskRunFactory(units=1, resolved_config=config)


def stored_files(media_root):
    return [p for p in media_root.rglob("*") if p.is_file()]


def multipart_submit(client, run, agent_id, final_data, **files):
    return client.post(
        f"/submit_task?task_run_id={run.pk}",
        {"USED_AGENT_ID": agent_id, "final_data": json.dumps(final_data), **files},
        format="multipart",
    )


def png(name="drawing.png"):
    return SimpleUploadedFile(name, PNG_BYTES, content_type="image/png")
