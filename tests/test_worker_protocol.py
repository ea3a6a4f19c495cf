"""The worker wire protocol (DESIGN §5) end to end over HTTP, as a page speaks it."""

from __future__ import annotations

import pytest

from tasks_app.models import Unit, UnitStatus
from tests.worker_calls import (
    agent_id_for,
    request_agent,
    submit_onboarding,
    submit_task,
)
from tests.worker_calls import client_fixture as client_fixture
from tests.worker_calls import launch_fixture as launch_fixture

pytestmark = pytest.mark.django_db


def test_a_worker_onboards_works_and_reaches_the_per_worker_maximum(client, launch):
    run = launch()
    onboarding_id = agent_id_for(client, run, "worker-1", registration="r0")
    data = submit_onboarding(client, run, onboarding_id, "good").json()["data"]
    submitted = [data["agent_id"]]
    submit_task(client, run, data["agent_id"], {"rating": "good"})

    for registration in ("r1", "r2"):
        agent_id = agent_id_for(client, run, "worker-1", registration=registration)
        submit_task(client, run, agent_id, {"rating": "bad"})
        submitted.append(agent_id)
    fourth = request_agent(client, run, "worker-1", registration="r3").json()["data"]

    assert fourth["agent_id"] is None
    assert fourth["failure_reason"] == (
        "You have reached the maximum of 3 units for this task."
    )
    assert Unit.objects.filter(run=run, status=UnitStatus.COMPLETED).count() == 3
    assert len(set(submitted)) == 3
