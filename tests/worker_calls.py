"""The worker API calls a task page makes (uploads too), and what the API tests share.

A test module takes a fixture by importing it under its function name with a
redundant alias (`from tests.worker_calls import client_fixture as client_fixture`),
so linters see the import as used; its tests ask for it by the fixture's name
(`client`), which shadows nothing.
"""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from qualifications_app.models import GrantedQualification
from tasks_app.run_config import load_run_config
from tasks_app.services import launch_run
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
