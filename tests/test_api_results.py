"""A run's results through the requester API: streamed as `export_results
--run N` writes them, JSONL by default or CSV (by `?format=` or the Accept
header), filtered by unit status; errors are JSON."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.http import StreamingHttpResponse
from rest_framework.test import APIClient

from tests.api_calls import get, post, reviewer_client, submitted_run, unit_of, viewer
from tests.export_calls import export
from tests.factories import TaskRunFactory

pytestmark = pytest.mark.django_db


def reviewed_run():
    """Three submissions (one approved, one rejected, one pending) and a unit
    nobody took."""
    run = submitted_run("w1", "w2", "w3", reward="0.50")
    client = reviewer_client("rev")
    post(client, f"/units/{unit_of(run, 'w1').pk}/approve/", {"feedback": "Good"})
    post(client, f"/units/{unit_of(run, 'w2').pk}/reject/", {"feedback": "Empty"})
    return run


def text_of(response) -> str:
    assert isinstance(response, StreamingHttpResponse), response
    return b"".join(response.streaming_content).decode()


def test_jsonl_is_the_default_and_streams_what_export_results_writes():
    run = reviewed_run()

    response = get(viewer(), f"/runs/{run.pk}/results/")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-ndjson; charset=utf-8"
    assert response["Content-Disposition"] == (
        f'attachment; filename="{run.task.task_name}-run-{run.pk}.jsonl"'
    )
    body = text_of(response)
    assert body == export("--run", str(run.pk))
    rows = [json.loads(line) for line in body.splitlines()]
    assert [row["worker"]["id"] for row in rows] == ["w1", "w2", "w3"]
    assert [row["review"]["decision"] for row in rows] == ["approve", "reject", None]


def test_format_jsonl_asks_for_the_same():
    run = reviewed_run()

    response = get(viewer(), f"/runs/{run.pk}/results/", format="jsonl")

    assert text_of(response) == export("--run", str(run.pk))


def test_format_csv_streams_the_csv_export_results_writes():
    run = reviewed_run()

    response = get(viewer(), f"/runs/{run.pk}/results/", format="csv")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].endswith(f'-run-{run.pk}.csv"')
    body = text_of(response)
    assert body == export("--run", str(run.pk), "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(body)))
    assert [row["worker_id"] for row in rows] == ["w1", "w2", "w3"]
    assert [row["Answer.rating"] for row in rows] == [
        "good from w1",
        "good from w2",
        "good from w3",
    ]


def test_an_accept_header_of_text_csv_gets_the_csv():
    run = reviewed_run()

    response = viewer().get(f"/api/v1/runs/{run.pk}/results/", HTTP_ACCEPT="text/csv")

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert text_of(response) == export("--run", str(run.pk), "--format", "csv")


def test_a_browsers_accept_header_gets_jsonl():
    run = reviewed_run()

    response = viewer().get(
        f"/api/v1/runs/{run.pk}/results/",
        HTTP_ACCEPT="text/html,application/xhtml+xml,*/*;q=0.8",
    )

    assert response["Content-Type"] == "application/x-ndjson; charset=utf-8"


def test_an_unknown_format_is_refused_naming_format_as_json():
    run = reviewed_run()

    response = get(viewer(), f"/runs/{run.pk}/results/", format="xml")

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json()["field"] == "format"
    assert "jsonl, csv" in response.json()["detail"]


def test_an_anonymous_call_with_an_unknown_format_is_still_401():
    run = reviewed_run()

    response = APIClient().get(f"/api/v1/runs/{run.pk}/results/?format=xml")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_the_status_filter_exports_only_those_units():
    run = reviewed_run()
    client = viewer()

    accepted = get(client, f"/runs/{run.pk}/results/", status="accepted")
    two = client.get(
        f"/api/v1/runs/{run.pk}/results/?status=accepted&status=rejected&format=csv"
    )

    body = text_of(accepted)
    assert body == export("--run", str(run.pk), "--status", "accepted")
    assert [json.loads(line)["worker"]["id"] for line in body.splitlines()] == ["w1"]
    rows = list(csv.DictReader(io.StringIO(text_of(two))))
    assert [row["status"] for row in rows] == ["accepted", "rejected"]


def test_a_list_of_statuses_with_commas_works_as_in_the_command():
    run = reviewed_run()

    response = get(viewer(), f"/runs/{run.pk}/results/", status="accepted,completed")

    assert text_of(response) == export(
        "--run", str(run.pk), "--status", "accepted,completed"
    )


def test_an_unknown_status_is_refused_naming_status_as_json():
    run = reviewed_run()

    response = get(viewer(), f"/runs/{run.pk}/results/", status="done")

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json()["field"] == "status"
    assert "'done'" in response.json()["detail"]


def test_units_nobody_submitted_are_exported_with_null_outputs():
    run = TaskRunFactory(units=2)

    body = text_of(get(viewer(), f"/runs/{run.pk}/results/"))

    rows = [json.loads(line) for line in body.splitlines()]
    assert [row["outputs"] for row in rows] == [None, None]
    assert body == export("--run", str(run.pk))


def test_the_results_of_an_unknown_run_are_404_as_json():
    response = get(viewer(), "/runs/999999/results/", format="csv")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert "detail" in response.json()
