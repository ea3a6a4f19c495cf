"""Multipart bodies as Mephisto's server takes them: file names stored as sent, under
a safe name, or refused by name; `final_string_data` preferred; FormComposer's
posts; mephisto-core's metadata form, whose files count toward the same per-agent
total as `/submit_task`'s."""

from __future__ import annotations

import json

import pytest

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


# --- file names: stored as sent, under a safe name, or refused by name ----------------


def raw_upload(client, run, agent_id, filename: bytes, content: bytes = b"PNGDATA"):
    body = (
        b'--xx\r\nContent-Disposition: form-data; name="USED_AGENT_ID"\r\n\r\n'
        + agent_id.encode()
        + b'\r\n--xx\r\nContent-Disposition: form-data; name="final_data"\r\n\r\n'
        b'{"rating": "good"}\r\n'
        b'--xx\r\nContent-Disposition: form-data; name="file"; filename="'
        + filename
        + b'"\r\nContent-Type: image/png\r\n\r\n'
        + content
        + b"\r\n--xx--\r\n"
    )
    return client.generic(
        "POST",
        f"/submit_task?task_run_id={run.pk}",
        body,
        content_type="multipart/form-data; boundary=xx",
    )


@pytest.mark.parametrize(
    ("filename", "words"),
    [
        (b"caf\xe9.png", "headers are not UTF-8"),
        (b"\xc3(.png", "headers are not UTF-8"),
        (b"photos/", "file name 'photos/' can't be stored"),
        (b"photos\\", "file name 'photos\\\\' can't be stored"),
        (b"..", "file name '..' can't be stored"),
        (b"", "file name '' can't be stored"),
    ],
)
def test_a_file_whose_name_cant_be_stored_refuses_the_submission(
    client, media_root, filename, words
):
    run = upload_run()
    agent_id = agent_id_for(client, run)

    response = raw_upload(client, run, agent_id, filename)

    assert response.status_code == 400
    assert words in response.json()["error"]
    assert "Nothing was stored" in response.json()["error"]
    assert not stored_files(media_root)
    agent = Agent.objects.select_related("unit").get(public_id=agent_id)
    assert agent.submission is None
    assert agent.unit.status == UnitStatus.ASSIGNED


def test_a_path_in_a_file_name_is_stored_under_its_last_part(client, media_root):
    run = upload_run()
    agent_id = agent_id_for(client, run)

    response = raw_upload(client, run, agent_id, b"../../etc/drawing.png")

    assert response.status_code == 200
    [stored] = stored_files(media_root)
    assert stored.name == "drawing.png"
    assert media_root in stored.parents
    files = Agent.objects.get(public_id=agent_id).submission["files"]
    assert [f["name"] for f in files] == ["drawing.png"]


def test_a_file_input_left_empty_is_no_file(client, media_root):
    run = upload_run()
    agent_id = agent_id_for(client, run)

    response = raw_upload(client, run, agent_id, b"", content=b"")

    assert response.status_code == 200
    assert Agent.objects.get(public_id=agent_id).submission == {"rating": "good"}


def test_final_string_data_is_preferred_over_final_data(client, media_root):
    run = upload_run()
    agent_id = agent_id_for(client, run)

    response = client.post(
        f"/submit_task?task_run_id={run.pk}",
        {
            "USED_AGENT_ID": agent_id,
            "final_data": "{}",
            "final_string_data": json.dumps({"rating": "good"}),
            "file": png(),
        },
        format="multipart",
    )

    assert response.status_code == 200
    submission = Agent.objects.get(public_id=agent_id).submission
    assert submission["final_data"] == {"rating": "good"}


