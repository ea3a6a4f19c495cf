"""run_status on a screening run that workers went through by the worker API: the
verdicts and screening units as the hooks left them, the progress of the data
units alone."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from tasks_app.models import TaskRun
from tasks_app.run_config import load_run_config
from tasks_app.services import launch_run
from tests.command_calls import run, run_json
from tests.conftest import EXAMPLE_CONF
from tests.worker_calls import request_agent, submit_task

pytestmark = pytest.mark.django_db


def arrive(task_run: TaskRun, worker: str, visit: int = 1) -> dict[str, Any]:
    response = request_agent(
        APIClient(), task_run, worker, registration=f"{worker}-{visit}"
    )
    assert response.status_code == 200, response.content
    return response.json()["data"]


def submit(execute, task_run: TaskRun, data: dict[str, Any], rating: str) -> None:
    response = execute(
        lambda: submit_task(APIClient(), task_run, data["agent_id"], {"rating": rating})
    )
    assert response.status_code == 200, response.content


def test_run_status_counts_the_screening_of_workers_who_came_through_the_api(
    execute,
):
    # The example's screening config (3 screening units at most), with hooks
    # whose "unsure" leaves a worker undecided.
    hooks = "mephisto.blueprint.hooks=tests.quality_hooks"
    config = load_run_config(EXAMPLE_CONF / "screening.yaml", [hooks])
    task_run = execute(lambda: launch_run(config=config))
    alice = arrive(task_run, "alice")
    submit(execute, task_run, alice, "bad")  # passes
    submit(execute, task_run, arrive(task_run, "alice", visit=2), "good")  # real
    submit(execute, task_run, arrive(task_run, "bob"), "good")  # fails
    submit(execute, task_run, arrive(task_run, "carol"), "unsure")  # undecided
    refused = arrive(task_run, "dave")  # the three screening units are made

    data = run_json("run_status", "--run", str(task_run.pk))
    text = run("run_status", "--run", str(task_run.pk))

    assert refused["agent_id"] is None
    assert data["screening"] == {
        "passed": 1,
        "failed": 1,
        "pending": 1,
        "units": 3,
        "max_units": 3,
    }
    assert (data["units"], data["submitted"]) == (6, 1)
    assert data["units_by_status"] == {"launched": 5, "completed": 1}
    assert data["awaiting_review"] == 4  # the screening units are reviewed too
    assert "Screening:     1 passed, 1 failed, 1 pending" in text
    assert "3 screening unit(s) made of 3 at most" in text
