"""The worker's admin pages: its change page, with eligibility, and blocking."""

from __future__ import annotations

import pytest

from qualifications_app.models import ReviewAction, WorkerReview
from tasks_app.models import UnitStatus
from tests.admin_calls import fast_passwords_fixture as fast_passwords_fixture
from tests.factories import (
    GrantedQualificationFactory,
    QualificationFactory,
    TaskFactory,
    TaskRunFactory,
    UnitFactory,
    WorkerFactory,
)

pytestmark = pytest.mark.django_db


# --- the worker page -------------------------------------------------------------


def test_the_worker_page_shows_qualifications_units_per_task_and_approval_rate(
    admin_client,
):
    worker = WorkerFactory(worker_name="alice")
    GrantedQualificationFactory(worker=worker, qualification__name="level", value=4)
    pilot = TaskRunFactory(task=TaskFactory(task_name="rate-pilot-1"))
    live = TaskRunFactory(task=TaskFactory(task_name="rate-live-batch-1"))
    for run, status in [
        (pilot, UnitStatus.ACCEPTED),
        (pilot, UnitStatus.REJECTED),
        (live, UnitStatus.ACCEPTED),
        (live, UnitStatus.COMPLETED),
    ]:
        UnitFactory(assignment__run=run, worker=worker, status=status)

    response = admin_client.get(f"/admin/tasks_app/worker/{worker.pk}/change/")

    assert response.status_code == 200
    assert [(g.qualification.name, g.value) for g in response.context["grants"]] == [
        ("level", 4)
    ]
    rows = {
        r["run__task__task_name"]: (
            r["units"],
            r["completed"],
            r["accepted"],
            r["rejected"],
        )
        for r in response.context["units_per_task"]
    }
    assert rows == {"rate-pilot-1": (2, 0, 1, 1), "rate-live-batch-1": (2, 1, 1, 0)}
    content = response.content.decode()
    assert "Approval rate: 67% of 3 reviewed unit(s)" in content
    assert "rate-live-batch-1" in content and ">level<" in content
    assert "Not blocked." in content


def test_the_worker_page_explains_eligibility_for_a_run(admin_client):
    QualificationFactory(name="allowlist")
    run = TaskRunFactory(
        units=1,
        qualifications=[{"qualification_name": "allowlist", "comparator": "Exists"}],
    )
    worker = WorkerFactory(is_blocked=True)

    response = admin_client.get(
        f"/admin/tasks_app/worker/{worker.pk}/change/", {"explain_run": run.pk}
    )

    verdicts = {v.rule: v.passed for v in response.context["verdicts"]}
    assert verdicts["not on the local blocklist"] is False
    assert verdicts["qualification allowlist Exists"] is False
    assert verdicts["run status running"] is True
    content = response.content.decode()
    assert 'id="eligibility-rules"' in content
    assert "This task needs the qualification &#x27;allowlist&#x27;." in content
    assert "<strong>Blocked</strong>" in content


def test_the_worker_page_ignores_an_unknown_run(admin_client):
    worker = WorkerFactory()

    response = admin_client.get(
        f"/admin/tasks_app/worker/{worker.pk}/change/", {"explain_run": "999"}
    )

    assert response.status_code == 200
    assert "verdicts" not in response.context


# --- blocking --------------------------------------------------------------------


def test_the_block_page_asks_first_and_blocks_on_post(admin_client):
    worker = WorkerFactory(worker_name="alice")
    url = f"/admin/tasks_app/worker/{worker.pk}/block/"

    page = admin_client.get(url)
    worker.refresh_from_db()
    assert worker.is_blocked is False
    assert b'name="blocked" value="1"' in page.content

    response = admin_client.post(url, {"blocked": "1", "reason": "copied answers"})

    assert response.status_code == 302
    assert response["Location"] == f"/admin/tasks_app/worker/{worker.pk}/change/"
    worker.refresh_from_db()
    assert worker.is_blocked is True
    review = WorkerReview.objects.get()
    assert (review.action, review.reason, review.created_by) == (
        ReviewAction.BLOCK,
        "copied answers",
        response.wsgi_request.user,
    )


def test_the_block_page_unblocks_a_blocked_worker(admin_client):
    worker = WorkerFactory(is_blocked=True)
    url = f"/admin/tasks_app/worker/{worker.pk}/block/"

    assert b'name="blocked" value="0"' in admin_client.get(url).content
    admin_client.post(url, {"blocked": "0", "reason": "appeal accepted"})

    worker.refresh_from_db()
    assert worker.is_blocked is False
    assert WorkerReview.objects.get().action == ReviewAction.UNBLOCK
