"""`manage.py list_runs`: the runs, newest first, with their progress; filtered by
task name and status; in a fixed number of queries."""

from __future__ import annotations

import pytest
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from tasks_app import services
from tasks_app.models import Task
from tests.command_calls import run, run_json
from tests.factories import TaskRunFactory
from tests.worker_calls import agent_id_for, submit_task

pytestmark = pytest.mark.django_db


def run_of(task_name: str, *, units: int = 3, submitted: int = 0):
    task, _ = Task.objects.get_or_create(
        task_name=task_name, defaults={"task_type": "static_react_task"}
    )
    task_run = TaskRunFactory(task=task, units=units)
    for n in range(submitted):
        client = APIClient()
        agent_id = agent_id_for(client, task_run, worker=f"{task_name}-w{n}")
        submit_task(client, task_run, agent_id, {"ok": n})
    return task_run


def test_json_lists_runs_newest_first_with_their_progress():
    first = run_of("rating-pilot", units=3, submitted=2)
    second = run_of("rating-live", units=4, submitted=0)

    data = run_json("list_runs")

    assert [row["run_id"] for row in data["runs"]] == [second.pk, first.pk]
    row = data["runs"][1]
    assert row["task_name"] == "rating-pilot"
    assert (row["units"], row["submitted"], row["awaiting_review"]) == (3, 2, 2)
    assert row["status"] == "running"
    assert row["ended_at"] is None and row["end_reason"] == ""
    assert data["more"] is False


def test_runs_are_filtered_by_task_name_and_status():
    pilot = run_of("rating-pilot")
    live = run_of("rating-live")
    services.shutdown_run(run_id=live.pk, reason="done")

    by_task = run_json("list_runs", "--task-name", "rating-pilot")
    by_status = run_json("list_runs", "--status", "shut_down")
    both = run_json("list_runs", "--status", "running,shut_down")

    assert [r["run_id"] for r in by_task["runs"]] == [pilot.pk]
    assert [r["run_id"] for r in by_status["runs"]] == [live.pk]
    assert by_status["runs"][0]["end_reason"] == "done"
    assert {r["run_id"] for r in both["runs"]} == {pilot.pk, live.pk}


def test_the_text_has_a_line_per_run_with_its_share_submitted():
    task_run = run_of("rating-pilot", units=4, submitted=1)

    text = run("list_runs")

    [header, line] = text.splitlines()
    assert header.split()[:4] == ["run", "task", "provider", "status"]
    assert line.split()[:6] == [
        str(task_run.pk),
        "rating-pilot",
        "mock",
        "running",
        "1/4",
        "25%",
    ]


def test_limit_keeps_the_newest_and_says_there_are_more():
    runs = [run_of(f"task-{n}", units=1) for n in range(3)]

    data = run_json("list_runs", "--limit", "2")

    assert [r["run_id"] for r in data["runs"]] == [runs[2].pk, runs[1].pk]
    assert data["more"] is True


def test_the_query_count_does_not_grow_with_runs_or_units():
    run_of("small", units=1, submitted=1)
    with CaptureQueriesContext(connection) as few:
        run_json("list_runs")
    for n in range(4):
        run_of(f"big-{n}", units=6, submitted=3)
    with CaptureQueriesContext(connection) as many:
        run_json("list_runs")

    assert len(many) == len(few)


def test_an_unknown_status_is_refused_naming_the_valid_ones():
    with pytest.raises(CommandError, match="'runing' is not a run status; valid:"):
        run("list_runs", "--status", "runing")


def test_no_runs_says_so_with_the_filters():
    assert run("list_runs", "--task-name", "nothing").strip() == (
        "No runs of task 'nothing'."
    )
