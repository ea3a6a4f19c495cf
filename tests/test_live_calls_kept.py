"""The calls a live task's page made are kept with the agent's data: exported
with its row (DESIGN §5, docs/live-tasks.md) and shown in the review queue."""

from __future__ import annotations

import csv
import io
import json

import pytest
import requests

from tests.export_calls import export
from tests.live_calls import LiveSocket, arrive, launch_live_run

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def worked(tmp_path, execute, asgi_live_server):
    """A live run whose first unit alice worked: two calls, one failed, then
    submitted; the second unit untouched."""
    run = launch_live_run(tmp_path, execute)
    agent_id = arrive(asgi_live_server.url, run, "alice")["agent_id"]
    socket = LiveSocket(asgi_live_server)
    try:
        first = socket.call(agent_id, "echo", {"text": "=1+1"})
        socket.answer(first)
        second = socket.call(agent_id, "explode", {"n": 2})
        socket.answer(second)
    finally:
        socket.close()
    response = requests.post(
        f"{asgi_live_server.url}/submit_task?task_run_id={run.pk}",
        json={"USED_AGENT_ID": agent_id, "final_data": {"label": "cat"}},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return run, first, second


def test_the_jsonl_row_carries_the_calls_in_order(worked):
    run, first, second = worked
    rows = [json.loads(line) for line in export("--run", str(run.pk)).splitlines()]
    done = next(row for row in rows if row["outputs"] is not None)
    calls = done["live_calls"]
    assert [c["request_id"] for c in calls] == [first, second]
    assert calls[0]["target"] == "echo"
    assert calls[0]["args"] == {"text": "=1+1"}
    assert calls[0]["response"]["args"] == {"text": "=1+1"}
    assert calls[0]["error"] is None and calls[0]["answered_at"].endswith("Z")
    assert calls[1]["response"] is None
    assert calls[1]["error_kind"] == "exception"
    assert calls[1]["error"].startswith("explode failed: ValueError")
    untouched = next(row for row in rows if row["outputs"] is None)
    assert untouched["live_calls"] is None  # no agent, no calls


def test_the_csv_has_a_live_calls_column_escaped(worked):
    run, first, _ = worked
    table = list(
        csv.DictReader(io.StringIO(export("--run", str(run.pk), "--format", "csv")))
    )
    done = next(row for row in table if row["Answer.label"] == "cat")
    calls = json.loads(done["live_calls"])
    assert [c["request_id"] for c in calls][0] == first
    # The arguments hold "=1+1", but the cell starts with "[": nothing to run.
    assert done["live_calls"].startswith("[")


def test_a_static_runs_export_has_no_live_calls(tmp_path, execute, asgi_live_server):
    from tasks_app.run_config import load_run_config
    from tasks_app.services import launch_run
    from tests.e2e.test_unmodified_mephisto_task import write_config

    static = execute(lambda: launch_run(config=load_run_config(write_config(tmp_path))))
    row = json.loads(export("--run", str(static.pk)).splitlines()[0])
    assert "live_calls" not in row
    header = export("--run", str(static.pk), "--format", "csv").splitlines()[0]
    assert "live_calls" not in header


def test_the_review_queue_shows_the_calls(worked, admin_client):
    run, _, _ = worked
    page = admin_client.get(f"/admin/tasks_app/taskrun/{run.pk}/review/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Calls to the task's functions (2)" in text
    assert "<code>echo</code>" in text
    assert "{&quot;text&quot;: &quot;=1+1&quot;}" in text
    assert "exception: explode failed: ValueError: the model is not loaded" in text
