"""Files sent with `/submit_task`: a run takes them only when its config says so,
within its limits, and a file is stored as sent and referenced from the
submission, or the request is refused and nothing is stored."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tasks_app.models import Agent, AgentStatus, UnitStatus
from tests.factories import TaskRunFactory
from tests.worker_calls import (
    PNG_BYTES,
    agent_id_for,
    multipart_submit,
    png,
    stored_files,
    upload_run,
)
from tests.worker_calls import client_fixture as client_fixture
from tests.worker_calls import media_root_fixture as media_root_fixture

pytestmark = pytest.mark.django_db


# --- multipart submissions with files -------------------------------------------------


def test_a_multipart_submission_stores_the_file_and_references_it(client, media_root):
    run = upload_run()
    agent_id = agent_id_for(client, run)

    response = multipart_submit(client, run, agent_id, {"rating": "good"}, file=png())

    assert response.status_code == 200
    assert response.json() == {"status": "Submitted!"}
    agent = Agent.objects.select_related("unit").get(public_id=agent_id)
    stored_path = f"submissions/run-{run.pk}/agent-{agent.pk}/drawing.png"
    assert agent.submission == {
        "final_data": {"rating": "good"},
        "files": [
            {
                "name": "drawing.png",
                "path": stored_path,
                "size": len(PNG_BYTES),
                "content_type": "image/png",
            }
        ],
    }
    assert (media_root / stored_path).read_bytes() == PNG_BYTES
    assert agent.status == AgentStatus.COMPLETED
    assert agent.unit.status == UnitStatus.COMPLETED


def test_a_multipart_submission_without_files_stores_the_parsed_final_data(
    client, media_root
):
    run = upload_run()
    agent_id = agent_id_for(client, run)

    response = multipart_submit(client, run, agent_id, {"rating": "good"})

    assert response.status_code == 200
    assert Agent.objects.get(public_id=agent_id).submission == {"rating": "good"}


def test_multipart_final_data_that_is_not_json_is_a_400(client, media_root):
    run = upload_run()
    agent_id = agent_id_for(client, run)

    response = client.post(
        f"/submit_task?task_run_id={run.pk}",
        {"USED_AGENT_ID": agent_id, "final_data": "{not json", "file": png()},
        format="multipart",
    )

    assert response.status_code == 400
    assert "is not valid JSON" in response.json()["fields"]["final_data"][0]
    assert not list(media_root.rglob("*.png"))


def test_an_exe_upload_is_a_415_and_nothing_is_stored(client, media_root):
    run = upload_run()
    agent_id = agent_id_for(client, run)
    exe = SimpleUploadedFile("setup.exe", b"MZ\x90\x00", "application/octet-stream")

    response = multipart_submit(
        client, run, agent_id, {"rating": "good"}, image=png(), program=exe
    )

    assert response.status_code == 415
    assert "'setup.exe': type .exe is not allowed" in response.json()["error"]
    assert not [p for p in media_root.rglob("*") if p.is_file()]
    agent = Agent.objects.select_related("unit").get(public_id=agent_id)
    assert agent.submission is None
    assert agent.unit.status == UnitStatus.ASSIGNED


def test_a_file_over_the_upload_limit_is_a_413_and_nothing_is_stored(
    client, media_root, settings
):
    settings.CROWDSITE_MAX_UPLOAD_BYTES = 10
    run = upload_run()
    agent_id = agent_id_for(client, run)

    response = multipart_submit(client, run, agent_id, {}, file=png())

    assert response.status_code == 413
    assert response.json() == {
        "error": f"file 'drawing.png' is {len(PNG_BYTES)} bytes; the limit is 10 bytes"
    }
    assert not [p for p in media_root.rglob("*") if p.is_file()]
    assert Agent.objects.get(public_id=agent_id).submission is None


def test_more_files_than_allowed_is_a_413_and_nothing_is_stored(
    client, media_root, settings
):
    settings.CROWDSITE_MAX_UPLOAD_FILES = 1
    run = upload_run()
    agent_id = agent_id_for(client, run)

    response = multipart_submit(
        client, run, agent_id, {}, first=png("a.png"), second=png("b.png")
    )

    assert response.status_code == 413
    assert response.json() == {"error": "2 files sent; at most 1 are allowed"}
    assert not [p for p in media_root.rglob("*") if p.is_file()]


def test_a_second_multipart_submission_stores_no_new_file(client, media_root):
    run = upload_run()
    agent_id = agent_id_for(client, run)
    multipart_submit(client, run, agent_id, {"n": 1}, file=png("first.png"))

    response = multipart_submit(client, run, agent_id, {"n": 2}, file=png("next.png"))

    assert response.status_code == 200
    assert response.json() == {"status": "Submitted!"}
    assert [p.name for p in media_root.rglob("*.png")] == ["first.png"]
    assert Agent.objects.get(public_id=agent_id).submission["final_data"] == {"n": 1}


def test_every_file_sent_under_one_field_name_is_stored(client, media_root):
    run = upload_run()
    agent_id = agent_id_for(client, run)

    multipart_submit(client, run, agent_id, {}, files=[png("a.png"), png("b.png")])

    files = Agent.objects.get(public_id=agent_id).submission["files"]
    assert sorted(f["name"] for f in files) == ["a.png", "b.png"]
    assert sorted(p.name for p in media_root.rglob("*.png")) == ["a.png", "b.png"]


def test_a_long_non_ascii_file_name_is_not_a_server_error(client, media_root):
    run = upload_run()
    agent_id = agent_id_for(client, run)

    response = multipart_submit(client, run, agent_id, {}, file=png("é" * 200 + ".png"))

    assert response.status_code < 500


def test_a_multipart_body_with_an_unusable_charset_is_not_a_server_error(client):
    run = upload_run()
    body = (
        b"--xx\r\nContent-Disposition: form-data; "
        b'name="USED_AGENT_ID"\r\n\r\nabc\r\n--xx--\r\n'
    )

    response = client.generic(
        "POST",
        f"/submit_task?task_run_id={run.pk}",
        body,
        content_type="multipart/form-data; boundary=xx; charset=idna",
    )

    assert response.status_code < 500


# --- a run takes files only when its config says so -----------------------------------


def test_a_run_without_uploads_refuses_files_and_stores_nothing(client, media_root):
    run = TaskRunFactory(units=1)
    agent_id = agent_id_for(client, run)

    response = multipart_submit(client, run, agent_id, {"rating": "good"}, file=png())

    assert response.status_code == 413
    assert "this task takes no file uploads" in response.json()["error"]
    assert not stored_files(media_root)
    agent = Agent.objects.select_related("unit").get(public_id=agent_id)
    assert agent.submission is None
    assert agent.unit.status == UnitStatus.ASSIGNED


def test_a_run_without_uploads_refuses_a_large_body_before_reading_it(client):
    run = TaskRunFactory(units=1)
    agent_id = agent_id_for(client, run)

    response = client.generic(
        "POST",
        f"/submit_task?task_run_id={run.pk}",
        b"--xx--\r\n",
        content_type="multipart/form-data; boundary=xx",
        CONTENT_LENGTH=str(200_000_000),
    )

    assert response.status_code == 413
    assert "this task takes at most" in response.json()["error"]
    assert Agent.objects.get(public_id=agent_id).submission is None


def test_the_runs_own_limits_apply(client, media_root):
    run = upload_run(max_files=1, extensions=["png"])
    agent_id = agent_id_for(client, run)
    text = SimpleUploadedFile("notes.txt", b"hello", content_type="text/plain")

    too_many = multipart_submit(client, run, agent_id, {}, a=png("a.png"), b=png())
    wrong_type = multipart_submit(client, run, agent_id, {}, a=text)

    assert too_many.status_code == 413
    assert too_many.json() == {"error": "2 files sent; at most 1 are allowed"}
    assert wrong_type.status_code == 415
    assert "allowed: png" in wrong_type.json()["error"]
    assert not stored_files(media_root)


def test_files_past_the_per_agent_total_are_refused(client, media_root):
    run = upload_run(max_agent_bytes=len(PNG_BYTES) + 1)
    agent_id = agent_id_for(client, run)

    response = multipart_submit(
        client, run, agent_id, {}, a=png("a.png"), b=png("b.png")
    )

    assert response.status_code == 413
    assert "the limit per worker is" in response.json()["error"]
    assert not stored_files(media_root)