def test_a_form_urlencoded_submission_stores_final_data_as_json(client):
    run = TaskRunFactory(units=1)
    agent_id = agent_id_for(client, run)

    response = client.generic(
        "POST",
        f"/submit_task?task_run_id={run.pk}",
        f"USED_AGENT_ID={agent_id}&final_data=%7B%22rating%22%3A%22good%22%7D",
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 200
    assert Agent.objects.get(public_id=agent_id).submission == {"rating": "good"}
    assert Agent.objects.get(public_id=agent_id).status == AgentStatus.COMPLETED


# --- multipart as Mephisto's pages send it --------------------------------------------


def form_composer_submit(client, run, agent_id, answers, **files):
    """What FormComposer posts: the answers as JSON text in final_string_data, and
    final_data the browser's text for the object ("[object Object]")."""
    return client.post(
        f"/submit_task?task_run_id={run.pk}",
        {
            "USED_AGENT_ID": agent_id,
            "final_data": "[object Object]",
            "final_string_data": json.dumps(answers),
            "client_timestamp": "1700000000.5",
            **files,
        },
        format="multipart",
    )


def test_final_string_data_without_files_is_the_submission(client, media_root):
    run = upload_run()
    agent_id = agent_id_for(client, run)

    response = client.post(
        f"/submit_task?task_run_id={run.pk}",
        {"USED_AGENT_ID": agent_id, "final_string_data": '{"name": "Ann"}'},
        format="multipart",
    )

    assert response.status_code == 200
    agent = Agent.objects.get(public_id=agent_id)
    assert agent.submission == {"name": "Ann"}
    assert agent.status == AgentStatus.COMPLETED


def test_a_form_composer_submission_stores_its_answers_and_file(client, media_root):
    run = upload_run()
    agent_id = agent_id_for(client, run)

    response = form_composer_submit(
        client, run, agent_id, {"name": "Ann", "age": 30}, avatar=png()
    )

    assert response.status_code == 200
    submission = Agent.objects.get(public_id=agent_id).submission
    assert submission["final_data"] == {"name": "Ann", "age": 30}
    assert [file["name"] for file in submission["files"]] == ["drawing.png"]
    assert (media_root / submission["files"][0]["path"]).read_bytes() == PNG_BYTES


def test_object_object_beside_final_string_data_is_not_read(client, media_root):
    run = upload_run()
    agent_id = agent_id_for(client, run)

    response = form_composer_submit(client, run, agent_id, {"name": "Ann"})

    assert response.status_code == 200
    assert Agent.objects.get(public_id=agent_id).submission == {"name": "Ann"}


def test_object_object_alone_is_a_400_that_says_what_to_send(client, media_root):
    run = upload_run()
    agent_id = agent_id_for(client, run)

    response = client.post(
        f"/submit_task?task_run_id={run.pk}",
        {"USED_AGENT_ID": agent_id, "final_data": "[object Object]"},
        format="multipart",
    )

    assert response.status_code == 400
    message = response.json()["fields"]["final_data"][0]
    assert "'[object Object]'" in message
    assert "JSON.stringify(data)" in message
    assert Agent.objects.get(public_id=agent_id).submitted_at is None


def test_final_string_data_that_is_not_json_is_a_400_naming_it(client, media_root):
    run = upload_run()
    agent_id = agent_id_for(client, run)

    response = client.post(
        f"/submit_task?task_run_id={run.pk}",
        {"USED_AGENT_ID": agent_id, "final_string_data": "{oops", "file": png()},
        format="multipart",
    )

    assert response.status_code == 400
    message = response.json()["fields"]["final_string_data"][0]
    assert "is not valid JSON (Expecting property name" in message
    assert not stored_files(media_root)
    assert Agent.objects.get(public_id=agent_id).submitted_at is None


def test_an_empty_final_string_data_leaves_final_data_the_submission(client):
    run = TaskRunFactory(units=1)
    agent_id = agent_id_for(client, run)

    response = client.post(
        f"/submit_task?task_run_id={run.pk}",
        {
            "USED_AGENT_ID": agent_id,
            "final_data": '{"rating": "good"}',
            "final_string_data": "",
        },
        format="multipart",
    )

    assert response.status_code == 200
    assert Agent.objects.get(public_id=agent_id).submission == {"rating": "good"}


def test_final_string_data_in_a_json_body_is_decoded_too(client):
    run = TaskRunFactory(units=1)
    agent_id = agent_id_for(client, run)

    response = client.post(
        f"/submit_task?task_run_id={run.pk}",
        {"USED_AGENT_ID": agent_id, "final_string_data": '{"rating": "good"}'},
        format="json",
    )

    assert response.status_code == 200
    assert Agent.objects.get(public_id=agent_id).submission == {"rating": "good"}


def opinion_form(agent_id, text="Nice task", **files):
    """mephisto-core's multipart postMetadata of a worker-opinion add-on form."""
    data = json.dumps({"worker_opinion": {"questions": [{"text": text}]}})
    return {
        "USED_AGENT_ID": agent_id,
        "metadata": data,
        "data": data,
        "files": json.dumps([{"name": "shot.png", "size": len(PNG_BYTES)}]),
        "type": "worker_opinion",
        "client_timestamp": "1700000000.5",
        **files,
    }


def test_a_worker_opinion_with_a_file_is_kept_with_the_agent(client, media_root):
    run = upload_run()
    agent_id = agent_id_for(client, run)

    response = client.post(
        f"/submit_metadata?task_run_id={run.pk}",
        opinion_form(agent_id, attachment=png("shot.png")),
        format="multipart",
    )

    assert response.status_code == 200
    assert response.json() == {"status": "Submitted metadata"}
    agent = Agent.objects.get(public_id=agent_id)
    stored_path = f"submissions/run-{run.pk}/agent-{agent.pk}/shot.png"
    assert agent.metadata == {
        "worker_opinion": {"questions": [{"text": "Nice task"}]},
        "files": [
            {
                "name": "shot.png",
                "path": stored_path,
                "size": len(PNG_BYTES),
                "content_type": "image/png",
            }
        ],
    }
    assert (media_root / stored_path).read_bytes() == PNG_BYTES


def test_a_second_opinion_with_a_file_adds_to_the_files_listed(client, media_root):
    run = upload_run()
    agent_id = agent_id_for(client, run)
    url = f"/submit_metadata?task_run_id={run.pk}"

    client.post(url, opinion_form(agent_id, attachment=png("a.png")), "multipart")
    client.post(
        url, opinion_form(agent_id, "Later", attachment=png("b.png")), "multipart"
    )

    metadata = Agent.objects.get(public_id=agent_id).metadata
    assert [file["name"] for file in metadata["files"]] == ["a.png", "b.png"]
    assert metadata["worker_opinion"] == {"questions": [{"text": "Later"}]}
    assert len(stored_files(media_root)) == 2


def test_a_metadata_file_on_a_run_without_uploads_is_refused(client, media_root):
    run = TaskRunFactory(units=1)
    agent_id = agent_id_for(client, run)

    response = client.post(
        f"/submit_metadata?task_run_id={run.pk}",
        opinion_form(agent_id, attachment=png()),
        format="multipart",
    )

    assert response.status_code == 413
    assert "takes no file uploads" in response.json()["error"]
    assert not stored_files(media_root)
    assert Agent.objects.get(public_id=agent_id).metadata is None


def test_metadata_files_count_toward_the_workers_upload_total(client, media_root):
    run = upload_run(max_agent_bytes=len(PNG_BYTES) + 1)
    agent_id = agent_id_for(client, run)
    client.post(
        f"/submit_metadata?task_run_id={run.pk}",
        opinion_form(agent_id, attachment=png("first.png")),
        format="multipart",
    )

    response = multipart_submit(client, run, agent_id, {}, file=png("second.png"))

    assert response.status_code == 413
    assert f"already stored are {len(PNG_BYTES)} bytes" in response.json()["error"]
    assert [path.name for path in stored_files(media_root)] == ["first.png"]
    assert Agent.objects.get(public_id=agent_id).submitted_at is None


def test_a_page_entry_named_files_beside_stored_files_is_refused(client, media_root):
    run = upload_run()
    agent_id = agent_id_for(client, run)
    form = opinion_form(agent_id, attachment=png())
    form["metadata"] = json.dumps({"files": ["mine"]})

    response = client.post(
        f"/submit_metadata?task_run_id={run.pk}", form, format="multipart"
    )

    assert response.status_code == 400
    assert "metadata.files is where" in response.json()["error"]
    assert not stored_files(media_root)
    assert Agent.objects.get(public_id=agent_id).metadata is None
