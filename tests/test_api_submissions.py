"""A run's submissions through the requester API: pending, decided or all, of
one worker, late or on time; each with its unit, inputs, outputs, files (whose
URLs download them with the token), timings and metadata."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from tasks_app.models import Agent
from tests.api_calls import get, post, reviewer_client, submitted_run, unit_of, viewer
from tests.factories import TaskRunFactory
from tests.worker_calls import (
    PNG_BYTES,
    agent_id_for,
    multipart_submit,
    png,
    submit_late_beside_holder,
    submit_task,
    upload_run,
)
from tests.worker_calls import media_root_fixture as media_root_fixture

pytestmark = pytest.mark.django_db


def submissions(client: APIClient, run, **params) -> list[dict]:
    response = get(client, f"/runs/{run.pk}/submissions/", **params)
    assert response.status_code == 200, response.content
    return response.json()["results"]


def workers(items: list[dict]) -> list[str]:
    return [item["worker"] for item in items]


# --- what a submission holds ---------------------------------------------------------


def test_a_submission_carries_its_unit_inputs_outputs_timings_and_metadata(
    time_machine,
):
    time_machine.move_to(timezone.now(), tick=False)
    run = TaskRunFactory(units=1)
    worker = APIClient()
    agent_id = agent_id_for(worker, run, worker="w1")
    worker.post(
        f"/submit_metadata?task_run_id={run.pk}",
        {"USED_AGENT_ID": agent_id, "metadata": {"browser": "firefox"}},
        format="json",
    )
    time_machine.shift(timedelta(seconds=42.5))
    submit_task(worker, run, agent_id, {"rating": "good"})

    [item] = submissions(viewer(), run)

    agent = Agent.objects.get(public_id=agent_id)
    assert item["unit_id"] == agent.unit_id
    assert item["agent_id"] == agent.pk
    assert item["worker"] == "mock:w1"
    assert item["inputs"] == {"text": "row 0"}
    assert item["outputs"] == {"rating": "good"}
    assert item["files"] == []
    assert item["metadata"] == {"browser": "firefox"}
    assert (item["status"], item["decided"], item["late"]) == (
        "completed",
        False,
        False,
    )
    assert item["timings"]["work_time_s"] == 42.5
    assert item["timings"]["accepted_at"] == agent.created_at.isoformat()
    assert item["timings"]["submitted_at"] == agent.submitted_at.isoformat()


def test_a_submitted_file_is_listed_with_a_url_that_downloads_it_with_the_token(
    media_root,
):
    run = upload_run()
    worker = APIClient()
    agent_id = agent_id_for(worker, run)
    response = multipart_submit(worker, run, agent_id, {"rating": "good"}, file=png())
    assert response.status_code == 200
    client = viewer()

    [item] = submissions(client, run)

    [record] = item["files"]
    assert (record["name"], record["size"], record["content_type"]) == (
        "drawing.png",
        len(PNG_BYTES),
        "image/png",
    )
    assert record["url"].startswith("http://testserver/api/v1/runs/")
    download = client.get(record["url"])
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == PNG_BYTES
    assert download["Content-Type"] == "application/octet-stream"
    assert 'attachment; filename="drawing.png"' in download["Content-Disposition"]
    assert download["X-Content-Type-Options"] == "nosniff"
    assert APIClient().get(record["url"]).status_code == 401


def test_a_file_that_is_not_there_is_404(media_root):
    run = upload_run()
    worker = APIClient()
    agent_id = agent_id_for(worker, run)
    multipart_submit(worker, run, agent_id, {"rating": "good"}, file=png())
    agent = Agent.objects.get(public_id=agent_id)
    other_run = TaskRunFactory()
    client = viewer()

    beyond = get(client, f"/runs/{run.pk}/files/{agent.pk}/1/")
    other = get(client, f"/runs/{other_run.pk}/files/{agent.pk}/0/")
    (media_root / agent_files_path(run, agent)).unlink()
    gone = get(client, f"/runs/{run.pk}/files/{agent.pk}/0/")

    assert beyond.status_code == other.status_code == gone.status_code == 404
    assert "no longer stored" in gone.json()["detail"]


def agent_files_path(run, agent) -> str:
    return f"submissions/run-{run.pk}/agent-{agent.pk}/drawing.png"


# --- which submissions -------------------------------------------------------------


def test_pending_is_the_default_and_decided_and_all_show_the_others():
    run = submitted_run("w1", "w2", "w3")
    client = reviewer_client()
    post(client, f"/units/{unit_of(run, 'w1').pk}/approve/")
    post(client, f"/units/{unit_of(run, 'w2').pk}/reject/", {"feedback": "empty"})

    pending = submissions(client, run)
    also_pending = submissions(client, run, status="pending")
    decided = submissions(client, run, status="decided")
    every = submissions(client, run, status="all")

    assert workers(pending) == workers(also_pending) == ["mock:w3"]
    assert workers(decided) == ["mock:w1", "mock:w2"]
    assert [item["status"] for item in decided] == ["approved", "rejected"]
    assert all(item["decided"] for item in decided)
    assert workers(every) == ["mock:w1", "mock:w2", "mock:w3"]


def test_units_nobody_submitted_are_not_submissions():
    run = TaskRunFactory(units=2)
    agent_id_for(APIClient(), run, worker="still-working")

    assert submissions(viewer(), run, status="all") == []


def test_an_unknown_status_is_refused_naming_the_field():
    run = submitted_run("w1")

    response = get(viewer(), f"/runs/{run.pk}/submissions/", status="approved")

    assert response.status_code == 400
    assert response.json()["field"] == "status"
    assert "pending, decided, all" in response.json()["detail"]


def test_the_submissions_of_one_worker():
    run = submitted_run("w1", "w2")
    client = viewer()

    assert workers(submissions(client, run, worker="mock:w2")) == ["mock:w2"]
    assert submissions(client, run, worker="mock:nobody") == []


@pytest.mark.parametrize("worker", ["w2", "nosuch:w2", "mock:"])
def test_a_worker_not_written_provider_colon_id_is_refused(worker):
    run = submitted_run("w1")

    response = get(viewer(), f"/runs/{run.pk}/submissions/", worker=worker)

    assert response.status_code == 400
    assert response.json()["field"] == "worker"


def test_late_submissions_alone_or_the_on_time_ones(time_machine):
    run = TaskRunFactory(units=1)
    submit_late_beside_holder(APIClient(), time_machine, run, late="slow", holder="h")
    client = viewer()

    late = submissions(client, run, late="true")
    on_time = submissions(client, run, late="false")
    both = submissions(client, run)

    assert workers(late) == ["mock:slow"]
    assert late[0]["late"] is True
    assert workers(on_time) == ["mock:h"]
    assert sorted(workers(both)) == ["mock:h", "mock:slow"]
    assert {item["unit_id"] for item in both} == {run.units.get().pk}


def test_late_must_be_true_or_false():
    run = submitted_run("w1")

    response = get(viewer(), f"/runs/{run.pk}/submissions/", late="yes")

    assert response.status_code == 400
    assert response.json()["field"] == "late"


def test_submissions_are_paginated_with_results():
    run = submitted_run("w1", "w2", "w3")

    first = get(viewer(), f"/runs/{run.pk}/submissions/", page_size=2).json()

    assert first["count"] == 3
    assert workers(first["results"]) == ["mock:w1", "mock:w2"]
    assert first["next"] is not None


def test_the_submissions_of_an_unknown_run_are_404():
    assert get(viewer(), "/runs/999999/submissions/").status_code == 404


def test_a_page_costs_the_same_queries_whatever_its_length():
    small, large = submitted_run("a1"), submitted_run(*[f"b{n}" for n in range(6)])
    client = viewer()

    with CaptureQueriesContext(connection) as one:
        assert len(submissions(client, small, status="all")) == 1
    with CaptureQueriesContext(connection) as six:
        assert len(submissions(client, large, status="all")) == 6

    assert len(six) == len(one)
