"""The one-statement arrival has a switch, CROWDSITE_ONE_STATEMENT_ARRIVAL: off, every
arrival is decided under the worker's lock. The answers are the same; only the path
differs."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tasks_app import worker_sql
from tasks_app.models import Agent, UnitStatus
from tests.factories import TaskRunFactory


def cycle(client: APIClient, run, worker: str) -> dict:
    """request_agent then submit_task, as the page does; the agent details."""
    answer = client.post(
        f"/request_agent?task_run_id={run.pk}",
        {
            "provider_data": {
                "worker_name": worker,
                "agent_registration_id": f"{worker}-r",
            },
            "client_timestamp": 1.5,
        },
        format="json",
    )
    assert answer.status_code == 200, answer.content
    details = answer.json()["data"]
    submitted = client.post(
        f"/submit_task?task_run_id={run.pk}",
        {"USED_AGENT_ID": details["agent_id"], "final_data": {"answer": worker}},
        format="json",
    )
    assert submitted.status_code == 200, submitted.content
    return details


@pytest.mark.parametrize("enabled", [True, False])
def test_the_one_statement_arrival_is_used_only_when_switched_on(
    postgres, settings, monkeypatch, enabled
):
    settings.CROWDSITE_ONE_STATEMENT_ARRIVAL = enabled
    statements = []
    real = worker_sql.claim_on_arrival

    def counting(**kwargs):
        statements.append(kwargs["registration_id"])
        return real(**kwargs)

    monkeypatch.setattr(worker_sql, "claim_on_arrival", counting)
    run = TaskRunFactory(units=2)

    details = [cycle(APIClient(), run, name) for name in ("ann", "bob")]

    assert worker_sql.can_claim_on_arrival() is enabled
    assert statements == (["ann-r", "bob-r"] if enabled else [])
    assert all(d["agent_id"] and not d["failure_reason"] for d in details)
    assert set(run.units.values_list("status", flat=True)) == {UnitStatus.COMPLETED}
    assert sorted(Agent.objects.values_list("submission", flat=True), key=str) == [
        {"answer": "ann"},
        {"answer": "bob"},
    ]
