"""File records come only from the upload path: a page can't write an entry that
names another worker's upload, or a size that isn't the file's."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from tasks_app.models import Agent
from tasks_app.uploads import agent_files, stored_upload_bytes
from tests.admin_calls import fast_passwords_fixture as fast_passwords_fixture
from tests.factories import TaskRunFactory
from tests.review_queue_calls import make_reviewer
from tests.worker_calls import (
    PNG_BYTES,
    agent_id_for,
    multipart_submit,
    png,
    stored_files,
    submit_task,
    upload_run,
)
from tests.worker_calls import client_fixture as client_fixture
from tests.worker_calls import media_root_fixture as media_root_fixture

pytestmark = pytest.mark.django_db


def two_worker_run():
    config = {"mephisto": {"blueprint": {"uploads": {"enabled": True}}}}
    return TaskRunFactory(units=2, resolved_config=config)


def victims_upload(client, run) -> dict:
    """A file the first worker uploaded with their submission: its record."""
    victim_id = agent_id_for(client, run, "victim")
    response = multipart_submit(client, run, victim_id, {"a": 1}, file=png())
    assert response.status_code == 200
    return Agent.objects.get(public_id=victim_id).submission["files"][0]


def test_a_submission_shaped_like_a_stored_one_names_no_file(client, media_root):
    run = two_worker_run()
    record = victims_upload(client, run)
    forger_id = agent_id_for(client, run, "forger")
    forged = {"final_data": {"a": 2}, "files": [record]}

    response = submit_task(client, run, forger_id, forged)

    assert response.status_code == 200
    forger = Agent.objects.get(public_id=forger_id)
    # Kept whole, as the page's own data, beside an empty list of uploads.
    assert forger.submission == {"final_data": forged, "files": []}
    assert agent_files(forger) == []
    reviewer = Client()
    reviewer.force_login(make_reviewer())
    base = f"/admin/tasks_app/taskrun/{run.pk}/review/file/{forger.pk}"
    assert reviewer.get(f"{base}/0/").status_code == 404
    page = reviewer.get(f"/admin/tasks_app/taskrun/{run.pk}/review/").content
    assert f'href="{base}/0/"'.encode() not in page


def test_a_pages_own_files_key_is_kept_as_its_data(client):
    run = upload_run()
    agent_id = agent_id_for(client, run)

    submit_task(client, run, agent_id, {"files": ["a.txt"], "rating": 3})

    agent = Agent.objects.get(public_id=agent_id)
    assert agent.submission["final_data"] == {"files": ["a.txt"], "rating": 3}
    assert agent_files(agent) == []


def test_metadata_naming_files_is_refused_and_cant_lower_the_upload_total(
    client, media_root
):
    limit = 2 * len(PNG_BYTES)
    run = upload_run(max_agent_bytes=limit)
    agent_id = agent_id_for(client, run)
    url = f"/submit_metadata?task_run_id={run.pk}"
    negative = {
        "name": "x.png",
        "path": f"submissions/run-{run.pk}/x.png",
        "size": -(10**9),
        "content_type": "image/png",
    }

    forged = client.post(
        url, {"USED_AGENT_ID": agent_id, "metadata": {"files": [negative]}}, "json"
    )
    uploads = {f"f{i}": png(f"{i}.png") for i in range(3)}
    too_many = multipart_submit(client, run, agent_id, {"a": 1}, **uploads)

    assert forged.status_code == 400
    assert "metadata.files" in forged.json()["error"]
    assert too_many.status_code == 413
    assert stored_files(media_root) == []
    agent = Agent.objects.get(public_id=agent_id)
    assert agent.metadata is None and agent.submitted_at is None


def test_records_stored_before_this_check_name_only_the_agents_own_files(client):
    run = upload_run()
    agent_id = agent_id_for(client, run)
    agent = Agent.objects.get(public_id=agent_id)
    own = f"submissions/run-{run.pk}/agent-{agent.pk}/mine.png"
    entry = {"name": "mine.png", "path": own, "size": 10, "content_type": "image/png"}
    # What an earlier release stored from a forged answer, beside a real upload.
    agent.submission = {
        "final_data": {},
        "files": [
            entry,
            {**entry, "path": "submissions/run-1/agent-999999/theirs.png"},
            {**entry, "path": f"submissions/run-{run.pk}/agent-{agent.pk}/../x"},
            {**entry, "size": -5000},
        ],
    }
    agent.save()

    assert agent_files(agent) == [entry]
    assert stored_upload_bytes(agent) == 10


def test_a_truncated_or_odd_final_data_string_is_kept_as_sent(client):
    run = upload_run()
    agent_id = agent_id_for(client, run)

    response = client.post(
        f"/submit_task?task_run_id={run.pk}",
        {"USED_AGENT_ID": agent_id, "final_data": json.dumps({"files": "x"})},
        format="multipart",
    )

    assert response.status_code == 200
    agent = Agent.objects.get(public_id=agent_id)
    assert agent.submission == {"final_data": {"files": "x"}, "files": []}
