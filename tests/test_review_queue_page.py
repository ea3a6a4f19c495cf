"""The admin's review queue page for a run: the inputs beside each submission, the
worker's standing, uploaded files, filters, pages, and Mephisto's review bundle."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from tasks_app import services
from tasks_app.models import UnitStatus, Worker
from tests.admin_calls import fast_passwords_fixture as fast_passwords_fixture
from tests.factories import OnboardingAgentFactory, TaskRunFactory, UnitFactory
from tests.review_queue_calls import key, queue_url, submitted
from tests.review_queue_calls import reviewer_fixture as reviewer_fixture
from tests.review_queue_calls import run_fixture as run_fixture
from tests.worker_calls import PNG_BYTES
from tests.worker_calls import media_root_fixture as media_root_fixture

pytestmark = pytest.mark.django_db


# --- what the page shows ----------------------------------------------------------


def test_the_queue_shows_inputs_and_submission_side_by_side_with_the_workers_standing(
    reviewer, run
):
    agent = submitted(
        run,
        "alice",
        {"answer": "A long answer " * 40, "choices": [1, 2]},
        inputs={"sentence": "Is this <b>good</b>?"},
    )
    UnitFactory(assignment__run=run, worker=agent.worker, status=UnitStatus.ACCEPTED)
    UnitFactory(assignment__run=run, worker=agent.worker, status=UnitStatus.REJECTED)
    OnboardingAgentFactory(run=run, worker=agent.worker, status="approved")

    response = reviewer.get(queue_url(run))

    assert response.status_code == 200
    content = response.content.decode()
    inputs, submission = content.split('class="review-inputs"')[1].split(
        'class="review-submission"'
    )
    assert "<dt>sentence</dt>" in inputs
    assert "Is this &lt;b&gt;good&lt;/b&gt;?" in inputs  # escaped, never markup
    assert "<dt>answer</dt>" in submission and "A long answer" in submission
    assert '<ol class="rv-list" start="0"><li><span class="rv-scalar">1</span>' in (
        submission
    )
    assert "approval rate 50% of 2 reviewed" in content
    assert "3 unit(s) done" in content
    assert "onboarding: approved" in content
    assert f'id="agent-{agent.pk}"' in content
    assert f'value="{key(agent)}"' in content


def test_uploaded_files_are_linked_images_shown_and_served_only_to_reviewers(
    reviewer, run, media_root, client
):
    agent = submitted(run, "alice")
    folder = f"submissions/run-{run.pk}/agent-{agent.pk}"
    photo = default_storage.save(f"{folder}/photo.png", ContentFile(PNG_BYTES))
    page = default_storage.save(f"{folder}/page.html", ContentFile(b"<script>"))
    agent.submission = {
        "final_data": {"caption": "a tree"},
        "files": [
            {
                "name": "photo.png",
                "path": photo,
                "size": 67,
                "content_type": "image/png",
            },
            {"name": "page.html", "path": page, "size": 8, "content_type": "text/html"},
        ],
    }
    agent.save()
    base = f"/admin/tasks_app/taskrun/{run.pk}/review/file/{agent.pk}"

    content = reviewer.get(queue_url(run)).content.decode()
    image = reviewer.get(f"{base}/0/")
    html = reviewer.get(f"{base}/1/")

    assert f'<img class="rv-image" src="{base}/0/"' in content
    assert f'<a class="rv-file" href="{base}/1/">page.html (text/html' in content
    assert f'src="{base}/1/"' not in content
    assert image.status_code == 200 and image["Content-Type"] == "image/png"
    assert b"".join(image.streaming_content) == PNG_BYTES
    assert image["X-Content-Type-Options"] == "nosniff"
    # HTML a worker uploaded is downloaded, never run in the admin's origin.
    assert html["Content-Type"] == "application/octet-stream"
    assert html["Content-Disposition"].startswith("attachment")
    assert reviewer.get(f"{base}/2/").status_code == 404
    reviewer.logout()
    client.force_login(User.objects.create_user("clerk", is_staff=True))
    assert client.get(f"{base}/0/").status_code == 403


def test_metadata_and_the_pages_errors_are_shown_compactly(reviewer, run):
    submitted(
        run,
        "alice",
        metadata={"browser": "Firefox", "errors": [{"message": "TypeError: x"}]},
    )

    content = reviewer.get(queue_url(run)).content.decode()

    errors = content.split('class="review-fold review-errors" open')[1].split(
        "</details>"
    )
    assert "<summary>Errors reported by the page (1)</summary>" in errors[0]
    assert "TypeError: x" in errors[0]
    metadata = content.split('class="review-metadata"')[1].split("</div>")[0]
    assert '<dt>browser</dt><dd><span class="rv-str">Firefox</span></dd>' in (metadata)
    assert "errors" not in metadata


def test_filters_by_status_worker_and_late(reviewer, run):
    alice = submitted(run, "alice")
    bob = submitted(run, "bob", late=True)
    decided = submitted(run, "carol")
    services.approve_unit(unit_id=decided.unit_id)

    def shown(query: str) -> set[int]:
        response = reviewer.get(queue_url(run) + query)
        return {item["agent"].pk for item in response.context["items"]}

    assert shown("") == {alice.pk, bob.pk}  # undecided by default
    assert shown("?status=approved") == {decided.pk}
    assert shown("?status=all") == {alice.pk, bob.pk, decided.pk}
    assert shown(f"?worker={bob.worker_id}") == {bob.pk}
    assert shown("?late=yes") == {bob.pk}
    assert shown("?late=no&status=all") == {alice.pk, decided.pk}


def test_the_queue_is_paginated(reviewer, run):
    agents = [submitted(run, f"w{i}") for i in range(23)]

    first = reviewer.get(queue_url(run))
    second = reviewer.get(queue_url(run) + "?page=2")

    assert [i["agent"].pk for i in first.context["items"]] == [
        a.pk for a in agents[:20]
    ]
    assert [i["agent"].pk for i in second.context["items"]] == [
        a.pk for a in agents[20:]
    ]
    assert "page 1 of 2 (23 submissions)" in first.content.decode()


@pytest.mark.parametrize("count", [2, 20])
def test_the_queue_page_takes_a_bounded_number_of_queries(
    reviewer, run, count, django_assert_max_num_queries
):
    for i in range(count):
        submitted(run, f"w{i}", metadata={"errors": [{"message": "e"}]})
        OnboardingAgentFactory(run=run, worker=Worker.objects.get(worker_name=f"w{i}"))

    with django_assert_max_num_queries(12):
        response = reviewer.get(queue_url(run))

    assert len(response.context["items"]) == count


def test_the_run_pages_link_to_the_queue(reviewer, run, admin_client):
    change = admin_client.get(f"/admin/tasks_app/taskrun/{run.pk}/change/")
    listing = admin_client.get("/admin/tasks_app/taskrun/")

    assert f'href="{queue_url(run)}"' in change.content.decode()
    assert f'href="{queue_url(run)}"' in listing.content.decode()


# --- Mephisto's task_source_review bundle -----------------------------------------


def test_a_run_with_a_review_bundle_shows_each_unit_in_a_sandboxed_frame(
    reviewer, tmp_path
):
    bundle = tmp_path / "review.js"
    bundle.write_text('document.getElementById("app").textContent = "</script>";')
    run = TaskRunFactory(
        resolved_config={
            "mephisto": {"blueprint": {"task_source_review": "review.js"}},
            "task_dir": str(tmp_path),
        }
    )
    agent = submitted(run, "alice", {"final_data": {"rating": 3}, "files": []})
    frame_url = f"/admin/tasks_app/taskrun/{run.pk}/review/frame/"

    content = reviewer.get(queue_url(run)).content.decode()
    frame = reviewer.get(frame_url)

    assert (
        f'<iframe class="review-frame" sandbox="allow-scripts" src="{frame_url}"'
        in (content)
    )
    assert (
        f'<script id="review-data-{agent.pk}" type="application/json">'
        '{"inputs": {"text": "This text is good text!"}, "outputs": {"rating": 3}}'
    ) in content
    assert frame.status_code == 200
    assert frame["Content-Security-Policy"].startswith("sandbox allow-scripts;")
    assert "frame-ancestors 'self'" in frame["Content-Security-Policy"]
    # Worker HTML rendered by the bundle can't send data out through an image.
    directives = dict(
        d.strip().split(" ", 1) for d in frame["Content-Security-Policy"].split(";")
    )
    for kind in ("img-src", "media-src", "font-src", "default-src"):
        assert "*" not in directives[kind] and "http" not in directives[kind]
    body = frame.content.decode()
    assert '<div id="app"' in body
    assert 'textContent = "<\\/script>";</script>' in body


def test_a_run_without_a_review_bundle_has_no_frame(reviewer, run):
    submitted(run, "alice")

    content = reviewer.get(queue_url(run)).content.decode()

    assert "review-frame" not in content.split("<section", 1)[1]
    frame = reviewer.get(f"/admin/tasks_app/taskrun/{run.pk}/review/frame/")
    assert frame.status_code == 404
